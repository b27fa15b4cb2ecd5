/*
 * A session: one client, one pty, one window, two relay threads.
 *
 * The main thread only registers the session and starts its thread
 * (session_open): it never waits on a session or a child.  The session
 * thread first learns what the client speaks and who it is (the front
 * door: plain or TLS, its key), waits in the lobby when it must (--ask,
 * or the window rate: lobby.c), then launches the terminal on a new pty
 * and waits for its window (terminal.c), starts the socket-to-window
 * relay and runs the window-to-socket relay itself.  The last relay
 * thread out closes the session's descriptors and frees it
 * (session_release).
 */
#include <sys/types.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ptychat.h"

/* How long a TLS client has to finish its handshake, in ms. */
#define TLS_HANDSHAKE_MS	10000

/* How long a trusted proxy has to send its PROXY header, in ms. */
#define PROXY_HEADER_MS		3000

/* The longest PROXY header: v2's 16 bytes and a 16-bit length. */
#define PROXY_HEADER_MAX	(16 + 65535)

/* What a plain client hears from --require-tls, and --clients. */
#define SESSION_NEED_TLS \
	"ptychatd: this server requires TLS; connect with ptychat\n"
#define SESSION_AWAY "ptychatd: this operator is away; try again later\n"
#define SESSION_FULL "ptychatd: too many clients; try again later\n"
#define SESSION_NO_KEY \
	"ptychatd: you sent no key; this server lets in only the keys on its " \
	"list\n"

/* Live sessions: for the limits, and so that shutdown can wait. */
static pthread_mutex_t session_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t session_ended = PTHREAD_COND_INITIALIZER;
static struct session *session_list;
static unsigned long session_live;
static unsigned long session_admitted;	/* of those, numbered ones */
static unsigned long session_numbers;	/* the last number given */

/* The --clients list in force: SIGHUP replaces it whole. */
static pthread_mutex_t session_clients_lock = PTHREAD_MUTEX_INITIALIZER;
static struct client_list session_clients;

/*
 * The moves a session's state may make: from the state of the row to
 * each state marked.  A final state (window closed, kicked, stopped) has
 * no way out, so whichever ending comes first is the one that counts.
 */
static const unsigned char session_moves[][SESSION_STOPPED + 1] = {
	[SESSION_OPENING] =	{ [SESSION_WAITING] = 1, [SESSION_OPEN] = 1,
				  [SESSION_KICKED] = 1, [SESSION_STOPPED] = 1 },
	[SESSION_WAITING] =	{ [SESSION_OPENING] = 1, [SESSION_KICKED] = 1,
				  [SESSION_STOPPED] = 1 },
	[SESSION_OPEN] =	{ [SESSION_CLIENT_DONE] = 1,
				  [SESSION_CLIENT_GONE] = 1,
				  [SESSION_WINDOW_CLOSED] = 1,
				  [SESSION_KICKED] = 1, [SESSION_STOPPED] = 1 },
	[SESSION_CLIENT_DONE] =	{ [SESSION_CLIENT_GONE] = 1,
				  [SESSION_WINDOW_CLOSED] = 1,
				  [SESSION_KICKED] = 1, [SESSION_STOPPED] = 1 },
	[SESSION_CLIENT_GONE] =	{ [SESSION_WINDOW_CLOSED] = 1,
				  [SESSION_KICKED] = 1, [SESSION_STOPPED] = 1 },
	[SESSION_WINDOW_CLOSED] = { 0 },
	[SESSION_KICKED] =	{ 0 },
	[SESSION_STOPPED] =	{ 0 },
};

/* What the console's list calls each state. */
static const char *const session_state_names[] = {
	[SESSION_OPENING] = "opening window",
	[SESSION_WAITING] = "waiting",
	[SESSION_OPEN] = "open",
	[SESSION_CLIENT_DONE] = "client closed its side",
	[SESSION_CLIENT_GONE] = "client gone",
	[SESSION_WINDOW_CLOSED] = "window closed",
	[SESSION_KICKED] = "hung up",
	[SESSION_STOPPED] = "ending",
};

