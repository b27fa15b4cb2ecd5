/*
 * Unit tests for tls.c: handshakes both ways over loopback TCP, the peers'
 * fingerprints, data both ways at once through struct conn (a reader and
 * a writer thread on each end), close_notify and EOF, peers that send
 * garbage, stall, close or are cancelled, the front-door classifier, and
 * the real openssl s_server and s_client on the other end.
 *
 * PTYCHAT_TIME_FACTOR stretches every deadline (not the timeouts under
 * test) for the sanitizer and valgrind runs.
 */
#include <sys/types.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "../../src/ptychat.h"
#include "tap.h"

#define BULK_BYTES	(4 * 1024 * 1024)
#define BULK_CHUNK	(64 * 1024)

extern char **environ;

static int time_factor = 1;
static char tmpdir[] = "/tmp/test_tls.XXXXXX";

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A deadline of ms, stretched for slow (instrumented) runs. */
static long long
deadline_in(int ms)
{
	return now_ms() + (long long)ms * time_factor;
}

static int
ms_left(long long deadline)
{
	long long left = deadline - now_ms();

	return left < 0 ? 0 : (int)left;
}

/* A key and certificate made by identity_load: NAME.key and NAME.crt. */
static int
load_identity(struct identity *id, const char *name)
{
	char key[512], crt[512], err[512];

	snprintf(key, sizeof key, "%s/%s.key", tmpdir, name);
	snprintf(crt, sizeof crt, "%s/%s.crt", tmpdir, name);
	if (identity_load(id, key, crt, 1, name, err, sizeof err) == -1) {
		tap_diag("identity_load: %s", err);
		return -1;
	}
	return 0;
}

/*
 * The fingerprint of NAME.key as the openssl tool computes it, the way
 * DESIGN.md says to check one by hand.  0, or -1 without the tool.
 */
static int
openssl_fingerprint(const char *name, char *out, size_t len)
{
	char cmd[1024], line[128];
	FILE *p;
	size_t n;

	snprintf(cmd, sizeof cmd, "openssl pkey -in %s/%s.key -pubout "
	    "-outform DER | openssl dgst -sha256 -binary | openssl base64 "
	    "-A", tmpdir, name);
	if ((p = popen(cmd, "re")) == NULL)
		return -1;
	if (fgets(line, sizeof line, p) == NULL) {
		pclose(p);
		return -1;
	}
	if (pclose(p) != 0)
		return -1;
	n = strcspn(line, "=\n");
	line[n] = '\0';
	snprintf(out, len, "SHA256:%.43s", line);
	return 0;
}

