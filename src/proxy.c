/*
 * The PROXY protocol header that a balancer such as HAProxy puts before a
 * client's bytes (send-proxy: v1, a text line; send-proxy-v2: binary).
 * No I/O here: the caller hands over what it has peeked so far and reads
 * exactly h->len bytes once the header is whole, so that whatever follows
 * (a TLS hello, a client's first line) stays in the socket.
 *
 * Each field is judged as soon as its bytes are in, so a connection that
 * cannot be carrying a header (a plain client's "hello") is refused at
 * its first wrong byte rather than after a timeout.
 *
 * v2 choices: LOCAL (a health check) skips its block unseen, whatever its
 * family; PROXY with AF_UNSPEC is local too, having no address to give;
 * PROXY over AF_UNIX or a datagram transport is refused, since a
 * ptychatd client is a TCP peer and its address must not silently go
 * missing.  After IPv4 or IPv6 addresses the TLVs must fill the rest of
 * the block exactly; they are skipped, a CRC32C one unchecked.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ptychat.h"

static const unsigned char proxy_v1_sig[] = "PROXY ";
static const unsigned char proxy_v2_sig[] = "\r\n\r\n\0\r\nQUIT\n";
#define PROXY_V1_SIG_LEN	(sizeof proxy_v1_sig - 1)
#define PROXY_V2_SIG_LEN	(sizeof proxy_v2_sig - 1)
#define PROXY_V2_FIXED		16	/* signature, version, family, length */
#define PROXY_ADDR_TEXT_MAX	(INET6_ADDRSTRLEN - 1)
#define PROXY_PORT_TEXT_MAX	5

/* v1 fields: where each ends and what must end it. */
enum { PROXY_SRC, PROXY_DST, PROXY_SPORT, PROXY_DPORT, PROXY_FIELDS };

static const char *const proxy_field_name[PROXY_FIELDS] = {
	"source address", "destination address", "source port",
	"destination port"
};

/*
 * Endings that turn a valid start of an address into a whole one, if
 * anything can: the start is a prefix of some address exactly when one
 * of these completes it.
 */
static const char *const proxy_addr_endings[] = {
	"", "0", ":", "::", ":0", ".0", ".0.0", ".0.0.0", "0.0", "0.0.0"
};

static enum proxy_result __attribute__((format(printf, 3, 4)))
proxy_bad(char *err, size_t errlen, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return PROXY_BAD;
}

/* Whether text (len bytes, no NUL) could begin an address of family af. */
static int
proxy_addr_start(int af, const unsigned char *text, size_t len)
{
	unsigned char	addr[sizeof(struct in6_addr)];
	char		buf[PROXY_ADDR_TEXT_MAX + 8];
	size_t		i;

	if (len == 0)
		return 1;
	if (len > PROXY_ADDR_TEXT_MAX)
		return 0;
	for (i = 0; i < sizeof proxy_addr_endings /
	    sizeof proxy_addr_endings[0]; i++) {
		snprintf(buf, sizeof buf, "%.*s%s", (int)len,
		    (const char *)text, proxy_addr_endings[i]);
		if (strlen(buf) == len + strlen(proxy_addr_endings[i]) &&
		    inet_pton(af, buf, addr) == 1)
			return 1;
	}
	return 0;
}

/* Whether text is a whole address of family af; if so, stores it. */
static int
proxy_addr(int af, const unsigned char *text, size_t len, void *addr)
{
	char	buf[PROXY_ADDR_TEXT_MAX + 1];

	if (len == 0 || len > PROXY_ADDR_TEXT_MAX ||
	    memchr(text, '\0', len) != NULL)
		return 0;
	memcpy(buf, text, len);
	buf[len] = '\0';
	return inet_pton(af, buf, addr) == 1;
}

/*
 * Returns the port text spells, or -1: decimal digits, no leading zero,
 * 0 to 65535.  With partial set, text is a start, and 0 means it may
 * still become one.
 */
static long long
proxy_port(const unsigned char *text, size_t len, int partial)
{
	char		 buf[PROXY_PORT_TEXT_MAX + 1];
	const char	*errstr;
	long long	 port;
	size_t		 i;

	if (len == 0)
		return partial ? 0 : -1;
	if (len > PROXY_PORT_TEXT_MAX || (len > 1 && text[0] == '0'))
		return -1;
	for (i = 0; i < len; i++)
		if (text[i] < '0' || text[i] > '9')
			return -1;
	memcpy(buf, text, len);
	buf[len] = '\0';
	port = number_parse(buf, 0, 65535, &errstr);
	return errstr == NULL ? port : -1;
}

