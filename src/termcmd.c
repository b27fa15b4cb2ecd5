/*
 * The terminal command line: the -t words, their %n/%a/%p expansion, and
 * the title and hand-off arguments ptychatd adds to them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ptychat.h"

#define TERMCMD_BLANKS	" \t"

/* Frees a vector made here; NULL is fine. */
void
termcmd_free(char **v)
{
	char **p;

	if (v == NULL)
		return;
	for (p = v; *p != NULL; p++)
		free(*p);
	free(v);
}

/*
 * Splits command on blanks, with no quoting.  Returns a NULL-terminated
 * vector (empty when command is), or NULL when out of memory.
 */
char **
termcmd_split(const char *command)
{
	char **v;
	size_t n = 0, len;
	const char *p = command;

	if ((v = calloc(strlen(command) / 2 + 2, sizeof *v)) == NULL)
		return NULL;
	for (;;) {
		p += strspn(p, TERMCMD_BLANKS);
		if (*p == '\0')
			break;
		len = strcspn(p, TERMCMD_BLANKS);
		if ((v[n] = strndup(p, len)) == NULL) {
			termcmd_free(v);
			return NULL;
		}
		n++;
		p += len;
	}
	return v;
}

/*
 * Checks the words of a -t value before any client arrives.  Returns 0,
 * or -1 with a message in err.
 */
int
termcmd_check(char *const *words, char *err, size_t errlen)
{
	const char *p;

	if (words[0] == NULL) {
		snprintf(err, errlen, "the terminal command is empty");
		return -1;
	}
	for (; *words != NULL; words++) {
		for (p = *words; (p = strchr(p, '%')) != NULL; p += 2) {
			if (p[1] == '\0') {
				snprintf(err, errlen, "lone %% at the end of "
				    "terminal command word '%s': use %%%% for a "
				    "percent sign", *words);
				return -1;
			}
			if (p[1] != 'n' && p[1] != 'a' && p[1] != 'p' &&
			    p[1] != '%') {
				snprintf(err, errlen, "bad %%%.1s in terminal "
				    "command word '%s': use %%n, %%a, %%p or "
				    "%%%%", p + 1, *words);
				return -1;
			}
		}
	}
	return 0;
}

/*
 * Expands %n (session number), %a (peer address), %p (peer port) and %%
 * in one word already passed by termcmd_check.  Returns a new string, or
 * NULL when out of memory.
 */
char *
termcmd_expand(const char *word, unsigned long number, const struct peer *peer)
{
	char *out, *o, num[24];
	const char *p, *insert;
	size_t len, room;

	snprintf(num, sizeof num, "%lu", number);
	room = strlen(word) + 1;
	for (p = word; (p = strchr(p, '%')) != NULL && p[1] != '\0'; p += 2)
		room += sizeof peer->host;
	if ((out = malloc(room)) == NULL)
		return NULL;
	for (o = out, p = word; *p != '\0'; p++) {
		if (*p != '%' || p[1] == '\0') {
			*o++ = *p;
			continue;
		}
		switch (*++p) {
		case 'n':
			insert = num;
			break;
		case 'a':
			insert = peer->host;
			break;
		case 'p':
			insert = peer->port;
			break;
		default:
			insert = "%";
			break;
		}
		len = strlen(insert);
		memcpy(o, insert, len);
		o += len;
	}
	*o = '\0';
	return out;
}

/*
 * A second wall behind the sanitiser: xterm is told to ignore requests
 * to move or retitle its window, change fonts or colours, or report
 * termcap strings, whatever bytes reach it.
 */
static const char *const xterm_hardening[] = {
	"*allowWindowOps: false",
	"*allowTitleOps: false",
	"*allowFontOps: false",
	"*allowColorOps: false",
	"*allowTcapOps: false",
};
#define XTERM_HARDENING	(sizeof xterm_hardening / sizeof xterm_hardening[0])

/* Returns 1 when the terminal program is xterm (or uxterm). */
int
termcmd_is_xterm(char *const *words)
{
	const char *base = strrchr(words[0], '/');

	base = base ? base + 1 : words[0];
	return strcmp(base, "xterm") == 0 || strcmp(base, "uxterm") == 0;
}

/*
 * Builds the argument vector for one session's window: the expanded
 * words, xterm's hardening resources, the title (-T, -n), and then either
 * "-e BRIDGE PTSNAME" (bridge given) or the hand-off of the pty master on
 * fd (-S<ptsname>/<fd>, xterm's convention).  Returns NULL when out of
 * memory.
 */
char **
termcmd_argv(char *const *words, unsigned long number, const struct peer *peer,
    const char *ptsname, int fd, const char *bridge)
{
	char **argv, title[PEER_LABEL_MAX + 32], handoff[128];
	size_t nwords, i, n = 0;
	int xterm = termcmd_is_xterm(words);

	for (nwords = 0; words[nwords] != NULL; nwords++)
		;
	if ((argv = calloc(nwords + 2 * XTERM_HARDENING + 8,
	    sizeof *argv)) == NULL)
		return NULL;
	for (i = 0; i < nwords; i++)
		if ((argv[n++] = termcmd_expand(words[i], number, peer)) == NULL)
			goto fail;
	for (i = 0; xterm && i < XTERM_HARDENING; i++)
		if ((argv[n++] = strdup("-xrm")) == NULL ||
		    (argv[n++] = strdup(xterm_hardening[i])) == NULL)
			goto fail;
	snprintf(title, sizeof title, "ptychat #%lu %s", number, peer->label);
	if ((argv[n++] = strdup("-T")) == NULL ||
	    (argv[n++] = strdup(title)) == NULL ||
	    (argv[n++] = strdup("-n")) == NULL ||
	    (argv[n++] = strdup(title)) == NULL)
		goto fail;
	if (bridge != NULL) {
		if ((argv[n++] = strdup("-e")) == NULL ||
		    (argv[n++] = strdup(bridge)) == NULL ||
		    (argv[n++] = strdup(ptsname)) == NULL)
			goto fail;
	} else {
		snprintf(handoff, sizeof handoff, "-S%s/%d", ptsname, fd);
		if ((argv[n++] = strdup(handoff)) == NULL)
			goto fail;
	}
	return argv;
fail:
	termcmd_free(argv);
	return NULL;
}
