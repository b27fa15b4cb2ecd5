/*
 * The chat line on a terminal: the glue between the editor, which does no
 * I/O, and the terminal it draws on.  Every user of a chat line (a
 * session's window, the console, the ptychat client) has several threads
 * that print, note and feed keys on one line; here each of those is
 * "lock, read the terminal's size, run the editor, write what it made",
 * written once.
 *
 * A chat line without an editor is plain: text is written as it comes
 * and the terminal edits lines itself (--plain).
 *
 * chatline_finish takes the line off the terminal for good, but frees
 * nothing: a thread that comes later finds a harmless no-op, never a
 * freed editor.  Only chatline_free, once no thread can call in any
 * more, frees it.
 */
#include <sys/ioctl.h>

#include <errno.h>
#include <string.h>

#include "ptychat.h"

/* Bytes of output buffer kept between calls; a paste's is given back. */
#define CHATLINE_KEEP	65536

/*
 * Takes the editor (NULL for a plain line) and draws on out_fd, asking
 * size_fd for the terminal's size.  With cancel_fd -1, writes block until
 * done (standard output); otherwise out_fd is non-blocking and a write
 * gives up as soon as cancel_fd turns readable.
 */
void
chatline_init(struct chatline *cl, struct editor *ed, int out_fd, int size_fd,
    int cancel_fd)
{
	memset(cl, 0, sizeof *cl);
	pthread_mutex_init(&cl->lock, NULL);
	cl->ed = ed;
	cl->out_fd = out_fd;
	cl->size_fd = size_fd;
	cl->cancel_fd = cancel_fd;
}

/*
 * Points a chat line made before its terminal existed at it (a session's
 * pty opens in the session thread).  Before any other thread uses it.
 */
void
chatline_attach(struct chatline *cl, int out_fd, int size_fd)
{
	pthread_mutex_lock(&cl->lock);
	cl->out_fd = out_fd;
	cl->size_fd = size_fd;
	pthread_mutex_unlock(&cl->lock);
}

/* Frees the editor; no thread may use the chat line any more. */
void
chatline_free(struct chatline *cl)
{
	editor_free(cl->ed);
	cl->ed = NULL;
	editor_buf_free(&cl->out);
	pthread_mutex_destroy(&cl->lock);
}

/* Tells the editor how big the terminal is now; the lock is held. */
static void
chatline_size(struct chatline *cl)
{
	struct winsize ws;

	if (ioctl(cl->size_fd, TIOCGWINSZ, &ws) == 0)
		editor_set_size(cl->ed, ws.ws_col, ws.ws_row);
}

/*
 * Writes to the terminal; the lock is held.  After a failure nothing more
 * is written, since what follows would land after a half-drawn line.
 * Returns -1 with errno set (ECANCELED when cancelled), now or since.
 */
static int
chatline_write(struct chatline *cl, const void *buf, size_t len)
{
	int r;

	if (cl->failed == 0 && len > 0) {
		if (cl->cancel_fd == -1)
			r = io_write_all(cl->out_fd, buf, len);
		else
			r = io_write_until(cl->out_fd, buf, len,
			    cl->cancel_fd);
		if (r == -1)
			cl->failed = errno;
	}
	if (cl->failed != 0) {
		errno = cl->failed;
		return -1;
	}
	return 0;
}

/* Writes out what the editor made and empties it; the lock is held. */
static int
chatline_flush(struct chatline *cl)
{
	int r;

	r = chatline_write(cl, cl->out.data, cl->out.len);
	cl->out.len = 0;
	if (cl->out.cap > CHATLINE_KEEP)
		editor_buf_free(&cl->out);
	return r;
}

/*
 * Locks the line for an editor call.  Returns 1 when there is nothing to
 * edit (plain or finished), the lock then held all the same.
 */
static int
chatline_enter(struct chatline *cl)
{
	pthread_mutex_lock(&cl->lock);
	if (cl->ed == NULL || cl->finished)
		return 1;
	chatline_size(cl);
	return 0;
}

/* Unlocks, keeping errno for the caller. */
static int
chatline_leave(struct chatline *cl, int r)
{
	int saved = errno;

	pthread_mutex_unlock(&cl->lock);
	errno = saved;
	return r;
}

/* Draws the prompt.  Returns -1 with errno set if the write failed. */
int
chatline_start(struct chatline *cl)
{
	if (chatline_enter(cl) == 1)
		return chatline_leave(cl, 0);
	editor_start(cl->ed, &cl->out);
	return chatline_leave(cl, chatline_flush(cl));
}

/*
 * Shows the peer's text above the line.  Returns 0; 1 when the line has
 * finished and nothing was written; -1 with errno set when the write
 * failed or was cancelled.
 */
int
chatline_print(struct chatline *cl, const void *text, size_t len)
{
	int r;

	if (chatline_enter(cl) == 1) {
		r = cl->finished ? 1 : chatline_write(cl, text, len);
		return chatline_leave(cl, r);
	}
	editor_print(cl->ed, text, len, &cl->out);
	return chatline_leave(cl, chatline_flush(cl));
}

/*
 * Shows a line of ours (dim, above the chat line; on a plain line, on a
 * line of its own).  Returns as chatline_print does.
 */
