/*
 * ptylimit: how fast a bare pty moves text, with nothing around it.
 *
 * One thread writes a file into one end of a fresh pty, another drains
 * the other end, and the MB/s of the file's bytes is printed.
 *
 *   --dir s2m   write the slave, read the master: ptychatd's client ->
 *               window path (it writes the slave, the -S window reads
 *               the master), and socat's window -> client path.
 *   --dir m2s   write the master, read the slave: socat's client ->
 *               window path, and ptychatd's window -> client path (the
 *               window types into the master, ptychatd reads the slave).
 *   --tty raw   the slave raw, by ptychatd's own tty_raw (src/tty.c),
 *               as it leaves a window's pty for the chat editor (and as
 *               socat's PTY,raw,echo=0 is).
 *   --tty chat  the slave as ptychatd's --plain sets it for typing, by
 *               its own tty_typing_mode: canonical lines, echo, ICRNL,
 *               OPOST|ONLCR.  With m2s the writer reads the echo back,
 *               as a window does, and the file must be typed lines
 *               (printable text and \n).
 *   --sanitize  first pass the file through ptychatd's sanitiser (not
 *               timed) in --chunk pieces, as the relay does with each
 *               receive, and write each piece's output with one write:
 *               the pty carries exactly what ptychatd writes, in the
 *               same writes; MB/s still counts the file's own bytes.
 *   --chunk N   the writer's write size (default 16 KiB), --rchunk N the
 *               reader's read size (default 64 KiB).
 *
 * The output line ends with the slave's modes (termios=), for the bench
 * to check against a pty ptychatd set up.
 *
 * usage: ptylimit --dir s2m|m2s --tty raw|chat --file F [--sanitize]
 *            [--chunk N] [--rchunk N]
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <pty.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "bench.h"
#include "ptychat.h"

struct limit {
	int		 wfd, rfd;	/* the ends written and read */
	int		 echo;		/* the writer drains echo from wfd */
	const char	*data;
	size_t		 len;
	size_t		*pieces;	/* with --sanitize: each write's size */
	size_t		 chunk, rchunk;
	unsigned long long expect;	/* bytes the reader will see */
};

