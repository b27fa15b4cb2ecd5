/*
 * bclient: the benchmark's TCP client.  It speaks the drain-term protocol
 * (bench.h) to whatever relays it to a window: ptychatd or socat.
 *
 *   send  HOST PORT FILE      waits for READY, sends FILE and the END
 *                             marker, waits for DONE: client->window MB/s
 *   recv  HOST PORT BYTES     waits for READY, receives BYTES:
 *                             window->client MB/s
 *   ping  HOST PORT COUNT     one-line round trips through an echoing
 *                             window: p50/p99
 *   setup HOST PORT COUNT     connect -> READY, one session after the other
 *   hold  HOST PORT COUNT [ready]  opens COUNT sessions (and waits for
 *                             their READY), says HELD, waits for a line
 *                             on stdin, then ends them all
 *
 * Each mode prints one line of key=value results on stdout.
 *
 * With BCLIENT_VIA set (send, recv and ping only), the session goes
 * through a client program instead of a socket of bclient's own: for
 * example "ptychat -q %h %p" or "socat - OPENSSL:%h:%p,verify=0".  Its
 * words (split on blanks; %h and %p become HOST and PORT) are run with
 * standard input and output on a socketpair, whose other end bclient
 * reads and writes as it would the socket.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

#define CLIENT_BUF	65536
#define CLIENT_VIA_WORDS	32

static const char *host, *port;

/*
 * How long to wait for the server to close after BYE.  ptychatd closes
 * once the window has gone; socat's child holds the pty slave itself, so
 * there BCLIENT_LINGER_MS=0 closes at once instead.
 */
static int linger_ms = 10000;

/* BCLIENT_VIA, and the client program running it (or -1). */
static const char *via;
static pid_t via_pid = -1;

