/*
 * The terminal command line: the -t words, their %n/%a/%p expansion, and
 * the window's argument vector built from them and the terminal's tail.
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
 * Copies word with each "%x" replaced by value[x] (a "%x" without a value
 * is copied as it is, and "%%" is one "%").  Returns a new string, or
 * NULL when out of memory.
 */
static char *
termcmd_fill(const char *word, const char *const value[128])
{
	char *out, *o;
	const char *p, *insert;
	size_t len, room;

	room = strlen(word) + 1;
	for (p = word; (p = strchr(p, '%')) != NULL && p[1] != '\0'; p += 2)
		if ((unsigned char)p[1] < 128 && value[(unsigned char)p[1]])
			room += strlen(value[(unsigned char)p[1]]);
	if ((out = malloc(room)) == NULL)
		return NULL;
	for (o = out, p = word; *p != '\0'; p++) {
		if (*p != '%' || p[1] == '\0') {
			*o++ = *p;
			continue;
		}
		p++;
		if (*p == '%')
			insert = "%";
		else if ((unsigned char)*p < 128 && value[(unsigned char)*p])
			insert = value[(unsigned char)*p];
		else {
			*o++ = '%';
			*o++ = *p;
			continue;
		}
		len = strlen(insert);
		memcpy(o, insert, len);
		o += len;
	}
	*o = '\0';
	return out;
}

/*
 * Expands %n (session number), %a (peer address), %p (peer port) and %%
 * in one word already passed by termcmd_check.  Returns a new string, or
 * NULL when out of memory.
 */
char *
termcmd_expand(const char *word, unsigned long number, const struct peer *peer)
{
	const char *value[128] = { NULL };
	char num[24];

	snprintf(num, sizeof num, "%lu", number);
	value['n'] = num;
	value['a'] = peer->host;
	value['p'] = peer->port;
	return termcmd_fill(word, value);
}

/*
 * A second wall behind the sanitiser: xterm is told to ignore requests
 * to move or retitle its window, change fonts or colours, or report
 * termcap strings, whatever bytes reach it.  The names are fully
 * qualified (%I is the instance name), because Xt lets the more specific
 * XTerm*allowTitleOps: true of a dotfile beat a loose *allowTitleOps; the
 * disallowed lists are set too, since a dotfile can empty them.  UTF-8
 * mode keeps xterm from reading the bytes 0x80-0x9F inside valid UTF-8
 * text as C1 controls, which an 8-bit xterm (LANG=C) would.
 */
static const char *const xterm_hardening[] = {
	"-xrm", "%I.vt100.allowWindowOps: false",
	"-xrm", "%I.vt100.allowTitleOps: false",
	"-xrm", "%I.vt100.allowFontOps: false",
	"-xrm", "%I.vt100.allowColorOps: false",
	"-xrm", "%I.vt100.allowTcapOps: false",
	"-xrm", "%I.vt100.disallowedWindowOps: 1,2,3,4,5,6,7,8,9,11,13,14,18,"
	    "19,20,21,GetSelection,SetSelection,SetWinLines,SetXprop",
	"-xrm", "%I.vt100.disallowedColorOps: SetColor,GetColor,GetAnsiColor",
	"-xrm", "%I.vt100.disallowedFontOps: SetFont,GetFont",
	"-xrm", "%I.vt100.disallowedTcapOps: SetTcap,GetTcap",
	"-xrm", "%I.vt100.locale: UTF-8",
	/* Not hardening: our BEL asks the window manager for attention. */
	"-xrm", "%I.vt100.bellIsUrgent: true",
	NULL
};

/* Returns xterm's instance name: the -name given in words, or "xterm". */
static const char *
termcmd_instance(char *const *words)
{
	for (; *words != NULL; words++)
		if (strcmp(*words, "-name") == 0 && words[1] != NULL)
			return words[1];
	return "xterm";
}

/*
 * Builds the argument vector for one session's window: the expanded -t
 * words, xterm's hardening resources, then the terminal's tail with
 * %T (title), %B (bridge), %M (its mode), %P (pty path) and %F (hand-off
 * fd) filled in.
 * Returns NULL when out of memory.
 */
char **
termcmd_argv(const struct terminal *term, const char *const *tail,
    unsigned long number, const struct peer *peer, const char *ptsname,
    int fd)
{
	const char *value[128] = { NULL };
	const char *const *extra[2];
	char **argv, title[PEER_LABEL_MAX + 96], fdtext[16];
	size_t nwords, i, j, n = 0;

	snprintf(title, sizeof title, "ptychat #%lu %s%s%s", number, peer->name,
	    *peer->name != '\0' ? " " : "", peer->label);
	snprintf(fdtext, sizeof fdtext, "%d", fd);
	value['T'] = title;
	value['B'] = term->bridge;
	value['P'] = ptsname;
	value['F'] = fdtext;
	value['I'] = termcmd_instance(term->words);
	value['M'] = term->plain ? "--lines" : "--raw";
	extra[0] = term->xterm ? xterm_hardening : NULL;
	extra[1] = tail;

	for (nwords = 0; term->words[nwords] != NULL; nwords++)
		;
	if ((argv = calloc(nwords + 48, sizeof *argv)) == NULL)
		return NULL;
	for (i = 0; i < nwords; i++)
		if ((argv[n++] = termcmd_expand(term->words[i], number,
		    peer)) == NULL)
			goto fail;
	for (j = 0; j < 2; j++)
		for (i = 0; extra[j] != NULL && extra[j][i] != NULL; i++)
			if ((argv[n++] = termcmd_fill(extra[j][i],
			    value)) == NULL)
				goto fail;
	return argv;
fail:
	termcmd_free(argv);
	return NULL;
}
