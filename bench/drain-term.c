/*
 * drain-term: a window stand-in for the benchmarks.
 *
 * It takes its pty the way xterm -S does (-S<ptsname>/<fd>: the master on
 * fd, and its first act is to write a hex id line into it), or opens a
 * pty by path (--open, for socat's PTY,link=PATH), or is given it (--fd N,
 * for socat's EXEC:...,pty: the slave on fd 0).  With --stdio it has no
 * pty at all: it reads fd 0 and writes fd 1, two pipes from ncat --exec,
 * which has no pty to offer.  With -S it then waits
 * for the server's first output (ptychatd's banner, written once the pty
 * is set up); it also sets an 80x24 window size, as xterm does, since
 * ptychatd's chat editor wraps lines to it.  Either way it writes
 * READY\n, which reaches the client, and then does one job:
 *
 *   drain   reads as fast as it can until the stream holds @@BENCH-END@@,
 *           then writes "DONE got=N hash=H\n" (hash only with --hash);
 *   source  writes --bytes bytes of --file (lines; repeated as needed,
 *           and on to the end of the line) as fast as the pty takes
 *           them, reading back what it echoes;
 *   echo    answers each line holding "P <digit>..." with "Q <digit>...\n"
 *           (ptychatd's chat editor may draw escapes before it);
 *   idle    reads and ignores.
 *
 * It exits when it reads @@BENCH-BYE@@ (after its job), when the other
 * end closes, or after --timeout seconds.  With --termios F it first
 * writes its pty's modes, as the server left them, to the file F, for
 * the bench to check its bare-pty baseline against.
 *
 * usage: drain-term [--mode drain|source|echo|idle] [--file F] [--bytes N]
 *            [--chunk N] [--hash] [--timeout S] [--termios F]
 *            [--open PATH | --fd N | --stdio] [-T title] [-n name]
 *            [-S<ptsname>/<fd>]
 */
#include <sys/ioctl.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

#define DRAIN_BUF	65536

enum drain_mode { DRAIN, SOURCE, ECHO, IDLE };

