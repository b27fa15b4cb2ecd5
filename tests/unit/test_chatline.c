/*
 * Unit tests for chatline.c: what reaches the terminal fd from a plain
 * and an editing line, the keys that end the input, the size read from
 * size_fd, a finished line that ignores every later call, a cancelled
 * write and a failed one that stay failed, an echo held back for
 * chatline_flush_held, and threads that print, feed
 * keys and finish one line at once (the race ptychat had, for TSan).
 */
#include <sys/ioctl.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "../../src/ptychat.h"
#include "tap.h"

#define THREAD_CALLS_MAX	1000000L

/* What a test reads back: all that is waiting in a non-blocking pipe. */
static char got[65536];

static const char *
drain(int fd)
{
	ssize_t n;
	size_t len = 0;

	while (len < sizeof got - 1 &&
	    (n = read(fd, got + len, sizeof got - 1 - len)) > 0)
		len += (size_t)n;
	got[len] = '\0';
	return got;
}

static void
make_pipe(int fds[2])
{
	if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) == -1) {
		perror("pipe2");
		exit(1);
	}
}

static struct editor *
new_editor(void)
{
	struct editor *ed;

	if ((ed = editor_new("> ", "you: ", 0)) == NULL) {
		perror("editor_new");
		exit(1);
	}
	return ed;
}

static void
test_plain(void)
{
	struct chatline cl;
	struct editor_buf lines = { NULL, 0, 0 };
	int p[2], ended = -1;

	make_pipe(p);
	chatline_init(&cl, NULL, p[1], -1, -1);
	tap_ok(chatline_start(&cl) == 0 && *drain(p[0]) == '\0',
	    "plain: start draws nothing");
	tap_ok(chatline_print(&cl, "as \033 it is\n", 12) == 0 &&
	    strcmp(drain(p[0]), "as \033 it is\n") == 0,
	    "plain: text is written as it comes");
	tap_ok(chatline_note(&cl, "a note") == 0 &&
	    strcmp(drain(p[0]), "\na note\n") == 0,
	    "plain: a note is a line of its own");
	tap_ok(chatline_keys(&cl, "keys\r", 5, CHATLINE_INTR, &lines,
	    &ended) == 0 && lines.len == 0 && ended == 0 &&
	    *drain(p[0]) == '\0', "plain: keys are the terminal's own");
	tap_ok(chatline_finish(&cl) == 0 &&
	    chatline_print(&cl, "late", 4) == 1 && *drain(p[0]) == '\0',
	    "plain: after finish, text is not written");
	chatline_free(&cl);
	close(p[0]);
	close(p[1]);
}

/* Feeds keys; returns the lines, NUL-terminated, in got. */
static int
feed(struct chatline *cl, const char *keys, int ends, int *ended)
{
	struct editor_buf lines = { NULL, 0, 0 };
	int n;

	n = chatline_keys(cl, keys, strlen(keys), ends, &lines, ended);
	memcpy(got, lines.data != NULL ? lines.data : "", lines.len);
	got[lines.len] = '\0';
	editor_buf_free(&lines);
	return n;
}

static void
test_keys(void)
{
	struct chatline cl;
	int p[2], ended;
	const int both = CHATLINE_INTR | CHATLINE_EOF;

	make_pipe(p);
	chatline_init(&cl, new_editor(), p[1], -1, -1);
	tap_ok(chatline_start(&cl) == 0 && strstr(drain(p[0]), "> ") != NULL,
	    "editing: start draws the prompt");
	tap_ok(feed(&cl, "one\rtwo\r\003three\r", both, &ended) == 2 &&
	    strcmp(got, "one\ntwo\n") == 0 && ended == CHATLINE_INTR,
	    "lines before ^C are finished; ^C ends the input there");
	tap_ok(chatline_pending(&cl) == 0, "and keys after ^C are not used");
	tap_ok(feed(&cl, "abc\004def\r", both, &ended) == 1 &&
	    strcmp(got, "abcdef\n") == 0 && ended == 0,
	    "^D inside a line ends nothing");
	tap_ok(feed(&cl, "x\025\004rest", both, &ended) == 0 &&
	    ended == CHATLINE_EOF && chatline_pending(&cl) == 0,
	    "^D reached on an emptied line ends the input; no key after it "
	    "is used");
	tap_ok(feed(&cl, "last\r\004", both, &ended) == 1 &&
	    strcmp(got, "last\n") == 0 && ended == CHATLINE_EOF,
	    "a line, then ^D, in one read: the line, then the end");
	tap_ok(feed(&cl, "o\003n\r", CHATLINE_EOF, &ended) == 1 &&
	    strcmp(got, "on\n") == 0 && ended == 0 &&
	    feed(&cl, "\004in\r", CHATLINE_INTR, &ended) == 1 &&
	    strcmp(got, "in\n") == 0 && ended == 0,
	    "only the keys asked for end the input");
	tap_ok(feed(&cl, "\003\004goes on\r", 0, NULL) == 1 &&
	    strcmp(got, "goes on\n") == 0,
	    "with none asked for, ^C and ^D are the editor's");
	tap_ok(strstr(drain(p[0]), "you: goes on") != NULL,
	    "finished lines are echoed as the user's");

	tap_ok(chatline_print(&cl, "peer\n", 5) == 0 &&
	    strstr(drain(p[0]), "peer\r\n") != NULL,
	    "peer text is drawn above the line");
	feed(&cl, "half", both, &ended);
	(void)drain(p[0]);
	tap_ok(chatline_finish(&cl) == 0 && strstr(drain(p[0]), "\r\033[K") !=
	    NULL, "finish erases the line");
	tap_ok(chatline_print(&cl, "x", 1) == 1 && chatline_note(&cl, "x") ==
	    1 && feed(&cl, "more\r", both, &ended) == 0 && ended == 0 &&
	    chatline_pending(&cl) == 0 && chatline_start(&cl) == 0 &&
	    chatline_finish(&cl) == 0 && *drain(p[0]) == '\0',
	    "after finish every call writes nothing and does nothing");
	chatline_free(&cl);
	close(p[0]);
	close(p[1]);
}

