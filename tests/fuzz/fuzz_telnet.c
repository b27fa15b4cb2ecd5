/*
 * libFuzzer target for the telnet parser.  The oracle, checked on every
 * input:
 * - each call uses no more than it was given, writes no more data than
 *   it used, keeps reply within TELNET_REPLY_MAX, and makes progress;
 * - every reply is IAC WONT x or IAC DONT x (each at most once per x),
 *   IAC WILL TIMING-MARK (no more often than the input holds IAC DO
 *   TIMING-MARK) or the AYT answer (no more often than IAC AYT);
 * - feeding the input whole, split at one point, or byte by byte gives
 *   the same data, events and replies;
 * - the input with every 0xFF doubled comes back as the input itself,
 *   with no reply and no event.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/ptychat.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define HERE	"\r\n[ptychatd: yes, still here]\r\n"

struct run {
	unsigned char	*data;		/* data, an event as 0xFF then its code */
	size_t		 datalen;
	unsigned char	*reply;
	size_t		 replylen;
	size_t		 replycap;
	size_t		 events;
};

/* Room enough: data and events never outgrow 2 bytes an input byte. */
static void
run_feed(struct run *r, struct telnet *t, const uint8_t *in, size_t len)
{
	enum telnet_event ev;
	size_t used, n, at = 0;

	do {
		used = telnet_feed(t, in + at, len - at, r->data + r->datalen,
		    &n, &ev);
		if (used > len - at || n > used ||
		    t->replylen > TELNET_REPLY_MAX ||
		    (used == 0 && at < len) || ev > TELNET_SUB_TOO_LONG)
			abort();
		r->datalen += n;
		if (ev != TELNET_NONE) {
			r->data[r->datalen++] = 0xff;
			r->data[r->datalen++] = (unsigned char)ev;
			r->events++;
		}
		while (r->replylen + t->replylen > r->replycap) {
			r->replycap *= 2;
			if ((r->reply = realloc(r->reply, r->replycap)) == NULL)
				abort();
		}
		memcpy(r->reply + r->replylen, t->reply, t->replylen);
		r->replylen += t->replylen;
		t->replylen = 0;
		at += used;
	} while (at < len);
}

/* Feeds in as a chunk of first bytes, then chunks of step bytes. */
static void
run(struct run *r, const uint8_t *in, size_t len, size_t first,
    size_t step)
{
	struct telnet t;
	size_t at, n;

	memset(r, 0, sizeof *r);
	r->replycap = TELNET_REPLY_MAX;
	if ((r->data = malloc(2 * len + 2)) == NULL ||
	    (r->reply = malloc(r->replycap)) == NULL)
		abort();
	telnet_init(&t);
	/* Even an empty first chunk is fed: it must change nothing. */
	at = first < len ? first : len;
	run_feed(r, &t, in, at);
	for (; at < len; at += n) {
		n = step < len - at ? step : len - at;
		run_feed(r, &t, in + at, n);
	}
}

static void
run_free(struct run *r)
{
	free(r->data);
	free(r->reply);
}

static int
same(const struct run *a, const struct run *b)
{
	return a->datalen == b->datalen && a->replylen == b->replylen &&
	    memcmp(a->data, b->data, a->datalen) == 0 &&
	    memcmp(a->reply, b->reply, a->replylen) == 0;
}

static size_t
count(const uint8_t *in, size_t len, const char *pat, size_t patlen)
{
	size_t i, n = 0;

	for (i = 0; i + patlen <= len; i++)
		if (memcmp(in + i, pat, patlen) == 0)
			n++;
	return n;
}

/* Checks the shape of every reply; returns 0 when one is wrong. */
static int
replies_ok(const struct run *r, const uint8_t *in, size_t len)
{
	unsigned char wont[256] = { 0 }, dont[256] = { 0 };
	size_t i = 0, tm = 0, here = 0;
	const unsigned char *p = r->reply;

	while (i < r->replylen) {
		if (r->replylen - i >= sizeof HERE - 1 &&
		    memcmp(p + i, HERE, sizeof HERE - 1) == 0) {
			here++;
			i += sizeof HERE - 1;
			continue;
		}
		if (r->replylen - i < 3 || p[i] != 0xff)
			return 0;
		if (p[i + 1] == 0xfb && p[i + 2] == 6)
			tm++;
		else if (p[i + 1] == 0xfc && p[i + 2] != 6 &&
		    !wont[p[i + 2]]++)
			;
		else if (p[i + 1] == 0xfe && !dont[p[i + 2]]++)
			;
		else
			return 0;
		i += 3;
	}
	return tm <= count(in, len, "\xff\xfd\x06", 3) &&
	    here <= count(in, len, "\xff\xf6", 2);
}

int
LLVMFuzzerTestOneInput(const uint8_t *in, size_t len)
{
	struct run whole, split, bytes, escaped;
	size_t i, n;
	uint8_t *esc;

	run(&whole, in, len, len, len);
	if (whole.datalen - 2 * whole.events > len ||
	    !replies_ok(&whole, in, len))
		abort();

	run(&split, in, len, len ? in[0] % (len + 1) : 0, len);
	if (!same(&whole, &split))
		abort();

	run(&bytes, in, len, 1, 1);
	if (!same(&whole, &bytes))
		abort();

	if ((esc = malloc(2 * len + 1)) == NULL)
		abort();
	for (i = n = 0; i < len; i++) {
		esc[n++] = in[i];
		if (in[i] == 0xff)
			esc[n++] = 0xff;
	}
	run(&escaped, esc, n, n, n);
	if (escaped.datalen != len || escaped.replylen != 0 ||
	    escaped.events != 0 || memcmp(escaped.data, in, len) != 0)
		abort();

	run_free(&whole);
	run_free(&split);
	run_free(&bytes);
	run_free(&escaped);
	free(esc);
	return 0;
}
