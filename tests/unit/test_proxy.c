/*
 * Unit tests for proxy.c.  Each row is parsed from a buffer exactly as
 * long as its bytes (the address sanitiser catches a read past them), and
 * so is every prefix: a row that ends DONE must be MORE for every prefix
 * short of its header, and a row that ends BAD must be MORE up to its
 * last good byte and BAD from the next one on.  Bytes added after a
 * whole header change nothing; bytes added after a bad one save nothing.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/ptychat.h"
#include "tap.h"

struct proxy_case {
	const char	*name;
	const char	*in;
	size_t		 inlen;
	enum proxy_result want;
	size_t		 len;	/* DONE: the header; BAD: the last good prefix */
	int		 local;
	int		 af;
	const char	*src, *dst;
	unsigned int	 sport, dport;
	const char	*err;	/* BAD: a part of err */
};

/* A string literal and its length, which may count NUL bytes. */
#define S(s)	(s), sizeof(s) - 1
#define L(s)	(sizeof(s) - 1)
/* MORE for the first ok bytes, BAD from the next one on. */
#define BAD(name, in, ok, err) \
	{ name, S(in), PROXY_BAD, ok, 0, 0, NULL, NULL, 0, 0, err }
/* Not whole yet. */
#define MORE(name, in) \
	{ name, S(in), PROXY_MORE, 0, 0, 0, NULL, NULL, 0, 0, NULL }

#define SIG	"\r\n\r\n\0\r\nQUIT\n"
#define V4	"\xc0\x00\x02\x01" "\xc6\x33\x64\x02" "\xdc\x04" "\x1a\x0a"
#define V6	"\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01" \
		"\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x02" "\x00\x01" "\xff\xff"
#define AFTER	"\x16\x03\x01" "hello\r\n"
#define LONG6	"PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255 " \
		"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 "
#define X10	"xxxxxxxxxx"
#define X90	X10 X10 X10 X10 X10 X10 X10 X10 X10

#define V1_4	"PROXY TCP4 192.0.2.1 198.51.100.2 56324 6666\r\n"
#define V1_6	"PROXY TCP6 2001:db8::1 2001:db8::2 1 65535\r\n"

