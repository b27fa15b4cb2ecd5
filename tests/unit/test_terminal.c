/*
 * Unit tests for the terminals: choosing one (each known program is
 * driven its own way, and -t auto picks what is there), then launching
 * each kind and waiting for its window, the hand-shake and the pty modes
 * before and after; tmux's session made once by launchers arriving
 * together.  Fake programs in a private PATH stand in for the real ones.
 * A new kind of terminal gets its fake and its cases here.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "../../src/ptychat.h"
#include "tap.h"
#include "children.h"

#define BURST	4

static char bin[] = "/tmp/ptychat-test-terminal.XXXXXX";

/* Writes an executable file name in bin holding text. */
static void
fake_script(const char *name, const char *text)
{
	char path[256];
	int fd;

	snprintf(path, sizeof path, "%s/%s", bin, name);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0755)) != -1) {
		(void)write(fd, text, strlen(text));
		close(fd);
	}
}

static void
fake_program(const char *name)
{
	fake_script(name, "");
}

static int
remove_one(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
remove_programs(void)
{
	nftw(bin, remove_one, 8, FTW_DEPTH | FTW_PHYS);
}

/* Returns 1 when vector v contains word. */
static int
has(const char *const *v, const char *word)
{
	for (; v != NULL && *v != NULL; v++)
		if (strcmp(*v, word) == 0)
			return 1;
	return 0;
}

static int
choose(struct terminal *term, const char *command, const char *bridge,
    char *err, size_t errlen)
{
	err[0] = '\0';
	return terminal_choose(term, termcmd_split(command), bridge, err,
	    errlen);
}

static void
test_choose(void)
{
	struct terminal term;
	char err[512];
	int r;

	setenv("PATH", bin, 1);
	unsetenv("TMUX");
	unsetenv("TERMINAL");
	setenv("DISPLAY", ":0", 1);

	r = choose(&term, "xterm -fa Mono", "/b/ptychat-bridge", err,
	    sizeof err);
	tap_ok(r == 0 && term.kind == TERMINAL_BRIDGE && term.xterm &&
	    has(term.tail, "-e") && has(term.tail, "%B") &&
	    strcmp(term.words[1], "-fa") == 0,
	    "xterm runs the bridge (-e), hardened, keeping its -t words");
	termcmd_free(term.words);

	r = choose(&term, "xterm", NULL, err, sizeof err);
	tap_ok(r == 0 && term.kind == TERMINAL_HANDOFF && term.xterm &&
	    has(term.tail, "-S%P/%F"),
	    "xterm without the bridge falls back to -S");
	termcmd_free(term.words);

	r = choose(&term, "/usr/bin/urxvt", "/b/ptychat-bridge", err,
	    sizeof err);
	tap_ok(r == 0 && term.kind == TERMINAL_PTY_FD && !term.xterm &&
	    has(term.tail, "-pty-fd") && has(term.tail, "%F"),
	    "urxvt adopts the master with -pty-fd");
	termcmd_free(term.words);

	r = choose(&term, "st", "/b/ptychat-bridge", err, sizeof err);
	tap_ok(r == 0 && term.kind == TERMINAL_BRIDGE && has(term.tail, "-t") &&
	    has(term.tail, "-e"), "st runs the bridge with -t TITLE -e");
	termcmd_free(term.words);

	r = choose(&term, "gnome-terminal", "/b/ptychat-bridge", err,
	    sizeof err);
	tap_ok(r == 0 && term.kind == TERMINAL_BRIDGE && has(term.tail,
	    "--wait") && has(term.tail, "--"),
	    "gnome-terminal waits (--wait) and runs the bridge after --");
	termcmd_free(term.words);

	r = choose(&term, "kitty", NULL, err, sizeof err);
	tap_ok(r == -1 && term.words == NULL && strstr(err,
	    "kitty needs ptychat-bridge") != NULL,
	    "a bridge-only terminal without the bridge is refused: %s", err);

	r = choose(&term, "myterm --flag", "/b/ptychat-bridge", err,
	    sizeof err);
	tap_ok(r == 0 && term.kind == TERMINAL_HANDOFF && !term.xterm &&
	    has(term.tail, "-S%P/%F"), "an unknown program gets -S");
	termcmd_free(term.words);

	setenv("TMUX", "/tmp/tmux-0/default,1,0", 1);
	r = choose(&term, "tmux", "/b/ptychat-bridge", err, sizeof err);
	tap_ok(r == 0 && term.kind == TERMINAL_TMUX && has(term.tail,
	    "new-window") && !has(term.tail, "=ptychat:") &&
	    term.tail_first == NULL,
	    "tmux inside tmux: a window in the current session");
	termcmd_free(term.words);
	unsetenv("TMUX");
	r = choose(&term, "tmux", "/b/ptychat-bridge", err, sizeof err);
	tap_ok(r == 0 && term.kind == TERMINAL_TMUX && has(term.tail,
	    "=ptychat:") && term.tail_first != NULL && has(term.tail_first,
	    "new-session") && strstr(terminal_describe(&term),
	    "tmux attach -t ptychat") != NULL,
	    "tmux outside tmux: a detached 'ptychat' session, and how to "
	    "attach");
	termcmd_free(term.words);

	/* -t auto, on a display. */
	r = choose(&term, "auto", "/b/ptychat-bridge", err, sizeof err);
	tap_ok(r == -1 && strstr(err, "tried $TERMINAL, xterm, urxvt") &&
	    strstr(err, "apt-get install xterm"),
	    "auto with nothing installed says what it tried and what to "
	    "install");
	fake_program("st");
	fake_program("urxvt");
	r = choose(&term, "auto", "/b/ptychat-bridge", err, sizeof err);
	tap_ok(r == 0 && strcmp(term.words[0], "urxvt") == 0,
	    "auto prefers urxvt to st");
	termcmd_free(term.words);
	fake_program("xterm");
	r = choose(&term, "auto", "/b/ptychat-bridge", err, sizeof err);
	tap_ok(r == 0 && strcmp(term.words[0], "xterm") == 0 &&
	    term.kind == TERMINAL_BRIDGE, "auto prefers xterm to urxvt");
	termcmd_free(term.words);
	fake_program("myterm");
	setenv("TERMINAL", "myterm -x", 1);
	r = choose(&term, "auto", "/b/ptychat-bridge", err, sizeof err);
	tap_ok(r == 0 && strcmp(term.words[0], "myterm") == 0 &&
	    strcmp(term.words[1], "-x") == 0 && term.kind == TERMINAL_HANDOFF,
	    "auto takes $TERMINAL first, with its arguments");
	termcmd_free(term.words);
	setenv("TERMINAL", "not-installed", 1);
	r = choose(&term, "auto", "/b/ptychat-bridge", err, sizeof err);
	tap_ok(r == 0 && strcmp(term.words[0], "xterm") == 0,
	    "a $TERMINAL that is not installed is passed over");
	termcmd_free(term.words);
	unsetenv("TERMINAL");

	/* -t auto, with no display. */
	unsetenv("DISPLAY");
	r = choose(&term, "auto", "/b/ptychat-bridge", err, sizeof err);
	tap_ok(r == -1 && strstr(err, "DISPLAY is not set and tmux is not "
	    "installed") != NULL, "auto with no display and no tmux: %s",
	    err);
	fake_program("tmux");
	r = choose(&term, "auto", "/b/ptychat-bridge", err, sizeof err);
	tap_ok(r == 0 && term.kind == TERMINAL_TMUX && term.tail_first != NULL,
	    "auto with no display falls back to a detached tmux session");
	termcmd_free(term.words);
	setenv("TMUX", "/tmp/tmux-0/default,1,0", 1);
	r = choose(&term, "auto", "/b/ptychat-bridge", err, sizeof err);
	tap_ok(r == 0 && term.kind == TERMINAL_TMUX && term.tail_first == NULL,
	    "auto with no display inside tmux opens windows there");
	termcmd_free(term.words);
	unsetenv("TMUX");
}


static const struct peer test_peer = { "127.0.0.1", "4000",
    "127.0.0.1:4000", "" };

/* The fakes' scripts, and where the fake tmux keeps its state. */
static char bridge[300], state[300];

/* Chooses command (plain or not), launches it and waits for its window. */
static int
open_window(struct terminal *term, const char *command, int plain,
    struct terminal_link *link, unsigned long number, int cancel,
    char *why, size_t whylen)
{
	char err[512];

	if (terminal_choose(term, termcmd_split(command), bridge, err,
	    sizeof err) == -1) {
		snprintf(why, whylen, "%.200s", err);
		return -1;
	}
	term->plain = plain;
	if (terminal_launch(term, link, number, &test_peer, cancel, why,
	    whylen) == -1)
		return -1;
	return terminal_await(term, link, cancel, why, whylen);
}

static int
none_left(const void *arg)
{
	(void)arg;
	return child_count() == 0;
}

/* Returns the pty's termios, or one with every flag set on failure. */
static struct termios
modes(int fd)
{
	struct termios t;

	if (tcgetattr(fd, &t) == -1)
		memset(&t, 0xff, sizeof t);
	return t;
}

/*
 * Opens a window with command, with and without --plain, and checks
 * which end of the pty we keep (master: the terminal runs the bridge)
 * and, on a slave, its modes: raw for the chat line, or whole lines with
 * the terminal's Backspace (--plain).  Then closes it.
 */
static void
check_kind(const char *command, const char *what, unsigned long number,
    int master)
{
	struct terminal term;
	struct terminal_link link;
	struct termios t;
	char why[256];
	int r, plain;

	for (plain = 0; plain < 2; plain++) {
		r = open_window(&term, command, plain, &link, number + plain,
		    -1, why, sizeof why);
		tap_ok(r == 0, "%s%s: the window opens%s%s", what,
		    plain ? ", --plain" : "", r == 0 ? "" : ": ",
		    r == 0 ? "" : why);
		if (r == 0) {
			t = modes(link.pty);
			tap_ok(link.held == -1 &&
			    (ptsname(link.pty) != NULL) == master,
			    "%s: we keep the %s", what,
			    master ? "master" : "slave");
			if (!master && !plain)
				tap_ok((t.c_lflag & (ICANON | ECHO)) == 0,
				    "%s: the pty is raw for the chat line",
				    what);
			else if (!master)
				tap_ok((t.c_lflag & ICANON) &&
				    (t.c_lflag & ECHO) &&
				    t.c_cc[VERASE] == (term.kind ==
				    TERMINAL_PTY_FD ? 0177 : 010),
				    "%s, --plain: whole lines, Backspace is "
				    "%s", what, term.kind == TERMINAL_PTY_FD ?
				    "DEL" : "^H");
		}
		terminal_close(&link);
		termcmd_free(term.words);
		tap_ok(wait_until(none_left, NULL, 5000),
		    "%s: closing our end ends the terminal", what);
	}
}

struct burst {
	const struct terminal *term;
	struct terminal_link link;
	unsigned long	 number;
	int		 r;
	char		 why[256];
};

static void *
burst_main(void *arg)
{
	struct burst *b = arg;

	b->r = terminal_launch(b->term, &b->link, b->number, &test_peer, -1,
	    b->why, sizeof b->why);
	if (b->r == 0)
		b->r = terminal_await(b->term, &b->link, -1, b->why,
		    sizeof b->why);
	return NULL;
}

/* Returns how many times the fake tmux was asked for what. */
static int
tmux_calls(const char *what)
{
	char path[320], line[64];
	FILE *f;
	int n = 0;

	snprintf(path, sizeof path, "%s/calls", state);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	while (fgets(line, sizeof line, f) != NULL)
		n += strncmp(line, what, strlen(what)) == 0;
	fclose(f);
	return n;
}

/* Clears the fake tmux's calls, and makes flag (or nothing) its state. */
static void
tmux_state(int session, const char *flag)
{
	char path[320];

	snprintf(path, sizeof path, "%s/calls", state);
	unlink(path);
	snprintf(path, sizeof path, "%s/session", state);
	if (session)
		mkdir(path, 0700);
	else
		rmdir(path);
	snprintf(path, sizeof path, "%s/lie", state);
	unlink(path);
	snprintf(path, sizeof path, "%s/deny", state);
	unlink(path);
	if (flag != NULL) {
		snprintf(path, sizeof path, "%s/%s", state, flag);
		close(open(path, O_WRONLY | O_CREAT, 0600));
	}
}

static void
test_tmux(void)
{
	struct burst b[BURST];
	struct terminal term;
	pthread_t tids[BURST];
	char err[512];
	int i, ok;

	if (terminal_choose(&term, termcmd_split("tmux"), bridge, err,
	    sizeof err) == -1) {
		tap_ok(0, "tmux: %s", err);
		return;
	}
	tmux_state(0, NULL);
	for (i = 0; i < BURST; i++) {
		memset(&b[i], 0, sizeof b[i]);
		b[i].term = &term;
		b[i].number = 20 + (unsigned long)i;
		pthread_create(&tids[i], NULL, burst_main, &b[i]);
	}
	for (i = 0, ok = 0; i < BURST; i++) {
		pthread_join(tids[i], NULL);
		ok += b[i].r == 0;
		if (b[i].r != 0)
			tap_diag("window %d: %s", i, b[i].why);
	}
	tap_ok(ok == BURST, "tmux outside tmux: %d launches at once, %d "
	    "windows", BURST, ok);
	tap_ok(tmux_calls("new-session") == 1 &&
	    tmux_calls("new-window") == BURST - 1 &&
	    !logged_has("duplicate session"),
	    "the session is made once, then windows are added to it "
	    "(%d new-session, %d new-window)", tmux_calls("new-session"),
	    tmux_calls("new-window"));
	for (i = 0; i < BURST; i++)
		terminal_close(&b[i].link);

	/* The operator killed the session after has-session saw it. */
	tmux_state(0, "lie");
	b[0].number = 30;
	burst_main(&b[0]);
	tap_ok(b[0].r == 0 && tmux_calls("new-window") == 1 &&
	    tmux_calls("new-session") == 1 &&
	    logged_has("session 30: tmux: can't find session"),
	    "a session killed since has-session is made again%s%s",
	    b[0].r == 0 ? "" : ": ", b[0].r == 0 ? "" : b[0].why);
	terminal_close(&b[0].link);

	/* Someone made it after has-session missed it. */
	tmux_state(1, "deny");
	b[0].number = 31;
	burst_main(&b[0]);
	tap_ok(b[0].r == 0 && tmux_calls("new-session") == 1 &&
	    tmux_calls("new-window") == 1,
	    "a session made since has-session is joined%s%s",
	    b[0].r == 0 ? "" : ": ", b[0].r == 0 ? "" : b[0].why);
	terminal_close(&b[0].link);
	termcmd_free(term.words);

	/* Inside tmux: a window in the current session, no session made. */
	setenv("TMUX", "/tmp/tmux-0/default,1,0", 1);
	tmux_state(1, NULL);
	ok = terminal_choose(&term, termcmd_split("tmux"), bridge, err,
	    sizeof err) == 0;
	unsetenv("TMUX");
	if (ok) {
		b[0].term = &term;
		b[0].number = 32;
		burst_main(&b[0]);
		tap_ok(b[0].r == 0 && tmux_calls("has-session") == 0 &&
		    tmux_calls("new-window") == 1,
		    "tmux inside tmux: one new-window");
		terminal_close(&b[0].link);
		termcmd_free(term.words);
	}
	tap_ok(wait_until(none_left, NULL, 5000),
	    "every tmux launcher is reaped");
}

static void
test_launch(const char *old_path)
{
	struct terminal term;
	struct terminal_link link;
	char path[sizeof bin + 1100], tmux[1024], why[256];
	int cancel[2], r;
	long long t0;

	snprintf(path, sizeof path, "%s:%s", bin, old_path);
	setenv("PATH", path, 1);
	unsetenv("TMUX");
	snprintf(bridge, sizeof bridge, "%s/fake-bridge", bin);
	snprintf(state, sizeof state, "%s/state", bin);
	mkdir(state, 0700);
	/* The bridge: "ready" on the pty it is given, then it reads it. */
	fake_script("fake-bridge", "#!/bin/sh\n"
	    "printf 'ready\\n' > \"$2\"\n"
	    "exec cat \"$2\" > /dev/null\n");
	/* -S: the window id on the master it was handed as fd 3. */
	fake_script("idterm", "#!/bin/sh\n"
	    "echo \"idterm: starting\" >&2\n"
	    "printf '2a0000c\\n' >&3\n"
	    "exec cat <&3 > /dev/null\n");
	fake_script("urxvt", "#!/bin/sh\nexec cat <&3 > /dev/null\n");
	fake_script("silentterm", "#!/bin/sh\nexec cat <&3 > /dev/null\n");
	fake_script("deadterm", "#!/bin/sh\n"
	    "echo \"deadterm: cannot open display\" >&2\nexit 1\n");
	fake_script("st", "#!/bin/sh\n"
	    "while [ \"$1\" != -e ]; do shift; done\nshift\nexec \"$@\"\n");
	/* tmux: has-session, new-session, new-window; state in a dir. */
	snprintf(tmux, sizeof tmux, "#!/bin/sh\n"
	    "state='%s'\n"
	    "echo \"$1\" >> \"$state/calls\"\n"
	    "case \"$1\" in\n"
	    "has-session)\n"
	    "\t[ -e \"$state/lie\" ] && exit 0\n"
	    "\t[ -e \"$state/deny\" ] && exit 1\n"
	    "\t[ -d \"$state/session\" ]; exit ;;\n"
	    "new-session)\n"
	    "\tmkdir \"$state/session\" 2> /dev/null ||\n"
	    "\t    { echo 'duplicate session: ptychat' >&2; exit 1; } ;;\n"
	    "new-window)\n"
	    "\t[ -d \"$state/session\" ] ||\n"
	    "\t    { echo \"can't find session: ptychat\" >&2; exit 1; } ;;\n"
	    "esac\n"
	    "shift $(($# - 3))\n"
	    "\"$@\" > /dev/null 2>&1 &\n", state);
	fake_script("tmux", tmux);

	check_kind("idterm", "an unknown program (-S)", 1, 0);
	tap_ok(logged_has("ptychat: session 1: idterm: idterm: starting"),
	    "the terminal's stderr is logged with the session and program");
	t0 = io_clock_ms();
	check_kind("urxvt", "urxvt (-pty-fd)", 3, 0);
	tap_ok(io_clock_ms() - t0 >= 2 * 300,
	    "urxvt counts as open after its grace time");
	check_kind("st", "st (the bridge)", 5, 1);

	r = open_window(&term, "deadterm", 0, &link, 7, -1, why, sizeof why);
	tap_ok(r == -1 && strcmp(why, "the terminal exited before its window "
	    "opened") == 0, "a terminal that exits at once: %s", why);
	tap_ok(logged_wait("ptychat: session 7: deadterm: deadterm: cannot "
	    "open display") &&
	    logged_wait("ptychat: session 7: terminal exited with status 1"),
	    "its message and its status are logged");
	terminal_close(&link);
	termcmd_free(term.words);

	r = open_window(&term, "no-such-term", 0, &link, 8, -1, why,
	    sizeof why);
	tap_ok(r == -1 && strcmp(why, "cannot start terminal 'no-such-term': "
	    "No such file or directory") == 0, "a missing program: %s", why);
	tap_ok(link.pty == -1 && link.held == -1 && link.child == NULL,
	    "and nothing is left open");
	terminal_close(&link);
	termcmd_free(term.words);

	if (pipe2(cancel, O_CLOEXEC) == 0) {
		(void)write(cancel[1], "", 1);
		t0 = io_clock_ms();
		r = open_window(&term, "silentterm", 0, &link, 9, cancel[0],
		    why, sizeof why);
		tap_ok(r == -1 && io_clock_ms() - t0 < 5000 && strcmp(why,
		    "the session ended before its window opened") == 0,
		    "a session that ends while its window opens: %s", why);
		terminal_close(&link);
		termcmd_free(term.words);
		close(cancel[0]);
		close(cancel[1]);
	}
	tap_ok(wait_until(none_left, NULL, 5000),
	    "every terminal is reaped");

	test_tmux();
	setenv("PATH", old_path, 1);
}

/* Points bin/x-terminal-emulator at target, as Debian's alternatives do. */
static void
fake_alternative(const char *target)
{
	char link[256];

	snprintf(link, sizeof link, "%s/x-terminal-emulator", bin);
	unlink(link);
	if (symlink(target, link) == -1)
		tap_ok(0, "symlink %s: %s", link, strerror(errno));
}

/* Returns 1 when path's last part is name. */
static int
named(const char *path, const char *name)
{
	const char *base = strrchr(path, '/');

	return strcmp(base != NULL ? base + 1 : path, name) == 0;
}

/*
 * x-terminal-emulator linked to fakes[0] (fakes[1] made too): the program
 * ptychatd runs then, and a word of its tail.
 */
static const struct {
	const char	*fakes[2];
	const char	*runs;
	const char	*word;
	const char	*what;
} alts[] = {
	{ { "konsole", NULL }, "konsole", "--nofork",
	    "konsole is run as itself" },
	{ { "xterm", NULL }, "xterm", "-T",
	    "xterm is run as itself, hardened" },
	{ { "xfce4-terminal.wrapper", "xfce4-terminal" },
	    "xfce4-terminal", "--disable-server",
	    "through Debian's wrapper, the terminal it wraps is run" },
	{ { "gnome-terminal.wrapper", NULL }, "x-terminal-emulator",
	    "-T", "a wrapper whose terminal is missing is run as is" },
	{ { "lxterm", NULL }, "x-terminal-emulator", "-e",
	    "a terminal we do not know gets xterm's -T and -e" },
};

static void
test_alternative(void)
{
	struct terminal term;
	char err[512];
	size_t i;
	int r;

	/* Named terminals: neither DISPLAY nor TMUX matters. */
	setenv("PATH", bin, 1);
	r = choose(&term, "kitty", "/b/ptychat-bridge", err, sizeof err);
	tap_ok(r == 0 && term.kind == TERMINAL_BRIDGE &&
	    has(term.tail, "confirm_os_window_close=0"),
	    "kitty is told not to ask before its close button closes");
	termcmd_free(term.words);
	r = choose(&term, "xfce4-terminal", "/b/ptychat-bridge", err,
	    sizeof err);
	tap_ok(r == 0 && term.kind == TERMINAL_BRIDGE &&
	    has(term.tail, "--disable-server") && has(term.tail, "--title") &&
	    has(term.tail, "-x"),
	    "xfce4-terminal keeps its window (--disable-server) and runs the "
	    "bridge with -x");
	termcmd_free(term.words);

	for (i = 0; i < sizeof alts / sizeof alts[0]; i++) {
		fake_program(alts[i].fakes[0]);
		if (alts[i].fakes[1] != NULL)
			fake_program(alts[i].fakes[1]);
		fake_alternative(alts[i].fakes[0]);
		r = choose(&term, "x-terminal-emulator", "/b/ptychat-bridge",
		    err, sizeof err);
		tap_ok(r == 0 && named(term.words[0], alts[i].runs) &&
		    (strchr(term.words[0], '/') != NULL) ==
		    (strcmp(alts[i].runs, "x-terminal-emulator") != 0) &&
		    term.kind == TERMINAL_BRIDGE && has(term.tail, alts[i].word) &&
		    term.xterm == (strcmp(alts[i].runs, "xterm") == 0),
		    "x-terminal-emulator leading to %s: %s (%s)", alts[i].fakes[0],
		    alts[i].what, r == 0 ? term.words[0] : err);
		termcmd_free(term.words);
	}
}

int
main(void)
{
	char *old_path = getenv("PATH");

	/* The fakes run on the system's sh, cat and mkdir. */
	old_path = strdup(old_path != NULL ? old_path : "");
	if (old_path == NULL || mkdtemp(bin) == NULL) {
		tap_ok(0, "mkdtemp");
		return tap_done();
	}
	children_setup();
	reaper_start();
	test_choose();
	remove_programs();
	if (mkdir(bin, 0700) == 0)
		test_alternative();
	remove_programs();
	if (mkdir(bin, 0700) == 0)
		test_launch(old_path);
	remove_programs();
	reaper_stop_now();
	free(old_path);
	return tap_done();
}
