/*
 * Unit tests for editor.c.  Keystrokes go in and the lines that come out
 * are checked byte for byte.  What the editor draws goes into a small
 * model of xterm (a grid with wcwidth widths, pending wrap at the last
 * column, CR, LF, BEL, BS, CUU, CUD, CUF, CUB, ED, EL and SGR) and the screen
 * is read back as logical lines, rows joined where the terminal wrapped
 * them, as xterm's selection does.  A seeded random run mixes the peer's
 * text, cut anywhere, with edits and checks the screen after each batch.
 */
#include <locale.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <wchar.h>

#include "../../src/ptychat.h"
#include "tap.h"

#define TERM_MAXROWS	40
#define TERM_MAXCOLS	80
#define CELL_MAX	16	/* a character and its combining marks */

#define LEFT		"\033[D"
#define RIGHT		"\033[C"
#define UP		"\033[A"
#define DOWN		"\033[B"
#define HOME		"\033[H"
#define END		"\033[F"
#define DELETE		"\033[3~"

#define E_ACUTE		"\xc3\xa9"		/* 2 bytes, 1 column */
#define EURO		"\xe2\x82\xac"		/* 3 bytes, 1 column */
#define GRIN		"\xf0\x9f\x98\x80"	/* 4 bytes, 2 columns */
#define KAN		"\xe6\xbc\xa2"		/* 3 bytes, 2 columns */
#define ACUTE		"\xcc\x81"		/* combining, 0 columns */

struct cell {
	char		 text[CELL_MAX];
	int		 width;		/* 0: empty; -1: right half of 2 */
};

struct row {
	struct cell	 cell[TERM_MAXCOLS];
	int		 wrapped;	/* the terminal wrapped into the next */
};

struct term {
	int		 rows, cols;
	struct row	 screen[TERM_MAXROWS];
	struct row	*scrolled;	/* rows gone off the top */
	size_t		 nscrolled;
	int		 row, col, pending;
	int		 bells;
	int		 clear_scrolls;	/* as tmux: ED from the top left
					   corner moves the screen into the
					   scrollback */
	int		 errors;
	char		 error[160];	/* the first one */
	int		 state;		/* 0, 1 after ESC, 2 in CSI */
	char		 params[32];
	size_t		 nparams;
	unsigned char	 seq[4];
	size_t		 seqlen, seqneed;
};

/* A growable list of strings. */
struct strs {
	char		**v;
	size_t		 n;
};

struct rig {
	struct editor	*ed;
	struct editor_buf out, sent;
	struct term	*term;
	int		 lines;		/* editor_keys() results, summed */
	const char	*prompt;
};

static void
strs_push(struct strs *l, const char *s, size_t n)
{
	char	*copy;

	if ((l->v = realloc(l->v, (l->n + 1) * sizeof(*l->v))) == NULL ||
	    (copy = malloc(n + 1)) == NULL)
		abort();
	memcpy(copy, s, n);
	copy[n] = '\0';
	l->v[l->n++] = copy;
}

