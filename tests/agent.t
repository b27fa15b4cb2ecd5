#!/usr/bin/env python3
# --agent: HAProxy's agent-check reads one line about the desk (ready up
# N% free, drain when away or full, maint when leaving); away and back
# at the console and by SIGUSR1/SIGUSR2; quit when done and SIGQUIT;
# maint while a SIGTERM stop lasts.
import os
import re
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from ptytest import (PTYCHATD, SLOW, STANDIN, TAP, ConsoleServer,  # noqa
                     Sections, haproxy_start, haproxy_stat, missing_tools,
                     recv_all, run, wait_for)

t = TAP()
sections = Sections(t)
AWAY = b"ptychatd: this operator is away; try again later\n"


def agent(port):
    """Asks the agent once; returns its whole answer, up to the close."""
    s = socket.create_connection(("127.0.0.1", port), 5)
    s.settimeout(5 * SLOW)
    data = recv_all(s)
    s.close()
    return data.decode("ascii", "replace")


def agent_says(port, want, timeout=5.0):
    """Waits until the agent answers want; returns the last answer."""
    last = []
    wait_for(lambda: last.append(agent(port)) or last[-1] == want,
             timeout)
    return last[-1]


def agent_port(text):
    m = re.search(r"agent listening on \S+ port (\d+)", text)
    return int(m.group(1)) if m else None


def windows(srv):
    return sorted(n for n in os.listdir(srv.windows) if n.endswith(".pid"))


def refused_away(srv):
    """A new client gets the away line and the close, and no window."""
    c = srv.connect()
    return c.wait_data(AWAY) and c.wait_eof()


def capacity(tmp):
    srv = sections.server(tmp, args=["--max-clients", "4", "--agent", "0"])
    port = agent_port(srv.text())
    t.ok(port, "the agent's port is logged", srv.text())
    t.eq(agent(port), "ready up 100%\n", "no clients: ready up 100%")
    clients, shares = [], []
    for n in range(1, 5):
        clients.append(srv.connect())
        srv.window(n)
        shares.append(agent_says(port, "ready up %d%%\n" % (100 - 25 * n)
                                 if n < 4 else "drain\n"))
    t.eq(shares, ["ready up 75%\n", "ready up 50%\n", "ready up 25%\n",
                  "drain\n"], "each client takes a quarter; full: drain")
    srv.window(2).close()
    t.eq(agent_says(port, "ready up 25%\n"), "ready up 25%\n",
         "a window closed: ready again, with its share")
    for _ in range(5):
        agent(port)
    marker = srv.connect()
    srv.window(5)
    t.eq(windows(srv), ["%d.pid" % n for n in range(1, 6)],
         "the agent's connections open no window (the next client "
         "gets number 5)")
    t.ok(not re.search(r"refused|error", srv.text()),
         "and log nothing", srv.text())
    marker.close()


def signals(tmp):
    srv = sections.server(tmp, args=["--max-clients", "4", "--agent",
                                     "127.0.0.1:0"])
    port = agent_port(srv.text())
    a = srv.connect()
    w1 = srv.window(1)
    os.kill(srv.pid, signal.SIGUSR1)
    t.eq(agent_says(port, "drain\n"), "drain\n", "SIGUSR1: the agent "
         "says drain")
    t.ok(srv.wait_log(r"away \(User defined signal 1\)"),
         "and the log says away", srv.text())
    t.ok(refused_away(srv), "an away server turns a new client away "
         "with a line")
    a.send("still talking\n")
    t.ok(w1.wait_text("still talking"), "the conversation goes on: "
         "client to window")
    w1.type("still answering\r")
    t.ok(a.wait_data("still answering\n"), "and window to client")
    os.kill(srv.pid, signal.SIGUSR2)
    t.eq(agent_says(port, "ready up 75%\n"), "ready up 75%\n",
         "SIGUSR2: ready again, with the free share")
    b = srv.connect()
    w2 = srv.window(2)
    t.ok(not os.path.exists(os.path.join(srv.windows, "3.pid")),
         "a new client gets window 2: the refused one had none")
    w2.close()
    t.ok(b.wait_eof() and agent_says(port, "ready up 75%\n") ==
         "ready up 75%\n", "its window closed, its share is free again")

    os.kill(srv.pid, signal.SIGQUIT)
    t.eq(agent_says(port, "maint\n"), "maint\n", "SIGQUIT: the agent "
         "says maint")
    t.ok(refused_away(srv), "new clients are turned away")
    os.kill(srv.pid, signal.SIGUSR2)
    t.eq(agent(port), "maint\n", "SIGUSR2 does not undo leaving")
    a.send("last words\n")
    t.ok(w1.wait_text("last words") and srv.proc.poll() is None,
         "the last conversation goes on; the server waits for it")
    w1.close()
    t.ok(a.wait_eof(), "its window closed, the client is hung up on")
    try:
        status = srv.proc.wait(5 * SLOW)
    except Exception:
        status = None
    t.eq(status, 0, "and the server exits 0 after the last session")


