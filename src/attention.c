/*
 * Attention: a window the operator is not looking at asks for it when
 * its client writes.
 *
 * The window's terminal reports its focus (DECSET 1004, which
 * window_start turns on); the chat line's key parser takes the reports
 * out of the keys, and the writer relay hands them here.  When the
 * client's text reaches a window without the focus, its lines count as
 * unread, and at most once per ATTENTION_BELL_MS the window's bell rings
 * with a BEL of ours (the client's own show as ^G): xterm, started with
 * bellIsUrgent, and urxvt, with urgentOnBell, then set their urgency
 * hint, which the window manager shows and the focus clears; tmux flags
 * a window that is not the current one.  At most once per
 * ATTENTION_NOTIFY_MS a desktop notification shows the first line.
 *
 * A terminal that reports no focus (tmux without focus-events) is taken
 * as unfocused: it may ring when looked at, but never stays silent when
 * it is not.  A --plain window, which cannot report it (its keys go to
 * the line discipline), is never rung: it would ring at whoever types
 * in it; it counts and notifies.  A line the operator sends from a
 * window reads what was unread.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "ptychat.h"

/* At most one bell per window this often, whatever the client sends. */
#define ATTENTION_BELL_MS	3000
/* And one notification per session. */
#define ATTENTION_NOTIFY_MS	10000
/* Characters of the client's line shown in a notification. */
#define ATTENTION_TEXT_MAX	100
/* Never: the next alert is due at once. */
#define ATTENTION_NEVER		(LLONG_MIN / 2)

void
attention_init(struct attention *a)
{
	atomic_init(&a->focus, FOCUS_UNKNOWN);
	atomic_init(&a->unread, 0);
	atomic_init(&a->bell_ms, ATTENTION_NEVER);
	a->notice_ms = ATTENTION_NEVER;
	a->mid_line = 0;
}

/*
 * What the window's terminal last reported of its focus, and whether it
 * gained it meanwhile (the writer relay, after each read of keys).
 * Gaining it reads every line, and the next loss may ring at once.
 */
void
attention_focus(struct session *s, enum focus f, int gained)
{
	struct attention *a = &s->attention;

	if (gained) {
		atomic_store(&a->unread, 0);
		atomic_store(&a->bell_ms, ATTENTION_NEVER);
	}
	if (f == FOCUS_UNKNOWN || atomic_exchange(&a->focus, (int)f) ==
	    (int)f)
		return;
	log_debug("session %lu %s: window %s the focus", s->number,
	    s->peer.label, f == FOCUS_IN ? "has" : "lost");
}

/* The operator sent a line from the window: it has been read. */
void
attention_seen(struct session *s)
{
	atomic_store(&s->attention.unread, 0);
}

/*
 * Copies at most max characters of the first line of the len bytes at
 * text that is not empty into out (size outlen), for notify-send, whose
 * body may be markup: &, < and > go as entities, a tab as a space, and a
 * line cut short ends in an ellipsis.  text is the sanitiser's: printable
 * UTF-8, tabs and newlines.  Returns how many characters it copied.
 */
size_t
attention_excerpt(const char *text, size_t len, size_t max, char *out,
    size_t outlen)
{
	const char *entity;
	size_t i = 0, chars = 0, o = 0, n, step;

	while (i < len && text[i] == '\n')
		i++;
	/* The worst character, an entity, and the ellipsis fit. */
	while (i < len && text[i] != '\n' && o + 16 < outlen) {
		if (chars == max) {
			memcpy(out + o, "\xe2\x80\xa6", 3);
			o += 3;
			break;
		}
		entity = NULL;
		switch (text[i]) {
		case '&':
			entity = "&amp;";
			break;
		case '<':
			entity = "&lt;";
			break;
		case '>':
			entity = "&gt;";
			break;
		case '\t':
			entity = " ";
			break;
		}
		if (entity != NULL) {
			n = strlen(entity);
			memcpy(out + o, entity, n);
			o += n;
			i++;
		} else {
			step = i;
			(void)utf8_next(text, len, &step);
			memcpy(out + o, text + i, step - i);
			o += step - i;
			i = step;
		}
		chars++;
	}
	out[o] = '\0';
	return chars;
}

/*
 * The client's text has been shown in the window (the reader relay): in
 * a window without the focus it counts, rings and notifies.
 */
void
attention_peer(struct session *s, const char *text, size_t len)
{
	struct attention *a = &s->attention;
	char summary[PEER_LABEL_MAX + 160], body[ATTENTION_TEXT_MAX * 6 + 32];
	unsigned long lines = 0;
	long long now;
	const char *p = text, *end = text + len;

	/* A line at a time: this runs on every byte the client sends. */
	while (p < end) {
		if (*p == '\n') {
			a->mid_line = 0;
			p++;
			continue;
		}
		if (!a->mid_line) {
			a->mid_line = 1;
			lines++;
		}
		if ((p = memchr(p, '\n', (size_t)(end - p))) == NULL)
			break;
	}
	if (len == 0 || atomic_load(&a->focus) == FOCUS_IN)
		return;
	atomic_fetch_add(&a->unread, lines);
	now = io_clock_ms();
	if (!s->config->plain &&
	    now - atomic_load(&a->bell_ms) >= ATTENTION_BELL_MS) {
		atomic_store(&a->bell_ms, now);
		(void)chatline_bell(&s->chat);
	}
	if (now - a->notice_ms < ATTENTION_NOTIFY_MS ||
	    attention_excerpt(text, len, ATTENTION_TEXT_MAX, body,
	    sizeof body) == 0)
		return;
	a->notice_ms = now;
	snprintf(summary, sizeof summary, "ptychat #%lu %s%s%s%s: new message",
	    s->number, s->peer.label, *s->peer.name != '\0' ? " (" : "",
	    s->peer.name, *s->peer.name != '\0' ? ")" : "");
	(void)notify_post(summary, body, NULL, NULL, s->number);
}

/*
 * A client's window has opened (the session thread): a notification
 * says who came, with its key's name from --clients.
 */
void
attention_connected(struct session *s)
{
	char summary[64], body[PEER_LABEL_MAX + 6 * 64 + 64];
	char name[6 * 64 + 1];

	snprintf(summary, sizeof summary, "ptychat: new client #%lu",
	    s->number);
	(void)attention_excerpt(s->peer.name, strlen(s->peer.name),
	    sizeof s->peer.name, name, sizeof name);
	if (*name != '\0')
		snprintf(body, sizeof body, "%s, key %s", s->peer.label, name);
	else if (strncmp(s->key, "SHA256:", 7) == 0)
		snprintf(body, sizeof body, "%s, key %s", s->peer.label,
		    s->key);
	else
		snprintf(body, sizeof body, "%s, %s", s->peer.label,
		    strcmp(s->key, "plain") == 0 ? "plain (not encrypted)" :
		    "TLS, no key");
	(void)notify_post(summary, body, NULL, NULL, s->number);
}
