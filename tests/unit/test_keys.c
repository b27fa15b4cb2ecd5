/*
 * Unit tests for keys.c.  Bytes go in; the keys that come out are written
 * down as text (typed characters as themselves, controls as ^X, the other
 * keys by name in angle brackets) and compared with what a terminal's
 * keyboard meant.  Every case is also fed split at every point and byte by
 * byte, with empty reads between: the keys must be the same.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/ptychat.h"
#include "tap.h"

/* Bytes from a keyboard, the keys they mean, and why. */
static const struct {
	const char	*bytes;
	const char	*keys;
	const char	*why;
} cases[] = {
	{ "", "", "empty" },
	{ "hello, world ~", "hello, world ~", "printable ASCII" },
	{ "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80",
	    "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80",
	    "UTF-8 of 2, 3 and 4 bytes" },
	{ "e\xcc\x81", "e\xcc\x81", "a combining mark is a character" },
	{ "a\rb", "a<ENTER>b", "CR is Enter" },
	{ "a\nb", "a<ENTER>b", "LF is Enter" },
	{ "a\r\nb", "a<ENTER>b", "CR LF is one Enter" },
	{ "\r\r\n\n", "<ENTER><ENTER><ENTER>", "CR CR LF LF" },
	{ "\n\r", "<ENTER><ENTER>", "LF CR" },
	{ "\rx\n", "<ENTER>x<ENTER>", "a key between CR and LF" },
	{ "\x01\x02\x05\x06\x08\x0c\x0e\x10\x15\x17\x7f",
	    "^A^B^E^F^H^L^N^P^U^W^?",
	    "controls" },
	{ "\x07\t\x0b\x1c\x1f", "^G^I^K^\\^_",
	    "BEL, Tab and the rest are controls too" },
	{ "\033[A\033[B\033[C\033[D", "<UP><DOWN><RIGHT><LEFT>", "CSI arrows" },
	{ "\033OA\033OB\033OC\033OD", "<UP><DOWN><RIGHT><LEFT>", "SS3 arrows" },
	{ "\033[H\033[F\033OH\033OF", "<HOME><END><HOME><END>",
	    "Home and End" },
	{ "\033[1~\033[7~\033[4~\033[8~\033[3~",
	    "<HOME><HOME><END><END><DELETE>",
	    "~ keys" },
	{ "a\033[2~\033[5~\033[6~\033[15~\033[200~b", "ab",
	    "other ~ keys are dropped" },
	{ "\033[1;5D\033[1;2C\033[3;5~", "<LEFT><RIGHT><DELETE>",
	    "modifiers are ignored" },
	{ "\033[0003~\033[999999999999999~", "<DELETE>",
	    "zero-padded and huge numbers" },
	{ "a\033O3~b", "ab", "SS3 with ~ is dropped" },
	{ "a\033[<0;3;4M\033[?1h\033[Mb", "ab",
	    "mouse and private sequences are dropped" },
	{ "a\033[I\033[Ob\033[1I\033OI\033[?O", "a<IN><OUT>b",
	    "focus reports are keys; with parameters or SS3, dropped" },
	{ "a\033[12345678901234567890Db", "ab",
	    "overlong parameters are dropped whole" },
	{ "a\033x\033b\033\x7f" "c", "ac", "ESC and ASCII (Meta) is dropped" },
	{ "\033\033[D", "<LEFT>", "ESC ESC [ D is Left" },
	{ "a\033[\x18" "b\033[\x1a" "c", "abc",
	    "CAN and SUB cancel a sequence" },
	{ "\033[3\x7f~", "<DELETE>", "DEL inside a sequence is dropped" },
	{ "\033[\x02" "D\033O\rA", "^B<LEFT><ENTER><UP>",
	    "a control inside a sequence is run and the sequence goes on" },
	{ "\033[1\033[C", "<RIGHT>",
	    "ESC inside a sequence starts one afresh" },
	{ "\033\xc3\xa9\033[\xc3\xa9", "\xc3\xa9\xc3\xa9",
	    "UTF-8 after ESC or inside CSI ends it and is typed" },
	{ "a\xc2\x85\xc2\x9b" "b", "ab", "C1 code points are dropped" },
	{ "a\x80\xff\xc0\xaf\xed\xa0\x80\xf4\x90\x80\x80" "b", "ab",
	    "bytes that are not UTF-8 are dropped" },
	{ "\xe2\x82" "a\xe2\x82\033[D", "a<LEFT>",
	    "a broken sequence is dropped, the byte after it read" },
	{ "\xe0\xa0\x80\xf4\x8f\xbf\xbf\xe0\x80\x80",
	    "\xe0\xa0\x80\xf4\x8f\xbf\xbf",
	    "U+0800 and U+10FFFF pass, overlongs do not" },
	{ "a\033[", "a", "a sequence at the end is held" },
	{ "a\xe2\x82", "a", "half a character at the end is held" },
};

