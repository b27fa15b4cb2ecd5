#!/usr/bin/env python3
# Desktop notifications, with a recording notify-send first on PATH: one
# when a client's window opens (its number and address), one for text in
# a window without the focus (its first line, made safe, cut to 100
# characters), at most one per session for a burst, none for a focused
# window, none with --no-notify; a notify-send that hangs or fails delays
# no window and is one debug line.  The stand-in windows also show our
# own BEL: one for a burst, none in a focused window, and focus reports
# typed in a window never reach its client.
import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from ptytest import SLOW, TAP, Sections, children_of, read_text, wait_for  # noqa

t = TAP()
sections = Sections(t)
FOCUS_IN, FOCUS_OUT = "\x1b[I", "\x1b[O"

# The stand-in: each call appends its arguments as one JSON line to
# $NOTIFY_LOG; then it hangs, fails or returns at once, as told.
STANDIN = """#!/usr/bin/env python3
import json, os, sys, time
with open(os.environ["NOTIFY_LOG"], "a") as f:
    f.write(json.dumps(sys.argv[1:]) + "\\n")
mode = os.environ.get("NOTIFY_MODE", "")
if mode == "hang":
    time.sleep(3600)
if mode == "fail":
    sys.stderr.write("cannot reach the bus\\n")
    sys.exit(1)
"""


def standin(tmp, mode=""):
    """A bin directory with the stand-in notify-send; returns the env
    for the server and the path of the log it writes."""
    bindir = os.path.join(tmp, "bin")
    os.makedirs(bindir)
    path = os.path.join(bindir, "notify-send")
    with open(path, "w") as f:
        f.write(STANDIN)
    os.chmod(path, 0o755)
    log = os.path.join(tmp, "notify.log")
    return {"PATH": bindir + ":" + os.environ["PATH"], "NOTIFY_LOG": log,
            "NOTIFY_MODE": mode}, log


def calls(log):
    return [json.loads(line) for line in read_text(log).splitlines()]


def notifiers(srv):
    """Pids of the server's notify-send children still running."""
    out = []
    for pid, state in children_of(srv.pid):
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                if b"notify-send" in f.read() and state != "Z":
                    out.append(pid)
        except OSError:
            pass
    return out


def settle(srv, w, c, marker):
    """Sends marker from c and waits for w to show it: everything the
    server did for c's earlier text (each alert follows its text in the
    same thread) is done, and every notify-send it started has ended."""
    c.send(marker + "\n")
    return w.wait_text(marker) and wait_for(lambda: not notifiers(srv), 10)


def texts_and_rate(tmp):
    env, log = standin(tmp)
    srv = sections.server(tmp, env=env, notify=True)
    a = srv.connect()
    wa = srv.window(1)
    port = a.sock.getsockname()[1]
    t.ok(wait_for(lambda: len(calls(log)) >= 1),
         "a new client's window brings a notification", srv.text())
    t.eq(calls(log)[:1], [["--app-name=ptychatd", "--",
                           "ptychat: new client #1",
                           "127.0.0.1:%d, plain (not encrypted)" % port]],
         "it names the session, the address and how it came")

    # Focus unknown (no report yet) counts as unfocused.  A burst.
    long_line = "x" * 150
    a.send("\n<b>Tom & Jerry</b>\x1b[31m\tred\nsecond line\n")
    for i in range(30):
        a.send("burst %d %s\n" % (i, long_line))
    t.ok(wa.wait_text("burst 29"), "window 1 shows the burst")
    t.ok(settle(srv, wa, a, "marker one"), "and the marker after it")
    got = calls(log)[1:]
    t.eq(got, [["--app-name=ptychatd", "--",
                "ptychat #1 127.0.0.1:%d: new message" % port,
                "&lt;b&gt;Tom &amp; Jerry&lt;/b&gt;^[[31m red"]],
         "one notification for the burst: its first line, markup "
         "escaped, controls shown, the tab a space")
    t.eq(wa.text().count("\x07"), 1,
         "and one BEL of ours in the window for the whole burst")

    # Per session: a second client is told of at once, cut to 100.
    b = srv.connect()
    wb = srv.window(2)
    t.ok(wait_for(lambda: len(calls(log)) >= 3), "client 2's notification")
    b.send(long_line + "\n")
    t.ok(settle(srv, wb, b, "marker two"), "window 2 shows its text")
    last = calls(log)[-1]
    t.eq(last[-1], "x" * 100 + "\u2026",
         "a second session's text is notified, cut to 100 characters "
         "and an ellipsis")

    # A focused window: no notification, no BEL, and the focus reports
    # typed in it reach no client.
    c = srv.connect()
    wc = srv.window(3)
    t.ok(wait_for(lambda: len(calls(log)) >= 5), "client 3's notification")
    wc.type(FOCUS_IN + "typed" + FOCUS_OUT + FOCUS_IN + " line\r")
    t.ok(c.wait_data("typed line\n"), "the typed line reaches client 3")
    before = len(calls(log))
    c.send("while focused\n")
    t.ok(settle(srv, wc, c, "marker three"), "window 3 shows the text")
    t.eq(len(calls(log)), before,
         "text in the focused window brings no notification")
    t.eq(wc.text().count("\x07"), 0, "and no BEL")
    t.eq(c.buf, b"typed line\n", "the client got the typed line only, "
         "never a focus report")
    # Losing the focus: the next text rings at once.
    wc.type(FOCUS_OUT)
    wc.type("sync\r")
    t.ok(c.wait_data("sync\n"), "a line after the focus left")
    c.send("now unfocused\n")
    t.ok(settle(srv, wc, c, "marker four"), "window 3 shows it")
    t.eq(wc.text().count("\x07"), 1, "text after the focus left rings")
    t.eq(calls(log)[-1][-1], "now unfocused", "and is notified")


