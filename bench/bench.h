/*
 * The benchmark programs' shared helpers (benchlib.c): clocks, whole
 * writes, the test-text generator, percentiles and pty modes.  None of
 * this is part of ptychat itself.
 */
#ifndef BENCH_H
#define BENCH_H

#include <stddef.h>
#include <stdint.h>

/*
 * The in-band markers of the bench protocol.  Every window stand-in
 * writes READY once it can take input; a client ends a stream with END
 * and a session with BYE.  None of them can come out of the generator.
 */
#define BENCH_READY	"READY\n"
#define BENCH_END	"@@BENCH-END@@"
#define BENCH_BYE	"@@BENCH-BYE@@"

/* What bench_gen writes. */
enum bench_text {
	BENCH_TEXT_MIXED,	/* chat text: ASCII, UTF-8, CRLF, a few controls */
	BENCH_TEXT_LINES,	/* typed lines: printable ASCII and UTF-8, \n */
	BENCH_TEXT_ASCII,	/* printable ASCII and \n only */
	BENCH_TEXT_HOSTILE	/* uniformly random bytes */
};

uint64_t bench_now_ns(void);
int	 bench_write_all(int, const void *, size_t);
void	 bench_gen(char *, size_t, enum bench_text, uint64_t);
int	 bench_text_kind(const char *);
void	*bench_map(const char *, size_t *);
uint64_t bench_percentile(uint64_t *, size_t, double);
unsigned long long bench_size(const char *);
int	 bench_tail_has(char *, size_t *, size_t, const char *, size_t,
	    const char *);
int	 bench_termios_text(int, char *, size_t);

#endif
