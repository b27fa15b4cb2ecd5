/*
 * Unit tests for the process table: spawn and record in one step, so a
 * child that exits at once is never lost, even with a reaper racing the
 * spawners; waits with a deadline and a cancel fd; signals to all; and
 * children's output logged a line at a time with a prefix.
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../src/ptychat.h"
#include "tap.h"
#include "children.h"

#define RACE_THREADS	4
#define RACE_CHILDREN	50	/* each */

/* Starts sh -c script in its own session, output to fd (or inherited). */
static struct child *
start(const char *script, int output)
{
	char sh[] = "sh", c[] = "-c", *argv[] = { sh, c, NULL, NULL };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t sa;
	struct child *child;
	char *copy;

	if ((copy = strdup(script)) == NULL)
		return NULL;
	argv[2] = copy;
	posix_spawnattr_init(&sa);
	posix_spawnattr_setflags(&sa, POSIX_SPAWN_SETSID);
	posix_spawn_file_actions_init(&fa);
	if (output != -1) {
		posix_spawn_file_actions_adddup2(&fa, output, STDOUT_FILENO);
		posix_spawn_file_actions_adddup2(&fa, output, STDERR_FILENO);
	}
	child = child_spawn("test child", "sh", &fa, &sa, argv);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&sa);
	free(copy);
	return child;
}

static int
none_left(const void *arg)
{
	(void)arg;
	child_reap();
	return child_count() == 0;
}

/* Starts children that exit at once and waits for each one's status. */
static void *
race_main(void *arg)
{
	int *bad = arg, i, status;
	struct child *c;

	for (i = 0; i < RACE_CHILDREN; i++) {
		if ((c = start("exit 7", -1)) == NULL) {
			(*bad)++;
			continue;
		}
		if (child_wait(c, -1, 5000, &status) == -1 ||
		    !WIFEXITED(status) || WEXITSTATUS(status) != 7)
			(*bad)++;
		child_release(c);
	}
	return NULL;
}

/* Returns 1 when the log holds the line of x's as pieces of a and b. */
static int
x_pieces(size_t a, size_t b)
{
	const char *prefix = "ptychat: session 9: noisy: ", *p;
	size_t want[2] = { a, b }, n = 0, len;

	pthread_mutex_lock(&logged_lock);
	for (p = logged; (p = strstr(p, prefix)) != NULL; p += len) {
		p += strlen(prefix);
		len = strspn(p, "x");
		if (len > 0 && p[len] == '\n' && n < 2 && len == want[n])
			n++;
		else if (len > 0)
			n = 3;
	}
	pthread_mutex_unlock(&logged_lock);
	return n == 2;
}

int
main(void)
{
	pthread_t tids[RACE_THREADS];
	int bad[RACE_THREADS] = { 0 }, cancel[2], status, r, i, total, out;
	struct child *c;
	long long t0;

	children_setup();

	/* With no reaper at all, the waiter finds the exit itself. */
	c = start("exit 3", -1);
	r = c != NULL && child_wait(c, -1, 5000, &status) == 0;
	tap_ok(r && WIFEXITED(status) && WEXITSTATUS(status) == 3,
	    "a waiter gets its child's exit status, with no reaper running");
	child_release(c);
	tap_ok(child_count() == 0, "a reaped child is no longer counted");
	tap_ok(logged_has("ptychat: test child exited with status 3"),
	    "its exit is logged under its name");

	reaper_start();

	/* Children that exit at once, while the reaper runs. */
	for (i = 0; i < RACE_THREADS; i++)
		pthread_create(&tids[i], NULL, race_main, &bad[i]);
	for (i = 0, total = 0; i < RACE_THREADS; i++) {
		pthread_join(tids[i], NULL);
		total += bad[i];
	}
	tap_ok(total == 0, "%d children exiting at once, spawned by %d "
	    "threads while the reaper runs: every status reaches its waiter "
	    "(%d lost)", RACE_THREADS * RACE_CHILDREN, RACE_THREADS, total);
	tap_ok(wait_until(none_left, NULL, 5000) &&
	    waitpid(-1, NULL, WNOHANG) == -1 && errno == ECHILD,
	    "and every one of them is reaped: no zombie");

	/* A deadline, and a cancel fd. */
	c = start("exec sleep 30", -1);
	t0 = io_clock_ms();
	r = child_wait(c, -1, 200, &status);
	tap_ok(r == -1 && errno == ETIMEDOUT && io_clock_ms() - t0 < 2000,
	    "a wait past its deadline fails with ETIMEDOUT");
	if (pipe2(cancel, O_CLOEXEC) == 0) {
		(void)write(cancel[1], "", 1);
		r = child_wait(c, cancel[0], 5000, &status);
		tap_ok(r == -1 && errno == ECANCELED,
		    "a wait whose cancel fd is readable fails with ECANCELED");
		close(cancel[0]);
		close(cancel[1]);
	}
	tap_ok(child_count() == 1, "a running child is counted");

	/* Let go of before its end: still reaped, and logged. */
	child_release(c);
	child_signal_all(SIGTERM);
	tap_ok(wait_until(none_left, NULL, 5000),
	    "signal to all ends it, and the reaper takes a child let go of");
	tap_ok(logged_wait("ptychat: test child killed by signal 15"),
	    "its death by signal is logged");

	/* Output, to the log a line at a time. */
	if ((out = child_output("session 9: noisy")) == -1)
		tap_ok(0, "child_output: %s", strerror(errno));
	else {
		c = start("echo on stdout; echo on stderr >&2; "
		    "printf 'tab\\there, bell\\007, cr\\r\\n'; "
		    "printf 'x%.0s' $(seq 600); echo; printf 'no newline'",
		    out);
		close(out);
		r = c != NULL && child_wait(c, -1, 5000, &status) == 0;
		child_release(c);
		tap_ok(r &&
		    logged_wait("ptychat: session 9: noisy: on stdout\n") &&
		    logged_wait("ptychat: session 9: noisy: on stderr\n"),
		    "stdout and stderr lines are logged with the prefix");
		tap_ok(logged_wait("ptychat: session 9: noisy: tab\there, "
		    "bell^G, cr\n"), "a line is made safe; CR LF ends it");
		tap_ok(logged_wait("noisy: no newline\n"),
		    "the last piece is logged at end of file");
		tap_ok(logged_wait("noisy: xxxxxxxx") &&
		    x_pieces(512, 88),
		    "a line longer than 512 bytes is logged in pieces");
	}

	reaper_stop_now();
	return tap_done();
}