static void __attribute__((noreturn))
die(const char *what)
{
	fprintf(stderr, "drain-term: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* Returns 1 on end of file, EIO (the other end closed), or a hang-up. */
static int
drain_closed(ssize_t n)
{
	return n == 0 || (n == -1 && errno != EINTR && errno != EAGAIN);
}

/* Reads and ignores until BYE or the end; then exits. */
static void __attribute__((noreturn))
drain_until_bye(int in, char *buf)
{
	char tail[64];
	size_t taillen = 0;
	struct pollfd pfd;
	ssize_t n;

	pfd.fd = in;
	pfd.events = POLLIN;
	for (;;) {
		if (poll(&pfd, 1, -1) == -1 && errno != EINTR)
			die("poll");
		n = read(in, buf, DRAIN_BUF);
		if (drain_closed(n))
			exit(0);
		if (n > 0 && bench_tail_has(tail, &taillen, sizeof tail, buf,
		    (size_t)n, BENCH_BYE))
			exit(0);
	}
}

static void __attribute__((noreturn))
drain_run(int in, int out, char *buf, int hash)
{
	unsigned long long bytes = 0;
	uint64_t h = UINT64_C(0xcbf29ce484222325);
	char tail[64], done[128];
	size_t taillen = 0;
	ssize_t n, i;
	int len;

	for (;;) {
		n = read(in, buf, DRAIN_BUF);
		if (n == -1 && (errno == EINTR || errno == EAGAIN)) {
			struct pollfd pfd = { in, POLLIN, 0 };
			(void)poll(&pfd, 1, -1);
			continue;
		}
		if (drain_closed(n)) {
			fprintf(stderr, "drain-term: the stream ended after "
			    "%llu bytes (%s)\n", bytes, n == 0 ?
			    "end of file" : strerror(errno));
			exit(1);
		}
		bytes += (unsigned long long)n;
		if (hash)
			for (i = 0; i < n; i++)
				h = (h ^ (unsigned char)buf[i]) *
				    UINT64_C(0x100000001b3);
		if (bench_tail_has(tail, &taillen, sizeof tail, buf,
		    (size_t)n, BENCH_END))
			break;
	}
	len = snprintf(done, sizeof done, "DONE got=%llu hash=%016llx\n",
	    bytes, hash ? (unsigned long long)h : 0ULL);
	if (bench_write_all(out, done, (size_t)len) == -1)
		die("writing DONE");
	drain_until_bye(in, buf);
}

static void __attribute__((noreturn))
drain_source(int in, int out, char *buf, const char *text, size_t textlen,
    unsigned long long want, size_t chunk)
{
	struct pollfd pfd[2];
	unsigned long long sent = 0;
	size_t off = 0, len;
	ssize_t n;

	/* On a pty, in and out are the same fd, polled twice. */
	pfd[0].fd = in;
	pfd[0].events = POLLIN;
	pfd[1].fd = out;
	pfd[1].events = POLLOUT;
	while (sent < want) {
		if (poll(pfd, 2, -1) == -1 && errno != EINTR)
			die("poll");
		if (pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			/* What the pty echoes, as a window would show it. */
			n = read(in, buf, DRAIN_BUF);
			if (drain_closed(n))
				exit(1);
		}
		if (!(pfd[1].revents & POLLOUT))
			continue;
		len = textlen - off;
		if (len > chunk)
			len = chunk;
		if (len > want - sent)
			len = (size_t)(want - sent);
		n = write(out, text + off, len);
		if (n == -1 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			die("writing");
		sent += (unsigned long long)n;
		off = (off + (size_t)n) % textlen;
	}
	drain_until_bye(in, buf);
}

/* Returns where "P <digit>" starts in line, or NULL. */
static char *
drain_ping(char *line, size_t len)
{
	size_t i;

	for (i = 0; i + 2 < len; i++)
		if (line[i] == 'P' && line[i + 1] == ' ' &&
		    line[i + 2] >= '0' && line[i + 2] <= '9')
			return line + i;
	return NULL;
}

static void __attribute__((noreturn))
drain_echo(int in, int out, char *buf)
{
	static char line[8192];
	struct pollfd pfd;
	char *p;
	size_t linelen = 0, len;
	ssize_t n, i;

	pfd.fd = in;
	pfd.events = POLLIN;
	for (;;) {
		if (poll(&pfd, 1, -1) == -1 && errno != EINTR)
			die("poll");
		n = read(in, buf, DRAIN_BUF);
		if (n == -1 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (drain_closed(n))
			exit(0);
		for (i = 0; i < n; i++) {
			if (buf[i] != '\n') {
				if (linelen < sizeof line - 2)
					line[linelen++] = buf[i];
				continue;
			}
			len = linelen;
			linelen = 0;
			if (len > 0 && line[len - 1] == '\r')
				len--;
			/* ptychatd's editor may draw its prompt first. */
			if ((p = drain_ping(line, len)) != NULL) {
				/* Q, so that our own echo is not answered. */
				len -= (size_t)(p - line);
				memmove(line, p, len);
				line[0] = 'Q';
				line[len++] = '\n';
				if (bench_write_all(out, line, len) == -1)
					exit(0);
			} else if (memmem(line, len, BENCH_BYE,
			    strlen(BENCH_BYE)) != NULL)
				exit(0);
		}
	}
}

int
main(int argc, char *argv[])
{
	enum drain_mode mode = DRAIN;
	const char *open_path = NULL, *file = NULL, *slash, *modes = NULL;
	char modetext[256];
	FILE *f;
	unsigned long long want = 0;
	size_t chunk = DRAIN_BUF, textlen = 0;
	char *buf, idline[32];
	const char *text = NULL;
	struct winsize ws = { 24, 80, 0, 0 };
	struct pollfd pfd;
	int i, fd = -1, given_fd = -1, hash = 0, timeout = 600, len;
	int out, stdio = 0;
	ssize_t n;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--mode") == 0 && i + 1 < argc) {
			i++;
			if (strcmp(argv[i], "drain") == 0)
				mode = DRAIN;
			else if (strcmp(argv[i], "source") == 0)
				mode = SOURCE;
			else if (strcmp(argv[i], "echo") == 0)
				mode = ECHO;
			else if (strcmp(argv[i], "idle") == 0)
				mode = IDLE;
			else {
				fprintf(stderr, "drain-term: bad mode '%s'\n",
				    argv[i]);
				return 2;
			}
		} else if (strcmp(argv[i], "--file") == 0 && i + 1 < argc)
			file = argv[++i];
		else if (strcmp(argv[i], "--bytes") == 0 && i + 1 < argc)
			want = bench_size(argv[++i]);
		else if (strcmp(argv[i], "--chunk") == 0 && i + 1 < argc)
			chunk = (size_t)bench_size(argv[++i]);
		else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc)
			timeout = atoi(argv[++i]);
		else if (strcmp(argv[i], "--termios") == 0 && i + 1 < argc)
			modes = argv[++i];
		else if (strcmp(argv[i], "--hash") == 0)
			hash = 1;
		else if (strcmp(argv[i], "--open") == 0 && i + 1 < argc)
			open_path = argv[++i];
		else if (strcmp(argv[i], "--fd") == 0 && i + 1 < argc)
			given_fd = atoi(argv[++i]);
		else if (strcmp(argv[i], "--stdio") == 0)
			stdio = 1;
		else if ((strcmp(argv[i], "-T") == 0 ||
		    strcmp(argv[i], "-n") == 0) && i + 1 < argc)
			i++;
		else if (strncmp(argv[i], "-S", 2) == 0 &&
		    (slash = strrchr(argv[i], '/')) != NULL)
			fd = atoi(slash + 1);
		else {
			fprintf(stderr, "drain-term: unknown argument '%s'\n",
			    argv[i]);
			return 2;
		}
	}
	if ((fd >= 0) + (open_path != NULL) + (given_fd >= 0) + stdio != 1 ||
	    chunk == 0 ||
	    (mode == SOURCE && file == NULL)) {
		fprintf(stderr, "drain-term: need one of -S, --open, --fd and "
		    "--stdio; source needs --file\n");
		return 2;
	}
	/* Nothing a benchmark starts may outlive it for long. */
	alarm((unsigned)timeout);
	if ((buf = malloc(DRAIN_BUF)) == NULL)
		die("malloc");
	if (mode == SOURCE && (text = bench_map(file, &textlen)) == NULL)
		die(file);
	if (mode == SOURCE && want == 0)
		want = textlen;
	/* A canonical-mode reader never sees an unfinished last line. */
	while (mode == SOURCE && text[(want - 1) % textlen] != '\n')
		want++;

	if (given_fd >= 0)
		fd = given_fd;
	else if (stdio)
		fd = STDIN_FILENO;
	else if (open_path != NULL) {
		if ((fd = open(open_path, O_RDWR | O_NOCTTY | O_CLOEXEC)) == -1)
			die(open_path);
	} else {
		/* As xterm does: the server's editor wraps at this width. */
		(void)ioctl(fd, TIOCSWINSZ, &ws);
		len = snprintf(idline, sizeof idline, "%lx\n",
		    (unsigned long)getpid());
		if (bench_write_all(fd, idline, (size_t)len) == -1)
			die("writing the id line");
		/* The server writes nothing before the pty is set up. */
		pfd.fd = fd;
		pfd.events = POLLIN;
		for (;;) {
			if (poll(&pfd, 1, -1) == -1 && errno != EINTR)
				die("poll");
			n = read(fd, buf, DRAIN_BUF);
			if (n > 0)
				break;
			if (drain_closed(n))
				return 1;
		}
	}
	out = stdio ? STDOUT_FILENO : fd;
	if (modes != NULL) {
		if (bench_termios_text(fd, modetext, sizeof modetext) == -1)
			die("tcgetattr");
		if ((f = fopen(modes, "w")) == NULL ||
		    fprintf(f, "%s\n", modetext) < 0 || fclose(f) == EOF)
			die(modes);
	}
	if (bench_write_all(out, BENCH_READY, strlen(BENCH_READY)) == -1)
		die("writing READY");

	switch (mode) {
	case DRAIN:
		drain_run(fd, out, buf, hash);
	case SOURCE:
		if (fcntl(out, F_SETFL, fcntl(out, F_GETFL) | O_NONBLOCK) == -1)
			die("O_NONBLOCK");
		drain_source(fd, out, buf, text, textlen, want, chunk);
	case ECHO:
		drain_echo(fd, out, buf);
	case IDLE:
		drain_until_bye(fd, buf);
	}
	return 0;
}
