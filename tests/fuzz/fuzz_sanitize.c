/*
 * libFuzzer target for the sanitiser.  The oracle, checked on every input:
 * - the output is valid UTF-8 (decoded here independently of sanitize.c);
 * - it holds no C0 control but \t and \n, no DEL, no C1 control U+0080..
 *   U+009F, and so no raw ESC or raw C1 byte either;
 * - feeding the input whole, split at one point, or byte by byte gives
 *   the same output;
 * - so does the relay's way: chunks that sanitize_clean passes whole go
 *   as they are, the others are fed;
 * - the output, printed by the chat line's editor on a small screen in
 *   one piece and in pieces, stays within the editor's buffers (ASan).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/ptychat.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static size_t
run(const uint8_t *in, size_t len, const size_t *cuts, size_t ncuts,
    char *out)
{
	struct sanitizer san;
	size_t i, at = 0, n = 0;

	sanitize_init(&san);
	for (i = 0; i <= ncuts; i++) {
		size_t end = i < ncuts ? cuts[i] : len;

		n += sanitize_feed(&san, in + at, end - at, out + n);
		at = end;
	}
	return n + sanitize_finish(&san, out + n);
}

/* The relay's way, in chunks of step bytes. */
static size_t
run_relay(const uint8_t *in, size_t len, size_t step, char *out)
{
	struct sanitizer san;
	size_t at, n = 0, k;

	sanitize_init(&san);
	for (at = 0; at < len; at += k) {
		k = len - at < step ? len - at : step;
		if (sanitize_clean(&san, in + at, k) == k) {
			memcpy(out + n, in + at, k);
			n += k;
		} else
			n += sanitize_feed(&san, in + at, k, out + n);
	}
	return n + sanitize_finish(&san, out + n);
}

/* Prints text on an editor cols wide, in pieces of step bytes. */
static void
print(const char *text, size_t len, int cols, size_t step)
{
	struct editor_buf out = { NULL, 0, 0 };
	struct editor *ed;
	size_t at, k;

	if ((ed = editor_new("> ", "you: ", 0)) == NULL)
		abort();
	editor_set_size(ed, cols, 4);
	for (at = 0; at < len; at += k) {
		k = len - at < step ? len - at : step;
		editor_print(ed, text + at, k, &out);
		out.len = 0;
	}
	editor_finish(ed, &out);
	editor_buf_free(&out);
	editor_free(ed);
}

/* Returns 1 when s is valid UTF-8 holding nothing a terminal obeys. */
static int
shows_only_text(const unsigned char *s, size_t len)
{
	size_t i = 0, k, need;
	uint32_t cp, min;

	while (i < len) {
		unsigned char c = s[i];

		if (c < 0x80) {
			if ((c < 0x20 && c != '\t' && c != '\n') || c == 0x7f)
				return 0;
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			need = 1;
			cp = c & 0x1f;
			min = 0x80;
		} else if (c >= 0xe0 && c <= 0xef) {
			need = 2;
			cp = c & 0x0f;
			min = 0x800;
		} else if (c >= 0xf0 && c <= 0xf4) {
			need = 3;
			cp = c & 0x07;
			min = 0x10000;
		} else
			return 0;
		if (i + need >= len)
			return 0;
		for (k = 1; k <= need; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		if (cp >= 0x80 && cp <= 0x9f)
			return 0;
		i += need + 1;
	}
	return 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	size_t cut, i, n_whole, n_split, n_bytes, *cuts;
	char *whole, *split, *bytes;

	whole = malloc(SANITIZE_OUT_MAX(len));
	split = malloc(SANITIZE_OUT_MAX(len));
	bytes = malloc(SANITIZE_OUT_MAX(len) + 16 * len);
	cuts = malloc((len + 1) * sizeof *cuts);
	if (!whole || !split || !bytes || !cuts)
		abort();

	n_whole = run(data, len, NULL, 0, whole);
	if (!shows_only_text((unsigned char *)whole, n_whole))
		abort();

	cut = len ? data[0] % (len + 1) : 0;
	n_split = run(data, len, &cut, 1, split);
	if (n_split != n_whole || memcmp(whole, split, n_whole) != 0)
		abort();

	for (i = 0; i < len; i++)
		cuts[i] = i + 1;
	n_bytes = run(data, len, cuts, len ? len - 1 : 0, bytes);
	if (n_bytes != n_whole || memcmp(whole, bytes, n_whole) != 0)
		abort();

	n_split = run_relay(data, len, len > 1 ? data[1] % 40 + 1 : 1, split);
	if (n_split != n_whole || memcmp(whole, split, n_whole) != 0)
		abort();

	print(whole, n_whole, len > 2 ? data[2] % 30 + 1 : 80, n_whole);
	print(whole, n_whole, 9, len > 3 ? data[3] % 40 + 1 : 1);

	free(whole);
	free(split);
	free(bytes);
	free(cuts);
	return 0;
}