static void __attribute__((noreturn))
die(const char *what)
{
	fprintf(stderr, "ptylimit: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void *
limit_writer(void *arg)
{
	struct limit *l = arg;
	struct pollfd pfd;
	char *junk;
	size_t off = 0, n, piece = 0, left = 0;
	ssize_t w;

	if ((junk = malloc(65536)) == NULL)
		die("malloc");
	pfd.fd = l->wfd;
	while (off < l->len) {
		if (l->pieces != NULL) {
			/* The rest of this piece; an empty one has no write. */
			while (left == 0)
				left = l->pieces[piece++];
			n = left;
		} else {
			n = l->len - off;
			if (n > l->chunk)
				n = l->chunk;
		}
		if (l->echo) {
			pfd.events = POLLIN | POLLOUT;
			(void)poll(&pfd, 1, -1);
			if (pfd.revents & POLLIN)
				(void)read(l->wfd, junk, 65536);
			if (!(pfd.revents & POLLOUT))
				continue;
		}
		w = write(l->wfd, l->data + off, n);
		if (w == -1 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (w <= 0)
			die("write");
		off += (size_t)w;
		if (l->pieces != NULL)
			left -= (size_t)w;
	}
	/* Keep draining the echo until the reader is done. */
	while (l->echo) {
		pfd.events = POLLIN;
		if (poll(&pfd, 1, 100) > 0 && read(l->wfd, junk, 65536) <= 0 &&
		    errno != EAGAIN)
			break;
	}
	free(junk);
	return NULL;
}

int
main(int argc, char *argv[])
{
	const char *dir = NULL, *tty = NULL, *file = NULL;
	struct limit l;
	struct sanitizer san;
	unsigned long long got = 0;
	uint64_t t0, t1;
	pthread_t tid;
	char *buf, *clean, modes[256];
	const char *text;
	size_t textlen, i, step, k;
	int master, slave, do_sanitize = 0, chat;
	ssize_t n;

	memset(&l, 0, sizeof l);
	l.chunk = 16384;
	l.rchunk = 65536;
	for (int a = 1; a < argc; a++) {
		if (strcmp(argv[a], "--dir") == 0 && a + 1 < argc)
			dir = argv[++a];
		else if (strcmp(argv[a], "--tty") == 0 && a + 1 < argc)
			tty = argv[++a];
		else if (strcmp(argv[a], "--file") == 0 && a + 1 < argc)
			file = argv[++a];
		else if (strcmp(argv[a], "--chunk") == 0 && a + 1 < argc)
			l.chunk = (size_t)bench_size(argv[++a]);
		else if (strcmp(argv[a], "--rchunk") == 0 && a + 1 < argc)
			l.rchunk = (size_t)bench_size(argv[++a]);
		else if (strcmp(argv[a], "--sanitize") == 0)
			do_sanitize = 1;
		else {
			fprintf(stderr, "ptylimit: unknown argument '%s'\n",
			    argv[a]);
			return 2;
		}
	}
	if (dir == NULL || tty == NULL || file == NULL || l.chunk == 0 ||
	    l.rchunk == 0 || (strcmp(dir, "s2m") && strcmp(dir, "m2s")) ||
	    (strcmp(tty, "raw") && strcmp(tty, "chat"))) {
		fprintf(stderr, "usage: ptylimit --dir s2m|m2s --tty raw|chat "
		    "--file F [--sanitize] [--chunk N] [--rchunk N]\n");
		return 2;
	}
	chat = strcmp(tty, "chat") == 0;
	if ((text = bench_map(file, &textlen)) == NULL)
		die(file);
	l.data = text;
	l.len = textlen;
	if (do_sanitize) {
		/* In recv-sized pieces, as the relay does. */
		if ((clean = malloc(SANITIZE_OUT_MAX(textlen))) == NULL ||
		    (l.pieces = calloc(textlen / l.chunk + 2,
		    sizeof *l.pieces)) == NULL)
			die("malloc");
		sanitize_init(&san);
		l.len = 0;
		for (i = k = 0; i < textlen; i += step) {
			step = textlen - i < l.chunk ? textlen - i : l.chunk;
			l.pieces[k] = sanitize_feed(&san, text + i, step,
			    clean + l.len);
			l.len += l.pieces[k++];
		}
		l.pieces[k] = sanitize_finish(&san, clean + l.len);
		l.len += l.pieces[k];
		l.data = clean;
	}
	l.expect = l.len;
	if (chat && strcmp(dir, "s2m") == 0)
		for (i = 0; i < l.len; i++)	/* ONLCR: \n goes out as \r\n */
			l.expect += l.data[i] == '\n';

	if (openpty(&master, &slave, NULL, NULL, NULL) == -1)
		die("openpty");
	/* Backspace as ptychatd sets it for a -S window: ^H. */
	if ((chat ? tty_typing_mode(slave, 010) : tty_raw(slave, NULL)) == -1)
		die("tcsetattr");
	if (bench_termios_text(slave, modes, sizeof modes) == -1)
		die("tcgetattr");
	if (strcmp(dir, "s2m") == 0) {
		l.wfd = slave;
		l.rfd = master;
	} else {
		l.wfd = master;
		l.rfd = slave;
		l.echo = chat;
		if (chat && fcntl(master, F_SETFL, O_NONBLOCK) == -1)
			die("O_NONBLOCK");
	}
	if ((buf = malloc(l.rchunk)) == NULL)
		die("malloc");

	t0 = bench_now_ns();
	if ((errno = pthread_create(&tid, NULL, limit_writer, &l)) != 0)
		die("pthread_create");
	while (got < l.expect) {
		n = read(l.rfd, buf, l.rchunk);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			die("read");
		got += (unsigned long long)n;
	}
	t1 = bench_now_ns();
	printf("dir=%s tty=%s bytes=%zu pty_bytes=%zu chunk=%zu rchunk=%zu "
	    "secs=%.6f mbps=%.2f termios=%s\n", dir, tty, textlen, l.len,
	    l.chunk, l.rchunk, (double)(t1 - t0) / 1e9,
	    (double)textlen / 1048576.0 / ((double)(t1 - t0) / 1e9), modes);
	/* The echo drainer would wait for a hang-up that never comes. */
	fflush(stdout);
	_exit(0);
}
