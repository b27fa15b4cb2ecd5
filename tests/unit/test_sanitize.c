/*
 * Unit tests for sanitize.c.  Every row of the table is checked fed whole,
 * split in two at every point, and byte by byte with empty feeds between;
 * all must give the same output.  Each feed writes into a buffer of exactly
 * SANITIZE_OUT_MAX bytes, so the address sanitiser catches an overrun.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/ptychat.h"
#include "tap.h"

struct sanitize_case {
	const char	*name;
	const char	*in;
	size_t		 inlen;
	const char	*want;
};

/* A string literal and its length, which may count NUL bytes. */
#define IN(s)	(s), sizeof(s) - 1

static const struct sanitize_case cases[] = {
	{ "empty", IN(""), "" },
	{ "plain ASCII", IN("hello, world"), "hello, world" },
	{ "every printable ASCII byte",
	    IN(" !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~"),
	    " !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~" },
	{ "tab and newline", IN("a\tb\nc\n"), "a\tb\nc\n" },
	{ "CRLF", IN("one\r\ntwo\r\n"), "one\ntwo\n" },
	{ "lone CR mid-line", IN("abc\rdef"), "abc^Mdef" },
	{ "CR at end of stream", IN("abc\r"), "abc^M" },
	{ "CR CR LF", IN("\r\r\n"), "^M\n" },
	{ "LF CR", IN("\n\r"), "\n^M" },
	{ "CR before ESC", IN("\r\x1b"), "^M^[" },
	{ "NUL", IN("a\0b"), "a^@b" },
	{ "SOH", IN("\x01"), "^A" },
	{ "BEL", IN("\a"), "^G" },
	{ "BS", IN("\b"), "^H" },
	{ "VT FF", IN("\v\f"), "^K^L" },
	{ "SO SI", IN("\x0e\x0f"), "^N^O" },
	{ "CAN SUB", IN("\x18\x1a"), "^X^Z" },
	{ "ESC", IN("\x1b"), "^[" },
	{ "FS GS RS US", IN("\x1c\x1d\x1e\x1f"), "^\\^]^^^_" },
	{ "DEL", IN("\x7f"), "^?" },
	{ "OSC title set", IN("\x1b]2;x\a"), "^[]2;x^G" },
	{ "OSC 52 clipboard", IN("\x1b]52;c;?\x1b\\"), "^[]52;c;?^[\\" },
	{ "CSI 21 t", IN("\x1b[21t"), "^[[21t" },
	{ "raw C1 CSI 9B", IN("\x9b" "21t"), "\\x9B21t" },
	{ "raw C1 OSC 9D", IN("\x9d" "2;x\a"), "\\x9D2;x^G" },
	{ "UTF-8 C1 CSI C2 9B", IN("\xc2\x9b" "21t"), "\\u009B21t" },
	{ "UTF-8 C1 OSC C2 9D", IN("\xc2\x9d" "2;x\a"), "\\u009D2;x^G" },
	{ "UTF-8 U+0080", IN("\xc2\x80"), "\\u0080" },
	{ "UTF-8 U+009F", IN("\xc2\x9f"), "\\u009F" },
	{ "U+00A0 passes", IN("\xc2\xa0"), "\xc2\xa0" },
	{ "2-byte e acute", IN("caf\xc3\xa9"), "caf\xc3\xa9" },
	{ "3-byte euro", IN("\xe2\x82\xac" "5"), "\xe2\x82\xac" "5" },
	{ "4-byte grinning face", IN("\xf0\x9f\x98\x80"), "\xf0\x9f\x98\x80" },
	{ "U+0800", IN("\xe0\xa0\x80"), "\xe0\xa0\x80" },
	{ "U+D7FF", IN("\xed\x9f\xbf"), "\xed\x9f\xbf" },
	{ "U+E000", IN("\xee\x80\x80"), "\xee\x80\x80" },
	{ "U+10000", IN("\xf0\x90\x80\x80"), "\xf0\x90\x80\x80" },
	{ "U+10FFFF", IN("\xf4\x8f\xbf\xbf"), "\xf4\x8f\xbf\xbf" },
	{ "overlong C0 AF", IN("\xc0\xaf"), "\\xC0\\xAF" },
	{ "overlong C1 BF", IN("\xc1\xbf"), "\\xC1\\xBF" },
	{ "overlong E0 80 AF", IN("\xe0\x80\xaf"), "\\xE0\\x80\\xAF" },
	{ "overlong E0 9F BF", IN("\xe0\x9f\xbf"), "\\xE0\\x9F\\xBF" },
	{ "overlong F0 8F BF BF", IN("\xf0\x8f\xbf\xbf"),
	    "\\xF0\\x8F\\xBF\\xBF" },
	{ "surrogate ED A0 80", IN("\xed\xa0\x80"), "\\xED\\xA0\\x80" },
	{ "surrogate ED BF BF", IN("\xed\xbf\xbf"), "\\xED\\xBF\\xBF" },
	{ "above U+10FFFF F4 90 80 80", IN("\xf4\x90\x80\x80"),
	    "\\xF4\\x90\\x80\\x80" },
	{ "F5", IN("\xf5"), "\\xF5" },
	{ "F5 80 80 80", IN("\xf5\x80\x80\x80"), "\\xF5\\x80\\x80\\x80" },
	{ "FE FF", IN("\xfe\xff"), "\\xFE\\xFF" },
	{ "stray continuation 80", IN("a\x80" "b"), "a\\x80b" },
	{ "continuation after a whole sequence", IN("\xc3\xa9\xa9"),
	    "\xc3\xa9\\xA9" },
	{ "truncated at end of stream", IN("ab\xe2\x82"), "ab\\xE2\\x82" },
	{ "lone 4-byte lead at end", IN("\xf0"), "\\xF0" },
	{ "broken by ASCII E2 82 41", IN("\xe2\x82" "A"), "\\xE2\\x82" "A" },
	{ "broken by a new lead", IN("\xe2\xc3\xa9"), "\\xE2\xc3\xa9" },
	{ "broken by ESC", IN("\xc3\x1b[0m"), "\\xC3^[[0m" },
	{ "broken by CRLF", IN("\xe2\x82\r\n"), "\\xE2\\x82\n" },
	{ "broken by lone CR at end", IN("\xe2\r"), "\\xE2^M" },
	{ "4-byte broken by FF", IN("\xf0\x9f\x98\xff"),
	    "\\xF0\\x9F\\x98\\xFF" },
	{ "C2 broken by C2 9B", IN("\xc2\xc2\x9b"), "\\xC2\\u009B" },
	{ "mixed line", IN("\xc3\xa9\r\n\x1b[2J\xe2\x82\xac\r"),
	    "\xc3\xa9\n^[[2J\xe2\x82\xac^M" },
};

