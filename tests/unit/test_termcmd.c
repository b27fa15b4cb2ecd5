/*
 * Unit tests for termcmd.c: splitting the -t value into words, checking
 * its % escapes, expanding them for one session, and the argument vector
 * a window is started with.  Only termcmd.o is linked, so peers are
 * filled in by hand.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/ptychat.h"
#include "tap.h"

/* The longest text inet_ntop can give for an IPv6 address. */
#define LONGEST_V6	"ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255"

/* Up to this many words per row; NULL ends a row's list early. */
#define MAXWORDS	8

struct split_case {
	const char	*name;
	const char	*command;
	const char	*want[MAXWORDS];
};

static const struct split_case split_cases[] = {
	{ "empty string", "", { NULL } },
	{ "only blanks", "   ", { NULL } },
	{ "only tabs and blanks", " \t \t", { NULL } },
	{ "one word", "xterm", { "xterm", NULL } },
	{ "words on single blanks", "xterm -fa Mono",
	    { "xterm", "-fa", "Mono", NULL } },
	{ "runs of blanks", "xterm    -fa  Mono",
	    { "xterm", "-fa", "Mono", NULL } },
	{ "tabs between words", "xterm\t-fa\t\tMono",
	    { "xterm", "-fa", "Mono", NULL } },
	{ "leading and trailing blanks", "  \txterm -e sh\t  ",
	    { "xterm", "-e", "sh", NULL } },
	{ "one-letter words (most words for the length)", "a b c d e",
	    { "a", "b", "c", "d", "e", NULL } },
	{ "no quoting: quotes stay in words", "sh -c 'a b'",
	    { "sh", "-c", "'a", "b'", NULL } },
	{ "escapes are not expanded", "st -t %n:%a",
	    { "st", "-t", "%n:%a", NULL } },
	{ "newline is not a blank", "a\nb c", { "a\nb", "c", NULL } },
};

struct check_case {
	const char	*name;
	const char	*command;
	int		 want;		/* 0 or -1 */
	const char	*want_in_err;	/* NULL: not checked */
	const char	*want_in_err2;
};

static const struct check_case check_cases[] = {
	{ "empty command", "", -1, "empty", NULL },
	{ "blank command", " \t ", -1, "empty", NULL },
	{ "plain command", "xterm -fa Mono", 0, NULL, NULL },
	{ "%n accepted", "st -t #%n", 0, NULL, NULL },
	{ "%a accepted", "st -t %a", 0, NULL, NULL },
	{ "%p accepted", "st -t %p", 0, NULL, NULL },
	{ "%% accepted", "st -t 100%%", 0, NULL, NULL },
	{ "all escapes in one word", "%n%a%p%%", 0, NULL, NULL },
	{ "%%n is a percent then n", "x%%n", 0, NULL, NULL },
	{ "%%% then n is %% and %n", "x%%%n", 0, NULL, NULL },
	{ "%x rejected, naming the word", "xterm -title ab%xcd", -1,
	    "'ab%xcd'", "%x" },
	{ "%N (upper case) rejected", "xterm %N", -1, "'%N'", "%N" },
	{ "a later bad word is found", "xterm %n ok %q", -1, "'%q'", "%q" },
	{ "lone trailing % rejected, naming the word", "xterm -T 50%", -1,
	    "'50%'", NULL },
	{ "lone % word rejected", "xterm %", -1, "'%'", NULL },
	{ "%%% at the end rejected", "xterm x%%%", -1, "'x%%%'", NULL },
	{ "a % alone before a blank", "xterm % n", -1, "'%'", NULL },
};

/* A peer as peer_from_sockaddr would fill it. */
static void
peer_set(struct peer *p, const char *host, const char *port)
{
	snprintf(p->host, sizeof p->host, "%s", host);
	snprintf(p->port, sizeof p->port, "%s", port);
	p->name[0] = '\0';
	if (strchr(host, ':') != NULL)
		snprintf(p->label, sizeof p->label, "[%s]:%s", host, port);
	else
		snprintf(p->label, sizeof p->label, "%s:%s", host, port);
}

static size_t
vec_len(char *const *v)
{
	size_t n = 0;

	while (v[n] != NULL)
		n++;
	return n;
}