static const char *const names[] = {
	[KEY_ENTER] = "<ENTER>", [KEY_UP] = "<UP>", [KEY_DOWN] = "<DOWN>",
	[KEY_RIGHT] = "<RIGHT>", [KEY_LEFT] = "<LEFT>", [KEY_HOME] = "<HOME>",
	[KEY_END] = "<END>", [KEY_DELETE] = "<DELETE>",
	[KEY_FOCUS_IN] = "<IN>", [KEY_FOCUS_OUT] = "<OUT>"
};

/* Appends what key is to out, of size size. */
static void
show(const struct key *key, const char *in, size_t inlen, char *out,
    size_t size, int *bad)
{
	size_t		len = strlen(out);
	uint32_t	cp = 0;

	switch (key->kind) {
	case KEY_NONE:
		return;
	case KEY_TEXT:
		/* A run points into what was given, and is all printable. */
		if (key->text < in || key->text + key->len > in + inlen ||
		    key->len == 0 || utf8_ascii_run(key->text, key->len) !=
		    key->len)
			(*bad)++;
		/* FALLTHROUGH */
	case KEY_CHAR:
		if (key->kind == KEY_CHAR && (!utf8_printable(key->cp) ||
		    key->len != (size_t)utf8_decode(key->text, key->len,
		    &cp) || cp != key->cp))
			(*bad)++;
		if (len + key->len < size) {
			memcpy(out + len, key->text, key->len);
			out[len + key->len] = '\0';
		}
		return;
	case KEY_CONTROL:
		snprintf(out + len, size - len, "^%c",
		    (char)(key->cp ^ 0x40));
		return;
	default:
		snprintf(out + len, size - len, "%s", names[key->kind]);
		return;
	}
}

/* Parses the pieces of in, cut where cuts says; the keys go to out. */
static int
parse(const char *in, size_t inlen, const size_t *cuts, size_t ncuts,
    char *out, size_t size)
{
	struct keys	k;
	struct key	key;
	size_t		c, at = 0, end, used;
	int		bad = 0;

	memset(&k, 0, sizeof(k));
	out[0] = '\0';
	for (c = 0; c <= ncuts; c++) {
		end = c < ncuts ? cuts[c] : inlen;
		while (at < end) {
			used = keys_parse(&k, in + at, end - at, &key);
			if (used == 0 || used > end - at) {
				bad++;
				break;
			}
			show(&key, in + at, end - at, out, size, &bad);
			at += used;
		}
		at = end;
		/* An empty read completes nothing. */
		if (keys_parse(&k, in + at, 0, &key) != 0 ||
		    key.kind != KEY_NONE)
			bad++;
	}
	return bad;
}

/* Parses bytes whole, split anywhere, and byte by byte. */
static void
check_keys(const char *bytes, size_t n, const char *keys, const char *why)
{
	char	got[512], piece[512];
	size_t	cut, i, *cuts;
	int	bad;

	bad = parse(bytes, n, NULL, 0, got, sizeof(got));
	if (!tap_ok(bad == 0 && strcmp(got, keys) == 0, "%s", why))
		tap_diag("got \"%s\", want \"%s\", %d faults", got, keys,
		    bad);

	bad = 0;
	for (cut = 0; cut <= n; cut++) {
		bad += parse(bytes, n, &cut, 1, piece, sizeof(piece));
		bad += strcmp(piece, keys) != 0;
	}
	if ((cuts = malloc((n + 1) * sizeof(*cuts))) == NULL)
		abort();
	for (i = 0; i < n; i++)
		cuts[i] = i + 1;
	bad += parse(bytes, n, cuts, n, piece, sizeof(piece));
	bad += strcmp(piece, keys) != 0;
	free(cuts);
	tap_ok(bad == 0, "%s: split anywhere, and byte by byte", why);
}

/* A paste: one run of text, however long, and its bytes not copied. */
static void
check_run(void)
{
	struct keys	 k;
	struct key	 key;
	char		*text;
	size_t		 n = 100000, used;

	if ((text = malloc(n + 1)) == NULL)
		abort();
	memset(text, 'x', n);
	text[n] = '\r';
	memset(&k, 0, sizeof(k));
	used = keys_parse(&k, text, n + 1, &key);
	tap_ok(used == n && key.kind == KEY_TEXT && key.text == text &&
	    key.len == n, "100000 bytes of text are one key, in place");
	used = keys_parse(&k, text + n, 1, &key);
	tap_ok(used == 1 && key.kind == KEY_ENTER, "and Enter the next");
	free(text);
}

int
main(void)
{
	size_t	i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_keys(cases[i].bytes, strlen(cases[i].bytes),
		    cases[i].keys, cases[i].why);
	check_keys("a\0b", 3, "a^@b", "NUL is a control");
	check_run();
	return tap_done();
}
