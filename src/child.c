/*
 * The server's child processes: terminals, tmux launchers, tmux probes.
 *
 * Session threads start children while the main thread reaps them on
 * SIGCHLD, so one table, under one lock, knows them all.  Only children
 * in the table are reaped, each by its own pid, never with waitpid(-1):
 * a child that exits before its spawner has recorded it stays a zombie
 * until the spawner looks at it, and is never reaped unrecorded.  The
 * spawner may wait for its child's exit; once it lets go, the entry goes
 * when the child has been reaped.
 *
 * A child's stdout and stderr go to a pipe whose lines are logged with a
 * prefix.  One thread reads every such pipe, each until its end of file,
 * when no process holds it any more: a terminal that outlives its
 * session and writes later never meets a closed pipe.
 */
#include <sys/types.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ptychat.h"

/*
 * How often a waiting thread looks for itself, in case no SIGCHLD reaper
 * runs (as at shutdown, or in a test).
 */
#define CHILD_TICK_MS	100

/* A longer line of a child's output is logged in pieces. */
#define CHILD_LINE_MAX	512

extern char **environ;

struct child {
	pid_t		 pid;
	int		 exited;	/* reaped */
	int		 status;	/* waitpid's word, once reaped */
	int		 owned;		/* its spawner has not let go of it */
	int		 done;		/* eventfd, readable once reaped */
	char		 name[64];	/* for the log, or "" for none */
	struct child	*next;
};

/* The lines of one child's output on their way to the log. */
struct child_log {
	int		 fd;		/* the pipe's read end */
	char		 prefix[96];
	char		 buf[CHILD_LINE_MAX];	/* a line not yet whole */
	size_t		 len;
	struct child_log *prev, *next;	/* every open one, under the lock */
};

/* The epoll set of every child_log, read by one thread. */
static pthread_once_t child_log_once = PTHREAD_ONCE_INIT;
static int child_log_set = -1;
/* The same, listed, so that what epoll holds is never lost to sight. */
static pthread_mutex_t child_log_lock = PTHREAD_MUTEX_INITIALIZER;
static struct child_log *child_logs;

/* Every child not yet both reaped and let go of. */
static pthread_mutex_t child_lock = PTHREAD_MUTEX_INITIALIZER;
static struct child *child_list;