/* Types a line longer than the width, then Home: a CUU only if wrapped. */
static int
wraps(int size_fd)
{
	struct chatline cl;
	int p[2], ended;

	make_pipe(p);
	chatline_init(&cl, new_editor(), p[1], size_fd, -1);
	chatline_start(&cl);
	feed(&cl, "abcdefghijklmnop", 0, &ended);
	(void)drain(p[0]);
	feed(&cl, "\001", 0, &ended);
	chatline_free(&cl);
	close(p[1]);
	drain(p[0]);
	close(p[0]);
	return strstr(got, "\033[1A") != NULL;
}

/* The line whose lock hold_lock holds, and its two signals. */
static struct chatline *held_line;
static int held_locked[2], held_go[2];

/* Holds the line's lock until the test thread says go. */
static void *
hold_lock(void *arg)
{
	char c = 'x';

	(void)arg;
	pthread_mutex_lock(&held_line->lock);
	(void)write(held_locked[1], &c, 1);
	(void)read(held_go[0], &c, 1);
	pthread_mutex_unlock(&held_line->lock);
	return NULL;
}

/*
 * CHATLINE_HOLD: the echo waits until chatline_flush_held, or goes out
 * with whatever the next caller writes; the lines are the same.
 */
static void
test_hold(void)
{
	struct chatline cl;
	pthread_t t;
	char c = 'x';
	int p[2], ended;

	make_pipe(p);
	chatline_init(&cl, new_editor(), p[1], -1, -1);
	(void)chatline_start(&cl);
	(void)drain(p[0]);
	tap_ok(feed(&cl, "held\r", CHATLINE_HOLD, &ended) == 1 &&
	    strcmp(got, "held\n") == 0 && *drain(p[0]) == '\0',
	    "hold: the line is finished, its echo not yet written");
	tap_ok(chatline_flush_held(&cl) == 0 &&
	    strstr(drain(p[0]), "you: held") != NULL,
	    "hold: chatline_flush_held writes the echo");
	tap_ok(chatline_flush_held(&cl) == 0 && *drain(p[0]) == '\0',
	    "hold: and a second call has nothing to write");
	(void)feed(&cl, "second\r", CHATLINE_HOLD, &ended);
	tap_ok(chatline_print(&cl, "peer\n", 5) == 0 &&
	    strstr(drain(p[0]), "you: second") != NULL &&
	    strstr(got, "peer") > strstr(got, "you: second"),
	    "hold: a print writes the held echo first, in its own write");
	(void)feed(&cl, "third\r", CHATLINE_HOLD, &ended);
	tap_ok(chatline_bell(&cl) == 0 &&
	    strstr(drain(p[0]), "you: third") != NULL &&
	    strchr(got, '\a') > strstr(got, "you: third"),
	    "hold: the bell writes the held echo before it");
	(void)feed(&cl, "fourth\r", CHATLINE_HOLD, &ended);
	held_line = &cl;
	if (pipe2(held_locked, O_CLOEXEC) == -1 ||
	    pipe2(held_go, O_CLOEXEC) == -1 ||
	    pthread_create(&t, NULL, hold_lock, NULL) != 0 ||
	    read(held_locked[0], &c, 1) != 1)
		abort();
	tap_ok(chatline_flush_held(&cl) == 0 && *drain(p[0]) == '\0',
	    "hold: with the line busy, chatline_flush_held leaves the echo "
	    "to its holder");
	if (write(held_go[1], &c, 1) != 1 || pthread_join(t, NULL) != 0)
		abort();
	close(held_locked[0]);
	close(held_locked[1]);
	close(held_go[0]);
	close(held_go[1]);
	tap_ok(chatline_note(&cl, "a note") == 0 &&
	    strstr(drain(p[0]), "you: fourth") != NULL &&
	    strstr(got, "a note") > strstr(got, "you: fourth"),
	    "hold: which writes it with its own output, in order");
	chatline_free(&cl);
	close(p[0]);
	close(p[1]);
}