#define NCASES	(sizeof(cases) / sizeof(cases[0]))

/* What sanitize gives for the bytes it has fed and finished. */
struct result {
	char	*buf;
	size_t	 len;
	size_t	 cap;
	int	 overrun;	/* a call said it wrote more than its room */
};

static void *
xmalloc(size_t size)
{
	void	*p;

	if ((p = malloc(size == 0 ? 1 : size)) == NULL) {
		perror("malloc");
		exit(2);
	}
	return p;
}

static void
result_init(struct result *r)
{
	r->cap = 64;
	r->buf = xmalloc(r->cap);
	r->len = 0;
	r->overrun = 0;
}

static void
result_append(struct result *r, const char *p, size_t n, size_t room)
{
	if (n > room) {
		r->overrun = 1;
		return;
	}
	while (r->len + n > r->cap) {
		r->cap *= 2;
		if ((r->buf = realloc(r->buf, r->cap)) == NULL) {
			perror("realloc");
			exit(2);
		}
	}
	memcpy(r->buf + r->len, p, n);
	r->len += n;
}

/* The output buffer is exactly as big as promised, for ASan to police. */
static void
result_feed(struct result *r, struct sanitizer *s, const char *in, size_t len)
{
	size_t	 room = SANITIZE_OUT_MAX(len), n;
	char	*out = xmalloc(room);

	n = sanitize_feed(s, in, len, out);
	result_append(r, out, n, room);
	free(out);
}