static void
proxy_set(struct sockaddr_storage *ss, socklen_t *sslen, int af,
    const void *addr, unsigned int port)
{
	struct sockaddr_in	*sin;
	struct sockaddr_in6	*sin6;

	memset(ss, 0, sizeof *ss);
	if (af == AF_INET) {
		sin = (struct sockaddr_in *)ss;
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		memcpy(&sin->sin_addr, addr, sizeof sin->sin_addr);
		*sslen = sizeof *sin;
	} else {
		sin6 = (struct sockaddr_in6 *)ss;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		memcpy(&sin6->sin6_addr, addr, sizeof sin6->sin6_addr);
		*sslen = sizeof *sin6;
	}
}

/* The rest of "PROXY UNKNOWN": anything up to CR LF. */
static enum proxy_result
proxy_v1_unknown(const unsigned char *buf, size_t lim, size_t pos,
    struct proxy_header *h, char *err, size_t errlen)
{
	for (; pos < lim; pos++) {
		if (buf[pos] == '\n')
			return proxy_bad(err, errlen, "PROXY v1: %s",
			    "LF without CR");
		if (buf[pos] != '\r')
			continue;
		if (pos + 1 == lim)
			break;
		if (buf[pos + 1] != '\n')
			return proxy_bad(err, errlen, "PROXY v1: %s",
			    "CR without LF");
		h->local = 1;
		h->len = pos + 2;
		return PROXY_DONE;
	}
	if (lim == PROXY_V1_MAX)
		return proxy_bad(err, errlen, "PROXY v1: %s",
		    "line too long");
	return PROXY_MORE;
}

static enum proxy_result
proxy_v1(const unsigned char *buf, size_t n, struct proxy_header *h,
    char *err, size_t errlen)
{
	unsigned char	 addr[2][sizeof(struct in6_addr)];
	long long	 port[2];
	const char	*proto;
	size_t		 lim, pos, end;
	int		 af, field;

	lim = n < PROXY_V1_MAX ? n : PROXY_V1_MAX;
	for (pos = 0; pos < lim && pos < PROXY_V1_SIG_LEN; pos++)
		if (buf[pos] != proxy_v1_sig[pos])
			return proxy_bad(err, errlen, "%s",
			    "not a PROXY header");
	for (end = pos; end < lim && buf[end] != ' ' && buf[end] != '\r' &&
	    buf[end] != '\n'; end++)
		;
	if (end == lim) {
		if (lim == PROXY_V1_MAX)
			return proxy_bad(err, errlen, "PROXY v1: %s",
			    "line too long");
		if (strncmp("TCP4", (const char *)buf + pos, end - pos) != 0 &&
		    strncmp("TCP6", (const char *)buf + pos, end - pos) != 0 &&
		    strncmp("UNKNOWN", (const char *)buf + pos, end - pos) != 0)
			return proxy_bad(err, errlen, "PROXY v1: %s",
			    "unknown protocol");
		return PROXY_MORE;
	}
	proto = (const char *)buf + pos;
	if (end - pos == 7 && memcmp(proto, "UNKNOWN", 7) == 0)
		return proxy_v1_unknown(buf, lim, end, h, err, errlen);
	if (end - pos == 4 && memcmp(proto, "TCP4", 4) == 0)
		af = AF_INET;
	else if (end - pos == 4 && memcmp(proto, "TCP6", 4) == 0)
		af = AF_INET6;
	else
		return proxy_bad(err, errlen, "PROXY v1: %s",
		    "unknown protocol");
	if (buf[end] != ' ')
		return proxy_bad(err, errlen, "PROXY v1: %s",
		    "no addresses after the protocol");

	for (field = 0; field < PROXY_FIELDS; field++) {
		pos = end + 1;
		for (end = pos; end < lim && buf[end] != ' ' &&
		    buf[end] != '\r' && buf[end] != '\n'; end++)
			;
		if (end == lim) {
			/* Cut short: is what there is a start of the field? */
			if (lim == PROXY_V1_MAX)
				return proxy_bad(err, errlen, "PROXY v1: %s",
				    "line too long");
			if (field <= PROXY_DST ?
			    !proxy_addr_start(af, buf + pos, end - pos) :
			    proxy_port(buf + pos, end - pos, 1) == -1)
				return proxy_bad(err, errlen, "PROXY v1: bad %s",
				    proxy_field_name[field]);
			return PROXY_MORE;
		}
		if (field <= PROXY_DST) {
			if (!proxy_addr(af, buf + pos, end - pos, addr[field]))
				return proxy_bad(err, errlen, "PROXY v1: bad %s",
				    proxy_field_name[field]);
		} else if ((port[field - PROXY_SPORT] = proxy_port(buf + pos,
		    end - pos, 0)) == -1)
			return proxy_bad(err, errlen, "PROXY v1: bad %s",
			    proxy_field_name[field]);
		if (buf[end] != (field == PROXY_DPORT ? '\r' : ' '))
			return proxy_bad(err, errlen, "PROXY v1: %s",
			    buf[end] == '\n' ? "LF without CR" :
			    "bad separator");
	}
	if (end + 1 == lim)
		return lim == PROXY_V1_MAX ? proxy_bad(err, errlen,
		    "PROXY v1: %s", "line too long") : PROXY_MORE;
	if (buf[end + 1] != '\n')
		return proxy_bad(err, errlen, "PROXY v1: %s", "CR without LF");
	proxy_set(&h->src, &h->srclen, af, addr[PROXY_SRC],
	    (unsigned int)port[0]);
	proxy_set(&h->dst, &h->dstlen, af, addr[PROXY_DST],
	    (unsigned int)port[1]);
	h->len = end + 2;
	return PROXY_DONE;
}

