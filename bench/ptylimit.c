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
 *   --tty raw   cfmakeraw on the slave (socat's PTY,raw,echo=0).
 *   --tty chat  the slave as ptychatd sets it for typing: canonical
 *               lines, echo, ICRNL, OPOST|ONLCR.  With m2s the writer
 *               reads the echo back, as a window does, and the file must
 *               be typed lines (printable text and \n).
 *   --sanitize  first pass the file through ptychatd's sanitiser (not
 *               timed), so the pty carries exactly what ptychatd writes;
 *               MB/s still counts the file's own bytes.
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
	size_t		 chunk, rchunk;
	unsigned long long expect;	/* bytes the reader will see */
};

static void __attribute__((noreturn))
die(const char *what)
{
	fprintf(stderr, "ptylimit: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* The slave as ptychatd's typing mode leaves it. */
static void
limit_chat_mode(struct termios *t)
{
	t->c_iflag |= ICRNL | IUTF8;
	t->c_iflag &= ~(tcflag_t)(INLCR | IGNCR | IXON | IXOFF);
	t->c_oflag |= OPOST | ONLCR;
	t->c_lflag |= ICANON | ECHO | ECHOE | ECHOK | ECHOCTL | ECHOKE | IEXTEN;
	t->c_lflag &= ~(tcflag_t)(ISIG | ECHONL);
	t->c_cc[VERASE] = 010;
	t->c_cc[VEOF] = _POSIX_VDISABLE;
}

static void *
limit_writer(void *arg)
{
	struct limit *l = arg;
	struct pollfd pfd;
	char *junk;
	size_t off = 0, n;
	ssize_t w;

	if ((junk = malloc(65536)) == NULL)
		die("malloc");
	pfd.fd = l->wfd;
	while (off < l->len) {
		n = l->len - off;
		if (n > l->chunk)
			n = l->chunk;
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
	struct termios t;
	struct sanitizer san;
	unsigned long long got = 0;
	uint64_t t0, t1;
	pthread_t tid;
	char *buf, *clean;
	const char *text;
	size_t textlen, i, step;
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
		if ((clean = malloc(SANITIZE_OUT_MAX(textlen))) == NULL)
			die("malloc");
		sanitize_init(&san);
		l.len = 0;
		for (i = 0; i < textlen; i += step) {
			step = textlen - i < 16384 ? textlen - i : 16384;
			l.len += sanitize_feed(&san, text + i, step,
			    clean + l.len);
		}
		l.len += sanitize_finish(&san, clean + l.len);
		l.data = clean;
	}
	l.expect = l.len;
	if (chat && strcmp(dir, "s2m") == 0)
		for (i = 0; i < l.len; i++)	/* ONLCR: \n goes out as \r\n */
			l.expect += l.data[i] == '\n';

	if (openpty(&master, &slave, NULL, NULL, NULL) == -1)
		die("openpty");
	if (tcgetattr(slave, &t) == -1)
		die("tcgetattr");
	if (chat)
		limit_chat_mode(&t);
	else
		cfmakeraw(&t);
	if (tcsetattr(slave, TCSANOW, &t) == -1)
		die("tcsetattr");
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
	printf("dir=%s tty=%s bytes=%zu pty_bytes=%zu secs=%.6f mbps=%.2f\n",
	    dir, tty, textlen, l.len, (double)(t1 - t0) / 1e9,
	    (double)textlen / 1048576.0 / ((double)(t1 - t0) / 1e9));
	/* The echo drainer would wait for a hang-up that never comes. */
	fflush(stdout);
	_exit(0);
}
