/*
 * The key parser, for the chat line editor: the bytes a terminal's
 * keyboard sends in, keys out (text, controls, Enter, and the cursor and
 * editing keys that come as ESC [ or ESC O sequences).  What a key does is
 * the editor's business; this file only says which key was pressed.
 *
 * As on a VT100, a C0 control inside an escape sequence is acted on and
 * the sequence goes on; ESC starts one afresh, CAN and SUB cancel one.
 * Focus reports (CSI I, CSI O) are keys of their own, never text.
 * Sequences keys_escape does not know (mouse reports, keys we do not
 * bind) are read to their end and dropped, and so are ESC followed
 * by an ASCII character (Meta) and C1 code points.  State is kept between
 * calls, so how the bytes were split does not matter.
 */
#include <stdint.h>

#include "ptychat.h"

/* What a complete CSI or SS3 sequence was; modifiers are ignored. */
static enum key_kind
keys_escape(const struct keys *k, int ss3, unsigned char final)
{
	size_t	i;
	int	n = 0;

	if (k->params_odd)
		return KEY_NONE;
	if (final == '~') {
		if (ss3)
			return KEY_NONE;
		for (i = 0; i < k->nparams && k->params[i] != ';'; i++)
			if (n < 1000)
				n = n * 10 + (k->params[i] - '0');
		switch (n) {
		case 1:
		case 7:
			return KEY_HOME;
		case 4:
		case 8:
			return KEY_END;
		case 3:
			return KEY_DELETE;
		}
		return KEY_NONE;
	}
	switch (final) {
	case 'I':
	case 'O':
		if (ss3 || k->nparams > 0)
			return KEY_NONE;
		return final == 'I' ? KEY_FOCUS_IN : KEY_FOCUS_OUT;
	case 'A':
		return KEY_UP;
	case 'B':
		return KEY_DOWN;
	case 'C':
		return KEY_RIGHT;
	case 'D':
		return KEY_LEFT;
	case 'H':
		return KEY_HOME;
	case 'F':
		return KEY_END;
	}
	return KEY_NONE;
}

/* A C0 control or DEL, in or out of a sequence. */
static void
keys_control(struct keys *k, unsigned char c, struct key *key)
{
	switch (c) {
	case 0x1B:
		k->utf8.len = 0;
		k->state = KEYS_ESC;
		break;
	case 0x18:	/* CAN */
	case 0x1A:	/* SUB */
		k->state = KEYS_TEXT;
		break;
	case '\r':
		/* Enter; a \n straight after it is part of it. */
		k->held_cr = 1;
		/* FALLTHROUGH */
	case '\n':
		key->kind = KEY_ENTER;
		break;
	default:
		key->kind = KEY_CONTROL;
		key->cp = c;
		break;
	}
}

/* Reads one byte that is not part of a run of printable ASCII. */
static void
keys_byte(struct keys *k, unsigned char c, struct key *key)
{
	enum utf8_result	r;
	uint32_t		cp;
	int			ss3;

	switch (k->state) {
	case KEYS_ESC:
		if (c == '[' || c == 'O') {
			k->state = c == '[' ? KEYS_CSI : KEYS_SS3;
			k->nparams = 0;
			k->params_odd = 0;
			return;
		}
		if (c < 0x20) {
			keys_control(k, c, key);
			return;
		}
		/* ESC and ASCII (Meta): both dropped; UTF-8 is typed. */
		k->state = KEYS_TEXT;
		if (c <= 0x7F)
			return;
		break;
	case KEYS_CSI:
	case KEYS_SS3:
		if (c >= 0x20 && c <= 0x3F) {
			if (k->nparams == sizeof(k->params) ||
			    !((c >= '0' && c <= '9') || c == ';'))
				k->params_odd = 1;
			else
				k->params[k->nparams++] = (char)c;
			return;
		}
		if (c >= 0x40 && c <= 0x7E) {
			ss3 = k->state == KEYS_SS3;
			k->state = KEYS_TEXT;
			key->kind = keys_escape(k, ss3, c);
			return;
		}
		if (c < 0x20) {
			keys_control(k, c, key);
			return;
		}
		if (c == 0x7F)
			return;
		k->state = KEYS_TEXT;
		break;
	case KEYS_TEXT:
		break;
	}

	while ((r = utf8_feed(&k->utf8, c, &cp)) == UTF8_AGAIN)
		continue;
	if (r != UTF8_DONE)
		return;
	if (cp < 0x20 || cp == 0x7F)
		keys_control(k, c, key);
	else if (utf8_printable(cp)) {
		key->kind = KEY_CHAR;
		key->cp = cp;
		key->text = (const char *)k->utf8.seq;
		key->len = k->utf8.need;
	}
}

/*
 * Reads the n bytes at in up to the end of the first key.  Returns how
 * many it used, at least one if n > 0, and in *key what they completed:
 * KEY_NONE if they completed nothing.  A run of printable ASCII is one
 * KEY_TEXT, pointing into in.
 */
size_t
keys_parse(struct keys *k, const void *in, size_t n, struct key *key)
{
	const unsigned char	*p = in;
	size_t			 i = 0, run;
	uint32_t		 cp = 0;
	int			 r;

	key->kind = KEY_NONE;
	while (i < n && key->kind == KEY_NONE) {
		if (k->held_cr) {
			k->held_cr = 0;
			if (p[i] == '\n') {
				i++;
				continue;
			}
		}
		if (k->state == KEYS_TEXT && k->utf8.len == 0) {
			/* Typing and pastes: printable ASCII, a run at a time. */
			if ((run = utf8_ascii_run(p + i, n - i)) > 0) {
				key->kind = KEY_TEXT;
				key->text = (const char *)p + i;
				key->len = run;
				return i + run;
			}
			/* A character whole, if it is all here. */
			if (p[i] >= 0x80 &&
			    (r = utf8_decode(p + i, n - i, &cp)) != 0) {
				if (r > 0 && utf8_printable(cp)) {
					key->kind = KEY_CHAR;
					key->cp = cp;
					key->text = (const char *)p + i;
					key->len = (size_t)r;
				}
				i += (size_t)(r < 0 ? -r : r);
				continue;
			}
		}
		keys_byte(k, p[i++], key);
	}
	return i;
}
