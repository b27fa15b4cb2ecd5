/*
 * Which terminal opens the windows, and how each kind is driven: the
 * only file that knows the kinds apart.
 *
 * xterm and most emulators run ptychat-bridge as their child (-e), so
 * their close button hangs the session up; urxvt adopts the pty master
 * itself (-pty-fd); tmux opens a window running the bridge; and any
 * program we do not know gets xterm's -S<pts>/<fd> convention.
 * x-terminal-emulator is followed to the terminal it leads to.
 *
 * A session thread calls terminal_launch (a pty, set up for the kind,
 * and the terminal started on it), then terminal_await (the window's
 * first words, then the pty set up for typing), and at its end
 * terminal_close.
 */
#include <sys/types.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <pty.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "ptychat.h"

/* The tmux session ptychatd makes when it runs outside tmux. */
#define TMUX_SESSION	"ptychat"

/* The fd a terminal finds the pty master on (-S<pts>/3, -pty-fd 3). */
#define TERMINAL_HANDOFF_FD	3

/* How long a window may take to come up, or a tmux launcher to end. */
#define TERMINAL_TIMEOUT_MS	15000

/* How long urxvt, which reports nothing, must live to count as open. */
#define TERMINAL_GRACE_MS	300

/* How often the wait for a window looks at the terminal's process. */
#define TERMINAL_TICK_MS	100

/*
 * Held while a launcher makes our tmux session or a window in it, so
 * that clients arriving together make the session once.
 */
static pthread_mutex_t terminal_tmux_lock = PTHREAD_MUTEX_INITIALIZER;

struct style {
	const char	*name;		/* the program's base name */
	enum terminal_kind kind;
	const char	*tail[9];	/* %T title, %B bridge, %M its mode,
					   %P pty, %F fd */
};

static const struct style styles[] = {
	{ "xterm", TERMINAL_BRIDGE,
	    { "-T", "%T", "-n", "%T", "-e", "%B", "%M", "%P", NULL } },
	{ "uxterm", TERMINAL_BRIDGE,
	    { "-T", "%T", "-n", "%T", "-e", "%B", "%M", "%P", NULL } },
	{ "urxvt", TERMINAL_PTY_FD,
	    { "-T", "%T", "-n", "%T", "-pty-fd", "%F", "-xrm",
	    "*urgentOnBell: true", NULL } },
	{ "rxvt-unicode", TERMINAL_PTY_FD,
	    { "-T", "%T", "-n", "%T", "-pty-fd", "%F", "-xrm",
	    "*urgentOnBell: true", NULL } },
	{ "x-terminal-emulator", TERMINAL_BRIDGE,
	    { "-T", "%T", "-e", "%B", "%M", "%P", NULL } },
	/* --wait: otherwise the launcher returns before the window opens. */
	{ "gnome-terminal", TERMINAL_BRIDGE,
	    { "--wait", "--title", "%T", "--", "%B", "%M", "%P", NULL } },
	{ "konsole", TERMINAL_BRIDGE,
	    { "--nofork", "-p", "tabtitle=%T", "-e", "%B", "%M", "%P", NULL } },
	/* Else kitty's close button asks first, and the client stays. */
	{ "kitty", TERMINAL_BRIDGE,
	    { "-o", "confirm_os_window_close=0", "--title", "%T", "%B", "%M",
	    "%P", NULL } },
	{ "alacritty", TERMINAL_BRIDGE,
	    { "--title", "%T", "-e", "%B", "%M", "%P", NULL } },
	/* Without --disable-server, the window goes to another process. */
	{ "xfce4-terminal", TERMINAL_BRIDGE,
	    { "--disable-server", "--title", "%T", "-x", "%B", "%M", "%P",
	    NULL } },
	{ "foot", TERMINAL_BRIDGE,
	    { "--title", "%T", "%B", "%M", "%P", NULL } },
	{ "st", TERMINAL_BRIDGE, { "-t", "%T", "-e", "%B", "%M", "%P", NULL } },
	{ "stterm", TERMINAL_BRIDGE,
	    { "-t", "%T", "-e", "%B", "%M", "%P", NULL } },
	{ "tmux", TERMINAL_TMUX,
	    { "new-window", "-d", "-n", "%T", "%B", "%M", "%P", NULL } },
};