def sigquit_idle(tmp):
    srv = sections.server(tmp, args=["--agent", "0"])
    os.kill(srv.pid, signal.SIGQUIT)
    try:
        status = srv.proc.wait(5 * SLOW)
    except Exception:
        status = None
    t.eq(status, 0, "SIGQUIT with no session: exits 0 at once")


def stopping(tmp):
    """SIGTERM: while the stop waits for a terminal that ignores SIGTERM
    (it is killed about a second later), the agent answers maint."""
    path = os.path.join(tmp, "stubborn.sh")
    with open(path, "w") as f:
        f.write("#!/bin/sh\nn=\"$1\"\nshift\ntrap '' TERM\n"
                "\"%s\" --dir \"%s\" --name \"$n\" \"$@\"\n"
                "exec sleep 30\n" % (STANDIN, os.path.join(tmp, "windows")))
    os.chmod(path, 0o755)
    srv = sections.server(tmp, terminal="%s %%n" % path,
                          args=["--max-clients", "4", "--agent", "0"])
    port = agent_port(srv.text())
    c = srv.connect()
    srv.window(1)
    t.eq(agent_says(port, "ready up 75%\n"), "ready up 75%\n",
         "one client: ready up 75%")
    os.kill(srv.pid, signal.SIGTERM)
    t.ok(srv.wait_log(r"caught \S+; stopping"), "SIGTERM: stopping",
         srv.text())
    start = time.monotonic()
    answers = []

    def gone():
        """Asks the agent; true once it no longer answers."""
        try:
            line = agent(port)
        except OSError:
            return True
        if line:
            answers.append((round(time.monotonic() - start, 3), line))
        return not line

    t.ok(wait_for(gone, 10 * SLOW), "the agent stops answering when "
         "ptychatd exits", answers[-3:])
    t.ok(answers and all(a[1] == "maint\n" for a in answers),
         "every answer while stopping is maint", answers[-3:])
    t.ok(answers and answers[-1][0] >= 0.5,
         "and it answers for as long as the stop waits for the "
         "terminal", answers[-1:])
    c.close()


