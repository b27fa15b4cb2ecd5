/*
 * A session's outbox: what other threads want sent to the client.
 *
 * The client's socket has one writer, the window -> socket relay.  The
 * console (say, all) and the socket -> window relay (telnet replies) never
 * send themselves: they put whole messages here and ring the writer's
 * doorbell, and the writer sends them between the operator's lines, so
 * nothing lands inside anything else.  The lock is never held across I/O,
 * so putting is quick for every thread, the main thread included.
 *
 * The outbox is bounded.  The console is refused when it is full (it
 * must never wait on a session); a telnet reply waits for room, which
 * holds back reading from a client that sends commands but reads nothing.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ptychat.h"

void
outbox_init(struct outbox *ob)
{
	pthread_mutex_init(&ob->lock, NULL);
	pthread_cond_init(&ob->room, NULL);
	ob->head = NULL;
	ob->tail = NULL;
	ob->bytes = 0;
	ob->closed = 0;
}

/*
 * Appends a message of len bytes from data.  With wait, waits for room
 * while the outbox is full; without, refuses.  Returns 0, or -1 with errno
 * EAGAIN (full), EPIPE (closed: the session is ending) or ENOMEM.
 */
int
outbox_put(struct outbox *ob, enum outbox_kind kind, const void *data,
    size_t len, struct outbox_batch *batch, int wait)
{
	struct outbox_msg *m;

	if ((m = malloc(sizeof *m + len)) == NULL)
		return -1;
	m->next = NULL;
	m->kind = kind;
	m->batch = batch;
	m->len = len;
	memcpy(m->data, data, len);
	pthread_mutex_lock(&ob->lock);
	/*
	 * Ended by the writer: it takes messages, or, once the session is
	 * cut (the hang-up fd it polls), closes the outbox on its way out.
	 */
	while (!ob->closed && wait && ob->bytes >= OUTBOX_MAX)
		pthread_cond_wait(&ob->room, &ob->lock);
	if (ob->closed || ob->bytes + len > OUTBOX_MAX + (wait ? len : 0)) {
		errno = ob->closed ? EPIPE : EAGAIN;
		pthread_mutex_unlock(&ob->lock);
		free(m);
		return -1;
	}
	if (ob->tail != NULL)
		ob->tail->next = m;
	else
		ob->head = m;
	ob->tail = m;
	ob->bytes += len;
	pthread_mutex_unlock(&ob->lock);
	return 0;
}

/* Takes the oldest message; the caller frees it.  NULL when empty. */
struct outbox_msg *
outbox_take(struct outbox *ob)
{
	struct outbox_msg *m;

	pthread_mutex_lock(&ob->lock);
	if ((m = ob->head) != NULL) {
		ob->head = m->next;
		if (ob->head == NULL)
			ob->tail = NULL;
		ob->bytes -= m->len;
		pthread_cond_broadcast(&ob->room);
	}
	pthread_mutex_unlock(&ob->lock);
	return m;
}

/*
 * Refuses every later message and wakes whoever waits for room.  Returns
 * what was still queued, for the caller to report and free.
 */
struct outbox_msg *
outbox_close(struct outbox *ob)
{
	struct outbox_msg *m;

	pthread_mutex_lock(&ob->lock);
	ob->closed = 1;
	m = ob->head;
	ob->head = ob->tail = NULL;
	ob->bytes = 0;
	pthread_cond_broadcast(&ob->room);
	pthread_mutex_unlock(&ob->lock);
	return m;
}

/* Frees what outbox_close left; only once no thread can use it. */
void
outbox_free(struct outbox *ob)
{
	pthread_cond_destroy(&ob->room);
	pthread_mutex_destroy(&ob->lock);
}

/*
 * A console line sent to several sessions gives one verdict, once every
 * session has sent it or failed to.  The batch starts with one hold of
 * its maker's, so that no verdict comes before every session is counted;
 * outbox_batch_release drops it.  Returns the batch, or NULL when out of
 * memory.
 */
struct outbox_batch *
outbox_batch_new(unsigned long number)
{
	struct outbox_batch *b;

	if ((b = calloc(1, sizeof *b)) == NULL)
		return NULL;
	atomic_init(&b->left, 1);
	atomic_init(&b->sent, 0);
	atomic_init(&b->total, 0);
	atomic_init(&b->failed_number, 0);
	b->number = number;
	return b;
}

/* Counts one more session that owes b its verdict. */
void
outbox_batch_add(struct outbox_batch *b)
{
	atomic_fetch_add(&b->total, 1);
	atomic_fetch_add(&b->left, 1);
}

/* Drops one hold on b; the last reports the outcome and frees it. */
static void
outbox_batch_drop(struct outbox_batch *b, void (*report)(const char *))
{
	char line[192];
	unsigned ok, total;

	if (atomic_fetch_sub(&b->left, 1) != 1)
		return;
	ok = atomic_load(&b->sent);
	total = atomic_load(&b->total);
	if (total == 0)
		;	/* nobody took it: the caller says so */
	else if (b->number != 0 && ok == 1)
		snprintf(line, sizeof line, "sent to #%lu\n", b->number);
	else if (b->number != 0)
		snprintf(line, sizeof line, "not sent to #%lu: %s\n",
		    b->number, b->why);
	else if (ok == total)
		snprintf(line, sizeof line, "sent to %u client%s\n", ok,
		    ok == 1 ? "" : "s");
	else
		snprintf(line, sizeof line, "sent to %u of %u clients "
		    "(not to #%lu: %s)\n", ok, total,
		    atomic_load(&b->failed_number), b->why);
	if (total != 0)
		report(line);
	free(b);
}

/* Drops the maker's hold, once every session has been counted. */
void
outbox_batch_release(struct outbox_batch *b, void (*report)(const char *))
{
	outbox_batch_drop(b, report);
}

/*
 * Records one session's verdict on a batch (sent or not, with a reason);
 * the last one reports the outcome with report() and frees the batch.
 * b may be NULL (a message with no verdict to give).
 */
void
outbox_batch_done(struct outbox_batch *b, unsigned long session, int sent,
    const char *why, void (*report)(const char *))
{
	unsigned long expected = 0;

	if (b == NULL)
		return;
	if (sent)
		atomic_fetch_add(&b->sent, 1);
	else if (atomic_compare_exchange_strong(&b->failed_number, &expected,
	    session))
		snprintf(b->why, sizeof b->why, "%s", why);
	outbox_batch_drop(b, report);
}
