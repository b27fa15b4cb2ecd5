/*
 * libFuzzer target for the PROXY protocol header parser.  The input is
 * the first bytes of a connection, in a buffer exactly that long.  The
 * oracle, on every input:
 * - DONE gives 0 < len <= n, and the same header from the first len
 *   bytes alone (compared whole: the parser clears it first); BAD gives
 *   one line in err;
 * - MORE only while n is short of a whole header: under PROXY_V1_MAX
 *   bytes for v1, under 16 or 16 plus the length field for v2;
 * - the prefixes agree with the whole: a prefix that is BAD makes the
 *   whole BAD, one that is DONE makes the whole DONE with its len, and
 *   every prefix short of a DONE header is MORE;
 * - a v1 TCP4 or TCP6 header written again from its fields is the input's
 *   header byte for byte, but for the spelling of IPv6 addresses (which
 *   have several): those must mean the same address;
 * - a v2 header's fields are its address block's bytes.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/ptychat.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define EDGE	64	/* prefixes checked one by one at each end */
#define STRIDE	64	/* and this many between */

static void
fail(const char *what, size_t n, size_t k)
{
	fprintf(stderr, "fuzz_proxy: %s (n %zu, prefix %zu)\n", what, n, k);
	abort();
}

/* The prefix of k bytes, from a buffer exactly that long. */
static enum proxy_result
parse_prefix(const uint8_t *data, size_t k, struct proxy_header *h)
{
	enum proxy_result	 r;
	unsigned char		*prefix;
	char			 err[128];

	if ((prefix = malloc(k > 0 ? k : 1)) == NULL)
		abort();
	memcpy(prefix, data, k);
	r = proxy_parse(prefix, k, h, err, sizeof err);
	free(prefix);
	return r;
}

static void
check_prefix(const uint8_t *data, size_t n, enum proxy_result whole,
    const struct proxy_header *h, size_t k)
{
	struct proxy_header	hk;
	enum proxy_result	r;

	r = parse_prefix(data, k, &hk);
	if (whole == PROXY_DONE && k < h->len && r != PROXY_MORE)
		fail("a prefix of a header is not MORE", n, k);
	if (r == PROXY_BAD && whole != PROXY_BAD)
		fail("a BAD prefix, a whole not BAD", n, k);
	if (r == PROXY_DONE && (whole != PROXY_DONE ||
	    memcmp(&hk, h, sizeof hk) != 0))
		fail("a DONE prefix, a whole not the same", n, k);
}

/* The address and port of ss as text; the address's bytes in raw. */
static unsigned int
text_of(const struct sockaddr_storage *ss, char *buf, size_t size,
    const void **raw)
{
	const struct sockaddr_in	*sin = (const struct sockaddr_in *)ss;
	const struct sockaddr_in6	*sin6 = (const struct sockaddr_in6 *)ss;

	if (ss->ss_family == AF_INET) {
		inet_ntop(AF_INET, &sin->sin_addr, buf, size);
		*raw = &sin->sin_addr;
		return ntohs(sin->sin_port);
	}
	inet_ntop(AF_INET6, &sin6->sin6_addr, buf, size);
	*raw = &sin6->sin6_addr;
	return ntohs(sin6->sin6_port);
}

/* Checks one address of the input's v1 line at *pos against want. */
static void
check_v1_address(const uint8_t *data, size_t *pos, size_t n, int af,
    const char *text, const void *raw)
{
	unsigned char	addr[sizeof(struct in6_addr)];
	char		buf[INET6_ADDRSTRLEN];
	size_t		end;

	for (end = *pos; end < n && data[end] != ' '; end++)
		;
	if (end - *pos >= sizeof buf)
		fail("v1 address too long", n, *pos);
	memcpy(buf, data + *pos, end - *pos);
	buf[end - *pos] = '\0';
	if (af == AF_INET && strcmp(buf, text) != 0)
		fail("v1 IPv4 address not as written", n, *pos);
	if (inet_pton(af, buf, addr) != 1 || memcmp(addr, raw,
	    af == AF_INET ? 4 : 16) != 0)
		fail("v1 address not the one written", n, *pos);
	*pos = end + 1;
}