enum session_state
session_state(struct session *s)
{
	return (enum session_state)atomic_load(&s->state);
}

/* Returns 1 once the session has reached a final state. */
int
session_ending(struct session *s)
{
	return session_state(s) >= SESSION_WINDOW_CLOSED;
}

/*
 * Moves the session to state to, when the table allows it from where it
 * is.  Any thread may call it.  Returns 1 when it moved, 0 when not.
 */
int
session_move(struct session *s, enum session_state to)
{
	int from = atomic_load(&s->state);

	while (session_moves[from][to])
		if (atomic_compare_exchange_weak(&s->state, &from, (int)to))
			return 1;
	return 0;
}

/*
 * Ends a session from outside its threads (kick, server stop): the client
 * sees the end of the connection at once, and every wait of the session's
 * threads (a stuck window, a client that reads nothing) is cut short.
 * session_lock is held.
 */
static void
session_cut(struct session *s, enum session_state why)
{
	uint64_t one = 1;

	if (!session_move(s, why))
		return;
	(void)shutdown(s->sock, SHUT_RDWR);
	(void)write(s->hangup, &one, sizeof one);
	relay_wake(s);
}

/* Ends every session: the server stops. */
void
session_hangup_all(void)
{
	struct session *s;

	pthread_mutex_lock(&session_lock);
	for (s = session_list; s != NULL; s = s->next)
		if (s->sock != -1)
			session_cut(s, SESSION_STOPPED);
	pthread_mutex_unlock(&session_lock);
}

/*
 * Gives the verdict on a message that left s's outbox: sent, or not and
 * why.  Only console lines have one to give.  Frees m.
 */
void
session_report(struct session *s, struct outbox_msg *m, int sent,
    const char *why)
{
	outbox_batch_done(m->batch, s->number, sent, why, console_print);
	free(m);
}

/*
 * Queues protocol bytes (a telnet reply) for the client, waiting for room
 * while the client reads nothing.  Returns 0, or -1 once the session ends.
 */
int
session_reply(struct session *s, const void *data, size_t len)
{
	if (outbox_put(&s->outbox, OUTBOX_REPLY, data, len, NULL, 1) == -1)
		return -1;
	relay_wake(s);
	return 0;
}

/* Drops one reference; the last one closes the session and frees it. */
void
session_release(struct session *s)
{
	struct outbox_msg *m, *next;

	/*
	 * Once the last session is counted out the server may exit, before
	 * this thread has: it frees its OpenSSL state before it counts
	 * itself out, and the last one again after SSL_free.
	 */
	tls_thread_done();
	if (atomic_fetch_sub(&s->threads, 1) != 1)
		return;
	/* Out of the list first: what is found there has its fds open. */
	pthread_mutex_lock(&session_lock);
	if (s->number != 0)
		session_admitted--;
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		session_list = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	pthread_mutex_unlock(&session_lock);

	conn_free(&s->conn);
	if (s->sock != -1) {
		/* Shut down first: no copy of the fd may keep it up. */
		(void)shutdown(s->sock, SHUT_RDWR);
		close(s->sock);
	}
	/* Kicked: the window goes now, stuck or not. */
	if (session_state(s) == SESSION_KICKED)
		terminal_hangup(&s->term, 1);
	terminal_close(&s->term);
	close(s->wake);
	close(s->hangup);
	free(s->kept);
	for (m = outbox_close(&s->outbox); m != NULL; m = next) {
		next = m->next;
		session_report(s, m, 0, "the session ended");
	}
	outbox_free(&s->outbox);
	window_free(s);
	transcript_event(s->transcript, "session ended");
	transcript_close(s->transcript);
	if (s->number != 0)
		log_debug("session %lu %s: ended", s->number, s->peer.label);
	free(s);
	tls_thread_done();

	pthread_mutex_lock(&session_lock);
	session_live--;
	pthread_cond_broadcast(&session_ended);
	pthread_mutex_unlock(&session_lock);
}

