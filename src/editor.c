/*
 * The chat line editor: the operator's half-typed line stays at the bottom
 * of a window, after a prompt, while the peer's text is printed above it.
 *
 * It is written by hand because no line-editing library can serve many
 * windows from one process with output arriving at any time.  libedit's
 * el_init_fd can make several instances, but el_gets blocks in read() and
 * has no way to print asynchronous output above the prompt, and its
 * terminal set-up uses global termcap state.  GNU readline's callback
 * interface is one global instance.
 *
 * The editor does no I/O of its own and keeps no global state: it turns
 * keystrokes and peer text into bytes for the terminal and lines for the
 * wire, in buffers its caller drains.  The bottom of the window is a region
 * drawn again at every change: the peer's unfinished line, if any, then the
 * prompt and the input.  A change erases the region (up to its first row,
 * CR, EL, ED), writes what has become permanent above it, and draws it
 * again.  So that every row of it can be reached to be erased, the region
 * takes fewer rows than the screen has: of a longer input only the rows
 * around the cursor are drawn.  Only CR, LF, BEL, CUU, CUD, CUF, EL,
 * ED and SGR are sent.  The layout follows xterm: a wide character that
 * does not fit in a row wraps whole, and after writing the last column the
 * cursor stays there until the next character.
 *
 * Bytes become keys in keys.c, and UTF-8 is read in utf8.c.
 */
#include <errno.h>
#include <locale.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <wchar.h>

#include "ptychat.h"

#define EDITOR_LINE_MAX		4095	/* bytes; a canonical pty line's cap */
#define EDITOR_LINE_START	128	/* bytes the line starts with */
#define EDITOR_HISTORY_MAX	100
#define EDITOR_PARTIAL_ROWS	4	/* rows of an unfinished peer line */
#define EDITOR_PARTIAL_MAX	16384	/* bytes of it: zero-width runs */
#define EDITOR_TABSTOP		8

#define EDITOR_OWN_STYLE	"\033[1m"
#define EDITOR_NOTE_STYLE	"\033[2m"
#define EDITOR_PLAIN_STYLE	"\033[0m"

/*
 * A cursor position.  Rows count from the region's first row, or for the
 * input from the prompt's.
 */
struct editor_pos {
	int		 row;
	int		 col;
	int		 pending;	/* at the last column, not wrapped */
};

struct editor {
	char		*prompt;	/* printable, tabs expanded */
	size_t		 promptlen;
	char		*own_prefix;	/* likewise */
	size_t		 own_prefixlen;
	int		 timestamps;
	int		 width;
	int		 height;
	locale_t	 ctype;		/* C.UTF-8 for wcwidth, or 0 */

	char		*line;		/* valid printable UTF-8, grown */
	size_t		 linecap;	/* as typing needs, to EDITOR_LINE_MAX */
	size_t		 len;
	size_t		 cursor;	/* a byte offset on a code point */
	int		 bell;
	int		 own_open;	/* our lines written, bold on */
	enum focus	 focus;		/* the last focus report */
	int		 focus_gained;	/* a CSI I since editor_focus asked */

	char		*history[EDITOR_HISTORY_MAX];	/* oldest first */
	size_t		 nhistory;
	size_t		 history_at;	/* nhistory: the line being edited */
	struct editor_buf saved;	/* that line */

	struct keys	 keys;

	struct editor_buf partial;	/* the peer's unfinished line */
	struct editor_pos partial_end;	/* where it ends, drawn at column 0 */
	int		 partial_split;	/* rows of it were written for good */
	int		 in_col;	/* columns since it began or broke */
	int		 in_line;	/* the peer's line has begun */
	int		 in_ctype;	/* editor_print has set ctype already */
	struct utf8	 in_utf8;

	int		 shown;		/* the region is on the screen */
	int		 stale;		/* it must be drawn again in full */
	int		 shown_row;	/* the cursor, never pending */
	int		 shown_col;
	int		 shown_rows;	/* rows the region covers */
	int		 shown_top;	/* the first row of input in it */
	size_t		 shown_len;	/* bytes of line drawn */
	size_t		 shown_cursor;	/* the cursor drawn */
	size_t		 dirty_from;	/* line changed from here since drawn */
};

/*
 * Makes room for n more bytes.  Returns -1 if memory ran out, leaving the
 * buffer as it was.
 */
static int
editor_reserve(struct editor_buf *b, size_t n)
{
	char	*data;
	size_t	 cap;

	if (n <= b->cap - b->len)
		return 0;
	cap = b->cap > 0 ? b->cap : 256;
	while (n > cap - b->len) {
		if (cap > SIZE_MAX / 2) {
			errno = ENOMEM;
			return -1;
		}
		cap *= 2;
	}
	if ((data = realloc(b->data, cap)) == NULL)
		return -1;
	b->data = data;
	b->cap = cap;
	return 0;
}

/* Appends all n bytes or, if memory ran out, none.  Returns 0 or -1. */
static int
editor_put(struct editor_buf *b, const void *s, size_t n)
{
	if (n == 0)
		return 0;
	if (editor_reserve(b, n) == -1)
		return -1;
	memcpy(b->data + b->len, s, n);
	b->len += n;
	return 0;
}

static void
editor_puts(struct editor_buf *b, const char *s)
{
	editor_put(b, s, strlen(s));
}

static void
editor_csi(struct editor_buf *b, int n, char final)
{
	char	seq[32];
	int	len;

	len = snprintf(seq, sizeof(seq), "\033[%d%c", n, final);
	if (len > 0 && (size_t)len < sizeof(seq))
		editor_put(b, seq, (size_t)len);
}

