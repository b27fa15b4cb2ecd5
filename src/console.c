/*
 * The console: when ptychatd runs on a terminal, the operator types
 * commands there (list, say, all, kick, help, quit) on the same chat line
 * editor the windows use, and log lines are printed above it instead of
 * through it.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "ptychat.h"

/*
 * The command line, once started.  Log lines reach it from every thread;
 * it is never freed, since one may still be on its way when it stops.
 */
static struct chatline console;
static int console_on;
static struct termios console_saved;
static int console_logs;	/* log lines come here: stderr is the tty */

static const char console_help[] =
    "list          the sessions: number (* the focused window), client, "
    "age,\n"
    "              bytes in and out, unread lines, state, key\n"
    "say N TEXT    send TEXT to session N's client\n"
    "all TEXT      send TEXT to every client\n"
    "kick N        hang up on session N and close its window\n"
    "accept N      let waiting client N in (--ask); accept all: every one\n"
    "accept N --remember NAME\n"
    "              and add its key to the --clients file as NAME\n"
    "reject N [REASON]  turn waiting client N away, telling it REASON\n"
    "away          turn new clients away; conversations go on (--agent\n"
    "              then says drain)\n"
    "back          take new clients again\n"
    "help          this list\n"
    "quit          close every session and stop (also ^C)\n"
    "quit when done  turn new clients away, and stop once the last\n"
    "              session has ended\n";

/* Prints text above the command line: dim for a log line, or plain. */
static void
console_show(const char *text, int dim)
{
	if (dim)
		(void)chatline_note(&console, text);
	else
		(void)chatline_print(&console, text, strlen(text));
}

/* Prints a reply line above the command line; safe from any thread. */
void
console_print(const char *text)
{
	console_show(text, 0);
}

static void
console_log(const char *line)
{
	/* After the console has stopped, the line goes where it would. */
	if (chatline_note(&console, line) == 1)
		fprintf(stderr, "%s\n", line);
}

/*
 * Starts the console when standard input and output are a terminal.
 * Returns the fd to watch for keys, or -1 when there is no console.
 */
int
console_start(void)
{
	struct editor *ed;

	if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO) ||
	    tty_background(STDIN_FILENO))
		return -1;
	if ((ed = editor_new("ptychatd> ", "ptychatd> ", 0)) == NULL)
		return -1;
	if (tty_raw(STDIN_FILENO, &console_saved) == -1) {
		editor_free(ed);
		return -1;
	}
	chatline_init(&console, ed, STDOUT_FILENO, STDOUT_FILENO, -1);
	console_on = 1;
	console_show("ptychatd console: type help for the commands", 1);
	/* Log lines on the same terminal must not break the command line. */
	if (isatty(STDERR_FILENO)) {
		console_logs = 1;
		log_set_sink(console_log);
	}
	return STDIN_FILENO;
}

/* Gives the terminal back, leaving what was shown on it. */
void
console_stop(void)
{
	if (console_logs)
		log_set_sink(NULL);
	if (!console_on)
		return;
	/* The terminal first: a log line still on its way may go to it. */
	(void)tcsetattr(STDIN_FILENO, TCSANOW, &console_saved);
	(void)chatline_finish(&console);
}

/* Writes a byte count the way people read them: 812, 4.2k, 17.0M. */
static void
console_bytes(char *out, size_t len, unsigned long long n)
{
	if (n < 10000)
		snprintf(out, len, "%llu", n);
	else if (n < 10000ULL * 1024)
		snprintf(out, len, "%.1fk", (double)n / 1024);
	else if (n < 10000ULL * 1024 * 1024)
		snprintf(out, len, "%.1fM", (double)n / (1024 * 1024));
	else
		snprintf(out, len, "%.1fG", (double)n / (1024 * 1024 * 1024));
}

static void
console_list(void)
{
	struct session_view *v;
	char line[320], age[32], in[16], out[16];
	size_t n, i;

	snprintf(line, sizeof line, "operator: %s\n", desk_name(desk_state()));
	console_show(line, 0);
	if ((n = session_snapshot(&v)) == 0) {
		console_show("no sessions\n", 0);
		return;
	}
	console_show("   #  client                                       age"
	    "      in     out  unread  state                   key\n", 0);
	for (i = 0; i < n; i++) {
		if (v[i].age >= 3600)
			snprintf(age, sizeof age, "%lldh%02lldm", v[i].age / 3600,
			    v[i].age / 60 % 60);
		else if (v[i].age >= 60)
			snprintf(age, sizeof age, "%lldm%02llds", v[i].age / 60,
			    v[i].age % 60);
		else
			snprintf(age, sizeof age, "%llds", v[i].age);
		console_bytes(in, sizeof in, v[i].bytes_in);
		console_bytes(out, sizeof out, v[i].bytes_out);
		/* The key last: a name may follow it, as long as it is. */
		snprintf(line, sizeof line, "%4lu%c %-42s %6s %7s %7s %7lu  "
		    "%-22s  %s%s%s\n", v[i].number, v[i].focused ? '*' : ' ',
		    v[i].label, age, in, out, v[i].unread, v[i].state, *v[i].key != '\0' ? v[i].key : "-",
		    *v[i].name != '\0' ? " " : "", v[i].name);
		console_show(line, 0);
	}
	free(v);
}

/*
 * Parses the session number that starts text and points *rest past it
 * and its blanks.  Returns 0 when text does not start with one.
 */