static const struct proxy_case cases[] = {
	/* v1, whole. */
	{ "v1 TCP4", S(V1_4), PROXY_DONE, L(V1_4), 0, AF_INET,
	    "192.0.2.1", "198.51.100.2", 56324, 6666, NULL },
	{ "v1 TCP4, the client's bytes after it", S(V1_4 "hello\r\n"),
	    PROXY_DONE, L(V1_4), 0, AF_INET, "192.0.2.1", "198.51.100.2",
	    56324, 6666, NULL },
	{ "v1 TCP6", S(V1_6), PROXY_DONE, L(V1_6), 0, AF_INET6,
	    "2001:db8::1", "2001:db8::2", 1, 65535, NULL },
	{ "v1 TCP6, a TLS hello after it", S(V1_6 AFTER), PROXY_DONE,
	    L(V1_6), 0, AF_INET6, "2001:db8::1", "2001:db8::2", 1, 65535,
	    NULL },
	{ "v1 TCP6, IPv4-mapped and ::",
	    S("PROXY TCP6 ::ffff:192.0.2.1 :: 80 0\r\n"), PROXY_DONE,
	    L("PROXY TCP6 ::ffff:192.0.2.1 :: 80 0\r\n"), 0, AF_INET6,
	    "::ffff:192.0.2.1", "::", 80, 0, NULL },
	{ "v1 HAProxy's check is an ordinary header",
	    S("PROXY TCP4 127.0.0.1 127.0.0.1 6666 6666\r\n"), PROXY_DONE,
	    L("PROXY TCP4 127.0.0.1 127.0.0.1 6666 6666\r\n"), 0, AF_INET,
	    "127.0.0.1", "127.0.0.1", 6666, 6666, NULL },
	{ "v1 ports 0 and 65535",
	    S("PROXY TCP4 0.0.0.0 255.255.255.255 0 65535\r\n"), PROXY_DONE,
	    L("PROXY TCP4 0.0.0.0 255.255.255.255 0 65535\r\n"), 0, AF_INET,
	    "0.0.0.0", "255.255.255.255", 0, 65535, NULL },
	{ "v1 TCP6 of exactly 107 bytes", S(LONG6 "80\r\n"), PROXY_DONE,
	    PROXY_V1_MAX, 0, AF_INET6,
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535, 80, NULL },
	{ "v1 UNKNOWN", S("PROXY UNKNOWN\r\n" "x"), PROXY_DONE,
	    L("PROXY UNKNOWN\r\n"), 1, 0, NULL, NULL, 0, 0, NULL },
	{ "v1 UNKNOWN with anything after it",
	    S("PROXY UNKNOWN ::1 ? 1 2 3 \x01\xff\r\n"), PROXY_DONE,
	    L("PROXY UNKNOWN ::1 ? 1 2 3 \x01\xff\r\n"), 1, 0, NULL, NULL,
	    0, 0, NULL },
	{ "v1 UNKNOWN of exactly 107 bytes",
	    S("PROXY UNKNOWN " X90 "x\r\n"), PROXY_DONE, PROXY_V1_MAX, 1, 0,
	    NULL, NULL, 0, 0, NULL },

	/* v1, not whole yet. */
	MORE("nothing yet", ""),
	MORE("v1 P", "P"),
	MORE("v1 up to the CR", "PROXY TCP4 1.2.3.4 5.6.7.8 80 80\r"),
	MORE("v1 UNKNOWN up to the CR", "PROXY UNKNOWN 1 2\r"),

	/* v1, bad. */
	BAD("a plain client", "hello\r\n", 0, "not a PROXY header"),
	BAD("lower case", "proxy TCP4", 0, "not a PROXY header"),
	BAD("v1 double space after PROXY",
	    "PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n", L("PROXY "),
	    "unknown protocol"),
	BAD("v1 TCP5", "PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n", L("PROXY TCP"),
	    "unknown protocol"),
	BAD("v1 a tab for a space", "PROXY TCP4\t1.2.3.4 5.6.7.8 1 2\r\n",
	    L("PROXY TCP4"), "unknown protocol"),
	BAD("v1 UNKNOWNX", "PROXY UNKNOWNX\r\n", L("PROXY UNKNOWN"),
	    "unknown protocol"),
	BAD("v1 no addresses", "PROXY TCP4\r\n", L("PROXY TCP4"),
	    "no addresses"),
	BAD("v1 double space before the source",
	    "PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n", L("PROXY TCP4 "),
	    "bad source address"),
	BAD("v1 double space before the destination",
	    "PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n", L("PROXY TCP4 1.2.3.4 "),
	    "bad destination address"),
	BAD("v1 double space before a port",
	    "PROXY TCP4 1.2.3.4 5.6.7.8 1  2\r\n",
	    L("PROXY TCP4 1.2.3.4 5.6.7.8 1 "), "bad destination port"),
	BAD("v1 octet 256", "PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n",
	    L("PROXY TCP4 1.2.3.25"), "bad source address"),
	BAD("v1 three octets", "PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n",
	    L("PROXY TCP4 1.2.3"), "bad source address"),
	BAD("v1 an octet's leading zero", "PROXY TCP4 1.2.3.4 05.6.7.8 1 2\r\n",
	    L("PROXY TCP4 1.2.3.4 0"), "bad destination address"),
	BAD("v1 IPv6 under TCP4", "PROXY TCP4 ::1 ::1 1 2\r\n",
	    L("PROXY TCP4 "), "bad source address"),
	BAD("v1 IPv4 under TCP6", "PROXY TCP6 1.2.3.4 ::1 1 2\r\n",
	    L("PROXY TCP6 1"), "bad source address"),
	BAD("v1 :::", "PROXY TCP6 2001:db8:::1 ::1 1 2\r\n",
	    L("PROXY TCP6 2001:db8::"), "bad source address"),
	BAD("v1 five hex digits", "PROXY TCP6 ::1 12345::1 1 2\r\n",
	    L("PROXY TCP6 ::1 1234"), "bad destination address"),
	BAD("v1 a NUL in an address", "PROXY TCP4 1.2\0.3.4 5.6.7.8 1 2\r\n",
	    L("PROXY TCP4 1.2"), "bad source address"),
	BAD("v1 a port's leading zero", "PROXY TCP4 1.2.3.4 5.6.7.8 080 80\r\n",
	    L("PROXY TCP4 1.2.3.4 5.6.7.8 0"), "bad source port"),
	BAD("v1 port 00", "PROXY TCP4 1.2.3.4 5.6.7.8 1 00\r\n",
	    L("PROXY TCP4 1.2.3.4 5.6.7.8 1 0"), "bad destination port"),
	BAD("v1 port 65536", "PROXY TCP4 1.2.3.4 5.6.7.8 65536 80\r\n",
	    L("PROXY TCP4 1.2.3.4 5.6.7.8 6553"), "bad source port"),
	BAD("v1 port of six digits", "PROXY TCP4 1.2.3.4 5.6.7.8 1 123456\r\n",
	    L("PROXY TCP4 1.2.3.4 5.6.7.8 1 12345"), "bad destination port"),
	BAD("v1 a signed port", "PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n",
	    L("PROXY TCP4 1.2.3.4 5.6.7.8 "), "bad source port"),
	BAD("v1 a port in hex", "PROXY TCP4 1.2.3.4 5.6.7.8 1 0x50\r\n",
	    L("PROXY TCP4 1.2.3.4 5.6.7.8 1 0"), "bad destination port"),
	BAD("v1 a field too many", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",
	    L("PROXY TCP4 1.2.3.4 5.6.7.8 1 2"), "bad separator"),
	BAD("v1 a field too few", "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",
	    L("PROXY TCP4 1.2.3.4 5.6.7.8 1"), "bad separator"),
	BAD("v1 no CR", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",
	    L("PROXY TCP4 1.2.3.4 5.6.7.8 1 2"), "LF without CR"),
	BAD("v1 no LF", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rx",
	    L("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r"), "CR without LF"),
	BAD("v1 UNKNOWN, no CR", "PROXY UNKNOWN\n", L("PROXY UNKNOWN"),
	    "LF without CR"),
	BAD("v1 UNKNOWN, no LF", "PROXY UNKNOWN 1\r2\r\n",
	    L("PROXY UNKNOWN 1\r"), "CR without LF"),
	BAD("v1 UNKNOWN of 108 bytes", "PROXY UNKNOWN " X90 "xx\r\n",
	    PROXY_V1_MAX - 1, "line too long"),
	BAD("v1 TCP6 of 108 bytes", LONG6 "800\r\n", PROXY_V1_MAX - 1,
	    "line too long"),

	/* v2, whole. */
	{ "v2 PROXY TCP4", S(SIG "\x21\x11\x00\x0c" V4), PROXY_DONE, 28, 0,
	    AF_INET, "192.0.2.1", "198.51.100.2", 56324, 6666, NULL },
	{ "v2 PROXY TCP4, a TLS hello after it",
	    S(SIG "\x21\x11\x00\x0c" V4 AFTER), PROXY_DONE, 28, 0, AF_INET,
	    "192.0.2.1", "198.51.100.2", 56324, 6666, NULL },
	{ "v2 PROXY TCP6", S(SIG "\x21\x21\x00\x24" V6), PROXY_DONE, 52, 0,
	    AF_INET6, "2001:db8::1", "2001:db8::2", 1, 65535, NULL },
	{ "v2 PROXY TCP4 with TLVs skipped",
	    S(SIG "\x21\x11\x00\x1b" V4 "\x04\x00\x03" "abc"
	    "\x01\x00\x00" "\x02\x00\x03" "a.b" "x"),
	    PROXY_DONE, 16 + 27, 0, AF_INET, "192.0.2.1", "198.51.100.2",
	    56324, 6666, NULL },
	{ "v2 PROXY TCP6 with a TLV skipped",
	    S(SIG "\x21\x21\x00\x2a" V6 "\x05\x00\x03" "\x00\x01\x02" AFTER),
	    PROXY_DONE, 16 + 42, 0, AF_INET6, "2001:db8::1", "2001:db8::2",
	    1, 65535, NULL },
	{ "v2 LOCAL (a health check)", S(SIG "\x20\x00\x00\x00" "x"),
	    PROXY_DONE, 16, 1, 0, NULL, NULL, 0, 0, NULL },
	{ "v2 LOCAL ignores its block and family",
	    S(SIG "\x20\x31\x00\x03" "\xff\xff\xff" "x"), PROXY_DONE, 19, 1, 0,
	    NULL, NULL, 0, 0, NULL },
	{ "v2 PROXY AF_UNSPEC is local",
	    S(SIG "\x21\x00\x00\x02" "\x04\x00" "x"), PROXY_DONE, 18, 1, 0,
	    NULL, NULL, 0, 0, NULL },

	/* v2, not whole yet. */
	MORE("v2 the signature alone", SIG),
	MORE("v2 addresses cut short", SIG "\x21\x11\x00\x0c" "\xc0\x00\x02"),
	MORE("v2 a TLV cut short by the end of the input",
	    SIG "\x21\x11\x00\x12" V4 "\x04\x00\x03" "a"),

	/* v2, bad. */
	BAD("v2 bad signature", "\r\n\r\n\0\r\nQUIX\n\x21\x11\x00\x0c" V4, 10,
	    "not a PROXY header"),
	BAD("v2 CR LF and text", "\r\nhello", 2, "not a PROXY header"),
	BAD("v2 version 1", SIG "\x11\x11\x00\x0c" V4, 12, "version 1"),
	BAD("v2 version 3", SIG "\x31\x11\x00\x0c" V4, 12, "version 3"),
	BAD("v2 command 2", SIG "\x22\x11\x00\x0c" V4, 12, "command 2"),
	BAD("v2 command 15", SIG "\x2f\x00\x00\x00", 12, "command 15"),
	BAD("v2 AF_UNIX stream", SIG "\x21\x31\x00\xd8", 13, "AF_UNIX"),
	BAD("v2 AF_UNIX datagram", SIG "\x21\x32\x00\xd8", 13, "AF_UNIX"),
	BAD("v2 UDP over IPv4", SIG "\x21\x12\x00\x0c" V4, 13, "datagram"),
	BAD("v2 UDP over IPv6", SIG "\x21\x22\x00\x24" V6, 13, "datagram"),
	BAD("v2 IPv4, no transport", SIG "\x21\x10\x00\x0c" V4, 13, "0x10"),
	BAD("v2 family 4", SIG "\x21\x41\x00\x0c" V4, 13, "0x41"),
	BAD("v2 TCP4 in 11 bytes", SIG "\x21\x11\x00\x0b" V4, 15, "too few"),
	BAD("v2 TCP6 in 12 bytes", SIG "\x21\x21\x00\x0c" V4, 15, "too few"),
	BAD("v2 a TLV past the end",
	    SIG "\x21\x11\x00\x0f" V4 "\x04\x00\x05" "abcde", 30,
	    "longer than the header"),
	{ "v2 a TLV's header cut short",
	    S(SIG "\x21\x11\x00\x0e" V4 "\x04\x00" AFTER), PROXY_BAD, 29, 0,
	    0, NULL, NULL, 0, 0, "cut short" },
};