/*
 * The terminal's columns for cp.  wcwidth() runs in a C.UTF-8 locale of
 * our own, through uselocale(), which changes only this thread's locale,
 * so widths are right whatever the process locale is.
 */
static int
editor_width(const struct editor *ed, uint32_t cp)
{
	locale_t	old;
	int		w;

	if (cp >= 0x20 && cp < 0x7F)
		return 1;
	if (ed->ctype != (locale_t)0 && !ed->in_ctype) {
		old = uselocale(ed->ctype);
		w = wcwidth((wchar_t)cp);
		uselocale(old);
	} else
		w = wcwidth((wchar_t)cp);
	return w < 0 ? 1 : w;
}

/* Whether a character w columns wide starts a new row at pos, as xterm. */
static int
editor_wraps(const struct editor *ed, const struct editor_pos *pos, int w)
{
	if (w == 0)
		return 0;
	return pos->pending || (pos->col > 0 && pos->col + w > ed->width);
}

static void
editor_advance(const struct editor *ed, struct editor_pos *pos, int w)
{
	if (w == 0)
		return;
	if (editor_wraps(ed, pos, w)) {
		pos->row++;
		pos->col = 0;
		pos->pending = 0;
	}
	pos->col += w;
	if (pos->col >= ed->width) {
		pos->col = ed->width - 1;
		pos->pending = 1;
	}
}

static void
editor_advance_text(const struct editor *ed, struct editor_pos *pos,
    const char *s, size_t n)
{
	size_t		i = 0;
	uint32_t	cp;

	while (i < n) {
		cp = utf8_next(s, n, &i);
		editor_advance(ed, pos, editor_width(ed, cp));
	}
}

/*
 * Appends s, with tabs expanded from column 0 and anything unprintable or
 * not UTF-8 shown as U+FFFD.
 */
static void
editor_put_safe(const struct editor *ed, struct editor_buf *b, const char *s,
    size_t n)
{
	char		utf8[4];
	size_t		i = 0;
	uint32_t	cp;
	int		col = 0;

	while (i < n) {
		cp = utf8_next(s, n, &i);
		if (cp == '\t') {
			do
				editor_put(b, " ", 1);
			while (++col % EDITOR_TABSTOP != 0);
			continue;
		}
		if (!utf8_printable(cp))
			cp = UTF8_REPLACEMENT;
		editor_put(b, utf8, utf8_encode(cp, utf8));
		col += editor_width(ed, cp);
	}
}

/*
 * Copies s as editor_put_safe() shows it, NUL-terminated.  Returns -1 if
 * memory ran out.
 */
static int
editor_dup_safe(const struct editor *ed, const char *s, char **copy,
    size_t *len)
{
	struct editor_buf	b = { NULL, 0, 0 };
	size_t			n = strlen(s);

	/* Room for the worst case, so no append can fail half-way. */
	if (n > (SIZE_MAX - 1) / EDITOR_TABSTOP ||
	    editor_reserve(&b, n * EDITOR_TABSTOP + 1) == -1)
		return -1;
	editor_put_safe(ed, &b, s, n);
	*len = b.len;
	b.data[b.len] = '\0';
	*copy = b.data;
	return 0;
}

struct editor *
editor_new(const char *prompt, const char *own_prefix, int timestamps)
{
	struct editor	*ed;

	if ((ed = calloc(1, sizeof(*ed))) == NULL)
		return NULL;
	ed->ctype = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
	ed->timestamps = timestamps;
	ed->width = 80;
	ed->height = 24;
	ed->dirty_from = SIZE_MAX;
	ed->linecap = EDITOR_LINE_START;
	if ((ed->line = malloc(ed->linecap)) == NULL ||
	    editor_dup_safe(ed, prompt != NULL ? prompt : "", &ed->prompt,
	    &ed->promptlen) == -1 ||
	    editor_dup_safe(ed, own_prefix != NULL ? own_prefix : "",
	    &ed->own_prefix, &ed->own_prefixlen) == -1) {
		editor_free(ed);
		errno = ENOMEM;
		return NULL;
	}
	return ed;
}

void
editor_free(struct editor *ed)
{
	size_t	i;

	if (ed == NULL)
		return;
	for (i = 0; i < ed->nhistory; i++)
		free(ed->history[i]);
	editor_buf_free(&ed->partial);
	editor_buf_free(&ed->saved);
	free(ed->line);
	free(ed->prompt);
	free(ed->own_prefix);
	if (ed->ctype != (locale_t)0)
		freelocale(ed->ctype);
	free(ed);
}

void
editor_buf_free(struct editor_buf *buf)
{
	free(buf->data);
	buf->data = NULL;
	buf->len = 0;
	buf->cap = 0;
}

/* Rows of the region the peer's unfinished line takes. */
static int
editor_partial_rows(const struct editor *ed)
{
	return ed->partial.len > 0 ? ed->partial_end.row + 1 : 0;
}

/*
 * Rows the region may take: one fewer than the screen has, so that every
 * row of it can be reached to be erased, and the line above it stays in
 * sight.
 */
static int
editor_region_max(const struct editor *ed)
{
	return ed->height > 2 ? ed->height - 1 : 1;
}

/*
 * Rows of the region the peer's unfinished line may take: no more than
 * EDITOR_PARTIAL_ROWS, nor than half the region, and one at least.
 */