static void
strs_free(struct strs *l)
{
	size_t	i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static int
width_of(uint32_t cp)
{
	int	w = wcwidth((wchar_t)cp);

	return w < 0 ? 1 : w;
}

/* Decodes valid UTF-8 at *s; returns 0 at an incomplete sequence. */
static size_t
decode(const char *s, size_t n, uint32_t *cp)
{
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 need, i;

	if (n == 0)
		return 0;
	if (p[0] < 0x80) {
		*cp = p[0];
		return 1;
	}
	need = p[0] < 0xE0 ? 2 : p[0] < 0xF0 ? 3 : 4;
	if (n < need)
		return 0;
	*cp = p[0] & (0xFF >> (need + 1));
	for (i = 1; i < need; i++)
		*cp = *cp << 6 | (p[i] & 0x3F);
	return need;
}

static void
term_error(struct term *t, const char *what)
{
	if (t->errors++ == 0)
		snprintf(t->error, sizeof(t->error), "%s at row %d col %d",
		    what, t->row, t->col);
}

static void
term_clear_row(struct row *r, int from)
{
	int	c;

	for (c = from; c < TERM_MAXCOLS; c++)
		memset(&r->cell[c], 0, sizeof(r->cell[c]));
	r->wrapped = 0;
}

static struct term *
term_new(int cols, int rows)
{
	struct term	*t;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		abort();
	t->cols = cols;
	t->rows = rows;
	return t;
}

static void
term_free(struct term *t)
{
	free(t->scrolled);
	free(t);
}

/* Moves the top row of the screen into the scrollback. */
static void
term_scroll(struct term *t)
{
	t->scrolled = realloc(t->scrolled,
	    (t->nscrolled + 1) * sizeof(*t->scrolled));
	if (t->scrolled == NULL)
		abort();
	t->scrolled[t->nscrolled++] = t->screen[0];
	memmove(&t->screen[0], &t->screen[1],
	    (size_t)(t->rows - 1) * sizeof(t->screen[0]));
	term_clear_row(&t->screen[t->rows - 1], 0);
}

/*
 * As xterm: no reflow; narrowing cuts the rows, and a screen made shorter
 * loses rows at the top to the scrollback, as many as keep the cursor's.
 */
static void
term_resize(struct term *t, int cols, int rows)
{
	size_t	i;
	int	r;

	for (i = 0; i < t->nscrolled; i++)
		term_clear_row(&t->scrolled[i], cols);
	for (r = 0; r < t->rows; r++)
		term_clear_row(&t->screen[r], cols);
	t->cols = cols;
	if (t->col >= cols)
		t->col = cols - 1;
	t->pending = 0;
	for (; t->row >= rows; t->row--)
		term_scroll(t);
	for (r = rows; r < t->rows; r++)
		term_clear_row(&t->screen[r], 0);
	t->rows = rows;
}

static void
term_linefeed(struct term *t)
{
	if (t->row < t->rows - 1) {
		t->row++;
		return;
	}
	term_scroll(t);
}

/* Clears whatever wide character covers column c. */
static void
term_unwide(struct term *t, int c)
{
	struct cell	*cell = t->screen[t->row].cell;

	if (cell[c].width == -1 && c > 0)
		memset(&cell[c - 1], 0, sizeof(cell[c - 1]));
	if (cell[c].width == 2 && c + 1 < TERM_MAXCOLS)
		memset(&cell[c + 1], 0, sizeof(cell[c + 1]));
	memset(&cell[c], 0, sizeof(cell[c]));
}

static void
term_put(struct term *t, const char *s, size_t n, uint32_t cp)
{
	struct cell	*cell;
	int		 w = width_of(cp), c;
	size_t		 have;

	if (w == 0) {
		c = t->pending ? t->col : t->col - 1;
		if (c < 0) {
			term_error(t, "combining mark with nothing before");
			return;
		}
		cell = &t->screen[t->row].cell[c];
		if (cell->width == -1)
			cell--;
		have = strlen(cell->text);
		if (have + n < CELL_MAX) {
			memcpy(cell->text + have, s, n);
			cell->text[have + n] = '\0';
		}
		return;
	}
	if (t->pending || t->col + w > t->cols) {
		t->screen[t->row].wrapped = 1;
		t->col = 0;
		t->pending = 0;
		term_linefeed(t);
	}
	term_unwide(t, t->col);
	if (w == 2)
		term_unwide(t, t->col + 1);
	cell = &t->screen[t->row].cell[t->col];
	memcpy(cell->text, s, n);
	cell->text[n] = '\0';
	cell->width = w;
	if (w == 2)
		cell[1].width = -1;
	t->col += w;
	if (t->col >= t->cols) {
		t->col = t->cols - 1;
		t->pending = 1;
	}
}

/* Rows of the screen down to the last with anything in it. */
static int
term_used_rows(const struct term *t)
{
	int	r, c, used = 0;

	for (r = 0; r < t->rows; r++)
		for (c = 0; c < TERM_MAXCOLS; c++)
			if (t->screen[r].cell[c].width != 0)
				used = r + 1;
	return used;
}

static void
term_csi(struct term *t, char final)
{
	size_t	i;
	int	n = 0, given = 0, r;

	for (i = 0; i < t->nparams; i++) {
		if (t->params[i] < '0' || t->params[i] > '9') {
			if (final != 'm' || t->params[i] != ';') {
				term_error(t, "odd CSI parameters");
				return;
			}
			continue;
		}
		n = n * 10 + t->params[i] - '0';
		given = 1;
	}
	switch (final) {
	case 'A':
	case 'B':
	case 'C':
	case 'D':
		if (!given || n == 0)
			n = 1;
		t->pending = 0;
		if (final == 'A')
			t->row = t->row - n < 0 ? 0 : t->row - n;
		else if (final == 'B')
			t->row = t->row + n >= t->rows ? t->rows - 1 :
			    t->row + n;
		else if (final == 'C')
			t->col = t->col + n >= t->cols ? t->cols - 1 :
			    t->col + n;
		else
			t->col = t->col - n < 0 ? 0 : t->col - n;
		break;
	case 'J':
	case 'K':
		if (n != 0) {
			term_error(t, "ED or EL other than 0");
			return;
		}
		if (final == 'J' && t->clear_scrolls && t->row == 0 &&
		    t->col == 0)
			for (r = term_used_rows(t); r > 0; r--)
				term_scroll(t);
		if (t->col > 0)
			term_unwide(t, t->col);
		term_clear_row(&t->screen[t->row], t->col);
		if (final == 'J')
			for (r = t->row + 1; r < t->rows; r++)
				term_clear_row(&t->screen[r], 0);
		break;
	case 'm':
		break;
	default:
		term_error(t, "unknown CSI");
	}
}

static void
term_feed(struct term *t, const char *s, size_t n)
{
	const unsigned char	*p = (const unsigned char *)s;
	uint32_t		 cp;
	size_t			 i;
	unsigned char		 c;

	for (i = 0; i < n; i++) {
		c = p[i];
		if (t->state == 1) {
			t->state = 0;
			if (c == '[') {
				t->state = 2;
				t->nparams = 0;
			} else
				term_error(t, "ESC not followed by [");
			continue;
		}
		if (t->state == 2) {
			if (c >= 0x30 && c <= 0x3F) {
				if (t->nparams < sizeof(t->params))
					t->params[t->nparams++] = (char)c;
			} else if (c >= 0x40 && c <= 0x7E) {
				t->state = 0;
				term_csi(t, (char)c);
			} else {
				t->state = 0;
				term_error(t, "odd byte in CSI");
			}
			continue;
		}
		if (t->seqlen > 0) {
			if ((c & 0xC0) != 0x80) {
				term_error(t, "bad UTF-8");
				t->seqlen = 0;
				continue;
			}
			t->seq[t->seqlen++] = c;
			if (t->seqlen == t->seqneed) {
				decode((const char *)t->seq, t->seqlen, &cp);
				term_put(t, (const char *)t->seq, t->seqlen,
				    cp);
				t->seqlen = 0;
			}
			continue;
		}
		if (c >= 0xC2 && c <= 0xF4) {
			t->seq[0] = c;
			t->seqlen = 1;
			t->seqneed = c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
		} else if (c >= 0x20 && c < 0x7F)
			term_put(t, (const char *)p + i, 1, c);
		else if (c == 0x1B)
			t->state = 1;
		else if (c == '\r') {
			t->col = 0;
			t->pending = 0;
		} else if (c == '\n') {
			t->pending = 0;
			term_linefeed(t);
		} else if (c == '\a')
			t->bells++;
		else if (c == '\b') {
			t->pending = 0;
			if (t->col > 0)
				t->col--;
		} else
			term_error(t, "control or stray byte");
	}
}

/* A row as text: empty cells before the last written one show as blanks. */
static void
row_text(const struct row *r, char *buf, size_t size)
{
	size_t	len = 0, n;
	int	c, last = -1;

	for (c = 0; c < TERM_MAXCOLS; c++)
		if (r->cell[c].width != 0)
			last = c;
	for (c = 0; c <= last; c++) {
		if (r->cell[c].width == -1)
			continue;
		n = r->cell[c].width == 0 ? 1 : strlen(r->cell[c].text);
		if (len + n >= size)
			break;
		memcpy(buf + len, r->cell[c].width == 0 ? " " :
		    r->cell[c].text, n);
		len += n;
	}
	buf[len] = '\0';
}

static const struct row *
term_row(const struct term *t, size_t i)
{
	return i < t->nscrolled ? &t->scrolled[i] :
	    &t->screen[i - t->nscrolled];
}

/*
 * The logical lines, from the first row scrolled off to the last row on
 * the screen with anything in it, and the absolute row the last one starts.
 */
static void
term_lines(const struct term *t, struct strs *lines, size_t *laststart)
{
	char	 text[TERM_MAXCOLS * CELL_MAX + 1];
	char	*line = NULL;
	size_t	 nrows, i, len = 0, n, start = 0;
	int	 r;

	nrows = t->nscrolled;
	for (r = 0; r < t->rows; r++) {
		row_text(&t->screen[r], text, sizeof(text));
		if (text[0] != '\0')
			nrows = t->nscrolled + (size_t)r + 1;
	}
	*laststart = 0;
	for (i = 0; i < nrows; i++) {
		if (len == 0 && line == NULL)
			start = i;
		row_text(term_row(t, i), text, sizeof(text));
		n = strlen(text);
		if ((line = realloc(line, len + n + 1)) == NULL)
			abort();
		memcpy(line + len, text, n + 1);
		len += n;
		if (term_row(t, i)->wrapped && i + 1 < nrows)
			continue;
		strs_push(lines, line, len);
		*laststart = start;
		free(line);
		line = NULL;
		len = 0;
	}
	free(line);
}

/* Where a cursor would be after writing s from column 0, wrap resolved. */
static void
text_pos(int cols, const char *s, size_t n, int *row, int *col)
{
	struct term	*t = term_new(cols, TERM_MAXROWS);

	term_feed(t, s, n);
	*row = t->row;
	*col = t->col;
	if (t->pending) {
		(*row)++;
		*col = 0;
	}
	term_free(t);
}

/*
 * The rows s takes from column 0 of a screen cols wide, and the row and
 * column where the cursor ends, a pending wrap resolved.
 */
static void
text_rows(int cols, const char *s, size_t n, struct strs *rows, int *row,
    int *col)
{
	struct term	*t = term_new(cols, TERM_MAXROWS);
	char		 text[TERM_MAXCOLS * CELL_MAX + 1];
	size_t		 i;

	term_feed(t, s, n);
	for (i = 0; i <= t->nscrolled + (size_t)t->row; i++) {
		row_text(term_row(t, i), text, sizeof(text));
		strs_push(rows, text, strlen(text));
	}
	*row = (int)t->nscrolled + t->row;
	*col = t->col;
	if (t->pending) {
		(*row)++;
		*col = 0;
	}
	term_free(t);
}

/* The rows of the scrollback and screen, to the last used or the cursor's. */
static void
term_all_rows(const struct term *t, struct strs *rows)
{
	char	text[TERM_MAXCOLS * CELL_MAX + 1];
	size_t	n = t->nscrolled + (size_t)t->row + 1, i;
	int	r;

	for (r = t->row + 1; r < t->rows; r++) {
		row_text(&t->screen[r], text, sizeof(text));
		if (text[0] != '\0')
			n = t->nscrolled + (size_t)r + 1;
	}
	for (i = 0; i < n; i++) {
		row_text(term_row(t, i), text, sizeof(text));
		strs_push(rows, text, strlen(text));
	}
}

/* The rows of the region the peer's unfinished line may take. */
static int
partial_cap(int rows)
{
	int	cap = (rows > 2 ? rows - 1 : 1) / 2;

	return cap > 4 ? 4 : cap > 0 ? cap : 1;
}

static void
rig_open(struct rig *r, int cols, int rows, const char *prompt,
    const char *own_prefix, int timestamps)
{
	memset(r, 0, sizeof(*r));
	if ((r->ed = editor_new(prompt, own_prefix, timestamps)) == NULL)
		abort();
	r->prompt = prompt;
	r->term = term_new(cols, rows);
	editor_set_size(r->ed, cols, rows);
	editor_start(r->ed, &r->out);
}

static void
rig_drain(struct rig *r)
{
	term_feed(r->term, r->out.data, r->out.len);
	r->out.len = 0;
}

static void
rig_keys_n(struct rig *r, const char *keys, size_t n)
{
	r->lines += editor_keys(r->ed, keys, n, &r->out, &r->sent);
	rig_drain(r);
}

static void
rig_keys(struct rig *r, const char *keys)
{
	rig_keys_n(r, keys, strlen(keys));
}

static void
rig_print_n(struct rig *r, const char *text, size_t n)
{
	editor_print(r->ed, text, n, &r->out);
	rig_drain(r);
}

static void
rig_print(struct rig *r, const char *text)
{
	rig_print_n(r, text, strlen(text));
}

static void
rig_note(struct rig *r, const char *text)
{
	editor_note(r->ed, text, &r->out);
	rig_drain(r);
}

static void
rig_close(struct rig *r)
{
	editor_free(r->ed);
	editor_buf_free(&r->out);
	editor_buf_free(&r->sent);
	term_free(r->term);
}

/* Checks and empties what was sent. */
static int
check_sent(struct rig *r, const char *want, const char *name)
{
	size_t	n = strlen(want);
	int	ok;

	ok = r->sent.len == n && (n == 0 || memcmp(r->sent.data, want, n) == 0);
	if (!tap_ok(ok, "%s", name))
		tap_diag("sent \"%.*s\", want \"%s\"", (int)r->sent.len,
		    r->sent.data != NULL ? r->sent.data : "", want);
	r->sent.len = 0;
	return ok;
}

static void
show_lines(const char *what, const struct strs *l)
{
	size_t	i;

	for (i = 0; i < l->n; i++)
		tap_diag("%s %zu: \"%s\"", what, i, l->v[i]);
}

/*
 * Compares the screen with want (the lines from the first ever, the last
 * being the prompt line) and the cursor with where input[0..at] ends after
 * the prompt.  Returns 1 if all match; quiet unless told a name.
 */
static int
screen_matches(struct rig *r, const struct strs *want, const char *input,
    size_t at, const char *name)
{
	struct strs	 got = { NULL, 0 };
	struct term	*t = r->term;
	char		*before;
	size_t		 laststart, i, plen = strlen(r->prompt);
	int		 ok, row, col;

	term_lines(t, &got, &laststart);
	if ((before = malloc(plen + at + 1)) == NULL)
		abort();
	memcpy(before, r->prompt, plen);
	memcpy(before + plen, input, at);
	text_pos(t->cols, before, plen + at, &row, &col);
	free(before);

	ok = got.n == want->n && t->errors == 0 && !t->pending &&
	    t->nscrolled + (size_t)t->row == laststart + (size_t)row &&
	    t->col == col;
	for (i = 0; ok && i < got.n; i++)
		ok = strcmp(got.v[i], want->v[i]) == 0;
	if (name != NULL)
		tap_ok(ok, "%s", name);
	if (!ok) {
		show_lines("got", &got);
		show_lines("want", want);
		tap_diag("cursor at %zu,%d%s, want %zu,%d; %d errors: %s",
		    t->nscrolled + (size_t)t->row, t->col,
		    t->pending ? " (pending)" : "", laststart + (size_t)row,
		    col, t->errors, t->errors ? t->error : "");
	}
	strs_free(&got);
	return ok;
}

/* want is a NULL-terminated list; input is the whole input line. */
static int
check_screen(struct rig *r, const char *const *want, const char *input,
    size_t at, const char *name)
{
	struct strs	l = { NULL, 0 };
	int		ok;

	for (; *want != NULL; want++)
		strs_push(&l, *want, strlen(*want));
	ok = screen_matches(r, &l, input, at, name);
	strs_free(&l);
	return ok;
}

/*
 * For input that may be taller than the screen, compares row for row.
 * The scrollback and screen must hold the lines in perm, then the peer's
 * unfinished line partial as shown (or ""), of which the last prow rows
 * are in the region, then whole rows of the prompt and input: as many as
 * the region has room for in its rows - 1, and among them the cursor's,
 * which must show input[0..at] after the prompt.  The region's first row
 * must be on the screen.  Returns 1 if all match; quiet unless named.
 */
static int
tall_matches(struct rig *r, const struct strs *perm, const char *partial,
    int prow, const char *input, size_t at, const char *name)
{
	struct strs	 got = { NULL, 0 }, want = { NULL, 0 };
	struct strs	 in = { NULL, 0 }, cur = { NULL, 0 };
	struct term	*t = r->term;
	char		*text;
	size_t		 i, plen = strlen(r->prompt), ilen = strlen(input);
	int		 row, col, crow, ccol, room, n, top, j, ok = 0;

	for (i = 0; i < perm->n; i++)
		text_rows(t->cols, perm->v[i], strlen(perm->v[i]), &want,
		    &row, &col);
	if (*partial != '\0')
		text_rows(t->cols, partial, strlen(partial), &want, &row,
		    &col);
	if ((text = malloc(plen + ilen + 1)) == NULL)
		abort();
	memcpy(text, r->prompt, plen);
	memcpy(text + plen, input, ilen);
	text_rows(t->cols, text, plen + ilen, &in, &row, &col);
	text_rows(t->cols, text, plen + at, &cur, &crow, &ccol);
	free(text);
	while ((int)in.n <= crow)
		strs_push(&in, "", 0);

	term_all_rows(t, &got);
	room = (t->rows > 2 ? t->rows - 1 : 1) - prow;
	if (room < 1)
		room = 1;
	n = (int)in.n < room ? (int)in.n : room;
	for (top = crow - n + 1 > 0 ? crow - n + 1 : 0;
	    !ok && top <= crow && top + n <= (int)in.n; top++) {
		ok = got.n == want.n + (size_t)n && t->errors == 0 &&
		    !t->pending && t->col == ccol &&
		    t->nscrolled + (size_t)t->row == want.n + (size_t)(crow -
		    top) && want.n - (size_t)prow >= t->nscrolled;
		for (i = 0; ok && i < want.n; i++)
			ok = strcmp(got.v[i], want.v[i]) == 0;
		for (j = 0; ok && j < n; j++)
			ok = strcmp(got.v[want.n + (size_t)j],
			    in.v[top + j]) == 0;
	}
	if (name != NULL)
		tap_ok(ok, "%s", name);
	if (!ok) {
		show_lines("got row", &got);
		show_lines("want row", &want);
		show_lines("input row", &in);
		tap_diag("%d of the input's rows, the cursor's %d col %d; "
		    "cursor at %zu,%d%s; %zu scrolled; %d errors: %s", n, crow,
		    ccol, t->nscrolled + (size_t)t->row, t->col,
		    t->pending ? " (pending)" : "", t->nscrolled, t->errors,
		    t->errors ? t->error : "");
	}
	strs_free(&got);
	strs_free(&want);
	strs_free(&in);
	strs_free(&cur);
	return ok;
}

/* Types keys into a fresh editor and checks the one line they send. */
static void
typed(const char *keys, const char *want, const char *name)
{
	struct rig	r;

	rig_open(&r, 80, 24, "> ", "you: ", 0);
	rig_keys(&r, keys);
	check_sent(&r, want, name);
	rig_close(&r);
}

static void
test_editing(void)
{
	typed("hello\r", "hello\n", "plain line");
	typed("hellp\x7fo\r", "hello\n", "DEL erases");
	typed("hellp\bo\r", "hello\n", "^H erases");
	typed("\b\x7f" "a\r", "a\n", "erasing at the start does nothing");
	typed("junk\x15ok\r", "ok\n", "^U kills the line");
	typed("abcdef" LEFT LEFT "\x15X\r", "Xef\n",
	    "^U kills only up to the cursor");
	typed("one two  \x17three\r", "one three\n",
	    "^W erases blanks then a word");
	typed("a b c\x17\x17\r", "a \n", "^W twice");
	typed("  \x17x\r", "x\n", "^W over blanks only");
	typed("ac" LEFT "b\r", "abc\n", "Left then insert");
	typed("ac\033OD" "b\r", "abc\n", "SS3 Left then insert");
	typed("ac\x02" "b\r", "abc\n", "^B then insert");
	typed("ad" LEFT LEFT RIGHT "bc\r", "abcd\n", "Right");
	typed("ad\x01\x06" "bc\r", "abcd\n", "^A ^F");
	typed("ad" LEFT LEFT "\033OC" "bc\r", "abcd\n", "SS3 Right");
	typed("a" RIGHT RIGHT "b\r", "ab\n", "Right at the end does nothing");
	typed("b" LEFT LEFT "a\r", "ab\n", "Left at the start does nothing");
	typed("bc" HOME "a" END "d\r", "abcd\n", "CSI H, CSI F");
	typed("bc\033OH" "a\033OF" "d\r", "abcd\n", "SS3 H, SS3 F");
	typed("bc\033[1~" "a\033[4~" "d\r", "abcd\n", "CSI 1~, CSI 4~");
	typed("bc\033[7~" "a\033[8~" "d\r", "abcd\n", "CSI 7~, CSI 8~");
	typed("bc\x01" "a\x05" "d\r", "abcd\n", "^A, ^E");
	typed("abXc" LEFT LEFT DELETE "\r", "abc\n", "Delete at the cursor");
	typed("abc" DELETE "\r", "abc\n", "Delete at the end does nothing");
	typed("abc" HOME DELETE DELETE "\r", "c\n", "Delete at the start");
	typed("ab" "\033[1;5D" "X\r", "aXb\n", "modified Left is Left");
	typed("a\033[2~\033[5~\033[6~\033[15~\033[200~b\r", "ab\n",
	    "other ~ keys are ignored");
	typed("a\033[I\033[O\033[<0;3;4M\033[?1h\033[M\r", "a\n",
	    "focus, mouse and private sequences are ignored");
	typed("a\033x\033b\033\x7f" "b\r", "ab\n",
	    "ESC and a character are ignored");
	typed("a\033\033[Db\r", "ba\n", "ESC ESC [ D is Left");
	typed("a\033[\x18" "b\r", "ab\n", "CAN cancels a sequence");
	typed("a\033[\x1a" "b\r", "ab\n", "SUB cancels a sequence");
	typed("a\033[3\x7f~b\r", "ab\n", "DEL inside a sequence is ignored");
	typed("ab\033[\x02" "D" "X\r", "Xab\n",
	    "a control inside a sequence runs and the sequence goes on");
	typed("a\033[12345678901234567890Db\r", "ab\n",
	    "overlong parameters are ignored whole");
	typed("a\x04\x07\x0b\x0f\x12\x14\x19\x1c\x1d\x1e\x1f\t" "b\r", "ab\n",
	    "other C0 controls and Tab are ignored");
	typed("\xc2\x85" "a\xc2\x9b" "b\r", "ab\n",
	    "C1 code points are ignored");
	typed("a\x80\xff\xc0\xaf\xed\xa0\x80" "b\r", "ab\n",
	    "bytes that are not UTF-8 are ignored");
	typed("a\xe2\x82" "b\r", "ab\n", "a broken sequence is dropped");
	typed("\xe2\x82\x1b[D" "b\r", "b\n",
	    "ESC after a broken sequence still starts one");
	typed("a\033" E_ACUTE "\033[" E_ACUTE "\r", "a" E_ACUTE E_ACUTE "\n",
	    "UTF-8 after ESC or inside CSI ends the sequence and is typed");
	typed("a\033O3~b\r", "ab\n", "SS3 with ~ is ignored");
	typed("ab" LEFT "\033[999999999999999~\033[0003~\r", "a\n",
	    "huge and zero-padded numbers in ~ keys");
	typed("\xe0\xa0\x80\xf4\x8f\xbf\xbf\xe0\x80\x80\xf4\x90\x80\x80\r",
	    "\xe0\xa0\x80\xf4\x8f\xbf\xbf\n",
	    "U+0800 and U+10FFFF pass, overlongs and beyond do not");
}

static void
test_nul(void)
{
	struct rig	r;

	rig_open(&r, 80, 24, "> ", "you: ", 0);
	rig_keys_n(&r, "a\0b\r", 4);
	check_sent(&r, "ab\n", "NUL is ignored");
	rig_close(&r);
}

static void
test_utf8(void)
{
	typed(E_ACUTE EURO GRIN KAN "\r", E_ACUTE EURO GRIN KAN "\n",
	    "UTF-8 of 2, 3 and 4 bytes");
	typed(E_ACUTE EURO GRIN KAN "\x7f\r", E_ACUTE EURO GRIN "\n",
	    "Backspace erases a whole wide character");
	typed(E_ACUTE EURO GRIN KAN "\x7f\x7f\r", E_ACUTE EURO "\n",
	    "Backspace erases a whole 4-byte character");
	typed(E_ACUTE EURO GRIN KAN LEFT LEFT "\b\r", E_ACUTE GRIN KAN "\n",
	    "^H erases a whole 3-byte character in the middle");
	typed(E_ACUTE "x" LEFT LEFT "\b\r", E_ACUTE "x\n",
	    "Backspace at the start of a line of UTF-8");
	typed(E_ACUTE "x" LEFT "\b\r", "x\n", "Backspace erases a whole é");
	typed(E_ACUTE EURO GRIN KAN HOME DELETE DELETE "\r", GRIN KAN "\n",
	    "Delete erases whole characters");
	typed(GRIN KAN LEFT DELETE "\r", GRIN "\n",
	    "Delete erases a whole wide character");
	typed(KAN GRIN LEFT "a" LEFT LEFT "b\r", "b" KAN "a" GRIN "\n",
	    "Left moves by whole characters");
	typed(KAN GRIN HOME RIGHT "a" RIGHT "b\r", KAN "a" GRIN "b\n",
	    "Right moves by whole characters");
	typed("e" ACUTE "\x7f\r", "e\n", "a combining mark is a code point");
	typed("x " E_ACUTE EURO "\x17y\r", "x y\n", "^W erases a UTF-8 word");
}

/* Each sequence is fed split at every point between two others. */
static void
test_splits(void)
{
	static const struct {
		const char	*keys;
		const char	*want;
	} cases[] = {
		{ "ab" LEFT "X\r", "aXb\n" },
		{ "ab\033OD" "X\r", "aXb\n" },
		{ "ab" LEFT DELETE "\r", "a\n" },
		{ "ab\033[1;5D" "X\r", "aXb\n" },
		{ "ab\033[7~" "X\r", "Xab\n" },
		{ "a\033[<0;3;4MX\r", "aX\n" },
		{ "a" E_ACUTE "b\r", "a" E_ACUTE "b\n" },
		{ "a" GRIN KAN "\r", "a" GRIN KAN "\n" },
		{ "one\r\ntwo\r\n", "one\ntwo\n" },
		{ "x" UP UP DOWN "\r", "x\n" },
	};
	struct rig	r;
	size_t		i, cut, n;
	int		bad;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		n = strlen(cases[i].keys);
		bad = 0;
		for (cut = 0; cut <= n; cut++) {
			rig_open(&r, 80, 24, "> ", "you: ", 0);
			rig_keys_n(&r, cases[i].keys, cut);
			rig_keys_n(&r, cases[i].keys + cut, n - cut);
			if (r.sent.len != strlen(cases[i].want) ||
			    memcmp(r.sent.data, cases[i].want,
			    r.sent.len) != 0)
				bad++;
			rig_close(&r);
		}
		rig_open(&r, 80, 24, "> ", "you: ", 0);
		for (cut = 0; cut < n; cut++) {
			rig_keys_n(&r, cases[i].keys + cut, 1);
			rig_keys_n(&r, "", 0);
		}
		if (r.sent.len != strlen(cases[i].want) ||
		    memcmp(r.sent.data, cases[i].want, r.sent.len) != 0)
			bad++;
		rig_close(&r);
		tap_ok(bad == 0,
		    "case %zu split at every byte, and byte by byte", i);
	}
}

