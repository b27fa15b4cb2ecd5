/*
 * A session: one client, one pty, one window, two relay threads.
 *
 * The main thread opens the pty and launches the window (session_open).
 * A session thread then waits for the window to be ready, sets the pty up
 * for typing, starts the socket-to-window relay and runs the
 * window-to-socket relay itself.  The last relay thread out closes the
 * session's descriptors and frees it (session_release).
 */
#include <sys/types.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <pty.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "ptychat.h"

/* The fd the window finds its pty master on (-S<ptsname>/3). */
#define SESSION_HANDOFF_FD	3

/* How long a window may take to report its id before we give up. */
#define SESSION_WINDOW_TIMEOUT_MS	15000

/* How long urxvt, which reports nothing, must live to count as open. */
#define SESSION_PTY_FD_GRACE_MS		300

extern char **environ;

/* Live sessions: for the limits, and so that shutdown can wait. */
static pthread_mutex_t session_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t session_ended = PTHREAD_COND_INITIALIZER;
static struct session *session_list;
static unsigned long session_live;

/*
 * The moves a session's state may make: from the state of the row to
 * each state marked.  A final state (window closed, kicked, stopped) has
 * no way out, so whichever ending comes first is the one that counts.
 */
static const unsigned char session_moves[][SESSION_STOPPED + 1] = {
	[SESSION_OPENING] =	{ [SESSION_OPEN] = 1, [SESSION_KICKED] = 1,
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
	[SESSION_OPEN] = "open",
	[SESSION_CLIENT_DONE] = "client closed its side",
	[SESSION_CLIENT_GONE] = "client gone",
	[SESSION_WINDOW_CLOSED] = "window closed",
	[SESSION_KICKED] = "hung up",
	[SESSION_STOPPED] = "ending",
};

/* Returns CLOCK_MONOTONIC in milliseconds. */
long long
session_clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

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

	if (atomic_fetch_sub(&s->threads, 1) != 1)
		return;
	/* Out of the list first: what is found there has its fds open. */
	pthread_mutex_lock(&session_lock);
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		session_list = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	pthread_mutex_unlock(&session_lock);

	if (s->sock != -1) {
		/* Shut down first: no copy of the fd may keep it up. */
		(void)shutdown(s->sock, SHUT_RDWR);
		close(s->sock);
	}
	/* With our end gone, the window's terminal exits. */
	close(s->tty);
	if (s->held != -1)
		close(s->held);
	close(s->wake);
	close(s->hangup);
	for (m = outbox_close(&s->outbox); m != NULL; m = next) {
		next = m->next;
		session_report(s, m, 0, "the session ended");
	}
	outbox_free(&s->outbox);
	window_free(s);
	transcript_event(s->transcript, "session ended");
	transcript_close(s->transcript);
	log_debug("session %lu %s: ended", s->number, s->peer.label);
	free(s);

	pthread_mutex_lock(&session_lock);
	session_live--;
	pthread_cond_broadcast(&session_ended);
	pthread_mutex_unlock(&session_lock);
}

/*
 * Tells the session whose window process was pid that it has exited,
 * with status 0 (ok) or not.
 */