static int
editor_partial_cap(const struct editor *ed)
{
	int	cap = editor_region_max(ed) / 2;

	if (cap > EDITOR_PARTIAL_ROWS)
		return EDITOR_PARTIAL_ROWS;
	return cap > 0 ? cap : 1;
}

/*
 * Where the cursor shows when it is before byte i of the line, rows
 * counted from the prompt's first.
 */
static struct editor_pos
editor_input_pos(const struct editor *ed, size_t i)
{
	struct editor_pos	pos = { 0, 0, 0 };

	editor_advance_text(ed, &pos, ed->prompt, ed->promptlen);
	editor_advance_text(ed, &pos, ed->line, i);
	/* At the end of a full row the next character starts the next. */
	if (pos.pending) {
		pos.row++;
		pos.col = 0;
		pos.pending = 0;
	}
	return pos;
}

/* The region's row that holds the given row of the input, as drawn. */
static int
editor_region_row(const struct editor *ed, int row)
{
	return editor_partial_rows(ed) + row - ed->shown_top;
}

/*
 * Finds the bytes of s, which goes on from *pos, that lie on the rows from
 * top to bottom - 1: from *from to *to.  Moves *pos to where s ends, or
 * to where those bytes end if s goes on past bottom.  Returns 1 if it
 * does.
 */
static int
editor_rows_of(const struct editor *ed, const char *s, size_t n, int top,
    int bottom, struct editor_pos *pos, size_t *from, size_t *to)
{
	size_t	i = 0, start;
	int	row, w;

	*from = 0;
	while (i < n) {
		start = i;
		w = editor_width(ed, utf8_next(s, n, &i));
		row = editor_wraps(ed, pos, w) ? pos->row + 1 : pos->row;
		if (row >= bottom) {
			*to = start;
			return 1;
		}
		if (row < top)
			*from = i;
		editor_advance(ed, pos, w);
	}
	*to = n;
	return 0;
}

/*
 * Leaves the cursor at column 0 of the region's first row, all erased.
 * The first row is cleared alone, with EL: tmux moves a screen cleared by
 * ED from its top left corner into its history, and the region may start
 * there.
 */
static void
editor_erase(struct editor *ed, struct editor_buf *out)
{
	if (!ed->shown)
		return;
	if (ed->shown_row > 0)
		editor_csi(out, ed->shown_row, 'A');
	editor_puts(out, "\r\033[K");
	if (ed->shown_rows > 1)
		editor_puts(out, "\033[B\033[J\033[A");
	ed->shown = 0;
}

/*
 * After the screen shrank, the peer's unfinished line may take more rows
 * than the region may give it.  The rows above those it may keep are
 * written for good, as editor_incoming_char would have written them.  The
 * cursor must be at column 0 of the region's first row, all erased.
 */
static void
editor_fit_partial(struct editor *ed, struct editor_buf *out)
{
	struct editor_pos	pos = { 0, 0, 0 };
	size_t			i = 0, start;
	int			w, cut;

	cut = editor_partial_rows(ed) - editor_partial_cap(ed);
	if (cut <= 0)
		return;
	while (i < ed->partial.len) {
		start = i;
		w = editor_width(ed, utf8_next(ed->partial.data,
		    ed->partial.len, &i));
		if (editor_wraps(ed, &pos, w) && pos.row + 1 == cut) {
			i = start;
			break;
		}
		editor_advance(ed, &pos, w);
	}
	editor_put(out, ed->partial.data, i);
	memmove(ed->partial.data, ed->partial.data + i, ed->partial.len - i);
	ed->partial.len -= i;
	ed->partial_split = 1;
	memset(&ed->partial_end, 0, sizeof(ed->partial_end));
	editor_advance_text(ed, &ed->partial_end, ed->partial.data,
	    ed->partial.len);
}

/* Notes that the line as it is now is on the screen, the cursor at at. */
static void
editor_drawn(struct editor *ed, struct editor_pos at)
{
	ed->shown_row = at.row;
	ed->shown_col = at.col;
	ed->shown_len = ed->len;
	ed->shown_cursor = ed->cursor;
	ed->dirty_from = SIZE_MAX;
}

/*
 * Draws the region from the cursor, which must be at column 0 of a clear
 * row, or just after a row of the peer's line that the region continues.
 * Rows beyond editor_region_max would push its first ones off the screen,
 * where no CUU reaches to erase them: of an input taller than the room
 * left, only whole rows around the cursor are drawn.
 */