static unsigned long
console_number(const char *text, const char **rest)
{
	char word[24];
	const char *errstr;
	size_t len = strcspn(text, " ");
	long long n;

	if (len >= sizeof word)
		return 0;
	memcpy(word, text, len);
	word[len] = '\0';
	n = number_parse(word, 1, LLONG_MAX, &errstr);
	if (errstr != NULL)
		return 0;
	*rest = text + len + strspn(text + len, " ");
	return (unsigned long)n;
}

/*
 * Hands text (plus \n) to one session, or to all with number 0.  The
 * verdict comes later, from the sessions (session_post); only a session
 * that is missing or takes nothing is answered here.
 */
static void
console_send(unsigned long number, const char *text)
{
	char reply[128], *line;
	size_t len = strlen(text);
	int took;

	if ((line = malloc(len + 2)) == NULL)
		return;
	memcpy(line, text, len);
	line[len++] = '\n';
	line[len] = '\0';
	took = session_post(number, line, len);
	free(line);
	/* Handed on: the verdict comes from the sessions. */
	if (took > 0)
		return;
	if (took == -1)
		snprintf(reply, sizeof reply, number ? "no session #%lu\n" :
		    "no sessions\n", number);
	else if (number != 0)
		snprintf(reply, sizeof reply, "not sent: #%lu is not taking "
		    "data\n", number);
	else
		snprintf(reply, sizeof reply, "not sent: no client is taking "
		    "data\n");
	console_show(reply, 0);
}

/* Carries out one command line.  Returns 1 for quit. */
static int
console_command(char *line)
{
	const char *rest = "";
	char reply[160], *word, *args;
	unsigned long n;

	line[strcspn(line, "\n")] = '\0';
	word = line + strspn(line, " ");
	if (*word == '\0')
		return 0;
	args = word + strcspn(word, " ");
	if (*args != '\0')
		*args++ = '\0';
	args += strspn(args, " ");

	if (strcmp(word, "list") == 0)
		console_list();
	else if (strcmp(word, "say") == 0 &&
	    (n = console_number(args, &rest)) != 0 && *rest != '\0')
		console_send(n, rest);
	else if (strcmp(word, "all") == 0 && *args != '\0')
		console_send(0, args);
	else if (strcmp(word, "kick") == 0 &&
	    (n = console_number(args, &rest)) != 0 && *rest == '\0') {
		if (session_kick(n) == -1)
			snprintf(reply, sizeof reply, "no session #%lu\n", n);
		else
			snprintf(reply, sizeof reply, "hung up on #%lu\n", n);
		console_show(reply, 0);
	} else if ((strcmp(word, "accept") == 0 ||
	    strcmp(word, "reject") == 0) && lobby_console(word, args) == 0)
		;
	else if (strcmp(word, "away") == 0 || strcmp(word, "back") == 0 ||
	    (strcmp(word, "quit") == 0 && strcmp(args, "when done") == 0)) {
		desk_move(*word == 'a' ? DESK_AWAY : *word == 'b' ? DESK_HERE :
		    DESK_LEAVING, "console");
		n = session_count();
		snprintf(reply, sizeof reply, "operator: %s; %lu session%s\n",
		    desk_name(desk_state()), n, n == 1 ? "" : "s");
		console_show(reply, 0);
	} else if (strcmp(word, "help") == 0)
		console_show(console_help, 0);
	else if (strcmp(word, "quit") == 0)
		return 1;
	else if (strcmp(word, "say") == 0 || strcmp(word, "all") == 0 ||
	    strcmp(word, "kick") == 0 || strcmp(word, "accept") == 0 ||
	    strcmp(word, "reject") == 0) {
		snprintf(reply, sizeof reply, "usage: %s\n",
		    strcmp(word, "say") == 0 ? "say N TEXT" :
		    strcmp(word, "all") == 0 ? "all TEXT" :
		    strcmp(word, "accept") == 0 ?
		    "accept N [--remember NAME] | accept all" :
		    strcmp(word, "reject") == 0 ? "reject N [REASON]" :
		    "kick N");
		console_show(reply, 0);
	} else {
		snprintf(reply, sizeof reply, "unknown command '%.40s'; type "
		    "help\n", word);
		console_show(reply, 0);
	}
	return 0;
}

/*
 * Reads what was typed on the console and carries out each finished
 * command.  Returns 1 when the operator asked to stop (quit, ^C, or the
 * terminal went away), 0 otherwise.
 */
int
console_input(void)
{
	struct editor_buf lines = { NULL, 0, 0 };
	char keys[1024], *line, *nl;
	ssize_t n;
	int quit, ended;

	n = read(STDIN_FILENO, keys, sizeof keys);
	if (n == -1 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (n <= 0)
		return 1;
	/* Commands finished before a ^C are carried out first. */
	chatline_keys(&console, keys, (size_t)n, CHATLINE_INTR, &lines,
	    &ended);
	quit = ended == CHATLINE_INTR;
	for (line = lines.data; line != NULL &&
	    line < lines.data + lines.len; line = nl + 1) {
		if ((nl = memchr(line, '\n', lines.len -
		    (size_t)(line - lines.data))) == NULL)
			break;
		*nl = '\0';
		if (console_command(line) == 1) {
			quit = 1;
			break;
		}
	}
	editor_buf_free(&lines);
	return quit;
}