/* Prints a vector as a diagnostic. */
static void
vec_diag(const char *what, char *const *v)
{
	size_t i;

	tap_diag("%s: %zu words", what, vec_len(v));
	for (i = 0; v[i] != NULL; i++)
		tap_diag("  [%zu] \"%s\"", i, v[i]);
}

/* Returns 1 when v holds exactly the words of want (NULL-terminated). */
static int
vec_is(char *const *v, const char *const *want)
{
	size_t i;

	for (i = 0; want[i] != NULL; i++)
		if (v[i] == NULL || strcmp(v[i], want[i]) != 0)
			return 0;
	return v[i] == NULL;
}

static void
check_split(void)
{
	const struct split_case *c;
	char **v;
	size_t i;

	for (i = 0; i < sizeof split_cases / sizeof split_cases[0]; i++) {
		c = &split_cases[i];
		if ((v = termcmd_split(c->command)) == NULL) {
			tap_ok(0, "split: %s: out of memory", c->name);
			continue;
		}
		if (!tap_ok(vec_is(v, c->want), "split: %s", c->name)) {
			vec_diag("got", v);
			vec_diag("want", (char *const *)(const void *)c->want);
		}
		termcmd_free(v);
	}
	/* Must not crash. */
	termcmd_free(NULL);
}

static void
check_check(void)
{
	const struct check_case *c;
	char err[512], **words;
	size_t i;
	int got;

	for (i = 0; i < sizeof check_cases / sizeof check_cases[0]; i++) {
		c = &check_cases[i];
		if ((words = termcmd_split(c->command)) == NULL) {
			tap_ok(0, "check: %s: out of memory", c->name);
			continue;
		}
		strcpy(err, "(untouched)");
		got = termcmd_check(words, err, sizeof err);
		if (!tap_ok(got == c->want, "check: %s: returns %d", c->name,
		    c->want))
			tap_diag("got %d, err \"%s\"", got, err);
		if (c->want_in_err != NULL &&
		    !tap_ok(strstr(err, c->want_in_err) != NULL,
		    "check: %s: the message names %s", c->name,
		    c->want_in_err))
			tap_diag("err \"%s\"", err);
		if (c->want_in_err2 != NULL &&
		    !tap_ok(strstr(err, c->want_in_err2) != NULL,
		    "check: %s: the message names %s", c->name,
		    c->want_in_err2))
			tap_diag("err \"%s\"", err);
		termcmd_free(words);
	}

	/* A small buffer gets a truncated, terminated message. */
	words = termcmd_split("xterm %z");
	memset(err, 'X', sizeof err);
	got = termcmd_check(words, err, 8);
	tap_ok(got == -1 && strlen(err) == 7 && err[8] == 'X',
	    "check: the message fits the buffer it is given");
	termcmd_free(words);
}

struct expand_case {
	const char	*name;
	const char	*word;
	unsigned long	 number;
	const char	*host;
	const char	*port;
	const char	*want;	/* NULL: the number once per %n */
};

static const struct expand_case expand_cases[] = {
	{ "no escape", "xterm", 1, "192.0.2.1", "80", "xterm" },
	{ "empty word", "", 1, "192.0.2.1", "80", "" },
	{ "%n", "%n", 7, "192.0.2.1", "80", "7" },
	{ "%a", "%a", 7, "192.0.2.1", "80", "192.0.2.1" },
	{ "%p", "%p", 7, "192.0.2.1", "80", "80" },
	{ "%%", "%%", 7, "192.0.2.1", "80", "%" },
	{ "escapes inside a word", "#%n-from-%a:%p.log", 12, "192.0.2.1",
	    "4242", "#12-from-192.0.2.1:4242.log" },
	{ "several escapes back to back", "%n%a%p%%%n", 3, "198.51.100.7",
	    "65535", "3198.51.100.765535%3" },
	{ "the same escape twice", "%p/%p", 1, "192.0.2.1", "1", "1/1" },
	{ "%% before a letter is not an escape", "%%n%%a%%p", 5,
	    "192.0.2.1", "80", "%n%a%p" },
	{ "%% after letters", "100%%", 5, "192.0.2.1", "80", "100%" },
	{ "%%% then n", "x%%%n", 5, "192.0.2.1", "80", "x%5" },
	{ "IPv6 host", "%a", 2, "2001:db8::1", "80", "2001:db8::1" },
	{ "IPv6 host in a word, no brackets added", "[%a]:%p", 2,
	    "2001:db8::1", "80", "[2001:db8::1]:80" },
	{ "session number 0", "%n", 0, "192.0.2.1", "80", "0" },
	{ "largest session number", "%n", ULONG_MAX, "192.0.2.1", "80",
	    NULL },
	{ "longest IPv6 host three times", "%a%a%a", 1, LONGEST_V6, "65535",
	    LONGEST_V6 LONGEST_V6 LONGEST_V6 },
	{ "many %n with a long number", "%n%n%n%n%n%n%n%n", ULONG_MAX,
	    "192.0.2.1", "80", NULL },
};

