/*
 * The least of telnet (RFC 854, 855, 860) that keeps a telnet client
 * talking: commands are taken out of what the client sends, every option
 * is refused, and each timing mark is answered, because a telnet client
 * that has sent DO TIMING-MARK throws away all it receives until the
 * answer comes.  No I/O here: the caller sends the replies and shows the
 * events.
 *
 * State carried between calls (a command cut in two, a subnegotiation)
 * makes the result independent of how the input was split.
 */
#include <arpa/telnet.h>
#include <string.h>

#include "ptychat.h"

enum {
	TELNET_DATA,		/* plain bytes */
	TELNET_COMMAND,		/* after IAC */
	TELNET_OPTION,		/* after IAC DO, DONT, WILL or WONT */
	TELNET_SUB,		/* inside IAC SB ... IAC SE */
	TELNET_SUB_COMMAND	/* after IAC inside a subnegotiation */
};

/*
 * The answer to IAC AYT: RFC 854 asks for visible evidence that the
 * system is still up.  It is also the longest reply there is.
 */
static const char telnet_here[] = "\r\n[ptychatd: yes, still here]\r\n";
#define TELNET_HERE_LEN		(sizeof telnet_here - 1)

void
telnet_init(struct telnet *t)
{
	memset(t, 0, sizeof *t);
	t->state = TELNET_DATA;
}

static void
telnet_reply(struct telnet *t, unsigned char verb, unsigned char option)
{
	t->reply[t->replylen++] = IAC;
	t->reply[t->replylen++] = verb;
	t->reply[t->replylen++] = option;
}

/*
 * Refuses the option the peer asked for, the first time only: answering
 * again would invite a loop with a peer that answers our answers.
 */
static void
telnet_refuse(struct telnet *t, int which, unsigned char verb,
    unsigned char option)
{
	unsigned char bit = (unsigned char)(1u << (option & 7));

	if (t->refused[which][option >> 3] & bit)
		return;
	t->refused[which][option >> 3] |= bit;
	telnet_reply(t, verb, option);
}

/* Acts on IAC verb option. */
static void
telnet_option(struct telnet *t, unsigned char verb, unsigned char option)
{
	switch (verb) {
	case DO:
		/* RFC 860: the mark means "all before it is processed". */
		if (option == TELOPT_TM)
			telnet_reply(t, WILL, TELOPT_TM);
		else
			telnet_refuse(t, 0, WONT, option);
		break;
	case WILL:
		telnet_refuse(t, 1, DONT, option);
		break;
	default:
		/* DONT and WONT ask for what we already do. */
		break;
	}
}

/* Counts one more byte of a subnegotiation, and leaves one too long. */
static enum telnet_event
telnet_sub_byte(struct telnet *t)
{
	t->state = TELNET_SUB;
	if (++t->sublen < TELNET_SUB_MAX)
		return TELNET_NONE;
	/* No option was agreed, so no subnegotiation is meant. */
	t->state = TELNET_DATA;
	return TELNET_SUB_TOO_LONG;
}

/*
 * Acts on IAC c, c not IAC.  Returns the event it is, or TELNET_NONE.
 */
static enum telnet_event
telnet_command(struct telnet *t, unsigned char c)
{
	t->state = TELNET_DATA;
	switch (c) {
	case DO:
	case DONT:
	case WILL:
	case WONT:
		t->verb = c;
		t->state = TELNET_OPTION;
		return TELNET_NONE;
	case SB:
		t->sublen = 0;
		t->state = TELNET_SUB;
		return TELNET_NONE;
	case IP:
		return TELNET_INTERRUPT;
	case BREAK:
		return TELNET_BREAK;
	case AO:
		return TELNET_ABORT_OUTPUT;
	case AYT:
		memcpy(t->reply + t->replylen, telnet_here, TELNET_HERE_LEN);
		t->replylen += TELNET_HERE_LEN;
		return TELNET_ARE_YOU_THERE;
	case EC:
		return TELNET_ERASE_CHAR;
	case EL:
		return TELNET_ERASE_LINE;
	default:
		/* NOP, DM, GA, a stray SE, and what no RFC we follow defines. */
		return TELNET_NONE;
	}
}

size_t
telnet_feed(struct telnet *t, const void *in, size_t len, void *data,
    size_t *datalen, enum telnet_event *event)
{
	const unsigned char *p = in, *end = p + len, *iac;
	unsigned char *o = data, c;
	size_t run;

	*event = TELNET_NONE;
	while (p < end && *event == TELNET_NONE) {
		if (t->replylen + TELNET_HERE_LEN > TELNET_REPLY_MAX)
			break;
		switch (t->state) {
		case TELNET_DATA:
			iac = memchr(p, IAC, (size_t)(end - p));
			run = (size_t)((iac != NULL ? iac : end) - p);
			/* Data may be written over the input, behind p. */
			if (o != p)
				memmove(o, p, run);
			o += run;
			p += run;
			if (p < end) {
				p++;
				t->state = TELNET_COMMAND;
			}
			break;
		case TELNET_COMMAND:
			c = *p++;
			if (c == IAC) {
				*o++ = IAC;
				t->state = TELNET_DATA;
			} else
				*event = telnet_command(t, c);
			break;
		case TELNET_OPTION:
			telnet_option(t, t->verb, *p++);
			t->state = TELNET_DATA;
			break;
		case TELNET_SUB:
			if (*p++ == IAC)
				t->state = TELNET_SUB_COMMAND;
			else
				*event = telnet_sub_byte(t);
			break;
		case TELNET_SUB_COMMAND:
			c = *p++;
			if (c == SE)
				t->state = TELNET_DATA;
			else if (c == IAC)
				*event = telnet_sub_byte(t);
			else
				/* SE forgotten: the command ends it. */
				*event = telnet_command(t, c);
			break;
		}
	}
	*datalen = (size_t)(o - (unsigned char *)data);
	return (size_t)(p - (const unsigned char *)in);
}

const char *
telnet_event_text(enum telnet_event event)
{
	switch (event) {
	case TELNET_INTERRUPT:
		return "an interrupt (telnet IP: its ^C)";
	case TELNET_BREAK:
		return "a break (telnet BRK; a 7-bit telnet also sends it in "
		    "place of some UTF-8 bytes)";
	case TELNET_ABORT_OUTPUT:
		return "abort output (telnet AO)";
	case TELNET_ARE_YOU_THERE:
		return "are you there? (telnet AYT; answered)";
	case TELNET_ERASE_CHAR:
		return "erase character (telnet EC)";
	case TELNET_ERASE_LINE:
		return "erase line (telnet EL)";
	case TELNET_SUB_TOO_LONG:
		return "an overlong telnet subnegotiation; what follows it is "
		    "shown as text";
	case TELNET_NONE:
		break;
	}
	return "nothing";
}
