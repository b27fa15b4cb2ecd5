/*
 * TLS with OpenSSL: the two contexts, handshakes with a deadline, a
 * connection shared by one receiving and one sending thread, and the
 * front door that tells a TLS client from a plain one.
 *
 * Trust is by fingerprint, checked by the caller: neither side has a CA,
 * so both accept any certificate here and the caller compares the peer's
 * key with what it knows.
 *
 * Every byte goes through a BIO of our own over the socket (tls_wire): it
 * sends with MSG_NOSIGNAL, so a vanished peer is never a SIGPIPE; it never
 * blocks, whatever the fd's O_NONBLOCK says; and it keeps the first bytes
 * the peer sent, which tell a peer that does not speak TLS at all.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "ptychat.h"

/* The TLS record types a peer's first record may have: alert, handshake. */
#define TLS_RECORD_ALERT	0x15
#define TLS_RECORD_HANDSHAKE	0x16
#define TLS_RECORD_MAJOR	0x03

/* What a TLS writer waits on when OpenSSL wants to read: briefly, since
 * the receiving thread may take the bytes first. */
#define TLS_WANT_READ_MS	50

/* The state of one tls_wire BIO. */
struct tls_wire {
	int		 fd;
	int		 eof;		/* recv returned 0 */
	unsigned char	 first[2];	/* the first bytes received */
	size_t		 nfirst;
};

static BIO_METHOD	*tls_wire_method;	/* made once, never freed */
static pthread_once_t	 tls_wire_once = PTHREAD_ONCE_INIT;

static int
tls_wire_write(BIO *b, const char *buf, int len)
{
	struct tls_wire	*w = BIO_get_data(b);
	ssize_t		 n;

	BIO_clear_retry_flags(b);
	do
		n = send(w->fd, buf, (size_t)len, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (n == -1 && errno == EINTR);
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
		BIO_set_retry_write(b);
	return (int)n;
}

static int
tls_wire_read(BIO *b, char *buf, int len)
{
	struct tls_wire	*w = BIO_get_data(b);
	ssize_t		 n, i;

	BIO_clear_retry_flags(b);
	do
		n = recv(w->fd, buf, (size_t)len, MSG_DONTWAIT);
	while (n == -1 && errno == EINTR);
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
		BIO_set_retry_read(b);
	else if (n == 0)
		w->eof = 1;
	for (i = 0; i < n && w->nfirst < sizeof(w->first); i++)
		w->first[w->nfirst++] = (unsigned char)buf[i];
	return (int)n;
}

static long
tls_wire_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	struct tls_wire	*w = BIO_get_data(b);

	(void)num;
	switch (cmd) {
	case BIO_CTRL_FLUSH:
		return 1;
	case BIO_CTRL_EOF:
		return w->eof;
	case BIO_C_GET_FD:
		if (ptr != NULL)
			*(int *)ptr = w->fd;
		return w->fd;
	default:
		return 0;
	}
}

static int
tls_wire_destroy(BIO *b)
{
	free(BIO_get_data(b));
	BIO_set_data(b, NULL);
	BIO_set_init(b, 0);
	return 1;
}

static void
tls_wire_make_method(void)
{
	BIO_METHOD *m;

	m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK |
	    BIO_TYPE_DESCRIPTOR, "ptychat socket");
	if (m == NULL)
		return;
	if (!BIO_meth_set_write(m, tls_wire_write) ||
	    !BIO_meth_set_read(m, tls_wire_read) ||
	    !BIO_meth_set_ctrl(m, tls_wire_ctrl) ||
	    !BIO_meth_set_destroy(m, tls_wire_destroy)) {
		BIO_meth_free(m);
		return;
	}
	tls_wire_method = m;
}

/* A tls_wire BIO on fd; NULL when out of memory. */
static BIO *
tls_wire_new(int fd)
{
	struct tls_wire	*w;
	BIO		*b;

	pthread_once(&tls_wire_once, tls_wire_make_method);
	if (tls_wire_method == NULL)
		return NULL;
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return NULL;
	if ((b = BIO_new(tls_wire_method)) == NULL) {
		free(w);
		return NULL;
	}
	w->fd = fd;
	BIO_set_data(b, w);
	BIO_set_init(b, 1);
	return b;
}

static struct tls_wire *
tls_wire_of(SSL *ssl)
{
	return BIO_get_data(SSL_get_rbio(ssl));
}

