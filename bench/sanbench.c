/*
 * sanbench: the sanitiser and the chat line editor alone.  For each kind
 * of text it feeds a buffer in recv-sized pieces (16 KiB, as the relay
 * reads them), several times, and prints the median MB/s of input:
 * - sanitize_feed on ASCII, mixed and hostile text;
 * - editor_print on ASCII, mixed and hostile text, sanitised first as
 *   the relay does, in an 80x24 window;
 * - editor_keys on typed lines, each \n an Enter, as a paste would come;
 * - sanitize+print: the relay's path, sanitiser and editor in one timing.
 * The time is the process's CPU time, not the wall clock's: on a machine
 * that others share, a run that is preempted would otherwise look slow.
 *
 * usage: sanbench [MIB [RUNS]]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "ptychat.h"

#define SAN_PIECE	16384

struct san_case {
	const char	*what;		/* the function measured */
	const char	*kind;		/* bench_text_kind's name of the text */
	int		 sanitised;	/* the text goes through the sanitiser */
	size_t		(*pass)(const char *, size_t);
};

static char *san_out;

static uint64_t
san_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static size_t
san_sanitize(const char *in, size_t len)
{
	struct sanitizer san;
	size_t i, outlen = 0;

	sanitize_init(&san);
	for (i = 0; i < len; i += SAN_PIECE)
		outlen += sanitize_feed(&san, in + i,
		    len - i < SAN_PIECE ? len - i : SAN_PIECE, san_out);
	return outlen + sanitize_finish(&san, san_out);
}

static struct editor *san_editor(void);

/*
 * The relay's path: each piece sanitised (or, all clean, shown as it is)
 * and laid out by the chat line's editor, in one timing.  Built with
 * SANBENCH_FEED_ALL, against a tree older than sanitize_clean, every
 * piece is sanitised, as the relay did then (bench/ab-c2w).
 */
static size_t
san_relay(const char *in, size_t len)
{
	struct editor_buf out = { NULL, 0, 0 };
	struct editor *ed = san_editor();
	struct sanitizer san;
	size_t i, n, outlen = 0, textlen;

	sanitize_init(&san);
	for (i = 0; i < len; i += SAN_PIECE) {
		n = len - i < SAN_PIECE ? len - i : SAN_PIECE;
#ifndef SANBENCH_FEED_ALL
		if (sanitize_clean(&san, in + i, n) == n)
			editor_print(ed, in + i, n, &out);
#else
		if (0)
			;
#endif
		else {
			textlen = sanitize_feed(&san, in + i, n, san_out);
			editor_print(ed, san_out, textlen, &out);
		}
		outlen += out.len;
		out.len = 0;
	}
	editor_buf_free(&out);
	editor_free(ed);
	return outlen;
}

static struct editor *
san_editor(void)
{
	struct editor *ed;

	if ((ed = editor_new("> ", "you: ", 0)) == NULL)
		exit(1);
	editor_set_size(ed, 80, 24);
	return ed;
}

static size_t
san_print(const char *in, size_t len)
{
	struct editor_buf out = { NULL, 0, 0 };
	struct editor *ed = san_editor();
	size_t i, outlen = 0;

	for (i = 0; i < len; i += SAN_PIECE) {
		editor_print(ed, in + i,
		    len - i < SAN_PIECE ? len - i : SAN_PIECE, &out);
		outlen += out.len;
		out.len = 0;
	}
	editor_buf_free(&out);
	editor_free(ed);
	return outlen;
}

static size_t
san_keys(const char *in, size_t len)
{
	struct editor_buf out = { NULL, 0, 0 }, sent = { NULL, 0, 0 };
	struct editor *ed = san_editor();
	size_t i, outlen = 0;

	for (i = 0; i < len; i += SAN_PIECE) {
		editor_keys(ed, in + i,
		    len - i < SAN_PIECE ? len - i : SAN_PIECE, &out, &sent);
		outlen += out.len;
		out.len = 0;
		sent.len = 0;
	}
	editor_buf_free(&out);
	editor_buf_free(&sent);
	editor_free(ed);
	return outlen;
}

int
main(int argc, char *argv[])
{
	static const struct san_case cases[] = {
		{ "sanitize_feed", "ascii", 0, san_sanitize },
		{ "sanitize_feed", "mixed", 0, san_sanitize },
		{ "sanitize_feed", "hostile", 0, san_sanitize },
		{ "editor_print", "ascii", 1, san_print },
		{ "editor_print", "mixed", 1, san_print },
		{ "editor_print", "hostile", 1, san_print },
		{ "editor_keys", "lines", 0, san_keys },
		{ "sanitize+print", "ascii", 0, san_relay },
		{ "sanitize+print", "mixed", 0, san_relay },
		{ "sanitize+print", "hostile", 0, san_relay },
	};
	size_t mib = argc > 1 ? (size_t)atoi(argv[1]) : 64;
	size_t runs = argc > 2 ? (size_t)atoi(argv[2]) : 5;
	size_t len = mib << 20, r, k, inlen, outlen = 0;
	uint64_t t0, *secs;
	char *raw, *in;
	double mbps;

	if (runs == 0 || (raw = malloc(len)) == NULL ||
	    (in = malloc(SANITIZE_OUT_MAX(len))) == NULL ||
	    (san_out = malloc(SANITIZE_OUT_MAX(SAN_PIECE))) == NULL ||
	    (secs = calloc(runs, sizeof *secs)) == NULL)
		return 1;
	for (k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		bench_gen(raw, len,
		    (enum bench_text)bench_text_kind(cases[k].kind), 42);
		if (cases[k].sanitised) {
			struct sanitizer san;

			sanitize_init(&san);
			inlen = sanitize_feed(&san, raw, len, in);
			inlen += sanitize_finish(&san, in + inlen);
		} else {
			memcpy(in, raw, len);
			inlen = len;
		}
		for (r = 0; r < runs; r++) {
			t0 = san_cpu_ns();
			outlen = cases[k].pass(in, inlen);
			secs[r] = san_cpu_ns() - t0;
		}
		mbps = (double)inlen / 1048576.0 /
		    ((double)bench_percentile(secs, runs, 0.5) / 1e9);
		printf("what=%s kind=%s mib=%.1f runs=%zu out_ratio=%.3f "
		    "mbps=%.1f min_mbps=%.1f max_mbps=%.1f\n", cases[k].what,
		    cases[k].kind, (double)inlen / 1048576.0, runs,
		    (double)outlen / (double)inlen, mbps,
		    (double)inlen / 1048576.0 / ((double)secs[runs - 1] / 1e9),
		    (double)inlen / 1048576.0 / ((double)secs[0] / 1e9));
	}
	return 0;
}