/* A connected pair of loopback TCP sockets, close-on-exec. */
static int
tcp_pair(int fds[2])
{
	struct sockaddr_in sin;
	socklen_t len = sizeof sin;
	int lfd;

	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	if (bind(lfd, (struct sockaddr *)&sin, sizeof sin) == -1 ||
	    listen(lfd, 1) == -1 ||
	    getsockname(lfd, (struct sockaddr *)&sin, &len) == -1 ||
	    (fds[1] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		close(lfd);
		return -1;
	}
	if (connect(fds[1], (struct sockaddr *)&sin, sizeof sin) == -1 ||
	    (fds[0] = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) == -1) {
		close(fds[1]);
		close(lfd);
		return -1;
	}
	close(lfd);
	return 0;
}

/* One side's handshake, run on a thread of its own. */
struct handshake {
	SSL_CTX		*ctx;
	int		 fd;
	int		 accept;
	int		 timeout_ms;
	int		 cancel;
	SSL		*ssl;
	int		 saved_errno;
	long long	 took_ms;
	char		 err[256];
};

static void *
handshake_main(void *arg)
{
	struct handshake *h = arg;
	long long start = now_ms();

	h->err[0] = '\0';
	if (h->accept)
		h->ssl = tls_accept(h->ctx, h->fd, h->timeout_ms, h->cancel,
		    h->err, sizeof h->err);
	else
		h->ssl = tls_connect(h->ctx, h->fd, h->timeout_ms, h->cancel,
		    h->err, sizeof h->err);
	h->saved_errno = errno;
	h->took_ms = now_ms() - start;
	return NULL;
}

static void
handshake_setup(struct handshake *h, SSL_CTX *ctx, int fd, int accept,
    int timeout_ms, int cancel)
{
	memset(h, 0, sizeof(*h));
	h->ctx = ctx;
	h->fd = fd;
	h->accept = accept;
	h->timeout_ms = timeout_ms;
	h->cancel = cancel;
}

/* Both handshakes at once over a fresh pair; 0 when both succeed. */
static int
tls_pair(SSL_CTX *sctx, SSL_CTX *cctx, int fds[2], struct conn *server,
    struct conn *client)
{
	struct handshake s, c;
	pthread_t tid;

	if (tcp_pair(fds) == -1)
		return -1;
	handshake_setup(&s, sctx, fds[0], 1, 5000 * time_factor, -1);
	handshake_setup(&c, cctx, fds[1], 0, 5000 * time_factor, -1);
	if (pthread_create(&tid, NULL, handshake_main, &s) != 0)
		return -1;
	handshake_main(&c);
	pthread_join(tid, NULL);
	if (s.ssl == NULL || c.ssl == NULL) {
		tap_diag("handshake: server \"%s\", client \"%s\"", s.err,
		    c.err);
		SSL_free(s.ssl);
		SSL_free(c.ssl);
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	conn_init(server, fds[0], s.ssl);
	conn_init(client, fds[1], c.ssl);
	return 0;
}

static void
pair_free(int fds[2], struct conn *server, struct conn *client)
{
	conn_free(server);
	conn_free(client);
	close(fds[0]);
	close(fds[1]);
}

/*
 * Receives into buf until it holds len bytes, the peer ends (0 from
 * conn_recv) or the deadline.  Returns the bytes received, and sets *end
 * to 1 when conn_recv returned 0, -1 on an error.
 */
static size_t
recv_some(struct conn *c, char *buf, size_t len, long long deadline,
    int *end)
{
	struct pollfd pfd;
	size_t got = 0;
	ssize_t n;

	*end = 0;
	while (got < len) {
		n = conn_recv(c, buf + got, len - got);
		if (n > 0) {
			got += (size_t)n;
			continue;
		}
		if (n == 0) {
			*end = 1;
			break;
		}
		if (errno != EAGAIN) {
			*end = -1;
			break;
		}
		pfd.fd = c->fd;
		pfd.events = c->recv_wants;
		if (ms_left(deadline) == 0 ||
		    poll(&pfd, 1, ms_left(deadline)) == 0)
			break;
	}
	return got;
}

/* Waits for the peer's end: 1 when conn_recv returns 0 in time. */
static int
recv_end(struct conn *c, int ms)
{
	char byte;
	int end;

	if (recv_some(c, &byte, 1, deadline_in(ms), &end) != 0)
		return 0;
	return end == 1;
}

/* The bulk pattern: byte i of the stream that seed names. */
static unsigned char
pattern(size_t i, unsigned seed)
{
	return (unsigned char)((i * 131 + i / 4093 + seed) & 0xFF);
}

/* One direction of the bulk test, seen from one end. */
struct flow {
	struct conn	*c;
	unsigned	 seed;
	int		 cancel;
	long long	 deadline;
	size_t		 done;		/* bytes sent, or received in order */
	int		 result;	/* 0 ok; the reader: 1 when it saw 0 */
	char		 why[128];
};

static void *
flow_write(void *arg)
{
	struct flow *f = arg;
	unsigned char *buf;
	unsigned rnd = f->seed;
	size_t n, i;

	if ((buf = malloc(BULK_CHUNK)) == NULL) {
		f->result = -1;
		return NULL;
	}
	while (f->done < BULK_BYTES) {
		rnd = rnd * 1103515245 + 12345;
		n = 1 + (rnd >> 8) % BULK_CHUNK;
		if (n > BULK_BYTES - f->done)
			n = BULK_BYTES - f->done;
		for (i = 0; i < n; i++)
			buf[i] = pattern(f->done + i, f->seed);
		if (conn_send_until(f->c, buf, n, f->cancel) == -1) {
			snprintf(f->why, sizeof f->why, "send: %s",
			    strerror(errno));
			f->result = -1;
			break;
		}
		f->done += n;
	}
	conn_close_notify(f->c);
	if (f->c->ssl == NULL)
		shutdown(f->c->fd, SHUT_WR);
	free(buf);
	return NULL;
}

static void *
flow_read(void *arg)
{
	struct flow *f = arg;
	struct pollfd pfd;
	unsigned char buf[32 * 1024];
	unsigned rnd = f->seed;
	ssize_t n, i;

	f->result = -1;
	for (;;) {
		rnd = rnd * 1103515245 + 12345;
		n = conn_recv(f->c, buf, 1 + (rnd >> 8) % sizeof buf);
		if (n > 0) {
			for (i = 0; i < n; i++)
				if (buf[i] != pattern(f->done + (size_t)i,
				    f->seed)) {
					snprintf(f->why, sizeof f->why,
					    "byte %zu differs", f->done +
					    (size_t)i);
					return NULL;
				}
			f->done += (size_t)n;
			continue;
		}
		if (n == 0) {
			f->result = 1;
			return NULL;
		}
		if (errno != EAGAIN) {
			snprintf(f->why, sizeof f->why, "recv: %s",
			    strerror(errno));
			return NULL;
		}
		pfd.fd = f->c->fd;
		pfd.events = f->c->recv_wants;
		if (ms_left(f->deadline) == 0 ||
		    poll(&pfd, 1, ms_left(f->deadline)) == 0) {
			snprintf(f->why, sizeof f->why, "timed out after %zu",
			    f->done);
			return NULL;
		}
	}
}

/*
 * 4 MiB each way at once, a reader and a writer thread on each end (four
 * threads on two conns), each writer ending with close_notify.
 */
static void
test_bulk(SSL_CTX *sctx, SSL_CTX *cctx, int tls)
{
	struct conn server, client;
	struct flow fl[4];
	pthread_t tids[4];
	struct timespec ts;
	const char *kind = tls ? "TLS" : "plain";
	int fds[2], cancel, i, stuck = 0;
	long long start;

	if (tls) {
		if (!tap_ok(tls_pair(sctx, cctx, fds, &server, &client) == 0,
		    "bulk: TLS handshake"))
			return;
	} else {
		if (tcp_pair(fds) == -1)
			return;
		conn_init(&server, fds[0], NULL);
		conn_init(&client, fds[1], NULL);
	}
	cancel = eventfd(0, EFD_CLOEXEC);
	memset(fl, 0, sizeof fl);
	/* 0 writes to 1 (server to client), 2 to 3 (client to server). */
	fl[0].c = &server;
	fl[1].c = &client;
	fl[2].c = &client;
	fl[3].c = &server;
	fl[0].seed = fl[1].seed = 7;
	fl[2].seed = fl[3].seed = 99;
	start = now_ms();
	for (i = 0; i < 4; i++) {
		fl[i].cancel = cancel;
		fl[i].deadline = deadline_in(60000);
		pthread_create(&tids[i], NULL, i % 2 == 0 ? flow_write :
		    flow_read, &fl[i]);
	}
	for (i = 0; i < 4; i++) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 90 * time_factor;
		if (pthread_timedjoin_np(tids[i], NULL, &ts) != 0) {
			/* Stuck: free the writers; the readers time out. */
			stuck = 1;
			(void)eventfd_write(cancel, 1);
			pthread_join(tids[i], NULL);
		}
	}
	tap_diag("%s: 2 x %d bytes both ways at once in %lld ms", kind,
	    BULK_BYTES, now_ms() - start);
	tap_ok(!stuck, "%s bulk: no thread stuck", kind);
	tap_ok(fl[0].result == 0 && fl[2].result == 0,
	    "%s bulk: both writers sent all (%s%s)", kind, fl[0].why,
	    fl[2].why);
	tap_ok(fl[1].done == BULK_BYTES && fl[3].done == BULK_BYTES,
	    "%s bulk: both readers got %d bytes in order (%zu, %zu; %s%s)",
	    kind, BULK_BYTES, fl[1].done, fl[3].done, fl[1].why, fl[3].why);
	tap_ok(fl[1].result == 1 && fl[3].result == 1,
	    "%s bulk: both readers then saw the end as 0", kind);
	close(cancel);
	if (!tls) {
		conn_free(&server);
		conn_free(&client);
		close(fds[0]);
		close(fds[1]);
	} else
		pair_free(fds, &server, &client);
}

/* The handshake both ways, and who each side sees. */
static void
test_handshake(SSL_CTX *sctx, SSL_CTX *cctx, SSL_CTX *anon,
    const char *server_fp, const char *client_fp)
{
	struct conn server, client;
	char fp[FINGERPRINT_MAX];
	int fds[2];

	if (!tap_ok(tls_pair(sctx, cctx, fds, &server, &client) == 0,
	    "handshake over loopback TCP"))
		return;
	tap_ok(strcmp(SSL_get_version(server.ssl), "TLSv1.3") == 0,
	    "the version is TLS 1.3 (%s)", SSL_get_version(server.ssl));
	tap_ok(tls_peer_fingerprint(client.ssl, fp) == 0 &&
	    strcmp(fp, server_fp) == 0,
	    "the client sees the server's key as openssl does (%s)", fp);
	tap_ok(tls_peer_fingerprint(server.ssl, fp) == 0 &&
	    strcmp(fp, client_fp) == 0,
	    "the server sees the client's key as openssl does (%s)", fp);
	tap_ok(strlen(fp) == 7 + 43, "a fingerprint is SHA256: and 43 "
	    "characters");
	tap_ok(SSL_get_fd(server.ssl) == fds[0],
	    "SSL_get_fd finds the socket under our BIO");
	pair_free(fds, &server, &client);

	if (!tap_ok(tls_pair(sctx, anon, fds, &server, &client) == 0,
	    "a client with no certificate is accepted"))
		return;
	tap_ok(tls_peer_fingerprint(server.ssl, fp) == -1,
	    "and the server sees no key for it");
	tap_ok(tls_peer_fingerprint(client.ssl, fp) == 0 &&
	    strcmp(fp, server_fp) == 0,
	    "while it still sees the server's");
	pair_free(fds, &server, &client);
}

/* Half-closes: close_notify one way while the other still talks. */
static void
test_ends(SSL_CTX *sctx, SSL_CTX *cctx)
{
	struct conn server, client;
	char buf[64];
	int fds[2], end, flags;
	size_t n;

	if (tls_pair(sctx, cctx, fds, &server, &client) == -1)
		return;
	conn_close_notify(&client);
	tap_ok(recv_end(&server, 5000),
	    "the client's close_notify reaches the server as 0");
	tap_ok(conn_send_until(&server, "after\n", 6, -1) == 0,
	    "the server still sends after the client's close_notify");
	n = recv_some(&client, buf, 6, deadline_in(5000), &end);
	tap_ok(n == 6 && memcmp(buf, "after\n", 6) == 0,
	    "and the client, having sent its own, still receives");
	tap_ok(conn_send_now(&server, "now\n", 4) == 4,
	    "conn_send_now sends a short line whole");
	n = recv_some(&client, buf, 4, deadline_in(5000), &end);
	tap_ok(n == 4 && memcmp(buf, "now\n", 4) == 0, "and it arrives");
	conn_close_notify(&server);
	tap_ok(recv_end(&client, 5000), "then the server's ends the client's "
	    "reading with 0");
	pair_free(fds, &server, &client);

	if (tls_pair(sctx, cctx, fds, &server, &client) == -1)
		return;
	flags = fcntl(fds[1], F_GETFL);
	shutdown(fds[1], SHUT_WR);
	tap_ok(recv_end(&server, 5000),
	    "an EOF without close_notify is 0 too");
	n = 0;
	if (conn_send_until(&server, "still\n", 6, -1) == 0)
		n = recv_some(&client, buf, 6, deadline_in(5000), &end);
	tap_ok(n == 6 && memcmp(buf, "still\n", 6) == 0,
	    "and the server can still send the other way");
	tap_ok((fcntl(fds[1], F_GETFL) & O_NONBLOCK) == (flags & O_NONBLOCK) &&
	    (flags & O_NONBLOCK) == 0,
	    "a blocking socket stays blocking through handshake and conn");
	pair_free(fds, &server, &client);
}

/*
 * A writer cancelled with a record half sent: the conn refuses more
 * (OpenSSL would put the next bytes in place of the held ones) and
 * close_notify is harmless.
 */
static void
test_cancelled_send(SSL_CTX *sctx, SSL_CTX *cctx)
{
	struct conn server, client;
	char *big;
	size_t len = 16 * 1024 * 1024;
	int fds[2], cancel, r;
	long long start;

	if (tls_pair(sctx, cctx, fds, &server, &client) == -1)
		return;
	big = calloc(1, len);
	cancel = eventfd(1, EFD_CLOEXEC);
	start = now_ms();
	r = conn_send_until(&server, big, len, cancel);
	tap_ok(r == -1 && errno == ECANCELED && now_ms() - start <
	    5000 * time_factor,
	    "conn_send_until to a reader that reads nothing: ECANCELED once "
	    "the socket is full and cancel is readable");
	errno = 0;
	tap_ok(conn_send_until(&server, "x", 1, -1) == -1 && errno == EPIPE,
	    "then further sends fail with EPIPE");
	tap_ok(conn_send_now(&server, "x", 1) == -1 && errno == EPIPE,
	    "conn_send_now too");
	conn_close_notify(&server);
	close(cancel);
	free(big);
	pair_free(fds, &server, &client);

	if (tls_pair(sctx, cctx, fds, &server, &client) == -1)
		return;
	close(fds[1]);
	big = calloc(1, 1024 * 1024);
	r = conn_send_until(&server, big, 1024 * 1024, -1);
	tap_ok(r == -1 && (errno == EPIPE || errno == ECONNRESET),
	    "sending to a closed peer is EPIPE or ECONNRESET, no SIGPIPE "
	    "(%s)", strerror(errno));
	free(big);
	conn_free(&client);
	conn_free(&server);
	close(fds[0]);
}

/* The reading end of test_send_some: len bytes of pattern seed 7. */
struct some_reader {
	struct conn	*c;
	size_t		 len;
	size_t		 got;
	size_t		 bad;	/* the first byte out of pattern, + 1 */
};

static void *
some_read(void *arg)
{
	struct some_reader *r = arg;
	char buf[16384];
	size_t n, i;
	long long deadline = deadline_in(20000 * time_factor);
	int end;

	while (r->got < r->len && ms_left(deadline) > 0) {
		n = recv_some(r->c, buf, sizeof buf < r->len - r->got ?
		    sizeof buf : r->len - r->got, deadline, &end);
		for (i = 0; i < n; i++)
			if ((unsigned char)buf[i] != pattern(r->got + i, 7) &&
			    r->bad == 0)
				r->bad = r->got + i + 1;
		r->got += n;
		if (end != 0)
			break;
	}
	return NULL;
}

/*
 * conn_send_some sends what goes at once and no more, and
 * conn_send_until goes on with the rest: over TLS, from a record that
 * conn_send_some left half sent.  The reader starts only once the
 * socket is full.
 */
static void
test_send_some(SSL_CTX *sctx, SSL_CTX *cctx, int tls)
{
	struct conn server, client;
	struct some_reader r;
	const char *how = tls ? "TLS" : "plain";
	unsigned char *big;
	size_t len = 8 * 1024 * 1024, i;
	ssize_t first, again;
	pthread_t tid;
	int fds[2];

	if (tls && tls_pair(sctx, cctx, fds, &server, &client) == -1)
		return;
	if (!tls) {
		if (tcp_pair(fds) == -1)
			return;
		conn_init(&server, fds[0], NULL);
		conn_init(&client, fds[1], NULL);
	}
	if ((big = malloc(len)) == NULL)
		abort();
	for (i = 0; i < len; i++)
		big[i] = pattern(i, 7);
	first = conn_send_some(&server, big, len);
	tap_ok(first > 0 && (size_t)first < len, "%s: conn_send_some sends "
	    "what goes at once, not all of 8 MiB (%zd)", how, first);
	again = first > 0 ? conn_send_some(&server, big + first,
	    len - (size_t)first) : -1;
	tap_ok(again == 0, "%s: on a full socket it sends nothing, "
	    "without waiting (%zd)", how, again);
	memset(&r, 0, sizeof r);
	r.c = &client;
	r.len = len;
	if (first <= 0 || pthread_create(&tid, NULL, some_read, &r) != 0) {
		free(big);
		pair_free(fds, &server, &client);
		return;
	}
	tap_ok(conn_send_until(&server, big + first, len - (size_t)first,
	    -1) == 0, "%s: conn_send_until sends the rest", how);
	pthread_join(tid, NULL);
	tap_ok(r.got == len && r.bad == 0, "%s: the peer gets the 8 MiB "
	    "whole and in order (%zu bytes, first bad %zu)", how, r.got,
	    r.bad);
	free(big);
	pair_free(fds, &server, &client);
}

/* What the peer does in the failure tests, on the raw socket. */
enum misbehave {
	PEER_SILENT,		/* reads nothing, says nothing */
	PEER_GARBAGE,		/* an HTTP request */
	PEER_SHORT_GARBAGE,	/* two bytes, then silence */
	PEER_SPLIT_GARBAGE,	/* 0x16 alone, read, then text */
	PEER_PLAIN_LINE,	/* reads, answers a plain line, closes */
	PEER_CLOSE,		/* closes at once */
	PEER_READ_CLOSE,	/* reads the hello, then closes */
	PEER_READ_STALL		/* reads the hello, then says nothing */
};

/* Waits for the hello's first bytes: 1 when some came in time. */
static int
peer_read_some(int fd)
{
	struct pollfd pfd = { fd, POLLIN, 0 };
	char buf[4096];

	if (poll(&pfd, 1, ms_left(deadline_in(5000))) != 1)
		return 0;
	return read(fd, buf, sizeof buf) > 0;
}

/* Waits until the other end (near) has read all that was sent to it. */
static int
peer_all_read(int near)
{
	long long deadline = deadline_in(5000);
	struct pollfd none = { -1, 0, 0 };
	int queued;

	while (ioctl(near, FIONREAD, &queued) == 0 && queued > 0) {
		if (ms_left(deadline) == 0)
			return 0;
		(void)poll(&none, 0, 1);
	}
	return 1;
}

static void
peer_misbehave(int fd, enum misbehave how, int near)
{
	static const char http[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	static const char line[] =
	    "ptychatd: this server requires TLS; connect with ptychat\n";

	switch (how) {
	case PEER_SILENT:
		break;
	case PEER_GARBAGE:
		(void)write(fd, http, sizeof http - 1);
		break;
	case PEER_SHORT_GARBAGE:
		(void)write(fd, "hi", 2);
		break;
	case PEER_SPLIT_GARBAGE:
		(void)write(fd, "\x16", 1);
		if (peer_all_read(near))
			(void)write(fd, "x", 1);
		break;
	case PEER_PLAIN_LINE:
		(void)peer_read_some(fd);
		(void)write(fd, line, sizeof line - 1);
		shutdown(fd, SHUT_WR);
		break;
	case PEER_CLOSE:
		shutdown(fd, SHUT_RDWR);
		break;
	case PEER_READ_CLOSE:
		(void)peer_read_some(fd);
		shutdown(fd, SHUT_RDWR);
		break;
	case PEER_READ_STALL:
		(void)peer_read_some(fd);
		break;
	}
}

/* Runs one handshake against a misbehaving peer; returns its err. */
static struct handshake
try_misbehave(SSL_CTX *ctx, int accept, enum misbehave how, int timeout_ms)
{
	struct handshake h;
	pthread_t tid;
	int fds[2];

	handshake_setup(&h, ctx, -1, accept, timeout_ms, -1);
	if (tcp_pair(fds) == -1) {
		snprintf(h.err, sizeof h.err, "socketpair failed");
		return h;
	}
	h.fd = fds[0];
	pthread_create(&tid, NULL, handshake_main, &h);
	peer_misbehave(fds[1], how, fds[0]);
	pthread_join(tid, NULL);
	SSL_free(h.ssl);
	close(fds[0]);
	close(fds[1]);
	return h;
}

static void
test_failures(SSL_CTX *sctx, SSL_CTX *cctx)
{
	struct handshake h;
	pthread_t tid;
	int fds[2], cancel, long_ms = 10000 * time_factor;

	h = try_misbehave(sctx, 1, PEER_GARBAGE, long_ms);
	tap_ok(h.ssl == NULL && strcmp(h.err, "not TLS") == 0 &&
	    h.saved_errno == EPROTONOSUPPORT,
	    "accept: an HTTP request is \"not TLS\" (%s)", h.err);
	h = try_misbehave(sctx, 1, PEER_SHORT_GARBAGE, long_ms);
	tap_ok(h.ssl == NULL && strcmp(h.err, "not TLS") == 0 &&
	    h.took_ms < long_ms / 2,
	    "accept: two bytes of text and silence are \"not TLS\" at once "
	    "(%s, %lld ms)", h.err, h.took_ms);
	h = try_misbehave(sctx, 1, PEER_SPLIT_GARBAGE, long_ms);
	tap_ok(h.ssl == NULL && strcmp(h.err, "not TLS") == 0 &&
	    h.took_ms < long_ms / 2,
	    "accept: 0x16, then text in a read of its own, is \"not TLS\" "
	    "at once (%s, %lld ms)", h.err, h.took_ms);
	h = try_misbehave(cctx, 0, PEER_PLAIN_LINE, long_ms);
	tap_ok(h.ssl == NULL && strcmp(h.err, "not TLS") == 0,
	    "connect: a plain server's line is \"not TLS\" (%s)", h.err);
	h = try_misbehave(sctx, 1, PEER_CLOSE, long_ms);
	tap_ok(h.ssl == NULL && strcmp(h.err, "peer closed") == 0,
	    "accept: a peer that closes at once: \"peer closed\" (%s)",
	    h.err);
	h = try_misbehave(cctx, 0, PEER_READ_CLOSE, long_ms);
	tap_ok(h.ssl == NULL && strcmp(h.err, "peer closed") == 0,
	    "connect: a server that reads the hello and closes: \"peer "
	    "closed\" (%s)", h.err);
	h = try_misbehave(sctx, 1, PEER_SILENT, 300);
	tap_ok(h.ssl == NULL && strcmp(h.err, "timed out") == 0 &&
	    h.saved_errno == ETIMEDOUT && h.took_ms >= 290 &&
	    h.took_ms < 300 + 5000 * time_factor,
	    "accept: a silent peer times out after 300 ms (%s, %lld ms)",
	    h.err, h.took_ms);
	h = try_misbehave(cctx, 0, PEER_READ_STALL, 300);
	tap_ok(h.ssl == NULL && strcmp(h.err, "timed out") == 0 &&
	    h.took_ms >= 290 && h.took_ms < 300 + 5000 * time_factor,
	    "connect: a server that stalls after the hello times out "
	    "(%s, %lld ms)", h.err, h.took_ms);

	/* Cancelled once the hello has gone: the peer saw it, so it waits. */
	if (tcp_pair(fds) == -1)
		return;
	cancel = eventfd(0, EFD_CLOEXEC);
	handshake_setup(&h, cctx, fds[0], 0, long_ms, cancel);
	pthread_create(&tid, NULL, handshake_main, &h);
	tap_ok(peer_read_some(fds[1]), "the client's hello arrives");
	(void)eventfd_write(cancel, 1);
	pthread_join(tid, NULL);
	tap_ok(h.ssl == NULL && strcmp(h.err, "cancelled") == 0 &&
	    h.saved_errno == ECANCELED && h.took_ms < long_ms / 2,
	    "connect: cancel cuts a waiting handshake short (%s, %lld ms)",
	    h.err, h.took_ms);
	SSL_free(h.ssl);
	close(fds[0]);
	close(fds[1]);
	close(cancel);
}

/* front_classify against each kind of opening. */
static void
test_front(void)
{
	static const unsigned char hello[] = { 0x16, 0x03, 0x01, 0x02, 0x00 };
	char buf[16];
	int fds[2], cancel;
	long long start;
	enum front_kind k;

	if (tcp_pair(fds) == -1)
		return;
	(void)write(fds[1], "hello\n", 6);
	k = front_classify(fds[0], FRONT_WAIT_MS * time_factor, -1);
	tap_ok(k == FRONT_PLAIN, "front: text is plain");
	tap_ok(read(fds[0], buf, sizeof buf) == 6 &&
	    memcmp(buf, "hello\n", 6) == 0, "front: and none of it is used up");
	close(fds[0]);
	close(fds[1]);

	if (tcp_pair(fds) == -1)
		return;
	(void)write(fds[1], hello, sizeof hello);
	k = front_classify(fds[0], FRONT_WAIT_MS * time_factor, -1);
	tap_ok(k == FRONT_TLS, "front: 0x16 is TLS");
	tap_ok(read(fds[0], buf, sizeof buf) == sizeof hello,
	    "front: and the hello is still all there");
	close(fds[0]);
	close(fds[1]);

	if (tcp_pair(fds) == -1)
		return;
	start = now_ms();
	k = front_classify(fds[0], FRONT_WAIT_MS, -1);
	tap_ok(k == FRONT_PLAIN && now_ms() - start >= FRONT_WAIT_MS - 10,
	    "front: silence for %d ms is plain (%lld ms)", FRONT_WAIT_MS,
	    now_ms() - start);
	(void)write(fds[1], "late", 4);
	tap_ok(front_classify(fds[0], FRONT_WAIT_MS, -1) == FRONT_PLAIN &&
	    read(fds[0], buf, sizeof buf) == 4,
	    "front: a late line is plain, and left to read");
	close(fds[0]);
	close(fds[1]);

	if (tcp_pair(fds) == -1)
		return;
	close(fds[1]);
	start = now_ms();
	k = front_classify(fds[0], 10000, -1);
	tap_ok(k == FRONT_GONE && now_ms() - start < 5000,
	    "front: a connection closed before a byte is gone, at once");
	close(fds[0]);

	if (tcp_pair(fds) == -1)
		return;
	cancel = eventfd(1, EFD_CLOEXEC);
	start = now_ms();
	k = front_classify(fds[0], 10000, cancel);
	tap_ok(k == FRONT_GONE && now_ms() - start < 5000,
	    "front: cancel before a byte is gone");
	close(cancel);
	close(fds[0]);
	close(fds[1]);
}

/*
 * Starts the shell command cmd (which should exec its program) with
 * stdin and stdout (stderr too) on pipes; the child's ends are the only
 * fds it gets beyond 0-2 (everything here is close-on-exec).  Returns the
 * pid, or -1.
 */
static pid_t
spawn_piped(char *cmd, int *in, int *out)
{
	char sh[] = "sh", c[] = "-c", *argv[] = { sh, c, cmd, NULL };
	posix_spawn_file_actions_t fa;
	int to[2], from[2];
	pid_t pid;

	if (pipe2(to, O_CLOEXEC) == -1)
		return -1;
	if (pipe2(from, O_CLOEXEC) == -1) {
		close(to[0]);
		close(to[1]);
		return -1;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, to[0], 0);
	posix_spawn_file_actions_adddup2(&fa, from[1], 1);
	posix_spawn_file_actions_adddup2(&fa, from[1], 2);
	if (posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ) != 0)
		pid = -1;
	posix_spawn_file_actions_destroy(&fa);
	close(to[0]);
	close(from[1]);
	*in = to[1];
	*out = from[0];
	return pid;
}

/*
 * Reads fd into buf (NUL-terminated) until it holds needle or the
 * deadline; returns 1 when it does.
 */
static int
read_until(int fd, char *buf, size_t len, size_t *have, const char *needle,
    int ms)
{
	struct pollfd pfd = { fd, POLLIN, 0 };
	long long deadline = deadline_in(ms);
	ssize_t n;

	for (;;) {
		buf[*have] = '\0';
		if (strstr(buf, needle) != NULL)
			return 1;
		if (*have + 1 >= len || ms_left(deadline) == 0 ||
		    poll(&pfd, 1, ms_left(deadline)) != 1)
			return 0;
		if ((n = read(fd, buf + *have, len - 1 - *have)) <= 0)
			return 0;
		*have += (size_t)n;
	}
}

/* Ends a child: SIGTERM, and reaped within a deadline (then SIGKILL). */
static void
child_end(pid_t pid)
{
	long long deadline = deadline_in(5000);
	struct pollfd none = { -1, 0, 0 };
	int status;

	kill(pid, SIGTERM);
	while (waitpid(pid, &status, WNOHANG) == 0) {
		if (ms_left(deadline) == 0) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return;
		}
		(void)poll(&none, 0, 10);
	}
}

