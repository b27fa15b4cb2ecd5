/*
 * Unit tests for telnet.c.  Every row of the table is fed whole, split in
 * two at every point, and byte by byte with empty feeds between; each way
 * must give the same data, events and replies.  Data is written into a
 * buffer exactly as long as the input, so the address sanitiser catches
 * an overrun.  Events show in the data as {IP}, {BRK} and so on.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/ptychat.h"
#include "tap.h"

struct telnet_case {
	const char	*name;
	const char	*in;
	size_t		 inlen;
	const char	*want;		/* data, with the events */
	size_t		 wantlen;
	const char	*reply;
	size_t		 replylen;
};

/* A string literal and its length, which may count NUL bytes. */
#define S(s)	(s), sizeof(s) - 1

#define HERE	"\r\n[ptychatd: yes, still here]\r\n"
#define WILL_TM	"\xff\xfb\x06"

static const struct telnet_case cases[] = {
	{ "empty", S(""), S(""), S("") },
	{ "plain text", S("hello, world\r\n"), S("hello, world\r\n"), S("") },
	{ "NUL and controls pass", S("a\0b\x1b[0m\r\0"), S("a\0b\x1b[0m\r\0"),
	    S("") },
	{ "UTF-8 passes", S("caf\xc3\xa9 \xe2\x9c\x93"),
	    S("caf\xc3\xa9 \xe2\x9c\x93"), S("") },
	{ "IAC IAC is one 0xFF", S("\xff\xff"), S("\xff"), S("") },
	{ "IAC IAC between text", S("a\xff\xff" "b\xff\xff\xff\xff"),
	    S("a\xff" "b\xff\xff"), S("") },
	{ "IP", S("x\xff\xf4y"), S("x{IP}y"), S("") },
	{ "telnet's ^C: IP, DO TIMING-MARK", S("\xff\xf4\xff\xfd\x06"),
	    S("{IP}"), S(WILL_TM) },
	{ "7-bit telnet's check mark: BRK, DO TIMING-MARK",
	    S("a\xe2\xff\xf3\xff\xfd\x06\x93" "b\r\n"),
	    S("a\xe2{BRK}\x93" "b\r\n"), S(WILL_TM) },
	{ "AO", S("\xff\xf5"), S("{AO}"), S("") },
	{ "AYT is answered", S("hi\xff\xf6"), S("hi{AYT}"), S(HERE) },
	{ "EC", S("ab\xff\xf7"), S("ab{EC}"), S("") },
	{ "EL", S("ab\xff\xf8"), S("ab{EL}"), S("") },
	{ "NOP, DM and GA vanish", S("a\xff\xf1" "b\xff\xf2" "c\xff\xf9" "d"),
	    S("abcd"), S("") },
	{ "a stray SE vanishes", S("a\xff\xf0" "b"), S("ab"), S("") },
	{ "an unknown command vanishes", S("a\xff\x01" "b\xff\xef" "c"),
	    S("abc"), S("") },
	{ "DO ECHO: WONT ECHO", S("\xff\xfd\x01"), S(""), S("\xff\xfc\x01") },
	{ "WILL NAWS: DONT NAWS", S("\xff\xfb\x1f"), S(""),
	    S("\xff\xfe\x1f") },
	{ "DONT and WONT are not answered", S("\xff\xfe\x01\xff\xfc\x03"),
	    S(""), S("") },
	{ "DO ECHO twice: one WONT",
	    S("\xff\xfd\x01" "a\xff\xfd\x01" "b"), S("ab"), S("\xff\xfc\x01") },
	{ "WILL and DO of one option: refused each way once",
	    S("\xff\xfb\x01\xff\xfd\x01\xff\xfb\x01\xff\xfd\x01"), S(""),
	    S("\xff\xfe\x01\xff\xfc\x01") },
	{ "a refusal, then DONT: no loop",
	    S("\xff\xfd\x03\xff\xfe\x03\xff\xfd\x03"), S(""),
	    S("\xff\xfc\x03") },
	{ "DO TIMING-MARK is answered every time",
	    S("\xff\xfd\x06" "a\xff\xfd\x06\xff\xfd\x06"), S("a"),
	    S(WILL_TM WILL_TM WILL_TM) },
	{ "WILL TIMING-MARK: DONT, once",
	    S("\xff\xfb\x06\xff\xfb\x06"), S(""), S("\xff\xfe\x06") },
	{ "option 255 is an option, not IAC", S("\xff\xfd\xff" "a"),
	    S("a"), S("\xff\xfc\xff") },
	{ "option 0 (binary)", S("\xff\xfd\x00\xff\xfb\x00"), S(""),
	    S("\xff\xfc\x00\xff\xfe\x00") },
	{ "SB NAWS ... SE is skipped",
	    S("\xff\xfa\x1f\x00\x50\x00\x18\xff\xf0" "x"), S("x"), S("") },
	{ "IAC IAC inside SB is skipped too",
	    S("\xff\xfa\x18\xff\xff\x01\xff\xf0" "y"), S("y"), S("") },
	{ "a command ends an SB that forgot its SE",
	    S("\xff\xfa\x18\x01\x02\xff\xf4" "z"), S("{IP}z"), S("") },
	{ "DO inside an SB that forgot its SE",
	    S("\xff\xfa\x18\xff\xfd\x01" "z"), S("z"), S("\xff\xfc\x01") },
	{ "SB of an IAC byte only", S("\xff\xfa\xff\xff\xff\xf0" "q"), S("q"),
	    S("") },
	{ "IAC at the very end waits", S("abc\xff"), S("abc"), S("") },
	{ "IAC DO at the very end waits", S("abc\xff\xfd"), S("abc"), S("") },
	{ "everything at once",
	    S("\xff\xfd\x01\xff\xfd\x03\xff\xfb\x18\xff\xfb\x1f"
	    "name\xff\xff\r\n\xff\xf4\xff\xfd\x06\xff\xfa\x1f\x00\x50\xff\xf0"
	    "\xff\xf6" "end"),
	    S("name\xff\r\n{IP}{AYT}end"),
	    S("\xff\xfc\x01\xff\xfc\x03\xff\xfe\x18\xff\xfe\x1f" WILL_TM HERE) },
};

