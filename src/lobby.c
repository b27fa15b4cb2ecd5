/*
 * The lobby: where a client waits, with no window, for the operator to
 * let it in (--ask), or for its turn when windows would open faster than
 * --max-window-rate allows.
 *
 * A waiting client is held by its own session thread (lobby_wait), which
 * keeps what the client sends, up to LOBBY_KEEP_MAX, and polls the
 * session's hangup fd, so a kick or a server stop ends the wait at once.
 * The console (and a notification's action) only marks a seat and rings
 * the session's doorbell (s->wake, which no relay uses yet): nothing
 * outside the session waits on it, and the accept loop never waits here.
 *
 * The rate: a window may start opening only while the windows that
 * opened in the last second plus those still opening are fewer than the
 * rate.  Counting those still opening is what keeps the windows that
 * appear, however long each takes to come up, within the rate in any
 * second.  Waiting clients take their turns in order of arrival.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ptychat.h"

#define LOBBY_WAITING	"ptychatd: waiting for the operator to accept you\n"
#define LOBBY_FULL	"ptychatd: too many clients are waiting; try again " \
			"later\n"
#define LOBBY_TOO_MUCH	"ptychatd: you sent more than 64 KiB while waiting; " \
			"goodbye\n"
#define LOBBY_TIMEOUT	"ptychatd: nobody accepted you in time; try again " \
			"later\n"

/* Room for the line remembering a key as name, with a newline before. */
#define LOBBY_LINE_MAX(name)	(FINGERPRINT_MAX + strlen(name) + 4)

/* The most --max-window-rate may be: the size of the ring of times. */
#define LOBBY_RATE_MAX	1000

/* What the operator said about a seat. */
enum lobby_verdict {
	LOBBY_UNDECIDED,
	LOBBY_ACCEPTED,
	LOBBY_REJECTED
};

/* A waiting client; it lives on its session thread's stack. */
struct lobby_seat {
	struct session	*s;
	int		 ask;		/* waits for the operator's word */
	enum lobby_verdict verdict;
	char		 reason[200];	/* reject's, or "" (a line's worth) */
	char		 name[64];	/* accept --remember's, or "" */
	struct lobby_seat *next;
};

/*
 * Guards all below.  Held only briefly, never over I/O but a doorbell,
 * and taken before session_lock, never after.
 */
static pthread_mutex_t lobby_lock = PTHREAD_MUTEX_INITIALIZER;
static struct lobby_seat *lobby_seats;	/* in order of arrival */
static unsigned lobby_waiting;
static unsigned lobby_opening;		/* windows started, not yet up */
static long long lobby_opened[LOBBY_RATE_MAX]; /* when the last ones came
					   up (CLOCK_MONOTONIC ms), a ring */
static unsigned lobby_next;		/* the ring's next slot */

/* Returns 1 when the seat waits only for its turn. */
static int
lobby_ready(const struct lobby_seat *seat)
{
	return !seat->ask || seat->verdict == LOBBY_ACCEPTED;
}

/*
 * Returns 0 when a window may start opening now under rate (0: no
 * limit), the ms until one may, or -1 when it waits for a window still
 * opening.  lobby_lock is held.
 */
static long long
lobby_due(unsigned rate, long long now)
{
	long long oldest;
	unsigned k;

	if (rate == 0)
		return 0;
	if (lobby_opening >= rate)
		return -1;
	/* Fewer than k may have opened in the last second. */
	k = rate - lobby_opening;
	oldest = lobby_opened[(lobby_next + rate - k) % rate];
	if (oldest == 0 || now - oldest >= 1000)
		return 0;
	return oldest + 1000 - now;
}

/* Rings the doorbell of every seat waiting for its turn.  Locked. */
static void
lobby_wake_ready(void)
{
	struct lobby_seat *seat;

	for (seat = lobby_seats; seat != NULL; seat = seat->next)
		if (lobby_ready(seat))
			relay_wake(seat->s);
}

/* Takes seat out of the lobby.  lobby_lock is held. */
static void
lobby_leave(struct lobby_seat *seat)
{
	struct lobby_seat **p;

	for (p = &lobby_seats; *p != NULL; p = &(*p)->next)
		if (*p == seat) {
			*p = seat->next;
			lobby_waiting--;
			break;
		}
	/* The next in line may be first now. */
	lobby_wake_ready();
}