/*
 * Fills *views with a malloc'd array describing every live session, in
 * order of arrival.  Returns how many, 0 when none or out of memory.
 */
size_t
session_snapshot(struct session_view **views)
{
	struct session *s;
	size_t n = 0, i;
	long long now = io_clock_ms();

	pthread_mutex_lock(&session_lock);
	for (s = session_list; s != NULL; s = s->next)
		if (s->number != 0)
			n++;
	*views = n ? calloc(n, sizeof **views) : NULL;
	if (*views == NULL)
		n = 0;
	/* The list is newest first; the view is oldest first. */
	for (s = session_list, i = n; s != NULL && i > 0; s = s->next) {
		if (s->number == 0)
			continue;
		i--;
		(*views)[i].number = s->number;
		strcpy((*views)[i].label, s->peer.label);
		(*views)[i].age = (now - s->started_ms) / 1000;
		(*views)[i].bytes_in = atomic_load(&s->bytes_in);
		(*views)[i].bytes_out = atomic_load(&s->bytes_out);
		(*views)[i].state = session_state_names[session_state(s)];
		strcpy((*views)[i].key, s->key);
		strcpy((*views)[i].name, s->peer.name);
		(*views)[i].unread = atomic_load(&s->attention.unread);
		(*views)[i].focused = atomic_load(&s->attention.focus) ==
		    FOCUS_IN;
	}
	pthread_mutex_unlock(&session_lock);
	return n;
}

/* Returns 1 when the session's client takes console lines now. */
static int
session_taking(struct session *s)
{
	enum session_state st = session_state(s);

	return st == SESSION_OPEN || st == SESSION_CLIENT_DONE;
}

/*
 * Hands text to session number's client (0: every client) through each
 * one's outbox, never waiting on any: the session's own writer sends it
 * between the operator's lines, shows it in the window, and the console
 * hears one verdict (console_print) once every session has given its.
 * For all, the console first hears how many it goes to.  Returns how
 * many sessions were handed it (their verdict is to come), or -1 with
 * errno ENOENT when there is no such session.
 */
int
session_post(unsigned long number, const char *text, size_t len)
{
	struct outbox_batch *batch;
	struct session *s;
	char line[64];
	unsigned tried = 0;
	int found = 0;

	/* The batch holds a verdict back until every session is counted. */
	if ((batch = outbox_batch_new(number)) == NULL)
		return 0;
	pthread_mutex_lock(&session_lock);
	for (s = session_list; s != NULL; s = s->next) {
		if (number != 0 && s->number != number)
			continue;
		found = 1;
		if (!session_taking(s))
			continue;
		tried++;
		outbox_batch_add(batch);
		if (outbox_put(&s->outbox, OUTBOX_CONSOLE, text, len, batch,
		    0) == 0)
			relay_wake(s);
		else
			outbox_batch_done(batch, s->number, 0, errno ==
			    EAGAIN ? "the client is not reading" : errno ==
			    ENOMEM ? "out of memory" : "the session is ending",
			    console_print);
	}
	pthread_mutex_unlock(&session_lock);
	if (number == 0 && tried > 0) {
		snprintf(line, sizeof line, "sending to %u client%s\n", tried,
		    tried == 1 ? "" : "s");
		console_print(line);
	}
	outbox_batch_release(batch, console_print);
	if (!found) {
		errno = ENOENT;
		return -1;
	}
	return (int)tried;
}

/*
 * Hangs up on session number's client and closes its window.  Returns 0,
 * or -1 with errno ENOENT when there is no such session.
 */
int
session_kick(unsigned long number)
{
	struct session *s;
	int found = 0;

	pthread_mutex_lock(&session_lock);
	for (s = session_list; s != NULL; s = s->next) {
		if (s->number != number)
			continue;
		found = 1;
		if (s->sock != -1)
			session_cut(s, SESSION_KICKED);
	}
	pthread_mutex_unlock(&session_lock);
	if (!found) {
		errno = ENOENT;
		return -1;
	}
	return 0;
}

