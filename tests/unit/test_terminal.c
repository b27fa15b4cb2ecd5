/*
 * Unit tests for choosing the terminal: each known program is driven its
 * own way, and -t auto picks what is there.  Fake programs in a private
 * PATH stand in for the real ones.
 */
#include <sys/stat.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../src/ptychat.h"
#include "tap.h"

static char bin[] = "/tmp/ptychat-test-terminal.XXXXXX";

static void
fake_program(const char *name)
{
	char path[256];
	int fd;

	snprintf(path, sizeof path, "%s/%s", bin, name);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0755)) != -1)
		close(fd);
}

static void
remove_programs(void)
{
	static const char *const names[] = { "xterm", "urxvt", "st", "tmux",
	    "kitty", "myterm" };
	char path[256];
	size_t i;

	for (i = 0; i < sizeof names / sizeof names[0]; i++) {
		snprintf(path, sizeof path, "%s/%s", bin, names[i]);
		unlink(path);
	}
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

int
main(void)
{
	struct terminal term;
	char err[512];
	int r;

	if (mkdtemp(bin) == NULL) {
		tap_ok(0, "mkdtemp");
		return tap_done();
	}
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

	remove_programs();
	rmdir(bin);
	return tap_done();
}