void
session_terminal_exited(pid_t pid, int ok)
{
	struct session *s;

	pthread_mutex_lock(&session_lock);
	for (s = session_list; s != NULL; s = s->next)
		if (s->pid == pid)
			atomic_store(&s->terminal_exited, ok ? 2 : 1);
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
	long long now = session_clock_ms();

	pthread_mutex_lock(&session_lock);
	for (s = session_list; s != NULL; s = s->next)
		n++;
	*views = n ? calloc(n, sizeof **views) : NULL;
	if (*views == NULL)
		n = 0;
	/* The list is newest first; the view is oldest first. */
	for (s = session_list, i = n; s != NULL && i > 0; s = s->next) {
		i--;
		(*views)[i].number = s->number;
		strcpy((*views)[i].label, s->peer.label);
		(*views)[i].age = (now - s->started_ms) / 1000;
		(*views)[i].bytes_in = atomic_load(&s->bytes_in);
		(*views)[i].bytes_out = atomic_load(&s->bytes_out);
		(*views)[i].state = session_state_names[session_state(s)];
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
 * hears the verdict (console_print) once every session has given its.
 * Returns how many sessions took it, or -1 with errno ENOENT when there
 * is no such session.
 */
int
session_post(unsigned long number, const char *text, size_t len)
{
	struct outbox_batch *batch = NULL;
	struct session *s;
	unsigned n = 0;
	int found = 0, took = 0;

	pthread_mutex_lock(&session_lock);
	for (s = session_list; s != NULL; s = s->next) {
		if (number != 0 && s->number != number)
			continue;
		found = 1;
		if (session_taking(s))
			n++;
	}
	if (n > 0 && (batch = outbox_batch_new(n, number)) == NULL)
		n = 0;
	for (s = session_list; s != NULL && n > 0; s = s->next) {
		if ((number != 0 && s->number != number) || !session_taking(s))
			continue;
		if (outbox_put(&s->outbox, OUTBOX_CONSOLE, text, len, batch,
		    0) == 0) {
			took++;
			relay_wake(s);
		} else
			outbox_batch_done(batch, s->number, 0, errno ==
			    EAGAIN ? "the client is not reading" :
			    "the session is ending", console_print);
	}
	pthread_mutex_unlock(&session_lock);
	if (!found) {
		errno = ENOENT;
		return -1;
	}
	return took;
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

/* Returns the number of sessions whose threads still run. */
unsigned long
session_count(void)
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
 * Waits for the window's first words: with -S, xterm writes its X window
 * id as a hex line before anything else (echo is off while it comes);
 * the bridge writes "ready".  The line is of no further use.  urxvt says
 * nothing, so it counts as ready once it has survived a short grace time.
 * A terminal that exits first (no display, say) is noticed by the main
 * thread, which reaps it; tmux's launcher always exits, and only its
 * failure counts.  Returns 0 when the window is ready, or -1 with a
 * reason in why.
 */
static int
session_await_window(struct session *s, const char **why)
{
	struct pollfd pfd[2];
	struct timespec now, deadline;
	char buf[256];
	ssize_t n;
	int wait_ms, exited;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	if (s->kind == WINDOW_PTY_FD)
		deadline.tv_nsec += SESSION_PTY_FD_GRACE_MS * 1000000L;
	else
		deadline.tv_sec += SESSION_WINDOW_TIMEOUT_MS / 1000;
	for (;;) {
		exited = atomic_load(&s->terminal_exited);
		if (exited == 1 || (exited == 2 && s->kind != WINDOW_TMUX)) {
			*why = "the terminal exited before its window opened";
			return -1;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		wait_ms = (int)((deadline.tv_sec - now.tv_sec) * 1000 +
		    (deadline.tv_nsec - now.tv_nsec) / 1000000);
		if (wait_ms <= 0 && s->kind == WINDOW_PTY_FD)
			return 0;
		if (wait_ms <= 0) {
			*why = "the terminal did not open a window in time";
			return -1;
		}
		pfd[0].fd = s->tty;
		pfd[0].events = POLLIN;
		pfd[1].fd = s->hangup;
		pfd[1].events = POLLIN;
		if (poll(pfd, 2, wait_ms < 100 ? wait_ms : 100) == -1) {
			if (errno == EINTR)
				continue;
			*why = strerror(errno);
			return -1;
		}
		if (pfd[1].revents != 0) {
			*why = "the server is stopping";
			return -1;
		}
		if (pfd[0].revents == 0)
			continue;
		n = read(s->tty, buf, sizeof buf);
		if (n > 0 && memchr(buf, '\n', (size_t)n) != NULL)
			return 0;
		if (n == 0 || (n == -1 && errno != EINTR && errno != EAGAIN)) {
			*why = "the terminal exited before its window opened";
			return -1;
		}
	}
}

/*
 * Sets the pty up for typing once a window that holds its master is up:
 * raw for the chat line editor, or whole lines with the terminal's own
 * editing (--plain), Backspace being DEL for urxvt and ^H for xterm -S.
 */
static int
session_window_mode(struct session *s)
{
	struct termios t;

	if (s->config->plain)
		return tty_typing_mode(s->tty, s->kind == WINDOW_PTY_FD ?
		    0177 : 010);
	if (tcgetattr(s->tty, &t) == -1)
		return -1;
	cfmakeraw(&t);
	return tcsetattr(s->tty, TCSANOW, &t);
}

/* The session thread: window hand-shake, then the relays. */
static void *
session_main(void *arg)
{
	struct session *s = arg;
	const char *why;
	int err, fd;

	if (session_await_window(s, &why) == -1) {
		session_move(s, SESSION_STOPPED);
		log_error("session %lu %s: no window: %s", s->number,
		    s->peer.label, why);
		transcript_event(s->transcript, "no window: %s", why);
		/* Out of the console's reach before the fd number is freed. */
		pthread_mutex_lock(&session_lock);
		fd = s->sock;
		s->sock = -1;
		pthread_mutex_unlock(&session_lock);
		net_refuse(fd, SESSION_NO_WINDOW);
		session_release(s);
		return NULL;
	}
	if (s->held != -1) {
		/* The bridge has the slave: its close now means the end. */
		close(s->held);
		s->held = -1;
	} else if (session_window_mode(s) == -1)
		log_error("session %lu %s: pty set-up: %s", s->number,
		    s->peer.label, strerror(errno));
	window_start(s);
	if (!session_move(s, SESSION_OPEN)) {
		/* Kicked or stopped while its window opened. */
		session_release(s);
		return NULL;
	}
	log_info("session %lu %s: window open", s->number, s->peer.label);
	transcript_event(s->transcript, "window open");

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
 * Starts the window's terminal; with master != -1, it gets the pty master
 * as fd 3 (-S).  The child must see nothing of ours but that fd: the rest
 * is closed, stdin is /dev/null, signals are back to their defaults and
 * unblocked, and it leads its own session.  Returns the pid, or -1 with
 * errno set.
 */
static pid_t
session_spawn(char **argv, int master)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t sa;
	sigset_t none, reset;
	pid_t pid = -1;
	int err;

	sigemptyset(&none);
	sigemptyset(&reset);
	sigaddset(&reset, SIGPIPE);
	sigaddset(&reset, SIGINT);
	sigaddset(&reset, SIGTERM);
	sigaddset(&reset, SIGHUP);
	sigaddset(&reset, SIGCHLD);
	posix_spawnattr_init(&sa);
	posix_spawnattr_setflags(&sa, POSIX_SPAWN_SETSIGMASK |
	    POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSID);
	posix_spawnattr_setsigmask(&sa, &none);
	posix_spawnattr_setsigdefault(&sa, &reset);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null",
	    O_RDONLY, 0);
	if (master != -1)
		posix_spawn_file_actions_adddup2(&fa, master,
		    SESSION_HANDOFF_FD);
	posix_spawn_file_actions_addclosefrom_np(&fa, master != -1 ?
	    SESSION_HANDOFF_FD + 1 : STDERR_FILENO + 1);
	err = posix_spawnp(&pid, argv[0], &fa, &sa, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&sa);
	if (err != 0) {
		errno = err;
		return -1;
	}
	return pid;
}

/*
 * Prepares the pty for the kind of window about to be launched, before
 * the launch.  For -S, echo goes off so xterm's window id line stays out
 * of the window.  For the bridge, the session pty is raw both ways.
 * Returns -1 with errno set on failure.
 */
static int
session_pty_mode(int slave, int bridge)
{
	struct termios t;

	if (tcgetattr(slave, &t) == -1)
		return -1;
	if (bridge)
		cfmakeraw(&t);
	else
		t.c_lflag &= ~(tcflag_t)ECHO;
	return tcsetattr(slave, TCSANOW, &t);
}

/*
 * Opens a session for a client just accepted on sock: a pty, a window on
 * it, and the session thread.  On success the session owns sock.  On
 * failure the client has been told and sock is closed.  Either way *pid
 * is the window's process, or -1 when none was started; the caller reaps
 * it.  Returns 0, or -1 on failure.
 */
int
session_open(const struct server_config *config, int sock,
    const struct peer *peer, unsigned long number, pid_t *pid)
{
	const struct terminal *term = &config->terminal;
	struct session *s = NULL;
	char ptsname[64], **argv = NULL;
	int master = -1, slave = -1, moved, err, bridge;

	*pid = -1;
	/* With the bridge, we keep the master; otherwise the window does. */
	bridge = term->kind == WINDOW_BRIDGE || term->kind == WINDOW_TMUX;
	/* glibc's openpty leaves both ends inheritable: fix that at once. */
	if (openpty(&master, &slave, ptsname, NULL, NULL) == -1) {
		log_error("session %lu %s: openpty: %s", number, peer->label,
		    strerror(errno));
		goto fail;
	}
	if (io_cloexec(master) == -1 || io_cloexec(slave) == -1)
		goto fail_errno;
	/* dup2 onto itself would leave close-on-exec set in the child. */
	if (master == SESSION_HANDOFF_FD) {
		if ((moved = fcntl(master, F_DUPFD_CLOEXEC,
		    SESSION_HANDOFF_FD + 1)) == -1)
			goto fail_errno;
		close(master);
		master = moved;
	}
	if (session_pty_mode(slave, bridge) == -1)
		goto fail_errno;

	argv = termcmd_argv(term, terminal_tail(term), number, peer, ptsname,
	    SESSION_HANDOFF_FD);
	if (argv == NULL)
		goto fail_errno;
	if ((*pid = session_spawn(argv, bridge ? -1 : master)) == -1) {
		log_error("session %lu %s: cannot start terminal '%s': %s",
		    number, peer->label, argv[0], strerror(errno));
		goto fail;
	}
	log_debug("session %lu %s: terminal %s is pid %ld", number,
	    peer->label, argv[0], (long)*pid);
	termcmd_free(argv);
	argv = NULL;

	if ((s = calloc(1, sizeof *s)) == NULL)
		goto fail_errno;
	s->config = config;
	s->number = number;
	s->peer = *peer;
	s->sock = sock;
	s->pid = *pid;
	s->kind = term->kind;
	if (bridge) {
		/* Hold the slave until the bridge has it open. */
		s->tty = master;
		s->held = slave;
	} else {
		/* Only the window may hold the master, or its close goes
		 * unseen. */
		close(master);
		s->tty = slave;
		s->held = -1;
	}
	master = slave = -1;
	if (io_nonblock(s->tty) == -1)
		log_error("session %lu %s: O_NONBLOCK: %s", number,
		    peer->label, strerror(errno));
	s->hangup = -1;
	if ((s->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) == -1 ||
	    (s->hangup = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) == -1 ||
	    window_init(s) == -1) {
		log_error("session %lu %s: %s", number, peer->label,
		    strerror(errno));
		if (s->wake != -1)
			close(s->wake);
		if (s->hangup != -1)
			close(s->hangup);
		close(s->tty);
		if (s->held != -1)
			close(s->held);
		free(s);
		net_refuse(sock, SESSION_NO_WINDOW);
		return -1;
	}
	atomic_init(&s->threads, 1);
	atomic_init(&s->state, SESSION_OPENING);
	atomic_init(&s->reader_stopped, 0);
	s->started_ms = session_clock_ms();
	atomic_init(&s->last_active_ms, s->started_ms);
	outbox_init(&s->outbox);
	if (config->log_dir != NULL) {
		s->transcript = transcript_open(config->log_dir, number, peer);
		if (s->transcript == NULL)
			log_error("session %lu %s: transcript in %s: %s",
			    number, peer->label, config->log_dir,
			    strerror(errno));
		transcript_event(s->transcript, "ptychat session #%lu: "
		    "client %s connected", number, peer->label);
	}

	pthread_mutex_lock(&session_lock);
	s->next = session_list;
	if (session_list != NULL)
		session_list->prev = s;
	session_list = s;
	session_live++;
	pthread_mutex_unlock(&session_lock);
	if ((err = thread_start(session_main, s)) == 0)
		return 0;
	log_error("session %lu %s: thread: %s", number, peer->label,
	    strerror(err));
	net_refuse(sock, SESSION_NO_WINDOW);
	s->sock = -1;
	session_release(s);
	return -1;

fail_errno:
	log_error("session %lu %s: pty set-up: %s", number, peer->label,
	    strerror(errno));
fail:
	termcmd_free(argv);
	if (master != -1)
		close(master);
	if (slave != -1)
		close(slave);
	net_refuse(sock, SESSION_NO_WINDOW);
	return -1;
}