/* Returns the number of live sessions whose client is at host. */
unsigned long
session_count_host(const char *host)
{
	struct session *s;
	unsigned long n = 0;

	pthread_mutex_lock(&session_lock);
	for (s = session_list; s != NULL; s = s->next)
		if (strcmp(s->peer.host, host) == 0)
			n++;
	pthread_mutex_unlock(&session_lock);
	return n;
}

/*
 * Returns why no new client may come in while clients of max_clients
 * are in, as the line it is sent, or NULL.
 */
static const char *
session_load(unsigned long clients, unsigned long max_clients)
{
	if (desk_state() != DESK_HERE)
		return SESSION_AWAY;
	if (clients >= max_clients)
		return SESSION_FULL;
	return NULL;
}

/*
 * Returns why the client at sa (host: its address as text) must be
 * turned away, as the line it is sent, or NULL to let it in.  checks:
 * REFUSE_ADDRESS, REFUSE_LOAD or both; counted: 1 when the client's own
 * session is already among the live ones (for --max-per-host).
 */
const char *
session_refusal(const struct limits *l, const struct sockaddr *sa,
    const char *host, int checks, int counted)
{
	const char *why;

	if ((checks & REFUSE_ADDRESS) && !access_allowed(&l->access, sa))
		return "ptychatd: access denied\n";
	if ((checks & REFUSE_LOAD) &&
	    (why = session_load(session_count(), l->max_clients)) != NULL)
		return why;
	if ((checks & REFUSE_ADDRESS) && l->max_per_host != 0 &&
	    session_count_host(host) >= l->max_per_host + (counted != 0))
		return "ptychatd: too many connections from your address\n";
	return NULL;
}

/*
 * Returns the number of clients: live sessions with a number, so not a
 * proxy's connection still before its header.
 */
unsigned long
session_count(void)
{
	unsigned long n;

	pthread_mutex_lock(&session_lock);
	n = session_admitted;
	pthread_mutex_unlock(&session_lock);
	return n;
}

/* Returns the number of sessions whose threads still run. */
unsigned long
session_running(void)
{
	unsigned long n;

	pthread_mutex_lock(&session_lock);
	n = session_live;
	pthread_mutex_unlock(&session_lock);
	return n;
}

/*
 * Waits up to timeout_ms for every session to end.  Returns 0 when none
 * is left, -1 when some still run.
 */
int
session_wait_all(int timeout_ms)
{
	struct timespec deadline;
	int left;

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += timeout_ms / 1000;
	deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&session_lock);
	while (session_live > 0 && pthread_cond_timedwait(&session_ended,
	    &session_lock, &deadline) == 0)
		;
	left = session_live > 0 ? -1 : 0;
	pthread_mutex_unlock(&session_lock);
	return left;
}

/*
 * Makes the --clients list in force the one in *list, which is left
 * empty; the old one is freed.  Sessions already open stay.
 */
void
session_set_clients(struct client_list *list)
{
	struct client_list old;

	pthread_mutex_lock(&session_clients_lock);
	old = session_clients;
	session_clients = *list;
	pthread_mutex_unlock(&session_clients_lock);
	list->v = NULL;
	list->n = 0;
	clients_free(&old);
}

/* Copies the name listed for key fp into name.  Returns 0 when unlisted. */
static int
session_client_name(const char *fp, char *name, size_t len)
{
	const char *found;

	pthread_mutex_lock(&session_clients_lock);
	if ((found = clients_find(&session_clients, fp)) != NULL)
		snprintf(name, len, "%s", found);
	pthread_mutex_unlock(&session_clients_lock);
	return found != NULL;
}

/* Sets the client's name from the --clients list (accept --remember). */
void
session_set_name(struct session *s, const char *name)
{
	pthread_mutex_lock(&session_lock);
	snprintf(s->peer.name, sizeof s->peer.name, "%s", name);
	pthread_mutex_unlock(&session_lock);
}

/*
 * Writes how the client came, for people: "TLS, key SHA256:... (NAME)",
 * "TLS, no key", or "plain (not encrypted)".  Returns out.
 */
