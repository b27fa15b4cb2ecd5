/*
 * Access rules: --allow and --deny, each an address or CIDR block, IPv4
 * or IPv6.  A client is let in unless a deny rule matches it, or allow
 * rules exist and none matches it.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ptychat.h"

/*
 * Parses "ADDRESS" or "ADDRESS/PREFIX" into rule.  Host bits beyond the
 * prefix must be zero, so that a typo such as 10.1.2.3/8 is caught.  An
 * IPv4-mapped block (::ffff:a.b.c.d/96 or longer) becomes an IPv4 rule.
 * Returns 0, or -1 with a message in err.
 */
int
access_parse(const char *text, struct access_rule *rule, char *err,
    size_t errlen)
{
	char addr[INET6_ADDRSTRLEN + 1];
	struct in6_addr in6;
	const char *slash, *errstr;
	size_t len, i;
	int bits;

	memset(rule, 0, sizeof *rule);
	slash = strchr(text, '/');
	len = slash ? (size_t)(slash - text) : strlen(text);
	if (len == 0 || len >= sizeof addr)
		goto bad;
	memcpy(addr, text, len);
	addr[len] = '\0';
	if (inet_pton(AF_INET, addr, rule->addr) == 1) {
		rule->family = AF_INET;
		bits = 32;
	} else if (inet_pton(AF_INET6, addr, &in6) == 1) {
		memcpy(rule->addr, &in6, sizeof in6);
		rule->family = AF_INET6;
		bits = 128;
	} else
		goto bad;
	rule->prefix = bits;
	if (slash != NULL) {
		rule->prefix = (int)number_parse(slash + 1, 0, bits, &errstr);
		if (errstr != NULL)
			goto bad;
	}
	if (rule->family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&in6) &&
	    rule->prefix < 96) {
		snprintf(err, errlen, "'%s' is an IPv4-mapped address; its "
		    "prefix must be /96 or longer", text);
		return -1;
	}
	for (i = 0; i < (size_t)bits; i++) {
		if ((int)i >= rule->prefix &&
		    (rule->addr[i / 8] & (0x80 >> (i % 8)))) {
			snprintf(err, errlen, "'%s' has bits set beyond its "
			    "/%d prefix", text, rule->prefix);
			return -1;
		}
	}
	/*
	 * A peer at ::ffff:a.b.c.d is judged as a.b.c.d, so a rule written
	 * that way becomes the IPv4 rule it stands for.
	 */
	if (rule->family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&in6)) {
		memmove(rule->addr, rule->addr + 12, 4);
		memset(rule->addr + 4, 0, sizeof rule->addr - 4);
		rule->family = AF_INET;
		rule->prefix -= 96;
	}
	return 0;
bad:
	snprintf(err, errlen, "'%s' is not an address or CIDR block "
	    "(such as 192.0.2.0/24 or 2001:db8::/32)", text);
	return -1;
}

/* Returns 1 when the address (family, 4 or 16 bytes) lies in rule. */
static int
access_rule_matches(const struct access_rule *rule, int family,
    const unsigned char *addr)
{
	int full, rest;

	if (rule->family != family)
		return 0;
	full = rule->prefix / 8;
	rest = rule->prefix % 8;
	if (memcmp(rule->addr, addr, (size_t)full) != 0)
		return 0;
	return rest == 0 ||
	    ((rule->addr[full] ^ addr[full]) & (0xff00 >> rest) & 0xff) == 0;
}

/*
 * Decides whether a client at sa may come in.  An IPv4 client of a
 * dual-stack socket (::ffff:a.b.c.d) is judged by the IPv4 rules.
 * Returns 1 to let it in, 0 to refuse it.
 */
int
access_allowed(const struct access_list *list, const struct sockaddr *sa)
{
	const struct sockaddr_in6 *sin6;
	const unsigned char *addr;
	size_t i;
	int family, allowed = 1, any_allow = 0;

	if (sa->sa_family == AF_INET) {
		family = AF_INET;
		addr = (const unsigned char *)&((const struct sockaddr_in *)
		    (const void *)sa)->sin_addr;
	} else if (sa->sa_family == AF_INET6) {
		sin6 = (const struct sockaddr_in6 *)(const void *)sa;
		family = AF_INET6;
		addr = sin6->sin6_addr.s6_addr;
		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
			family = AF_INET;
			addr += 12;
		}
	} else
		return 0;

	for (i = 0; i < list->n; i++) {
		if (list->rules[i].deny) {
			if (access_rule_matches(&list->rules[i], family, addr))
				return 0;
		} else {
			any_allow = 1;
			if (access_rule_matches(&list->rules[i], family, addr))
				allowed = 2;
		}
	}
	return !any_allow || allowed == 2;
}

/* Adds a rule; returns 0, or -1 with a message in err. */
int
access_add(struct access_list *list, const char *text, int deny, char *err,
    size_t errlen)
{
	struct access_rule rule, *grown;

	if (access_parse(text, &rule, err, errlen) == -1)
		return -1;
	rule.deny = deny;
	grown = realloc(list->rules, (list->n + 1) * sizeof *grown);
	if (grown == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	list->rules = grown;
	list->rules[list->n++] = rule;
	return 0;
}
