/*
 * notify.c with a stand-in notify-send on PATH: the words it is given,
 * the action it prints reaching on_action once (on notify.c's thread),
 * other lines ignored, a hanging one returning at once, and -1 when
 * notifications are off or notify-send is absent.
 */
#include <sys/stat.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../../src/ptychat.h"
#include "tap.h"

/* Records its words, a line each, in $NOTIFY_OUT; with -A it prints a
 * line that is no action, then the one in $NOTIFY_PICK; "hang" sleeps. */
static const char standin[] =
    "#!/bin/sh\n"
    "for w in \"$@\"; do printf '%s\\n' \"$w\"; done >> \"$NOTIFY_OUT\"\n"
    "echo . >> \"$NOTIFY_OUT\"\n"
    "case \" $* \" in\n"
    "*' hang '*) exec sleep 30 ;;\n"
    "*' -A '*) echo 'not an action'; echo \"$NOTIFY_PICK\" ;;\n"
    "esac\n";

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t called = PTHREAD_COND_INITIALIZER;
static int calls;
static unsigned long got_session;
static char got_name[32];
static pthread_t main_thread;
static int on_main;

static void
on_action(unsigned long session, const char *name)
{
	pthread_mutex_lock(&lock);
	calls++;
	got_session = session;
	snprintf(got_name, sizeof got_name, "%s", name);
	on_main = pthread_equal(pthread_self(), main_thread);
	pthread_cond_broadcast(&called);
	pthread_mutex_unlock(&lock);
}

/* Waits up to ms for at least n calls.  Returns the count. */
static int
wait_calls(int n, int ms)
{
	struct timespec until;
	int got;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&lock);
	while (calls < n && pthread_cond_timedwait(&called, &lock,
	    &until) == 0)
		;
	got = calls;
	pthread_mutex_unlock(&lock);
	return got;
}

/* Reads the file at path whole (up to size - 1 bytes) into buf. */
static void
slurp(const char *path, char *buf, size_t size)
{
	FILE *f;
	size_t n = 0;

	if ((f = fopen(path, "r")) != NULL) {
		n = fread(buf, 1, size - 1, f);
		fclose(f);
	}
	buf[n] = '\0';
}

/* Waits up to ms for path to hold needle. */
static int
file_has(const char *path, const char *needle, int ms)
{
	char buf[4096];
	int i;

	for (i = 0; i < ms / 10; i++) {
		slurp(path, buf, sizeof buf);
		if (strstr(buf, needle) != NULL)
			return 1;
		usleep(10000);
	}
	return 0;
}

int
main(void)
{
	static const char *const actions[] = { "accept=Accept",
	    "reject=Reject", NULL };
	char dir[] = "/tmp/test_notify.XXXXXX", path[256], out[256];
	char empty[256], oldpath[4096];
	long long start, took;
	FILE *f;

	main_thread = pthread_self();
	log_init("test_notify", 0);
	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(path, sizeof path, "%s/notify-send", dir);
	snprintf(out, sizeof out, "%s/words", dir);
	snprintf(empty, sizeof empty, "%s/empty", dir);
	mkdir(empty, 0700);
	if ((f = fopen(path, "w")) == NULL)
		return 1;
	fputs(standin, f);
	fclose(f);
	chmod(path, 0755);
	snprintf(oldpath, sizeof oldpath, "%s", getenv("PATH"));
	setenv("PATH", dir, 1);
	setenv("NOTIFY_OUT", out, 1);
	setenv("NOTIFY_PICK", "reject", 1);

	notify_init(0);
	tap_ok(notify_post("s", "b", NULL, NULL, 1) == -1,
	    "off: notify_post returns -1");
	setenv("PATH", empty, 1);
	notify_init(1);
	tap_ok(notify_post("s", "b", NULL, NULL, 1) == -1,
	    "no notify-send on PATH: -1");
	setenv("PATH", dir, 1);
	notify_init(1);

	tap_ok(notify_post("-summary", "body", NULL, NULL, 1) == 0,
	    "a plain notification is posted");
	tap_ok(file_has(out, "--app-name=ptychatd\n--\n-summary\nbody\n.\n",
	    5000), "with the app name, and '--' before the summary");

	tap_ok(notify_post("ask", "someone waits", actions, on_action, 42) ==
	    0, "a notification with actions is posted");
	tap_ok(file_has(out, "-A\naccept=Accept\n-A\nreject=Reject\n--\nask\n"
	    "someone waits\n", 5000), "each action as -A NAME=Label");
	tap_ok(wait_calls(1, 5000) == 1, "the chosen action comes back");
	pthread_mutex_lock(&lock);
	tap_ok(got_session == 42 && strcmp(got_name, "reject") == 0,
	    "with the session and the action's name (%lu, %s)", got_session,
	    got_name);
	tap_ok(!on_main, "on a thread of notify.c's");
	pthread_mutex_unlock(&lock);

	/* A name that is no action, then one that is, from one
	 * notify-send: had the first counted, the second would not. */
	setenv("NOTIFY_PICK", "delete\naccept", 1);
	(void)notify_post("other", "x", actions, on_action, 5);
	tap_ok(wait_calls(2, 5000) == 2, "the second action comes back");
	pthread_mutex_lock(&lock);
	tap_ok(calls == 2 && got_session == 5 &&
	    strcmp(got_name, "accept") == 0,
	    "and the line before it, naming no action, was none (%s)",
	    got_name);
	pthread_mutex_unlock(&lock);

	start = child_clock_ms();
	tap_ok(notify_post("hang", "x", actions, on_action, 7) == 0 &&
	    notify_post("hang", "x", NULL, NULL, 8) == 0,
	    "notify-sends that hang are posted");
	took = child_clock_ms() - start;
	tap_ok(took < 1000, "and notify_post returned at once (%lld ms)",
	    took);

	child_signal_all(SIGKILL);
	setenv("PATH", oldpath, 1);
	unlink(path);
	unlink(out);
	rmdir(empty);
	rmdir(dir);
	return tap_done();
}
