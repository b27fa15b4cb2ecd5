#!/usr/bin/env python3
# Clients arriving together with no display, outside tmux: ptychatd (-t
# auto) opens their windows in a detached tmux session of its own, which
# the first of them makes.  Each round starts with no such session (the
# operator killed it at the end of the last one), then four clients
# connect at once: each must get a window, with its banner, and no
# refusal.
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from ptytest import TAP, Sections, need_tools, wait_for, zombies  # noqa

ROUNDS = 10
BURST = 4

t = TAP()
need_tools(t, "tmux")
sections = Sections(t)


def tmux_env(tmp):
    """A private tmux server under tmp; nothing says we run inside tmux."""
    env = dict(os.environ, TMUX_TMPDIR=tmp)
    env.pop("TMUX", None)
    env.pop("DISPLAY", None)
    return env


def tmux(tmp, *args):
    p = subprocess.run(["tmux"] + list(args), env=tmux_env(tmp),
                       capture_output=True, timeout=10)
    return p.returncode, p.stdout.decode("utf-8", "replace")


def windows(tmp):
    """{title: window id} of the windows in our session."""
    status, out = tmux(tmp, "list-windows", "-t", "=ptychat", "-F",
                       "#{window_id} #{window_name}")
    if status != 0:
        return {}
    return dict(line.split(" ", 1)[::-1] for line in out.splitlines())


def banner_shown(tmp, wid):
    return "Close this window" in tmux(tmp, "capture-pane", "-p", "-t",
                                       wid)[1]


def one_round(tmp, srv, first):
    """Four clients at once; returns True when every one got a window."""
    numbers = range(first, first + BURST)
    clients = [srv.connect() for _ in numbers]
    titles = {n: "ptychat #%d 127.0.0.1:%d" % (n, c.sock.getsockname()[1])
              for n, c in zip(numbers, clients)}
    ok = t.ok(wait_for(lambda: set(titles.values()) <= set(windows(tmp)),
                       10),
              "clients %d-%d, arriving together: %d tmux windows"
              % (first, first + BURST - 1, BURST),
              "windows %r\nclients got %r\n%s"
              % (sorted(windows(tmp)), [c.buf for c in clients],
                 srv.text()[-2000:]))
    if ok:
        ids = windows(tmp)
        ok = t.ok(all(wait_for(lambda: banner_shown(tmp, ids[titles[n]]))
                      for n in numbers),
                  "clients %d-%d: each window shows its banner"
                  % (first, first + BURST - 1))
    if ok:
        # What each client says shows in its own window: every one is
        # connected, and none was sent a refusal before that.
        for n, c in zip(numbers, clients):
            c.send("marker from %d\n" % n)
        shown = all(wait_for(lambda: "marker from %d" % n in tmux(
            tmp, "capture-pane", "-p", "-t", ids[titles[n]])[1])
                    for n in numbers)
        # A refusal would have come before the window: the operator's
        # first line must be the first thing each client gets.
        for n in numbers:
            tmux(tmp, "send-keys", "-t", ids[titles[n]], "reply %d" % n,
                 "Enter")
        got = all(c.wait_data("reply %d\n" % n)
                  for n, c in zip(numbers, clients))
        ok = t.ok(shown and got and all(
            c.buf == b"reply %d\n" % n for n, c in zip(numbers, clients)),
                  "clients %d-%d: each is connected, and none was refused"
                  % (first, first + BURST - 1),
                  [c.buf for c in clients])
    # The operator kills the session: every window closes, every client
    # sees EOF, and the next round finds no session.
    tmux(tmp, "kill-session", "-t", "=ptychat")
    t.ok(all(c.wait_eof() for c in clients) and
         wait_for(lambda: tmux(tmp, "has-session", "-t", "=ptychat")[0]
                  != 0),
         "clients %d-%d: killing the tmux session hangs up on all"
         % (first, first + BURST - 1))
    for c in clients:
        c.close()
    return ok


def burst(tmp):
    srv = sections.server(tmp, terminal="auto",
                          env={"DISPLAY": None, "TMUX": None,
                               "TMUX_TMPDIR": tmp})
    t.ok(srv.wait_log(r"client windows open in tmux session 'ptychat'"),
         "no display, outside tmux: windows go to a detached session",
         srv.text())
    try:
        for r in range(ROUNDS):
            if not one_round(tmp, srv, 1 + r * BURST):
                break
        t.ok(not re.search(r"duplicate session|no window", srv.text()),
             "no launcher failed, and no client was turned away",
             srv.text()[-2000:])
        t.ok(wait_for(lambda: zombies(srv.pid) == []),
             "no zombie is left", zombies(srv.pid))
    finally:
        tmux(tmp, "kill-server")


sections.run("burst", burst)
t.done()
