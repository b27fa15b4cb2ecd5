/*
 * Which terminal opens the windows, and how each kind is driven.
 *
 * xterm and most emulators run ptychat-bridge as their child (-e), so
 * their close button hangs the session up; urxvt adopts the pty master
 * itself (-pty-fd); tmux opens a window running the bridge; and any
 * program we do not know gets xterm's -S<pts>/<fd> convention.
 */
#include <sys/types.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ptychat.h"

extern char **environ;

/* The tmux session ptychatd makes when it runs outside tmux. */
#define TMUX_SESSION	"ptychat"

struct style {
	const char	*name;		/* the program's base name */
	enum window_kind kind;
	const char	*tail[9];	/* %T title, %B bridge, %M its mode,
					   %P pty, %F fd */
};

static const struct style styles[] = {
	{ "xterm", WINDOW_BRIDGE,
	    { "-T", "%T", "-n", "%T", "-e", "%B", "%M", "%P", NULL } },
	{ "uxterm", WINDOW_BRIDGE,
	    { "-T", "%T", "-n", "%T", "-e", "%B", "%M", "%P", NULL } },
	{ "urxvt", WINDOW_PTY_FD,
	    { "-T", "%T", "-n", "%T", "-pty-fd", "%F", NULL } },
	{ "rxvt-unicode", WINDOW_PTY_FD,
	    { "-T", "%T", "-n", "%T", "-pty-fd", "%F", NULL } },
	{ "x-terminal-emulator", WINDOW_BRIDGE,
	    { "-T", "%T", "-e", "%B", "%M", "%P", NULL } },
	/* --wait: otherwise the launcher returns before the window opens. */
	{ "gnome-terminal", WINDOW_BRIDGE,
	    { "--wait", "--title", "%T", "--", "%B", "%M", "%P", NULL } },
	{ "konsole", WINDOW_BRIDGE,
	    { "--nofork", "-p", "tabtitle=%T", "-e", "%B", "%M", "%P", NULL } },
	{ "kitty", WINDOW_BRIDGE, { "--title", "%T", "%B", "%M", "%P", NULL } },
	{ "alacritty", WINDOW_BRIDGE,
	    { "--title", "%T", "-e", "%B", "%M", "%P", NULL } },
	{ "foot", WINDOW_BRIDGE, { "--title", "%T", "%B", "%M", "%P", NULL } },
	{ "st", WINDOW_BRIDGE, { "-t", "%T", "-e", "%B", "%M", "%P", NULL } },
	{ "stterm", WINDOW_BRIDGE, { "-t", "%T", "-e", "%B", "%M", "%P", NULL } },
	{ "tmux", WINDOW_TMUX,
	    { "new-window", "-d", "-n", "%T", "%B", "%M", "%P", NULL } },
};

/* What -t auto tries on a display, in order, after $TERMINAL. */
static const char *const auto_order[] = {
	"xterm", "urxvt", "x-terminal-emulator", "gnome-terminal", "konsole",
	"kitty", "alacritty", "foot", "st",
};

/* Any other program: xterm's -S convention. */
static const char *const handoff_tail[] = {
	"-T", "%T", "-n", "%T", "-S%P/%F", NULL
};

/* tmux outside tmux: windows go to a detached session of our own. */
static const char *const tmux_window_tail[] = {
	"new-window", "-d", "-t", TMUX_SESSION ":", "-n", "%T", "%B", "%M", "%P", NULL
};
static const char *const tmux_session_tail[] = {
	"new-session", "-d", "-s", TMUX_SESSION, "-n", "%T", "%B", "%M", "%P", NULL
};

/* Returns 1 when path is a regular file we may execute. */
static int
terminal_runnable(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
	    access(path, X_OK) == 0;
}

/* Returns 1 when name can be run: it has a slash, or is found in PATH. */
int
terminal_program_exists(const char *name)
{
	char path[PATH_MAX];
	const char *dirs, *end;
	size_t len;

	if (strchr(name, '/') != NULL)
		return terminal_runnable(name);
	if ((dirs = getenv("PATH")) == NULL)
		dirs = "/usr/bin:/bin";
	for (; *dirs != '\0'; dirs = *end ? end + 1 : end) {
		end = strchr(dirs, ':');
		if (end == NULL)
			end = dirs + strlen(dirs);
		len = (size_t)(end - dirs);
		if (len == 0)
			snprintf(path, sizeof path, "./%s", name);
		else
			snprintf(path, sizeof path, "%.*s/%s", (int)len, dirs,
			    name);
		if (terminal_runnable(path))
			return 1;
	}
	return 0;
}

static const struct style *
terminal_style(const char *program)
{
	const char *base = strrchr(program, '/');
	size_t i;

	base = base ? base + 1 : program;
	for (i = 0; i < sizeof styles / sizeof styles[0]; i++)
		if (strcmp(styles[i].name, base) == 0)
			return &styles[i];
	return NULL;
}

static int
has_display(void)
{
	const char *d = getenv("DISPLAY");

	return d != NULL && *d != '\0';
}

static int
in_tmux(void)
{
	const char *t = getenv("TMUX");

	return t != NULL && *t != '\0';
}

/*
 * Sets term up to drive words (already split and checked).  Returns 0,
 * or -1 with a message in err when this terminal cannot work here.
 */