const char *
session_who(const struct session *s, char *out, size_t len)
{
	if (strcmp(s->key, "plain") == 0)
		snprintf(out, len, "plain (not encrypted)");
	else if (strcmp(s->key, "no key") == 0)
		snprintf(out, len, "TLS, no key");
	else
		snprintf(out, len, "TLS, key %s%s%s%s", s->key,
		    *s->peer.name != '\0' ? " (" : "", s->peer.name,
		    *s->peer.name != '\0' ? ")" : "");
	return out;
}

/*
 * Turns the client away before it has a window, with line as its last
 * word (NULL: none), over TLS when it speaks TLS.  Returns NULL, for
 * session_main.
 */
static void *
session_turn_away(struct session *s, const char *line)
{
	int fd;

	session_move(s, SESSION_STOPPED);
	/* Out of the console's reach before the fd number is freed. */
	pthread_mutex_lock(&session_lock);
	fd = s->sock;
	s->sock = -1;
	pthread_mutex_unlock(&session_lock);
	if (s->conn.ssl != NULL) {
		if (line != NULL)
			(void)conn_send_now(&s->conn, line, strlen(line));
		conn_close_notify(&s->conn);
		line = NULL;
	}
	net_refuse(fd, line != NULL ? line : "");
	session_release(s);
	return NULL;
}

/*
 * Turns the client away when no window came: log, transcript, one line.
 * Returns NULL, for session_main.
 */
static void *
session_no_window(struct session *s, const char *what, const char *why)
{
	log_error("session %lu %s: %s%s", s->number, s->peer.label, what,
	    why);
	transcript_event(s->transcript, "no window: %s", why);
	/* A window that comes after all would show a dead session. */
	session_move(s, SESSION_STOPPED);
	terminal_hangup(&s->term, 0);
	return session_turn_away(s, SESSION_NO_WINDOW);
}

/*
 * Decides on a client that --clients may not let in: returns the line
 * that turns it away, or NULL when its key is listed (its name then in
 * name).
 */
static const char *
session_check_list(struct session *s, const char *key, char *name,
    size_t namelen, char *line, size_t linelen)
{
	if (strncmp(key, "SHA256:", 7) != 0) {
		log_info("session %lu %s: refused: %s, and only listed keys "
		    "may connect", s->number, s->peer.label, key);
		return SESSION_NO_KEY;
	}
	if (session_client_name(key, name, namelen))
		return NULL;
	log_info("session %lu %s: refused: key %s is not on the clients "
	    "list", s->number, s->peer.label, key);
	snprintf(line, linelen, "ptychatd: your key %s is not on this "
	    "server's list\n", key);
	return line;
}

/*
 * Reads a PROXY header from fd, waiting up to wait_ms or until cancel is
 * readable, and takes exactly its bytes from the socket, so that what
 * follows stays there.  Each peek that the parser finds a mere start of
 * a header is all header, so it is taken at once; poll then waits for
 * bytes not yet seen.  *got is how many bytes were taken.  Returns
 * PROXY_DONE with h filled, PROXY_BAD with the reason in err, or
 * PROXY_MORE when no whole header came, with errno ETIMEDOUT,
 * ECANCELED, EPIPE (the connection ended) or that of the failure.
 */