#define NCASES	(sizeof cases / sizeof cases[0])

static const char *const event_names[] = {
	[TELNET_NONE] = "NONE",
	[TELNET_INTERRUPT] = "IP",
	[TELNET_BREAK] = "BRK",
	[TELNET_ABORT_OUTPUT] = "AO",
	[TELNET_ARE_YOU_THERE] = "AYT",
	[TELNET_ERASE_CHAR] = "EC",
	[TELNET_ERASE_LINE] = "EL",
	[TELNET_SUB_TOO_LONG] = "SB",
};

/* A growing byte string. */
struct bytes {
	char	*buf;
	size_t	 len;
	size_t	 cap;
};

static void
bytes_add(struct bytes *b, const void *p, size_t n)
{
	while (b->len + n > b->cap) {
		b->cap = b->cap ? b->cap * 2 : 64;
		if ((b->buf = realloc(b->buf, b->cap)) == NULL) {
			perror("realloc");
			exit(2);
		}
	}
	if (n > 0)
		memcpy(b->buf + b->len, p, n);
	b->len += n;
}

/* What a run gave, and whether a call broke the contract. */
struct result {
	struct bytes	 view;		/* data and {EVENT}s */
	struct bytes	 reply;
	int		 broken;
	char		 why[128];
};

static void
result_free(struct result *r)
{
	free(r->view.buf);
	free(r->reply.buf);
}

/*
 * Feeds one chunk as the relay does: until it is used up, sending the
 * replies after each call.  The data buffer has exactly len bytes.
 */