static void
editor_draw(struct editor *ed, struct editor_buf *out)
{
	struct editor_pos	pos = { 0, 0, 0 }, at;
	size_t			pfrom, pto, lfrom = 0, lto = 0;
	int			rows, room, top;

	editor_fit_partial(ed, out);
	if (ed->partial.len > 0) {
		editor_put(out, ed->partial.data, ed->partial.len);
		editor_puts(out, "\r\n");
	}

	editor_advance_text(ed, &pos, ed->prompt, ed->promptlen);
	editor_advance_text(ed, &pos, ed->line, ed->cursor);
	at = pos;
	if (at.pending) {
		at.row++;
		at.col = 0;
		at.pending = 0;
	}
	editor_advance_text(ed, &pos, ed->line + ed->cursor,
	    ed->len - ed->cursor);
	rows = (at.row > pos.row ? at.row : pos.row) + 1;
	room = editor_region_max(ed) - editor_partial_rows(ed);
	if (room < 1)
		room = 1;
	if (rows <= room) {
		ed->shown_top = top = 0;
		editor_put(out, ed->prompt, ed->promptlen);
		editor_put(out, ed->line, ed->len);
	} else {
		/* Rows around the cursor's; they scroll only as they must. */
		top = ed->shown_top < rows - room ? ed->shown_top : rows - room;
		if (at.row < top)
			top = at.row;
		else if (at.row >= top + room)
			top = at.row - room + 1;
		ed->shown_top = top;
		memset(&pos, 0, sizeof(pos));
		if (!editor_rows_of(ed, ed->prompt, ed->promptlen, top,
		    top + room, &pos, &pfrom, &pto))
			editor_rows_of(ed, ed->line, ed->len, top, top + room,
			    &pos, &lfrom, &lto);
		editor_put(out, ed->prompt + pfrom, pto - pfrom);
		editor_put(out, ed->line + lfrom, lto - lfrom);
		if (pfrom == pto && lfrom == lto) {
			pos.row = top;
			pos.col = 0;
			pos.pending = 0;
		}
	}

	/* The cursor's row may not exist yet: CUD would not scroll. */
	if (pos.pending && at.row > pos.row) {
		editor_puts(out, "\r\n");
		pos.row++;
		pos.col = 0;
		pos.pending = 0;
	}
	ed->shown_rows = editor_region_row(ed, pos.row) + 1;
	if (pos.row > at.row)
		editor_csi(out, pos.row - at.row, 'A');
	if (pos.col != at.col || pos.pending) {
		editor_puts(out, "\r");
		if (at.col > 0)
			editor_csi(out, at.col, 'C');
	}

	ed->shown = 1;
	ed->stale = 0;
	at.row = editor_region_row(ed, at.row);
	editor_drawn(ed, at);
}

/*
 * Typing at the end of the line only needs the new characters, unless the
 * region would outgrow the screen.  Returns -1, having written nothing,
 * if it would.
 */
static int
editor_draw_appended(struct editor *ed, struct editor_buf *out)
{
	struct editor_pos	pos;

	pos.row = ed->shown_row;
	pos.col = ed->shown_col;
	pos.pending = 0;
	editor_advance_text(ed, &pos, ed->line + ed->shown_len,
	    ed->len - ed->shown_len);
	if (pos.row + pos.pending >= editor_region_max(ed))
		return -1;
	editor_put(out, ed->line + ed->shown_len, ed->len - ed->shown_len);
	if (pos.pending) {
		editor_puts(out, "\r\n");
		pos.row++;
		pos.col = 0;
		pos.pending = 0;
	}
	if (pos.row + 1 > ed->shown_rows)
		ed->shown_rows = pos.row + 1;
	editor_drawn(ed, pos);
	return 0;
}

/* Moves the cursor to to, a row of the region already drawn. */
static void
editor_move(struct editor *ed, struct editor_buf *out, struct editor_pos to)
{
	if (to.row < ed->shown_row)
		editor_csi(out, ed->shown_row - to.row, 'A');
	else if (to.row > ed->shown_row)
		editor_csi(out, to.row - ed->shown_row, 'B');
	if (to.col != ed->shown_col) {
		editor_puts(out, "\r");
		if (to.col > 0)
			editor_csi(out, to.col, 'C');
	}
	ed->shown_row = to.row;
	ed->shown_col = to.col;
	ed->shown_cursor = ed->cursor;
}

/* Brings the screen up to date with the line, as cheaply as it can. */
static void
editor_refresh(struct editor *ed, struct editor_buf *out)
{
	struct editor_pos	to;

	if (!ed->shown) {
		editor_draw(ed, out);
		return;
	}
	if (!ed->stale && ed->dirty_from == SIZE_MAX) {
		if (ed->cursor == ed->shown_cursor)
			return;
		to = editor_input_pos(ed, ed->cursor);
		to.row = editor_region_row(ed, to.row);
		if (to.row >= editor_partial_rows(ed) &&
		    to.row < ed->shown_rows) {
			editor_move(ed, out, to);
			return;
		}
	} else if (!ed->stale && ed->dirty_from >= ed->shown_len &&
	    ed->shown_cursor == ed->shown_len && ed->cursor == ed->len &&
	    ed->shown_col > 0) {
		/*
		 * Not at column 0, where draw put the cursor after a full row:
		 * written there, the line would not be one the terminal
		 * wrapped, and a combining mark would lose its base.
		 */
		if (editor_draw_appended(ed, out) == 0)
			return;
	}
	editor_erase(ed, out);
	editor_draw(ed, out);
}

/*
 * Tells the editor the screen's size; 0 or less means 80 columns or 24
 * rows.  What is drawn is drawn again to fit at the next change.
 */
void
editor_set_size(struct editor *ed, int cols, int rows)
{
	if (cols <= 0)
		cols = 80;
	if (rows <= 0)
		rows = 24;
	if (cols == ed->width && rows == ed->height)
		return;
	ed->width = cols;
	ed->height = rows;
	memset(&ed->partial_end, 0, sizeof(ed->partial_end));
	editor_advance_text(ed, &ed->partial_end, ed->partial.data,
	    ed->partial.len);
	ed->stale = 1;
}

void
editor_start(struct editor *ed, struct editor_buf *out)
{
	editor_puts(out, "\r\033[J");
	ed->shown = 0;
	editor_draw(ed, out);
}

static void
editor_changed(struct editor *ed, size_t from)
{
	if (from < ed->dirty_from)
		ed->dirty_from = from;
}