static enum proxy_result
session_proxy_read(int fd, int wait_ms, int cancel, struct proxy_header *h,
    size_t *got, char *err, size_t errlen)
{
	struct pollfd pfd[2];
	enum proxy_result r = PROXY_MORE;
	unsigned char *buf;
	long long deadline, left;
	size_t have = 0, take;
	ssize_t n;
	int saved;

	*got = 0;
	if ((buf = malloc(PROXY_HEADER_MAX)) == NULL)
		return PROXY_MORE;
	deadline = io_clock_ms() + wait_ms;
	for (;;) {
		n = recv(fd, buf + have, PROXY_HEADER_MAX - have,
		    MSG_PEEK | MSG_DONTWAIT);
		if (n > 0) {
			r = proxy_parse(buf, have + (size_t)n, h, err, errlen);
			if (r == PROXY_BAD)
				break;
			take = r == PROXY_DONE ? h->len - have : (size_t)n;
			if ((n = recv(fd, buf + have, take, MSG_DONTWAIT)) !=
			    (ssize_t)take) {
				/* The peeked bytes went: not a TCP socket? */
				if (n >= 0)
					errno = EIO;
				r = PROXY_MORE;
				break;
			}
			have += take;
			if (r == PROXY_DONE)
				break;
			continue;
		}
		if (n == 0) {
			errno = EPIPE;
			break;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			break;
		if ((left = deadline - io_clock_ms()) <= 0) {
			errno = ETIMEDOUT;
			break;
		}
		pfd[0].fd = fd;
		pfd[0].events = POLLIN;
		pfd[1].fd = cancel;
		pfd[1].events = POLLIN;
		if (poll(pfd, 2, left > INT_MAX ? INT_MAX : (int)left) == -1) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd[1].revents != 0) {
			errno = ECANCELED;
			break;
		}
	}
	saved = errno;
	free(buf);
	*got = have;
	errno = saved;
	return r;
}

/*
 * The first bytes from a trusted proxy: its PROXY header, whose source
 * then stands for the client everywhere.  A proxy's health check (LOCAL,
 * UNKNOWN, or a bare connect) is closed quietly; a bad, cut or missing
 * header with one line in the log.  Returns 0 with the source in src to
 * go on, or -1 once the connection is closed.
 */
static int
session_proxy(struct session *s, struct sockaddr_storage *src)
{
	struct proxy_header h;
	struct peer real;
	char err[160];
	enum proxy_result r;
	size_t got;

	r = session_proxy_read(s->sock, PROXY_HEADER_MS, s->hangup, &h, &got,
	    err, sizeof err);
	if (r == PROXY_BAD)
		log_info("refused %s: bad PROXY header: %s", s->peer.label,
		    err);
	else if (r == PROXY_MORE && (errno == ECANCELED || session_ending(s)))
		log_debug("connection %s: ended while its PROXY header was "
		    "awaited", s->peer.label);
	else if (r == PROXY_MORE && got == 0 && (errno == EPIPE ||
	    errno == ECONNRESET))
		/* A check that only connects, or a port scanner: no noise. */
		log_debug("connection %s: gone before a word", s->peer.label);
	else if (r == PROXY_MORE && got == 0)
		log_info("refused %s: no PROXY header: %s", s->peer.label,
		    errno == ETIMEDOUT ? "none came in time" : errno == EPIPE ?
		    "the connection ended" : strerror(errno));
	else if (r == PROXY_MORE)
		log_info("refused %s: PROXY header cut short after %zu bytes: "
		    "%s", s->peer.label, got, errno == ETIMEDOUT ?
		    "no more came in time" : errno == EPIPE ?
		    "the connection ended" : strerror(errno));
	else if (h.local)
		log_debug("connection %s: the proxy's own (a health check)",
		    s->peer.label);
	if (r != PROXY_DONE || h.local) {
		session_turn_away(s, NULL);
		return -1;
	}
	*src = h.src;
	peer_from_sockaddr(&real, (struct sockaddr *)&h.src);
	log_debug("connection %s: via proxy %s", real.label, s->peer.label);
	/* The console copies peers. */
	pthread_mutex_lock(&session_lock);
	s->peer = real;
	pthread_mutex_unlock(&session_lock);
	return 0;
}

/*
 * Admits a proxy's connection as a client, once its header has brought
 * one (so that the proxy's health checks take no number and count for
 * nothing), if the desk takes one now: judged and counted in one step,
 * so that clients coming together cannot overfill it.  Gives s the next
 * number.  Returns NULL, or the line that turns the client away.
 */