static void
feed(struct result *r, struct telnet *t, const char *in, size_t len)
{
	enum telnet_event ev;
	size_t used, datalen, at = 0;
	char *data, mark[16];

	data = malloc(len == 0 ? 1 : len);
	if (data == NULL)
		exit(2);
	do {
		used = telnet_feed(t, in + at, len - at, data, &datalen, &ev);
		if (used > len - at || datalen > used ||
		    t->replylen > TELNET_REPLY_MAX ||
		    (used == 0 && len - at > 0) || (used == 0 && ev != 0) ||
		    ev > TELNET_SUB_TOO_LONG) {
			r->broken = 1;
			snprintf(r->why, sizeof r->why, "at %zu of %zu: used %zu, "
			    "data %zu, reply %zu, event %d", at, len, used,
			    datalen, t->replylen, (int)ev);
			break;
		}
		bytes_add(&r->view, data, datalen);
		if (ev != TELNET_NONE) {
			snprintf(mark, sizeof mark, "{%s}", event_names[ev]);
			bytes_add(&r->view, mark, strlen(mark));
		}
		bytes_add(&r->reply, t->reply, t->replylen);
		t->replylen = 0;
		at += used;
	} while (at < len);
	free(data);
}

/* Feeds in, cut at each of cuts[0..ncuts), in order. */
static void
run(struct result *r, const char *in, size_t len, const size_t *cuts,
    size_t ncuts)
{
	struct telnet t;
	size_t i, at = 0, end;

	memset(r, 0, sizeof *r);
	telnet_init(&t);
	for (i = 0; i <= ncuts; i++) {
		end = i < ncuts ? cuts[i] : len;
		feed(r, &t, in + at, end - at);
		at = end;
	}
}

static int
result_is(const struct result *r, const char *view, size_t viewlen,
    const char *reply, size_t replylen)
{
	return !r->broken && r->view.len == viewlen &&
	    (viewlen == 0 || memcmp(r->view.buf, view, viewlen) == 0) &&
	    r->reply.len == replylen &&
	    (replylen == 0 || memcmp(r->reply.buf, reply, replylen) == 0);
}

static void
show(const char *label, const char *p, size_t n)
{
	char line[512];
	size_t i, o = 0;

	for (i = 0; i < n && o + 5 < sizeof line; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c >= 0x20 && c < 0x7f)
			line[o++] = (char)c;
		else
			o += (size_t)snprintf(line + o, sizeof line - o,
			    "\\x%02X", c);
	}
	line[o] = '\0';
	tap_diag("%s: \"%s\"", label, line);
}

/* Reports r against what it should be, and frees it. */
static void
result_check(struct result *r, const char *view, size_t viewlen,
    const char *reply, size_t replylen, const char *name)
{
	if (!tap_ok(result_is(r, view, viewlen, reply, replylen), "%s",
	    name)) {
		show("view", r->view.buf, r->view.len);
		show("reply", r->reply.buf, r->reply.len);
		if (r->broken)
			tap_diag("%s", r->why);
	}
	result_free(r);
}

static void
test_cases(void)
{
	const struct telnet_case *c;
	struct result r;
	size_t i, cut, *cuts;
	int split, bytewise;

	for (i = 0; i < NCASES; i++) {
		c = &cases[i];
		run(&r, c->in, c->inlen, NULL, 0);
		result_check(&r, c->want, c->wantlen, c->reply, c->replylen,
		    c->name);

		split = 1;
		for (cut = 0; cut <= c->inlen && split; cut++) {
			run(&r, c->in, c->inlen, &cut, 1);
			split = result_is(&r, c->want, c->wantlen, c->reply,
			    c->replylen);
			if (!split)
				tap_diag("cut at %zu", cut);
			result_free(&r);
		}
		tap_ok(split, "%s: split in two at every point", c->name);

		/* Every byte alone, and an empty feed between every two. */
		if ((cuts = calloc(2 * c->inlen + 1, sizeof *cuts)) == NULL)
			exit(2);
		for (cut = 0; cut < 2 * c->inlen; cut++)
			cuts[cut] = (cut + 1) / 2;
		run(&r, c->in, c->inlen, cuts, 2 * c->inlen);
		bytewise = result_is(&r, c->want, c->wantlen, c->reply,
		    c->replylen);
		tap_ok(bytewise, "%s: byte by byte", c->name);
		result_free(&r);
		free(cuts);
	}
}