/* tls_connect to the real openssl s_server -tls1_3 (an echo, reversed). */
static void
test_s_server(SSL_CTX *cctx, const char *server_fp)
{
	char out[8192], cmd[1200], *colon = NULL, fp[FINGERPRINT_MAX];
	struct sockaddr_in sin;
	struct conn c;
	size_t have = 0;
	pid_t pid;
	int in, from, fd, end;
	SSL *ssl;
	char err[256], buf[64];

	snprintf(cmd, sizeof cmd, "exec openssl s_server -accept 127.0.0.1:0 "
	    "-tls1_3 -naccept 1 -rev -cert %s/server.crt -key %s/server.key",
	    tmpdir, tmpdir);
	if ((pid = spawn_piped(cmd, &in, &from)) == -1) {
		tap_ok(0, "s_server starts");
		return;
	}
	if (!tap_ok(read_until(from, out, sizeof out, &have, "ACCEPT ",
	    10000) && (colon = strchr(strstr(out, "ACCEPT "), ':')) != NULL &&
	    strchr(colon, '\n') != NULL, "s_server says its port")) {
		child_end(pid);
		close(in);
		close(from);
		return;
	}
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((unsigned short)atoi(colon + 1));
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (connect(fd, (struct sockaddr *)&sin, sizeof sin) == -1) {
		tap_ok(0, "connect to s_server: %s", strerror(errno));
		goto done;
	}
	ssl = tls_connect(cctx, fd, 10000 * time_factor, -1, err, sizeof err);
	if (!tap_ok(ssl != NULL, "tls_connect to openssl s_server -tls1_3 "
	    "(%s)", ssl != NULL ? "" : err))
		goto done;
	tap_ok(tls_peer_fingerprint(ssl, fp) == 0 && strcmp(fp, server_fp) ==
	    0, "s_server's key is the one it was given");
	conn_init(&c, fd, ssl);
	tap_ok(conn_send_until(&c, "ptychat\n", 8, -1) == 0,
	    "a line to s_server");
	memset(buf, 0, sizeof buf);
	(void)recv_some(&c, buf, 8, deadline_in(10000), &end);
	tap_ok(strcmp(buf, "tahcytp\n") == 0,
	    "comes back reversed (\"%.*s\")", (int)strcspn(buf, "\n"), buf);
	conn_close_notify(&c);
	conn_free(&c);
done:
	close(fd);
	child_end(pid);
	close(in);
	close(from);
}

