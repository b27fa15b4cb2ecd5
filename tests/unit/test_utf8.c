/*
 * Unit tests for utf8.c and the inline steps in ptychat.h.  The reference
 * is built from the encoder alone: every Unicode scalar value is encoded,
 * and the prefixes of those encodings are the only byte strings a decoder
 * may take as the start of a character.  Every string of up to 3 bytes is
 * then decoded and checked against it, and fed a byte at a time as well.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/ptychat.h"
#include "tap.h"

/* Bit sets of the valid prefixes of 1, 2 and 3 bytes, and whole ones. */
static unsigned char	*prefix[4], *whole[4];

static size_t
index_of(const unsigned char *s, size_t n)
{
	size_t	i, x = 0;

	for (i = 0; i < n; i++)
		x = x << 8 | s[i];
	return x;
}

static int
bit(const unsigned char *set, size_t i)
{
	return set[i >> 3] >> (i & 7) & 1;
}

static void
set_bit(unsigned char *set, size_t i)
{
	set[i >> 3] |= (unsigned char)(1 << (i & 7));
}

/* Whether s[0..n) begins some valid sequence (n <= 3), or is one. */
static int
is_prefix(const unsigned char *s, size_t n)
{
	return n == 0 || bit(prefix[n], index_of(s, n));
}

static int
is_whole(const unsigned char *s, size_t n)
{
	if (n == 4)
		return is_prefix(s, 3) && s[0] >= 0xF0 &&
		    (s[3] & 0xC0) == 0x80;
	return bit(whole[n], index_of(s, n));
}

static void
build_reference(void)
{
	unsigned char	b[4];
	uint32_t	cp;
	size_t		n, k;

	for (n = 1; n <= 3; n++)
		if ((prefix[n] = calloc(((size_t)1 << (8 * n)) / 8, 1)) ==
		    NULL || (whole[n] = calloc(((size_t)1 << (8 * n)) / 8,
		    1)) == NULL)
			abort();
	for (cp = 0; cp <= 0x10FFFF; cp++) {
		if (cp >= 0xD800 && cp <= 0xDFFF)
			continue;
		n = utf8_encode(cp, (char *)b);
		for (k = 1; k <= n && k <= 3; k++)
			set_bit(prefix[k], index_of(b, k));
		if (n <= 3)
			set_bit(whole[n], index_of(b, n));
	}
}

/* What utf8_decode must return for the n bytes at s. */
static int
expected(const unsigned char *s, size_t n)
{
	size_t	len = 0;

	while (len < n && len < 4 && (len == 3 ? is_whole(s, 4) :
	    is_prefix(s, len + 1)))
		len++;
	if (len == 0)
		return -1;
	if (is_whole(s, len))
		return (int)len;
	return len == n ? 0 : -(int)len;
}

static void
check_encode(void)
{
	static const struct {
		uint32_t	 cp;
		const char	*utf8;
	} known[] = {
		{ 0x24, "$" }, { 0x7F, "\x7f" }, { 0x80, "\xc2\x80" },
		{ 0xE9, "\xc3\xa9" }, { 0x7FF, "\xdf\xbf" },
		{ 0x800, "\xe0\xa0\x80" }, { 0x20AC, "\xe2\x82\xac" },
		{ 0xFFFD, "\xef\xbf\xbd" }, { 0xFFFF, "\xef\xbf\xbf" },
		{ 0x10000, "\xf0\x90\x80\x80" },
		{ 0x1F600, "\xf0\x9f\x98\x80" },
		{ 0x10FFFF, "\xf4\x8f\xbf\xbf" },
	};
	char		buf[4];
	size_t		i, n;
	uint32_t	cp, got = 0;
	int		bad = 0;

	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		n = utf8_encode(known[i].cp, buf);
		bad += n != strlen(known[i].utf8) ||
		    memcmp(buf, known[i].utf8, n) != 0;
	}
	tap_ok(bad == 0, "utf8_encode: known values");
	for (cp = 0; cp <= 0x10FFFF; cp++) {
		if (cp >= 0xD800 && cp <= 0xDFFF)
			continue;
		n = utf8_encode(cp, buf);
		bad += n != (cp < 0x80 ? 1u : cp < 0x800 ? 2u :
		    cp < 0x10000 ? 3u : 4u);
		bad += utf8_decode(buf, n, &got) != (int)n || got != cp;
	}
	tap_ok(bad == 0, "every scalar value encodes at its length and "
	    "decodes back");
}