static void
result_finish(struct result *r, struct sanitizer *s)
{
	size_t	 room = SANITIZE_OUT_MAX(0), n;
	char	*out = xmalloc(room);

	n = sanitize_finish(s, out);
	result_append(r, out, n, room);
	free(out);
}

static void
run_whole(struct result *r, const char *in, size_t len)
{
	struct sanitizer	s;

	sanitize_init(&s);
	result_init(r);
	result_feed(r, &s, in, len);
	result_finish(r, &s);
}

static void
run_split(struct result *r, const char *in, size_t len, size_t at)
{
	struct sanitizer	s;

	sanitize_init(&s);
	result_init(r);
	result_feed(r, &s, in, at);
	result_feed(r, &s, in + at, len - at);
	result_finish(r, &s);
}

/* An empty feed after every byte must not disturb the held state. */
static void
run_bytewise(struct result *r, const char *in, size_t len)
{
	struct sanitizer	s;
	size_t			i;

	sanitize_init(&s);
	result_init(r);
	for (i = 0; i < len; i++) {
		result_feed(r, &s, in + i, 1);
		result_feed(r, &s, in + i, 0);
	}
	result_finish(r, &s);
}

static uint64_t
rng_next(uint64_t *state)
{
	*state ^= *state << 13;
	*state ^= *state >> 7;
	*state ^= *state << 17;
	return *state;
}

static void
run_chunked(struct result *r, const char *in, size_t len, uint64_t *rng,
    size_t maxchunk)
{
	struct sanitizer	s;
	size_t			off = 0, n;

	sanitize_init(&s);
	result_init(r);
	while (off < len) {
		n = (size_t)(rng_next(rng) % (maxchunk + 1));
		if (n > len - off)
			n = len - off;
		result_feed(r, &s, in + off, n);
		off += n;
	}
	result_finish(r, &s);
}

/* Quotes bytes for a diagnostic line; the caller frees the result. */
static char *
escape(const char *p, size_t n)
{
	static const char	 hex[] = "0123456789abcdef";
	char			*buf = xmalloc(n * 4 + 1), *o = buf;
	unsigned char		 c;
	size_t			 i;

	for (i = 0; i < n; i++) {
		c = (unsigned char)p[i];
		if (c == '\\' || c == '"') {
			*o++ = '\\';
			*o++ = (char)c;
		} else if (c >= 0x20 && c <= 0x7E)
			*o++ = (char)c;
		else {
			*o++ = '\\';
			*o++ = 'x';
			*o++ = hex[c >> 4];
			*o++ = hex[c & 0x0F];
		}
	}
	*o = '\0';
	return buf;
}

static void
diag_mismatch(const char *want, size_t wantlen, const struct result *r)
{
	char	*w = escape(want, wantlen), *g = escape(r->buf, r->len);

	tap_diag("want \"%s\"", w);
	tap_diag(" got \"%s\"", g);
	if (r->overrun)
		tap_diag("a call wrote more than SANITIZE_OUT_MAX");
	free(w);
	free(g);
}

static int
result_is(const struct result *r, const char *want, size_t wantlen)
{
	return !r->overrun && r->len == wantlen &&
	    memcmp(r->buf, want, wantlen) == 0;
}