static int
terminal_use(struct terminal *term, char **words, const char *bridge,
    char *err, size_t errlen)
{
	const struct style *style = terminal_style(words[0]);

	term->words = words;
	term->bridge = bridge;
	term->xterm = style != NULL && (strcmp(style->name, "xterm") == 0 ||
	    strcmp(style->name, "uxterm") == 0);
	term->tail_first = NULL;
	if (style == NULL) {
		term->kind = WINDOW_HANDOFF;
		term->tail = handoff_tail;
		return 0;
	}
	term->kind = style->kind;
	term->tail = style->tail;
	if (bridge == NULL && (term->kind == WINDOW_BRIDGE ||
	    term->kind == WINDOW_TMUX)) {
		if (term->xterm) {
			/* xterm can adopt the pty itself, close button aside. */
			term->kind = WINDOW_HANDOFF;
			term->tail = handoff_tail;
			return 0;
		}
		snprintf(err, errlen, "%s needs ptychat-bridge, which is not "
		    "installed beside ptychatd", words[0]);
		return -1;
	}
	if (term->kind == WINDOW_TMUX && !in_tmux()) {
		term->tail = tmux_window_tail;
		term->tail_first = tmux_session_tail;
	}
	return 0;
}

/* Replaces *words with a vector holding just program. */
static int
terminal_words(char ***words, const char *program)
{
	char **v;

	if ((v = termcmd_split(program)) == NULL)
		return -1;
	termcmd_free(*words);
	*words = v;
	return 0;
}

static int terminal_pick(struct terminal *, char **, const char *, char *,
    size_t);

/*
 * Chooses the terminal for words, the split -t value ("auto" picks one),
 * and takes words over.  Returns 0, or -1 with a message in err saying
 * what was tried and what to install; term->words is then NULL.
 */
int
terminal_choose(struct terminal *term, char **words, const char *bridge,
    char *err, size_t errlen)
{
	if (terminal_pick(term, words, bridge, err, errlen) == 0)
		return 0;
	termcmd_free(term->words);
	term->words = NULL;
	return -1;
}

static int
terminal_pick(struct terminal *term, char **words, const char *bridge,
    char *err, size_t errlen)
{
	char **env_words;
	const char *env;
	size_t i;

	memset(term, 0, sizeof *term);
	term->words = words;
	if (words[1] != NULL || strcmp(words[0], "auto") != 0)
		return terminal_use(term, words, bridge, err, errlen);

	if (has_display()) {
		env = getenv("TERMINAL");
		if (env != NULL && (env_words = termcmd_split(env)) != NULL) {
			if (env_words[0] != NULL &&
			    termcmd_check(env_words, err, errlen) == 0 &&
			    terminal_program_exists(env_words[0])) {
				termcmd_free(words);
				return terminal_use(term, env_words, bridge,
				    err, errlen);
			}
			termcmd_free(env_words);
		}
		for (i = 0; i < sizeof auto_order / sizeof auto_order[0];
		    i++) {
			if (!terminal_program_exists(auto_order[i]))
				continue;
			if (terminal_words(&term->words, auto_order[i]) == -1)
				break;
			if (terminal_use(term, term->words, bridge, err,
			    errlen) == 0)
				return 0;
		}
		snprintf(err, errlen, "no terminal program found (tried "
		    "$TERMINAL, xterm, urxvt, x-terminal-emulator, "
		    "gnome-terminal, konsole, kitty, alacritty, foot, st); "
		    "install one, e.g. apt-get install xterm");
		return -1;
	}
	if (terminal_program_exists("tmux")) {
		if (terminal_words(&term->words, "tmux") == -1)
			return -1;
		return terminal_use(term, term->words, bridge, err, errlen);
	}
	snprintf(err, errlen, "DISPLAY is not set and tmux is not installed, "
	    "so no window can open; run ptychatd from a desktop session, or "
	    "install tmux (apt-get install tmux)");
	return -1;
}

/*
 * Says where windows will appear, for the start-up log.  Returns a
 * static string.
 */
const char *
terminal_describe(const struct terminal *term)
{
	static char text[256];

	if (term->kind == WINDOW_TMUX && term->tail_first != NULL)
		snprintf(text, sizeof text, "client windows open in tmux "
		    "session '%s': attach with 'tmux attach -t %s'",
		    TMUX_SESSION, TMUX_SESSION);
	else if (term->kind == WINDOW_TMUX)
		snprintf(text, sizeof text, "client windows open in this "
		    "tmux session");
	else
		snprintf(text, sizeof text, "client windows open with %s",
		    term->words[0]);
	return text;
}

/*
 * For tmux outside tmux: returns the tail for the next window, which
 * creates our session when it does not exist yet.
 */
const char *const *
terminal_tail(const struct terminal *term)
{
	static char a0[] = "tmux", a1[] = "has-session", a2[] = "-t",
	    a3[] = TMUX_SESSION;
	char *argv[] = { a0, a1, a2, a3, NULL };
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int status = 1;

	if (term->tail_first == NULL)
		return term->tail;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null",
	    O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null",
	    O_WRONLY, 0);
	if (posix_spawnp(&pid, "tmux", &fa, NULL, argv, environ) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		return term->tail;
	}
	posix_spawn_file_actions_destroy(&fa);
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? term->tail :
	    term->tail_first;
}
