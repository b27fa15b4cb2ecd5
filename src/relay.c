/*
 * The two relay threads of a session.
 *
 * socket -> window: what the client says is sanitised and written to our
 * end of the session pty, where the window shows it.
 * window -> socket: each line the operator types in the window (a
 * terminal in canonical mode edits it) is sent to this client only.
 *
 * Neither thread queues: a slow window holds back its client through TCP,
 * and a slow client holds back its window's typing.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ptychat.h"

/* One recv's worth; a pty moves a few KiB at a time anyway. */
#define RELAY_CHUNK	16384

/* Tells the window, and the log, that the client is gone. */
static void
relay_client_gone(struct session *s, const char *why)
{
	if (atomic_exchange(&s->client_gone, 1))
		return;
	log_info("session %lu %s: client gone (%s)", s->number,
	    s->peer.label, why);
	transcript_event(s->transcript, "client gone (%s)", why);
	session_say(s, "*** %s: the client is gone (%s). "
	    "Close this window. ***", s->peer.label, why);
}

/*
 * Ends a conversation that has been silent both ways for too long.  The
 * window stays, with a notice, until the operator closes it.
 */
static void
relay_idle_close(struct session *s)
{
	char line[128];
	unsigned idle = s->config->idle_timeout;

	if (atomic_exchange(&s->client_gone, 1))
		return;
	log_info("session %lu %s: idle for %u s; disconnecting", s->number,
	    s->peer.label, idle);
	transcript_event(s->transcript, "idle for %u s; disconnected", idle);
	snprintf(line, sizeof line, "ptychatd: idle for %u seconds; "
	    "disconnecting\n", idle);
	(void)send(s->sock, line, strlen(line), MSG_NOSIGNAL | MSG_DONTWAIT);
	(void)shutdown(s->sock, SHUT_RDWR);
	session_say(s, "*** %s: disconnected after %u seconds without a word "
	    "either way. Close this window. ***", s->peer.label, idle);
}

/*
 * Returns how long poll may wait before the idle limit is due, in ms:
 * -1 when there is no limit, 0 when it is due now.
 */
static int
relay_idle_wait(struct session *s)
{
	long long due;

	if (s->config->idle_timeout == 0 || atomic_load(&s->client_gone))
		return -1;
	due = atomic_load(&s->last_active) + s->config->idle_timeout -
	    session_now();
	return due <= 0 ? 0 : (int)(due * 1000);
}

void *
relay_socket_to_window(void *arg)
{
	struct session *s = arg;
	struct sanitizer san;
	struct pollfd pfd[2];
	char *in, *out;
	size_t outlen;
	ssize_t n;

	in = malloc(RELAY_CHUNK);
	out = malloc(SANITIZE_OUT_MAX(RELAY_CHUNK));
	if (in == NULL || out == NULL) {
		session_say(s, "*** ptychat: out of memory; not reading "
		    "from this client ***");
		goto done;
	}
	sanitize_init(&san);
	pfd[0].fd = s->sock;
	pfd[0].events = POLLIN;
	pfd[1].fd = s->config->stopfd;
	pfd[1].events = POLLIN;
	for (;;) {
		if (poll(pfd, 2, -1) == -1) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd[1].revents != 0)
			break;
		n = recv(s->sock, in, RELAY_CHUNK, MSG_DONTWAIT);
		if (n > 0) {
			atomic_store(&s->last_active, session_now());
			outlen = sanitize_feed(&san, in, (size_t)n, out);
			transcript_write(s->transcript, '<', out, outlen);
			if (io_write_until(s->tty, out, outlen,
			    s->config->stopfd) == -1)
				break;
			continue;
		}
		if (n == -1 && (errno == EINTR || errno == EAGAIN))
			continue;
		/* After a closed window or an idle cut-off, say nothing. */
		if (atomic_load(&s->window_closed) ||
		    atomic_load(&s->client_gone))
			break;
		outlen = sanitize_finish(&san, out);
		transcript_write(s->transcript, '<', out, outlen);
		(void)io_write_until(s->tty, out, outlen, s->config->stopfd);
		if (n == 0) {
			atomic_store(&s->client_eof, 1);
			log_info("session %lu %s: client closed its side",
			    s->number, s->peer.label);
			transcript_event(s->transcript, "client closed its "
			    "side");
			session_say(s, "*** %s closed its side of the "
			    "connection. What you type is still sent while it "
			    "is accepted. ***", s->peer.label);
		} else {
			atomic_store(&s->client_eof, 1);
			relay_client_gone(s, strerror(errno));
		}
		break;
	}
done:
	free(in);
	free(out);
	session_release(s);
	return NULL;
}

/* Records a line the operator sent, sanitised like the client's. */
static void
relay_record_sent(struct session *s, const char *line, size_t len)
{
	char out[SANITIZE_OUT_MAX(4096)];
	struct sanitizer san;
	size_t n;

	if (s->transcript == NULL)
		return;
	sanitize_init(&san);
	n = sanitize_feed(&san, line, len, out);
	n += sanitize_finish(&san, out + n);
	transcript_write(s->transcript, '>', out, n);
}

void
relay_window_to_socket(struct session *s)
{
	struct pollfd pfd[3];
	char buf[4096];
	nfds_t nfds;
	ssize_t n;
	int wait_ms, ready;

	pfd[0].fd = s->tty;
	pfd[0].events = POLLIN;
	pfd[1].fd = s->config->stopfd;
	pfd[1].events = POLLIN;
	pfd[2].fd = s->sock;
	pfd[2].events = 0;
	for (;;) {
		/*
		 * Once the other relay has stopped reading (the client's EOF),
		 * a reset shows only here.  Before that, the other relay
		 * reports it, after what the client sent before it.
		 */
		nfds = atomic_load(&s->client_eof) &&
		    !atomic_load(&s->client_gone) ? 3 : 2;
		wait_ms = relay_idle_wait(s);
		if ((ready = poll(pfd, nfds, wait_ms)) == -1) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (ready == 0) {
			/* The other relay may have seen a byte meanwhile. */
			if (relay_idle_wait(s) == 0)
				relay_idle_close(s);
			continue;
		}
		if (pfd[1].revents != 0)
			return;
		if (nfds == 3 && (pfd[2].revents & (POLLHUP | POLLERR)))
			relay_client_gone(s, "connection lost");
		if (pfd[0].revents == 0)
			continue;
		n = read(s->tty, buf, sizeof buf);
		if (n == -1 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			break;
		if (atomic_load(&s->client_gone)) {
			session_say(s, "*** not sent: the client is gone ***");
			continue;
		}
		atomic_store(&s->last_active, session_now());
		relay_record_sent(s, buf, (size_t)n);
		if (io_send_until(s->sock, buf, (size_t)n,
		    s->config->stopfd) == -1) {
			if (errno == ECANCELED)
				return;
			relay_client_gone(s, strerror(errno));
			session_say(s, "*** that line was not delivered ***");
		}
	}

	/* read() gave 0 or EIO: nothing holds the master any more. */
	atomic_store(&s->window_closed, 1);
	log_info("session %lu %s: window closed; disconnecting", s->number,
	    s->peer.label);
	transcript_event(s->transcript, "window closed; client disconnected");
	/* Wakes the other relay, and the client sees end of file. */
	(void)shutdown(s->sock, SHUT_RDWR);
}