static void
check_table(void)
{
	const struct sanitize_case	*c;
	struct result			 r;
	size_t				 i, at, wantlen;
	int				 ok;

	for (i = 0; i < NCASES; i++) {
		c = &cases[i];
		wantlen = strlen(c->want);

		run_whole(&r, c->in, c->inlen);
		if (!tap_ok(result_is(&r, c->want, wantlen), "%s", c->name))
			diag_mismatch(c->want, wantlen, &r);
		free(r.buf);

		ok = 1;
		for (at = 0; at <= c->inlen && ok; at++) {
			run_split(&r, c->in, c->inlen, at);
			if (!result_is(&r, c->want, wantlen)) {
				ok = 0;
				tap_diag("split at %zu", at);
				diag_mismatch(c->want, wantlen, &r);
			}
			free(r.buf);
		}
		tap_ok(ok, "%s: split at every point", c->name);

		run_bytewise(&r, c->in, c->inlen);
		if (!tap_ok(result_is(&r, c->want, wantlen),
		    "%s: byte by byte", c->name))
			diag_mismatch(c->want, wantlen, &r);
		free(r.buf);
	}
}

/* The rendering of one byte followed by printable ASCII or by the end. */
static size_t
render_single(unsigned char c, char *out)
{
	static const char	hex[] = "0123456789ABCDEF";

	if ((c >= 0x20 && c <= 0x7E) || c == '\t' || c == '\n') {
		out[0] = (char)c;
		return 1;
	}
	if (c == '\r') {
		memcpy(out, "^M", 2);
		return 2;
	}
	if (c < 0x20 || c == 0x7F) {
		out[0] = '^';
		out[1] = (char)(c ^ 0x40);
		return 2;
	}
	out[0] = '\\';
	out[1] = 'x';
	out[2] = hex[c >> 4];
	out[3] = hex[c & 0x0F];
	return 4;
}

/*
 * Every byte value at every offset of a printable run, so that the word at
 * a time scan for printable ASCII is tried at every position in a word.
 */
static void
check_every_byte_in_run(void)
{
	char		in[40], want[48];
	struct result	r;
	size_t		pos, n, wantlen;
	int		b, ok = 1;

	for (b = 0; b < 256 && ok; b++) {
		for (pos = 0; pos < sizeof(in) && ok; pos++) {
			memset(in, 'a', sizeof(in));
			in[pos] = (char)b;
			memset(want, 'a', pos);
			n = render_single((unsigned char)b, want + pos);
			memset(want + pos + n, 'a', sizeof(in) - pos - 1);
			wantlen = sizeof(in) - 1 + n;
			run_whole(&r, in, sizeof(in));
			if (!result_is(&r, want, wantlen)) {
				ok = 0;
				tap_diag("byte 0x%02x at offset %zu", b, pos);
				diag_mismatch(want, wantlen, &r);
			}
			free(r.buf);
		}
	}
	tap_ok(ok, "every byte value at every offset of a printable run");
}

static void
check_worst_case(const char *name, const char *pattern, size_t patlen)
{
	char		in[1000], want[4];
	struct result	r, rb;
	size_t		i;

	for (i = 0; i < sizeof(in); i++)
		in[i] = pattern[i % patlen];
	run_whole(&r, in, sizeof(in));
	run_bytewise(&rb, in, sizeof(in));
	tap_ok(!r.overrun && !rb.overrun,
	    "%s: within SANITIZE_OUT_MAX", name);
	tap_ok(r.len == sizeof(in) * 4 && rb.len == r.len &&
	    memcmp(r.buf, rb.buf, r.len) == 0,
	    "%s: four bytes out per byte in, whole or byte by byte", name);
	for (i = 0; i < sizeof(in) && r.len == sizeof(in) * 4; i++) {
		render_single((unsigned char)in[i], want);
		if (memcmp(r.buf + i * 4, want, 4) != 0)
			break;
	}
	tap_ok(i == sizeof(in), "%s: every byte shown as \\xNN", name);
	free(r.buf);
	free(rb.buf);
}

/*
 * A long pseudo-random input rich in controls and UTF-8 fragments.  Fed in
 * random chunks it must give what it gives whole; and the output must be
 * made only of bytes that pass, so sanitising it again changes nothing.
 */
