#!/usr/bin/env python3
# tmux instead of a display, as over SSH: ptychatd runs in a tmux pane
# with no DISPLAY, and -t auto opens each client's window in that tmux
# session; typing there (send-keys) reaches that client only; killing a
# window hangs up.  Outside tmux, -t tmux makes a detached 'ptychat'
# session and says how to attach.
import os
import re
import socket
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from ptytest import (PTYCHATD, TAP, Client, Sections, need_tools,  # noqa
                     read_text, wait_for)

t = TAP()
need_tools(t, "tmux")
sections = Sections(t)
# A private tmux server per section: its socket lives under the section's
# TMUX_TMPDIR.
env = dict(os.environ)
env.pop("TMUX", None)
env.pop("DISPLAY", None)


def tmux(*args):
    p = subprocess.run(["tmux"] + list(args), env=env, capture_output=True,
                       timeout=10)
    return p.stdout.decode("utf-8", "replace")


def window_ids(session):
    out = tmux("list-windows", "-t", session, "-F", "#{window_id} "
               "#{window_name}")
    return dict(line.split(" ", 1)[::-1] for line in out.splitlines())


def pane_text(target):
    return tmux("capture-pane", "-p", "-t", target)


def connect(port):
    return Client(socket.create_connection(("127.0.0.1", port), 5))


def converse(session, port, n):
    """Client n says hello; its window shows it; a reply typed there
    reaches it; killing the window gives it EOF."""
    c = connect(port)
    title = wait_for(lambda: next((name for name in window_ids(session)
                                   if name.startswith("ptychat #%d " % n)),
                                  None), 10)
    t.ok(title, "client %d gets a tmux window named 'ptychat #%d ...'"
         % (n, n), window_ids(session))
    if not title:
        return c, None
    wid = window_ids(session)[title]
    t.ok(wait_for(lambda: "Close this window" in pane_text(wid), 10),
         "window %d shows the banner" % n, pane_text(wid))
    c.send("hello from client %d\n" % n)
    t.ok(wait_for(lambda: "hello from client %d" % n in pane_text(wid)),
         "window %d shows its client's line" % n, pane_text(wid))
    tmux("send-keys", "-t", wid, "reply to %d" % n, "Enter")
    t.ok(c.wait_data("reply to %d\n" % n),
         "a line typed in window %d reaches client %d" % (n, n), c.buf)
    return c, wid


def private_tmux(tmp):
    env["TMUX_TMPDIR"] = tmp
    sections.defer(tmux, "kill-server")


def inside_tmux(tmp):
    """The operator's ptychatd runs inside a tmux pane, no DISPLAY."""
    private_tmux(tmp)
    log = os.path.join(tmp, "ptychatd.log")
    tmux("new-session", "-d", "-s", "op", "-x", "120", "-y", "30",
         "exec %s -p 0 -b 127.0.0.1 2>%s" % (PTYCHATD, log))
    m = wait_for(lambda: re.search(r"listening on \S+ port (\d+)",
                                   read_text(log)), 10)
    t.ok(m, "ptychatd starts inside tmux", read_text(log))
    port = int(m.group(1))
    t.ok(wait_for(lambda: "client windows open in this tmux session" in
                  read_text(log)),
         "with no DISPLAY inside tmux, -t auto picks tmux", read_text(log))
    c1, w1 = converse("op", port, 1)
    c2, w2 = converse("op", port, 2)
    t.eq((c1.buf, c2.buf), (b"reply to 1\n", b"reply to 2\n"),
         "each client got only its own reply")
    tmux("kill-window", "-t", w1)
    t.ok(c1.wait_eof(), "killing window 1 gives client 1 EOF")
    t.ok(not c2.eof, "client 2 is still connected")
    tmux("send-keys", "-t", "op:0", "C-c")
    t.ok(c2.wait_eof(), "^C in ptychatd's pane stops it; client 2 sees EOF")
    t.ok(wait_for(lambda: w2 not in window_ids("op").values()),
         "and window 2 closes", window_ids("op"))


def outside_tmux(tmp):
    """Outside tmux: a detached session named ptychat."""
    private_tmux(tmp)
    srv = sections.server(tmp, terminal="tmux", env=dict(env, TMUX=None,
                                                         DISPLAY=None))
    t.ok(srv.wait_log("attach with 'tmux attach -t ptychat'"),
         "-t tmux outside tmux says how to attach", srv.text())
    c3, w3 = converse("ptychat", srv.port, 1)
    c4, w4 = converse("ptychat", srv.port, 2)
    t.eq(srv.stop(timeout=10), 0, "SIGTERM stops it with status 0")
    t.ok(c3.wait_eof() and c4.wait_eof(), "both clients see EOF")
    t.ok(wait_for(lambda: "ptychat" not in tmux("list-sessions")),
         "its windows close, and with them the ptychat session")


sections.run("inside tmux", inside_tmux)
sections.run("outside tmux", outside_tmux)
t.done()