static void
test_enter(void)
{
	struct rig	r;

	rig_open(&r, 80, 24, "> ", "you: ", 0);
	rig_keys(&r, "a\r\nb\r\n");
	tap_ok(r.lines == 2, "\\r\\n is one Enter");
	check_sent(&r, "a\nb\n", "\\r\\n sends each line once");
	rig_keys(&r, "c\r");
	rig_keys(&r, "\nd\r");
	check_sent(&r, "c\nd\n", "\\r\\n split across feeds is one Enter");
	r.lines = 0;
	rig_keys(&r, "\r\r\n\n");
	tap_ok(r.lines == 3, "\\r, \\r\\n and \\n are three Enters");
	check_sent(&r, "\n\n\n", "empty Enters send empty lines");
	r.lines = 0;
	rig_keys(&r, "\ra");
	rig_keys(&r, "\n");
	check_sent(&r, "\na\n", "a \\n after another key is an Enter");
	tap_ok(editor_keys(r.ed, "x\ry\rz", 5, &r.out, &r.sent) == 2,
	    "editor_keys returns the lines completed");
	rig_drain(&r);
	check_sent(&r, "x\ny\n", "several lines in one feed");
	rig_keys(&r, "\r");
	check_sent(&r, "z\n", "the rest stays typed after them");
	rig_close(&r);
}

static void
test_history(void)
{
	struct rig	r;
	char		keys[64];
	int		i;

	rig_open(&r, 80, 24, "> ", "you: ", 0);
	rig_keys(&r, "one\rtwo\r\rthree\rthree\r");
	r.sent.len = 0;
	rig_keys(&r, UP "\r");
	check_sent(&r, "three\n", "Up recalls the newest line");
	rig_keys(&r, UP UP "\r");
	check_sent(&r, "two\n", "a repeat of the newest is not kept");
	rig_keys(&r, UP UP UP UP UP UP "\r");
	check_sent(&r, "one\n",
	    "Up stops at the oldest, empty lines are not kept");
	rig_keys(&r, "dra" UP UP DOWN "\r");
	check_sent(&r, "one\n", "Down walks back toward the newest");
	rig_keys(&r, "draft" UP UP DOWN DOWN "\r");
	check_sent(&r, "draft\n",
	    "Down past the newest returns the line being edited");
	rig_keys(&r, "x" DOWN DOWN "\r");
	check_sent(&r, "x\n", "Down with nothing recalled does nothing");
	rig_keys(&r, "\x10\x10\x0e\r");
	check_sent(&r, "x\n", "^P and ^N walk too");
	rig_keys(&r, UP "!" UP DOWN "\r");
	check_sent(&r, "x\n",
	    "edits to a recalled line are dropped on leaving");
	rig_keys(&r, UP "\x01\033[3~X\r");
	check_sent(&r, "X\n", "a recalled line can be edited and sent");
	rig_close(&r);

	rig_open(&r, 80, 24, "> ", "you: ", 0);
	for (i = 0; i < 105; i++) {
		snprintf(keys, sizeof(keys), "line %d\r", i);
		rig_keys(&r, keys);
	}
	r.sent.len = 0;
	for (i = 0; i < 100; i++)
		rig_keys(&r, UP);
	rig_keys(&r, "\r");
	check_sent(&r, "line 5\n", "100 Ups reach the oldest of 100 kept");
	for (i = 0; i < 102; i++)
		rig_keys(&r, UP);
	rig_keys(&r, "\r");
	check_sent(&r, "line 6\n",
	    "no more than 100 are kept: sending line 5 again dropped it");
	rig_close(&r);
}

