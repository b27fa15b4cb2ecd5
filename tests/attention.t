#!/usr/bin/env python3
# Windows that ask for attention, on real terminals.
#
# xterm on a private Xvfb: with window A focused, text for B sets B's
# urgency hint (WM_HINTS, XUrgencyHint) and never A's; focusing B clears
# it; a burst rings once; after B has had the focus, the next text rings
# at once.  Focus reports (DECSET 1004) never reach a client: typing in
# a window while it gains and loses the focus sends exactly the typed
# line.  urxvt, started with urgentOnBell, is marked the same way.
# tmux: a client's window that is not the current one gets tmux's bell
# flag.  The console's list shows the unread lines and the focused
# window.
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from ptytest import (SLOW, TAP, ConsoleServer, Sections,  # noqa
                     missing_tools, read_text, wait_for)
from xdisplay import X, private_display, urgent  # noqa

t = TAP()
sections = Sections(t)
def x_setup(tmp, terminal):
    display = private_display(sections, tmp)
    if not t.ok(display is not None, "a private Xvfb runs",
                read_text(os.path.join(tmp, "xvfb.log"))):
        return None, None, None
    # -v: the log says when the server learns of a focus change.
    srv = sections.server(tmp, terminal=terminal, args=["-v"],
                          env={"DISPLAY": display, "HOME": tmp,
                               "XENVIRONMENT": os.devnull})
    return display, X(display), srv


def focus_known(srv, n, what, count=1):
    """Waits until the server has logged session n's window as having
    ("has") or having lost ("lost") the focus count times."""
    pattern = r"session %d \S+: window %s the focus" % (n, what)
    return wait_for(lambda: len(re.findall(pattern, srv.text())) >= count,
                    5)


def two_windows(x, srv, clients):
    wids = []
    for n in (1, 2):
        clients.append(srv.connect())
        wids.append(x.find("^ptychat #%d " % n))
        if not t.ok(wids[-1] is not None, "window %d is on the display" % n,
                    srv.text()):
            return None
        x.place(wids[-1], n - 1)
    return wids


def xterm_urgency(tmp):
    if missing_tools("Xvfb", "xterm", "xdotool"):
        t.skip("xterm urgency", "needs Xvfb, xterm and xdotool", 14, True)
        return
    display, x, srv = x_setup(
        tmp, "xterm -l -lf %s/xterm-%%n.log -fn fixed -geometry 80x24" % tmp)
    if srv is None:
        return
    clients = []
    sections.defer(lambda: [c.close() for c in clients])
    wids = two_windows(x, srv, clients)
    if wids is None:
        return
    a, b = clients
    wa, wb = wids

    def log_of(n):
        return read_text(os.path.join(tmp, "xterm-%d.log" % n))

    for n in (1, 2):
        t.ok(wait_for(lambda: "Close this window" in log_of(n), 10),
             "window %d shows the banner" % n)
    t.ok(x.focus(wa) and focus_known(srv, 1, "has"),
         "window A has the focus, and the server knows it")
    b.send("hello B\n")
    t.ok(wait_for(lambda: urgent(display, wb), 5),
         "text for B sets B's urgency hint", urgent(display, wb))
    t.eq(urgent(display, wa), False, "and not A's")

    # A burst: one BEL.  The marker comes after every BEL the burst
    # could have brought.
    for i in range(50):
        b.send("burst %d\n" % i)
    b.send("marker B\n")
    t.ok(wait_for(lambda: "marker B" in log_of(2)), "B shows the burst")
    t.eq(log_of(2).count("\x07"), 1,
         "hello and a burst of 50 lines: one BEL in B's window")

    a.send("for A while focused\n")
    a.send("marker A\n")
    t.ok(wait_for(lambda: "marker A" in log_of(1)), "A shows its text")
    t.eq((log_of(1).count("\x07"), urgent(display, wa)), (0, False),
         "text for the focused window A: no BEL, no urgency")

    t.ok(x.focus(wb), "B gets the focus")
    t.ok(wait_for(lambda: urgent(display, wb) is False),
         "focusing B clears its urgency hint")
    # After B had the focus, the next text rings at once, not 3 s later.
    t.ok(x.focus(wa) and focus_known(srv, 2, "lost"),
         "A has the focus again, and the server knows B lost it")
    b.send("after a look\n")
    t.ok(wait_for(lambda: urgent(display, wb), 5),
         "new text for B, just after it lost the focus, marks it again")

    # Focus reports never reach the client: A gains and loses the focus
    # between the keys typed in it.
    x.run("type", "--delay", "10", "abc")
    t.ok(x.focus(wb) and x.focus(wa), "A loses the focus and gets it back")
    x.run("type", "--delay", "10", "def")
    x.run("key", "Return")
    t.ok(a.wait_data("def\n"), "A's client gets the typed line", a.buf)
    t.eq(a.buf, b"abcdef\n", "exactly the typed line, no focus report")
    t.eq(b.buf, b"", "and B's client nothing")