/*
 * Makes the line's buffer hold n bytes (at most EDITOR_LINE_MAX).  Most
 * lines are short, and an idle session should not hold a full line's
 * worth.  Returns -1 if memory ran out, leaving the line as it was.
 */
static int
editor_line_room(struct editor *ed, size_t n)
{
	char	*line;
	size_t	 cap;

	if (n <= ed->linecap)
		return 0;
	for (cap = ed->linecap; cap < n; cap *= 2)
		;
	if (cap > EDITOR_LINE_MAX)
		cap = EDITOR_LINE_MAX;
	if ((line = realloc(ed->line, cap)) == NULL)
		return -1;
	ed->line = line;
	ed->linecap = cap;
	return 0;
}

static void
editor_insert(struct editor *ed, const char *s, size_t n)
{
	if (n > EDITOR_LINE_MAX - ed->len ||
	    editor_line_room(ed, ed->len + n) == -1) {
		ed->bell = 1;
		return;
	}
	memmove(ed->line + ed->cursor + n, ed->line + ed->cursor,
	    ed->len - ed->cursor);
	memcpy(ed->line + ed->cursor, s, n);
	editor_changed(ed, ed->cursor);
	ed->len += n;
	ed->cursor += n;
}

/* Deletes bytes from up to to and leaves the cursor where they were. */
static void
editor_delete(struct editor *ed, size_t from, size_t to)
{
	if (from == to)
		return;
	memmove(ed->line + from, ed->line + to, ed->len - to);
	ed->len -= to - from;
	ed->cursor = from;
	editor_changed(ed, from);
}

/* ^W: the blanks before the cursor, then the word before them. */
static void
editor_erase_word(struct editor *ed)
{
	size_t	i = ed->cursor;

	while (i > 0 && ed->line[i - 1] == ' ')
		i--;
	while (i > 0 && ed->line[i - 1] != ' ')
		i--;
	editor_delete(ed, i, ed->cursor);
}

/* Empty lines and repeats of the newest entry are not kept. */
static void
editor_history_add(struct editor *ed)
{
	char	*copy;
	char	*newest;

	if (ed->len == 0)
		return;
	if (ed->nhistory > 0) {
		newest = ed->history[ed->nhistory - 1];
		if (strlen(newest) == ed->len &&
		    memcmp(newest, ed->line, ed->len) == 0)
			return;
	}
	if ((copy = malloc(ed->len + 1)) == NULL)
		return;
	memcpy(copy, ed->line, ed->len);
	copy[ed->len] = '\0';
	if (ed->nhistory == EDITOR_HISTORY_MAX) {
		free(ed->history[0]);
		memmove(ed->history, ed->history + 1,
		    (EDITOR_HISTORY_MAX - 1) * sizeof(ed->history[0]));
		ed->nhistory--;
	}
	ed->history[ed->nhistory++] = copy;
}

/* Up (-1) or Down (1); edits to a recalled entry are dropped on leaving. */
static void
editor_history_walk(struct editor *ed, int step)
{
	const char	*s;
	size_t		 n;

	if (step < 0) {
		if (ed->history_at == 0)
			return;
		if (ed->history_at == ed->nhistory) {
			ed->saved.len = 0;
			if (editor_put(&ed->saved, ed->line, ed->len) == -1) {
				ed->bell = 1;
				return;
			}
		}
		ed->history_at--;
	} else {
		if (ed->history_at == ed->nhistory)
			return;
		ed->history_at++;
	}
	if (ed->history_at == ed->nhistory) {
		s = ed->saved.data;
		n = ed->saved.len;
	} else {
		s = ed->history[ed->history_at];
		n = strlen(s);
	}
	if (editor_line_room(ed, n) == -1) {
		ed->history_at += step < 0 ? 1 : -1;
		ed->bell = 1;
		return;
	}
	if (n > 0)
		memcpy(ed->line, s, n);
	ed->len = n;
	ed->cursor = n;
	editor_changed(ed, 0);
}

/* Writes the peer's line for good, ended, and starts a new one. */
static void
editor_end_peer_line(struct editor *ed, struct editor_buf *out)
{
	editor_put(out, ed->partial.data, ed->partial.len);
	editor_puts(out, "\r\n");
	ed->partial.len = 0;
	memset(&ed->partial_end, 0, sizeof(ed->partial_end));
	ed->partial_split = 0;
	ed->in_col = 0;
	ed->in_line = 0;
}

/*
 * Ends the peer's unfinished line where it is, if rows of it were written
 * for good: a line of ours cannot go between those and the rest.
 */
static void
editor_break_partial(struct editor *ed, struct editor_buf *out)
{
	int in_line = ed->in_line;

	if (!ed->partial_split)
		return;
	editor_end_peer_line(ed, out);
	/* The peer's line goes on below: no new time stamp for it. */
	ed->in_line = in_line;
}

/*
 * Enter: the line goes to the wire and into the scrollback, as ours.
 * The region is drawn again once the keys at hand are done
 * (editor_keys): a paste of many lines is echoed as the lines alone, in
 * one style run, not with the prompt drawn and erased between them.
 */
static void
editor_enter(struct editor *ed, struct editor_buf *out,
    struct editor_buf *sent)
{
	if (!ed->own_open) {
		editor_erase(ed, out);
		editor_break_partial(ed, out);
		editor_puts(out, EDITOR_OWN_STYLE);
		ed->own_open = 1;
	}
	editor_put(out, ed->own_prefix, ed->own_prefixlen);
	editor_put(out, ed->line, ed->len);
	editor_puts(out, "\r\n");