/* Returns the first seat waiting for its turn, or NULL.  Locked. */
static struct lobby_seat *
lobby_first_ready(void)
{
	struct lobby_seat *seat;

	for (seat = lobby_seats; seat != NULL; seat = seat->next)
		if (lobby_ready(seat))
			return seat;
	return NULL;
}

/*
 * A window that lobby_wait let start opening is up, or failed: the rate
 * counts it from now.
 */
void
lobby_window_done(struct session *s)
{
	unsigned rate = s->config->max_window_rate;

	if (rate == 0)
		return;
	pthread_mutex_lock(&lobby_lock);
	lobby_opening--;
	lobby_opened[lobby_next] = io_clock_ms();
	lobby_next = (lobby_next + 1) % rate;
	lobby_wake_ready();
	pthread_mutex_unlock(&lobby_lock);
}

/*
 * Reads what the client sent into s->kept.  Returns 0 (nothing more for
 * now), 1 when the client has gone, 2 when it sent too much, or 3 at
 * the end of what it sends (it may still be waiting for a reply).
 */
static int
lobby_keep(struct session *s)
{
	ssize_t n;

	for (;;) {
		if (s->kept == NULL &&
		    (s->kept = malloc(LOBBY_KEEP_MAX + 1)) == NULL)
			return 1;
		n = conn_recv(&s->conn, s->kept + s->kept_len,
		    LOBBY_KEEP_MAX + 1 - s->kept_len);
		if (n == -1 && errno == EAGAIN)
			return 0;
		if (n == 0)
			return 3;
		if (n == -1)
			return 1;
		s->kept_len += (size_t)n;
		atomic_fetch_add(&s->bytes_in, (unsigned long long)n);
		if (s->kept_len > LOBBY_KEEP_MAX)
			return 2;
	}
}

/* The notification's Accept and Reject: the console's commands. */
static void lobby_on_action(unsigned long, const char *);

static const char *const lobby_actions[] = {
	"accept=Accept", "reject=Reject", NULL
};

/* Tells the desktop that a client waits; never blocks. */
static void
lobby_notify(struct session *s)
{
	char who[160], safe[6 * 160 + 1], summary[96], body[1200];

	snprintf(summary, sizeof summary, "ptychat: client #%lu is waiting",
	    s->number);
	/* A --clients name may hold & or <: the body is markup. */
	session_who(s, who, sizeof who);
	(void)attention_excerpt(who, strlen(who), sizeof who, safe,
	    sizeof safe);
	snprintf(body, sizeof body, "%s, %s. Accept it here, or at the "
	    "console: accept %lu", s->peer.label, safe, s->number);
	if (notify_post(summary, body, lobby_actions, lobby_on_action,
	    s->number) == -1)
		log_debug("session %lu: no notification", s->number);
}

/*
 * Holds a new client in the lobby until it may have a window: at once
 * when it need not ask and the rate allows, or once the operator accepts
 * it and its turn comes.  Returns 0 to open its window, or -1 when it is
 * to be turned away with line (a whole line, or "" for none).
 */
