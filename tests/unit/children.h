/*
 * Helpers for the unit tests that start processes through child.c: a
 * log sink that keeps every line for the test to look at, a reaper
 * thread that does what ptychatd's main thread does on SIGCHLD, and
 * waiting on a condition with a deadline.
 */
#ifndef CHILDREN_H
#define CHILDREN_H

#include <sys/signalfd.h>

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

static pthread_mutex_t logged_lock = PTHREAD_MUTEX_INITIALIZER;
static char logged[64 * 1024];
static size_t logged_len;
static int reaper_stop[2] = { -1, -1 };
static pthread_t reaper_thread;

static void
logged_sink(const char *line)
{
	size_t len = strlen(line);

	pthread_mutex_lock(&logged_lock);
	if (logged_len + len + 2 < sizeof logged) {
		memcpy(logged + logged_len, line, len);
		logged_len += len;
		logged[logged_len++] = '\n';
		logged[logged_len] = '\0';
	}
	pthread_mutex_unlock(&logged_lock);
}

/* Returns 1 when the log has a line holding text. */
static int
logged_has(const char *text)
{
	int found;

	pthread_mutex_lock(&logged_lock);
	found = strstr(logged, text) != NULL;
	pthread_mutex_unlock(&logged_lock);
	return found;
}

/* Polls cond(arg) every 10 ms until it holds or ms have passed. */
static int
wait_until(int (*cond)(const void *), const void *arg, int ms)
{
	long long deadline = io_clock_ms() + ms;

	while (!cond(arg)) {
		if (io_clock_ms() >= deadline)
			return 0;
		poll(NULL, 0, 10);
	}
	return 1;
}

static int
logged_cond(const void *text)
{
	return logged_has(text);
}

/* Waits up to 5 s for a log line holding text. */
static int __attribute__((unused))
logged_wait(const char *text)
{
	return wait_until(logged_cond, text, 5000);
}

static void *
reaper_main(void *arg)
{
	struct signalfd_siginfo si;
	struct pollfd pfd[2];

	pfd[0].fd = *(int *)arg;
	pfd[0].events = POLLIN;
	pfd[1].fd = reaper_stop[0];
	pfd[1].events = POLLIN;
	while (poll(pfd, 2, -1) >= 0 && pfd[1].revents == 0)
		if (pfd[0].revents != 0 &&
		    read(pfd[0].fd, &si, sizeof si) == sizeof si)
			child_reap();
	return NULL;
}

/*
 * Blocks SIGCHLD in every thread (call it before starting any), and logs
 * into logged.
 */
static void
children_setup(void)
{
	sigset_t sigs;

	sigemptyset(&sigs);
	sigaddset(&sigs, SIGCHLD);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	log_set_sink(logged_sink);
}

/* Starts reaping on SIGCHLD, as ptychatd's main thread does. */
static void
reaper_start(void)
{
	static int sigfd;
	sigset_t sigs;

	sigemptyset(&sigs);
	sigaddset(&sigs, SIGCHLD);
	sigfd = signalfd(-1, &sigs, SFD_CLOEXEC);
	if (pipe2(reaper_stop, O_CLOEXEC) == 0)
		pthread_create(&reaper_thread, NULL, reaper_main, &sigfd);
}

static void __attribute__((unused))
reaper_stop_now(void)
{
	(void)write(reaper_stop[1], "", 1);
	pthread_join(reaper_thread, NULL);
}

#endif