/* The first bytes of the peer's are there, and are no TLS record's. */
static int
tls_wire_not_tls(const struct tls_wire *w)
{
	if (w->nfirst >= 1 && w->first[0] != TLS_RECORD_HANDSHAKE &&
	    w->first[0] != TLS_RECORD_ALERT)
		return 1;
	return w->nfirst >= 2 && w->first[1] != TLS_RECORD_MAJOR;
}

/* Trust is by fingerprint, checked by the caller: any certificate will do. */
static int
tls_verify_any(int preverify_ok, X509_STORE_CTX *store)
{
	(void)preverify_ok;
	(void)store;
	return 1;
}

/* A TLS 1.3 context presenting id's key and certificate (id NULL: none). */
static SSL_CTX *
tls_ctx(const SSL_METHOD *method, const struct identity *id, char *err,
    size_t errlen)
{
	static const unsigned char sid[] = "ptychat";
	SSL_CTX *ctx;

	ERR_clear_error();
	if ((ctx = SSL_CTX_new(method)) == NULL) {
		identity_ssl_error(err, errlen, "SSL_CTX_new");
		return NULL;
	}
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION)) {
		identity_ssl_error(err, errlen, "TLS 1.3");
		goto fail;
	}
	/* No resumption: every connection shows its key afresh. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	/*
	 * A peer's EOF without close_notify ends its side like close_notify
	 * (both are the end of a chat, and the conversation may go on the
	 * other way), not as a fatal error.
	 */
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET |
	    SSL_OP_IGNORE_UNEXPECTED_EOF);
	(void)SSL_CTX_set_num_tickets(ctx, 0);
	(void)SSL_CTX_set_session_id_context(ctx, sid, sizeof(sid) - 1);
	/* Idle buffers go back: 18 KB a connection instead of 51. */
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
	/* On the server this asks for the client's certificate. */
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, tls_verify_any);
	if (id != NULL && id->cert != NULL) {
		if (!SSL_CTX_use_certificate(ctx, id->cert)) {
			identity_ssl_error(err, errlen, "certificate");
			goto fail;
		}
		if (!SSL_CTX_use_PrivateKey(ctx, id->key) ||
		    !SSL_CTX_check_private_key(ctx)) {
			identity_ssl_error(err, errlen, "key");
			goto fail;
		}
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

/*
 * The server's context: TLS 1.3, our key and certificate, and a request
 * for the client's (any, or none, is accepted).  NULL with err on failure.
 */
SSL_CTX *
tls_server_ctx(const struct identity *id, char *err, size_t errlen)
{
	return tls_ctx(TLS_server_method(), id, err, errlen);
}

/* The client's context: TLS 1.3, presenting id.  NULL with err on failure. */
SSL_CTX *
tls_client_ctx(const struct identity *id, char *err, size_t errlen)
{
	return tls_ctx(TLS_client_method(), id, err, errlen);
}

/*
 * Says in err (and errno) why a handshake stopped: ssl_error is
 * SSL_get_error's verdict, saved_errno errno just after the call.
 */
static void
tls_handshake_failed(SSL *ssl, int ssl_error, int saved_errno, char *err,
    size_t errlen)
{
	const struct tls_wire	*w = tls_wire_of(ssl);
	const char		*reason;
	unsigned long		 e;

	e = ERR_peek_error();
	if (tls_wire_not_tls(w)) {
		snprintf(err, errlen, "not TLS");
		errno = EPROTONOSUPPORT;
	} else if (ssl_error == SSL_ERROR_SSL && e != 0 &&
	    ERR_GET_REASON(e) != SSL_R_UNEXPECTED_EOF_WHILE_READING) {
		reason = ERR_reason_error_string(e);
		/* What the other side's alert means to the operator. */
		if (ERR_GET_REASON(e) == SSL_R_SSLV3_ALERT_BAD_CERTIFICATE)
			snprintf(err, errlen, "the peer refused our key (%s)",
			    reason != NULL ? reason : "bad certificate");
		else
			snprintf(err, errlen, "%s", reason != NULL ? reason :
			    "TLS handshake failed");
		errno = EPROTO;
	} else if (ssl_error == SSL_ERROR_SYSCALL && saved_errno != 0 &&
	    !w->eof) {
		snprintf(err, errlen, "%s", strerror(saved_errno));
		errno = saved_errno;
	} else {
		snprintf(err, errlen, "peer closed");
		errno = ECONNRESET;
	}
	ERR_clear_error();
}

/*
 * Runs the handshake on fd, as the server (accept) or the client, for up
 * to timeout_ms (<0: no limit) or until cancel polls readable.  Returns
 * the SSL, or NULL with err and errno (ETIMEDOUT, ECANCELED,
 * EPROTONOSUPPORT for "not TLS", ECONNRESET for "peer closed", EPROTO).
 */
static SSL *
tls_handshake(SSL_CTX *ctx, int fd, int accept, int timeout_ms, int cancel,
    char *err, size_t errlen)
{
	struct pollfd	 pfd[2];
	long long	 deadline, left;
	BIO		*bio;
	SSL		*ssl;
	int		 r, e, saved_errno;

	deadline = timeout_ms < 0 ? -1 : io_clock_ms() + timeout_ms;
	ERR_clear_error();
	if ((ssl = SSL_new(ctx)) == NULL) {
		identity_ssl_error(err, errlen, "SSL_new");
		errno = ENOMEM;
		return NULL;
	}
	if ((bio = tls_wire_new(fd)) == NULL) {
		SSL_free(ssl);
		snprintf(err, errlen, "%s", strerror(ENOMEM));
		errno = ENOMEM;
		return NULL;
	}
	SSL_set_bio(ssl, bio, bio);
	if (accept)
		SSL_set_accept_state(ssl);
	else
		SSL_set_connect_state(ssl);
	for (;;) {
		ERR_clear_error();
		errno = 0;
		r = SSL_do_handshake(ssl);
		saved_errno = errno;
		if (r == 1)
			return ssl;
		e = SSL_get_error(ssl, r);
		if ((e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) ||
		    tls_wire_not_tls(tls_wire_of(ssl))) {
			tls_handshake_failed(ssl, e, saved_errno, err, errlen);
			break;
		}
		left = deadline == -1 ? -1 : deadline - io_clock_ms();
		if (deadline != -1 && left <= 0) {
			snprintf(err, errlen, "timed out");
			errno = ETIMEDOUT;
			break;
		}
		pfd[0].fd = fd;
		pfd[0].events = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
		pfd[1].fd = cancel;
		pfd[1].events = POLLIN;
		r = poll(pfd, 2, left > INT_MAX ? INT_MAX : (int)left);
		if (r == -1 && errno != EINTR) {
			snprintf(err, errlen, "poll: %s", strerror(errno));
			break;
		}
		if (r > 0 && pfd[1].revents != 0) {
			snprintf(err, errlen, "cancelled");
			errno = ECANCELED;
			break;
		}
	}
	saved_errno = errno;
	SSL_free(ssl);
	ERR_clear_error();
	errno = saved_errno;
	return NULL;
}

/* The server's handshake; see tls_handshake. */
SSL *
tls_accept(SSL_CTX *ctx, int fd, int timeout_ms, int cancel, char *err,
    size_t errlen)
{
	return tls_handshake(ctx, fd, 1, timeout_ms, cancel, err, errlen);
}

/* The client's handshake; see tls_handshake. */
SSL *
tls_connect(SSL_CTX *ctx, int fd, int timeout_ms, int cancel, char *err,
    size_t errlen)
{
	return tls_handshake(ctx, fd, 0, timeout_ms, cancel, err, errlen);
}

/* The peer's key: 0 with its fingerprint, or -1 when it sent no certificate. */
int
tls_peer_fingerprint(SSL *ssl, char out[FINGERPRINT_MAX])
{
	X509 *cert;

	if ((cert = SSL_get0_peer_certificate(ssl)) == NULL)
		return -1;
	return identity_fingerprint(cert, out);
}

/*
 * Frees what OpenSSL keeps for the calling thread (its error queue, its
 * random generators).  OpenSSL frees it as the thread exits, but a
 * detached thread may still be exiting when the program does.
 */
void
tls_thread_done(void)
{
	OPENSSL_thread_stop();
}

/* Starts a connection on fd: TLS through ssl, or plain when ssl is NULL. */
void
conn_init(struct conn *c, int fd, SSL *ssl)
{
	c->fd = fd;
	c->ssl = ssl;
	pthread_mutex_init(&c->lock, NULL);
	c->recv_wants = POLLIN;
	c->broken = 0;
	if (ssl == NULL)
		return;
	SSL_set_mode(ssl, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/*
	 * One recv takes whatever records have come, not a header and
	 * then a body: half the receiving system calls.  Every reader
	 * calls conn_recv until EAGAIN before it polls, so records read
	 * ahead are never left waiting.
	 */
	SSL_set_read_ahead(ssl, 1);
}

/*
 * Maps a failed SSL_read or SSL_write to errno (EAGAIN with *wants set
 * when it should be called again) and empties the error queue.  Called
 * with c->lock held.
 */
static void
conn_tls_error(struct conn *c, int r, int saved_errno, short *wants)
{
	int e;

	e = SSL_get_error(c->ssl, r);
	switch (e) {
	case SSL_ERROR_WANT_READ:
		*wants = POLLIN;
		errno = EAGAIN;
		break;
	case SSL_ERROR_WANT_WRITE:
		*wants = POLLOUT;
		errno = EAGAIN;
		break;
	case SSL_ERROR_ZERO_RETURN:
		errno = EPIPE;
		break;
	case SSL_ERROR_SYSCALL:
		c->broken = 1;
		errno = saved_errno != 0 ? saved_errno : EPIPE;
		break;
	default:
		c->broken = 1;
		errno = EPROTO;
		break;
	}
	ERR_clear_error();
}

/*
 * Receives without waiting: >0 bytes, 0 at the peer's end (close_notify
 * or EOF), or -1 with errno (EAGAIN: poll for c->recv_wants).
 */
ssize_t
conn_recv(struct conn *c, void *buf, size_t len)
{
	ssize_t	n;
	int	r, e, saved_errno;
	short	wants = POLLIN;

	if (c->ssl == NULL) {
		do
			n = recv(c->fd, buf, len, MSG_DONTWAIT);
		while (n == -1 && errno == EINTR);
		return n;
	}
	if (len > INT_MAX)
		len = INT_MAX;
	pthread_mutex_lock(&c->lock);
	ERR_clear_error();
	errno = 0;
	r = SSL_read(c->ssl, buf, (int)len);
	saved_errno = errno;
	if (r > 0) {
		pthread_mutex_unlock(&c->lock);
		return r;
	}
	e = SSL_get_error(c->ssl, r);
	if (e == SSL_ERROR_ZERO_RETURN ||
	    (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE &&
	    tls_wire_of(c->ssl)->eof)) {
		/* The peer's close_notify, or its EOF without one. */
		ERR_clear_error();
		pthread_mutex_unlock(&c->lock);
		return 0;
	}
	conn_tls_error(c, r, saved_errno, &wants);
	saved_errno = errno;
	c->recv_wants = wants;
	pthread_mutex_unlock(&c->lock);
	errno = saved_errno;
	return -1;
}

/*
 * One SSL_write of up to len bytes: >0 sent, or -1 with errno (EAGAIN
 * with *wants).  A connection left with a record half sent, or after a
 * fatal error, refuses with EPIPE: OpenSSL would finish that record with
 * the next bytes given in place of the ones it holds.
 */
static ssize_t
conn_tls_write(struct conn *c, const void *buf, size_t len, short *wants)
{
	int	r, saved_errno;

	if (len > INT_MAX)
		len = INT_MAX;
	pthread_mutex_lock(&c->lock);
	if (c->broken) {
		pthread_mutex_unlock(&c->lock);
		errno = EPIPE;
		return -1;
	}
	ERR_clear_error();
	errno = 0;
	r = SSL_write(c->ssl, buf, (int)len);
	saved_errno = errno;
	if (r <= 0) {
		conn_tls_error(c, r, saved_errno, wants);
		saved_errno = errno;
	}
	pthread_mutex_unlock(&c->lock);
	errno = saved_errno;
	return r > 0 ? r : -1;
}

/* Marks c as having given up on a record OpenSSL holds half sent. */
static void
conn_abandon(struct conn *c)
{
	int saved_errno = errno;

	pthread_mutex_lock(&c->lock);
	c->broken = 1;
	pthread_mutex_unlock(&c->lock);
	errno = saved_errno;
}

/*
 * Sends all of buf, waiting with poll as needed.  Returns 0, or -1 with
 * errno (ECANCELED when cancel polled readable).
 */
int
conn_send_until(struct conn *c, const void *buf, size_t len, int cancel)
{
	struct pollfd	 pfd[2];
	const char	*p = buf;
	ssize_t		 n;
	short		 wants = POLLOUT;

	if (c->ssl == NULL)
		return io_send_until(c->fd, buf, len, cancel);
	while (len > 0) {
		if ((n = conn_tls_write(c, p, len, &wants)) > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (errno != EAGAIN)
			return -1;
		pfd[0].fd = c->fd;
		pfd[0].events = wants;
		pfd[1].fd = cancel;
		pfd[1].events = POLLIN;
		if (poll(pfd, 2, wants == POLLIN ? TLS_WANT_READ_MS : -1) ==
		    -1 && errno != EINTR) {
			conn_abandon(c);
			return -1;
		}
		if (pfd[1].revents != 0) {
			if (wants == POLLOUT)
				conn_abandon(c);
			errno = ECANCELED;
			return -1;
		}
	}
	return 0;
}

/*
 * Sends what goes without waiting, for a last line before a close.
 * Returns the bytes sent, or -1 with errno.  Over TLS, a record that
 * does not go whole ends what this connection can send.
 */
ssize_t
conn_send_now(struct conn *c, const void *buf, size_t len)
{
	const char	*p = buf;
	size_t		 sent = 0;
	ssize_t		 n;
	short		 wants = POLLOUT;

	if (c->ssl == NULL) {
		do
			n = send(c->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		while (n == -1 && errno == EINTR);
		return n;
	}
	while (sent < len) {
		n = conn_tls_write(c, p + sent, len - sent, &wants);
		if (n <= 0) {
			if (errno == EAGAIN)
				conn_abandon(c);
			if (sent > 0)
				break;
			return -1;
		}
		sent += (size_t)n;
	}
	return (ssize_t)sent;
}

/*
 * Sends what goes without waiting.  Returns the bytes sent (0 when none
 * would go), or -1 with errno.  Unlike conn_send_now, a TLS record left
 * half sent stays OpenSSL's to finish: conn_send_until with the bytes
 * not yet counted as sent (the same bytes first) goes on from there.
 */
ssize_t
conn_send_some(struct conn *c, const void *buf, size_t len)
{
	const char	*p = buf;
	size_t		 sent = 0;
	ssize_t		 n;
	short		 wants;

	while (sent < len) {
		if (c->ssl == NULL) {
			do
				n = send(c->fd, p + sent, len - sent,
				    MSG_NOSIGNAL | MSG_DONTWAIT);
			while (n == -1 && errno == EINTR);
		} else
			n = conn_tls_write(c, p + sent, len - sent, &wants);
		if (n > 0) {
			sent += (size_t)n;
			continue;
		}
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			break;
		return -1;
	}
	return (ssize_t)sent;
}

/* Sends TLS close_notify without waiting; nothing for a plain connection. */
void
conn_close_notify(struct conn *c)
{
	int saved_errno = errno;

	if (c->ssl == NULL)
		return;
	pthread_mutex_lock(&c->lock);
	if (!c->broken) {
		ERR_clear_error();
		if (SSL_shutdown(c->ssl) < 0)
			c->broken = 1;
		ERR_clear_error();
	}
	pthread_mutex_unlock(&c->lock);
	errno = saved_errno;
}

/* Frees the TLS state; the fd stays open, the caller's to close. */
void
conn_free(struct conn *c)
{
	SSL_free(c->ssl);
	c->ssl = NULL;
	pthread_mutex_destroy(&c->lock);
}

/*
 * Tells what a new connection opens with, consuming nothing: 0x16 (a TLS
 * handshake record) is TLS; any other byte, or none for wait_ms, is
 * plain; its end, or cancel polling readable, before a byte is GONE.
 */
enum front_kind
front_classify(int fd, int wait_ms, int cancel)
{
	struct pollfd	 pfd[2];
	unsigned char	 first;
	long long	 deadline, left;
	ssize_t		 n;
	int		 r;

	deadline = io_clock_ms() + wait_ms;
	for (;;) {
		n = recv(fd, &first, 1, MSG_PEEK | MSG_DONTWAIT);
		if (n == 1)
			return first == TLS_RECORD_HANDSHAKE ? FRONT_TLS :
			    FRONT_PLAIN;
		if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK &&
		    errno != EINTR))
			return FRONT_GONE;
		if ((left = deadline - io_clock_ms()) <= 0)
			return FRONT_PLAIN;
		pfd[0].fd = fd;
		pfd[0].events = POLLIN;
		pfd[1].fd = cancel;
		pfd[1].events = POLLIN;
		r = poll(pfd, 2, left > INT_MAX ? INT_MAX : (int)left);
		if (r == -1 && errno != EINTR)
			return FRONT_GONE;
		if (r > 0 && pfd[1].revents != 0)
			return FRONT_GONE;
	}
}
