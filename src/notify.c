/*
 * Desktop notifications through notify-send, never blocking.
 *
 * notify_post starts notify-send through the process table (child.c)
 * and hands it to one thread of ours, which reads what it prints (the
 * chosen action, or why it failed), sees it exit, and kills one that
 * hangs.  No other thread ever waits on it: a notify-send that hangs or
 * fails costs a slot among NOTIFY_RUNNING_MAX and one debug log line.
 */
#include <sys/eventfd.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ptychat.h"

#define NOTIFY_PROGRAM		"notify-send"
/* Beyond this many at once, a notification is dropped (and logged). */
#define NOTIFY_RUNNING_MAX	16
#define NOTIFY_ACTIONS_MAX	4
#define NOTIFY_NAME_MAX		32
/* Without actions notify-send returns at once; with them, on a choice. */
#define NOTIFY_PLAIN_MS		10000
#define NOTIFY_ACTION_MS	(15 * 60 * 1000)
/* How often the thread looks at its children when no fd wakes it. */
#define NOTIFY_TICK_MS		250
#define NOTIFY_OUT_MAX		256

/* One notify-send on its way. */
struct notify_job {
	struct child	*child;
	int		 out;		/* its stdout and stderr; -1 at EOF */
	char		 buf[NOTIFY_OUT_MAX];	/* a line not yet whole */
	size_t		 len;
	char		 said[NOTIFY_OUT_MAX];	/* its first other line */
	char		 names[NOTIFY_ACTIONS_MAX][NOTIFY_NAME_MAX];
	size_t		 nnames;
	int		 chosen;	/* on_action has run */
	void		(*on_action)(unsigned long, const char *);
	unsigned long	 session;
	long long	 deadline;	/* CLOCK_MONOTONIC ms: then killed */
	int		 killed;
	struct notify_job *next;
};

static atomic_int notify_enabled;
static pthread_once_t notify_once = PTHREAD_ONCE_INIT;
/* eventfd: a new job for the thread; -1 when the thread cannot run. */
static int notify_wake = -1;
/* Guards the list of jobs; only the thread takes one off it. */
static pthread_mutex_t notify_lock = PTHREAD_MUTEX_INITIALIZER;
static struct notify_job *notify_jobs;
static size_t notify_running;

/* Logs one line of notify-send's at debug level, made safe. */
static void
notify_log(const char *what, const char *line)
{
	char out[SANITIZE_OUT_MAX(NOTIFY_OUT_MAX)];
	struct sanitizer san;
	size_t n;

	sanitize_init(&san);
	n = sanitize_feed(&san, line, strlen(line), out);
	n += sanitize_finish(&san, out + n);
	log_debug("notify-send %s%s%.*s", what, n > 0 ? ": " : "", (int)n,
	    out);
}

/* One whole line of notify-send's output: an action's name, or news. */
static void
notify_line(struct notify_job *j, const char *line)
{
	size_t i;

	for (i = 0; i < j->nnames; i++)
		if (strcmp(line, j->names[i]) == 0 && !j->chosen) {
			j->chosen = 1;
			if (j->on_action != NULL)
				j->on_action(j->session, line);
			return;
		}
	if (j->said[0] == '\0' && line[0] != '\0')
		snprintf(j->said, sizeof j->said, "%s", line);
}

/* Reads what j's notify-send printed; closes out at its end. */
static void
notify_read(struct notify_job *j)
{
	char *nl;
	ssize_t n;

	n = read(j->out, j->buf + j->len, sizeof j->buf - 1 - j->len);
	if (n == -1 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n > 0)
		j->len += (size_t)n;
	j->buf[j->len] = '\0';
	while ((nl = strchr(j->buf, '\n')) != NULL) {
		*nl = '\0';
		notify_line(j, j->buf);
		j->len -= (size_t)(nl + 1 - j->buf);
		memmove(j->buf, nl + 1, j->len + 1);
	}
	if (n <= 0 || j->len == sizeof j->buf - 1) {
		notify_line(j, j->buf);
		j->len = 0;
	}
	if (n <= 0) {
		close(j->out);
		j->out = -1;
	}
}