static void
test_limit(void)
{
	struct rig	 r;
	char		*keys, *want;

	if ((keys = malloc(5000)) == NULL || (want = malloc(5000)) == NULL)
		abort();
	rig_open(&r, 80, 24, "> ", "you: ", 0);
	memset(keys, 'a', 4095);
	strcpy(keys + 4095, "b");
	rig_keys(&r, keys);
	tap_ok(r.term->bells == 1, "a byte past 4095 rings the bell once");
	rig_keys(&r, "cd");
	tap_ok(r.term->bells == 2, "and again for later keys");
	rig_keys(&r, "\r");
	memset(want, 'a', 4095);
	memcpy(want + 4095, "\n", 2);
	check_sent(&r, want, "the line keeps its first 4095 bytes");

	memset(keys, 'a', 4094);
	strcpy(keys + 4094, E_ACUTE "b\r");
	rig_keys(&r, keys);
	memset(want, 'a', 4094);
	memcpy(want + 4094, "b\n", 3);
	check_sent(&r, want,
	    "a 2-byte character that would pass 4095 is refused");

	memset(keys, 'a', 4095);
	strcpy(keys + 4095, "\x7f" E_ACUTE "\r");
	rig_keys(&r, keys);
	memset(want, 'a', 4094);
	memcpy(want + 4094, "\n", 2);
	check_sent(&r, want, "after a Backspace, nothing wider fits");
	rig_keys(&r, UP "\r");
	check_sent(&r, want, "long lines are recalled whole");
	rig_close(&r);
	free(keys);
	free(want);
}

static void
test_print_while_typing(void)
{
	static const char	*want[] = {
		"hello there",
		"caf" E_ACUTE " " EURO "5 " GRIN,
		"you: my reply " KAN,
		"a       b",
		"part",
		"> next",
		NULL
	};
	struct rig		 r;

	rig_open(&r, 80, 24, "> ", "you: ", 0);
	rig_keys(&r, "my re");
	rig_print(&r, "hello ");
	rig_keys(&r, "ply");
	rig_print(&r, "there\ncaf\xc3");
	rig_keys(&r, " \xe6");
	rig_print(&r, "\xa9 \xe2\x82");
	rig_keys(&r, "\xbc");
	rig_print(&r, "\xac" "5 \xf0\x9f");
	rig_keys(&r, "\xa2");
	rig_print(&r, "\x98\x80\n");
	rig_keys(&r, "\r");
	check_sent(&r, "my reply " KAN "\n",
	    "the typed line arrives whole past the peer's text");
	rig_print(&r, "a\tb\npart");
	rig_keys(&r, "next");
	check_screen(&r, want, "next", 4,
	    "the screen has the peer's lines, ours, and the input below");
	rig_keys(&r, LEFT LEFT);
	check_screen(&r, want, "next", 2, "the cursor follows Left");
	rig_print(&r, "");
	check_screen(&r, want, "next", 2, "an empty print changes nothing");
	rig_print(&r, "\xe2");
	check_screen(&r, want, "next", 2, "half a character is held back");
	rig_close(&r);
}

static void
test_render(void)
{
	struct rig	r;

	rig_open(&r, 10, 8, "> ", "you: ", 0);
	rig_keys(&r, "12345678");
	check_screen(&r, (const char *[]){ "> 12345678", NULL }, "12345678", 8,
	    "width 10: input filling the row exactly, cursor on the next");
	rig_keys(&r, "9");
	check_screen(&r, (const char *[]){ "> 123456789", NULL }, "123456789",
	    9, "the next character starts the next row");
	rig_keys(&r, LEFT);
	check_screen(&r, (const char *[]){ "> 123456789", NULL }, "123456789",
	    8, "Left onto the first column of a wrapped row");
	rig_keys(&r, LEFT);
	check_screen(&r, (const char *[]){ "> 123456789", NULL }, "123456789",
	    7, "Left back into the full row");
	rig_keys(&r, "\x7f");
	check_screen(&r, (const char *[]){ "> 12345689", NULL }, "12345689", 6,
	    "Backspace in the middle unwraps the line");
	rig_keys(&r, END "\x7f");
	check_screen(&r, (const char *[]){ "> 1234568", NULL }, "1234568", 7,
	    "Backspace at the end");
	rig_keys(&r, KAN);
	check_screen(&r, (const char *[]){ "> 1234568" KAN, NULL },
	    "1234568" KAN, 10,
	    "a wide character that does not fit wraps whole");
	rig_keys(&r, LEFT);
	check_screen(&r, (const char *[]){ "> 1234568" KAN, NULL },
	    "1234568" KAN, 7, "the cursor before it sits in the last column");
	rig_print(&r, "peer line that wraps twice\n");
	check_screen(&r, (const char *[]){ "peer line that wraps twice",
	    "> 1234568" KAN, NULL }, "1234568" KAN, 7,
	    "a wrapped peer line goes above a wrapped input");
	rig_print(&r, "0123456789");
	check_screen(&r, (const char *[]){ "peer line that wraps twice",
	    "0123456789", "> 1234568" KAN, NULL }, "1234568" KAN, 7,
	    "an unfinished peer line of exactly the width");
	rig_print(&r, "ab");
	check_screen(&r, (const char *[]){ "peer line that wraps twice",
	    "0123456789ab", "> 1234568" KAN, NULL }, "1234568" KAN, 7,
	    "it goes on");
	rig_keys(&r, "\r");
	check_screen(&r, (const char *[]){ "peer line that wraps twice",
	    "you: 1234568" KAN, "0123456789ab", "> ", NULL }, "", 0,
	    "our line goes above the peer's unfinished one");
	check_sent(&r, "1234568" KAN "\n", "and is sent");
	rig_print(&r, "\n");
	rig_keys(&r, "abcdefgh" "ijklmnopqr");
	check_screen(&r, (const char *[]){ "peer line that wraps twice",
	    "you: 1234568" KAN, "0123456789ab", "> abcdefghijklmnopqr", NULL },
	    "abcdefghijklmnopqr", 18,
	    "input of exactly twice the width");
	rig_keys(&r, HOME);
	check_screen(&r, (const char *[]){ "peer line that wraps twice",
	    "you: 1234568" KAN, "0123456789ab", "> abcdefghijklmnopqr", NULL },
	    "abcdefghijklmnopqr", 0, "Home goes two rows up");
	rig_print(&r, "x");
	check_screen(&r, (const char *[]){ "peer line that wraps twice",
	    "you: 1234568" KAN, "0123456789ab", "x",
	    "> abcdefghijklmnopqr", NULL }, "abcdefghijklmnopqr", 0,
	    "printing keeps the cursor at Home");
	rig_keys(&r, END "s");
	check_screen(&r, (const char *[]){ "peer line that wraps twice",
	    "you: 1234568" KAN, "0123456789ab", "x",
	    "> abcdefghijklmnopqrs", NULL }, "abcdefghijklmnopqrs", 19,
	    "typing after End");
	rig_keys(&r, HOME);
	rig_keys(&r, END);
	check_screen(&r, (const char *[]){ "peer line that wraps twice",
	    "you: 1234568" KAN, "0123456789ab", "x",
	    "> abcdefghijklmnopqrs", NULL }, "abcdefghijklmnopqrs", 19,
	    "End moves the cursor down two rows");
	rig_keys(&r, HOME);
	rig_keys(&r, RIGHT RIGHT RIGHT RIGHT RIGHT RIGHT RIGHT RIGHT);
	check_screen(&r, (const char *[]){ "peer line that wraps twice",
	    "you: 1234568" KAN, "0123456789ab", "x",
	    "> abcdefghijklmnopqrs", NULL }, "abcdefghijklmnopqrs", 8,
	    "Right onto the next row");
	rig_keys(&r, "\x0c");
	check_screen(&r, (const char *[]){ "peer line that wraps twice",
	    "you: 1234568" KAN, "0123456789ab", "x",
	    "> abcdefghijklmnopqrs", NULL }, "abcdefghijklmnopqrs", 8,
	    "^L draws the same again");
	rig_close(&r);

	rig_open(&r, 10, 8, "> ", "you: ", 0);
	rig_keys(&r, "abc");
	term_feed(r.term, "\r\n", 2);
	editor_start(r.ed, &r.out);
	rig_drain(&r);
	check_screen(&r, (const char *[]){ "> abc", "> abc", NULL }, "abc", 3,
	    "editor_start draws afresh where the cursor is");
	rig_close(&r);

	rig_open(&r, 20, 10, "> ", "you: ", 0);
	rig_print(&r, "one\ntw");
	rig_keys(&r, "hi " GRIN);
	rig_print(&r, "o\n" KAN KAN KAN KAN KAN KAN KAN KAN KAN KAN KAN);
	check_screen(&r, (const char *[]){ "one", "two",
	    KAN KAN KAN KAN KAN KAN KAN KAN KAN KAN KAN, "> hi " GRIN, NULL },
	    "hi " GRIN, 7, "width 20: wide characters fill a row exactly");
	rig_keys(&r, "0123456789abc");
	check_screen(&r, (const char *[]){ "one", "two",
	    KAN KAN KAN KAN KAN KAN KAN KAN KAN KAN KAN,
	    "> hi " GRIN "0123456789abc", NULL },
	    "hi " GRIN "0123456789abc", 20,
	    "input filling the width exactly after a wide character");
	rig_keys(&r, "e" ACUTE);
	check_screen(&r, (const char *[]){ "one", "two",
	    KAN KAN KAN KAN KAN KAN KAN KAN KAN KAN KAN,
	    "> hi " GRIN "0123456789abce" ACUTE, NULL },
	    "hi " GRIN "0123456789abce" ACUTE, 23,
	    "a combining mark takes no column");
	rig_keys(&r, "\x7f\x7f");
	rig_keys(&r, ACUTE);
	check_screen(&r, (const char *[]){ "one", "two",
	    KAN KAN KAN KAN KAN KAN KAN KAN KAN KAN KAN,
	    "> hi " GRIN "0123456789abc" ACUTE, NULL },
	    "hi " GRIN "0123456789abc" ACUTE, 22,
	    "a combining mark typed after a full row joins its last character");
	rig_keys(&r, LEFT);
	check_screen(&r, (const char *[]){ "one", "two",
	    KAN KAN KAN KAN KAN KAN KAN KAN KAN KAN KAN,
	    "> hi " GRIN "0123456789abc" ACUTE, NULL },
	    "hi " GRIN "0123456789abc" ACUTE, 20,
	    "Left before the mark");
	rig_close(&r);
}

/* Whether s is "[HH:MM] " and then rest. */
static int
stamped(const char *s, const char *rest)
{
	return strlen(s) >= 8 && s[0] == '[' && s[1] >= '0' && s[1] <= '2' &&
	    s[2] >= '0' && s[2] <= '9' && s[3] == ':' && s[4] >= '0' &&
	    s[4] <= '5' && s[5] >= '0' && s[5] <= '9' && s[6] == ']' &&
	    s[7] == ' ' && strcmp(s + 8, rest) == 0;
}

