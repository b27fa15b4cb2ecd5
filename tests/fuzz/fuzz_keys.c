/*
 * libFuzzer target for the key parser, and the editor behind it.  The
 * oracle, checked on every input:
 * - keys_parse always uses at least one byte and no more than it is given;
 * - a run of text points into the input and is printable ASCII; a
 *   character is printable and its bytes are its UTF-8; a control is a
 *   C0 control or DEL, but never CR, LF, ESC, CAN or SUB;
 * - every CR is an Enter, and every LF that does not follow a CR;
 * - input that is all printable UTF-8 comes out as itself, as text;
 * - the keys are the same fed whole, split at one point, or byte by byte;
 * - fed to an editor on a small screen, the lines it sends are printable
 *   UTF-8, each ended by a newline.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/ptychat.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/*
 * The keys, written down: text as itself, other keys as 0xFF (never in
 * UTF-8), their kind and their byte.
 */
struct shown {
	char	*buf;
	size_t	 len;
	size_t	 enters;
};

static void
put(struct shown *s, const void *p, size_t n)
{
	memcpy(s->buf + s->len, p, n);
	s->len += n;
}

static void
check_key(const struct key *key, const uint8_t *in, size_t n,
    struct shown *s)
{
	unsigned char	tag[3];
	uint32_t	cp;

	switch (key->kind) {
	case KEY_NONE:
		return;
	case KEY_TEXT:
		if (key->len == 0 || (const uint8_t *)key->text < in ||
		    (const uint8_t *)key->text + key->len > in + n ||
		    utf8_ascii_run(key->text, key->len) != key->len)
			abort();
		put(s, key->text, key->len);
		return;
	case KEY_CHAR:
		if (!utf8_printable(key->cp) || key->len == 0 ||
		    utf8_decode(key->text, key->len, &cp) != (int)key->len ||
		    cp != key->cp)
			abort();
		put(s, key->text, key->len);
		return;
	case KEY_CONTROL:
		if ((key->cp >= 0x20 && key->cp != 0x7F) || key->cp == '\r' ||
		    key->cp == '\n' || key->cp == 0x1B || key->cp == 0x18 ||
		    key->cp == 0x1A)
			abort();
		tag[2] = (unsigned char)key->cp;
		break;
	case KEY_ENTER:
		s->enters++;
		tag[2] = 0;
		break;
	case KEY_UP:
	case KEY_DOWN:
	case KEY_RIGHT:
	case KEY_LEFT:
	case KEY_HOME:
	case KEY_END:
	case KEY_DELETE:
	case KEY_FOCUS_IN:
	case KEY_FOCUS_OUT:
		tag[2] = 0;
		break;
	default:
		abort();
	}
	tag[0] = 0xFF;
	tag[1] = (unsigned char)key->kind;
	put(s, tag, 3);
}

/* Parses in, cut at the ncuts places in cuts, into s. */
static void
run(const uint8_t *in, size_t n, const size_t *cuts, size_t ncuts,
    struct shown *s)
{
	struct keys	k;
	struct key	key;
	size_t		c, at = 0, end, used;

	memset(&k, 0, sizeof(k));
	s->len = 0;
	s->enters = 0;
	for (c = 0; c <= ncuts; c++) {
		end = c < ncuts ? cuts[c] : n;
		while (at < end) {
			used = keys_parse(&k, in + at, end - at, &key);
			if (used == 0 || used > end - at)
				abort();
			check_key(&key, in + at, end - at, s);
			at += used;
		}
	}
}

/* Whether in is all printable UTF-8. */
static int
all_printable(const uint8_t *in, size_t n)
{
	uint32_t	cp;
	size_t		i = 0;
	int		r;

	while (i < n) {
		if ((r = utf8_decode(in + i, n - i, &cp)) <= 0 ||
		    !utf8_printable(cp))
			return 0;
		i += (size_t)r;
	}
	return 1;
}

/* Whether the lines sent are printable UTF-8, each ended by \n. */
static int
lines_ok(const char *s, size_t n)
{
	const char	*nl;

	while (n > 0) {
		if ((nl = memchr(s, '\n', n)) == NULL ||
		    !all_printable((const uint8_t *)s, (size_t)(nl - s)))
			return 0;
		n -= (size_t)(nl - s) + 1;
		s = nl + 1;
	}
	return 1;
}

static void
run_editor(const uint8_t *data, size_t n)
{
	struct editor_buf	 out = { NULL, 0, 0 }, sent = { NULL, 0, 0 };
	struct editor		*ed;
	size_t			 i, step;

	if (n < 2 || (ed = editor_new("> ", "you: ", 0)) == NULL)
		return;
	editor_set_size(ed, 1 + data[0] % 40, 1 + data[1] % 10);
	editor_start(ed, &out);
	for (i = 2; i < n; i += step) {
		step = 1 + data[i] % 16;
		if (step > n - i)
			step = n - i;
		editor_keys(ed, data + i, step, &out, &sent);
		out.len = 0;
	}
	editor_finish(ed, &out);
	if (!lines_ok(sent.data, sent.len))
		abort();
	editor_buf_free(&out);
	editor_buf_free(&sent);
	editor_free(ed);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
	struct shown	 whole, split, bytes;
	size_t		 cut, i, enters = 0, *cuts;

	whole.buf = malloc(3 * n + 1);
	split.buf = malloc(3 * n + 1);
	bytes.buf = malloc(3 * n + 1);
	cuts = malloc((n + 1) * sizeof(*cuts));
	if (whole.buf == NULL || split.buf == NULL || bytes.buf == NULL ||
	    cuts == NULL)
		abort();

	run(data, n, NULL, 0, &whole);
	for (i = 0; i < n; i++)
		if (data[i] == '\r' || (data[i] == '\n' &&
		    (i == 0 || data[i - 1] != '\r')))
			enters++;
	if (whole.enters != enters)
		abort();
	if (all_printable(data, n) &&
	    (whole.len != n || memcmp(whole.buf, data, n) != 0))
		abort();

	cut = n > 0 ? data[0] % (n + 1) : 0;
	run(data, n, &cut, 1, &split);
	if (split.len != whole.len ||
	    memcmp(split.buf, whole.buf, whole.len) != 0)
		abort();
	for (i = 0; i < n; i++)
		cuts[i] = i + 1;
	run(data, n, cuts, n > 0 ? n - 1 : 0, &bytes);
	if (bytes.len != whole.len ||
	    memcmp(bytes.buf, whole.buf, whole.len) != 0)
		abort();

	run_editor(data, n);
	free(whole.buf);
	free(split.buf);
	free(bytes.buf);
	free(cuts);
	return 0;
}