static void
check_v1(const uint8_t *data, size_t n, const struct proxy_header *h)
{
	char		 src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN];
	char		 ports[32];
	const void	*rawsrc, *rawdst;
	unsigned int	 sport, dport;
	size_t		 pos, plen;
	int		 af;

	if (h->local) {
		if (h->len < 15 || memcmp(data, "PROXY UNKNOWN", 13) != 0)
			fail("v1 local but not UNKNOWN", n, h->len);
		return;
	}
	af = h->src.ss_family;
	if (af != h->dst.ss_family || (af != AF_INET && af != AF_INET6))
		fail("v1 families", n, h->len);
	if (memcmp(data, af == AF_INET ? "PROXY TCP4 " : "PROXY TCP6 ",
	    11) != 0)
		fail("v1 protocol not as written", n, 0);
	sport = text_of(&h->src, src, sizeof src, &rawsrc);
	dport = text_of(&h->dst, dst, sizeof dst, &rawdst);
	pos = 11;
	check_v1_address(data, &pos, h->len, af, src, rawsrc);
	check_v1_address(data, &pos, h->len, af, dst, rawdst);
	plen = (size_t)snprintf(ports, sizeof ports, "%u %u\r\n", sport,
	    dport);
	if (pos + plen != h->len || memcmp(data + pos, ports, plen) != 0)
		fail("v1 ports not as written", n, pos);
}

static void
check_v2(const uint8_t *data, size_t n, const struct proxy_header *h)
{
	char		 text[INET6_ADDRSTRLEN];
	const void	*raw;
	size_t		 alen;
	unsigned int	 port;

	if (h->len != 16 + ((size_t)data[14] << 8 | data[15]))
		fail("v2 len not the length field", n, h->len);
	if (h->local) {
		if ((data[12] & 0x0f) != 0 && data[13] != 0x00)
			fail("v2 local for a PROXY with an address", n, 0);
		return;
	}
	alen = h->src.ss_family == AF_INET ? 4 : 16;
	port = text_of(&h->src, text, sizeof text, &raw);
	if (memcmp(raw, data + 16, alen) != 0 ||
	    port != ((unsigned int)data[16 + 2 * alen] << 8 |
	    data[17 + 2 * alen]))
		fail("v2 source not the block's", n, 16);
	port = text_of(&h->dst, text, sizeof text, &raw);
	if (memcmp(raw, data + 16 + alen, alen) != 0 ||
	    port != ((unsigned int)data[18 + 2 * alen] << 8 |
	    data[19 + 2 * alen]))
		fail("v2 destination not the block's", n, 16 + alen);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
	struct proxy_header	h, first;
	enum proxy_result	r;
	char			err[128];
	size_t			k, step;

	r = proxy_parse(data, n, &h, err, sizeof err);
	switch (r) {
	case PROXY_DONE:
		if (h.len == 0 || h.len > n)
			fail("DONE with a len out of bounds", n, h.len);
		if (parse_prefix(data, h.len, &first) != PROXY_DONE ||
		    memcmp(&h, &first, sizeof h) != 0)
			fail("the header alone is not the same header", n,
			    h.len);
		if (data[0] == 'P')
			check_v1(data, n, &h);
		else
			check_v2(data, n, &h);
		break;
	case PROXY_BAD:
		if (err[0] == '\0' || strchr(err, '\n') != NULL)
			fail("BAD without one line in err", n, n);
		break;
	case PROXY_MORE:
		if (n > 0 && data[0] == 'P' && n >= PROXY_V1_MAX)
			fail("v1 MORE at its longest", n, n);
		if (n > 0 && data[0] != 'P' && n >= 16 &&
		    n >= 16 + ((size_t)data[14] << 8 | data[15]))
			fail("v2 MORE with the whole length in", n, n);
		break;
	default:
		fail("an unknown result", n, n);
	}

	step = n / STRIDE > 0 ? n / STRIDE : 1;
	for (k = 0; k < n; k += k < EDGE || k + EDGE >= n ? 1 : step)
		check_prefix(data, n, r, &h, k);
	return 0;
}