/* Every option but TIMING-MARK is refused once each way, whatever comes. */
static void
test_refused_once(void)
{
	struct bytes in = { NULL, 0, 0 };
	struct result r;
	unsigned char cmd[3] = { 0xff, 0, 0 };
	int round, verb, opt, ok = 1;
	size_t i;

	for (round = 0; round < 3; round++)
		for (verb = 0xfb; verb <= 0xfe; verb++)
			for (opt = 0; opt < 256; opt++) {
				cmd[1] = (unsigned char)verb;
				cmd[2] = (unsigned char)opt;
				bytes_add(&in, cmd, 3);
			}
	run(&r, in.buf, in.len, NULL, 0);
	/* Round one: DONT x for WILL x, WONT x for DO x, WILL TM for DO TM. */
	tap_ok(!r.broken && r.view.len == 0, "3 x 4 x 256 negotiations: no "
	    "data, no event");
	tap_ok(r.reply.len == 3 * (256 + 256 + 2), "3 x 256 DO and WILL: "
	    "one refusal per option and direction, and 3 WILL TIMING-MARK "
	    "(%zu reply bytes)", r.reply.len);
	for (i = 0; i + 3 <= r.reply.len && ok; i += 3) {
		const unsigned char *p = (const unsigned char *)r.reply.buf + i;

		if (p[0] != 0xff || (p[1] == 0xfb && p[2] != 6) ||
		    (p[1] != 0xfb && p[1] != 0xfc && p[1] != 0xfe))
			ok = 0;
	}
	tap_ok(ok, "every reply is WONT x, DONT x or WILL TIMING-MARK");
	result_free(&r);
	free(in.buf);
}

/* A flood of DO TIMING-MARK and AYT: every one is answered, in bounds. */
static void
test_flood(void)
{
	struct bytes in = { NULL, 0, 0 }, want = { NULL, 0, 0 };
	struct bytes events = { NULL, 0, 0 };
	struct result r;
	int i;

	for (i = 0; i < 10000; i++) {
		bytes_add(&in, "\xff\xfd\x06\xff\xf6", 5);
		bytes_add(&want, WILL_TM HERE, 3 + sizeof HERE - 1);
		bytes_add(&events, "{AYT}", 5);
	}
	run(&r, in.buf, in.len, NULL, 0);
	result_check(&r, events.buf, events.len, want.buf, want.len, "10000 "
	    "DO TIMING-MARK and AYT in one chunk: each answered, the reply "
	    "buffer in bounds");
	free(in.buf);
	free(want.buf);
	free(events.buf);
}

/* Until the caller empties reply, a full one stops the parser. */
static void
test_reply_full(void)
{
	struct telnet t;
	enum telnet_event ev;
	char in[3 * 200], data[sizeof in];
	size_t used, again, datalen;
	int i;

	for (i = 0; i < 200; i++)
		memcpy(in + 3 * i, "\xff\xfd\x06", 3);
	telnet_init(&t);
	used = telnet_feed(&t, in, sizeof in, data, &datalen, &ev);
	tap_ok(used > 0 && used < sizeof in && t.replylen <= TELNET_REPLY_MAX &&
	    t.replylen == used, "600 bytes of DO TIMING-MARK: it stops with "
	    "%zu reply bytes for %zu input bytes", t.replylen, used);
	again = telnet_feed(&t, in + used, sizeof in - used, data, &datalen,
	    &ev);
	tap_ok(again == 0 && datalen == 0, "fed again without emptying "
	    "reply, it takes nothing (took %zu)", again);
	t.replylen = 0;
	again = telnet_feed(&t, in + used, sizeof in - used, data, &datalen,
	    &ev);
	tap_ok(again > 0, "emptied, it goes on");
}

/* The data may be written over the input, as the relay does. */
static void
test_in_place(void)
{
	struct telnet t;
	enum telnet_event ev;
	char buf[] = "a\xff\xff" "b\xff\xfb\x01" "c\xff\xfa\x01\xff\xf0" "d";
	size_t used, datalen, at = 0, len = sizeof buf - 1, out = 0;

	telnet_init(&t);
	while (at < len) {
		used = telnet_feed(&t, buf + at, len - at, buf + out, &datalen,
		    &ev);
		at += used;
		out += datalen;
		t.replylen = 0;
	}
	tap_ok(out == 5 && memcmp(buf, "a\xff" "bcd", 5) == 0, "data written "
	    "over its own input comes out right");
}

