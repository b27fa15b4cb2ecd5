/*
 * Helpers shared by the benchmark programs.
 */
#include <sys/mman.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

uint64_t
bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * Writes all of buf, waiting with poll when fd is non-blocking.  Returns
 * -1 with errno set on failure.
 */
int
bench_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	struct pollfd pfd;
	ssize_t n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN) {
			pfd.fd = fd;
			pfd.events = POLLOUT;
			(void)poll(&pfd, 1, -1);
			continue;
		}
		return -1;
	}
	return 0;
}

static uint64_t
bench_rand(uint64_t *s)
{
	/* xorshift64*: fast, and the same text on every machine. */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * UINT64_C(2685821657736338717);
}

static const char *const bench_words_ascii[] = {
	"the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog",
	"hello", "world", "chat", "server", "client", "window", "message",
	"terminal", "line", "typing", "ok,", "thanks!", "please", "bytes",
	"2024-06-01", "v0.1.0", "(see", "above)", "--", "x=42;", "path/to/file",
	"https://example.org/a?b=c&d=e", "I'm", "\"quoted\"", "#123", "50%",
	"can", "you", "help", "me", "with", "this?", "sure.", "it", "works",
};
static const char *const bench_words_utf8[] = {
	"caf\xc3\xa9", "na\xc3\xafve", "Gr\xc3\xbc\xc3\x9f" "e",
	"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", "\xd1\x82\xd0\xb5\xd1\x81\xd1\x82",
	"\xce\x95\xce\xbb\xce\xbb\xce\xac\xce\xb4\xce\xb1",
	"\xf0\x9f\x98\x80", "\xf0\x9f\x9a\x80\xf0\x9f\x91\x8d",
	"\xed\x95\x9c\xea\xb5\xad\xec\x96\xb4", "\xe2\x82\xac" "100",
	"\xe2\x86\x92", "\xc2\xbd",
};
/* What a careless or hostile client mixes in: escapes, C1, bad bytes. */
static const char *const bench_words_ctrl[] = {
	"\x1b[1m", "\x1b[0m", "\a", "\x1b]2;title\a", "\b", "\x7f",
	"\xc2\x9b" "31m", "\x9b", "\xff", "\x1b[21t", "\r",
};
#define NWORDS(a)	(sizeof(a) / sizeof((a)[0]))

/*
 * Fills buf with len bytes of the given kind of text, the same for the
 * same seed.  Lines are 10 to 120 bytes; text that ends in a line ends in
 * \n.  Mixed text is about 88% ASCII words, 9% UTF-8 words, 2% tabs,
 * 0.7% controls and bad bytes, with 20% of its lines ending in \r\n.
 */
void
bench_gen(char *buf, size_t len, enum bench_text kind, uint64_t seed)
{
	uint64_t s = seed * 0x9E3779B97F4A7C15u + 1, r;
	size_t o = 0, line = 0, want, wl;
	const char *w;

	if (kind == BENCH_TEXT_HOSTILE) {
		for (; o + 8 <= len; o += 8) {
			r = bench_rand(&s);
			memcpy(buf + o, &r, 8);
		}
		for (; o < len; o++)
			buf[o] = (char)bench_rand(&s);
		return;
	}
	want = 10 + bench_rand(&s) % 111;
	while (o < len) {
		r = bench_rand(&s) % 1000;
		if (kind == BENCH_TEXT_MIXED && r < 7)
			w = bench_words_ctrl[bench_rand(&s) %
			    NWORDS(bench_words_ctrl)];
		else if (kind == BENCH_TEXT_MIXED && r < 27)
			w = "\t";
		else if (kind != BENCH_TEXT_ASCII && r < 117)
			w = bench_words_utf8[bench_rand(&s) %
			    NWORDS(bench_words_utf8)];
		else
			w = bench_words_ascii[bench_rand(&s) %
			    NWORDS(bench_words_ascii)];
		wl = strlen(w);
		if (line > 0 && line + wl + 1 < want) {
			if (o < len)
				buf[o++] = ' ';
			line++;
		} else if (line > 0) {
			if (kind == BENCH_TEXT_MIXED &&
			    bench_rand(&s) % 5 == 0 && o < len)
				buf[o++] = '\r';
			if (o < len)
				buf[o++] = '\n';
			line = 0;
			want = 10 + bench_rand(&s) % 111;
			continue;
		}
		for (; *w != '\0' && o < len; w++, line++)
			buf[o++] = *w;
	}
	if (len > 0 && kind != BENCH_TEXT_MIXED) {
		/* No line is cut, and no UTF-8 sequence either. */
		while (o > 0 && buf[o - 1] != ' ' && buf[o - 1] != '\n')
			buf[--o] = 'x';
		buf[len - 1] = '\n';
	}
}