/* What p says, from a buffer exactly n bytes long. */
static enum proxy_result
parse(const char *p, size_t n, struct proxy_header *h, char *err,
    size_t errlen)
{
	enum proxy_result	 r;
	unsigned char		*copy;

	if ((copy = malloc(n > 0 ? n : 1)) == NULL)
		abort();
	memcpy(copy, p, n);
	r = proxy_parse(copy, n, h, err, errlen);
	free(copy);
	return r;
}

/* addr:port, as the header gave it. */
static void
show(const struct sockaddr_storage *ss, socklen_t len, char *buf,
    size_t size, unsigned int *port)
{
	const struct sockaddr_in	*sin = (const struct sockaddr_in *)ss;
	const struct sockaddr_in6	*sin6 = (const struct sockaddr_in6 *)ss;

	buf[0] = '\0';
	*port = 99999;
	if (ss->ss_family == AF_INET && len == sizeof *sin) {
		inet_ntop(AF_INET, &sin->sin_addr, buf, size);
		*port = ntohs(sin->sin_port);
	} else if (ss->ss_family == AF_INET6 && len == sizeof *sin6) {
		inet_ntop(AF_INET6, &sin6->sin6_addr, buf, size);
		*port = ntohs(sin6->sin6_port);
	}
}

static int
same_header(const struct proxy_header *a, const struct proxy_header *b)
{
	return a->local == b->local && a->len == b->len &&
	    a->srclen == b->srclen && a->dstlen == b->dstlen &&
	    memcmp(&a->src, &b->src, a->srclen) == 0 &&
	    memcmp(&a->dst, &b->dst, a->dstlen) == 0;
}

