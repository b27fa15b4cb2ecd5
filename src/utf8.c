/*
 * UTF-8 for the sanitiser, the key parser and the editor, so that they
 * agree on what is UTF-8: text that comes in pieces, decoding from a
 * string, encoding, and stepping over code points.  The two steps their
 * fast paths take for every character, utf8_decode and utf8_ascii_run,
 * are inline in ptychat.h.
 */
#include <stdint.h>

#include "ptychat.h"

/*
 * Takes the next byte c of a stream, for text that comes in pieces.
 * When it completes a code point, returns UTF8_DONE with the code point in
 * *cp (an ASCII byte is one) and its bytes in u->seq[0..u->need).
 */
enum utf8_result
utf8_feed(struct utf8 *u, unsigned char c, uint32_t *cp)
{
	int	r;

	u->seq[u->len] = c;
	r = utf8_decode(u->seq, u->len + 1, cp);
	if (r > 0) {
		u->len = 0;
		u->need = (size_t)r;
		return UTF8_DONE;
	}
	if (r == 0) {
		u->len++;
		return UTF8_MORE;
	}
	if (u->len == 0)
		return UTF8_BAD;
	u->len = 0;
	return UTF8_AGAIN;
}

/*
 * Decodes the code point at s + *i of n bytes and steps past it.  What is
 * not UTF-8, up to where a sequence may start again, is one U+FFFD.
 */
uint32_t
utf8_next(const char *s, size_t n, size_t *i)
{
	uint32_t	cp = 0;
	int		k;

	if ((k = utf8_decode(s + *i, n - *i, &cp)) > 0) {
		*i += (size_t)k;
		return cp;
	}
	*i = k < 0 ? *i - (size_t)k : n;
	return UTF8_REPLACEMENT;
}

/* Writes cp, a Unicode scalar value, as 1 to 4 bytes; returns how many. */
size_t
utf8_encode(uint32_t cp, char *out)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xC0 | cp >> 6);
		out[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xE0 | cp >> 12);
		out[1] = (char)(0x80 | (cp >> 6 & 0x3F));
		out[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	out[0] = (char)(0xF0 | cp >> 18);
	out[1] = (char)(0x80 | (cp >> 12 & 0x3F));
	out[2] = (char)(0x80 | (cp >> 6 & 0x3F));
	out[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

/* C0, DEL and C1 would be obeyed by a terminal, not shown. */
int
utf8_printable(uint32_t cp)
{
	return cp >= 0x20 && cp != 0x7F && (cp < 0x80 || cp >= 0xA0);
}

/* Steps back from byte i of valid UTF-8 to the start of a code point. */
size_t
utf8_prev(const char *s, size_t i)
{
	if (i == 0)
		return 0;
	do
		i--;
	while (i > 0 && ((unsigned char)s[i] & 0xC0) == 0x80);
	return i;
}

/* Steps on from byte i of n of valid UTF-8 to the next code point. */
size_t
utf8_forward(const char *s, size_t n, size_t i)
{
	if (i >= n)
		return n;
	do
		i++;
	while (i < n && ((unsigned char)s[i] & 0xC0) == 0x80);
	return i;
}