static void __attribute__((noreturn))
die(const char *what)
{
	fprintf(stderr, "bclient: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void __attribute__((noreturn))
die_msg(const char *what)
{
	fprintf(stderr, "bclient: %s\n", what);
	exit(1);
}

/* Returns a copy of the len bytes of word, %h and %p replaced. */
static char *
client_via_word(const char *word, size_t len)
{
	char *out, *o;
	size_t i, room;

	room = len + 1;
	for (i = 0; i + 1 < len; i++)
		if (word[i] == '%')
			room += strlen(host) + strlen(port);
	if ((out = o = malloc(room)) == NULL)
		die("malloc");
	for (i = 0; i < len; i++) {
		if (word[i] == '%' && i + 1 < len && (word[i + 1] == 'h' ||
		    word[i + 1] == 'p')) {
			strcpy(o, word[++i] == 'h' ? host : port);
			o += strlen(o);
		} else
			*o++ = word[i];
	}
	*o = '\0';
	return out;
}

/* Starts the BCLIENT_VIA program; returns bclient's end of its stdio. */
static int
client_via(void)
{
	char *argv[CLIENT_VIA_WORDS + 1];
	const char *p = via;
	size_t argc = 0, len;
	int sv[2];

	while (*p != '\0') {
		if (*p == ' ') {
			p++;
			continue;
		}
		if (argc == CLIENT_VIA_WORDS)
			die_msg("BCLIENT_VIA has too many words");
		len = strcspn(p, " ");
		argv[argc++] = client_via_word(p, len);
		p += len;
	}
	argv[argc] = NULL;
	if (argc == 0)
		die_msg("BCLIENT_VIA is empty");
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		die("socketpair");
	if ((via_pid = fork()) == -1)
		die("fork");
	if (via_pid == 0) {
		/* dup2 leaves the copies open across exec. */
		if (dup2(sv[1], STDIN_FILENO) == -1 ||
		    dup2(sv[1], STDOUT_FILENO) == -1)
			_exit(127);
		signal(SIGPIPE, SIG_DFL);
		execvp(argv[0], argv);
		fprintf(stderr, "bclient: %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(sv[1]);
	return sv[0];
}

static int
client_connect(void)
{
	struct addrinfo hints, *ai;
	int fd, err;

	if (via != NULL)
		return client_via();
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if ((err = getaddrinfo(host, port, &hints, &ai)) != 0)
		die_msg(gai_strerror(err));
	if ((fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		die("socket");
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == -1)
		die("connect");
	freeaddrinfo(ai);
	return fd;
}

/*
 * Reads until a line starting with prefix has arrived; bytes after it are
 * left in buf (their count in *extra).  Returns 0, or -1 at end of file.
 */
static int
client_await(int fd, const char *prefix, char *buf, size_t room,
    size_t *extra, char *line, size_t linesize)
{
	size_t have = 0, plen = strlen(prefix);
	char *nl, *start;
	ssize_t n;

	for (;;) {
		n = recv(fd, buf + have, room - have, 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		have += (size_t)n;
		start = buf;
		while ((nl = memchr(start, '\n', have - (size_t)(start - buf)))) {
			if ((size_t)(nl - start) >= plen &&
			    memcmp(start, prefix, plen) == 0) {
				if (line != NULL) {
					size_t l = (size_t)(nl - start);
					if (l >= linesize)
						l = linesize - 1;
					memcpy(line, start, l);
					line[l] = '\0';
				}
				*extra = have - (size_t)(nl + 1 - buf);
				memmove(buf, nl + 1, *extra);
				return 0;
			}
			start = nl + 1;
		}
		/* Keep the unfinished line only. */
		have -= (size_t)(start - buf);
		memmove(buf, start, have);
		if (have == room)
			have = 0;
	}
}

/* Sends BYE and waits for the server to close: the session is over. */
static void
client_bye(int fd, char *buf)
{
	static const char bye[] = "\n" BENCH_BYE "\n";
	struct pollfd pfd;
	ssize_t n;

	(void)send(fd, bye, sizeof bye - 1, MSG_NOSIGNAL);
	/* ncat stays until its input ends, even once the server has gone. */
	if (via_pid > 0)
		(void)shutdown(fd, SHUT_WR);
	pfd.fd = fd;
	pfd.events = POLLIN;
	while (linger_ms > 0 && poll(&pfd, 1, linger_ms) > 0) {
		n = recv(fd, buf, CLIENT_BUF, 0);
		if (n <= 0)
			break;
	}
	close(fd);
	/* The client program has its end of input: it is on its way out. */
	if (via_pid > 0 && waitpid(via_pid, NULL, 0) == -1)
		die("waitpid");
}

static void
mode_send(const char *file)
{
	static const char end[] = "\n" BENCH_END "\n";
	char *buf, line[256];
	const char *text;
	size_t len, extra;
	uint64_t t0, t1;
	int fd;

	if ((text = bench_map(file, &len)) == NULL)
		die(file);
	if ((buf = malloc(CLIENT_BUF)) == NULL)
		die("malloc");
	fd = client_connect();
	if (client_await(fd, "READY", buf, CLIENT_BUF, &extra, NULL, 0) == -1)
		die_msg("no READY from the window");
	t0 = bench_now_ns();
	if (bench_write_all(fd, text, len) == -1 ||
	    bench_write_all(fd, end, sizeof end - 1) == -1)
		die("send");
	if (client_await(fd, "DONE", buf, CLIENT_BUF, &extra, line,
	    sizeof line) == -1)
		die_msg("no DONE from the window");
	t1 = bench_now_ns();
	printf("bytes=%zu secs=%.6f mbps=%.2f %s\n", len,
	    (double)(t1 - t0) / 1e9, (double)len / 1048576.0 /
	    ((double)(t1 - t0) / 1e9), line + 5);
	fflush(stdout);
	client_bye(fd, buf);
}

static void
mode_recv(unsigned long long want)
{
	unsigned long long got;
	size_t extra;
	uint64_t t0, t1;
	char *buf;
	ssize_t n;
	int fd;

	if ((buf = malloc(CLIENT_BUF)) == NULL)
		die("malloc");
	fd = client_connect();
	if (client_await(fd, "READY", buf, CLIENT_BUF, &extra, NULL, 0) == -1)
		die_msg("no READY from the window");
	t0 = bench_now_ns();
	got = extra;
	while (got < want) {
		n = recv(fd, buf, CLIENT_BUF, 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			die_msg("the stream ended early");
		got += (unsigned long long)n;
	}
	t1 = bench_now_ns();
	printf("bytes=%llu secs=%.6f mbps=%.2f\n", got,
	    (double)(t1 - t0) / 1e9, (double)got / 1048576.0 /
	    ((double)(t1 - t0) / 1e9));
	fflush(stdout);
	client_bye(fd, buf);
}

static void
print_times(const char *what, uint64_t *v, size_t n)
{
	uint64_t sum = 0;
	size_t i;

	for (i = 0; i < n; i++)
		sum += v[i];
	printf("%s n=%zu mean_us=%.1f min_us=%.1f p50_us=%.1f p90_us=%.1f "
	    "p99_us=%.1f max_us=%.1f\n", what, n, (double)sum / (double)n / 1e3,
	    (double)bench_percentile(v, n, 0.0) / 1e3,
	    (double)bench_percentile(v, n, 0.50) / 1e3,
	    (double)bench_percentile(v, n, 0.90) / 1e3,
	    (double)bench_percentile(v, n, 0.99) / 1e3,
	    (double)bench_percentile(v, n, 1.0) / 1e3);
	fflush(stdout);
}

static void
mode_ping(size_t count)
{
	char *buf, msg[128], want[32], line[256];
	uint64_t *rtt, t0;
	size_t i, extra, warm = count / 20 + 10;
	int fd, len;

	if ((buf = malloc(CLIENT_BUF)) == NULL ||
	    (rtt = calloc(count, sizeof *rtt)) == NULL)
		die("malloc");
	fd = client_connect();
	if (client_await(fd, "READY", buf, CLIENT_BUF, &extra, NULL, 0) == -1)
		die_msg("no READY from the window");
	/* Warm-up round trips are not counted. */
	for (i = 0; i < warm + count; i++) {
		len = snprintf(msg, sizeof msg, "P %07zu hello, is anyone "
		    "there? caf\xc3\xa9 \xe2\x86\x92 ok\n", i);
		snprintf(want, sizeof want, "Q %07zu", i);
		t0 = bench_now_ns();
		if (send(fd, msg, (size_t)len, MSG_NOSIGNAL) != len)
			die("send");
		if (client_await(fd, want, buf, CLIENT_BUF, &extra, line,
		    sizeof line) == -1)
			die_msg("no echo");
		if (i >= warm)
			rtt[i - warm] = bench_now_ns() - t0;
	}
	print_times("rtt", rtt, count);
	client_bye(fd, buf);
}

static void
mode_setup(size_t count)
{
	uint64_t *v, t0;
	size_t i, extra;
	char *buf;
	int fd;

	if ((buf = malloc(CLIENT_BUF)) == NULL ||
	    (v = calloc(count, sizeof *v)) == NULL)
		die("malloc");
	for (i = 0; i < count; i++) {
		t0 = bench_now_ns();
		fd = client_connect();
		if (client_await(fd, "READY", buf, CLIENT_BUF, &extra, NULL,
		    0) == -1)
			die_msg("no READY from the window");
		v[i] = bench_now_ns() - t0;
		client_bye(fd, buf);
	}
	print_times("setup", v, count);
}

static void
mode_hold(size_t count, int ready)
{
	struct pollfd *pfd;
	size_t i, waiting, extra;
	char *buf, cmd[64];
	uint64_t t0, t1;
	ssize_t n;

	if ((buf = malloc(CLIENT_BUF)) == NULL ||
	    (pfd = calloc(count, sizeof *pfd)) == NULL)
		die("malloc");
	t0 = bench_now_ns();
	for (i = 0; i < count; i++) {
		pfd[i].fd = client_connect();
		pfd[i].events = POLLIN;
	}
	/* READY is one short line; a single recv takes it whole. */
	for (waiting = ready ? count : 0; waiting > 0;) {
		if (poll(pfd, count, 60000) <= 0)
			die_msg("sessions did not get ready in time");
		for (i = 0; i < count; i++) {
			if (pfd[i].events == 0 || pfd[i].revents == 0)
				continue;
			n = recv(pfd[i].fd, buf, CLIENT_BUF, 0);
			if (n <= 0)
				die_msg("a session ended early");
			if (memmem(buf, (size_t)n, "READY", 5) != NULL) {
				pfd[i].events = 0;
				waiting--;
			}
		}
	}
	t1 = bench_now_ns();
	printf("HELD n=%zu secs=%.3f\n", count, (double)(t1 - t0) / 1e9);
	fflush(stdout);
	(void)fgets(cmd, sizeof cmd, stdin);
	for (i = 0; i < count; i++)
		(void)send(pfd[i].fd, "\n" BENCH_BYE "\n",
		    strlen(BENCH_BYE) + 2, MSG_NOSIGNAL);
	for (i = 0; i < count; i++) {
		struct pollfd one = { pfd[i].fd, POLLIN, 0 };
		while (linger_ms > 0 && poll(&one, 1, linger_ms) > 0 &&
		    recv(one.fd, buf, CLIENT_BUF, 0) > 0)
			;
		close(pfd[i].fd);
	}
	(void)extra;
	printf("released\n");
}

int
main(int argc, char *argv[])
{
	signal(SIGPIPE, SIG_IGN);
	if (getenv("BCLIENT_LINGER_MS") != NULL)
		linger_ms = atoi(getenv("BCLIENT_LINGER_MS"));
	if (argc < 5) {
		fprintf(stderr, "usage: bclient send|recv|ping|setup|hold "
		    "HOST PORT ARG [ready]\n");
		return 2;
	}
	host = argv[2];
	port = argv[3];
	via = getenv("BCLIENT_VIA");
	if (via != NULL && (strcmp(argv[1], "setup") == 0 ||
	    strcmp(argv[1], "hold") == 0))
		die_msg("BCLIENT_VIA works with send, recv and ping only");
	if (strcmp(argv[1], "send") == 0)
		mode_send(argv[4]);
	else if (strcmp(argv[1], "recv") == 0)
		mode_recv(bench_size(argv[4]));
	else if (strcmp(argv[1], "ping") == 0)
		mode_ping((size_t)bench_size(argv[4]));
	else if (strcmp(argv[1], "setup") == 0)
		mode_setup((size_t)bench_size(argv[4]));
	else if (strcmp(argv[1], "hold") == 0)
		mode_hold((size_t)bench_size(argv[4]),
		    argc > 5 && strcmp(argv[5], "ready") == 0);
	else {
		fprintf(stderr, "bclient: unknown mode '%s'\n", argv[1]);
		return 2;
	}
	return 0;
}