static void
test_tabs_notes_stamps(void)
{
	struct rig	 r;
	struct strs	 got = { NULL, 0 };
	size_t		 last;
	int		 ok;

	rig_open(&r, 40, 10, "$ ", "me> ", 0);
	rig_print(&r, "a\tb\tc\n\tx\n12345678\ty\n");
	rig_print(&r, "1234567");
	rig_print(&r, "\t");
	rig_print(&r, KAN "\tz\n");
	rig_note(&r, "*** client closed its side ***");
	rig_note(&r, "two\nlines\n");
	rig_keys(&r, "q");
	check_screen(&r, (const char *[]){ "a       b       c", "        x",
	    "12345678        y", "1234567 " KAN "      z",
	    "*** client closed its side ***", "two", "lines", "$ q", NULL },
	    "q", 1, "tabs expand to multiples of 8; notes print as lines");
	rig_note(&r, "bad\033[2Jbytes\x07\t.");
	check_screen(&r, (const char *[]){ "a       b       c", "        x",
	    "12345678        y", "1234567 " KAN "      z",
	    "*** client closed its side ***", "two", "lines",
	    "bad\xef\xbf\xbd[2Jbytes\xef\xbf\xbd   .", "$ q", NULL },
	    "q", 1, "a note cannot send escapes");
	rig_print(&r, "ctl\033[31m\r\x7f\xc2\x9b\xff\xc3!\n");
	check_screen(&r, (const char *[]){ "a       b       c", "        x",
	    "12345678        y", "1234567 " KAN "      z",
	    "*** client closed its side ***", "two", "lines",
	    "bad\xef\xbf\xbd[2Jbytes\xef\xbf\xbd   .",
	    "ctl\xef\xbf\xbd[31m\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
	    "\xef\xbf\xbd\xef\xbf\xbd!", "$ q", NULL },
	    "q", 1, "unsanitised controls in peer text are not obeyed");
	rig_note(&r, "\xff\xc3(\xe2\x82");
	check_screen(&r, (const char *[]){ "a       b       c", "        x",
	    "12345678        y", "1234567 " KAN "      z",
	    "*** client closed its side ***", "two", "lines",
	    "bad\xef\xbf\xbd[2Jbytes\xef\xbf\xbd   .",
	    "ctl\xef\xbf\xbd[31m\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
	    "\xef\xbf\xbd\xef\xbf\xbd!",
	    "\xef\xbf\xbd\xef\xbf\xbd(\xef\xbf\xbd", "$ q", NULL },
	    "q", 1, "bad UTF-8 in a note shows as U+FFFD");
	rig_close(&r);

	rig_open(&r, 40, 10, "> ", "you: ", 1);
	rig_print(&r, "hi\n\nthere");
	rig_keys(&r, "x\r");
	term_lines(r.term, &got, &last);
	ok = got.n == 5 && stamped(got.v[0], "hi") && stamped(got.v[1], "") &&
	    strcmp(got.v[2], "you: x") == 0 && stamped(got.v[3], "there") &&
	    strcmp(got.v[4], "> ") == 0;
	if (!tap_ok(ok, "timestamps start each peer line, empty ones too, "
	    "not ours"))
		show_lines("got", &got);
	strs_free(&got);
	rig_close(&r);
}

static void
test_marks(void)
{
	struct rig	 r;
	struct strs	 got = { NULL, 0 };
	size_t		 last, i;
	char		*text;
	int		 ok;

	rig_open(&r, 20, 10, "> ", "you: ", 0);
	rig_print(&r, ACUTE "a\n");
	check_screen(&r, (const char *[]){ " " ACUTE "a", "> ", NULL }, "", 0,
	    "a combining mark starting a line goes on a space");

	/* x and 10000 marks: past the 16 KiB kept, the line is broken. */
	if ((text = malloc(20004)) == NULL)
		abort();
	text[0] = 'x';
	for (i = 0; i < 10000; i++)
		memcpy(text + 1 + 2 * i, ACUTE, 2);
	memcpy(text + 20001, "y\n", 3);
	rig_print(&r, text);
	term_lines(r.term, &got, &last);
	ok = got.n == 4 && strncmp(got.v[1], "x" ACUTE, 3) == 0 &&
	    strncmp(got.v[2], " " ACUTE, 3) == 0 &&
	    got.v[2][strlen(got.v[2]) - 1] == 'y' &&
	    strcmp(got.v[3], "> ") == 0 && r.term->errors == 0;
	if (!tap_ok(ok, "endless combining marks are broken into lines"))
		show_lines("got", &got);
	strs_free(&got);
	free(text);
	rig_close(&r);
}

static void
test_buffers(void)
{
	struct editor_buf	 out = { NULL, 0, 0 }, sent = { NULL, 0, 0 };
	struct editor		*ed;
	int			 lines;

	editor_free(NULL);
	if ((ed = editor_new(NULL, NULL, 0)) == NULL)
		abort();
	editor_start(ed, &out);
	lines = editor_keys(ed, "hi\r", 3, &out, &sent);
	tap_ok(lines == 1 && sent.len == 3 && memcmp(sent.data, "hi\n", 3) ==
	    0 && out.len > 0 && out.cap >= out.len,
	    "NULL prompt and prefix are taken as empty");
	editor_buf_free(&out);
	tap_ok(out.data == NULL && out.len == 0 && out.cap == 0,
	    "editor_buf_free zeroes the buffer");
	editor_buf_free(&sent);
	editor_free(ed);
}

static void
test_resize(void)
{
	struct rig	r;

	rig_open(&r, 20, 10, "> ", "you: ", 0);
	rig_print(&r, "line\npart");
	rig_keys(&r, "abcdefghijkl" LEFT);
	editor_set_size(r.ed, 10, 10);
	term_resize(r.term, 10, 10);
	rig_keys(&r, "\x0c");
	check_screen(&r, (const char *[]){ "line", "part",
	    "> abcdefghijkl", NULL }, "abcdefghijkl", 11,
	    "after a resize, ^L draws the input for the new width");
	rig_keys(&r, "m");
	check_screen(&r, (const char *[]){ "line", "part",
	    "> abcdefghijkml", NULL }, "abcdefghijkml", 12,
	    "and typing goes on at the new width");
	editor_set_size(r.ed, 0, 0);
	term_resize(r.term, 80, 24);
	rig_keys(&r, "\x0c");
	check_screen(&r, (const char *[]){ "line", "part",
	    "> abcdefghijkml", NULL }, "abcdefghijkml", 12,
	    "a width of 0 means 80");
	rig_close(&r);
}

static void
test_partial_rows(void)
{
	struct rig	 r;
	char		 text[80], tabbed[90];

	memset(text, 'p', 75);
	text[75] = '\0';
	memcpy(tabbed, "        ", 8);
	memcpy(tabbed + 8, text, 76);
	rig_open(&r, 10, 10, "> ", "you: ", 0);
	rig_keys(&r, "typed");
	rig_print(&r, text);
	check_screen(&r, (const char *[]){ text, "> typed", NULL }, "typed", 5,
	    "an unfinished peer line of 8 rows, of which 4 go for good");
	rig_keys(&r, "\r");
	check_screen(&r, (const char *[]){ text, "you: typed", "> ", NULL },
	    "", 0, "our line after it ends it there");
	rig_print(&r, "qq\n");
	check_screen(&r, (const char *[]){ text, "you: typed", "qq", "> ",
	    NULL }, "", 0, "and its rest goes on below");
	rig_print(&r, "\t");
	rig_print(&r, text);
	rig_note(&r, "note");
	rig_print(&r, "\tz\n");
	check_screen(&r, (const char *[]){ text, "you: typed", "qq", tabbed,
	    "note", "        z", "> ", NULL }, "", 0,
	    "a note ends it too, and the tab stops start again");
	rig_close(&r);
}

/* tall_matches with perm a NULL-terminated list. */
static int
tall_check(struct rig *r, const char *const *perm, const char *partial,
    int prow, const char *input, size_t at, const char *name)
{
	struct strs	l = { NULL, 0 };
	int		ok;

	for (; *perm != NULL; perm++)
		strs_push(&l, *perm, strlen(*perm));
	ok = tall_matches(r, &l, partial, prow, input, at, name);
	strs_free(&l);
	return ok;
}

/* 4 * count + 1 characters in which any run of 12 is found once only. */
static void
numbered_line(char *line, int count)
{
	int	i;

	for (i = 0; i < count; i++) {
		line[4 * i] = (char)('0' + i / 100 % 10);
		line[4 * i + 1] = (char)('0' + i / 10 % 10);
		line[4 * i + 2] = (char)('0' + i % 10);
		line[4 * i + 3] = ',';
	}
	strcpy(line + 4 * count, "!");
}

/*
 * Bug 9: a 401-character line in a 40x8 window left a stale copy.  As
 * tmux, a screen cleared from its top left corner goes to the scrollback.
 */
/* A test's name, said of xterm or of tmux. */
static const char *
as(int tmux, const char *name)
{
	static char	buf[160];

	snprintf(buf, sizeof(buf), "%s: %s", tmux ? "tmux" : "xterm", name);
	return buf;
}

static void
tall_window(int tmux)
{
	struct rig	r;
	char		line[402], you[410], sent[410], edited[420];
	int		i;

	numbered_line(line, 100);
	snprintf(you, sizeof(you), "you: %s", line);
	snprintf(sent, sizeof(sent), "%s\n", line);
	rig_open(&r, 40, 8, "> ", "you: ", 0);
	r.term->clear_scrolls = tmux;
	rig_keys(&r, line);
	tall_check(&r, (const char *[]){ NULL }, "", 0, line, 401,
	    as(tmux, "40x8: a 401-character line shows its last 7 rows, "
	    "the cursor's among them"));
	rig_print(&r, "the peer says hello\n");
	tall_check(&r, (const char *[]){ "the peer says hello", NULL }, "", 0,
	    line, 401, as(tmux, "the peer's line goes above them"));
	rig_keys(&r, HOME);
	tall_check(&r, (const char *[]){ "the peer says hello", NULL }, "", 0,
	    line, 0, as(tmux, "Home shows the first 7 rows"));
	for (i = 0; i < 300; i++)
		rig_keys(&r, RIGHT);
	tall_check(&r, (const char *[]){ "the peer says hello", NULL }, "", 0,
	    line, 300, as(tmux, "Right, a key at a time, takes the rows "
	    "along"));
	rig_keys(&r, "\x7f" "X");
	memcpy(edited, line, 299);
	strcpy(edited + 299, "X");
	strcat(edited, line + 300);
	tall_check(&r, (const char *[]){ "the peer says hello", NULL }, "", 0,
	    edited, 300, as(tmux, "editing in the middle"));
	rig_keys(&r, "\x0c");
	tall_check(&r, (const char *[]){ "the peer says hello", NULL }, "", 0,
	    edited, 300, as(tmux, "^L draws the same rows again"));
	rig_keys(&r, "\x7f" "," END);
	tall_check(&r, (const char *[]){ "the peer says hello", NULL }, "", 0,
	    line, 401, as(tmux, "End"));
	rig_keys(&r, "\r");
	check_sent(&r, sent, as(tmux, "Enter sends it whole"));
	check_screen(&r, (const char *[]){ "the peer says hello", you, "> ",
	    NULL }, "", 0, as(tmux, "and no stale copy of it is left, "
	    "scrollback included"));
	rig_keys(&r, UP);
	tall_check(&r, (const char *[]){ "the peer says hello", you, NULL },
	    "", 0, line, 401, as(tmux, "Up recalls it, its last rows shown"));
	rig_keys(&r, "\x15");
	check_screen(&r, (const char *[]){ "the peer says hello", you, "> ",
	    NULL }, "", 0, as(tmux, "^U leaves the prompt alone"));
	rig_close(&r);
}

static void
test_tall(void)
{
	tall_window(0);
	tall_window(1);
}

/* The bytes of the whole characters among the first n of s. */
static size_t
whole_chars(const char *s, size_t n)
{
	uint32_t	cp;
	size_t		i = 0, k;

	while ((k = decode(s + i, n - i, &cp)) > 0)
		i += k;
	return i;
}

