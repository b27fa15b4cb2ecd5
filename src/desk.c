/*
 * The desk: whether the operator takes new clients (here), does not
 * (away), or is leaving once the last conversation ends; and the one
 * line HAProxy's agent-check reads about it.
 */
#include <stdatomic.h>
#include <stdio.h>

#include "ptychat.h"

/* Set by the console and by signals, read by the agent and the console. */
static _Atomic int desk_now = DESK_HERE;

/* Returns the desk's state. */
enum desk_state
desk_state(void)
{
	return (enum desk_state)atomic_load(&desk_now);
}

/*
 * Moves the desk to state.  Leaving is for good: once set, neither away
 * nor here takes it back.  Returns the state the desk was in.
 */
enum desk_state
desk_set(enum desk_state state)
{
	int old = atomic_load(&desk_now);

	while (old != DESK_LEAVING &&
	    !atomic_compare_exchange_weak(&desk_now, &old, (int)state))
		;
	return (enum desk_state)old;
}

/* Moves the desk to state, and says so unless it is there already. */
void
desk_move(enum desk_state state, const char *why)
{
	enum desk_state old = desk_set(state);
	unsigned long n;

	if (old == state || old == DESK_LEAVING)
		return;
	if (state == DESK_HERE)
		log_info("back (%s): taking new clients", why);
	else if (state == DESK_AWAY)
		log_info("away (%s): new clients are turned away", why);
	else if ((n = session_count()) > 0)
		log_info("leaving (%s): new clients are turned away; exiting "
		    "after the last of %lu session%s", why, n,
		    n == 1 ? "" : "s");
	else
		log_info("leaving (%s): no sessions; exiting", why);
}

/* Returns the state's name, as the console shows it. */
const char *
desk_name(enum desk_state state)
{
	return state == DESK_HERE ? "here" : state == DESK_AWAY ? "away" :
	    "leaving when done";
}

/*
 * Writes the agent-check answer for a desk with used of max sessions
 * taken into line: "ready up N%" with N the share still free, "drain"
 * when away or full, "maint" when leaving.  "ready" undoes a drain
 * that HAProxy keeps until it is told otherwise.
 */
void
desk_agent_line(char *line, size_t len, unsigned long used,
    unsigned long max)
{
	enum desk_state state = desk_state();
	unsigned long free_share;

	if (state == DESK_LEAVING)
		snprintf(line, len, "maint\n");
	else if (state == DESK_AWAY || max == 0 || used >= max)
		snprintf(line, len, "drain\n");
	else {
		free_share = (max - used) * 100 / max;
		snprintf(line, len, "ready up %lu%%\n", free_share);
	}
}