static void
check_fields(const struct proxy_case *c, const struct proxy_header *h)
{
	char		src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN];
	unsigned int	sport, dport;

	tap_ok(h->len == c->len, "%s: len %zu (want %zu)", c->name, h->len,
	    c->len);
	tap_ok(h->local == c->local, "%s: local %d", c->name, h->local);
	if (c->local) {
		tap_ok(h->srclen == 0 && h->dstlen == 0,
		    "%s: no addresses", c->name);
		return;
	}
	show(&h->src, h->srclen, src, sizeof src, &sport);
	show(&h->dst, h->dstlen, dst, sizeof dst, &dport);
	tap_ok(h->src.ss_family == c->af && h->dst.ss_family == c->af,
	    "%s: family %d", c->name, h->src.ss_family);
	tap_ok(strcmp(src, c->src) == 0 && sport == c->sport,
	    "%s: source %s port %u", c->name, src, sport);
	tap_ok(strcmp(dst, c->dst) == 0 && dport == c->dport,
	    "%s: destination %s port %u", c->name, dst, dport);
}

/* Every prefix of the input: MORE up to last, then want. */
static void
check_prefixes(const struct proxy_case *c, size_t last, size_t upto,
    enum proxy_result then)
{
	struct proxy_header	h;
	enum proxy_result	r;
	char			err[128];
	size_t			k, wrong = 0, first = 0;