/* Notes c's exit, logs it, and wakes its waiter.  child_lock is held. */
static void
child_record(struct child *c, int status)
{
	uint64_t one = 1;

	c->exited = 1;
	c->status = status;
	if (c->done != -1)
		(void)write(c->done, &one, sizeof one);
	if (c->name[0] == '\0')
		return;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		log_debug("%s exited", c->name);
	else if (WIFEXITED(status))
		log_info("%s exited with status %d", c->name,
		    WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		log_info("%s killed by signal %d", c->name, WTERMSIG(status));
}

/* Reaps c if it has exited, without blocking.  child_lock is held. */
static void
child_check(struct child *c)
{
	pid_t r;
	int status;

	if (c->exited)
		return;
	while ((r = waitpid(c->pid, &status, WNOHANG)) == -1 &&
	    errno == EINTR)
		;
	if (r == c->pid)
		child_record(c, status);
	else if (r == -1)
		/* Not ours to wait for after all: never count it again. */
		child_record(c, W_EXITCODE(127, 0));
}

/* Takes c out of the table and frees it.  child_lock is held. */
static void
child_unlink(struct child *c)
{
	struct child **p;

	for (p = &child_list; *p != NULL; p = &(*p)->next)
		if (*p == c) {
			*p = c->next;
			break;
		}
	if (c->done != -1)
		close(c->done);
	free(c);
}

/*
 * Starts file with posix_spawnp(3) as set up by fa and sa, and records it
 * in one step.  name is how the log calls it when it exits ("session 3:
 * terminal"), or NULL for a child whose end is not news.  Returns the
 * child, to wait for and let go of, or NULL with errno set.
 */
struct child *
child_spawn(const char *name, const char *file,
    const posix_spawn_file_actions_t *fa, const posix_spawnattr_t *sa,
    char *const argv[])
{
	struct child *c;
	pid_t pid;
	int err;

	if ((c = calloc(1, sizeof *c)) == NULL)
		return NULL;
	if ((c->done = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) == -1) {
		free(c);
		return NULL;
	}
	snprintf(c->name, sizeof c->name, "%s", name != NULL ? name : "");
	if ((err = posix_spawnp(&pid, file, fa, sa, argv, environ)) != 0) {
		close(c->done);
		free(c);
		errno = err;
		return NULL;
	}
	pthread_mutex_lock(&child_lock);
	c->pid = pid;
	c->owned = 1;
	c->next = child_list;
	child_list = c;
	/* Its SIGCHLD may have come before it was in the table. */
	child_check(c);
	pthread_mutex_unlock(&child_lock);
	return c;
}

pid_t
child_pid(const struct child *c)
{
	return c->pid;
}

/* Returns an fd that polls readable once the child has been reaped. */
int
child_fd(const struct child *c)
{
	return c->done;
}

/*
 * Returns 1 once the child has exited, with waitpid's status word in
 * *status, or 0 while it runs.  Never blocks.
 */
int
child_exited(struct child *c, int *status)
{
	int exited;

	pthread_mutex_lock(&child_lock);
	child_check(c);
	exited = c->exited;
	*status = c->status;
	pthread_mutex_unlock(&child_lock);
	return exited;
}

/*
 * Waits up to timeout_ms for the child to exit, or until cancel (an fd,
 * or -1 for none) polls readable.  Returns 0 with waitpid's status word
 * in *status, or -1 with errno ETIMEDOUT or ECANCELED.
 */
int
child_wait(struct child *c, int cancel, int timeout_ms, int *status)
{
	struct pollfd pfd[2];
	long long deadline = io_clock_ms() + timeout_ms, left;

	pfd[0].fd = c->done;
	pfd[0].events = POLLIN;
	pfd[1].fd = cancel;
	pfd[1].events = POLLIN;
	while (!child_exited(c, status)) {
		if ((left = deadline - io_clock_ms()) <= 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		if (poll(pfd, 2, left < CHILD_TICK_MS ? (int)left :
		    CHILD_TICK_MS) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (pfd[1].revents != 0) {
			errno = ECANCELED;
			return -1;
		}
	}
	return 0;
}

/*
 * Lets go of a child: nobody will wait for it any more.  It is reaped
 * (and logged) all the same.
 */
void
child_release(struct child *c)
{
	if (c == NULL)
		return;
	pthread_mutex_lock(&child_lock);
	c->owned = 0;
	if (c->done != -1)
		close(c->done);
	c->done = -1;
	if (c->exited)
		child_unlink(c);
	pthread_mutex_unlock(&child_lock);
}

/*
 * Keeps c (to signal it later) but will not wait for it any more: its fd
 * goes.
 */
void
child_unwatch(struct child *c)
{
	pthread_mutex_lock(&child_lock);
	if (c->done != -1)
		close(c->done);
	c->done = -1;
	pthread_mutex_unlock(&child_lock);
}

/* Reaps every child in the table that has exited, without blocking. */
void
child_reap(void)
{
	struct child *c, *next;
	int saved = errno;

	pthread_mutex_lock(&child_lock);
	for (c = child_list; c != NULL; c = next) {
		next = c->next;
		child_check(c);
		if (c->exited && !c->owned)
			child_unlink(c);
	}
	pthread_mutex_unlock(&child_lock);
	errno = saved;
}

/* Sends sig to every child not yet reaped, and to its process group. */
void
child_signal_all(int sig)
{
	struct child *c;

	pthread_mutex_lock(&child_lock);
	for (c = child_list; c != NULL; c = c->next)
		if (!c->exited)
			(void)kill(-c->pid, sig);
	pthread_mutex_unlock(&child_lock);
}

/*
 * Sends sig to c's process group, unless c has been reaped (its pid may
 * then be another's).  c may be NULL.
 */
void
child_signal(struct child *c, int sig)
{
	if (c == NULL)
		return;
	pthread_mutex_lock(&child_lock);
	if (!c->exited)
		(void)kill(-c->pid, sig);
	pthread_mutex_unlock(&child_lock);
}

/* Makes c's exit no news for the log: it was asked to end. */
void
child_quiet(struct child *c)
{
	if (c == NULL)
		return;
	pthread_mutex_lock(&child_lock);
	c->name[0] = '\0';
	pthread_mutex_unlock(&child_lock);
}

/* Returns how many children have not been reaped yet. */
size_t
child_count(void)
{
	struct child *c;
	size_t n = 0;

	pthread_mutex_lock(&child_lock);
	for (c = child_list; c != NULL; c = c->next)
		if (!c->exited)
			n++;
	pthread_mutex_unlock(&child_lock);
	return n;
}

/* Logs one line of a child's output, made safe for the operator's tty. */
static void
child_log_line(const struct child_log *l, const char *line, size_t len)
{
	char out[SANITIZE_OUT_MAX(CHILD_LINE_MAX)];
	struct sanitizer san;
	size_t n;

	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (len == 0)
		return;
	sanitize_init(&san);
	n = sanitize_feed(&san, line, len, out);
	n += sanitize_finish(&san, out + n);
	log_error("%s: %.*s", l->prefix, (int)n, out);
}

/*
 * Reads what one child wrote and logs each whole line.  Returns -1 at
 * the end of its output (nobody holds the pipe any more), having logged
 * the last piece; 0 otherwise.
 */
static int
child_log_read(struct child_log *l)
{
	char *nl;
	size_t used;
	ssize_t n;

	n = read(l->fd, l->buf + l->len, sizeof l->buf - l->len);
	if (n == -1 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (n <= 0) {
		child_log_line(l, l->buf, l->len);
		return -1;
	}
	l->len += (size_t)n;
	while ((nl = memchr(l->buf, '\n', l->len)) != NULL) {
		used = (size_t)(nl - l->buf) + 1;
		child_log_line(l, l->buf, used - 1);
		memmove(l->buf, l->buf + used, l->len - used);
		l->len -= used;
	}
	if (l->len == sizeof l->buf) {
		child_log_line(l, l->buf, l->len);
		l->len = 0;
	}
	return 0;
}

/* Takes l off the list of open child_logs. */
static void
child_log_unlist(struct child_log *l)
{
	pthread_mutex_lock(&child_log_lock);
	if (l->prev != NULL)
		l->prev->next = l->next;
	else
		child_logs = l->next;
	if (l->next != NULL)
		l->next->prev = l->prev;
	pthread_mutex_unlock(&child_log_lock);
}

/*
 * The one reader of every child's output, for the life of the program:
 * a pipe leaves the set only at its end of file, so a terminal that
 * outlives its session and writes later never meets a closed pipe.
 */
static void *
child_log_main(void *arg)
{
	struct epoll_event ev[16];
	struct child_log *l;
	int i, n;

	(void)arg;
	for (;;) {
		n = epoll_wait(child_log_set, ev, 16, -1);
		for (i = 0; i < n; i++) {
			l = ev[i].data.ptr;
			if (child_log_read(l) == 0)
				continue;
			(void)epoll_ctl(child_log_set, EPOLL_CTL_DEL, l->fd,
			    NULL);
			close(l->fd);
			child_log_unlist(l);
			free(l);
		}
	}
	return NULL;
}

/* Starts the reader of children's output; for pthread_once. */
static void
child_log_start(void)
{
	int err;

	if ((child_log_set = epoll_create1(EPOLL_CLOEXEC)) == -1)
		return;
	if ((err = thread_start(child_log_main, NULL)) != 0) {
		close(child_log_set);
		child_log_set = -1;
		errno = err;
	}
}

/*
 * Starts the thread that logs children's output, if it is not running
 * yet.  Returns -1 when it cannot run.
 */
int
child_log_init(void)
{
	pthread_once(&child_log_once, child_log_start);
	return child_log_set == -1 ? -1 : 0;
}

/*
 * Opens a pipe for a child's stdout and stderr whose lines are logged as
 * "prefix: line".  Returns the write end (close-on-exec; give it to the
 * child, then close it), or -1 with errno set.
 */
int
child_output(const char *prefix)
{
	struct epoll_event ev;
	struct child_log *l;
	int fds[2];

	if (child_log_init() == -1) {
		errno = EAGAIN;
		return -1;
	}
	if ((l = calloc(1, sizeof *l)) == NULL)
		return -1;
	if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) == -1) {
		free(l);
		return -1;
	}
	/* Only the read end is ours to keep non-blocking. */
	(void)fcntl(fds[1], F_SETFL, 0);
	l->fd = fds[0];
	snprintf(l->prefix, sizeof l->prefix, "%s", prefix);
	memset(&ev, 0, sizeof ev);
	ev.events = EPOLLIN;
	ev.data.ptr = l;
	/* Listed before epoll can hand it to the reader, who unlists it. */
	pthread_mutex_lock(&child_log_lock);
	l->next = child_logs;
	if (child_logs != NULL)
		child_logs->prev = l;
	child_logs = l;
	pthread_mutex_unlock(&child_log_lock);
	if (epoll_ctl(child_log_set, EPOLL_CTL_ADD, l->fd, &ev) == -1) {
		child_log_unlist(l);
		close(fds[0]);
		close(fds[1]);
		free(l);
		return -1;
	}
	return fds[1];
}