def no_notify(tmp):
    env, log = standin(tmp)
    srv = sections.server(tmp, env=env, args=["--no-notify"], notify=True)
    a = srv.connect()
    wa = srv.window(1)
    a.send("hello\n")
    t.ok(settle(srv, wa, a, "marker"), "the window shows the text")
    t.ok(not os.path.exists(log),
         "--no-notify: no notify-send ran at all", read_text(log))
    t.eq(wa.text().count("\x07"), 1, "the window still rings")


def plain(tmp):
    """--plain windows report no focus: notified, never rung."""
    env, log = standin(tmp)
    srv = sections.server(tmp, env=env, args=["--plain"], notify=True)
    a = srv.connect()
    wa = srv.window(1)
    a.send("hello plain\n")
    t.ok(settle(srv, wa, a, "marker"), "the window shows the text")
    t.eq([c[-1] for c in calls(log)][-1:], ["hello plain"],
         "--plain: the text is notified")
    t.eq(wa.text().count("\x07"), 0, "--plain: and the window never rung")


def hang_and_fail(tmp):
    for mode in ("hang", "fail"):
        sub = os.path.join(tmp, mode)
        os.makedirs(sub)
        env, log = standin(sub, mode)
        srv = sections.server(sub, env=env, args=["-v"], notify=True)
        clients = []
        start = time.monotonic()
        # More than notify.c runs at once (16): each waits on none.
        for n in range(1, 21):
            clients.append(srv.connect())
            w = srv.window(n)
            clients[-1].send("hi %d\n" % n)
            if not w.wait_text("hi %d" % n):
                break
        took = time.monotonic() - start
        t.ok(len(clients) == 20 and w.wait_text("hi 20"),
             "%s: 20 windows open and show their text" % mode)
        t.ok(took < 10 * SLOW, "%s: in %.1f s, no later than without "
             "notifications" % (mode, took))
        if mode == "hang":
            t.ok(wait_for(lambda: len(notifiers(srv)) == 16),
                 "hang: 16 notify-sends at once, no more",
                 len(notifiers(srv)))
            t.ok(srv.wait_log(r"notify-send: 16 still running, one "
                              r"notification dropped"),
                 "hang: the rest are dropped with a debug line")
        else:
            t.ok(srv.wait_log(r"notify-send failed \(status 1\): cannot "
                              r"reach the bus"),
                 "fail: a failed notify-send is a debug line with its "
                 "words", srv.text()[-2000:])
            t.ok(not re.search(r"error|warning", srv.text(), re.I),
                 "fail: and no error", srv.text()[-2000:])
        start = time.monotonic()
        t.eq(srv.stop(timeout=20), 0, "%s: the server stops" % mode)
        t.ok(time.monotonic() - start < 10 * SLOW,
             "%s: in %.1f s" % (mode, time.monotonic() - start))
        for c in clients:
            c.close()


def absent(tmp):
    """No notify-send on PATH: one debug line, windows as ever."""
    empty = os.path.join(tmp, "empty")
    os.makedirs(empty)
    srv = sections.server(tmp, env={"PATH": empty}, args=["-v"],
                          notify=True)
    t.ok(srv.wait_log("no notify-send on PATH"),
         "a missing notify-send is one debug line", srv.text())
    a = srv.connect()
    w = srv.window(1)
    a.send("hello\n")
    t.ok(w.wait_text("hello"), "and the window works")


sections.run("texts and rate", texts_and_rate)
sections.run("--no-notify", no_notify)
sections.run("--plain", plain)
sections.run("hang and fail", hang_and_fail)
sections.run("absent", absent)
t.done()