static void
check_random(void)
{
	static const char *const frags[] = {
		"\r", "\n", "\r\n", "\x1b", "\xc2", "\xc2\x9b", "\xc3\xa9",
		"\xe2\x82", "\xe2\x82\xac", "\xed\xa0", "\xf0\x9f\x98",
		"\xf0\x9f\x98\x80", "\xf4\x90", "hello world ",
	};
	const size_t	 len = 1 << 20;
	char		*in = xmalloc(len);
	struct result	 whole, chunked, again;
	uint64_t	 rng = 0x9E3779B97F4A7C15u;
	size_t		 off = 0, n, i;
	int		 clean = 1, same = 1;
	const char	*f;

	while (off < len) {
		if (rng_next(&rng) % 3 == 0) {
			f = frags[(rng >> 8) % (sizeof(frags) / sizeof(frags[0]))];
			n = strlen(f);
			if (n > len - off)
				n = len - off;
			memcpy(in + off, f, n);
			off += n;
		} else
			in[off++] = (char)(rng >> 24);
	}

	run_whole(&whole, in, len);
	for (i = 0; i < 4 && same; i++) {
		run_chunked(&chunked, in, len, &rng, i == 0 ? 3 : 4096);
		same = result_is(&chunked, whole.buf, whole.len);
		free(chunked.buf);
	}
	tap_ok(!whole.overrun && same,
	    "random input: random chunks give the same output as whole");

	for (i = 0; i < whole.len; i++) {
		unsigned char c = (unsigned char)whole.buf[i];

		if ((c < 0x20 && c != '\t' && c != '\n') || c == 0x7F)
			clean = 0;
	}
	tap_ok(clean, "random input: no C0 control but \\t and \\n in output");

	run_whole(&again, whole.buf, whole.len);
	tap_ok(result_is(&again, whole.buf, whole.len),
	    "random input: sanitising the output again changes nothing");

	free(again.buf);
	free(whole.buf);
	free(in);
}

static void
check_finish_resets(void)
{
	struct sanitizer	s;
	char			out[SANITIZE_OUT_MAX(3)];
	size_t			n;

	sanitize_init(&s);
	n = sanitize_finish(&s, out);
	tap_ok(n == 0, "finish on a fresh sanitizer writes nothing");

	n = sanitize_feed(&s, "\xf0\x9f\x98", 3, out);
	n = sanitize_finish(&s, out);
	tap_ok(n == 12 && memcmp(out, "\\xF0\\x9F\\x98", 12) == 0,
	    "finish shows an unfinished sequence");
	tap_ok(s.utf8.len == 0 && s.held_cr == 0,
	    "finish re-initialises after a sequence");

	n = sanitize_feed(&s, "\r", 1, out);
	tap_ok(n == 0 && s.held_cr, "a final \\r is held back");
	n = sanitize_finish(&s, out);
	tap_ok(n == 2 && memcmp(out, "^M", 2) == 0 && s.held_cr == 0,
	    "finish shows a held \\r and re-initialises");
}

/*
 * sanitize_clean: every byte the sanitiser would change, at each offset
 * of two 16-byte steps, ends the clean prefix there; \n and \t do not.
 */
static void
check_clean_offsets(void)
{
	static const unsigned char odd[] = { 0x00, 0x01, 0x08, 0x0B, 0x0D,
	    0x1B, 0x1F, 0x7F, 0x80, 0x9B, 0xC3, 0xE2, 0xFF };
	struct sanitizer	s;
	char			in[48];
	size_t			i, k, bad = 0;

	sanitize_init(&s);
	for (i = 0; i < sizeof(odd); i++)
		for (k = 0; k < 34; k++) {
			memset(in, 'a', sizeof(in));
			in[k] = (char)odd[i];
			if (sanitize_clean(&s, in, sizeof(in)) != k ||
			    sanitize_clean(&s, in, k + 1) != k ||
			    sanitize_clean(&s, in, k) != k)
				bad++;
		}
	tap_ok(bad == 0, "clean: a byte that would change, at each offset "
	    "0..33, ends the clean run there");
	bad = 0;
	for (k = 0; k < 34; k++) {
		memset(in, '~', sizeof(in));
		in[k] = '\n';
		in[sizeof(in) - 1 - k] = '\t';
		if (sanitize_clean(&s, in, sizeof(in)) != sizeof(in))
			bad++;
	}
	tap_ok(bad == 0, "clean: \\n and \\t at each offset pass");
	tap_ok(sanitize_clean(&s, in, 0) == 0, "clean: nothing is clean");
}