int
lobby_wait(struct session *s, char *line, size_t len)
{
	const struct server_config *config = s->config;
	struct lobby_seat seat, *first;
	struct pollfd pfd[3];
	long long now, due, deadline = 0, wait;
	uint64_t count;
	int ask, gone = 0, closed = 0;

	*line = '\0';
	memset(&seat, 0, sizeof seat);
	seat.s = s;
	/* Listed keys (--clients) need nobody's word. */
	seat.ask = ask = config->ask && *s->peer.name == '\0';
	now = io_clock_ms();
	pthread_mutex_lock(&lobby_lock);
	if (!ask && lobby_first_ready() == NULL &&
	    lobby_due(config->max_window_rate, now) == 0) {
		if (config->max_window_rate != 0)
			lobby_opening++;
		pthread_mutex_unlock(&lobby_lock);
		return 0;
	}
	if (lobby_waiting >= config->max_waiting) {
		pthread_mutex_unlock(&lobby_lock);
		log_info("session %lu %s: refused: %u clients are waiting "
		    "already", s->number, s->peer.label, config->max_waiting);
		snprintf(line, len, "%s", LOBBY_FULL);
		return -1;
	}
	/* Last in the line. */
	for (first = lobby_seats; first != NULL && first->next != NULL;
	    first = first->next)
		;
	*(first != NULL ? &first->next : &lobby_seats) = &seat;
	lobby_waiting++;
	if (!session_move(s, SESSION_WAITING)) {
		/* Kicked, or the server stops. */
		lobby_leave(&seat);
		pthread_mutex_unlock(&lobby_lock);
		return -1;
	}
	pthread_mutex_unlock(&lobby_lock);

	if (ask) {
		log_info("session %lu %s: waiting for the operator (accept "
		    "%lu, or reject %lu)", s->number, s->peer.label,
		    s->number, s->number);
		(void)conn_send_now(&s->conn, LOBBY_WAITING,
		    strlen(LOBBY_WAITING));
		transcript_event(s->transcript, "waiting for the operator");
		lobby_notify(s);
		if (config->ask_timeout != 0)
			deadline = now + config->ask_timeout * 1000LL;
	} else
		log_debug("session %lu %s: waiting for its turn (window rate)",
		    s->number, s->peer.label);

	pfd[0].fd = s->sock;
	pfd[1].fd = s->hangup;
	pfd[1].events = POLLIN;
	pfd[2].fd = s->wake;
	pfd[2].events = POLLIN;
	for (;;) {
		if (!gone)
			gone = closed ? 0 : lobby_keep(s);
		if (gone == 3) {
			/*
			 * Its end of input (nc -N, a script's shutdown): what
			 * it sent still gets its window, and the relay will
			 * read the same end there.
			 */
			log_info("session %lu %s: closed its side while "
			    "waiting", s->number, s->peer.label);
			transcript_event(s->transcript, "client closed its "
			    "side while waiting");
			closed = 1;
			gone = 0;
			pfd[0].fd = -1;
		}
		now = io_clock_ms();
		pthread_mutex_lock(&lobby_lock);
		if (session_state(s) != SESSION_WAITING) {
			/* Kicked, or the server stops: no more words. */
			lobby_leave(&seat);
			pthread_mutex_unlock(&lobby_lock);
			if (session_state(s) == SESSION_KICKED)
				log_info("session %lu %s: hung up from the "
				    "console while waiting", s->number,
				    s->peer.label);
			return -1;
		}
		if (gone || seat.verdict == LOBBY_REJECTED) {
			lobby_leave(&seat);
			pthread_mutex_unlock(&lobby_lock);
			break;
		}
		wait = -1;
		if (lobby_ready(&seat)) {
			due = lobby_first_ready() == &seat ?
			    lobby_due(config->max_window_rate, now) : -1;
			if (due == 0) {
				if (config->max_window_rate != 0)
					lobby_opening++;
				lobby_leave(&seat);
				pthread_mutex_unlock(&lobby_lock);
				if (!session_move(s, SESSION_OPENING)) {
					/* Kicked just now: no window. */
					lobby_window_done(s);
					return -1;
				}
				/* accept --remember: listed from now on. */
				if (*seat.name != '\0')
					session_set_name(s, seat.name);
				log_info("session %lu %s: let in from the "
				    "lobby", s->number, s->peer.label);
				transcript_event(s->transcript, "let in from "
				    "the lobby");
				return 0;
			}
			wait = due;
		} else if (deadline != 0) {
			if (now >= deadline) {
				lobby_leave(&seat);
				pthread_mutex_unlock(&lobby_lock);
				log_info("session %lu %s: nobody accepted it "
				    "in %u s; disconnecting", s->number,
				    s->peer.label, config->ask_timeout);
				transcript_event(s->transcript, "nobody "
				    "accepted it in %u s", config->ask_timeout);
				snprintf(line, len, "%s", LOBBY_TIMEOUT);
				return -1;
			}
			wait = deadline - now;
		}
		pthread_mutex_unlock(&lobby_lock);

		pfd[0].events = s->conn.recv_wants;
		if (poll(pfd, 3, wait > INT_MAX ? INT_MAX : (int)wait) == -1 &&
		    errno != EINTR)
			gone = 1;
		if (pfd[2].revents != 0)
			(void)read(s->wake, &count, sizeof count);
	}
	if (seat.verdict == LOBBY_REJECTED) {
		log_info("session %lu %s: rejected from the console%s%s",
		    s->number, s->peer.label, *seat.reason != '\0' ? ": " : "",
		    seat.reason);
		transcript_event(s->transcript, "rejected%s%s",
		    *seat.reason != '\0' ? ": " : "", seat.reason);
		snprintf(line, len, "ptychatd: the operator turned you away%s%s"
		    "\n", *seat.reason != '\0' ? ": " : "", seat.reason);
	} else if (gone == 2) {
		log_info("session %lu %s: sent more than %d bytes while "
		    "waiting; disconnecting", s->number, s->peer.label,
		    LOBBY_KEEP_MAX);
		snprintf(line, len, "%s", LOBBY_TOO_MUCH);
	} else
		log_info("session %lu %s: left while waiting", s->number,
		    s->peer.label);
	return -1;
}