/* Every string of 1 to 3 bytes, and the 4-byte ones after each 3. */
static void
check_decode(void)
{
	unsigned char	s[4], again[4];
	size_t		n, x, k;
	uint32_t	cp, want;
	int		r, bad = 0, e;

	for (n = 1; n <= 3; n++)
		for (x = 0; x < (size_t)1 << (8 * n); x++) {
			for (k = 0; k < n; k++)
				s[k] = (unsigned char)(x >> (8 * (n - 1 - k)));
			cp = 0xDEAD;
			r = utf8_decode(s, n, &cp);
			e = expected(s, n);
			/* A character must be the one those bytes encode. */
			if (r != e || (r > 0 &&
			    (utf8_encode(cp, (char *)again) != (size_t)r ||
			    memcmp(again, s, (size_t)r) != 0))) {
				if (bad++ == 0)
					tap_diag("%zu bytes %06zx: got %d, "
					    "want %d", n, x, r, e);
			}
		}
	tap_ok(bad == 0, "utf8_decode: every string of 1, 2 and 3 bytes");

	/* Four bytes: every valid three-byte start, with each fourth. */
	for (x = 0; x < (size_t)1 << 24; x++) {
		if (!bit(prefix[3], x) || (x >> 16) < 0xF0)
			continue;
		s[0] = (unsigned char)(x >> 16);
		s[1] = (unsigned char)(x >> 8);
		s[2] = (unsigned char)x;
		for (k = 0; k < 256; k++) {
			s[3] = (unsigned char)k;
			r = utf8_decode(s, 4, &cp);
			e = expected(s, 4);
			want = (uint32_t)(s[0] & 7) << 18 |
			    (uint32_t)(s[1] & 0x3F) << 12 |
			    (uint32_t)(s[2] & 0x3F) << 6 | (s[3] & 0x3F);
			bad += r != e || (r == 4 && cp != want);
		}
	}
	tap_ok(bad == 0, "utf8_decode: 4 bytes, every valid start");
	tap_ok(utf8_decode("", 0, &cp) == 0, "utf8_decode: no bytes, no "
	    "character");
}

/*
 * Decodes s a byte at a time with utf8_feed, and again from the string
 * with utf8_next; both must give the same characters, U+FFFD for each
 * stretch that is not UTF-8, held bytes at the end apart.
 */
static int
feed_agrees(const unsigned char *s, size_t n)
{
	struct utf8	u;
	uint32_t	fed[16], next[16], cp;
	size_t		nfed = 0, nnext = 0, i = 0, held;
	int		r;

	memset(&u, 0, sizeof(u));
	while (i < n) {
		held = u.len;
		switch (utf8_feed(&u, s[i], &cp)) {
		case UTF8_MORE:
			i++;
			break;
		case UTF8_DONE:
			if (u.need < 1 || u.need > 4 ||
			    memcmp(u.seq, s + i + 1 - u.need, u.need) != 0)
				return 0;
			fed[nfed++] = cp;
			i++;
			break;
		case UTF8_BAD:
			fed[nfed++] = UTF8_REPLACEMENT;
			i++;
			break;
		case UTF8_AGAIN:
			if (held == 0 || memcmp(u.seq, s + i - held, held))
				return 0;
			fed[nfed++] = UTF8_REPLACEMENT;
			break;
		}
	}
	/* What is held at the end is one more U+FFFD for utf8_next. */
	if (u.len > 0)
		fed[nfed++] = UTF8_REPLACEMENT;
	i = 0;
	while (i < n) {
		cp = utf8_next((const char *)s, n, &i);
		next[nnext++] = cp;
	}
	r = nfed == nnext && memcmp(fed, next, nfed * sizeof(fed[0])) == 0;
	return r;
}

