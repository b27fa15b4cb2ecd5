/*
 * What a session's window shows, and what is typed in it.
 *
 * By default the window's terminal is raw and a chat line editor runs
 * here: the operator's half-typed line stays at the bottom, whole, while
 * the client's text and our notices are printed above it.  With --plain,
 * the terminal's own line discipline edits the line (canonical mode) and
 * text is written as it comes.
 *
 * Only the session's own threads write to the window, all through the
 * session's chat line (chatline.c), whose lock keeps each write whole.
 * A write may wait on a stuck window; the session's hang-up fd ends the
 * wait, and nothing outside the session ever waits on it.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ptychat.h"

/* The chat line's prompt, and how the operator's own lines are marked. */
#define WINDOW_PROMPT		"> "
#define WINDOW_OWN_PREFIX	"you: "
/* DECSET 1004: the terminal reports its focus. */
#define WINDOW_FOCUS_ON		"\033[?1004h"

/*
 * Sets up the session's chat line, with an editor unless --plain.
 * Returns -1 on ENOMEM.
 */
int
window_init(struct session *s)
{
	struct editor *ed = NULL;

	if (!s->config->plain && (ed = editor_new(WINDOW_PROMPT,
	    WINDOW_OWN_PREFIX, s->config->timestamps)) == NULL)
		return -1;
	/* The pty comes later: window_start attaches it. */
	chatline_init(&s->chat, ed, -1, -1, s->hangup);
	return 0;
}

void
window_free(struct session *s)
{
	chatline_free(&s->chat);
}

/*
 * The first words in a new window: who connected, when, how (TLS and
 * the client's key, or plain), and how to reply and hang up; then the
 * prompt.
 */
void
window_start(struct session *s)
{
	char when[64], who[160], banner[768];
	const char *nl = s->config->plain ? "\n" : "\r\n";
	struct tm tm;
	time_t now;
	int n;

	now = time(NULL);
	localtime_r(&now, &tm);
	strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S %Z", &tm);
	/* A raw terminal (the editor) needs CR LF; ONLCR makes LF do. */
	n = snprintf(banner, sizeof banner,
	    "ptychat session #%lu: client %s connected at %s.%s"
	    "Connection: %s.%s"
	    "Type a line and press Enter to send it to this client only.%s"
	    "Close this window to hang up.%s%s", s->number, s->peer.label,
	    when, nl, session_who(s, who, sizeof who), nl, nl, nl, nl);
	chatline_attach(&s->chat, s->term.pty, s->term.pty);
	/* Nothing else writes to the window before the relays start. */
	if (n > 0 && (size_t)n < sizeof banner)
		(void)io_write_until(s->term.pty, banner, (size_t)n, s->hangup);
	/* Focus reports (CSI I, CSI O), which the chat line takes out. */
	if (!s->config->plain)
		(void)io_write_until(s->term.pty, WINDOW_FOCUS_ON,
		    strlen(WINDOW_FOCUS_ON), s->hangup);
	(void)chatline_start(&s->chat);
}

/* Shows the client's (sanitised) text.  Returns -1 once the window is
 * gone or the session is cut. */
int
window_peer(struct session *s, const char *text, size_t len)
{
	if (chatline_print(&s->chat, text, len) == -1)
		return -1;
	attention_peer(s, text, len);
	return 0;
}

/* Shows a line of ours (not the client's) in the window. */
void
window_note(struct session *s, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	if (vsnprintf(line, sizeof line, fmt, ap) >= 0)
		(void)chatline_note(&s->chat, line);
	va_end(ap);
}

/*
 * Edits and echoes what the window's keyboard sent, and appends each line
 * finished with Enter, ending in \n, to lines.  For the editor only: with
 * --plain, the terminal hands over whole lines itself.  Focus reports
 * go to the session's attention, never to the client.  The echo waits
 * for chatline_flush_held (relay.c sends first).  Returns the number of
 * lines finished.
 */
int
window_keys(struct session *s, const char *keys, size_t n,
    struct editor_buf *lines)
{
	enum focus focus;
	int count, gained;

	count = chatline_keys(&s->chat, keys, n, CHATLINE_HOLD, lines, NULL);
	focus = chatline_focus(&s->chat, &gained);
	attention_focus(s, focus, gained);
	if (count > 0)
		attention_seen(s);
	return count;
}
