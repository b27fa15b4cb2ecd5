/* Unit tests for --allow and --deny: parsing and matching. */
#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdlib.h>
#include <string.h>

#include "../../src/ptychat.h"
#include "tap.h"

static const struct {
	const char	*text;
	int		 ok;
	int		 prefix;
	const char	*message;	/* part of the error, when not ok */
} parse_cases[] = {
	{ "192.0.2.7",		1, 32,	NULL },
	{ "192.0.2.0/24",	1, 24,	NULL },
	{ "0.0.0.0/0",		1, 0,	NULL },
	{ "10.0.0.0/8",		1, 8,	NULL },
	{ "2001:db8::/32",	1, 32,	NULL },
	{ "::1",		1, 128,	NULL },
	{ "::/0",		1, 0,	NULL },
	{ "10.1.2.3/8",		0, 0,	"bits set beyond its /8 prefix" },
	{ "192.0.2.0/33",	0, 0,	"not an address or CIDR block" },
	{ "192.0.2.0/",		0, 0,	"not an address or CIDR block" },
	{ "192.0.2.0/-1",	0, 0,	"not an address or CIDR block" },
	{ "192.0.2.0/8x",	0, 0,	"not an address or CIDR block" },
	{ "2001:db8::/129",	0, 0,	"not an address or CIDR block" },
	{ "example.org",	0, 0,	"not an address or CIDR block" },
	{ "",			0, 0,	"not an address or CIDR block" },
	{ "/8",			0, 0,	"not an address or CIDR block" },
	{ "::ffff:0:0/95",	0, 0,	"IPv4-mapped address; its prefix must "
					"be /96 or longer" },
	{ "::ffff:10.1.2.3/104", 0, 0,	"bits set beyond its /104 prefix" },
};

/* A block in IPv4-mapped form is the IPv4 block it stands for. */
static const struct {
	const char	*mapped;
	const char	*ipv4;
} mapped_cases[] = {
	{ "::ffff:192.0.2.7",		"192.0.2.7" },
	{ "::ffff:127.0.0.1/128",	"127.0.0.1/32" },
	{ "::ffff:192.0.2.0/120",	"192.0.2.0/24" },
	{ "::ffff:10.0.0.0/104",	"10.0.0.0/8" },
	{ "::FFFF:0:0/96",		"0.0.0.0/0" },
};

static struct sockaddr_storage
addr(const char *text)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

	memset(&ss, 0, sizeof ss);
	if (inet_pton(AF_INET, text, &sin->sin_addr) == 1)
		sin->sin_family = AF_INET;
	else if (inet_pton(AF_INET6, text, &sin6->sin6_addr) == 1)
		sin6->sin6_family = AF_INET6;
	return ss;
}

/* rules: space-separated, "+cidr" allows and "-cidr" denies. */
static int
allowed(const char *rules, const char *client)
{
	struct access_list list = { NULL, 0 };
	struct sockaddr_storage ss = addr(client);
	char err[256], *copy, *word, *save = NULL;
	int result;

	copy = strdup(rules);
	for (word = strtok_r(copy, " ", &save); word != NULL;
	    word = strtok_r(NULL, " ", &save))
		if (access_add(&list, word + 1, word[0] == '-', err,
		    sizeof err) == -1)
			tap_diag("bad rule %s: %s", word, err);
	result = access_allowed(&list, (struct sockaddr *)&ss);
	free(list.rules);
	free(copy);
	return result;
}

