#!/usr/bin/env python3
# Three clients through real xterm windows on a private Xvfb, driven by
# xdotool: each window shows only its own client, a line typed in a
# window reaches only that window's client, a client cannot retitle its
# window, closing a window hangs up on its client alone, and SIGTERM
# leaves no xterm behind.
#
# What the screen shows is read from xterm's own log (-l -lf FILE).
# xterm does not buffer it: it write(2)s what it has parsed each time it
# goes back to the pty for more, so a line shows up in the file within a
# millisecond or two of reaching the window, and waiting on the file with
# a deadline is reliable.  (A line is in the log exactly as the window got
# it, \r\n and all.)
#
# How the keyboard and the window manager's close button are driven is
# described in tests/lib/xdisplay.py.
import os
import sys

sys.dont_write_bytecode = True     # no __pycache__ in the tree
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from ptytest import TAP, Sections, need_tools, read_text, wait_for  # noqa
from xdisplay import (X, private_display, send_wm_delete,  # noqa
                      xterms_mentioning)


t = TAP()
need_tools(t, "Xvfb", "xterm", "xdotool")
sections = Sections(t)


def three_xterms(tmp):
    display = private_display(sections, tmp)
    x = X(display) if display else None
    if not t.ok(display and x.run("getdisplaygeometry") == (0, "1280 1024"),
                "a private Xvfb runs on display %s and answers" % display,
                read_text(os.path.join(tmp, "xvfb.log"))):
        return

    # -fn fixed: a core font that is always there, so xterm neither hunts
    # for fonts nor warns; HOME and XENVIRONMENT keep the user's X
    # resources out of the test.
    terminal = ("xterm -l -lf %s/xterm-%%n.log -fn fixed -geometry 80x24"
                % tmp)
    srv = sections.server(tmp, terminal=terminal,
                          env={"DISPLAY": display, "HOME": tmp,
                               "XENVIRONMENT": os.devnull})
    clients = []
    sections.defer(lambda: [c.close() for c in clients])

    def log_of(n):
        return read_text(os.path.join(tmp, "xterm-%d.log" % n))

    def log_has(n, needle, timeout=5.0):
        return wait_for(lambda: needle in log_of(n), timeout)

    wids = {}
    for n in (1, 2, 3):
        clients.append(srv.connect())
        wids[n] = x.find("^ptychat #%d " % n)
        if not t.ok(wids[n] is not None, "window %d is on the display" % n,
                    srv.text()):
            return
        x.place(wids[n], n - 1)
        t.ok(log_has(n, "Close this window", 10),
             "window %d shows the banner" % n, log_of(n))
    titles = {}
    for n, c in enumerate(clients, 1):
        titles[n] = "ptychat #%d 127.0.0.1:%d" % (n, c.sock.getsockname()[1])
        t.eq(x.name(wids[n]), titles[n],
             "window %d is titled '%s'" % (n, titles[n]))

    # Each client speaks; each window shows its own client only.
    for n in (3, 1, 2):
        clients[n - 1].send("line from client %d\n" % n)
    for n in (1, 2, 3):
        t.ok(log_has(n, "line from client %d\r\n" % n),
             "window %d shows its client's line" % n, log_of(n))
    for n in (1, 2, 3):
        others = [m for m in (1, 2, 3)
                  if m != n and "line from client %d" % m in log_of(n)]
        t.eq(others, [], "window %d shows no other client's line" % n)

    # The operator answers in a scrambled order.  Each reply must arrive
    # before the next window is typed into, so a keystroke that went to
    # the wrong window shows up as a failure, not as a late arrival.
    for n in (2, 3, 1):
        if not t.ok(x.focus(wids[n]), "window %d has the keyboard" % n,
                    "focus is on %s" % x.focused()):
            continue
        x.run("type", "--delay", "10", "reply %d" % n)
        x.run("key", "Return")
        t.ok(clients[n - 1].wait_data("reply %d\n" % n),
             "client %d gets the line typed in window %d" % (n, n),
             clients[n - 1].buf)
    t.ok(log_has(2, "you: reply 2"),
         "window 2 shows the sent line as 'you: reply 2'")

    # A client tries to retitle its window.
    clients[0].send(b"\x1b]2;hijacked\x07\n")
    t.ok(log_has(1, "^[]2;hijacked^G\r\n"),
         "the title sequence reaches window 1 in visible form",
         log_of(1)[-200:])
    t.ok("\x1b]2;hijacked" not in log_of(1), "and never as a raw escape")
    t.eq(x.name(wids[1]), titles[1], "window 1 keeps its title")

    # A window manager's close button sends WM_DELETE_WINDOW; xterm
    # answers it with SIGHUP to its child, ptychat-bridge.  (Under -S
    # there would be no child, and the window would not close.)
    t.ok(send_wm_delete(display, wids[2]) and clients[1].wait_eof(),
         "the close button (WM_DELETE_WINDOW) on window 2 gives client 2 "
         "EOF")
    # Its EOF comes after all its window sent.
    t.eq(clients[1].buf, b"reply 2\n", "client 2 got nothing but its reply")
    t.ok(srv.wait_log(r"session 2 \S+: window closed"),
         "the server logs the closed window", srv.text())
    clients[0].send("one still here\n")
    clients[2].send("three still here\n")
    t.ok(log_has(1, "one still here") and log_has(3, "three still here"),
         "windows 1 and 3 still show their clients")
    for n in (3, 1):
        if t.ok(x.focus(wids[n]), "window %d has the keyboard again" % n):
            x.run("type", "--delay", "10", "again %d" % n)
            x.run("key", "Return")
            t.ok(clients[n - 1].wait_data("again %d\n" % n),
                 "client %d, still connected, gets a second line" % n,
                 clients[n - 1].buf)
    # The second lines are the markers for the first: nothing else came
    # in between.
    t.eq([c.buf for c in clients],
         [b"reply 1\nagain 1\n", b"reply 2\n", b"reply 3\nagain 3\n"],
         "every client got exactly its own lines")

    # Closing window 3 as xkill, or a window manager's force quit, does:
    # its X connection is cut and xterm exits at once.
    x.run("windowkill", wids[3])
    t.ok(clients[2].wait_eof(), "killing window 3 gives client 3 EOF")
    clients[0].send("one after window 3\n")
    t.ok(log_has(1, "one after window 3"), "client 1 is still connected")

    # SIGTERM: a clean exit, every client hung up, no xterm left.
    status = srv.stop(timeout=10)
    t.eq(status, 0, "SIGTERM stops the server with status 0")
    t.ok(clients[0].wait_eof(), "client 1 sees EOF")
    left = wait_for(lambda: not xterms_mentioning(tmp + "/xterm-"), 5.0)
    t.ok(left, "no xterm is left running",
         xterms_mentioning(tmp + "/xterm-"))


sections.run("three xterms", three_xterms)
t.done()
