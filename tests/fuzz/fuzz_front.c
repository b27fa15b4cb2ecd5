/*
 * libFuzzer target for the front door: the input is what a new client
 * sends first.  Its first byte is a control byte and is not sent: bit 0
 * clear, the client shuts its side down for writing after the rest; set,
 * it keeps its side open.  Over a socketpair the server's end then does
 * what a session does: front_classify and, when that says TLS,
 * tls_accept with a real server context.  The oracle, on every input:
 * - front_classify says TLS when the first byte sent is 0x16, PLAIN for
 *   any other byte or for silence on an open connection, GONE for
 *   nothing and the end; it consumes nothing;
 * - tls_accept never succeeds: no input can hold the Finished of a real
 *   client, which takes the keys of one.  It fails with one line in err
 *   and the errno that goes with it, "not TLS" exactly when the second
 *   byte is not 0x03, and leaves OpenSSL's error queue empty;
 * - at the end of what was sent it fails at once, never by its timeout;
 *   on an open connection it returns within its short timeout (and a
 *   margin for a slow machine).
 * LeakSanitizer checks every input for leaks.
 *
 * OpenSSL is not instrumented, so libFuzzer cannot see which of its
 * paths an input takes.  What came of the handshake stands in for them:
 * its error line and the shape of the server's answer each set a counter
 * in the section libFuzzer reads as extra coverage.
 */
#include <sys/socket.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "../../src/ptychat.h"

int LLVMFuzzerInitialize(int *, char ***);
int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define MODE_OPEN	0x01	/* the client keeps its side open */
#define CLASSIFY_MS	1	/* front_classify's wait for a silent client */
#define OPEN_MS		2	/* tls_accept's timeout, connection open */
#define SHUT_MS		10000	/* and after the client's end: never used up */
#define MARGIN_MS	2000	/* a slow or busy machine's extra */
#define PEEK_MAX	16
#define OUTCOMES	512	/* half for err, half for the answer */

static SSL_CTX *ctx;

/* Not static: a store to it must not be optimised away. */
__attribute__((section("__libfuzzer_extra_counters")))
uint8_t fuzz_front_outcome[OUTCOMES];

static void
die(const char *what, const char *why)
{
	fprintf(stderr, "fuzz_front: %s: %s\n", what, why);
	exit(1);
}

/* The server's context, from a key made in a directory removed at once. */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static struct identity	 id;
	const char		*tmp;
	char			 dir[512], key[600], crt[600], err[256];

	(void)argc;
	(void)argv;
	if ((tmp = getenv("TMPDIR")) == NULL || tmp[0] != '/')
		tmp = "/tmp";
	snprintf(dir, sizeof(dir), "%s/fuzz_front.XXXXXX", tmp);
	if (mkdtemp(dir) == NULL)
		die(dir, strerror(errno));
	snprintf(key, sizeof(key), "%s/server.key", dir);
	snprintf(crt, sizeof(crt), "%s/server.crt", dir);
	if (identity_load(&id, key, crt, 1, "fuzz_front", err,
	    sizeof(err)) == -1)
		die("identity_load", err);
	(void)unlink(key);
	(void)unlink(crt);
	(void)rmdir(dir);
	if ((ctx = tls_server_ctx(&id, err, sizeof(err))) == NULL)
		die("tls_server_ctx", err);
	return 0;
}