/* Takes j off the list and frees it, logging how it ended. */
static void
notify_done(struct notify_job *j, int status)
{
	struct notify_job **p;
	char what[64];

	pthread_mutex_lock(&notify_lock);
	for (p = &notify_jobs; *p != NULL; p = &(*p)->next)
		if (*p == j) {
			*p = j->next;
			break;
		}
	notify_running--;
	pthread_mutex_unlock(&notify_lock);
	if (j->killed)
		notify_log("hung and was killed", j->said);
	else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		snprintf(what, sizeof what, "failed (status %d)",
		    WIFEXITED(status) ? WEXITSTATUS(status) : 128 +
		    WTERMSIG(status));
		notify_log(what, j->said);
	}
	if (j->out != -1)
		close(j->out);
	child_release(j->child);
	free(j);
}

/* The one thread that watches every notify-send. */
static void *
notify_main(void *arg)
{
	struct pollfd pfd[1 + 2 * NOTIFY_RUNNING_MAX];
	struct notify_job *jobs[NOTIFY_RUNNING_MAX], *j;
	long long now, wait;
	uint64_t count;
	size_t n, i;
	int status;

	(void)arg;
	for (;;) {
		pfd[0].fd = notify_wake;
		pfd[0].events = POLLIN;
		n = 0;
		wait = -1;
		now = child_clock_ms();
		pthread_mutex_lock(&notify_lock);
		for (j = notify_jobs; j != NULL && n < NOTIFY_RUNNING_MAX;
		    j = j->next) {
			jobs[n] = j;
			pfd[1 + 2 * n].fd = j->out;
			pfd[1 + 2 * n].events = POLLIN;
			pfd[2 + 2 * n].fd = child_fd(j->child);
			pfd[2 + 2 * n].events = POLLIN;
			n++;
			wait = NOTIFY_TICK_MS;
		}
		pthread_mutex_unlock(&notify_lock);
		if (poll(pfd, 1 + 2 * n, (int)wait) == -1 && errno != EINTR)
			continue;
		if (pfd[0].revents & POLLIN)
			(void)read(notify_wake, &count, sizeof count);
		now = child_clock_ms();
		for (i = 0; i < n; i++) {
			j = jobs[i];
			if (j->out != -1 && pfd[1 + 2 * i].revents != 0)
				notify_read(j);
			if (now >= j->deadline && !j->killed) {
				j->killed = 1;
				child_signal(j->child, SIGKILL);
			}
			if (!child_exited(j->child, &status))
				continue;
			/* A grandchild may hold the pipe: not for long. */
			if (j->out != -1 && !j->killed && now < j->deadline)
				continue;
			notify_done(j, status);
		}
	}
	return NULL;
}

/* Starts the thread; for pthread_once. */
static void
notify_start(void)
{
	int fd;

	if ((fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) == -1)
		return;
	notify_wake = fd;
	if (thread_start(notify_main, NULL) != 0) {
		close(fd);
		notify_wake = -1;
	}
}

/*
 * Turns notifications on (enabled, and notify-send is on PATH) or off.
 * From main, after the options and before any session.
 */
void
notify_init(int enabled)
{
	if (enabled && !terminal_program_exists(NOTIFY_PROGRAM)) {
		log_debug("no notify-send on PATH: no desktop notifications");
		enabled = 0;
	}
	if (enabled) {
		pthread_once(&notify_once, notify_start);
		if (notify_wake == -1) {
			log_debug("notifications: no thread to watch "
			    "notify-send");
			enabled = 0;
		}
	}
	atomic_store(&notify_enabled, enabled);
}

/* Starts notify-send with argv, its output on a pipe.  Returns the child,
 * or NULL with errno set. */