static const char *
session_admit(struct session *s)
{
	const char *why;

	pthread_mutex_lock(&session_lock);
	if ((why = session_load(session_admitted,
	    s->config->limits->max_clients)) == NULL) {
		s->number = ++session_numbers;
		session_admitted++;
	}
	pthread_mutex_unlock(&session_lock);
	return why;
}

/*
 * The front door, before any window: tells a TLS client from a plain
 * one, runs the handshake, and learns the client's key.  Returns 0 to go
 * on, or -1 once the client has been turned away (the session is gone).
 */
static int
session_front(struct session *s)
{
	char why[256], key[FINGERPRINT_MAX], name[64] = "", line[160];
	struct sockaddr_storage src;
	const char *refusal;
	enum front_kind kind;
	SSL *ssl;

	if (s->proxied && session_proxy(s, &src) == -1)
		return -1;
	snprintf(key, sizeof key, "plain");
	/* Behind a proxy too: its health check ends with the header. */
	if (s->config->tls != NULL || s->proxied)
		kind = front_classify(s->sock, FRONT_WAIT_MS, s->hangup);
	else
		kind = FRONT_PLAIN;
	if (kind == FRONT_GONE) {
		/* A port scanner, or a kick or stop: no noise. */
		log_debug("connection %s: gone before a word", s->peer.label);
		session_turn_away(s, NULL);
		return -1;
	}
	/* Judged here, when the client's address is known. */
	if (s->proxied && ((refusal = session_refusal(s->config->limits,
	    (struct sockaddr *)&src, s->peer.host, REFUSE_ADDRESS, 1)) !=
	    NULL || (refusal = session_admit(s)) != NULL)) {
		/* The line without its "ptychatd: " and newline. */
		log_info("refused %s: %.*s", s->peer.label,
		    (int)strlen(refusal) - 11, refusal + 10);
		session_turn_away(s, refusal);
		return -1;
	}
	if (kind == FRONT_PLAIN && s->config->require_tls) {
		log_info("session %lu %s: refused: plain, and TLS is required",
		    s->number, s->peer.label);
		session_turn_away(s, SESSION_NEED_TLS);
		return -1;
	}
	if (kind == FRONT_TLS && s->config->tls != NULL) {
		if ((ssl = tls_accept(s->config->tls, s->sock,
		    TLS_HANDSHAKE_MS, s->hangup, why, sizeof why)) == NULL) {
			/* A kick or a stop, not the client, cut it short. */
			if (errno != ECANCELED && !session_ending(s))
				log_info("session %lu %s: TLS handshake: %s",
				    s->number, s->peer.label, why);
			session_turn_away(s, NULL);
			return -1;
		}
		/* No other thread has the connection yet. */
		conn_free(&s->conn);
		conn_init(&s->conn, s->sock, ssl);
		if (tls_peer_fingerprint(ssl, key) == -1)
			snprintf(key, sizeof key, "no key");
	}
	/* With --ask, the operator decides on a key not listed. */
	if (s->config->clients && s->config->ask)
		(void)session_client_name(key, name, sizeof name);
	else if (s->config->clients && (refusal = session_check_list(s, key,
	    name, sizeof name, line, sizeof line)) != NULL) {
		session_turn_away(s, refusal);
		return -1;
	}
	pthread_mutex_lock(&session_lock);
	memcpy(s->key, key, sizeof s->key);
	memcpy(s->peer.name, name, sizeof s->peer.name);
	pthread_mutex_unlock(&session_lock);

	log_info("session %lu %s: connected: %s", s->number, s->peer.label,
	    session_who(s, why, sizeof why));
	if (s->config->log_dir != NULL) {
		s->transcript = transcript_open(s->config->log_dir, s->number,
		    &s->peer);
		if (s->transcript == NULL)
			log_error("session %lu %s: transcript in %s: %s",
			    s->number, s->peer.label, s->config->log_dir,
			    strerror(errno));
		transcript_event(s->transcript, "ptychat session #%lu: "
		    "client %s connected: %s", s->number, s->peer.label, why);
	}
	return 0;
}