/* Sends what goes without waiting; returns how much that was. */
static size_t
send_some(int fd, const uint8_t *data, size_t size)
{
	size_t	sent = 0;
	ssize_t	n;

	while (sent < size) {
		n = send(fd, data + sent, size - sent,
		    MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		sent += (size_t)n;
	}
	return sent;
}

static uint32_t
hash(uint32_t h, const void *data, size_t len)
{
	const unsigned char	*p = data;
	size_t			 i;

	for (i = 0; i < len; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

/*
 * Counts what came of a handshake: err, and what the server sent back on
 * fd (its first record's type; the alert it sent or its first message's
 * type; its size to a power of two).
 */
static void
count_outcome(const char *err, int fd)
{
	unsigned char	 answer[8192], shape[3];
	ssize_t		 n;
	size_t		 len;

	fuzz_front_outcome[hash(2166136261u, err, strlen(err)) %
	    (OUTCOMES / 2)] = 1;
	n = recv(fd, answer, sizeof(answer), MSG_DONTWAIT);
	len = n > 0 ? (size_t)n : 0;
	shape[0] = len > 0 ? answer[0] : 0;
	shape[1] = len > 6 && answer[0] == 0x15 ? answer[6] :
	    len > 5 ? answer[5] : 0;
	for (shape[2] = 0; len > 0; len >>= 1)
		shape[2]++;
	fuzz_front_outcome[OUTCOMES / 2 + hash(2166136261u, shape,
	    sizeof(shape)) % (OUTCOMES / 2)] = 1;
}

/* Whether err and errno are a pair tls_accept documents. */
static int
failure_ok(const char *err, int e)
{
	if (err[0] == '\0' || strchr(err, '\n') != NULL)
		return 0;
	if (strcmp(err, "not TLS") == 0)
		return e == EPROTONOSUPPORT;
	if (strcmp(err, "timed out") == 0)
		return e == ETIMEDOUT;
	if (strcmp(err, "peer closed") == 0)
		return e == ECONNRESET;
	/* OpenSSL's reason, or a system call's. */
	return e == EPROTO || strcmp(err, strerror(e)) == 0;
}

static void
check_accept(int fd, int client, const uint8_t *sent, size_t len, int open)
{
	struct timespec	 start, end;
	long long	 took;
	SSL		*ssl;
	char		 err[256];
	int		 timeout, e;

	timeout = open ? OPEN_MS : SHUT_MS;
	err[0] = '\0';
	clock_gettime(CLOCK_MONOTONIC, &start);
	ssl = tls_accept(ctx, fd, timeout, -1, err, sizeof(err));
	e = errno;
	clock_gettime(CLOCK_MONOTONIC, &end);
	took = (long long)(end.tv_sec - start.tv_sec) * 1000 +
	    (end.tv_nsec - start.tv_nsec) / 1000000;
	if (ssl != NULL) {
		fprintf(stderr, "tls_accept succeeded\n");
		abort();
	}
	if (!failure_ok(err, e)) {
		fprintf(stderr, "tls_accept: err \"%s\" with errno %d\n", err,
		    e);
		abort();
	}
	if ((len >= 2 && sent[1] != 0x03) != (strcmp(err, "not TLS") == 0)) {
		fprintf(stderr, "tls_accept: \"%s\" for a second byte of "
		    "0x%02x\n", err, len >= 2 ? sent[1] : 0);
		abort();
	}
	if (ERR_peek_error() != 0) {
		fprintf(stderr, "tls_accept left an error queued\n");
		abort();
	}
	if ((!open && strcmp(err, "timed out") == 0) ||
	    took > timeout + MARGIN_MS) {
		fprintf(stderr, "tls_accept: \"%s\" after %lld ms (%s, "
		    "timeout %d ms)\n", err, took, open ? "open" : "shut",
		    timeout);
		abort();
	}
	count_outcome(err, client);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t	*payload;
	enum front_kind	 kind, want;
	unsigned char	 peek[PEEK_MAX];
	size_t		 len, n;
	ssize_t		 got;
	int		 fds[2], open;

	open = size > 0 && (data[0] & MODE_OPEN) != 0;
	payload = size > 0 ? data + 1 : data;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == -1)
		die("socketpair", strerror(errno));
	/* What does not fit the socket's buffer is not sent: a shorter input. */
	len = send_some(fds[1], payload, size > 0 ? size - 1 : 0);
	if (!open && shutdown(fds[1], SHUT_WR) == -1)
		die("shutdown", strerror(errno));

	kind = front_classify(fds[0], CLASSIFY_MS, -1);
	if (len == 0)
		want = open ? FRONT_PLAIN : FRONT_GONE;
	else
		want = payload[0] == 0x16 ? FRONT_TLS : FRONT_PLAIN;
	if (kind != want) {
		fprintf(stderr, "front_classify: %d for %zu bytes (%s), "
		    "expected %d\n", kind, len, open ? "open" : "shut", want);
		abort();
	}
	n = len < PEEK_MAX ? len : PEEK_MAX;
	if (n > 0) {
		got = recv(fds[0], peek, n, MSG_PEEK | MSG_DONTWAIT);
		if (got != (ssize_t)n || memcmp(peek, payload, n) != 0) {
			fprintf(stderr, "front_classify consumed bytes\n");
			abort();
		}
	}
	if (kind == FRONT_TLS)
		check_accept(fds[0], fds[1], payload, len, open);
	close(fds[0]);
	close(fds[1]);
	return 0;
}
