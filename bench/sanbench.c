/*
 * sanbench: the sanitiser alone.  For each kind of text it feeds a
 * buffer through sanitize_feed in recv-sized pieces (16 KiB, as the relay
 * reads them), several times, and prints the median MB/s of input.
 *
 * usage: sanbench [MIB [RUNS]]
 */
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"
#include "ptychat.h"

#define SAN_PIECE	16384

int
main(int argc, char *argv[])
{
	static const char *const kinds[] = { "ascii", "mixed", "hostile" };
	size_t mib = argc > 1 ? (size_t)atoi(argv[1]) : 64;
	size_t runs = argc > 2 ? (size_t)atoi(argv[2]) : 5;
	size_t len = mib << 20, i, r, k, outlen = 0;
	uint64_t t0, *secs;
	struct sanitizer san;
	char *in, *out;
	double mbps[3];

	if ((in = malloc(len)) == NULL ||
	    (out = malloc(SANITIZE_OUT_MAX(SAN_PIECE))) == NULL ||
	    (secs = calloc(runs, sizeof *secs)) == NULL)
		return 1;
	for (k = 0; k < 3; k++) {
		bench_gen(in, len, (enum bench_text)bench_text_kind(kinds[k]),
		    42);
		for (r = 0; r < runs; r++) {
			outlen = 0;
			t0 = bench_now_ns();
			sanitize_init(&san);
			for (i = 0; i < len; i += SAN_PIECE)
				outlen += sanitize_feed(&san, in + i,
				    len - i < SAN_PIECE ? len - i : SAN_PIECE,
				    out);
			outlen += sanitize_finish(&san, out);
			secs[r] = bench_now_ns() - t0;
		}
		mbps[k] = (double)mib / ((double)bench_percentile(secs, runs,
		    0.5) / 1e9);
		printf("kind=%s mib=%zu runs=%zu out_ratio=%.3f "
		    "mbps=%.1f min_mbps=%.1f max_mbps=%.1f\n", kinds[k], mib,
		    runs, (double)outlen / (double)len, mbps[k],
		    (double)mib / ((double)secs[runs - 1] / 1e9),
		    (double)mib / ((double)secs[0] / 1e9));
	}
	return 0;
}
