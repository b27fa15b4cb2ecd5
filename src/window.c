/*
 * What a session's window shows, and what is typed in it.
 *
 * By default the window's terminal is raw and a chat line editor runs
 * here: the operator's half-typed line stays at the bottom, whole, while
 * the client's text and our notices are printed above it.  With --plain,
 * the terminal's own line discipline edits the line (canonical mode) and
 * text is written as it comes.
 *
 * Every write to the window goes through these functions, under the
 * session's output lock, because both relay threads and the console
 * write to it.
 */
#include <sys/ioctl.h>

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ptychat.h"

/* The chat line's prompt, and how the operator's own lines are marked. */
#define WINDOW_PROMPT		"> "
#define WINDOW_OWN_PREFIX	"you: "

/* Creates the editor for a session, unless --plain.  Returns -1 on ENOMEM. */
int
window_init(struct session *s)
{
	pthread_mutex_init(&s->out_lock, NULL);
	if (s->config->plain)
		return 0;
	s->ed = editor_new(WINDOW_PROMPT, WINDOW_OWN_PREFIX,
	    s->config->timestamps);
	return s->ed == NULL ? -1 : 0;
}

void
window_free(struct session *s)
{
	editor_free(s->ed);
	pthread_mutex_destroy(&s->out_lock);
}

/* Tells the editor how wide the window is now. */
static void
window_width(struct session *s)
{
	struct winsize ws;

	if (ioctl(s->tty, TIOCGWINSZ, &ws) == 0)
		editor_set_size(s->ed, ws.ws_col, ws.ws_row);
}

/* Writes out and empties buf; the lock is held. */
static void
window_flush(struct session *s, struct editor_buf *buf)
{
	if (buf->len > 0)
		(void)io_write_until(s->tty, buf->data, buf->len,
		    s->config->stopfd);
	buf->len = 0;
}

/*
 * The first words in a new window: who connected, when, and how to reply
 * and hang up; then the prompt.
 */
void
window_start(struct session *s)
{
	struct editor_buf buf = { NULL, 0, 0 };
	char when[64], banner[512];
	struct tm tm;
	time_t now;
	int n;

	now = time(NULL);
	localtime_r(&now, &tm);
	strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S %Z", &tm);
	/* A raw terminal (the editor) needs CR LF; ONLCR makes LF do. */
	n = snprintf(banner, sizeof banner,
	    "ptychat session #%lu: client %s connected at %s.%s"
	    "Type a line and press Enter to send it to this client only.%s"
	    "Close this window to hang up.%s%s", s->number, s->peer.label,
	    when, s->ed ? "\r\n" : "\n", s->ed ? "\r\n" : "\n",
	    s->ed ? "\r\n" : "\n", s->ed ? "\r\n" : "\n");
	pthread_mutex_lock(&s->out_lock);
	if (n > 0 && (size_t)n < sizeof banner)
		(void)io_write_until(s->tty, banner, (size_t)n,
		    s->config->stopfd);
	if (s->ed != NULL) {
		window_width(s);
		editor_start(s->ed, &buf);
		window_flush(s, &buf);
	}
	pthread_mutex_unlock(&s->out_lock);
	editor_buf_free(&buf);
}

/* Shows the client's (sanitised) text.  Returns -1 once the window is
 * gone or the server stops. */
int
window_peer(struct session *s, const char *text, size_t len)
{
	struct editor_buf buf = { NULL, 0, 0 };
	int r;

	pthread_mutex_lock(&s->out_lock);
	if (s->ed != NULL) {
		window_width(s);
		editor_print(s->ed, text, len, &buf);
		r = buf.len == 0 ? 0 : io_write_until(s->tty, buf.data,
		    buf.len, s->config->stopfd);
	} else
		r = io_write_until(s->tty, text, len, s->config->stopfd);
	pthread_mutex_unlock(&s->out_lock);
	editor_buf_free(&buf);
	return r;
}

/* Shows a line of ours (not the client's) in the window. */
void
window_note(struct session *s, const char *fmt, ...)
{
	struct editor_buf buf = { NULL, 0, 0 };
	char line[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line + 1, sizeof line - 2, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	pthread_mutex_lock(&s->out_lock);
	if (s->ed != NULL) {
		window_width(s);
		editor_note(s->ed, line + 1, &buf);
		window_flush(s, &buf);
	} else {
		line[0] = '\n';
		n = (int)strlen(line);
		line[n++] = '\n';
		(void)io_write_until(s->tty, line, (size_t)n,
		    s->config->stopfd);
	}
	pthread_mutex_unlock(&s->out_lock);
	editor_buf_free(&buf);
}

/*
 * Edits and echoes what the window's keyboard sent, and appends each line
 * finished with Enter, ending in \n, to lines.  For the editor only: with
 * --plain, the terminal hands over whole lines itself.  Returns the
 * number of lines finished.
 */
int
window_keys(struct session *s, const char *keys, size_t n,
    struct editor_buf *lines)
{
	struct editor_buf buf = { NULL, 0, 0 };
	int count;

	pthread_mutex_lock(&s->out_lock);
	window_width(s);
	count = editor_keys(s->ed, keys, n, &buf, lines);
	window_flush(s, &buf);
	pthread_mutex_unlock(&s->out_lock);
	editor_buf_free(&buf);
	return count;
}