	if (editor_reserve(sent, ed->len + 1) == 0) {
		editor_put(sent, ed->line, ed->len);
		editor_put(sent, "\n", 1);
	}
	editor_history_add(ed);
	ed->history_at = ed->nhistory;
	ed->len = 0;
	ed->cursor = 0;
}

/* Runs a C0 control or DEL that is not Enter. */
static void
editor_control(struct editor *ed, uint32_t c)
{
	switch (c) {
	case 0x01:	/* ^A */
		ed->cursor = 0;
		break;
	case 0x02:	/* ^B */
		ed->cursor = utf8_prev(ed->line, ed->cursor);
		break;
	case 0x05:	/* ^E */
		ed->cursor = ed->len;
		break;
	case 0x06:	/* ^F */
		ed->cursor = utf8_forward(ed->line, ed->len, ed->cursor);
		break;
	case 0x08:	/* ^H */
	case 0x7F:	/* DEL */
		editor_delete(ed, utf8_prev(ed->line, ed->cursor), ed->cursor);
		break;
	case 0x0C:	/* ^L */
		ed->stale = 1;
		break;
	case 0x0E:	/* ^N */
		editor_history_walk(ed, 1);
		break;
	case 0x10:	/* ^P */
		editor_history_walk(ed, -1);
		break;
	case 0x15:	/* ^U */
		editor_delete(ed, 0, ed->cursor);
		break;
	case 0x17:	/* ^W */
		editor_erase_word(ed);
		break;
	}
}

/* Acts on one key.  Returns 1 if it completed a line. */
static int
editor_key(struct editor *ed, const struct key *key, struct editor_buf *out,
    struct editor_buf *sent)
{
	size_t	room;

	switch (key->kind) {
	case KEY_NONE:
		break;
	case KEY_TEXT:
		room = EDITOR_LINE_MAX - ed->len;
		if (key->len > room)
			ed->bell = 1;
		if (room > 0)
			editor_insert(ed, key->text,
			    key->len < room ? key->len : room);
		break;
	case KEY_CHAR:
		editor_insert(ed, key->text, key->len);
		break;
	case KEY_CONTROL:
		editor_control(ed, key->cp);
		break;
	case KEY_ENTER:
		editor_enter(ed, out, sent);
		return 1;
	case KEY_UP:
		editor_history_walk(ed, -1);
		break;
	case KEY_DOWN:
		editor_history_walk(ed, 1);
		break;
	case KEY_RIGHT:
		ed->cursor = utf8_forward(ed->line, ed->len, ed->cursor);
		break;
	case KEY_LEFT:
		ed->cursor = utf8_prev(ed->line, ed->cursor);
		break;
	case KEY_HOME:
		ed->cursor = 0;
		break;
	case KEY_END:
		ed->cursor = ed->len;
		break;
	case KEY_DELETE:
		editor_delete(ed, ed->cursor,
		    utf8_forward(ed->line, ed->len, ed->cursor));
		break;
	case KEY_FOCUS_IN:
		ed->focus = FOCUS_IN;
		ed->focus_gained = 1;
		break;
	case KEY_FOCUS_OUT:
		ed->focus = FOCUS_OUT;
		break;
	}
	return 0;
}

int
editor_keys(struct editor *ed, const void *keys, size_t n,
    struct editor_buf *out, struct editor_buf *sent)
{
	const char	*p = keys;
	struct key	 key;
	size_t		 i = 0;
	int		 lines = 0;

	ed->bell = 0;
	while (i < n) {
		i += keys_parse(&ed->keys, p + i, n - i, &key);
		lines += editor_key(ed, &key, out, sent);
	}
	if (ed->own_open) {
		editor_puts(out, EDITOR_PLAIN_STYLE);
		ed->own_open = 0;
		editor_draw(ed, out);
	}
	if (ed->bell)
		editor_puts(out, "\a");
	editor_refresh(ed, out);
	return lines;
}

/*
 * Adds one character to the peer's unfinished line.  Before a character
 * that would start a row past those it may take (editor_partial_cap), the
 * rows above are written for good and leave the region, so what is drawn
 * again stays small; the terminal wraps the line on into the region as it
 * would have anyway.  Only a run of zero-width characters too long for the
 * buffer forces a line break, and the tab stops start again after it.  A
 * combining mark that starts a line is shown on a space.
 */
static void
editor_incoming_char(struct editor *ed, uint32_t cp, struct editor_buf *out)
{
	struct editor_pos	*end = &ed->partial_end;
	char			 utf8[4];
	size_t			 n;
	int			 w;

	w = editor_width(ed, cp);
	n = utf8_encode(cp, utf8);
	if (editor_wraps(ed, end, w) &&
	    end->row + 1 >= editor_partial_cap(ed)) {
		editor_erase(ed, out);
		editor_put(out, ed->partial.data, ed->partial.len);
		ed->partial.len = 0;
		memset(end, 0, sizeof(*end));
		ed->partial_split = 1;
	} else if (ed->partial.len + n > EDITOR_PARTIAL_MAX) {
		editor_erase(ed, out);
		ed->partial_split = 1;
		editor_break_partial(ed, out);
	}
	/* A combining mark first on a row would have nothing to go on. */
	if (w == 0 && ed->partial.len == 0)
		editor_incoming_char(ed, ' ', out);
	if (editor_put(&ed->partial, utf8, n) == -1)
		return;
	editor_advance(ed, end, w);
	ed->in_col += w;
}