static void
check_expand(void)
{
	const struct expand_case *c;
	struct peer p;
	char want[512], num[32], *got;
	size_t i;
	int k;

	for (i = 0; i < sizeof expand_cases / sizeof expand_cases[0]; i++) {
		c = &expand_cases[i];
		peer_set(&p, c->host, c->port);
		if (c->want != NULL)
			snprintf(want, sizeof want, "%s", c->want);
		else {
			snprintf(num, sizeof num, "%lu", c->number);
			want[0] = '\0';
			for (k = 0; c->word[k] != '\0'; k++)
				if (c->word[k] == '%')
					strcat(want, num);
		}
		if ((got = termcmd_expand(c->word, c->number, &p)) == NULL) {
			tap_ok(0, "expand: %s: out of memory", c->name);
			continue;
		}
		if (!tap_ok(strcmp(got, want) == 0, "expand: %s", c->name))
			tap_diag("got \"%s\", want \"%s\"", got, want);
		free(got);
	}
}

static const char *const bridge_tail[] = {
	"-T", "%T", "-n", "%T", "-e", "%B", "%P", NULL
};
static const char *const handoff_tail[] = {
	"-T", "%T", "-n", "%T", "-S%P/%F", NULL
};

static void
check_argv_one(const char *name, const char *command, int xterm,
    const char *const *tail, unsigned long number, const char *host,
    const char *port, const char *pts, int fd, const char *const *want)
{
	struct terminal term;
	struct peer p;
	char **argv;

	memset(&term, 0, sizeof term);
	peer_set(&p, host, port);
	term.words = termcmd_split(command);
	term.xterm = xterm;
	term.bridge = "/opt/bin/ptychat-bridge";
	if (term.words == NULL || (argv = termcmd_argv(&term, tail, number,
	    &p, pts, fd)) == NULL) {
		tap_ok(0, "argv: %s: out of memory", name);
		termcmd_free(term.words);
		return;
	}
	if (!tap_ok(vec_is(argv, want), "argv: %s", name)) {
		vec_diag("got", argv);
		vec_diag("want", (char *const *)(const void *)want);
	}
	termcmd_free(argv);
	termcmd_free(term.words);
}

/* What every xterm is given, whatever its -t words. */
#define HARDENING_FOR(i) \
	"-xrm", i ".vt100.allowWindowOps: false", \
	"-xrm", i ".vt100.allowTitleOps: false", \
	"-xrm", i ".vt100.allowFontOps: false", \
	"-xrm", i ".vt100.allowColorOps: false", \
	"-xrm", i ".vt100.allowTcapOps: false", \
	"-xrm", i ".vt100.disallowedWindowOps: 1,2,3,4,5,6,7,8,9,11,13,14," \
	    "18,19,20,21,GetSelection,SetSelection,SetWinLines,SetXprop", \
	"-xrm", i ".vt100.disallowedColorOps: SetColor,GetColor,GetAnsiColor", \
	"-xrm", i ".vt100.disallowedFontOps: SetFont,GetFont", \
	"-xrm", i ".vt100.disallowedTcapOps: SetTcap,GetTcap", \
	"-xrm", i ".vt100.locale: UTF-8", \
	"-xrm", i ".vt100.bellIsUrgent: true"