static void
test_size(void)
{
	struct winsize ws = { 24, 10, 0, 0 };
	int pty;

	if ((pty = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC)) == -1 ||
	    ioctl(pty, TIOCSWINSZ, &ws) == -1) {
		tap_ok(0, "a pty to read a size from: %s", strerror(errno));
		return;
	}
	tap_ok(wraps(pty), "the width comes from size_fd: 10 columns wrap");
	tap_ok(!wraps(-1), "without a size, 80 columns do not");
	close(pty);
}

static void
test_failures(void)
{
	struct chatline cl;
	char fill[4096];
	int p[2], stop[2], ended;

	/* A window that reads nothing, and a cancel that has fired. */
	make_pipe(p);
	make_pipe(stop);
	memset(fill, 'x', sizeof fill);
	while (write(p[1], fill, sizeof fill) > 0)
		continue;
	if (write(stop[1], "", 1) != 1)
		tap_ok(0, "cancel pipe");
	chatline_init(&cl, new_editor(), p[1], -1, stop[0]);
	errno = 0;
	tap_ok(chatline_print(&cl, "stuck\n", 6) == -1 && errno == ECANCELED,
	    "a write to a full terminal gives up when cancel_fd is readable");
	while (read(p[0], fill, sizeof fill) > 0)
		continue;
	errno = 0;
	tap_ok(chatline_note(&cl, "later") == -1 && errno == ECANCELED &&
	    *drain(p[0]) == '\0',
	    "and stays failed: nothing more is written, with room or not");
	tap_ok(feed(&cl, "still sent\r", 0, &ended) == 1 &&
	    strcmp(got, "still sent\n") == 0,
	    "keys still finish lines after a failed echo");
	chatline_free(&cl);
	close(p[0]);
	close(p[1]);
	close(stop[0]);
	close(stop[1]);

	/* A terminal that is gone. */
	make_pipe(p);
	close(p[0]);
	chatline_init(&cl, NULL, p[1], -1, -1);
	errno = 0;
	tap_ok(chatline_print(&cl, "gone", 4) == -1 && errno == EPIPE,
	    "a blocking write that fails returns -1 with its errno");
	chatline_free(&cl);
	close(p[1]);
}

static struct chatline shared;
static atomic_long typed;		/* lines the typist finished */

/* Prints until the line has finished; returns whether it saw that. */
static void *
printer(void *arg)
{
	long i;
	int *saw = arg;

	for (i = 0; i < THREAD_CALLS_MAX; i++)
		if (chatline_print(&shared, "peer text\n", 10) == 1 &&
		    chatline_note(&shared, "a note") == 1) {
			*saw = 1;
			break;
		}
	return NULL;
}

/* Types lines until one is not taken: the line has finished. */
static void *
typist(void *arg)
{
	struct editor_buf lines = { NULL, 0, 0 };
	long i;
	int ended, *saw = arg;

	for (i = 0; i < THREAD_CALLS_MAX; i++) {
		lines.len = 0;
		if (chatline_keys(&shared, "typed\r", 6,
		    CHATLINE_INTR | CHATLINE_EOF, &lines, &ended) == 0) {
			*saw = lines.len == 0 && ended == 0;
			break;
		}
		atomic_fetch_add(&typed, 1);
	}
	editor_buf_free(&lines);
	return NULL;
}

/* Two threads use one line while a third finishes it. */
static void
test_threads(void)
{
	struct timespec pause = { 0, 1000000 };
	pthread_t t1, t2;
	int fd, i, printer_saw = 0, typist_saw = 0;

	if ((fd = open("/dev/null", O_WRONLY | O_CLOEXEC)) == -1) {
		tap_ok(0, "/dev/null: %s", strerror(errno));
		return;
	}
	chatline_init(&shared, new_editor(), fd, -1, -1);
	chatline_start(&shared);
	if (pthread_create(&t1, NULL, printer, &printer_saw) != 0 ||
	    pthread_create(&t2, NULL, typist, &typist_saw) != 0) {
		tap_ok(0, "threads");
		return;
	}
	for (i = 0; i < 5000 && atomic_load(&typed) < 10; i++)
		nanosleep(&pause, NULL);
	(void)chatline_finish(&shared);
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
	tap_ok(atomic_load(&typed) >= 10 && printer_saw && typist_saw,
	    "threads that print and type on a line see it finish and carry "
	    "on harmlessly (%ld lines before)", atomic_load(&typed));
	chatline_free(&shared);
	close(fd);
}

int
main(void)
{
	signal(SIGPIPE, SIG_IGN);
	test_plain();
	test_keys();
	test_hold();
	test_size();
	test_failures();
	test_threads();
	return tap_done();
}