static const struct {
	const char	*rules;
	const char	*client;
	int		 want;
} match_cases[] = {
	{ "",				"192.0.2.1",		1 },
	{ "",				"2001:db8::1",		1 },
	{ "+192.0.2.0/24",		"192.0.2.200",		1 },
	{ "+192.0.2.0/24",		"192.0.3.1",		0 },
	{ "+192.0.2.0/23",		"192.0.3.1",		1 },
	{ "+192.0.2.0/23",		"192.0.4.1",		0 },
	{ "+10.0.0.0/8 +192.0.2.7",	"192.0.2.7",		1 },
	{ "+10.0.0.0/8 +192.0.2.7",	"192.0.2.8",		0 },
	{ "-192.0.2.7",			"192.0.2.7",		0 },
	{ "-192.0.2.7",			"192.0.2.6",		1 },
	{ "+192.0.2.0/24 -192.0.2.7",	"192.0.2.7",		0 },
	{ "-192.0.2.7 +192.0.2.0/24",	"192.0.2.7",		0 },
	{ "+0.0.0.0/0",			"203.0.113.9",		1 },
	{ "+0.0.0.0/0",			"2001:db8::1",		0 },
	{ "+2001:db8::/32",		"2001:db8:ffff::1",	1 },
	{ "+2001:db8::/32",		"2001:db9::1",		0 },
	{ "+2001:db8::/127",		"2001:db8::1",		1 },
	{ "+2001:db8::/127",		"2001:db8::2",		0 },
	{ "-::/0",			"::1",			0 },
	{ "-::/0",			"127.0.0.1",		1 },
	/* An IPv4 client of a dual-stack socket meets the IPv4 rules. */
	{ "+127.0.0.0/8",		"::ffff:127.0.0.1",	1 },
	{ "-127.0.0.1",			"::ffff:127.0.0.1",	0 },
	/* So does a rule written as IPv4-mapped IPv6, both ways. */
	{ "-::ffff:127.0.0.1/128",	"::ffff:127.0.0.1",	0 },
	{ "-::ffff:127.0.0.1/128",	"127.0.0.1",		0 },
	{ "-::ffff:127.0.0.1/128",	"::ffff:127.0.0.2",	1 },
	{ "-::ffff:127.0.0.1/128",	"::1",			1 },
	{ "+::ffff:127.0.0.0/104",	"::ffff:127.9.9.9",	1 },
	{ "+::ffff:127.0.0.0/104",	"127.9.9.9",		1 },
	{ "+::ffff:127.0.0.0/104",	"::ffff:10.0.0.1",	0 },
	{ "+::ffff:0:0/96",		"::ffff:127.0.0.1",	1 },
	{ "+::ffff:0:0/96",		"::1",			0 },
	{ "-::ffff:0:0/96",		"2001:db8::1",		1 },
	/* IPv6 blocks never hold an IPv4 client, mapped or not. */
	{ "-::/0",			"::ffff:127.0.0.1",	1 },
};

int
main(void)
{
	struct access_rule rule, want;
	char err[256];
	size_t i;
	int r;

	for (i = 0; i < sizeof parse_cases / sizeof parse_cases[0]; i++) {
		err[0] = '\0';
		r = access_parse(parse_cases[i].text, &rule, err, sizeof err);
		if (parse_cases[i].ok)
			tap_ok(r == 0 && rule.prefix == parse_cases[i].prefix,
			    "'%s' parses with prefix /%d", parse_cases[i].text,
			    parse_cases[i].prefix);
		else if (!tap_ok(r == -1 && strstr(err,
		    parse_cases[i].message) != NULL,
		    "'%s' is rejected: %s", parse_cases[i].text,
		    parse_cases[i].message))
			tap_diag("got %d, '%s'", r, err);
	}
	for (i = 0; i < sizeof mapped_cases / sizeof mapped_cases[0]; i++) {
		r = access_parse(mapped_cases[i].mapped, &rule, err,
		    sizeof err);
		if (access_parse(mapped_cases[i].ipv4, &want, err,
		    sizeof err) == -1)
			tap_diag("bad case %s: %s", mapped_cases[i].ipv4, err);
		if (!tap_ok(r == 0 && memcmp(&rule, &want, sizeof rule) == 0,
		    "'%s' is the IPv4 rule %s", mapped_cases[i].mapped,
		    mapped_cases[i].ipv4))
			tap_diag("got %d: family %d, prefix /%d", r,
			    rule.family, rule.prefix);
	}
	for (i = 0; i < sizeof match_cases / sizeof match_cases[0]; i++)
		tap_ok(allowed(match_cases[i].rules, match_cases[i].client) ==
		    match_cases[i].want, "rules '%s': %s is %s",
		    match_cases[i].rules, match_cases[i].client,
		    match_cases[i].want ? "let in" : "refused");
	return tap_done();
}