/* The session thread: the front door, the window, then the relays. */
static void *
session_main(void *arg)
{
	struct session *s = arg;
	const struct terminal *term = &s->config->terminal;
	char why[256];
	int err;

	/* Blocking work, all of it here: the main thread only accepts. */
	if (session_front(s) == -1)
		return NULL;
	if (lobby_wait(s, why, sizeof why) == -1)
		return session_turn_away(s, *why != '\0' ? why : NULL);
	if (terminal_launch(term, &s->term, s->number, &s->peer, s->hangup,
	    why, sizeof why) == -1) {
		lobby_window_done(s);
		return session_no_window(s, "", why);
	}
	err = terminal_await(term, &s->term, s->hangup, why, sizeof why);
	/* Up or not, the window rate counts it from now. */
	lobby_window_done(s);
	if (err == -1)
		return session_no_window(s, "no window: ", why);
	window_start(s);
	if (!session_move(s, SESSION_OPEN)) {
		/* Kicked or stopped while its window opened. */
		session_release(s);
		return NULL;
	}
	log_info("session %lu %s: window open", s->number, s->peer.label);
	transcript_event(s->transcript, "window open");
	attention_connected(s);
	/* Silence counts from here: the front door and a slow window are
	 * no one's silence. */
	atomic_store(&s->last_active_ms, io_clock_ms());

	atomic_fetch_add(&s->threads, 1);
	if ((err = thread_start(relay_socket_to_window, s))) {
		atomic_fetch_sub(&s->threads, 1);
		log_error("session %lu %s: thread: %s", s->number,
		    s->peer.label, strerror(err));
		window_note(s, "*** ptychat: out of threads; hanging up ***");
	} else
		relay_window_to_socket(s);
	session_release(s);
	return NULL;
}

/*
 * Opens a session for a client just accepted on sock: registers it and
 * starts its thread, which launches the window; proxied: a PROXY header
 * comes first, from a trusted proxy.  Never blocks.  On
 * success the session owns sock.  On failure the client has been told
 * and sock is closed.  Returns 0, or -1 on failure.
 */
int
session_open(const struct server_config *config, int sock,
    const struct peer *peer, int proxied)
{
	struct session *s;
	int err;

	if ((s = calloc(1, sizeof *s)) == NULL) {
		log_error("connection %s: %s", peer->label, strerror(errno));
		net_refuse(sock, SESSION_NO_WINDOW);
		return -1;
	}
	s->config = config;
	s->peer = *peer;
	s->proxied = proxied;
	s->sock = sock;
	conn_init(&s->conn, sock, NULL);
	s->term.pty = s->term.held = -1;
	s->term.child = NULL;
	s->hangup = -1;
	if ((s->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) == -1 ||
	    (s->hangup = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) == -1 ||
	    window_init(s) == -1) {
		log_error("connection %s: %s", peer->label, strerror(errno));
		if (s->wake != -1)
			close(s->wake);
		if (s->hangup != -1)
			close(s->hangup);
		conn_free(&s->conn);
		free(s);
		net_refuse(sock, SESSION_NO_WINDOW);
		return -1;
	}
	atomic_init(&s->threads, 1);
	atomic_init(&s->state, SESSION_OPENING);
	atomic_init(&s->reader_stopped, 0);
	attention_init(&s->attention);
	s->started_ms = io_clock_ms();
	atomic_init(&s->last_active_ms, s->started_ms);
	outbox_init(&s->outbox);

	pthread_mutex_lock(&session_lock);
	s->next = session_list;
	if (session_list != NULL)
		session_list->prev = s;
	session_list = s;
	session_live++;
	/* A direct client was judged by the accept loop; a proxy's, later. */
	if (!proxied) {
		s->number = ++session_numbers;
		session_admitted++;
	}
	pthread_mutex_unlock(&session_lock);
	if ((err = thread_start(session_main, s)) == 0)
		return 0;
	log_error("connection %s: thread: %s", peer->label, strerror(err));
	net_refuse(sock, SESSION_NO_WINDOW);
	s->sock = -1;
	session_release(s);
	return -1;
}