static struct child *
notify_spawn(char *const argv[], int *out)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t sa;
	sigset_t none, dfl;
	struct child *c;
	int fds[2], saved;

	if (pipe2(fds, O_CLOEXEC) == -1)
		return NULL;
	sigemptyset(&none);
	sigfillset(&dfl);
	posix_spawnattr_init(&sa);
	/* Its own session, so that shutdown's signal reaches it. */
	posix_spawnattr_setflags(&sa, POSIX_SPAWN_SETSIGMASK |
	    POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSID);
	posix_spawnattr_setsigmask(&sa, &none);
	posix_spawnattr_setsigdefault(&sa, &dfl);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null",
	    O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
	posix_spawn_file_actions_adddup2(&fa, fds[1], STDERR_FILENO);
	posix_spawn_file_actions_addclosefrom_np(&fa, STDERR_FILENO + 1);
	c = child_spawn(NULL, argv[0], &fa, &sa, argv);
	saved = errno;
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&sa);
	close(fds[1]);
	if (c == NULL) {
		close(fds[0]);
		errno = saved;
		return NULL;
	}
	(void)io_nonblock(fds[0]);
	*out = fds[0];
	return c;
}

/*
 * Shows summary/body (both made safe by the caller) with notify-send, in
 * the background.  actions: NULL, or names and labels ("accept=Accept")
 * ending with NULL; when the user picks one, on_action(session, name)
 * runs on a thread of notify.c's (never the accept loop).  A missing or
 * failing notify-send is one debug log line, never an error.  Returns 0,
 * or -1 when notifications are off (--no-notify) or notify-send is absent.
 */
int
notify_post(const char *summary, const char *body,
    const char *const *actions,
    void (*on_action)(unsigned long session, const char *name),
    unsigned long session)
{
	const char *argv[4 + 2 * NOTIFY_ACTIONS_MAX + 4];
	/* posix_spawn's argv is not const, but it leaves the words alone. */
	union {
		const char **in;
		char *const *out;
	} words = { argv };
	struct notify_job *j;
	const char *eq;
	size_t argc = 0, i;

	if (!atomic_load(&notify_enabled))
		return -1;
	if ((j = calloc(1, sizeof *j)) == NULL) {
		log_debug("notify-send: %s", strerror(errno));
		return 0;
	}
	argv[argc++] = NOTIFY_PROGRAM;
	argv[argc++] = "--app-name=ptychatd";
	for (i = 0; actions != NULL && actions[i] != NULL &&
	    i < NOTIFY_ACTIONS_MAX; i++) {
		if ((eq = strchr(actions[i], '=')) == NULL ||
		    (size_t)(eq - actions[i]) >= NOTIFY_NAME_MAX)
			continue;
		memcpy(j->names[j->nnames], actions[i],
		    (size_t)(eq - actions[i]));
		j->nnames++;
		argv[argc++] = "-A";
		argv[argc++] = actions[i];
	}
	/* A summary that starts with '-' is not an option. */
	argv[argc++] = "--";
	argv[argc++] = summary;
	if (body != NULL && body[0] != '\0')
		argv[argc++] = body;
	argv[argc] = NULL;
	j->on_action = on_action;
	j->session = session;
	j->deadline = child_clock_ms() + (j->nnames > 0 ? NOTIFY_ACTION_MS :
	    NOTIFY_PLAIN_MS);

	pthread_mutex_lock(&notify_lock);
	if (notify_running == NOTIFY_RUNNING_MAX) {
		pthread_mutex_unlock(&notify_lock);
		log_debug("notify-send: %d still running, one notification "
		    "dropped", NOTIFY_RUNNING_MAX);
		free(j);
		return 0;
	}
	notify_running++;
	pthread_mutex_unlock(&notify_lock);
	if ((j->child = notify_spawn(words.out, &j->out)) == NULL) {
		log_debug("notify-send: %s", strerror(errno));
		pthread_mutex_lock(&notify_lock);
		notify_running--;
		pthread_mutex_unlock(&notify_lock);
		free(j);
		return 0;
	}
	pthread_mutex_lock(&notify_lock);
	j->next = notify_jobs;
	notify_jobs = j;
	pthread_mutex_unlock(&notify_lock);
	(void)eventfd_write(notify_wake, 1);
	return 0;
}