/* openssl s_client to tls_accept, with and without a client key. */
static void
test_s_client(SSL_CTX *sctx, const char *client_fp, int with_key)
{
	char out[16384], cmd[1200], fp[FINGERPRINT_MAX];
	struct sockaddr_in sin;
	socklen_t slen = sizeof sin;
	struct conn c;
	struct pollfd pfd;
	size_t have = 0;
	pid_t pid;
	int lfd, fd = -1, in, from, end;
	SSL *ssl;
	char err[256], buf[64];

	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (bind(lfd, (struct sockaddr *)&sin, sizeof sin) == -1 ||
	    listen(lfd, 1) == -1 ||
	    getsockname(lfd, (struct sockaddr *)&sin, &slen) == -1) {
		close(lfd);
		return;
	}
	if (with_key)
		snprintf(cmd, sizeof cmd, "exec openssl s_client -connect "
		    "127.0.0.1:%u -tls1_3 -quiet -cert %s/client.crt -key "
		    "%s/client.key", ntohs(sin.sin_port), tmpdir, tmpdir);
	else
		snprintf(cmd, sizeof cmd, "exec openssl s_client -connect "
		    "127.0.0.1:%u -tls1_3 -quiet", ntohs(sin.sin_port));
	if ((pid = spawn_piped(cmd, &in, &from)) == -1) {
		close(lfd);
		tap_ok(0, "s_client starts");
		return;
	}
	pfd.fd = lfd;
	pfd.events = POLLIN;
	if (poll(&pfd, 1, ms_left(deadline_in(10000))) == 1)
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	close(lfd);
	if (!tap_ok(fd != -1, "s_client connects"))
		goto done;
	tap_ok(front_classify(fd, FRONT_WAIT_MS * time_factor, -1) ==
	    FRONT_TLS, "front: s_client's hello is TLS");
	ssl = tls_accept(sctx, fd, 10000 * time_factor, -1, err, sizeof err);
	if (!tap_ok(ssl != NULL, "openssl s_client %s a key to tls_accept "
	    "(%s)", with_key ? "with" : "without", ssl != NULL ? "" : err))
		goto done;
	if (with_key)
		tap_ok(tls_peer_fingerprint(ssl, fp) == 0 &&
		    strcmp(fp, client_fp) == 0,
		    "the server sees s_client's key");
	else
		tap_ok(tls_peer_fingerprint(ssl, fp) == -1,
		    "the server sees that s_client has no key");
	conn_init(&c, fd, ssl);
	(void)write(in, "from s_client\n", 14);
	memset(buf, 0, sizeof buf);
	(void)recv_some(&c, buf, 14, deadline_in(10000), &end);
	tap_ok(strcmp(buf, "from s_client\n") == 0,
	    "s_client's line arrives");
	tap_ok(conn_send_until(&c, "from tls_accept\n", 16, -1) == 0 &&
	    read_until(from, out, sizeof out, &have, "from tls_accept\n",
	    10000), "and the reply reaches s_client's output");
	conn_close_notify(&c);
	conn_free(&c);
done:
	if (fd != -1)
		close(fd);
	child_end(pid);
	close(in);
	close(from);
}