/*
 * editor_incoming_char for a run of printable ASCII, one column each:
 * the same rows written for good at the same places, with no decoding
 * and one copy per stretch.
 */
static void
editor_incoming_ascii(struct editor *ed, const unsigned char *s, size_t n,
    struct editor_buf *out)
{
	struct editor_pos	*end = &ed->partial_end;
	size_t			 start = 0, i = 0, k, room;

	while (i < n) {
		if (editor_wraps(ed, end, 1) &&
		    end->row + 1 >= editor_partial_cap(ed)) {
			editor_put(&ed->partial, s + start, i - start);
			start = i;
			editor_erase(ed, out);
			editor_put(out, ed->partial.data, ed->partial.len);
			ed->partial.len = 0;
			memset(end, 0, sizeof(*end));
			ed->partial_split = 1;
		} else if (ed->partial.len + (i - start) + 1 >
		    EDITOR_PARTIAL_MAX) {
			editor_put(&ed->partial, s + start, i - start);
			start = i;
			editor_erase(ed, out);
			ed->partial_split = 1;
			editor_break_partial(ed, out);
		}
		if (editor_wraps(ed, end, 1)) {
			editor_advance(ed, end, 1);
			ed->in_col++;
			i++;
			continue;
		}
		/* Up to the last column nothing wraps: advance in one step. */
		k = (size_t)(ed->width - end->col);
		if (k > n - i)
			k = n - i;
		room = EDITOR_PARTIAL_MAX - ed->partial.len - (i - start);
		if (k > room)
			k = room;
		end->col += (int)k;
		if (end->col >= ed->width) {
			end->col = ed->width - 1;
			end->pending = 1;
		}
		ed->in_col += (int)k;
		i += k;
	}
	editor_put(&ed->partial, s + start, n - start);
}

static void
editor_incoming(struct editor *ed, uint32_t cp, struct editor_buf *out)
{
	struct tm	tm;
	time_t		now;
	char		stamp[32];
	size_t		i;

	if (!ed->in_line) {
		ed->in_line = 1;
		if (ed->timestamps) {
			now = time(NULL);
			if (localtime_r(&now, &tm) != NULL)
				snprintf(stamp, sizeof(stamp), "[%02d:%02d] ",
				    tm.tm_hour, tm.tm_min);
			else
				strcpy(stamp, "[--:--] ");
			for (i = 0; stamp[i] != '\0'; i++)
				editor_incoming_char(ed,
				    (unsigned char)stamp[i], out);
		}
	}
	if (cp == '\n') {
		editor_erase(ed, out);
		editor_end_peer_line(ed, out);
		return;
	}
	if (cp == '\t') {
		/* Spaces to the next stop, as one run of ASCII. */
		editor_incoming_ascii(ed, (const unsigned char *)"        ",
		    EDITOR_TABSTOP - (size_t)ed->in_col % EDITOR_TABSTOP, out);
		return;
	}
	if (!utf8_printable(cp))
		cp = UTF8_REPLACEMENT;
	editor_incoming_char(ed, cp, out);
}

#ifdef __SSE2__
/*
 * editor_print_lines for lines that start afresh, with no time stamp:
 * each is copied to out as it is scanned, 16 bytes a step, and its \n
 * made CR LF.  It stops at any other byte, at a line too long for
 * partial, or within the last 16 bytes; what it scanned of the line it
 * stopped in goes to partial, as editor_incoming_ascii lays it out.
 * Returns how many bytes it took.
 */
static size_t
editor_print_block(struct editor *ed, const unsigned char *s, size_t n,
    struct editor_buf *out)
{
	const unsigned char	*q = s, *line = s, *end = s + n;
	char			*o, *o_line, *limit;
	__m128i			 v;
	unsigned		 bad;

	if (n < 16 || n > SIZE_MAX / 2)
		return 0;
	editor_erase(ed, out);
	/*
	 * Room for the text and a CR for one line in 16, and a step past
	 * the end: the caller comes back for lines that did not fit.
	 */
	if (editor_reserve(out, n + n / 16 + 32) == -1)
		return 0;
	o = o_line = out->data + out->len;
	limit = out->data + out->cap;
	/* A step's 16 bytes, and after up to 15 of them, CR LF. */
	while (end - q >= 16 && limit - o >= 17) {
		v = _mm_loadu_si128((const __m128i *)(const void *)q);
		_mm_storeu_si128((__m128i *)(void *)o, v);
		bad = (unsigned)_mm_movemask_epi8(_mm_or_si128(
		    _mm_cmplt_epi8(v, _mm_set1_epi8(0x20)),
		    _mm_cmpeq_epi8(v, _mm_set1_epi8(0x7F))));
		if (bad == 0) {
			q += 16;
			o += 16;
			continue;
		}
		q += __builtin_ctz(bad);
		o += __builtin_ctz(bad);
		if (*q != '\n' || (size_t)(q - line) > EDITOR_PARTIAL_MAX)
			break;
		*o++ = '\r';
		*o++ = '\n';
		line = ++q;
		o_line = o;
	}
	out->len = (size_t)(o_line - out->data);
	/* The start of a line that goes on, scanned already: to partial. */
	if (q > line) {
		ed->in_line = 1;
		editor_incoming_ascii(ed, line, (size_t)(q - line), out);
	}
	return (size_t)(q - s);
}
#endif