/* Screens of a few rows, with wide characters and combining marks. */
static void
test_tall_small(void)
{
	static const struct {
		int		 cols, rows;
		const char	*keys;
	} cases[] = {
		{ 10, 3, "0123456789abcdefghijklmnopqrstuvwxyz0123456789" },
		{ 10, 2, "0123456789abcdefghijklmnopqrstuvwxyz" },
		{ 9, 4, KAN KAN KAN KAN "a" KAN KAN KAN KAN KAN KAN KAN KAN
		    GRIN GRIN "b" GRIN GRIN GRIN KAN KAN KAN KAN KAN KAN },
		{ 7, 5, "e" ACUTE "e" ACUTE "e" ACUTE "e" ACUTE KAN "x" ACUTE
		    "yyyyyyyy" KAN KAN KAN "e" ACUTE EURO EURO EURO EURO
		    E_ACUTE E_ACUTE E_ACUTE KAN "z" ACUTE "zzzzzz" KAN KAN },
	};
	const char	*keys;
	struct rig	 r;
	char		 typed[256], you[300];
	size_t		 i, len, at, next, n;
	int		 ok;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		keys = cases[i].keys;
		len = strlen(keys);
		rig_open(&r, cases[i].cols, cases[i].rows, "> ", "you: ", 0);
		rig_print(&r, "hi\n");
		/* Typed three bytes at a time, split characters and all. */
		for (ok = 1, at = 0; ok && at < len; at = next) {
			next = at + 3 < len ? at + 3 : len;
			rig_keys_n(&r, keys + at, next - at);
			n = whole_chars(keys, next);
			memcpy(typed, keys, n);
			typed[n] = '\0';
			ok = tall_check(&r, (const char *[]){ "hi", NULL }, "",
			    0, typed, n, NULL);
		}
		/* The cursor walks to the start and back, a key at a time. */
		for (at = len; ok && at > 0;) {
			rig_keys(&r, LEFT);
			while (at > 0 &&
			    ((unsigned char)keys[--at] & 0xC0) == 0x80)
				continue;
			ok = tall_check(&r, (const char *[]){ "hi", NULL },
			    "", 0, keys, at, NULL);
		}
		while (ok && at < len) {
			rig_keys(&r, RIGHT);
			while (++at < len &&
			    ((unsigned char)keys[at] & 0xC0) == 0x80)
				continue;
			ok = tall_check(&r, (const char *[]){ "hi", NULL },
			    "", 0, keys, at, NULL);
		}
		tap_ok(ok, "%dx%d: the input's rows around the cursor, typed "
		    "in pieces, walked through with Left and Right",
		    cases[i].cols, cases[i].rows);
		rig_keys(&r, "\r");
		snprintf(you, sizeof(you), "you: %s", keys);
		check_screen(&r, (const char *[]){ "hi", you, "> ", NULL }, "",
		    0, cases[i].rows == 2 ? "2 rows: after Enter, no stale "
		    "copy" : "after Enter, no stale copy");
		rig_close(&r);
	}
}

/* The peer's unfinished line and a tall input share the region. */
static void
test_tall_partial(void)
{
	struct rig	r;
	char		line[402], you[410], part[130];

	numbered_line(line, 100);
	snprintf(you, sizeof(you), "you: %s", line);
	memset(part, 'p', 120);
	part[120] = '\0';
	rig_open(&r, 40, 8, "> ", "you: ", 0);
	rig_print(&r, "one\n");
	rig_keys(&r, line);
	rig_print(&r, part);
	tall_check(&r, (const char *[]){ "one", NULL }, part, 3, line, 401,
	    "40x8: 3 rows of the peer's unfinished line, 4 of the input");
	rig_print(&r, "qq");
	tall_check(&r, (const char *[]){ "one", NULL }, "pppppppppppppppppp"
	    "pppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppp"
	    "ppppppppppppppppppppppppppppppppppppppqq", 1, line, 401,
	    "past 3 rows, those are written for good; the input gets 6");
	rig_keys(&r, "\r");
	strcat(part, "qq");
	check_screen(&r, (const char *[]){ "one", part, you, "> ", NULL }, "",
	    0, "Enter ends the peer's line there, and leaves no stale copy");
	rig_close(&r);
}

/* The screen made smaller while a tall line is drawn. */
static void
test_tall_resize(void)
{
	struct rig	 r;
	char		 line[402], you[410], stale[3][41], start[101];
	const char	*perm[16];
	int		 i;

	numbered_line(line, 100);
	snprintf(you, sizeof(you), "you: %s", line);

	/* Narrower: xterm cuts the rows; CUU still finds the region. */
	rig_open(&r, 40, 8, "> ", "you: ", 0);
	rig_print(&r, "one\n");
	rig_keys_n(&r, line, 250);
	term_resize(r.term, 20, 8);
	editor_set_size(r.ed, 20, 8);
	rig_keys_n(&r, line + 250, 151);
	tall_check(&r, (const char *[]){ "one", NULL }, "", 0, line, 401,
	    "40x8 to 20x8 with 7 rows drawn: 7 rows again, at the new width");
	rig_keys(&r, "\r");
	check_screen(&r, (const char *[]){ "one", you, "> ", NULL }, "", 0,
	    "and after Enter no stale copy is left");
	rig_close(&r);

	/* Shorter, the rows drawn still on the screen. */
	rig_open(&r, 40, 8, "> ", "you: ", 0);
	rig_print(&r, "one\n");
	rig_keys_n(&r, line, 100);
	term_resize(r.term, 40, 4);
	editor_set_size(r.ed, 40, 4);
	memcpy(start, line, 100);
	start[100] = '\0';
	tall_check(&r, (const char *[]){ "one", NULL }, "", 0, start, 100,
	    "40x8 to 40x4: the 3 rows drawn stay");
	rig_print(&r, "two\n");
	rig_keys_n(&r, line + 100, 301);
	tall_check(&r, (const char *[]){ "one", "two", NULL }, "", 0, line,
	    401, "then 3 rows at most");
	rig_keys(&r, "\r");
	check_screen(&r, (const char *[]){ "one", "two", you, "> ", NULL }, "",
	    0, "and after Enter no stale copy is left");
	rig_close(&r);

	/*
	 * Shorter, with rows of the region pushed into the scrollback by the
	 * terminal, where nothing can erase them: those stay, nothing more.
	 */
	rig_open(&r, 40, 8, "> ", "you: ", 0);
	for (i = 0; i < 10; i++)
		rig_print(&r, "peer\n");
	rig_keys_n(&r, line, 238);
	for (i = 0; i < 10; i++)
		perm[i] = "peer";
	memcpy(stale[0], "> ", 2);
	memcpy(stale[0] + 2, line, 38);
	stale[0][40] = '\0';
	memcpy(stale[1], line + 38, 40);
	stale[1][40] = '\0';
	memcpy(stale[2], line + 78, 40);
	stale[2][40] = '\0';
	term_resize(r.term, 40, 4);
	editor_set_size(r.ed, 40, 4);
	rig_keys_n(&r, line + 238, 163);
	for (i = 0; i < 3; i++)
		perm[10 + i] = stale[i];
	perm[13] = NULL;
	tall_check(&r, perm, "", 0, line, 401, "40x8 to 40x4 with 7 rows "
	    "drawn: the 3 the terminal pushed away stay, and 3 are drawn");
	rig_keys(&r, "\r");
	perm[13] = you;
	perm[14] = NULL;
	tall_check(&r, perm, "", 0, "", 0, "after Enter, no other copy");
	rig_close(&r);
}

/* A deterministic generator, so a failure can be replayed. */
static uint32_t
rnd(uint32_t *state)
{
	uint32_t	x = *state;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return *state = x;
}

/*
 * Pushes the peer's text as the editor shows it: tabs expanded, and a
 * space under a combining mark that starts it.
 */
static void
expand(const char *s, size_t n, struct strs *into)
{
	char		buf[8192];
	size_t		len = 0, k;
	uint32_t	cp;
	int		col = 0;

	while ((k = decode(s, n, &cp)) > 0 && len + 8 < sizeof(buf)) {
		if (cp == '\t') {
			do
				buf[len++] = ' ';
			while (++col % 8 != 0);
		} else {
			if (col == 0 && width_of(cp) == 0) {
				buf[len++] = ' ';
				col++;
			}
			memcpy(buf + len, s, k);
			len += k;
			col += width_of(cp);
		}
		s += k;
		n -= k;
	}
	strs_push(into, buf, len);
}

/* Rows that text takes from column 0. */
static int
rows_of(int cols, const char *s)
{
	struct term	*t = term_new(cols, TERM_MAXROWS);
	int		 rows;

	term_feed(t, s, strlen(s));
	rows = (int)t->nscrolled + t->row + 1;
	term_free(t);
	return rows;
}

static int
cols_of(const char *s, size_t n)
{
	uint32_t	cp;
	size_t		k;
	int		cols = 0;

	while ((k = decode(s, n, &cp)) > 0) {
		cols += width_of(cp);
		s += k;
		n -= k;
	}
	return cols;
}

/* The input line and history, modelled apart from the editor. */
struct ref {
	char		 line[256];
	size_t		 len, cursor;
	struct strs	 history;
	size_t		 at;
	char		 saved[256];
	size_t		 savedlen;
};

/* One random run: the expected screen and wire, and the peer's stream. */
struct run {
	struct rig	 r;
	struct ref	 f;
	uint32_t	 seed;
	struct strs	 screen;	/* lines written for good */
	char		 sent[65536];
	size_t		 sentlen;
	char		 peer[20000];
	size_t		 peerlen;
	size_t		 fed;		/* bytes of it printed */
	size_t		 line_start;	/* where its unfinished line starts */
	char		 last;		/* the last key byte */
	int		 rows;		/* of the screen */
	int		 tall;		/* the input may be taller */
};

static size_t
ref_prev(const struct ref *f, size_t i)
{
	while (i > 0 && ((unsigned char)f->line[--i] & 0xC0) == 0x80)
		continue;
	return i;
}

static size_t
ref_next(const struct ref *f, size_t i)
{
	if (i < f->len)
		while (++i < f->len &&
		    ((unsigned char)f->line[i] & 0xC0) == 0x80)
			continue;
	return i;
}

static void
ref_cut(struct ref *f, size_t from, size_t to)
{
	memmove(f->line + from, f->line + to, f->len - to);
	f->len -= to - from;
	f->cursor = from;
}

static void
ref_load(struct ref *f, const char *s, size_t n)
{
	memcpy(f->line, s, n);
	f->len = f->cursor = n;
}

static void
ref_walk(struct ref *f, int step)
{
	if (step < 0) {
		if (f->at == 0)
			return;
		if (f->at == f->history.n) {
			memcpy(f->saved, f->line, f->len);
			f->savedlen = f->len;
		}
		f->at--;
	} else {
		if (f->at == f->history.n)
			return;
		f->at++;
	}
	if (f->at == f->history.n)
		ref_load(f, f->saved, f->savedlen);
	else
		ref_load(f, f->history.v[f->at], strlen(f->history.v[f->at]));
}

/* Enter on the model: the line sent, its echo, the history. */
static void
ref_enter(struct run *u, struct strs *echoes)
{
	struct ref	*f = &u->f;
	char		 buf[300];

	memcpy(buf, "you: ", 5);
	memcpy(buf + 5, f->line, f->len);
	strs_push(echoes, buf, f->len + 5);
	memcpy(u->sent + u->sentlen, f->line, f->len);
	u->sentlen += f->len;
	u->sent[u->sentlen++] = '\n';
	if (f->len > 0 && (f->history.n == 0 ||
	    strlen(f->history.v[f->history.n - 1]) != f->len ||
	    memcmp(f->history.v[f->history.n - 1], f->line, f->len) != 0))
		strs_push(&f->history, f->line, f->len);
	f->at = f->history.n;
	f->len = f->cursor = 0;
}

/*
 * Appends one random edit's keys, applies it to the model, and returns 1
 * if it was Enter.
 */
