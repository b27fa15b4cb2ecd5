/*
 * The sanitiser: untrusted bytes in, bytes a terminal shows but never obeys
 * out.  Printable UTF-8, \n and \t pass; \r\n becomes \n; other controls are
 * shown in caret notation (C0, DEL) or as \u00NN (C1 written as UTF-8); every
 * byte of malformed UTF-8, raw C1 included, is shown as \xNN.
 *
 * State carried between calls (an unfinished sequence, a \r) makes the
 * output independent of how the input was split.
 */
#include <stdint.h>
#include <string.h>

#include "ptychat.h"

static const char sanitize_hex[] = "0123456789ABCDEF";

#define SANITIZE_ONES	UINT64_C(0x0101010101010101)
#define SANITIZE_HIGHS	UINT64_C(0x8080808080808080)

/*
 * Returns non-zero if any of the 8 bytes in w is outside 0x20-0x7E: below
 * 0x20, top bit set, or 0x7F.  A borrow between bytes may flag the wrong
 * byte but never hides a bad one, so a zero result is exact and the byte
 * loop after it finds where the run really ends.
 */
static inline uint64_t
sanitize_word_unprintable(uint64_t w)
{
	uint64_t	below, del;

	below = (w - SANITIZE_ONES * 0x20) & ~w;
	del = w ^ (SANITIZE_ONES * 0x7F);
	del = (del - SANITIZE_ONES) & ~del;
	return (below | del | w) & SANITIZE_HIGHS;
}

/* Returns the end of the run of printable ASCII that starts at p. */
static const unsigned char *
sanitize_ascii_run(const unsigned char *p, const unsigned char *end)
{
	uint64_t	w;

	while (end - p >= 8) {
		memcpy(&w, p, sizeof(w));
		if (sanitize_word_unprintable(w))
			break;
		p += 8;
	}
	while (p < end && *p >= 0x20 && *p <= 0x7E)
		p++;
	return p;
}

static char *
sanitize_put_hex(char *o, unsigned char c)
{
	*o++ = '\\';
	*o++ = 'x';
	*o++ = sanitize_hex[c >> 4];
	*o++ = sanitize_hex[c & 0x0F];
	return o;
}

/* Shows the unfinished sequence byte by byte and forgets it. */
static char *
sanitize_put_seq_hex(struct sanitizer *s, char *o)
{
	size_t	i;

	for (i = 0; i < s->seqlen; i++)
		o = sanitize_put_hex(o, s->seq[i]);
	s->seqlen = 0;
	s->seqneed = 0;
	return o;
}

/*
 * The lead byte fixes the length; the second byte's range excludes
 * overlongs (E0, F0), surrogates (ED) and values above U+10FFFF (F4), as in
 * the Unicode standard's table of well-formed byte sequences, so a bad
 * sequence is caught at its first bad byte.
 */
static int
sanitize_continues(const struct sanitizer *s, unsigned char c)
{
	if (s->seqlen == 1) {
		switch (s->seq[0]) {
		case 0xE0:
			return c >= 0xA0 && c <= 0xBF;
		case 0xED:
			return c >= 0x80 && c <= 0x9F;
		case 0xF0:
			return c >= 0x90 && c <= 0xBF;
		case 0xF4:
			return c >= 0x80 && c <= 0x8F;
		}
	}
	return c >= 0x80 && c <= 0xBF;
}

void
sanitize_init(struct sanitizer *s)
{
	memset(s, 0, sizeof(*s));
}

size_t
sanitize_feed(struct sanitizer *s, const void *in, size_t len, char *out)
{
	const unsigned char	*p = in, *end = p + len, *run;
	char			*o = out;
	unsigned char		 c;

	if (len > 0 && s->held_cr) {
		s->held_cr = 0;
		if (*p == '\n') {
			*o++ = '\n';
			p++;
		} else {
			*o++ = '^';
			*o++ = 'M';
		}
	}

	while (p < end) {
		if (s->seqlen > 0) {
			c = *p;
			if (!sanitize_continues(s, c)) {
				/* c is not consumed: it may start afresh. */
				o = sanitize_put_seq_hex(s, o);
				continue;
			}
			s->seq[s->seqlen++] = c;
			p++;
			if (s->seqlen < s->seqneed)
				continue;
			if (s->seqneed == 2 && s->seq[0] == 0xC2 &&
			    s->seq[1] <= 0x9F) {
				memcpy(o, "\\u00", 4);
				o += 4;
				*o++ = sanitize_hex[s->seq[1] >> 4];
				*o++ = sanitize_hex[s->seq[1] & 0x0F];
			} else {
				memcpy(o, s->seq, s->seqlen);
				o += s->seqlen;
			}
			s->seqlen = 0;
			s->seqneed = 0;
			continue;
		}

		run = sanitize_ascii_run(p, end);
		if (run > p) {
			memcpy(o, p, (size_t)(run - p));
			o += run - p;
			p = run;
			if (p == end)
				break;
		}

		c = *p++;
		if (c == '\n' || c == '\t')
			*o++ = (char)c;
		else if (c == '\r') {
			if (p == end)
				s->held_cr = 1;
			else if (*p == '\n') {
				*o++ = '\n';
				p++;
			} else {
				*o++ = '^';
				*o++ = 'M';
			}
		} else if (c < 0x20 || c == 0x7F) {
			*o++ = '^';
			*o++ = (char)(c ^ 0x40);
		} else if (c < 0xC2 || c > 0xF4) {
			/*
			 * Raw C1 and stray continuations; C0 and C1 could only
			 * start overlongs, F5 and up only values past U+10FFFF.
			 */
			o = sanitize_put_hex(o, c);
		} else {
			s->seq[0] = c;
			s->seqlen = 1;
			s->seqneed = c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
		}
	}
	return (size_t)(o - out);
}

size_t
sanitize_finish(struct sanitizer *s, char *out)
{
	char	*o = out;

	if (s->held_cr) {
		*o++ = '^';
		*o++ = 'M';
	}
	o = sanitize_put_seq_hex(s, o);
	sanitize_init(s);
	return (size_t)(o - out);
}
