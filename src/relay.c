/*
 * The two relay threads of a session.
 *
 * socket -> window: what the client says is sanitised and shown in the
 * window (window.c).
 * window -> socket: each line the operator finishes in the window is sent
 * to this client and no other.
 *
 * Neither thread queues: a slow window holds back its client through TCP,
 * and a slow client holds back its window's typing.
 *
 * Each direction of the socket has one owner: this thread reads it, the
 * window -> socket thread writes it, both through the session's conn
 * (plain or TLS, tls.c).  What others want sent (console
 * lines, telnet replies) waits in the session's outbox for the writer.
 * Every wait polls the session's hangup fd, so a kick or a server stop
 * ends a session that a stuck window or a silent client holds up.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ptychat.h"

/*
 * One recv's worth.  8 KiB measured faster than 16 (68 to 94 MB/s into a
 * window, make bench): each chunk is one pty write, and smaller bursts
 * overlap better with the window reading on the other core.
 */
#define RELAY_CHUNK	8192

/*
 * The most one read of a pty gives: its line discipline's buffer.  A
 * read that gives this much has more behind it, most likely.
 */
#define RELAY_PTY_READ	4096
/* Keys read before they are edited, echoed and sent as one batch. */
#define RELAY_KEYS_MAX	(4 * RELAY_PTY_READ)

/*
 * How long the echo of a line sent whole waits (more than 1 ms, at most
 * 2) for the client's next words, so that one write to the window draws
 * both: a client that answers at once then costs the window one wake-up,
 * not two (round trip p50 109 -> 76 us, make bench).  Far below what an
 * eye sees; typing is echoed at once, as are a paste, a stream of lines
 * and the line of a stuck client.
 */
#define RELAY_ECHO_WAIT_MS	2
/*
 * The most keys whose echo waits so.  More is a paste or a stream of
 * lines, echoed at once: 2 ms of its echo held back and then written
 * whole blocked on the full pty (window->client 74 -> 46 MB/s).
 */
#define RELAY_ECHO_HOLD_MAX	512

/* Asks the window relay to look at the session's state again. */
void
relay_wake(struct session *s)
{
	uint64_t one = 1;

	(void)write(s->wake, &one, sizeof one);
}

/* Names the slots of the writer's poll set. */
enum {
	RELAY_POLL_PTY,		/* keys from the window */
	RELAY_POLL_HANGUP,	/* the session is cut from outside */
	RELAY_POLL_WAKE,	/* the doorbell: outbox, state */
	RELAY_POLL_SOCK,	/* the client's hang-up, once nobody reads */
	RELAY_POLL_MAX
};