/* What -t auto tries on a display, in order, after $TERMINAL. */
static const char *const auto_order[] = {
	"xterm", "urxvt", "x-terminal-emulator", "gnome-terminal", "konsole",
	"kitty", "alacritty", "foot", "st",
};

/*
 * What -t auto tries on Wayland when DISPLAY is not set, after
 * $TERMINAL: those seen to open their window on a Wayland compositor
 * with no X server at all.  (konsole does too where Qt has its Wayland
 * plugin, but that was not there to see.)
 */
static const char *const wayland_order[] = {
	"foot", "gnome-terminal", "kitty", "alacritty",
};

/* Terminals that draw on an X server only, never on Wayland. */
static const char *const x_only[] = {
	"xterm", "uxterm", "urxvt", "rxvt-unicode", "st", "stterm",
};

/* Any other program: xterm's -S convention. */
static const char *const handoff_tail[] = {
	"-T", "%T", "-n", "%T", "-S%P/%F", NULL
};

/*
 * tmux outside tmux: windows go to a detached session of our own, named
 * exactly ("=": tmux would take ptychat for any session whose name
 * starts so).
 */
static const char *const tmux_window_tail[] = {
	"new-window", "-d", "-t", "=" TMUX_SESSION ":", "-n", "%T", "%B", "%M",
	"%P", NULL
};
static const char *const tmux_session_tail[] = {
	"new-session", "-d", "-s", TMUX_SESSION, "-n", "%T", "%B", "%M", "%P",
	NULL
};

/* Returns 1 when path is a regular file we may execute. */
static int
terminal_runnable(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
	    access(path, X_OK) == 0;
}

/*
 * Finds name as execvp would: itself when it has a slash, or else in
 * PATH; fills path in.  Returns 1 when found, 0 when not.
 */
static int
terminal_which(const char *name, char *path, size_t pathlen)
{
	const char *dirs, *end;
	size_t len;

	if (strchr(name, '/') != NULL) {
		snprintf(path, pathlen, "%s", name);
		return terminal_runnable(name);
	}
	if ((dirs = getenv("PATH")) == NULL)
		dirs = "/usr/bin:/bin";
	for (; *dirs != '\0'; dirs = *end ? end + 1 : end) {
		end = strchr(dirs, ':');
		if (end == NULL)
			end = dirs + strlen(dirs);
		len = (size_t)(end - dirs);
		if (len == 0)
			snprintf(path, pathlen, "./%s", name);
		else
			snprintf(path, pathlen, "%.*s/%s", (int)len, dirs,
			    name);
		if (terminal_runnable(path))
			return 1;
	}
	return 0;
}

