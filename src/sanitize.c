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

static char *
sanitize_put_hex(char *o, unsigned char c)
{
	*o++ = '\\';
	*o++ = 'x';
	*o++ = sanitize_hex[c >> 4];
	*o++ = sanitize_hex[c & 0x0F];
	return o;
}

/* Shows the n bytes of a sequence that is not UTF-8, byte by byte. */
static char *
sanitize_put_seq_hex(const struct utf8 *u, size_t n, char *o)
{
	size_t	i;

	for (i = 0; i < n; i++)
		o = sanitize_put_hex(o, u->seq[i]);
	return o;
}

/* Shows the n bytes of cp, or \u00NN for a C1 control. */
static char *
sanitize_put_char(char *o, uint32_t cp, const unsigned char *bytes,
    size_t n)
{
	if (cp >= 0x80 && cp <= 0x9F) {
		memcpy(o, "\\u00", 4);
		o += 4;
		*o++ = sanitize_hex[cp >> 4];
		*o++ = sanitize_hex[cp & 0x0F];
	} else {
		memcpy(o, bytes, n);
		o += n;
	}
	return o;
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
	uint32_t		 cp;
	size_t			 held;
	int			 k;

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

	/* A sequence that the last call ended in the middle of. */
	while (s->utf8.len > 0 && p < end) {
		held = s->utf8.len;
		switch (utf8_feed(&s->utf8, *p, &cp)) {
		case UTF8_MORE:
			p++;
			break;
		case UTF8_DONE:
			p++;
			o = sanitize_put_char(o, cp, s->utf8.seq, s->utf8.need);
			break;
		case UTF8_BAD:		/* not with bytes held */
		case UTF8_AGAIN:
			/* *p is not consumed: it may start afresh. */
			o = sanitize_put_seq_hex(&s->utf8, held, o);
			break;
		}
	}

	while (p < end) {
		run = p + utf8_ascii_run(p, (size_t)(end - p));
		if (run > p) {
			/*
			 * A short run as one 16-byte copy, not a call: with
			 * 16 bytes of input left, out has 64 bytes of room.
			 */
			if (run - p <= 16 && end - p >= 16)
				memcpy(o, p, 16);
			else
				memcpy(o, p, (size_t)(run - p));
			o += run - p;
			p = run;
			if (p == end)
				break;
		}
		if (*p < 0x80) {
			c = *p++;
			if (c == '\n' || c == '\t')
				*o++ = (char)c;
			else if (c != '\r') {
				*o++ = '^';
				*o++ = (char)(c ^ 0x40);
			} else if (p == end)
				s->held_cr = 1;
			else if (*p == '\n') {
				*o++ = '\n';
				p++;
			} else {
				*o++ = '^';
				*o++ = 'M';
			}
			continue;
		}
		if ((k = utf8_decode(p, (size_t)(end - p), &cp)) > 0) {
			o = sanitize_put_char(o, cp, p, (size_t)k);
			p += k;
		} else if (k < 0) {
			do
				o = sanitize_put_hex(o, *p++);
			while (++k < 0);
		} else {
			/* Cut short by the end: held for the next call. */
			while (p < end)
				(void)utf8_feed(&s->utf8, *p++, &cp);
		}
	}
	return (size_t)(o - out);
}

/*
 * Returns how many bytes at the start of in sanitize_feed would pass on
 * as they are, holding nothing back: printable ASCII, \n and \t; none
 * while s holds anything.  Those may be shown as they are, without a
 * copy, and only the rest fed to s.
 */
size_t
sanitize_clean(const struct sanitizer *s, const void *in, size_t len)
{
	const unsigned char	*p = in;
	size_t			 i = 0;

	if (s->held_cr || s->utf8.len > 0)
		return 0;
#ifdef __SSE2__
	/* Not one line at a time: \n and \t are taken in the same step. */
	while (len - i >= 16) {
		__m128i	v;
		int	bad;

		v = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
		bad = _mm_movemask_epi8(_mm_or_si128(_mm_andnot_si128(
		    _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('\n')),
		    _mm_cmpeq_epi8(v, _mm_set1_epi8('\t'))),
		    _mm_cmplt_epi8(v, _mm_set1_epi8(0x20))),
		    _mm_cmpeq_epi8(v, _mm_set1_epi8(0x7F))));
		if (bad != 0)
			return i + (size_t)__builtin_ctz((unsigned)bad);
		i += 16;
	}
#endif
	for (;;) {
		i += utf8_ascii_run(p + i, len - i);
		if (i == len || (p[i] != '\n' && p[i] != '\t'))
			return i;
		i++;
	}
}

size_t
sanitize_finish(struct sanitizer *s, char *out)
{
	char	*o = out;

	if (s->held_cr) {
		*o++ = '^';
		*o++ = 'M';
	}
	o = sanitize_put_seq_hex(&s->utf8, s->utf8.len, o);
	sanitize_init(s);
	return (size_t)(o - out);
}
