#!/usr/bin/env python3
# --idle-timeout at its edge, both ways: time is kept in milliseconds, so
# a client that talks a little more often than the limit is never cut
# off, and a silent one is cut off no sooner than the limit.
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from ptytest import SLOW, TAP, Sections  # noqa

t = TAP()
sections = Sections(t)
# Whole seconds on the command line; slow builds get a longer limit.
LIMIT = max(1, int(round(SLOW)))


def every(interval, seconds, act):
    """Calls act(n) every interval seconds for seconds; returns n."""
    n = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        act(n)
        n += 1
        time.sleep(interval)
    return n


def talks_just_in_time(srv):
    """Talks every 0.4 of the limit: never cut off.  Kept in whole
    seconds, the limit fell anywhere from S-1 to S, and this failed."""
    c = srv.connect()
    w = srv.window(1)
    t.ok(w is not None and w.wait_text("Close this window"),
         "the client gets a window")
    sent = every(0.4 * LIMIT, 4 * LIMIT, lambda n: c.send("%d\n" % n))
    c.send("last\n")
    t.ok(w.wait_text("last"), "a client talking every %.2f s with "
         "--idle-timeout %d is still heard after %d lines"
         % (0.4 * LIMIT, LIMIT, sent))
    # What the server sent before the operator's reply is all there is.
    w.type("reply after the last line\r")
    t.ok(c.wait_data("reply after the last line\n") and
         b"idle" not in c.buf, "and was never told it was idle", c.buf)


def silent_at_the_limit(srv):
    """Silent after one line: cut off no sooner than the limit."""
    c = srv.connect()
    w = srv.window(1)
    w.wait_text("Close this window")
    # The server hears the line after it is sent, so the cut-off is at
    # least the limit after this moment.
    last = time.monotonic()
    c.send("only line\n")
    t.ok(c.wait_eof(LIMIT + 3 * SLOW), "the silent client is cut off")
    after = time.monotonic() - last
    t.ok(after >= LIMIT,
         "no sooner than --idle-timeout %d: after %.2f s" % (LIMIT, after))
    t.ok(b"ptychatd: idle for %d second" % LIMIT in c.buf,
         "and is told why", c.buf)


def typing_counts(srv):
    """The operator's lines count as activity too."""
    c = srv.connect()
    w = srv.window(1)
    w.wait_text("Close this window")
    every(0.75 * LIMIT, 3 * LIMIT, lambda n: w.type("reply %d\r" % n))
    w.type("final\r")
    t.ok(c.wait_data("final\n"), "a silent client whose operator keeps "
         "answering every %.2f s stays connected" % (0.75 * LIMIT))
    t.ok(not c.eof and b"idle" not in c.buf, "and is never told it was "
         "idle", c.buf)


args = ["--idle-timeout", str(LIMIT)]
sections.with_server("talks just in time", args, talks_just_in_time)
sections.with_server("silent at the limit", args, silent_at_the_limit)
sections.with_server("typing counts", args, typing_counts)
t.done()