/* A TLS 1.2 client is refused with OpenSSL's reason. */
static void
test_tls12(SSL_CTX *sctx)
{
	char cmd[128];
	struct sockaddr_in sin;
	socklen_t slen = sizeof sin;
	struct pollfd pfd;
	pid_t pid;
	int lfd, fd = -1, in, from;
	SSL *ssl;
	char err[256];

	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (bind(lfd, (struct sockaddr *)&sin, sizeof sin) == -1 ||
	    listen(lfd, 1) == -1 ||
	    getsockname(lfd, (struct sockaddr *)&sin, &slen) == -1) {
		close(lfd);
		return;
	}
	snprintf(cmd, sizeof cmd, "exec openssl s_client -connect 127.0.0.1:%u "
	    "-tls1_2", ntohs(sin.sin_port));
	if ((pid = spawn_piped(cmd, &in, &from)) == -1) {
		close(lfd);
		return;
	}
	pfd.fd = lfd;
	pfd.events = POLLIN;
	if (poll(&pfd, 1, ms_left(deadline_in(10000))) == 1)
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	close(lfd);
	ssl = fd == -1 ? NULL : tls_accept(sctx, fd, 10000 * time_factor, -1,
	    err, sizeof err);
	tap_ok(fd != -1 && ssl == NULL && strstr(err, "protocol") != NULL,
	    "a TLS 1.2 client is refused with OpenSSL's reason (%s)",
	    fd == -1 ? "no connection" : err);
	SSL_free(ssl);
	if (fd != -1)
		close(fd);
	child_end(pid);
	close(in);
	close(from);
}

