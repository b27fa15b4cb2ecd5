/*
 * Transcripts (--log-dir): one file per session, mode 0600, a line per
 * line of conversation, each stamped with the time and a direction
 * marker: "<" from the client, ">" from the operator, "*" for events.
 * The text is what the sanitiser let through, so a transcript is as
 * safe to cat as the window was to read.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ptychat.h"

struct transcript {
	int		 fd;
	pthread_mutex_t	 lock;		/* both relays write here */
	int		 open_line;	/* marker of an unfinished line, or 0 */
};

/*
 * Opens a new transcript in dir for a session, named by its number,
 * peer and start time.  Returns it, or NULL with errno set.
 */
struct transcript *
transcript_open(const char *dir, unsigned long number, const struct peer *peer)
{
	struct transcript *t;
	char path[4096], when[32];
	struct tm tm;
	time_t now;

	now = time(NULL);
	localtime_r(&now, &tm);
	strftime(when, sizeof when, "%Y%m%d-%H%M%S", &tm);
	snprintf(path, sizeof path, "%s/session-%lu-%s-%s-%s.log", dir, number,
	    peer->host, peer->port, when);
	if ((t = calloc(1, sizeof *t)) == NULL)
		return NULL;
	/* O_EXCL and O_NOFOLLOW: never write through a planted file. */
	t->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC | O_APPEND, 0600);
	if (t->fd == -1) {
		free(t);
		return NULL;
	}
	pthread_mutex_init(&t->lock, NULL);
	return t;
}

/* Appends "YYYY-mm-dd HH:MM:SS M " to buf; returns its length. */
static size_t
transcript_stamp(char *buf, int marker)
{
	struct tm tm;
	time_t now;
	size_t n;

	now = time(NULL);
	localtime_r(&now, &tm);
	n = strftime(buf, 32, "%Y-%m-%d %H:%M:%S ", &tm);
	buf[n++] = (char)marker;
	buf[n++] = ' ';
	return n;
}

/*
 * Records len bytes of sanitised text going one way ('<' or '>').  Each
 * line gets its own stamp; a line left open by the other direction is
 * ended first, so the two never share a line.  Failures are ignored: a
 * full disk must not end the conversation.
 */
void
transcript_write(struct transcript *t, int marker, const char *text,
    size_t len)
{
	char *buf, *o;
	const char *nl;
	size_t chunk;

	if (t == NULL || len == 0)
		return;
	/* At worst, a stamp (and a newline) for every byte. */
	if ((buf = malloc(len * 34 + 2)) == NULL)
		return;
	pthread_mutex_lock(&t->lock);
	o = buf;
	while (len > 0) {
		if (t->open_line != marker) {
			if (t->open_line != 0)
				*o++ = '\n';
			o += transcript_stamp(o, marker);
			t->open_line = marker;
		}
		nl = memchr(text, '\n', len);
		chunk = nl ? (size_t)(nl - text) + 1 : len;
		memcpy(o, text, chunk);
		o += chunk;
		text += chunk;
		len -= chunk;
		if (nl != NULL)
			t->open_line = 0;
	}
	(void)io_write_all(t->fd, buf, (size_t)(o - buf));
	pthread_mutex_unlock(&t->lock);
	free(buf);
}

/* Records an event line ("*"). */
void
transcript_event(struct transcript *t, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	if (t == NULL)
		return;
	va_start(ap, fmt);
	n = vsnprintf(line, sizeof line - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof line - 2)
		n = sizeof line - 2;
	line[n++] = '\n';
	transcript_write(t, '*', line, (size_t)n);
}

/* Closes a transcript; NULL is fine. */
void
transcript_close(struct transcript *t)
{
	if (t == NULL)
		return;
	close(t->fd);
	pthread_mutex_destroy(&t->lock);
	free(t);
}