static void
check_feed(void)
{
	static const unsigned char edges[] = { 0x00, 0x41, 0x7F, 0x80, 0x8F,
	    0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF, 0xE0, 0xED, 0xEF,
	    0xF0, 0xF4, 0xF5, 0xFF };
	unsigned char	s[6];
	size_t		x, k;
	uint32_t	seed = 1;
	int		bad = 0, i;

	for (x = 0; x < (size_t)1 << 24; x++) {
		for (k = 0; k < 3; k++)
			s[k] = (unsigned char)(x >> (8 * (2 - k)));
		if (!feed_agrees(s, 3) && bad++ == 0)
			tap_diag("3 bytes %06zx", x);
	}
	tap_ok(bad == 0, "utf8_feed and utf8_next agree on every string of "
	    "3 bytes");
	/* Longer strings, made of bytes near the edges of the ranges. */
	for (i = 0; i < 1000000; i++) {
		for (k = 0; k < sizeof(s); k++) {
			seed ^= seed << 13;
			seed ^= seed >> 17;
			seed ^= seed << 5;
			s[k] = edges[seed % sizeof(edges)];
		}
		if (!feed_agrees(s, sizeof(s)) && bad++ == 0)
			tap_diag("6 bytes %02x %02x %02x %02x %02x %02x", s[0],
			    s[1], s[2], s[3], s[4], s[5]);
	}
	tap_ok(bad == 0, "and on a million strings of 6 bytes near the "
	    "edges");
}

static void
check_ascii_run(void)
{
	unsigned char	buf[48];
	size_t		len, at, off, want;
	uint32_t	seed = 7;
	int		c, bad = 0;

	for (c = 0; c < 256; c++)
		for (off = 0; off < 8; off++)
			for (len = 0; len <= 24; len++)
				for (at = 0; at <= len; at++) {
					memset(buf, 'a', sizeof(buf));
					if (at < len)
						buf[off + at] = (unsigned char)c;
					want = at < len && (c < 0x20 ||
					    c > 0x7E) ? at : len;
					bad += utf8_ascii_run(buf + off, len) !=
					    want;
				}
	tap_ok(bad == 0, "utf8_ascii_run: every byte at every place, at "
	    "every alignment");

	/* Several bad bytes to a word: borrows must not hide the first. */
	for (c = 0; c < 200000; c++) {
		seed ^= seed << 13;
		seed ^= seed >> 17;
		seed ^= seed << 5;
		len = seed % 40;
		for (at = 0; at < len; at++) {
			seed ^= seed << 13;
			seed ^= seed >> 17;
			seed ^= seed << 5;
			buf[at] = seed % 4 != 0 ? 0x20 + seed / 4 % 0x5F :
			    (unsigned char)(seed >> 8);
		}
		for (want = 0; want < len && buf[want] >= 0x20 &&
		    buf[want] <= 0x7E; want++)
			continue;
		bad += utf8_ascii_run(buf, len) != want;
	}
	tap_ok(bad == 0, "utf8_ascii_run: 200000 random strings, bad bytes "
	    "together");
}

static void
check_printable_and_steps(void)
{
	static const char	s[] = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80z";
	static const size_t	starts[] = { 0, 1, 3, 6, 10, 11 };
	uint32_t		cp;
	size_t			i, at;
	int			bad = 0;

	for (cp = 0; cp < 0x200; cp++)
		bad += utf8_printable(cp) != (cp >= 0x20 && cp != 0x7F &&
		    (cp < 0x80 || cp > 0x9F));
	bad += !utf8_printable(0x10FFFF) || !utf8_printable(0xFFFD);
	tap_ok(bad == 0, "utf8_printable: not C0, DEL or C1");

	for (i = 0, at = 0; i + 1 < sizeof(starts) / sizeof(starts[0]); i++) {
		bad += at != starts[i];
		at = utf8_forward(s, sizeof(s) - 1, at);
	}
	bad += at != sizeof(s) - 1 ||
	    utf8_forward(s, sizeof(s) - 1, at) != at;
	for (i = sizeof(starts) / sizeof(starts[0]) - 1; i > 0; i--) {
		bad += at != starts[i];
		at = utf8_prev(s, at);
	}
	bad += at != 0 || utf8_prev(s, 0) != 0;
	tap_ok(bad == 0, "utf8_forward and utf8_prev step by characters");
}

int
main(void)
{
	build_reference();
	check_encode();
	check_decode();
	check_feed();
	check_ascii_run();
	check_printable_and_steps();
	return tap_done();
}