def console(tmp):
    con = ConsoleServer(tmp, args="--max-clients 4 --agent 0")
    sections.defer(con.close)
    port = agent_port(con.screen())
    t.ok(con.port and port, "ptychatd and its agent listen", con.screen())
    t.ok(con.command("list", r"operator: here\n"), "list: operator here",
         con.screen())
    a = con.connect()
    w1 = con.window(1)
    t.ok(w1 and w1.wait_text("Close this window"), "a client's window "
         "opens")
    t.eq(agent_says(port, "ready up 75%\n"), "ready up 75%\n",
         "the agent counts it")
    t.ok(con.command("away", r"operator: away; 1 session\n"),
         "away answers", con.screen())
    t.eq(agent_says(port, "drain\n"), "drain\n", "away: drain")
    c = con.connect()
    t.ok(c.wait_data(AWAY) and c.wait_eof(), "a new client is turned "
         "away with a line")
    a.send("from a\n")
    w1.type("to a\r")
    t.ok(w1.wait_text("from a") and a.wait_data("to a\n"),
         "the conversation goes on both ways")
    t.ok(con.command("list", r"operator: away\n(.*\n)*\s+1\s+127"),
         "list shows away, and the session", con.screen())
    t.ok(con.command("back", r"operator: here; 1 session\n"),
         "back answers", con.screen())
    t.eq(agent_says(port, "ready up 75%\n"), "ready up 75%\n",
         "back: ready again")
    b = con.connect()
    w2 = con.window(2)
    t.ok(w2 and not os.path.exists(os.path.join(con.windows, "3.pid")),
         "a new client gets window 2: the refused one had none")
    w2.close()
    t.ok(b.wait_eof() and agent_says(port, "ready up 75%\n") ==
         "ready up 75%\n", "its window closed, its share is free again")
    t.ok(con.command("help", r"quit when done"), "help tells of away, "
         "back and quit when done", con.screen())
    t.ok(con.command("quit when done", r"operator: leaving when done"),
         "quit when done answers", con.screen())
    t.eq(agent_says(port, "maint\n"), "maint\n", "leaving: maint")
    a.send("still here\n")
    t.ok(w1.wait_text("still here") and "status" not in con.screen(),
         "the last conversation goes on")
    w1.close()
    t.ok(wait_for(lambda: "status 0" in con.screen(), 5 * SLOW),
         "the last window closed, ptychatd exits 0", con.screen())


HAPROXY_CFG = """backend desk
    server d1 127.0.0.1:%(port)d weight 100 agent-check agent-port \
%(agent)d agent-inter 200ms
"""


def haproxy_server(tmp, name):
    """The status and weight HAProxy's stats socket shows for server
    name, or None."""
    row = haproxy_stat(os.path.join(tmp, "stats.sock"), name)
    return (row.get("status"), row.get("weight")) if row else None


def haproxy(tmp):
    """The real HAProxy: its agent check puts the server in DRAIN when
    the operator is away, and gives it its weight back when back."""
    srv = sections.server(tmp, args=["--max-clients", "4", "--agent", "0"])
    port = agent_port(srv.text())
    haproxy_start(sections, tmp, HAPROXY_CFG % {"port": srv.port,
                                                "agent": port})
    seen = []

    def shows(status, weight):
        seen.append(haproxy_server(tmp, "d1"))
        return seen[-1] is not None and seen[-1][0] == status and \
            seen[-1][1] == weight

    t.ok(wait_for(lambda: shows("no check", "100"), 10),
         "HAProxy shows the idle desk with its full weight", seen[-1:])
    a = srv.connect()
    srv.window(1)
    t.ok(wait_for(lambda: shows("no check", "75"), 10),
         "one client of four: weight 75", seen[-1:])
    os.kill(srv.pid, signal.SIGUSR1)
    t.ok(wait_for(lambda: shows("DRAIN (agent)", "75"), 10),
         "away: HAProxy drains the server", seen[-1:])
    os.kill(srv.pid, signal.SIGUSR2)
    t.ok(wait_for(lambda: shows("no check", "75"), 10),
         "back: the drain is lifted", seen[-1:])
    a.close()


def usage(tmp):
    for arg in ("", "[::1]", "1:2:3", "host:", ":80", "99999", "x"):
        st, out, err = run([PTYCHATD, "--no-tls", "--agent", arg])
        t.eq(st, 2, "--agent '%s' is a usage error" % arg)


sections.run("capacity", capacity)
sections.run("signals", signals)
sections.run("sigquit when idle", sigquit_idle)
sections.run("maint while stopping", stopping)
if missing_tools("tmux"):
    t.skip("console", missing_tools("tmux"), tool=True)
else:
    sections.run("console", console)
if missing_tools("haproxy"):
    t.skip("haproxy", missing_tools("haproxy"), count=4, tool=True)
else:
    sections.run("haproxy", haproxy)
sections.run("usage", usage)
t.done()