int
chatline_note(struct chatline *cl, const char *text)
{
	int r;

	if (chatline_enter(cl) == 1) {
		/* The terminal's own half-typed line may be there. */
		if (cl->finished)
			r = 1;
		else if ((r = chatline_write(cl, "\n", 1)) == 0 &&
		    (r = chatline_write(cl, text, strlen(text))) == 0)
			r = chatline_write(cl, "\n", 1);
		return chatline_leave(cl, r);
	}
	editor_note(cl->ed, text, &cl->out);
	return chatline_leave(cl, chatline_flush(cl));
}

/* Returns the length of keys before the first one in ends, or n. */
static size_t
chatline_span(const char *keys, size_t n, int ends)
{
	size_t i;

	if (!(ends & (CHATLINE_INTR | CHATLINE_EOF)))
		return n;
	for (i = 0; i < n; i++)
		if (((ends & CHATLINE_INTR) && keys[i] == 003) ||
		    ((ends & CHATLINE_EOF) && keys[i] == 004))
			break;
	return i;
}

/*
 * Edits and echoes keys in the order typed, and appends each line
 * finished with Enter, ending in \n, to lines.  ends says which keys end
 * the input: CHATLINE_INTR (^C) and CHATLINE_EOF (^D, only when it is
 * reached on an empty line; elsewhere the editor has it).  The key that
 * ended it, or 0, goes to *ended unless that is NULL; keys after it are
 * not used.  With CHATLINE_HOLD in ends, the echo is left for
 * chatline_flush_held.  Does nothing on a plain or finished line.
 * Returns the number of lines finished; a failed echo is left for the
 * next print to report.
 */
int
chatline_keys(struct chatline *cl, const void *keys, size_t n, int ends,
    struct editor_buf *lines, int *ended)
{
	const char *p = keys;
	size_t run;
	int count = 0, end = 0;

	if (chatline_enter(cl) == 0) {
		while (n > 0 && end == 0) {
			if ((run = chatline_span(p, n, ends)) > 0)
				count += editor_keys(cl->ed, p, run, &cl->out,
				    lines);
			p += run;
			n -= run;
			if (n == 0)
				break;
			if (*p == 003)
				end = CHATLINE_INTR;
			else if (editor_pending(cl->ed) == 0)
				end = CHATLINE_EOF;
			else
				count += editor_keys(cl->ed, p, 1, &cl->out,
				    lines);
			p++;
			n--;
		}
		if (!(ends & CHATLINE_HOLD))
			(void)chatline_flush(cl);
	}
	(void)chatline_leave(cl, 0);
	if (ended != NULL)
		*ended = end;
	return count;
}

/*
 * Writes the echo that chatline_keys held back (CHATLINE_HOLD), and
 * whatever else waits.  If another thread holds the line, that one
 * writes it: every call that takes the lock ends by writing out what
 * waits, with its own output in the same write.  Returns as
 * chatline_print does.
 */
int
chatline_flush_held(struct chatline *cl)
{
	if (pthread_mutex_trylock(&cl->lock) != 0)
		return 0;
	return chatline_leave(cl, chatline_flush(cl));
}

/*
 * Returns how many bytes are typed on the line and not yet sent.  Writes
 * nothing: chatline_flush_held counts on whoever holds the lock to write
 * what waits, so this is for a line no other thread writes to.
 */
size_t
chatline_pending(struct chatline *cl)
{
	size_t n = 0;

	pthread_mutex_lock(&cl->lock);
	if (cl->ed != NULL && !cl->finished)
		n = editor_pending(cl->ed);
	pthread_mutex_unlock(&cl->lock);
	return n;
}

/*
 * Returns the focus the terminal last reported (FOCUS_UNKNOWN: plain),
 * and in *gained whether it gained it since the last call.  Writes
 * nothing, so only the thread that writes the window's echo may call it
 * (see chatline_flush_held).
 */
enum focus
chatline_focus(struct chatline *cl, int *gained)
{
	enum focus f = FOCUS_UNKNOWN;

	*gained = 0;
	pthread_mutex_lock(&cl->lock);
	if (cl->ed != NULL)
		f = editor_focus(cl->ed, gained);
	pthread_mutex_unlock(&cl->lock);
	return f;
}

/*
 * Rings the terminal's bell: a BEL of ours, between two whole drawings.
 * Returns as chatline_print does.
 */
int
chatline_bell(struct chatline *cl)
{
	int r;

	pthread_mutex_lock(&cl->lock);
	if ((r = cl->finished ? 1 : chatline_flush(cl)) == 0)
		r = chatline_write(cl, "\a", 1);
	return chatline_leave(cl, r);
}

/*
 * Takes the line off the terminal for good: the prompt and input are
 * erased, the peer's unfinished line stays, and the cursor is left at
 * the start of a fresh line.  Later calls do nothing.  Returns -1 with
 * errno set if the write failed.
 */
int
chatline_finish(struct chatline *cl)
{
	int r = 0;

	if (chatline_enter(cl) == 0) {
		editor_finish(cl->ed, &cl->out);
		r = chatline_flush(cl);
	}
	cl->finished = 1;
	return chatline_leave(cl, r);
}