	for (k = 0; k <= upto; k++) {
		r = parse(c->in, k, &h, err, sizeof err);
		if (r != (k <= last ? PROXY_MORE : then) && wrong++ == 0)
			first = k;
	}
	tap_ok(wrong == 0, "%s: prefixes of 0..%zu bytes MORE, then %s "
	    "(%zu wrong, the first at %zu)", c->name, last,
	    then == PROXY_BAD ? "BAD" : "DONE", wrong, first);
}

static void
check_case(const struct proxy_case *c)
{
	struct proxy_header	 h, more;
	enum proxy_result	 r;
	char			 err[128], err2[128];
	char			*longer;

	r = parse(c->in, c->inlen, &h, err, sizeof err);
	if (!tap_ok(r == c->want, "%s: result %d (want %d) %s", c->name, r,
	    c->want, err))
		return;
	if ((longer = malloc(c->inlen + sizeof AFTER)) == NULL)
		abort();
	memcpy(longer, c->in, c->inlen);
	memcpy(longer + c->inlen, AFTER, sizeof AFTER);
	switch (c->want) {
	case PROXY_DONE:
		check_fields(c, &h);
		check_prefixes(c, c->len - 1, c->len, PROXY_DONE);
		r = parse(longer, c->inlen + sizeof AFTER, &more, err2,
		    sizeof err2);
		tap_ok(r == PROXY_DONE && same_header(&h, &more),
		    "%s: bytes after it change nothing", c->name);
		break;
	case PROXY_BAD:
		tap_ok(err[0] != '\0' && strchr(err, '\n') == NULL &&
		    strstr(err, c->err) != NULL, "%s: err \"%s\"", c->name,
		    err);
		check_prefixes(c, c->len, c->inlen, PROXY_BAD);
		r = parse(longer, c->inlen + sizeof AFTER, &more, err2,
		    sizeof err2);
		tap_ok(r == PROXY_BAD && strcmp(err, err2) == 0,
		    "%s: bytes after it save nothing", c->name);
		break;
	case PROXY_MORE:
		check_prefixes(c, c->inlen, c->inlen, PROXY_MORE);
		break;
	}
	free(longer);
}

/* The largest v2 header: a length of 65535. */
static void
check_largest(void)
{
	struct proxy_header	 h;
	unsigned char		*buf;
	size_t			 total = 16 + 65535;
	char			 err[128];
	int			 ok;

	if ((buf = calloc(1, total + 1)) == NULL)
		abort();
	memcpy(buf, SIG "\x21\x11\xff\xff" V4 "\x04\xff\xf0", 31);
	ok = proxy_parse(buf, total - 1, &h, err, sizeof err) == PROXY_MORE;
	ok = ok && proxy_parse(buf, total, &h, err, sizeof err) ==
	    PROXY_DONE && h.len == total && !h.local;
	ok = ok && proxy_parse(buf, total + 1, &h, err, sizeof err) ==
	    PROXY_DONE && h.len == total;
	tap_ok(ok, "v2 of 65551 bytes: MORE at 65550, DONE at 65551 and "
	    "after");
	memcpy(buf, SIG "\x20\x00\xff\xff", 16);
	tap_ok(proxy_parse(buf, total, &h, err, sizeof err) == PROXY_DONE &&
	    h.len == total && h.local, "v2 LOCAL of 65551 bytes");
	free(buf);
}

/* err is cut to its size, and left alone when it has none. */
static void
check_err_size(void)
{
	struct proxy_header	h;
	char			err[8];

	memset(err, 'z', sizeof err);
	tap_ok(parse("hello", 5, &h, err, 6) == PROXY_BAD &&
	    strlen(err) == 5 && err[6] == 'z', "err cut to its size: \"%s\"",
	    err);
	memset(err, 'z', sizeof err);
	tap_ok(parse("hello", 5, &h, err, 0) == PROXY_BAD && err[0] == 'z',
	    "an err of no size is not written");
}

int
main(void)
{
	size_t	i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++)
		check_case(&cases[i]);
	check_largest();
	check_err_size();
	return tap_done();
}