#define HARDENING HARDENING_FOR("xterm")

static void
check_argv(void)
{
	static const char *const plain[] = {
		"xterm", HARDENING, "-T", "ptychat #1 192.0.2.1:80", "-n",
		"ptychat #1 192.0.2.1:80", "-S/dev/pts/5/3", NULL
	};
	static const char *const bridged[] = {
		"/usr/bin/xterm", "-fa", "Mono", HARDENING, "-T",
		"ptychat #2 192.0.2.1:80", "-n", "ptychat #2 192.0.2.1:80",
		"-e", "/opt/bin/ptychat-bridge", "/dev/pts/5", NULL
	};
	static const char *const expanded[] = {
		"standin-term", "--dir", "/tmp/w", "--name", "12",
		"--log=12-192.0.2.9-4242%",
		"-T", "ptychat #12 192.0.2.9:4242", "-n",
		"ptychat #12 192.0.2.9:4242", "-S/dev/pts/17/3", NULL
	};
	static const char *const v6[] = {
		"st", "-t", "2001:db8::1", "-T", "ptychat #3 [2001:db8::1]:80",
		"-n", "ptychat #3 [2001:db8::1]:80", "-S/dev/pts/0/3", NULL
	};
	char title[128];
	const char *longest[] = {
		"urxvt", "-T", title, "-n", title, "-S/dev/pts/123456/3", NULL
	};
	static const char *const otherfd[] = {
		"uxterm", HARDENING, "-T", "ptychat #1 192.0.2.1:80", "-n",
		"ptychat #1 192.0.2.1:80", "-S/dev/pts/5/17", NULL
	};
	static const char *const percent_title[] = {
		"term", "-T", "ptychat #4 192.0.2.1:80", "-n",
		"ptychat #4 192.0.2.1:80", "%x", "100%", NULL
	};
	static const char *const named[] = {
		"xterm", "-name", "chat", HARDENING_FOR("chat"), "-T",
		"ptychat #5 192.0.2.1:80", "-n", "ptychat #5 192.0.2.1:80",
		"-S/dev/pts/5/3", NULL
	};
	static const char *const odd_tail[] = {
		"-T", "%T", "-n", "%T", "%x", "100%%", NULL
	};

	check_argv_one("xterm -S: hardening, title, icon name, hand-off",
	    "xterm", 1, handoff_tail, 1, "192.0.2.1", "80", "/dev/pts/5", 3,
	    plain);
	check_argv_one("xterm with the bridge: -e BRIDGE PTSNAME, no -S",
	    "/usr/bin/xterm -fa Mono", 1, bridge_tail, 2, "192.0.2.1", "80",
	    "/dev/pts/5", 3, bridged);
	check_argv_one("words are expanded before the added arguments",
	    " standin-term --dir /tmp/w\t--name %n --log=%n-%a-%p%% ", 0,
	    handoff_tail, 12, "192.0.2.9", "4242", "/dev/pts/17", 3,
	    expanded);
	check_argv_one("IPv6 peer: bare in %a, bracketed in the title",
	    "st -t %a", 0, handoff_tail, 3, "2001:db8::1", "80", "/dev/pts/0",
	    3, v6);
	snprintf(title, sizeof title, "ptychat #%lu [%s]:65535", ULONG_MAX,
	    LONGEST_V6);
	check_argv_one("longest number and address still fit the title",
	    "urxvt", 0, handoff_tail, ULONG_MAX, LONGEST_V6, "65535",
	    "/dev/pts/123456", 3, longest);
	check_argv_one("the hand-off names the fd it is given", "uxterm", 1,
	    handoff_tail, 1, "192.0.2.1", "80", "/dev/pts/5", 17, otherfd);
	check_argv_one("xterm -name: the hardening names that instance",
	    "xterm -name chat", 1, handoff_tail, 5, "192.0.2.1", "80",
	    "/dev/pts/5", 3, named);
	check_argv_one("unknown % in a tail stays; %% is one %", "term", 0,
	    odd_tail, 4, "192.0.2.1", "80", "/dev/pts/5", 3, percent_title);
}

int
main(void)
{
	check_split();
	check_check();
	check_expand();
	check_argv();
	return tap_done();
}