/* Nothing is clean while the sanitiser holds a \r or part of UTF-8. */
static void
check_clean_held(void)
{
	struct sanitizer	s;
	char			out[SANITIZE_OUT_MAX(4)];

	sanitize_init(&s);
	(void)sanitize_feed(&s, "ab\r", 3, out);
	tap_ok(sanitize_clean(&s, "\nabc", 4) == 0,
	    "clean: none after a held \\r");
	sanitize_init(&s);
	(void)sanitize_feed(&s, "a\xe2\x82", 3, out);
	tap_ok(sanitize_clean(&s, "abc", 3) == 0,
	    "clean: none after part of a UTF-8 sequence");
	(void)sanitize_feed(&s, "\xac", 1, out);
	tap_ok(sanitize_clean(&s, "abc", 3) == 3,
	    "clean: all once the sequence is done");
}

/*
 * The relay's way: each chunk that is clean is shown as it is, any other
 * is fed.  Random text in random chunks comes out as whole.
 */
static void
check_clean_relay(void)
{
	static const char *const frags[] = { "\r", "\n", "\r\n", "\t", "\x1b",
	    "\xc3\xa9", "\xe2\x82", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\x7f",
	    "plain text of some length, more than a step ", "word " };
	const size_t	 len = 1 << 18;
	char		*in = xmalloc(len);
	struct result	 whole, relay;
	struct sanitizer s;
	uint64_t	 rng = 0x2545F4914F6CDD1Du;
	size_t		 off = 0, n, f, used = 0, round;
	int		 same = 1;

	while (off < len) {
		/* Mostly plain text: whole chunks of it must be clean. */
		f = rng_next(&rng) % 40;
		f = f < sizeof(frags) / sizeof(frags[0]) ? f :
		    sizeof(frags) / sizeof(frags[0]) - 1 - f % 2;
		n = strlen(frags[f]);
		if (n > len - off)
			n = len - off;
		memcpy(in + off, frags[f], n);
		off += n;
	}
	run_whole(&whole, in, len);
	for (round = 0; round < 3 && same; round++) {
		sanitize_init(&s);
		result_init(&relay);
		for (off = 0; off < len; off += n) {
			n = (size_t)(rng_next(&rng) % (round == 0 ? 8 :
			    round == 1 ? 64 : 600)) + 1;
			if (n > len - off)
				n = len - off;
			if (sanitize_clean(&s, in + off, n) == n) {
				result_append(&relay, in + off, n, n);
				used++;
			} else
				result_feed(&relay, &s, in + off, n);
		}
		result_finish(&relay, &s);
		same = !relay.overrun && result_is(&relay, whole.buf, whole.len);
		free(relay.buf);
	}
	tap_ok(same && used > 100, "clean: clean chunks as they are and the "
	    "rest fed give what the text gives whole (%zu clean)", used);
	free(whole.buf);
	free(in);
}

int
main(void)
{
	check_table();
	check_every_byte_in_run();
	check_worst_case("1000 bytes of FF", "\xff", 1);
	check_worst_case("E2 82 repeated", "\xe2\x82", 2);
	check_worst_case("F0 9F 98 repeated", "\xf0\x9f\x98", 3);
	check_random();
	check_finish_resets();
	check_clean_offsets();
	check_clean_held();
	check_clean_relay();
	return tap_done();
}