static int
have_openssl_tool(void)
{
	return system("openssl version >/dev/null 2>&1") == 0;
}

int
main(void)
{
	struct identity server_id, client_id;
	char server_fp[FINGERPRINT_MAX], client_fp[FINGERPRINT_MAX];
	char err[256], cmd[600];
	SSL_CTX *sctx, *cctx, *anon;
	const char *factor, *errstr;

	if ((factor = getenv("PTYCHAT_TIME_FACTOR")) != NULL)
		time_factor = (int)number_parse(factor, 1, 100, &errstr);
	if (time_factor < 1)
		time_factor = 1;
	signal(SIGPIPE, SIG_DFL);	/* a SIGPIPE must kill the test */
	if (!have_openssl_tool()) {
		printf("1..0 # SKIP the openssl tool is missing\n");
		return 0;
	}
	if (mkdtemp(tmpdir) == NULL ||
	    load_identity(&server_id, "server") == -1 ||
	    load_identity(&client_id, "client") == -1) {
		printf("Bail out! cannot make the test keys\n");
		return 1;
	}
	if (openssl_fingerprint("server", server_fp,
	    sizeof server_fp) == -1 || openssl_fingerprint("client",
	    client_fp, sizeof client_fp) == -1) {
		printf("Bail out! the openssl tool failed\n");
		return 1;
	}
	tap_ok(strcmp(server_id.fingerprint, server_fp) == 0 &&
	    strcmp(client_id.fingerprint, client_fp) == 0,
	    "identity_load's fingerprints are openssl's");
	sctx = tls_server_ctx(&server_id, err, sizeof err);
	tap_ok(sctx != NULL, "tls_server_ctx (%s)", sctx ? "" : err);
	cctx = tls_client_ctx(&client_id, err, sizeof err);
	tap_ok(cctx != NULL, "tls_client_ctx (%s)", cctx ? "" : err);
	anon = tls_client_ctx(NULL, err, sizeof err);
	if (sctx == NULL || cctx == NULL || anon == NULL)
		return tap_done();
	{
		struct identity wrong = server_id;

		wrong.key = client_id.key;
		tap_ok(tls_server_ctx(&wrong, err, sizeof err) == NULL &&
		    strchr(err, '\n') == NULL && err[0] != '\0',
		    "a key that does not match the certificate: %s", err);
	}

	test_handshake(sctx, cctx, anon, server_fp, client_fp);
	test_ends(sctx, cctx);
	test_failures(sctx, cctx);
	test_cancelled_send(sctx, cctx);
	test_send_some(sctx, cctx, 1);
	test_send_some(NULL, NULL, 0);
	test_front();
	test_bulk(sctx, cctx, 1);
	test_bulk(NULL, NULL, 0);
	test_s_server(cctx, server_fp);
	test_s_client(sctx, client_fp, 1);
	test_s_client(sctx, client_fp, 0);
	test_tls12(sctx);

	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
	SSL_CTX_free(anon);
	identity_free(&server_id);
	identity_free(&client_id);
	snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
	(void)system(cmd);
	return tap_done();
}