/*
 * Adds key with name to the --clients file, by writing the whole new
 * file beside it and renaming it into place (so a reader sees the old
 * file or the new, never half of one), with the old one's mode; then
 * puts the new list in force.  Returns 0, or -1 with one line in err.
 */
static int
lobby_remember(const char *file, const char *key, const char *name,
    char *err, size_t errlen)
{
	struct client_list list = { NULL, 0 };
	struct stat st;
	char *text = NULL, tmp[PATH_MAX], real[PATH_MAX];
	size_t len, add;
	int fd, failed, saved;

	/* A link stays a link: the file it names is the one replaced. */
	if (realpath(file, real) == NULL) {
		snprintf(err, errlen, "%s: %s", file, strerror(errno));
		return -1;
	}
	if ((text = clients_read(real, LOBBY_LINE_MAX(name), &len, &st, err,
	    errlen)) == NULL)
		return -1;
	add = (size_t)snprintf(text + len, LOBBY_LINE_MAX(name), "%s%s %s\n",
	    len > 0 && text[len - 1] != '\n' ? "\n" : "", key, name);
	len += add;
	/* The whole new file must read back, name and all. */
	if (clients_parse(text, len, file, &list, err, errlen) == -1) {
		free(text);
		return -1;
	}
	if ((size_t)snprintf(tmp, sizeof tmp, "%s.XXXXXX", real) >=
	    sizeof tmp || (fd = mkostemp(tmp, O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "%s: cannot make a new copy: %s", file,
		    strerror(errno));
		free(text);
		clients_free(&list);
		return -1;
	}
	failed = fchmod(fd, st.st_mode & 07777) == -1 ||
	    io_write_all(fd, text, len) == -1 || fsync(fd) == -1;
	saved = errno;
	if (close(fd) == -1 && !failed) {
		failed = 1;
		saved = errno;
	}
	if (!failed && rename(tmp, real) == -1) {
		failed = 1;
		saved = errno;
	}
	if (failed) {
		snprintf(err, errlen, "%s: %s", file, strerror(saved));
		(void)unlink(tmp);
		free(text);
		clients_free(&list);
		return -1;
	}
	free(text);
	session_set_clients(&list);
	log_info("key %s added to %s as %s", key, file, name);
	return 0;
}

/* Returns the seat of session number, or NULL.  lobby_lock is held. */
static struct lobby_seat *
lobby_find(unsigned long number)
{
	struct lobby_seat *seat;

	for (seat = lobby_seats; seat != NULL; seat = seat->next)
		if (seat->s->number == number)
			return seat;
	return NULL;
}

/*
 * Gives the operator's word on waiting client number: accepted, or
 * rejected with reason (NULL or "": none); for remember (accept
 * --remember NAME), adds its key to the --clients file first.  Writes
 * the console's reply to reply.
 */
static void
lobby_decide(unsigned long number, enum lobby_verdict verdict,
    const char *reason, const char *remember, char *reply, size_t len)
{
	struct lobby_seat *seat;
	const struct server_config *config;
	char key[FINGERPRINT_MAX], err[PATH_MAX + 256];

	pthread_mutex_lock(&lobby_lock);
	if ((seat = lobby_find(number)) == NULL) {
		pthread_mutex_unlock(&lobby_lock);
		snprintf(reply, len, "no client #%lu is waiting\n", number);
		return;
	}
	if (seat->verdict != LOBBY_UNDECIDED || (!seat->ask &&
	    verdict == LOBBY_ACCEPTED)) {
		pthread_mutex_unlock(&lobby_lock);
		snprintf(reply, len, "#%lu is already let in; its window "
		    "opens in turn\n", number);
		return;
	}
	config = seat->s->config;
	/* The front door is done with the key: the seat came after it. */
	memcpy(key, seat->s->key, sizeof key);
	pthread_mutex_unlock(&lobby_lock);

	if (remember != NULL) {
		if (config->clients_file == NULL) {
			snprintf(reply, len, "not accepted: --remember needs "
			    "the server started with --clients FILE\n");
			return;
		}
		if (strncmp(key, "SHA256:", 7) != 0) {
			snprintf(reply, len, "not accepted: #%lu has no key to "
			    "remember (%s)\n", number, key);
			return;
		}
		/* Only the console's thread writes the file (and SIGHUP's
		 * reading is on the same thread). */
		if (lobby_remember(config->clients_file, key, remember, err,
		    sizeof err) == -1) {
			snprintf(reply, len, "not accepted: %s\n", err);
			return;
		}
	}
	pthread_mutex_lock(&lobby_lock);
	/* It may have left meanwhile. */
	if ((seat = lobby_find(number)) == NULL) {
		pthread_mutex_unlock(&lobby_lock);
		snprintf(reply, len, "#%lu left before it was %s\n", number,
		    verdict == LOBBY_ACCEPTED ? "accepted" : "rejected");
		return;
	}
	seat->verdict = verdict;
	snprintf(seat->reason, sizeof seat->reason, "%s",
	    reason != NULL ? reason : "");
	snprintf(seat->name, sizeof seat->name, "%s",
	    remember != NULL ? remember : "");
	relay_wake(seat->s);
	pthread_mutex_unlock(&lobby_lock);
	if (verdict == LOBBY_REJECTED)
		snprintf(reply, len, "rejected #%lu\n", number);
	else if (remember != NULL)
		snprintf(reply, len, "accepted #%lu; its key %s is remembered "
		    "as %s\n", number, key, remember);
	else
		snprintf(reply, len, "accepted #%lu\n", number);
}

/* Accepts every client that waits for the operator. */
static void
lobby_accept_all(char *reply, size_t len)
{
	struct lobby_seat *seat;
	unsigned n = 0;

	pthread_mutex_lock(&lobby_lock);
	for (seat = lobby_seats; seat != NULL; seat = seat->next)
		if (seat->ask && seat->verdict == LOBBY_UNDECIDED) {
			seat->verdict = LOBBY_ACCEPTED;
			relay_wake(seat->s);
			n++;
		}
	pthread_mutex_unlock(&lobby_lock);
	if (n == 0)
		snprintf(reply, len, "no client is waiting\n");
	else
		snprintf(reply, len, "accepted %u client%s\n", n,
		    n == 1 ? "" : "s");
}

/* Runs on notify.c's thread when the operator picks Accept or Reject. */
static void
lobby_on_action(unsigned long number, const char *name)
{
	char reply[PATH_MAX + 320];

	if (strcmp(name, "accept") == 0)
		lobby_decide(number, LOBBY_ACCEPTED, NULL, NULL, reply,
		    sizeof reply);
	else if (strcmp(name, "reject") == 0)
		lobby_decide(number, LOBBY_REJECTED, NULL, NULL, reply,
		    sizeof reply);
	else
		return;
	/* A log line reaches the console when there is one. */
	reply[strcspn(reply, "\n")] = '\0';
	log_info("from the notification: %s", reply);
}

/*
 * The console's accept and reject (word), with the rest of the line in
 * args: "N", "all", "N --remember NAME"; "N [REASON]".  Returns 0, or -1
 * when args do not parse (the console says how to use it).
 */
int
lobby_console(const char *word, const char *args)
{
	char number[24], reply[PATH_MAX + 320];
	const char *errstr, *rest;
	size_t n = strcspn(args, " ");
	long long session;

	if (strcmp(word, "accept") == 0 && strcmp(args, "all") == 0) {
		lobby_accept_all(reply, sizeof reply);
		console_print(reply);
		return 0;
	}
	if (n == 0 || n >= sizeof number)
		return -1;
	memcpy(number, args, n);
	number[n] = '\0';
	session = number_parse(number, 1, LLONG_MAX, &errstr);
	if (errstr != NULL)
		return -1;
	rest = args + n + strspn(args + n, " ");
	if (strcmp(word, "reject") == 0)
		lobby_decide((unsigned long)session, LOBBY_REJECTED, rest, NULL,
		    reply, sizeof reply);
	else if (*rest == '\0')
		lobby_decide((unsigned long)session, LOBBY_ACCEPTED, NULL, NULL,
		    reply, sizeof reply);
	else if (strncmp(rest, "--remember ", 11) == 0 &&
	    rest[11 + strspn(rest + 11, " ")] != '\0')
		lobby_decide((unsigned long)session, LOBBY_ACCEPTED, NULL,
		    rest + 11 + strspn(rest + 11, " "), reply, sizeof reply);
	else
		return -1;
	console_print(reply);
	return 0;
}