def urxvt_urgency(tmp):
    if missing_tools("Xvfb", "urxvt", "xdotool"):
        t.skip("urxvt urgency", "needs Xvfb, urxvt and xdotool", 5, True)
        return
    display, x, srv = x_setup(tmp, "urxvt -fn fixed -geometry 80x24")
    if srv is None:
        return
    clients = []
    sections.defer(lambda: [c.close() for c in clients])
    wids = two_windows(x, srv, clients)
    if wids is None:
        return
    t.ok(x.focus(wids[0]), "urxvt window A has the focus")
    clients[1].send("hello B\n")
    t.ok(wait_for(lambda: urgent(display, wids[1]), 5),
         "urxvt: text for B sets B's urgency hint (urgentOnBell)")
    t.eq(urgent(display, wids[0]), False, "urxvt: and not A's")


def tmux_bell(tmp):
    if missing_tools("tmux"):
        t.skip("tmux bell", "needs tmux", 5, True)
        return
    env = dict(os.environ, TMUX_TMPDIR=tmp)
    env.pop("TMUX", None)
    env.pop("DISPLAY", None)

    def tmux(*args):
        import subprocess
        return subprocess.run(["tmux"] + list(args), env=env,
                              capture_output=True, timeout=10 * SLOW
                              ).stdout.decode()
    sections.defer(tmux, "kill-server")
    srv = sections.server(tmp, terminal="tmux",
                          env=dict(env, TMUX=None, DISPLAY=None))
    clients = [srv.connect()]

    def windows():
        out = tmux("list-windows", "-t", "=ptychat", "-F",
                   "#{window_name}|#{window_id}|#{window_active}|"
                   "#{window_bell_flag}")
        return {f[0].split(" ")[1]: f[1:] for f in
                (line.split("|") for line in out.splitlines())
                if f[0].startswith("ptychat #")}

    t.ok(wait_for(lambda: "#1" in windows(), 10), "client 1's tmux window")
    clients.append(srv.connect())
    t.ok(wait_for(lambda: "#2" in windows(), 10) and
         windows()["#2"][1] == "0", "client 2's window, not the current one",
         windows())
    wid = windows()["#2"][0]
    t.ok(wait_for(lambda: "Close this window" in
                  tmux("capture-pane", "-p", "-t", wid), 10),
         "window 2 shows its banner")
    t.eq(windows()["#2"][2], "0", "its bell flag is not set yet")
    clients[1].send("ring\n")
    t.ok(wait_for(lambda: windows()["#2"][2] == "1", 5),
         "text for client 2 sets its window's #{window_bell_flag}",
         windows())
    for c in clients:
        c.close()


def console_list(tmp):
    if missing_tools("tmux"):
        t.skip("console list", "needs tmux", 5, True)
        return
    con = ConsoleServer(tmp)
    sections.defer(con.close)
    a, b = con.connect(), con.connect()
    wa, wb = con.window(1), con.window(2)
    t.ok(wa and wb and wa.wait_text("Close this window") and
         wb.wait_text("Close this window"), "two windows")
    wa.type("\x1b[I")
    b.send("one\ntwo\nthr")
    b.send("ee\n")
    t.ok(wb.wait_text("three"), "window 2 shows three lines")

    def row(n, s):
        m = re.search(r"^\s*%d(\*?)\s+127\.0\.0\.1:\d+\s+\S+\s+\S+\s+\S+\s+"
                      r"(\d+)\s" % n, s, re.M)
        return m.groups() if m else None
    t.ok(con.command("list", r"\n\s*2 .*\n"), "list answers", con.screen())
    s = con.screen()
    s = s[s.rfind("ptychatd> list"):]
    t.eq((row(1, s), row(2, s)), (("*", "0"), ("", "3")),
         "list marks the focused window and counts 3 unread lines in "
         "the other")
    # Gained and lost in one read: the lines were seen all the same.
    wb.type("\x1b[I\x1b[O")

    def rows():
        con.command("list", r"\n\s*2 .*\n")
        s = con.screen()
        s = s[s.rfind("ptychatd> list"):]
        return row(1, s), row(2, s)
    t.ok(wait_for(lambda: rows() == (("*", "0"), ("", "0")), 5),
         "its lines are read once it has had the focus, even for a "
         "moment", rows())
    t.ok(con.stop(), "the server stops")


sections.run("xterm urgency", xterm_urgency)
sections.run("urxvt urgency", urxvt_urgency)
sections.run("tmux bell", tmux_bell)
sections.run("console list", console_list)
t.done()