static int
random_edit(struct run *u, char *keys, size_t *nkeys, struct strs *echoes)
{
	static const char	*glyphs[] = { "a", "b", "z", " ", " ", E_ACUTE,
	    EURO, GRIN, KAN, ACUTE };
	static const char	*lefts[] = { LEFT, "\033OD", "\x02" };
	static const char	*rights[] = { RIGHT, "\033OC", "\x06" };
	static const char	*homes[] = { HOME, "\033OH", "\033[1~",
	    "\033[7~", "\x01" };
	static const char	*ends[] = { END, "\033OF", "\033[4~",
	    "\033[8~", "\x05" };
	static const char	*ups[] = { UP, "\033OA", "\x10" };
	static const char	*downs[] = { DOWN, "\033OB", "\x0e" };
	struct ref		*f = &u->f;
	const char		*k;
	size_t			 n, i;
	uint32_t		 pick = rnd(&u->seed) % 100;
	int			 enter = 0;

	if (pick < 45) {
		k = glyphs[rnd(&u->seed) % 10];
		n = strlen(k);
		/* Kept short, unless tall, so the region fits the screen. */
		if ((!u->tall &&
		    cols_of(f->line, f->len) + cols_of(k, n) > 24) ||
		    f->len + n > 200)
			k = "";
		else {
			memmove(f->line + f->cursor + n, f->line + f->cursor,
			    f->len - f->cursor);
			memcpy(f->line + f->cursor, k, n);
			f->len += n;
			f->cursor += n;
		}
	} else if (pick < 53) {
		k = lefts[rnd(&u->seed) % 3];
		f->cursor = ref_prev(f, f->cursor);
	} else if (pick < 60) {
		k = rights[rnd(&u->seed) % 3];
		f->cursor = ref_next(f, f->cursor);
	} else if (pick < 63) {
		k = homes[rnd(&u->seed) % 5];
		f->cursor = 0;
	} else if (pick < 66) {
		k = ends[rnd(&u->seed) % 5];
		f->cursor = f->len;
	} else if (pick < 72) {
		k = rnd(&u->seed) % 2 ? "\x7f" : "\b";
		ref_cut(f, ref_prev(f, f->cursor), f->cursor);
	} else if (pick < 76) {
		k = DELETE;
		ref_cut(f, f->cursor, ref_next(f, f->cursor));
	} else if (pick < 77) {
		k = "\x15";
		ref_cut(f, 0, f->cursor);
	} else if (pick < 79) {
		k = "\x17";
		i = f->cursor;
		while (i > 0 && f->line[i - 1] == ' ')
			i--;
		while (i > 0 && f->line[i - 1] != ' ')
			i--;
		ref_cut(f, i, f->cursor);
	} else if (pick < 81) {
		k = "\x0c";
	} else if (pick < 86) {
		k = ups[rnd(&u->seed) % 3];
		ref_walk(f, -1);
	} else if (pick < 89) {
		k = downs[rnd(&u->seed) % 3];
		ref_walk(f, 1);
	} else {
		/* A \n right after a \r would be part of that Enter. */
		i = rnd(&u->seed) % 3;
		k = i == 0 ? "\r" : i == 1 ? "\r\n" :
		    (*nkeys > 0 ? keys[*nkeys - 1] : u->last) == '\r' ?
		    "\r" : "\n";
		ref_enter(u, echoes);
		enter = 1;
	}
	n = strlen(k);
	memcpy(keys + *nkeys, k, n);
	*nkeys += n;
	return enter;
}

/* The peer's stream, made of pieces that wrap, split and tab. */
static void
random_peer(struct run *u)
{
	static const char	*pieces[] = { "lorem ", "ipsum", "e" ACUTE,
	    E_ACUTE, EURO, GRIN, KAN KAN, "\t", " ", "\n", "\n", "x",
	    "0123456789012345678901234567890123456789" };
	const char		*p;
	size_t			 n;

	for (;;) {
		p = pieces[rnd(&u->seed) %
		    (sizeof(pieces) / sizeof(pieces[0]))];
		n = strlen(p);
		if (u->peerlen + n + 1 >= sizeof(u->peer))
			break;
		memcpy(u->peer + u->peerlen, p, n);
		u->peerlen += n;
	}
	u->peer[u->peerlen] = '\0';
}

/* Prints the peer's next few bytes and records the lines they end. */
static void
peer_chunk(struct run *u)
{
	size_t	n = 1 + rnd(&u->seed) % 12, i;

	if (u->fed + n > u->peerlen)
		n = u->peerlen - u->fed;
	rig_print_n(&u->r, u->peer + u->fed, n);
	for (i = u->fed; i < u->fed + n; i++)
		if (u->peer[i] == '\n') {
			expand(u->peer + u->line_start, i - u->line_start,
			    &u->screen);
			u->line_start = i + 1;
		}
	u->fed += n;
}

/* The end of the whole characters of the peer's unfinished line. */
static size_t
peer_shown_end(const struct run *u)
{
	size_t		k, step;
	uint32_t	cp;

	for (k = u->line_start; k < u->fed; k += step)
		if ((step = decode(u->peer + k, u->fed - k, &cp)) == 0)
			break;
	return k;
}

/*
 * Before a line of ours, the peer's unfinished line ends if it has
 * outgrown the rows it may take in the region; the tab stops start again
 * after it.
 */
static void
peer_break(struct run *u)
{
	struct strs	part = { NULL, 0 };
	size_t		end = peer_shown_end(u);

	expand(u->peer + u->line_start, end - u->line_start, &part);
	if (rows_of(u->r.term->cols, part.v[0]) > partial_cap(u->rows)) {
		strs_push(&u->screen, part.v[0], strlen(part.v[0]));
		u->line_start = end;
	}
	strs_free(&part);
}

/*
 * Checks the screen: line for line where the input is short, row for row
 * where it may be taller than the screen.
 */
static int
run_check(struct run *u)
{
	struct strs	want = { NULL, 0 }, part = { NULL, 0 };
	char		prompt_line[300], input[256];
	size_t		i, end = peer_shown_end(u);
	int		ok, prow = 0, cap = partial_cap(u->rows);

	for (i = 0; i < u->screen.n; i++)
		strs_push(&want, u->screen.v[i], strlen(u->screen.v[i]));
	if (end > u->line_start)
		expand(u->peer + u->line_start, end - u->line_start, &part);
	if (u->tall) {
		memcpy(input, u->f.line, u->f.len);
		input[u->f.len] = '\0';
		/* Rows go for good cap at a time, before a row past cap. */
		if (part.n > 0)
			prow = (rows_of(u->r.term->cols, part.v[0]) - 1) %
			    cap + 1;
		ok = tall_matches(&u->r, &want, part.n > 0 ? part.v[0] : "",
		    prow, input, u->f.cursor, NULL);
	} else {
		if (part.n > 0)
			strs_push(&want, part.v[0], strlen(part.v[0]));
		memcpy(prompt_line, "> ", 2);
		memcpy(prompt_line + 2, u->f.line, u->f.len);
		strs_push(&want, prompt_line, u->f.len + 2);
		ok = screen_matches(&u->r, &want, u->f.line, u->f.cursor,
		    NULL);
	}
	strs_free(&part);
	strs_free(&want);
	if (ok && (u->r.sent.len != u->sentlen || (u->sentlen > 0 &&
	    memcmp(u->r.sent.data, u->sent, u->sentlen) != 0))) {
		tap_diag("sent \"%.*s\", want \"%.*s\"", (int)u->r.sent.len,
		    u->r.sent.data, (int)u->sentlen, u->sent);
		ok = 0;
	}
	return ok;
}

/*
 * Returns the batches run, or -1 after the first that went wrong.  tall
 * lets the input grow taller than the screen.
 */
static int
random_run(uint32_t seed, int cols, int rows, int tall, int batches)
{
	static struct run	 u;
	struct strs		 echoes = { NULL, 0 };
	char			 keys[256];
	size_t			 nkeys, enters[8], nenters, cut, next, e;
	int			 batch, j, ok = 1;

	memset(&u, 0, sizeof(u));
	u.seed = seed;
	u.rows = rows;
	u.tall = tall;
	random_peer(&u);
	rig_open(&u.r, cols, rows, "> ", "you: ", 0);
	u.r.term->clear_scrolls = tall;
	for (batch = 0; batch < batches && ok; batch++) {
		while (rnd(&u.seed) % 2 == 0 && u.fed < u.peerlen)
			peer_chunk(&u);
		nkeys = nenters = 0;
		for (j = 1 + (int)(rnd(&u.seed) % 4); j > 0; j--) {
			cut = nkeys;
			if (random_edit(&u, keys, &nkeys, &echoes))
				enters[nenters++] = cut;
		}
		/* Fed in pieces, between the peer's; echoes go as fed. */
		for (cut = 0, e = 0; cut < nkeys; cut = next) {
			next = cut + 1 + rnd(&u.seed) % 5;
			if (next > nkeys)
				next = nkeys;
			for (; e < nenters && enters[e] < next; e++) {
				peer_break(&u);
				strs_push(&u.screen, echoes.v[e],
				    strlen(echoes.v[e]));
			}
			rig_keys_n(&u.r, keys + cut, next - cut);
			if (rnd(&u.seed) % 4 == 0 && u.fed < u.peerlen)
				peer_chunk(&u);
		}
		if (nkeys > 0)
			u.last = keys[nkeys - 1];
		strs_free(&echoes);
		ok = run_check(&u);
	}
	if (!ok)
		tap_diag("seed %u, %dx%d: wrong after batch %d", seed, cols,
		    rows, batch);
	strs_free(&u.screen);
	strs_free(&u.f.history);
	rig_close(&u.r);
	return ok ? batch : -1;
}

static void
test_random(void)
{
	static const int	widths[] = { 10, 20, 40 };
	uint32_t		seed;
	size_t			i;

	static const struct {
		int	cols, rows;
	} small[] = { { 10, 3 }, { 10, 5 }, { 20, 4 }, { 9, 8 } };

	for (i = 0; i < sizeof(widths) / sizeof(widths[0]); i++)
		for (seed = 1; seed <= 4; seed++)
			tap_ok(random_run(seed * 2654435761u, widths[i], 12, 0,
			    300) == 300,
			    "random run %u at width %d: screen and wire right "
			    "after every batch", seed, widths[i]);
	for (i = 0; i < sizeof(small) / sizeof(small[0]); i++)
		for (seed = 1; seed <= 3; seed++)
			tap_ok(random_run(seed * 2654435761u, small[i].cols,
			    small[i].rows, 1, 300) == 300,
			    "random run %u at %dx%d, input up to 200 bytes: "
			    "screen and wire right after every batch", seed,
			    small[i].cols, small[i].rows);
}

/*
 * The peer's text printed in pieces of piece bytes (0: whole) and the
 * same text a byte at a time, which takes none of editor_print's fast
 * paths (each needs a line ending or 16 bytes within one call), leave
 * the same screen, scrollback and cursor.  The text is typed over with
 * a half line, so the prompt is drawn over what the fast paths left.
 */
static int
print_same(int cols, int rows, int stamps, const char *text, size_t n,
    size_t piece)
{
	struct rig	a, b;
	struct strs	la = { NULL, 0 }, lb = { NULL, 0 };
	size_t		i, k, sa, sb;
	time_t		minute;
	int		same, tries = 0;

	do {
		minute = time(NULL) / 60;
		rig_open(&a, cols, rows, "> ", "you: ", stamps);
		rig_open(&b, cols, rows, "> ", "you: ", stamps);
		rig_keys(&a, "half");
		rig_keys(&b, "half");
		for (i = 0; i < n; i += k) {
			k = piece == 0 || n - i < piece ? n - i : piece;
			rig_print_n(&a, text + i, k);
		}
		for (i = 0; i < n; i++)
			rig_print_n(&b, text + i, 1);
		rig_keys(&a, " typed");
		rig_keys(&b, " typed");
		term_lines(a.term, &la, &sa);
		term_lines(b.term, &lb, &sb);
		same = la.n == lb.n && sa == sb && a.term->row == b.term->row &&
		    a.term->col == b.term->col && a.term->errors == 0 &&
		    b.term->errors == 0;
		for (i = 0; same && i < la.n; i++)
			same = strcmp(la.v[i], lb.v[i]) == 0;
		if (!same)
			for (i = 0; i < la.n || i < lb.n; i++)
				if (i >= la.n || i >= lb.n ||
				    strcmp(la.v[i], lb.v[i]) != 0) {
					tap_diag("line %zu: \"%s\" and \"%s\"",
					    i, i < la.n ? la.v[i] : "-",
					    i < lb.n ? lb.v[i] : "-");
					break;
				}
		strs_free(&la);
		strs_free(&lb);
		rig_close(&a);
		rig_close(&b);
		/* Time stamps of two minutes would differ: once more. */
	} while (stamps && time(NULL) / 60 != minute && ++tries < 3);
	return same;
}