/* Tells the window, and the log, that the client is gone. */
static void
relay_client_gone(struct session *s, const char *why)
{
	if (!session_move(s, SESSION_CLIENT_GONE))
		return;
	log_info("session %lu %s: client gone (%s)", s->number,
	    s->peer.label, why);
	transcript_event(s->transcript, "client gone (%s)", why);
	window_note(s, "*** %s: the client is gone (%s). Close this window. "
	    "***", s->peer.label, why);
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

	if (!session_move(s, SESSION_CLIENT_GONE))
		return;
	log_info("session %lu %s: idle for %u s; disconnecting", s->number,
	    s->peer.label, idle);
	transcript_event(s->transcript, "idle for %u s; disconnected", idle);
	snprintf(line, sizeof line, "ptychatd: idle for %u seconds; "
	    "disconnecting\n", idle);
	(void)conn_send_now(&s->conn, line, strlen(line));
	conn_close_notify(&s->conn);
	(void)shutdown(s->sock, SHUT_RDWR);
	window_note(s, "*** %s: disconnected after %u seconds without a word "
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

	if (s->config->idle_timeout == 0 ||
	    session_state(s) == SESSION_CLIENT_GONE)
		return -1;
	/* One more ms: both readings are cut to whole ms, so the limit is
	 * never reached early. */
	due = atomic_load(&s->last_active_ms) +
	    s->config->idle_timeout * 1000LL + 1 - io_clock_ms();
	return due <= 0 ? 0 : due > INT_MAX ? INT_MAX : (int)due;
}

/* Says in the window and the log that the client stopped sending. */
static void
relay_client_eof(struct session *s)
{
	if (!session_move(s, SESSION_CLIENT_DONE))
		return;
	log_info("session %lu %s: client closed its side", s->number,
	    s->peer.label);
	transcript_event(s->transcript, "client closed its side");
	window_note(s, "*** %s closed its side of the connection. What you "
	    "type is still sent while it is accepted. ***", s->peer.label);
}

/*
 * Shows len bytes from the client, in in, which it may overwrite: telnet
 * commands (unless --binary) are taken out and answered, and each
 * interrupt or break shows as a notice in its place.  Returns -1 once the
 * window is gone.
 */
static int
relay_show(struct session *s, struct telnet *tn, struct sanitizer *san,
    char *in, size_t len, char *out)
{
	enum telnet_event ev = TELNET_NONE;
	size_t used, datalen, outlen;
	const char *text;

	do {
		if (s->config->binary)
			used = datalen = len;
		else
			used = telnet_feed(tn, in, len, in, &datalen, &ev);
		/* Plain text, the most of it, is shown as it came: no copy. */
		if (sanitize_clean(san, in, datalen) == datalen) {
			text = in;
			outlen = datalen;
		} else {
			text = out;
			outlen = sanitize_feed(san, in, datalen, out);
		}
		transcript_write(s->transcript, '<', text, outlen);
		if (window_peer(s, text, outlen) == -1)
			return -1;
		/*
		 * After the data before it (a timing mark says that is done),
		 * and before the notice, so that a reply the operator types
		 * on seeing it goes after the mark: telnet throws away what
		 * comes before.
		 */
		if (tn->replylen > 0)
			(void)session_reply(s, tn->reply, tn->replylen);
		tn->replylen = 0;
		if (ev != TELNET_NONE) {
			transcript_event(s->transcript, "the client sent %s",
			    telnet_event_text(ev));
			window_note(s, "*** the client sent %s ***",
			    telnet_event_text(ev));
		}
		in += used;
		len -= used;
	} while (len > 0);
	return 0;
}

void *
relay_socket_to_window(void *arg)
{
	struct session *s = arg;
	struct sanitizer san;
	struct telnet tn;
	struct pollfd pfd[2];
	char *in, *out;
	size_t outlen, i, chunk;
	ssize_t n;

	in = malloc(RELAY_CHUNK);
	out = malloc(SANITIZE_OUT_MAX(RELAY_CHUNK));
	if (in == NULL || out == NULL) {
		window_note(s, "*** ptychat: out of memory; not reading from "
		    "this client ***");
		goto done;
	}
	sanitize_init(&san);
	telnet_init(&tn);
	/* What the client sent while it waited in the lobby comes first. */
	for (i = 0; i < s->kept_len; i += chunk) {
		chunk = s->kept_len - i < RELAY_CHUNK ? s->kept_len - i :
		    RELAY_CHUNK;
		memcpy(in, s->kept + i, chunk);
		if (relay_show(s, &tn, &san, in, chunk, out) == -1)
			goto done;
	}
	pfd[0].fd = s->sock;
	pfd[1].fd = s->hangup;
	pfd[1].events = POLLIN;
	for (;;) {
		/* Poll only once it runs dry: TLS may hold bytes read. */
		n = conn_recv(&s->conn, in, RELAY_CHUNK);
		if (n > 0) {
			atomic_store(&s->last_active_ms, io_clock_ms());
			atomic_fetch_add(&s->bytes_in, (unsigned long long)n);
			if (relay_show(s, &tn, &san, in, (size_t)n,
			    out) == -1 || session_ending(s))
				break;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN) {
			pfd[0].events = s->conn.recv_wants;
			if (poll(pfd, 2, -1) == -1 && errno != EINTR)
				break;
			if (pfd[1].revents != 0)
				break;
			continue;
		}
		/* After a closed window, a kick or an idle cut-off: quiet. */
		if (session_ending(s) ||
		    session_state(s) == SESSION_CLIENT_GONE)
			break;
		outlen = sanitize_finish(&san, out);
		transcript_write(s->transcript, '<', out, outlen);
		(void)window_peer(s, out, outlen);
		if (n == 0)
			relay_client_eof(s);
		else
			relay_client_gone(s, strerror(errno));
		break;
	}
done:
	/* From now on, the window relay watches the socket. */
	atomic_store(&s->reader_stopped, 1);
	relay_wake(s);
	free(in);
	free(out);
	session_release(s);
	return NULL;
}

/*
 * Sends lines the operator finished; notes what could not be sent.  With
 * echo, the window's echo of them (held back by window_keys) stays held
 * when the lines went whole at once, for the caller to write within
 * RELAY_ECHO_WAIT_MS unless the client's next words take it along first;
 * when the client's socket took only part, it is written before waiting
 * for the rest, so a client that reads nothing never holds it back.
 */
static int
relay_send(struct session *s, const char *lines, size_t len, int echo)
{
	char out[SANITIZE_OUT_MAX(1024)];
	struct sanitizer san;
	size_t i, chunk;
	ssize_t sent = 0;
	int saved;

	if (session_state(s) == SESSION_CLIENT_GONE) {
		if (echo)
			(void)chatline_flush_held(&s->chat);
		window_note(s, "*** not sent: the client is gone ***");
		return 0;
	}
	atomic_store(&s->last_active_ms, io_clock_ms());
	/* The transcript keeps the line as the client will see it. */
	sanitize_init(&san);
	for (i = 0; s->transcript != NULL && i < len; i += chunk) {
		chunk = len - i < 1024 ? len - i : 1024;
		transcript_write(s->transcript, '>', out,
		    sanitize_feed(&san, lines + i, chunk, out));
	}
	if (echo) {
		sent = conn_send_some(&s->conn, lines, len);
		saved = errno;
		if (sent != (ssize_t)len)
			(void)chatline_flush_held(&s->chat);
		errno = saved;
	}
	if (sent == -1 || ((size_t)sent < len && conn_send_until(&s->conn,
	    lines + sent, len - (size_t)sent, s->hangup) == -1)) {
		if (errno == ECANCELED)
			return -1;
		relay_client_gone(s, strerror(errno));
		window_note(s, "*** that line was not delivered ***");
		return 0;
	}
	atomic_fetch_add(&s->bytes_out, (unsigned long long)len);
	return 0;
}

/*
 * Sends what waits in the outbox, in order, each message whole, and
 * gives each console line its verdict.  Returns -1 once the session is
 * cut, 0 otherwise.
 */
static int
relay_send_outbox(struct session *s)
{
	struct outbox_msg *m;
	const char *why;
	char line[256];
	size_t len;
	int console;

	while ((m = outbox_take(&s->outbox)) != NULL) {
		if (session_ending(s)) {
			session_report(s, m, 0, "the session ended");
			return -1;
		}
		/* Each verdict before any note: a stuck window may hold up
		 * the note, and must not hold up the console. */
		console = m->kind == OUTBOX_CONSOLE;
		if (session_state(s) == SESSION_CLIENT_GONE) {
			session_report(s, m, 0, "the client is gone");
			if (console)
				window_note(s, "*** the console's line was "
				    "not sent: the client is gone ***");
			continue;
		}
		if (conn_send_until(&s->conn, m->data, m->len,
		    s->hangup) == -1) {
			if (errno == ECANCELED) {
				session_report(s, m, 0, "the session ended");
				return -1;
			}
			why = strerror(errno);
			session_report(s, m, 0, "the connection failed");
			relay_client_gone(s, why);
			continue;
		}
		atomic_fetch_add(&s->bytes_out, (unsigned long long)m->len);
		if (!console) {
			free(m);
			continue;
		}
		atomic_store(&s->last_active_ms, io_clock_ms());
		transcript_event(s->transcript, "sent from the console: %.*s",
		    (int)strcspn(m->data, "\n"), m->data);
		len = strcspn(m->data, "\n");
		memcpy(line, m->data, len < sizeof line ? len : sizeof line);
		session_report(s, m, 1, NULL);
		window_note(s, "*** sent from the console: %.*s ***",
		    (int)(len < sizeof line ? len : sizeof line), line);
	}
	return 0;
}

/*
 * Reads what the window's keyboard sent: while reads come full, up to
 * size bytes, so that a paste is edited, echoed and sent in one batch
 * (one pty write, one send, one TLS record) rather than one for every
 * read.  Returns the bytes read, or what the first read returned.
 */
static ssize_t
relay_read_keys(struct session *s, char *buf, size_t size)
{
	size_t len = 0;
	ssize_t n;

	do {
		if ((n = read(s->term.pty, buf + len, RELAY_PTY_READ)) > 0)
			len += (size_t)n;
	} while (n == RELAY_PTY_READ && size - len >= RELAY_PTY_READ);
	return len > 0 ? (ssize_t)len : n;
}

void
relay_window_to_socket(struct session *s)
{
	struct editor_buf lines = { NULL, 0, 0 };
	struct pollfd pfd[RELAY_POLL_MAX];
	struct outbox_msg *m, *next;
	enum session_state state;
	char *buf;
	uint64_t count;
	nfds_t nfds;
	ssize_t n = 0;
	long long echo_due = 0;	/* when a held echo is written, or 0 */
	size_t echo_keys = 0;	/* keys sent since the echo was written */
	long long left;
	int wait_ms, ready;

	/*
	 * On the heap, not the stack: below a 16 KiB frame every call
	 * would touch pages of its own, for each idle session.
	 */
	if ((buf = malloc(RELAY_KEYS_MAX)) == NULL) {
		window_note(s, "*** ptychat: out of memory; not reading this "
		    "window ***");
		goto out;
	}
	pfd[RELAY_POLL_PTY].fd = s->term.pty;
	pfd[RELAY_POLL_PTY].events = POLLIN;
	pfd[RELAY_POLL_HANGUP].fd = s->hangup;
	pfd[RELAY_POLL_HANGUP].events = POLLIN;
	pfd[RELAY_POLL_WAKE].fd = s->wake;
	pfd[RELAY_POLL_WAKE].events = POLLIN;
	pfd[RELAY_POLL_SOCK].fd = s->sock;
	pfd[RELAY_POLL_SOCK].events = 0;
	for (;;) {
		state = session_state(s);
		if (state == SESSION_KICKED) {
			log_info("session %lu %s: hung up from the console",
			    s->number, s->peer.label);
			transcript_event(s->transcript, "hung up from the "
			    "console");
			goto out;
		}
		if (state == SESSION_STOPPED)
			goto out;
		/* Cut short only once the session ends: the top says how. */
		if (relay_send_outbox(s) == -1) {
			if (session_ending(s))
				continue;
			goto out;
		}
		/*
		 * Once the other relay has stopped reading, a reset shows
		 * only here.  Before that, the other relay reports it, after
		 * what the client sent before it.
		 */
		nfds = atomic_load(&s->reader_stopped) &&
		    state != SESSION_CLIENT_GONE ? RELAY_POLL_MAX :
		    RELAY_POLL_SOCK;
		/*
		 * Reads that filled the buffer have more behind them, most
		 * likely: read on without a poll.  A short read (or EAGAIN)
		 * comes soon, and the hang-up is polled then; the state at
		 * the top of the loop is looked at every time.
		 */
		if (n == RELAY_KEYS_MAX) {
			n = relay_read_keys(s, buf, RELAY_KEYS_MAX);
			if (n == -1 && errno == EAGAIN)
				continue;
			goto got;
		}
		wait_ms = relay_idle_wait(s);
		if (echo_due != 0) {
			if ((left = echo_due - io_clock_ms()) <= 0) {
				(void)chatline_flush_held(&s->chat);
				echo_keys = 0;
				echo_due = 0;
			} else if (wait_ms == -1 || left < wait_ms)
				wait_ms = (int)left;
		}
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
		if (pfd[RELAY_POLL_HANGUP].revents != 0)
			continue;
		if (pfd[RELAY_POLL_WAKE].revents != 0)
			(void)read(s->wake, &count, sizeof count);
		if (nfds == RELAY_POLL_MAX &&
		    (pfd[RELAY_POLL_SOCK].revents & (POLLHUP | POLLERR)))
			relay_client_gone(s, "connection lost");
		if (pfd[RELAY_POLL_PTY].revents == 0)
			continue;
		n = relay_read_keys(s, buf, RELAY_KEYS_MAX);
got:
		if (n == -1 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			break;
		if (s->config->plain) {
			/* --plain: the terminal has made it a whole line. */
			attention_seen(s);
			if (relay_send_outbox(s) == -1)
				continue;
			if (relay_send(s, buf, (size_t)n, 0) == -1)
				goto out;
			continue;
		}
		lines.len = 0;
		if (window_keys(s, buf, (size_t)n, &lines) == 0) {
			(void)chatline_flush_held(&s->chat);
			continue;
		}
		/* What was queued first goes first (a timing mark's reply);
		 * cut short, the top of the loop says how the session ends. */
		if (relay_send_outbox(s) == -1) {
			(void)chatline_flush_held(&s->chat);
			continue;
		}
		if (relay_send(s, lines.data, lines.len, 1) == -1)
			goto out;
		/* A line's echo waits, counted from the first held; a
		 * paste's or a stream's goes now, in step with the keys. */
		if ((echo_keys += (size_t)n) > RELAY_ECHO_HOLD_MAX) {
			(void)chatline_flush_held(&s->chat);
			echo_keys = 0;
			echo_due = 0;
		} else if (echo_due == 0)
			echo_due = io_clock_ms() + RELAY_ECHO_WAIT_MS;
	}

	/* read() gave 0 or EIO: nothing holds the window's end any more. */
	if (session_move(s, SESSION_WINDOW_CLOSED)) {
		log_info("session %lu %s: window closed; disconnecting",
		    s->number, s->peer.label);
		transcript_event(s->transcript, "window closed; client "
		    "disconnected");
	}
out:
	/* Nothing more is sent: whatever waits, or would, is refused. */
	for (m = outbox_close(&s->outbox); m != NULL; m = next) {
		next = m->next;
		session_report(s, m, 0, "the session ended");
	}
	/* A TLS client learns that the end is no attack's. */
	if (session_state(s) == SESSION_WINDOW_CLOSED)
		conn_close_notify(&s->conn);
	/* Wakes the other relay, and the client sees end of file. */
	(void)shutdown(s->sock, SHUT_RDWR);
	editor_buf_free(&lines);
	free(buf);
}