/* Returns 1 when name can be run: it has a slash, or is found in PATH. */
int
terminal_program_exists(const char *name)
{
	char path[PATH_MAX];

	return terminal_which(name, path, sizeof path);
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

/*
 * x-terminal-emulator is a link (Debian's alternatives) to some terminal,
 * or to a wrapper that takes xterm's options for it.  Either way what our
 * style for that terminal needs is lost: konsole takes no -T, kitty asks
 * before its close button ends the bridge, xfce4-terminal's wrapper lets
 * another process own the window.  So a terminal we know is run as
 * itself: *word becomes its path.  Returns its style, or fallback when
 * the link leads elsewhere or cannot be followed.
 */
static const struct style *
terminal_alternative(char **word, const struct style *fallback)
{
	char found[PATH_MAX], real[PATH_MAX], *base, *dot, *copy;
	const struct style *style;

	if (!terminal_which(*word, found, sizeof found) ||
	    realpath(found, real) == NULL)
		return fallback;
	base = strrchr(real, '/') + 1;
	if ((dot = strrchr(base, '.')) != NULL && strcmp(dot, ".wrapper") == 0)
		*dot = '\0';
	if ((style = terminal_style(base)) == NULL || style == fallback ||
	    !terminal_runnable(real) || (copy = strdup(real)) == NULL)
		return fallback;
	free(*word);
	*word = copy;
	return style;
}

static int
has_display(void)
{
	const char *d = getenv("DISPLAY");

	return d != NULL && *d != '\0';
}

static int
terminal_wayland(void)
{
	const char *w = getenv("WAYLAND_DISPLAY");

	return w != NULL && *w != '\0';
}

/* Returns 1 when term's program is one known to need an X server. */
static int
terminal_x_only(const struct terminal *term)
{
	const struct style *style = terminal_style(term->words[0]);
	size_t i;

	if (style == NULL)
		return 0;
	for (i = 0; i < sizeof x_only / sizeof x_only[0]; i++)
		if (strcmp(style->name, x_only[i]) == 0)
			return 1;
	return 0;
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

	if (style != NULL && strcmp(style->name, "x-terminal-emulator") == 0)
		style = terminal_alternative(&words[0], style);
	term->words = words;
	term->bridge = bridge;
	term->xterm = style != NULL && (strcmp(style->name, "xterm") == 0 ||
	    strcmp(style->name, "uxterm") == 0);
	term->tail_first = NULL;
	if (style == NULL) {
		term->kind = TERMINAL_HANDOFF;
		term->tail = handoff_tail;
		return 0;
	}
	term->kind = style->kind;
	term->tail = style->tail;
	if (bridge == NULL && (term->kind == TERMINAL_BRIDGE ||
	    term->kind == TERMINAL_TMUX)) {
		if (term->xterm) {
			/* xterm can adopt the pty itself, close button
			 * aside. */
			term->kind = TERMINAL_HANDOFF;
			term->tail = handoff_tail;
			return 0;
		}
		snprintf(err, errlen, "%s needs ptychat-bridge, which is not "
		    "installed beside ptychatd", words[0]);
		return -1;
	}
	if (term->kind == TERMINAL_TMUX && !in_tmux()) {
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

/*
 * Tries $TERMINAL, then each of order[0..n-1] that is installed, until
 * one can work here.  Returns 0 with term set up, 1 when none was
 * found, or -1 with a message in err.
 */
static int
terminal_first(struct terminal *term, const char *const *order, size_t n,
    const char *bridge, char *err, size_t errlen)
{
	char **env_words;
	const char *env;
	size_t i;

	env = getenv("TERMINAL");
	if (env != NULL && (env_words = termcmd_split(env)) != NULL) {
		if (env_words[0] != NULL &&
		    termcmd_check(env_words, err, errlen) == 0 &&
		    terminal_program_exists(env_words[0])) {
			termcmd_free(term->words);
			term->why = "$TERMINAL";
			return terminal_use(term, env_words, bridge, err,
			    errlen);
		}
		termcmd_free(env_words);
	}
	for (i = 0; i < n; i++) {
		if (!terminal_program_exists(order[i]))
			continue;
		if (terminal_words(&term->words, order[i]) == -1) {
			snprintf(err, errlen, "%s", strerror(errno));
			return -1;
		}
		if (terminal_use(term, term->words, bridge, err, errlen) == 0)
			return 0;
	}
	return 1;
}

static int
terminal_pick(struct terminal *term, char **words, const char *bridge,
    char *err, size_t errlen)
{
	int r, wayland = 0;

	memset(term, 0, sizeof *term);
	term->words = words;
	if (words[1] != NULL || strcmp(words[0], "auto") != 0)
		return terminal_use(term, words, bridge, err, errlen);

	/* With both, X first: today's order, and Xwayland is there. */
	if (has_display()) {
		term->why = "auto, on X: DISPLAY is set";
		if ((r = terminal_first(term, auto_order, sizeof auto_order /
		    sizeof auto_order[0], bridge, err, errlen)) != 1)
			return r;
		snprintf(err, errlen, "no terminal program found (tried "
		    "$TERMINAL, xterm, urxvt, x-terminal-emulator, "
		    "gnome-terminal, konsole, kitty, alacritty, foot, st); "
		    "install one, e.g. apt-get install xterm");
		return -1;
	}
	if (terminal_wayland()) {
		term->why = "auto, on Wayland: WAYLAND_DISPLAY is set, "
		    "DISPLAY is not";
		if ((r = terminal_first(term, wayland_order,
		    sizeof wayland_order / sizeof wayland_order[0], bridge,
		    err, errlen)) != 1)
			return r;
		wayland = 1;
	}
	if (terminal_program_exists("tmux")) {
		if (terminal_words(&term->words, "tmux") == -1)
			return -1;
		term->why = wayland ? "auto: WAYLAND_DISPLAY is set but no "
		    "Wayland terminal (foot, gnome-terminal, kitty, "
		    "alacritty) is installed, and DISPLAY is not set" :
		    "auto: neither DISPLAY nor WAYLAND_DISPLAY is set";
		return terminal_use(term, term->words, bridge, err, errlen);
	}
	if (wayland)
		snprintf(err, errlen, "DISPLAY is not set, no Wayland terminal "
		    "was found (tried $TERMINAL, foot, gnome-terminal, kitty, "
		    "alacritty) and tmux is not installed, so no window can "
		    "open; install one, e.g. apt-get install foot");
	else
		snprintf(err, errlen, "DISPLAY is not set and tmux is not "
		    "installed, so no window can open; run ptychatd from a "
		    "desktop session, or install tmux (apt-get install tmux)");
	return -1;
}

/*
 * Says where windows will appear, for the start-up log.  Returns a
 * static string.
 */
const char *
terminal_describe(const struct terminal *term)
{
	static char text[512];
	char why[256] = "";

	/* How -t auto or $TERMINAL chose it, when they did. */
	if (term->why != NULL)
		snprintf(why, sizeof why, " (%s)", term->why);
	if (term->kind == TERMINAL_TMUX && term->tail_first != NULL)
		snprintf(text, sizeof text, "client windows open in tmux "
		    "session '%s'%s: attach with 'tmux attach -t %s'",
		    TMUX_SESSION, why, TMUX_SESSION);
	else if (term->kind == TERMINAL_TMUX)
		snprintf(text, sizeof text, "client windows open in this "
		    "tmux session%s", why);
	else
		snprintf(text, sizeof text, "client windows open with %s%s",
		    term->words[0], why);
	return text;
}

/* Warns at start-up about what will keep every window from opening. */
void
terminal_check(const struct terminal *term)
{
	struct stat st;

	if (terminal_program_exists(term->words[0]))
		;
	else if (strchr(term->words[0], '/') != NULL &&
	    stat(term->words[0], &st) == 0)
		log_error("warning: terminal program '%s' cannot be run: %s; "
		    "clients will be turned away", term->words[0],
		    S_ISDIR(st.st_mode) ? "it is a directory" :
		    "it is not an executable file");
	else
		log_error("warning: terminal program '%s' not found; clients "
		    "will be turned away until it is installed",
		    term->words[0]);
	if (term->kind == TERMINAL_TMUX || has_display())
		;
	else if (!terminal_wayland())
		log_error("warning: DISPLAY is not set (nor WAYLAND_DISPLAY), "
		    "so windows cannot open; run ptychatd from a desktop "
		    "session");
	else if (terminal_x_only(term))
		log_error("warning: DISPLAY is not set, and %s needs X, not "
		    "Wayland, so windows cannot open; leave -t out for a "
		    "Wayland terminal such as foot", term->words[0]);
	if (term->kind == TERMINAL_HANDOFF && term->xterm)
		log_error("warning: ptychat-bridge is not installed beside "
		    "ptychatd; xterm windows will not close from their "
		    "close button");
	log_info("%s", terminal_describe(term));
}

/* Returns 1 when cancel polls readable: the session is ending. */
static int
terminal_cancelled(int cancel)
{
	struct pollfd pfd;

	pfd.fd = cancel;
	pfd.events = POLLIN;
	return poll(&pfd, 1, 0) == 1;
}

/*
 * Moves *fd above the hand-off fd, so that no dup2 in a child's set-up
 * lands on it (dup2 onto itself would leave close-on-exec set) or on the
 * fd before it is used.  Returns -1 with errno set, *fd still open.
 */
static int
terminal_fd_above(int *fd)
{
	int moved;

	if (*fd > TERMINAL_HANDOFF_FD)
		return 0;
	if ((moved = fcntl(*fd, F_DUPFD_CLOEXEC, TERMINAL_HANDOFF_FD + 1)) ==
	    -1)
		return -1;
	close(*fd);
	*fd = moved;
	return 0;
}

/*
 * Starts argv as a child that sees nothing of ours but what it is given:
 * stdin is /dev/null, stdout and stderr are output (or /dev/null when it
 * is -1), the pty master is fd 3 when handoff is not -1, and everything
 * else is closed.  Its signals are back to their defaults and unblocked,
 * and it leads its own session, so that shutdown can signal its whole
 * group.  name is for the log (see child_spawn).  Returns the child, or
 * NULL with errno set.
 */
static struct child *
terminal_spawn(char *const argv[], int handoff, int output, const char *name)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t sa;
	sigset_t none, reset;
	struct child *c;
	int saved;

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
	if (output != -1)
		posix_spawn_file_actions_adddup2(&fa, output, STDOUT_FILENO);
	else
		posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO,
		    "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, STDOUT_FILENO, STDERR_FILENO);
	if (handoff != -1)
		posix_spawn_file_actions_adddup2(&fa, handoff,
		    TERMINAL_HANDOFF_FD);
	posix_spawn_file_actions_addclosefrom_np(&fa, handoff != -1 ?
	    TERMINAL_HANDOFF_FD + 1 : STDERR_FILENO + 1);
	c = child_spawn(name, argv[0], &fa, &sa, argv);
	saved = errno;
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&sa);
	errno = saved;
	return c;
}

/*
 * Starts session number's terminal program, or one tmux launcher, with
 * tail after its words, on the pty at ptsname (the master as fd 3 when
 * handoff is not -1).  Its output is logged as "session N: PROGRAM: ...".
 * Returns the child, or NULL with a reason in why.
 */
static struct child *
terminal_start(const struct terminal *term, const char *const *tail,
    unsigned long number, const struct peer *peer, const char *ptsname,
    int handoff, char *why, size_t whylen)
{
	struct child *c = NULL;
	char **argv, prefix[96], name[48];
	const char *base;
	int output = -1;

	if ((argv = termcmd_argv(term, tail, number, peer, ptsname,
	    TERMINAL_HANDOFF_FD)) == NULL) {
		snprintf(why, whylen, "%s", strerror(errno));
		return NULL;
	}
	base = strrchr(argv[0], '/');
	snprintf(prefix, sizeof prefix, "session %lu: %s", number,
	    base != NULL ? base + 1 : argv[0]);
	snprintf(name, sizeof name, "session %lu: %s", number,
	    term->kind == TERMINAL_TMUX ? "tmux" : "terminal");
	if ((output = child_output(prefix)) == -1 ||
	    terminal_fd_above(&output) == -1 ||
	    (c = terminal_spawn(argv, handoff, output, name)) == NULL)
		snprintf(why, whylen, "cannot start terminal '%s': %s",
		    argv[0], strerror(errno));
	else
		log_debug("session %lu %s: terminal %s is pid %ld", number,
		    peer->label, argv[0], (long)child_pid(c));
	/* The child has its copy; the reader sees EOF once it is gone. */
	if (output != -1)
		close(output);
	termcmd_free(argv);
	return c;
}

/*
 * Runs c to its end.  Returns 0 when it exited 0, 1 when it failed, or
 * -1 when the wait was cut short; why says why not 0.  Lets go of c.
 */
static int
terminal_finish(struct child *c, int cancel, char *why, size_t whylen)
{
	int status, r;

	if (child_wait(c, cancel, TERMINAL_TIMEOUT_MS, &status) == -1) {
		snprintf(why, whylen, "%s", errno == ECANCELED ?
		    "the session ended before its window opened" :
		    errno == ETIMEDOUT ? "tmux did not open a window in time" :
		    strerror(errno));
		r = -1;
	} else if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		r = 0;
	else {
		snprintf(why, whylen, "tmux could not open a window");
		r = 1;
	}
	child_release(c);
	return r;
}

/* Returns 1 when our tmux session exists, 0 when not (or on failure). */
static int
terminal_tmux_exists(const struct terminal *term, int cancel)
{
	char has[] = "has-session", t[] = "-t", target[] = "=" TMUX_SESSION;
	char *argv[] = { term->words[0], has, t, target, NULL };
	struct child *c;
	int status, r;

	if ((c = terminal_spawn(argv, -1, -1, NULL)) == NULL)
		return 0;
	r = child_wait(c, cancel, TERMINAL_TIMEOUT_MS, &status) == 0 &&
	    WIFEXITED(status) && WEXITSTATUS(status) == 0;
	child_release(c);
	return r;
}

/*
 * Takes the tmux launchers' lock, looking at cancel while it waits (a
 * hung tmux server may hold it for seconds).  Returns 0, or -1 once
 * cancel polls readable.
 */
static int
terminal_tmux_take(int cancel)
{
	struct timespec until;
	int err;

	for (;;) {
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += 100 * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		err = pthread_mutex_timedlock(&terminal_tmux_lock, &until);
		if (err == 0)
			return 0;
		if (err != ETIMEDOUT || terminal_cancelled(cancel))
			return -1;
	}
}

/*
 * Opens session number's window in tmux: the launcher asks the tmux
 * server for a window running the bridge on ptsname, and exits.  Outside
 * tmux, the window goes to our own session, made by the first launcher
 * that finds none.  Launchers do that one at a time, each waited for, so
 * clients arriving together make it once; and when the session has gone
 * (the operator killed it) or has come (made by hand) since we looked,
 * the other launcher is tried.  Returns 0, or -1 with a reason in why.
 */
static int
terminal_tmux(const struct terminal *term, unsigned long number,
    const struct peer *peer, const char *ptsname, int cancel, char *why,
    size_t whylen)
{
	const char *const *tail = term->tail;
	struct child *c;
	int own = term->tail_first != NULL, tries, r = -1;

	if (own) {
		if (terminal_tmux_take(cancel) == -1) {
			snprintf(why, whylen, "the session ended before its "
			    "window opened");
			return -1;
		}
		if (!terminal_tmux_exists(term, cancel))
			tail = term->tail_first;
	}
	for (tries = 0; tries < (own ? 2 : 1); tries++) {
		if (terminal_cancelled(cancel)) {
			snprintf(why, whylen, "the session ended before its "
			    "window opened");
			r = -1;
			break;
		}
		if ((c = terminal_start(term, tail, number, peer, ptsname, -1,
		    why, whylen)) == NULL) {
			r = -1;
			break;
		}
		if ((r = terminal_finish(c, cancel, why, whylen)) != 1)
			break;
		tail = tail == term->tail ? term->tail_first : term->tail;
	}
	if (own)
		pthread_mutex_unlock(&terminal_tmux_lock);
	return r == 0 ? 0 : -1;
}

/*
 * Sets a new pty up for the kind of terminal about to be launched on it.
 * When the terminal adopts the master, echo goes off, so that xterm's
 * window id line stays out of the window.  With the bridge, the pty is
 * raw both ways.  Returns -1 with errno set on failure.
 */
static int
terminal_pty_before(const struct terminal *term, int slave)
{
	struct termios t;

	if (term->kind == TERMINAL_BRIDGE || term->kind == TERMINAL_TMUX)
		return tty_raw(slave, NULL);
	if (tcgetattr(slave, &t) == -1)
		return -1;
	t.c_lflag &= ~(tcflag_t)ECHO;
	return tcsetattr(slave, TCSANOW, &t);
}

/*
 * Opens a pty for session number and starts its terminal on it, the way
 * the terminal's kind needs; for tmux, that includes waiting for the
 * launcher.  cancel polls readable once the session must end.  Fills in
 * link.  Returns 0, or -1 with a reason in why and nothing left open.
 */
int
terminal_launch(const struct terminal *term, struct terminal_link *link,
    unsigned long number, const struct peer *peer, int cancel, char *why,
    size_t whylen)
{
	char ptsname[64];
	int master = -1, slave = -1, bridge;

	link->pty = link->held = -1;
	link->child = NULL;
	/* With the bridge, we keep the master; otherwise the terminal does. */
	bridge = term->kind == TERMINAL_BRIDGE || term->kind == TERMINAL_TMUX;
	if (openpty(&master, &slave, ptsname, NULL, NULL) == -1) {
		snprintf(why, whylen, "openpty: %s", strerror(errno));
		return -1;
	}
	/* glibc's openpty leaves both ends inheritable: fix that at once. */
	if (io_cloexec(master) == -1 || io_cloexec(slave) == -1 ||
	    terminal_fd_above(&master) == -1 ||
	    terminal_pty_before(term, slave) == -1 ||
	    io_nonblock(bridge ? master : slave) == -1) {
		snprintf(why, whylen, "pty set-up: %s", strerror(errno));
		goto fail;
	}
	if (term->kind == TERMINAL_TMUX) {
		if (terminal_tmux(term, number, peer, ptsname, cancel, why,
		    whylen) == -1)
			goto fail;
	} else if ((link->child = terminal_start(term, term->tail, number,
	    peer, ptsname, bridge ? -1 : master, why, whylen)) == NULL)
		goto fail;
	if (bridge) {
		/* Hold the slave until the bridge has it open. */
		link->pty = master;
		link->held = slave;
	} else {
		/* Only the terminal may hold the master, or its close goes
		 * unseen. */
		close(master);
		link->pty = slave;
	}
	return 0;
fail:
	close(master);
	close(slave);
	return -1;
}

/*
 * Waits for the window's first words: with -S, xterm writes its X window
 * id as a hex line before anything else (echo is off while it comes);
 * the bridge writes "ready".  The line is of no further use.  urxvt says
 * nothing, so it counts as ready once it has survived a short grace time.
 * Returns 0 when the window is up, or -1 with a reason in why.
 */
static int
terminal_hello(const struct terminal *term, struct terminal_link *link,
    int cancel, char *why, size_t whylen)
{
	struct pollfd pfd[3];
	long long deadline, left;
	char buf[256];
	ssize_t n;
	int status;

	deadline = io_clock_ms() + (term->kind == TERMINAL_PTY_FD ?
	    TERMINAL_GRACE_MS : TERMINAL_TIMEOUT_MS);
	pfd[0].fd = link->pty;
	pfd[0].events = POLLIN;
	pfd[1].fd = cancel;
	pfd[1].events = POLLIN;
	/* tmux's launcher is over by now: its window is not a child. */
	pfd[2].fd = link->child != NULL ? child_fd(link->child) : -1;
	pfd[2].events = POLLIN;
	for (;;) {
		if ((left = deadline - io_clock_ms()) <= 0) {
			if (term->kind == TERMINAL_PTY_FD)
				return 0;
			snprintf(why, whylen, "the terminal did not open a "
			    "window in time");
			return -1;
		}
		if (poll(pfd, 3, left < TERMINAL_TICK_MS ? (int)left :
		    TERMINAL_TICK_MS) == -1) {
			if (errno == EINTR)
				continue;
			snprintf(why, whylen, "%s", strerror(errno));
			return -1;
		}
		if (pfd[1].revents != 0) {
			snprintf(why, whylen, "the session ended before its "
			    "window opened");
			return -1;
		}
		if (pfd[0].revents != 0) {
			n = read(link->pty, buf, sizeof buf);
			if (n > 0 && memchr(buf, '\n', (size_t)n) != NULL)
				return 0;
			if (n == 0 || (n == -1 && errno != EINTR &&
			    errno != EAGAIN))
				break;
		} else if (link->child != NULL &&
		    child_exited(link->child, &status))
			break;
	}
	snprintf(why, whylen, "the terminal exited before its window opened");
	return -1;
}

/*
 * Waits for the window that terminal_launch started to come up, then
 * sets the pty up for typing: with the bridge, our hold on its end goes,
 * so that its close means the end; otherwise the pty is raw for the chat
 * line editor, or whole lines with the terminal's own editing (--plain),
 * Backspace being DEL for urxvt and ^H for xterm -S.  cancel polls
 * readable once the session must end.  Returns 0, or -1 with a reason in
 * why; either way the terminal's process is the reaper's to reap now,
 * and terminal_close lets go of it.
 */
int
terminal_await(const struct terminal *term, struct terminal_link *link,
    int cancel, char *why, size_t whylen)
{
	int r;

	r = terminal_hello(term, link, cancel, why, whylen);
	/* Kept to close the window at once on a kick (terminal_hangup). */
	if (link->child != NULL)
		child_unwatch(link->child);
	if (r == -1)
		return -1;
	if (link->held != -1) {
		close(link->held);
		link->held = -1;
		return 0;
	}
	if (term->plain)
		r = tty_typing_mode(link->pty, term->kind == TERMINAL_PTY_FD ?
		    0177 : 010);
	else
		r = tty_raw(link->pty, NULL);
	if (r == -1)
		snprintf(why, whylen, "pty set-up: %s", strerror(errno));
	return r;
}

/*
 * Closes the window at once, even one whose terminal is stopped, hung or
 * not yet showing (a kick, a window that never opened): its process
 * group is let run, and told to end.  With quietly, its exit is no news
 * for the log (it was asked to end).
 */
void
terminal_hangup(struct terminal_link *link, int quietly)
{
	if (quietly)
		child_quiet(link->child);
	/* Running first, so that nothing reaches it once it is exiting. */
	child_signal(link->child, SIGCONT);
	child_signal(link->child, SIGTERM);
}

/*
 * Closes the session's side of its terminal; with our end gone, the
 * terminal exits.  Safe on a link that was never launched.
 */
void
terminal_close(struct terminal_link *link)
{
	if (link->pty != -1)
		close(link->pty);
	if (link->held != -1)
		close(link->held);
	child_release(link->child);
	link->pty = link->held = -1;
	link->child = NULL;
}