/* print_same on a wide screen and two small ones; returns the failures. */
static size_t
print_same_sizes(int stamps, const char *text, size_t n, size_t piece)
{
	static const int sizes[][2] = { { 80, 24 }, { 10, 5 }, { 7, 3 } };
	size_t		z, bad = 0;

	for (z = 0; z < sizeof(sizes) / sizeof(sizes[0]); z++)
		if (!print_same(sizes[z][0], sizes[z][1], stamps, text, n,
		    piece))
			bad++;
	return bad;
}

/*
 * editor_print's fast paths (whole ASCII lines straight to the output,
 * 16 bytes a step) against its character at a time path.
 */
static void
test_print_fast(void)
{
	static const char *const specials[] = { "\t", "\r", "\033", "\177",
	    "\001", E_ACUTE, KAN, GRIN, ACUTE, "\x80", "\xc3", "\xff" };
	char		text[20000 + 64];
	size_t		n, k, si, piece, bad;
	int		stamps;

	/* A byte that is no printable ASCII at each offset of two steps. */
	for (si = 0; si < sizeof(specials) / sizeof(specials[0]); si++) {
		bad = 0;
		for (k = 0; k < 33; k++) {
			n = (size_t)snprintf(text, sizeof(text),
			    "first line of text, 33 bytes.\n%.*s%s"
			    "after it\nand more of it, long enough to "
			    "take a step\nend", (int)k,
			    "0123456789abcdefghijklmnopqrstuvwxyz",
			    specials[si]);
			bad += print_same_sizes(0, text, n, 0);
		}
		tap_ok(bad == 0, "print: byte %zu of the odd ones at each "
		    "offset 0..32 of a line, 3 sizes: as a byte at a time",
		    si);
	}

	/* Lines of every length 0..40, cut into pieces of many sizes. */
	n = 0;
	for (k = 0; k <= 40; k++) {
		memset(text + n, 'a' + (int)(k % 26), k);
		n += k;
		text[n++] = '\n';
	}
	memcpy(text + n, "unfinished", 10);
	n += 10;
	for (stamps = 0; stamps <= 1; stamps++) {
		bad = 0;
		for (piece = 0; piece <= 40; piece++)
			bad += print_same_sizes(stamps, text, n, piece);
		tap_ok(bad == 0, "print: lines of 0..40 bytes in pieces of "
		    "1..40 and whole, 3 sizes%s: as a byte at a time",
		    stamps ? ", time stamps" : "");
	}

	/* A run that ends where a piece ends, then its line's end. */
	bad = 0;
	for (piece = 1; piece <= 48; piece++) {
		n = (size_t)snprintf(text, sizeof(text), "%.*s\n%.*s\n",
		    (int)piece, "0123456789012345678901234567890123456789"
		    "0123456789", 20, "abcdefghijklmnopqrstuvwxyz");
		bad += print_same_sizes(0, text, n, piece);
	}
	tap_ok(bad == 0, "print: a run ending at a piece's end: as a byte at "
	    "a time");

	/* UTF-8 cut between two pieces at every byte. */
	n = (size_t)snprintf(text, sizeof(text), "0123456789abcdef" E_ACUTE
	    KAN GRIN "x" ACUTE "0123456789abcdef\n" KAN "0123456789abcdef"
	    "0123456789\n");
	bad = 0;
	for (piece = 1; piece <= n; piece++)
		bad += print_same_sizes(0, text, n, piece);
	tap_ok(bad == 0, "print: UTF-8 cut between pieces at every byte: as "
	    "a byte at a time");

	/* More line ends than the output has room for at first. */
	bad = 0;
	for (k = 1; k <= 3; k++) {
		for (n = 0; n + k + 1 <= 3000; n += k + 1) {
			memset(text + n, 'x', k - 1);
			text[n + k - 1] = '\n';
			text[n + k] = '\n';
		}
		bad += print_same_sizes(0, text, n, 0);
	}
	tap_ok(bad == 0, "print: 3000 bytes of lines of 0..2 bytes: as a "
	    "byte at a time");

	/* Rows written for good as a line wraps; one too long to keep. */
	for (k = 0; k < 2; k++) {
		n = k == 0 ? 1000 : 20000;
		memset(text, 'w', n);
		text[n++] = '\n';
		memcpy(text + n, "next\n", 5);
		n += 5;
		bad = print_same_sizes(0, text, n, 0) +
		    print_same_sizes(0, text, n, 4096);
		tap_ok(bad == 0, "print: a line of %zu bytes, whole and in "
		    "pieces: as a byte at a time", n - 6);
	}
}

/* Counts the times needle is in the n bytes at hay. */
static size_t
count_of(const char *hay, size_t n, const char *needle)
{
	size_t	i, k = strlen(needle), c = 0;

	for (i = 0; i + k <= n; i++)
		if (memcmp(hay + i, needle, k) == 0)
			c++;
	return c;
}

/*
 * Feeds keys to a fresh editor (cols x rows, a peer's unfinished line
 * first) in pieces: cut at cut1 and cut2 (n for none), or byte by byte
 * with bytewise.  Leaves the rig open for the caller.
 */
static void
paste_feed(struct rig *r, int cols, int rows, const char *keys, size_t n,
    size_t cut1, size_t cut2, int bytewise)
{
	size_t	i;

	rig_open(r, cols, rows, "> ", "you: ", 0);
	rig_print(r, "peer line\npeer unfinished");
	if (bytewise) {
		for (i = 0; i < n; i++)
			rig_keys_n(r, keys + i, 1);
		return;
	}
	rig_keys_n(r, keys, cut1);
	rig_keys_n(r, keys + cut1, cut2 - cut1);
	rig_keys_n(r, keys + cut2, n - cut2);
}

/* Whether two rigs show the same lines, cursor and wire. */
static int
paste_same(struct rig *a, struct rig *b)
{
	struct strs	la = { NULL, 0 }, lb = { NULL, 0 };
	size_t		sa, sb, i;
	int		ok;

	term_lines(a->term, &la, &sa);
	term_lines(b->term, &lb, &sb);
	ok = la.n == lb.n && sa == sb && a->term->errors == 0 &&
	    b->term->errors == 0 && a->term->row == b->term->row &&
	    a->term->col == b->term->col &&
	    a->term->nscrolled == b->term->nscrolled &&
	    a->sent.len == b->sent.len && a->lines == b->lines &&
	    memcmp(a->sent.data, b->sent.data, a->sent.len) == 0;
	for (i = 0; ok && i < la.n; i++)
		ok = strcmp(la.v[i], lb.v[i]) == 0;
	if (!ok) {
		show_lines("whole", &la);
		show_lines("split", &lb);
	}
	strs_free(&la);
	strs_free(&lb);
	return ok;
}

/*
 * A paste (many lines in one read) is echoed as its lines in one run of
 * the own style, with the region drawn once after them; the screen and
 * the wire are what the same keys give fed in any pieces, which take the
 * path of one line at a time.
 */
static void
test_paste(void)
{
	/* Lines with UTF-8, editing keys, escapes, CR LF, a tab, DEL. */
	static const char keys[] =
	    "first line\r\n"
	    "caf" E_ACUTE " " KAN " two\r"
	    "typo\x7f\x7fo" LEFT LEFT "x" END "\n"
	    "gone\x15kept \x17word " GRIN "\r\n"
	    HOME "<" END ">" DELETE "\r"
	    "\x1b" "a meta\tand tab\r\n"
	    "tail " EURO " not ended";
	struct strs	 want = { NULL, 0 };
	struct rig	 whole, split;
	char		 big[64 * 32], line[32];
	size_t		 n = sizeof(keys) - 1, i, j, len = 0, bad = 0;
	int		 k;

	paste_feed(&whole, 80, 24, keys, n, n, n, 0);
	check_sent(&whole, "first line\n"
	    "caf" E_ACUTE " " KAN " two\n"
	    "txyo\n"
	    "word " GRIN "\n"
	    "<>\n"
	    " metaand tab\n",
	    "a paste with editing keys sends the lines as typed");
	rig_close(&whole);

	paste_feed(&whole, 80, 24, keys, n, n, n, 0);
	paste_feed(&split, 80, 24, keys, n, 0, n, 1);
	tap_ok(paste_same(&whole, &split), "a paste whole and byte by byte: "
	    "the same screen, cursor and wire");
	rig_close(&split);
	for (i = 0; i <= n; i++)
		for (j = i; j <= n; j += 7) {
			paste_feed(&split, 80, 24, keys, n, i, j, 0);
			if (!paste_same(&whole, &split) && bad++ == 0)
				tap_diag("cut at %zu and %zu", i, j);
			rig_close(&split);
		}
	tap_ok(bad == 0, "a paste cut anywhere, mid-UTF-8 and mid-escape "
	    "included: the same screen, cursor and wire (%zu differ)", bad);
	rig_close(&whole);

	/* Narrow and short: the lines wrap and scroll the screen away. */
	paste_feed(&whole, 9, 5, keys, n, n, n, 0);
	for (i = 0, bad = 0; i <= n; i++) {
		paste_feed(&split, 9, 5, keys, n, i, n, 0);
		bad += !paste_same(&whole, &split);
		rig_close(&split);
	}
	tap_ok(bad == 0, "at 9x5, a paste cut anywhere: the same screen "
	    "(%zu differ)", bad);
	rig_close(&whole);

	/* Sixty-four lines: one style run, one prompt. */
	for (k = 0; k < 64; k++) {
		snprintf(line, sizeof(line), "pasted %02d\r", k);
		memcpy(big + len, line, strlen(line));
		len += strlen(line);
	}
	rig_open(&whole, 80, 24, "> ", "you: ", 0);
	rig_print(&whole, "peer unfinished");
	whole.lines += editor_keys(whole.ed, big, len, &whole.out,
	    &whole.sent);
	tap_ok(whole.lines == 64 && whole.sent.len == 64 * 10,
	    "64 pasted lines are 64 lines on the wire");
	tap_ok(count_of(whole.out.data, whole.out.len, "\033[1m") == 1 &&
	    count_of(whole.out.data, whole.out.len, "\033[0m") == 1,
	    "their echo is one run of the own style");
	tap_ok(count_of(whole.out.data, whole.out.len, "> ") == 1 &&
	    count_of(whole.out.data, whole.out.len, "peer unfinished") == 1,
	    "the region (the peer's line, the prompt) is drawn once after "
	    "them");
	rig_drain(&whole);
	for (k = 0; k < 64; k++) {
		snprintf(line, sizeof(line), "you: pasted %02d", k);
		strs_push(&want, line, strlen(line));
	}
	strs_push(&want, "peer unfinished", 15);
	strs_push(&want, "> ", 2);
	screen_matches(&whole, &want, "", 0, "and the screen shows every "
	    "line, the peer's unfinished one and the prompt below them");
	strs_free(&want);
	rig_close(&whole);
}

int
main(void)
{
	if (setlocale(LC_CTYPE, "C.UTF-8") == NULL) {
		printf("1..0 # SKIP no C.UTF-8 locale\n");
		return 0;
	}
	test_editing();
	test_nul();
	test_utf8();
	test_splits();
	test_print_fast();
	test_enter();
	test_paste();
	test_history();
	test_limit();
	test_print_while_typing();
	test_render();
	test_tabs_notes_stamps();
	test_resize();
	test_marks();
	test_buffers();
	test_partial_rows();
	test_tall();
	test_tall_small();
	test_tall_partial();
	test_tall_resize();
	test_random();
	return tap_done();
}
