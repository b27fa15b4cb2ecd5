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

struct keys_case {
	const char	*name;
	const char	*in;
	size_t		 inlen;
	const char	*want;
};

/* A string literal and its length, which may count NUL bytes. */
#define IN(s)	(s), sizeof(s) - 1

static const struct keys_case cases[] = {
	{ "empty", IN(""), "" },
	{ "printable ASCII", IN("hello, world ~"), "hello, world ~" },
	{ "UTF-8 of 2, 3 and 4 bytes", IN("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"),
	    "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80" },
	{ "a combining mark is a character", IN("e\xcc\x81"), "e\xcc\x81" },
	{ "CR is Enter", IN("a\rb"), "a<ENTER>b" },
	{ "LF is Enter", IN("a\nb"), "a<ENTER>b" },
	{ "CR LF is one Enter", IN("a\r\nb"), "a<ENTER>b" },
	{ "CR CR LF LF", IN("\r\r\n\n"), "<ENTER><ENTER><ENTER>" },
	{ "LF CR", IN("\n\r"), "<ENTER><ENTER>" },
	{ "a key between CR and LF", IN("\rx\n"), "<ENTER>x<ENTER>" },
	{ "controls", IN("\x01\x02\x05\x06\x08\x0c\x0e\x10\x15\x17\x7f"),
	    "^A^B^E^F^H^L^N^P^U^W^?" },
	{ "NUL, BEL, Tab and the rest are controls too",
	    IN("\0\x07\t\x0b\x1c\x1f"), "^@^G^I^K^\\^_" },
	{ "CSI arrows", IN("\033[A\033[B\033[C\033[D"),
	    "<UP><DOWN><RIGHT><LEFT>" },
	{ "SS3 arrows", IN("\033OA\033OB\033OC\033OD"),
	    "<UP><DOWN><RIGHT><LEFT>" },
	{ "Home and End", IN("\033[H\033[F\033OH\033OF"),
	    "<HOME><END><HOME><END>" },
	{ "~ keys", IN("\033[1~\033[7~\033[4~\033[8~\033[3~"),
	    "<HOME><HOME><END><END><DELETE>" },
	{ "other ~ keys are dropped",
	    IN("a\033[2~\033[5~\033[6~\033[15~\033[200~b"), "ab" },
	{ "modifiers are ignored", IN("\033[1;5D\033[1;2C\033[3;5~"),
	    "<LEFT><RIGHT><DELETE>" },
	{ "zero-padded and huge numbers",
	    IN("\033[0003~\033[999999999999999~"), "<DELETE>" },
	{ "SS3 with ~ is dropped", IN("a\033O3~b"), "ab" },
	{ "focus, mouse and private sequences are dropped",
	    IN("a\033[I\033[O\033[<0;3;4M\033[?1h\033[Mb"), "ab" },
	{ "overlong parameters are dropped whole",
	    IN("a\033[12345678901234567890Db"), "ab" },
	{ "ESC and ASCII (Meta) is dropped", IN("a\033x\033b\033\x7f" "c"),
	    "ac" },
	{ "ESC ESC [ D is Left", IN("\033\033[D"), "<LEFT>" },
	{ "CAN and SUB cancel a sequence", IN("a\033[\x18" "b\033[\x1a" "c"),
	    "abc" },
	{ "DEL inside a sequence is dropped", IN("\033[3\x7f~"), "<DELETE>" },
	{ "a control inside a sequence is run and the sequence goes on",
	    IN("\033[\x02" "D\033O\rA"), "^B<LEFT><ENTER><UP>" },
	{ "ESC inside a sequence starts one afresh", IN("\033[1\033[C"),
	    "<RIGHT>" },
	{ "UTF-8 after ESC or inside CSI ends it and is typed",
	    IN("\033\xc3\xa9\033[\xc3\xa9"), "\xc3\xa9\xc3\xa9" },
	{ "C1 code points are dropped", IN("a\xc2\x85\xc2\x9b" "b"), "ab" },
	{ "bytes that are not UTF-8 are dropped",
	    IN("a\x80\xff\xc0\xaf\xed\xa0\x80\xf4\x90\x80\x80" "b"), "ab" },
	{ "a broken sequence is dropped, the byte after it read",
	    IN("\xe2\x82" "a\xe2\x82\033[D"), "a<LEFT>" },
	{ "U+0800 and U+10FFFF pass, overlongs do not",
	    IN("\xe0\xa0\x80\xf4\x8f\xbf\xbf\xe0\x80\x80"),
	    "\xe0\xa0\x80\xf4\x8f\xbf\xbf" },
	{ "a sequence at the end is held", IN("a\033["), "a" },
	{ "half a character at the end is held", IN("a\xe2\x82"), "a" },
};

static const char *const names[] = {
	[KEY_ENTER] = "<ENTER>", [KEY_UP] = "<UP>", [KEY_DOWN] = "<DOWN>",
	[KEY_RIGHT] = "<RIGHT>", [KEY_LEFT] = "<LEFT>", [KEY_HOME] = "<HOME>",
	[KEY_END] = "<END>", [KEY_DELETE] = "<DELETE>"
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

static void
check_case(const struct keys_case *c)
{
	char	got[512], piece[512];
	size_t	cut, i, *cuts;
	int	bad;

	bad = parse(c->in, c->inlen, NULL, 0, got, sizeof(got));
	if (!tap_ok(bad == 0 && strcmp(got, c->want) == 0, "%s", c->name))
		tap_diag("got \"%s\", want \"%s\", %d faults", got, c->want,
		    bad);

	bad = 0;
	for (cut = 0; cut <= c->inlen; cut++) {
		bad += parse(c->in, c->inlen, &cut, 1, piece, sizeof(piece));
		bad += strcmp(piece, c->want) != 0;
	}
	if ((cuts = malloc((c->inlen + 1) * sizeof(*cuts))) == NULL)
		abort();
	for (i = 0; i < c->inlen; i++)
		cuts[i] = i + 1;
	bad += parse(c->in, c->inlen, cuts, c->inlen, piece, sizeof(piece));
	bad += strcmp(piece, c->want) != 0;
	free(cuts);
	tap_ok(bad == 0, "%s: split anywhere, and byte by byte", c->name);
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
		check_case(&cases[i]);
	check_run();
	return tap_done();
}