/* A subnegotiation is skipped up to TELNET_SUB_MAX bytes, and no more. */
static void
test_sub_bound(void)
{
	struct bytes in = { NULL, 0, 0 }, want = { NULL, 0, 0 };
	struct result r;
	int i;

	bytes_add(&in, "\xff\xfa", 2);
	for (i = 0; i < TELNET_SUB_MAX - 1; i++)
		bytes_add(&in, "A", 1);
	bytes_add(&in, "\xff\xf0" "kept", 6);
	run(&r, in.buf, in.len, NULL, 0);
	result_check(&r, "kept", 4, "", 0, "an SB one byte short of "
	    "TELNET_SUB_MAX is skipped whole");

	in.len = 0;
	bytes_add(&in, "\xff\xfa", 2);
	for (i = 0; i < TELNET_SUB_MAX + 100; i++)
		bytes_add(&in, i % 2 ? "\xff\xff" : "B", i % 2 ? 2 : 1);
	bytes_add(&in, "\xff\xf0" "after", 7);
	bytes_add(&want, "{SB}", 4);
	for (i = TELNET_SUB_MAX; i < TELNET_SUB_MAX + 100; i++)
		bytes_add(&want, i % 2 ? "\xff" : "B", 1);
	bytes_add(&want, "after", 5);
	run(&r, in.buf, in.len, NULL, 0);
	result_check(&r, want.buf, want.len, "", 0, "an SB that reaches "
	    "TELNET_SUB_MAX bytes (IAC IAC counted once) is left with an "
	    "event; what follows is data");
	free(in.buf);
	free(want.buf);
}

/* Random bytes, heavy in IAC: the contract holds and chunks don't matter. */
static void
test_hostile(void)
{
	static const unsigned char pick[] = { 0xff, 0xff, 0xff, 0xfa, 0xf0,
	    0xfb, 0xfc, 0xfd, 0xfe, 0xf4, 0xf6, 0x06, 'a', '\r', 0 };
	struct result whole, parts;
	size_t cuts[8], i, len = 4096;
	unsigned state = 12345;
	char *in;
	int round, same = 1, sane = 1;

	if ((in = malloc(len)) == NULL)
		exit(2);
	for (round = 0; round < 200; round++) {
		for (i = 0; i < len; i++) {
			state = state * 1103515245u + 12345u;
			in[i] = (char)pick[(state >> 16) % sizeof pick];
		}
		for (i = 0; i < 8; i++) {
			state = state * 1103515245u + 12345u;
			cuts[i] = (i ? cuts[i - 1] : 0) + (state >> 16) %
			    (len / 8);
		}
		run(&whole, in, len, NULL, 0);
		run(&parts, in, len, cuts, 8);
		if (whole.broken || parts.broken)
			sane = 0;
		if (!result_is(&parts, whole.view.buf, whole.view.len,
		    whole.reply.buf, whole.reply.len))
			same = 0;
		result_free(&whole);
		result_free(&parts);
	}
	free(in);
	tap_ok(sane, "200 x 4 KiB of IAC-heavy noise: every call keeps the "
	    "contract");
	tap_ok(same, "and cutting it in 9 pieces changes nothing");
}

static void
test_event_text(void)
{
	int e, ok = 1;

	for (e = TELNET_INTERRUPT; e <= TELNET_SUB_TOO_LONG; e++)
		if (strcmp(telnet_event_text((enum telnet_event)e),
		    "nothing") == 0)
			ok = 0;
	tap_ok(ok, "every event has words for the operator");
	tap_ok(strstr(telnet_event_text(TELNET_INTERRUPT), "^C") != NULL,
	    "the interrupt is called ^C");
}

int
main(void)
{
	test_cases();
	test_refused_once();
	test_flood();
	test_reply_full();
	test_in_place();
	test_sub_bound();
	test_hostile();
	test_event_text();
	return tap_done();
}