/* Returns the enum bench_text named by name, or -1. */
int
bench_text_kind(const char *name)
{
	if (strcmp(name, "mixed") == 0)
		return BENCH_TEXT_MIXED;
	if (strcmp(name, "lines") == 0)
		return BENCH_TEXT_LINES;
	if (strcmp(name, "ascii") == 0)
		return BENCH_TEXT_ASCII;
	if (strcmp(name, "hostile") == 0)
		return BENCH_TEXT_HOSTILE;
	return -1;
}

/* Maps a whole file read-only; returns NULL with errno set on failure. */
void *
bench_map(const char *path, size_t *len)
{
	struct stat st;
	void *p;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return NULL;
	if (fstat(fd, &st) == -1 || st.st_size == 0) {
		if (errno == 0)
			errno = EINVAL;
		close(fd);
		return NULL;
	}
	p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE,
	    fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return NULL;
	*len = (size_t)st.st_size;
	return p;
}

static int
bench_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Sorts v and returns its q-quantile (nearest rank); 0 when n is 0. */
uint64_t
bench_percentile(uint64_t *v, size_t n, double q)
{
	size_t i;

	if (n == 0)
		return 0;
	qsort(v, n, sizeof *v, bench_cmp);
	i = (size_t)(q * (double)n + 0.999999);
	if (i > 0)
		i--;
	return v[i < n ? i : n - 1];
}

/* Parses "123", "64K", "256M" or "1G"; returns 0 when it cannot. */
unsigned long long
bench_size(const char *text)
{
	unsigned long long n;
	char *end;

	n = strtoull(text, &end, 10);
	switch (*end) {
	case 'k': case 'K':
		return n << 10;
	case 'm': case 'M':
		return n << 20;
	case 'g': case 'G':
		return n << 30;
	case '\0':
		return n;
	}
	return 0;
}

/*
 * Looks for marker (shorter than 63 bytes) in the n bytes of buf, and
 * across the end of the reads before: tail keeps the stream's last bytes
 * (*taillen of them, at most 63).  Returns 1 when marker is in this read
 * or ends in it: text may come after it in the same read, such as
 * ptychatd's notice that the client closed its side.
 */
int
bench_tail_has(char *tail, size_t *taillen, size_t room, const char *buf,
    size_t n, const char *marker)
{
	char joint[128];
	size_t keep, head, mlen = strlen(marker);
	int found;

	if (room > 64)
		room = 64;
	head = n < room - 1 ? n : room - 1;
	memcpy(joint, tail, *taillen);
	memcpy(joint + *taillen, buf, head);
	found = memmem(joint, *taillen + head, marker, mlen) != NULL ||
	    memmem(buf, n, marker, mlen) != NULL;
	if (n >= room - 1) {
		memcpy(tail, buf + n - (room - 1), room - 1);
		*taillen = room - 1;
	} else {
		keep = room - 1 - n;
		if (*taillen > keep) {
			memmove(tail, tail + *taillen - keep, keep);
			*taillen = keep;
		}
		memcpy(tail + *taillen, buf, n);
		*taillen += n;
	}
	return found;
}

/*
 * Writes the pty's modes (flags and control characters, in hex) to buf,
 * so that two ptys' modes can be compared as text.  On Linux a pty's
 * master reports its slave's modes.  Returns -1 with errno set when fd
 * is no terminal or buf is too short.
 */
int
bench_termios_text(int fd, char *buf, size_t len)
{
	struct termios t;
	size_t i, off;
	int n;

	if (tcgetattr(fd, &t) == -1)
		return -1;
	n = snprintf(buf, len, "i%x,o%x,c%x,l%x,cc", (unsigned)t.c_iflag,
	    (unsigned)t.c_oflag, (unsigned)t.c_cflag, (unsigned)t.c_lflag);
	if (n < 0 || (size_t)n + NCCS * 2 >= len) {
		errno = ENOBUFS;
		return -1;
	}
	off = (size_t)n;
	for (i = 0; i < NCCS; i++)
		off += (size_t)snprintf(buf + off, len - off, "%02x",
		    (unsigned)t.c_cc[i]);
	return 0;
}