/*
 * Lays out the peer's printable ASCII and newlines at the start of s, as
 * editor_incoming would.  A line that ends within s goes straight to out:
 * the rows editor_incoming_ascii would write for good as it wraps, and
 * then the rest at its end, are all of it in order, after one erase.
 * Only the unfinished last line is kept in partial.  Returns how many
 * bytes it took, 0 if s starts with any other byte.
 */
static size_t
editor_print_lines(struct editor *ed, const unsigned char *s, size_t n,
    struct editor_buf *out)
{
	size_t	i = 0, run;
	char	*o;

	while (i < n) {
#ifdef __SSE2__
		if (!ed->in_line && !ed->timestamps && ed->partial.len == 0 &&
		    (run = editor_print_block(ed, s + i, n - i, out)) > 0) {
			i += run;
			continue;
		}
#endif
		if (s[i] == '\n' || (!ed->in_line && ed->timestamps)) {
			if (s[i] != '\n' && (s[i] < 0x20 || s[i] > 0x7E))
				break;
			editor_incoming(ed, s[i++], out);
			continue;
		}
		if ((run = utf8_ascii_run(s + i, n - i)) == 0)
			break;
		ed->in_line = 1;
		if (i + run < n && s[i + run] == '\n' &&
		    ed->partial.len + run <= EDITOR_PARTIAL_MAX)
			editor_erase(ed, out);
		if (i + run == n || s[i + run] != '\n' ||
		    ed->partial.len + run > EDITOR_PARTIAL_MAX ||
		    editor_reserve(out, ed->partial.len + run + 2) == -1) {
			editor_incoming_ascii(ed, s + i, run, out);
			i += run;
			continue;
		}
		o = out->data + out->len;
		if (ed->partial.len > 0) {
			memcpy(o, ed->partial.data, ed->partial.len);
			o += ed->partial.len;
		}
		memcpy(o, s + i, run);
		o += run;
		*o++ = '\r';
		*o++ = '\n';
		out->len = (size_t)(o - out->data);
		ed->partial.len = 0;
		memset(&ed->partial_end, 0, sizeof(ed->partial_end));
		ed->partial_split = 0;
		ed->in_col = 0;
		ed->in_line = 0;
		i += run + 1;
	}
	return i;
}

void
editor_print(struct editor *ed, const void *text, size_t n,
    struct editor_buf *out)
{
	const unsigned char	*p = text;
	size_t			 i = 0, took;
	uint32_t		 cp = UTF8_REPLACEMENT;
	int			 changed = 0, k;
	locale_t		 old = (locale_t)0;

	/* One locale switch for the whole text, not two a character. */
	if (ed->ctype != (locale_t)0) {
		old = uselocale(ed->ctype);
		ed->in_ctype = 1;
	}
	while (i < n) {
		/* Printable ASCII, by far the most common, a line at a time. */
		if (ed->in_utf8.len == 0 &&
		    (took = editor_print_lines(ed, p + i, n - i, out)) > 0) {
			i += took;
			changed = 1;
			continue;
		}
		/* A character whole if it is all here, else a byte at a time. */
		if (ed->in_utf8.len == 0 &&
		    (k = utf8_decode(p + i, n - i, &cp)) != 0) {
			i += (size_t)(k > 0 ? k : -k);
			editor_incoming(ed, k > 0 ? cp : UTF8_REPLACEMENT, out);
			changed = 1;
			continue;
		}
		switch (utf8_feed(&ed->in_utf8, p[i], &cp)) {
		case UTF8_MORE:
			i++;
			continue;
		case UTF8_DONE:
			i++;
			break;
		case UTF8_BAD:
			i++;
			cp = UTF8_REPLACEMENT;
			break;
		case UTF8_AGAIN:
			cp = UTF8_REPLACEMENT;
			break;
		}
		editor_incoming(ed, cp, out);
		changed = 1;
	}
	if (changed) {
		editor_erase(ed, out);
		editor_draw(ed, out);
	}
	if (ed->in_ctype) {
		ed->in_ctype = 0;
		uselocale(old);
	}
}

void
editor_note(struct editor *ed, const char *text, struct editor_buf *out)
{
	const char	*nl;
	size_t		 n = strlen(text), linelen;

	editor_erase(ed, out);
	editor_break_partial(ed, out);
	do {
		nl = memchr(text, '\n', n);
		linelen = nl != NULL ? (size_t)(nl - text) : n;
		editor_puts(out, EDITOR_NOTE_STYLE);
		editor_put_safe(ed, out, text, linelen);
		editor_puts(out, EDITOR_PLAIN_STYLE "\r\n");
		if (nl == NULL)
			break;
		text = nl + 1;
		n -= linelen + 1;
	} while (n > 0);
	editor_draw(ed, out);
}

/*
 * Returns the focus its terminal last reported, if it reports it, and
 * whether it gained the focus since the last call (it may have lost it
 * again within the same keys) in *gained.
 */
enum focus
editor_focus(struct editor *ed, int *gained)
{
	*gained = ed->focus_gained;
	ed->focus_gained = 0;
	return ed->focus;
}

/* Returns how many bytes the user has typed on the line, not yet sent. */
size_t
editor_pending(const struct editor *ed)
{
	return ed->len;
}

/*
 * Takes the editor off the screen for good: erases the prompt and input,
 * and writes the peer's unfinished line, if any, to stay.  The cursor is
 * left at the start of an empty line.
 */
void
editor_finish(struct editor *ed, struct editor_buf *out)
{
	editor_erase(ed, out);
	if (ed->partial.len > 0 || ed->partial_split)
		editor_end_peer_line(ed, out);
}