static enum proxy_result
proxy_v2(const unsigned char *buf, size_t n, struct proxy_header *h,
    char *err, size_t errlen)
{
	size_t		 i, total, addrlen, off, have;
	unsigned int	 cmd, fam;
	int		 af = AF_UNSPEC;

	for (i = 0; i < n && i < PROXY_V2_SIG_LEN; i++)
		if (buf[i] != proxy_v2_sig[i])
			return proxy_bad(err, errlen, "%s",
			    "not a PROXY header");
	if (n <= PROXY_V2_SIG_LEN)
		return PROXY_MORE;
	if (buf[12] >> 4 != 2)
		return proxy_bad(err, errlen, "PROXY v2: version %u",
		    (unsigned int)buf[12] >> 4);
	if ((cmd = buf[12] & 0x0f) > 1)
		return proxy_bad(err, errlen, "PROXY v2: command %u", cmd);
	if (n <= 13)
		return PROXY_MORE;
	fam = buf[13];
	addrlen = 0;
	if (cmd == 1) {
		switch (fam) {
		case 0x00:
			break;
		case 0x11:
			af = AF_INET;
			addrlen = 12;
			break;
		case 0x21:
			af = AF_INET6;
			addrlen = 36;
			break;
		case 0x31:
		case 0x32:
			return proxy_bad(err, errlen, "PROXY v2: %s",
			    "AF_UNIX addresses");
		case 0x12:
		case 0x22:
			return proxy_bad(err, errlen, "PROXY v2: %s",
			    "a datagram transport");
		default:
			return proxy_bad(err, errlen,
			    "PROXY v2: family and transport 0x%02x", fam);
		}
	}
	if (n < PROXY_V2_FIXED)
		return PROXY_MORE;
	total = PROXY_V2_FIXED + ((size_t)buf[14] << 8 | buf[15]);
	if (total < PROXY_V2_FIXED + addrlen)
		return proxy_bad(err, errlen,
		    "PROXY v2: %zu bytes, too few for the addresses",
		    total - PROXY_V2_FIXED);
	if (af != AF_UNSPEC) {
		/* The TLVs, as far as they are in: type, 16-bit length. */
		have = n < total ? n : total;
		for (off = PROXY_V2_FIXED + addrlen; off + 3 <= have;
		    off += 3 + ((size_t)buf[off + 1] << 8 | buf[off + 2]))
			if (off + 3 + ((size_t)buf[off + 1] << 8 |
			    buf[off + 2]) > total)
				return proxy_bad(err, errlen, "PROXY v2: %s",
				    "a TLV longer than the header");
		if (n >= total && off != total)
			return proxy_bad(err, errlen, "PROXY v2: %s",
			    "a TLV cut short");
	}
	if (n < total)
		return PROXY_MORE;
	if (af == AF_INET) {
		proxy_set(&h->src, &h->srclen, af, buf + 16,
		    (unsigned int)buf[24] << 8 | buf[25]);
		proxy_set(&h->dst, &h->dstlen, af, buf + 20,
		    (unsigned int)buf[26] << 8 | buf[27]);
	} else if (af == AF_INET6) {
		proxy_set(&h->src, &h->srclen, af, buf + 16,
		    (unsigned int)buf[48] << 8 | buf[49]);
		proxy_set(&h->dst, &h->dstlen, af, buf + 32,
		    (unsigned int)buf[50] << 8 | buf[51]);
	} else
		h->local = 1;
	h->len = total;
	return PROXY_DONE;
}

enum proxy_result
proxy_parse(const unsigned char *buf, size_t n, struct proxy_header *h,
    char *err, size_t errlen)
{
	memset(h, 0, sizeof *h);
	if (errlen > 0)
		err[0] = '\0';
	if (n == 0)
		return PROXY_MORE;
	if (buf[0] == proxy_v2_sig[0])
		return proxy_v2(buf, n, h, err, errlen);
	return proxy_v1(buf, n, h, err, errlen);
}
