#!/usr/bin/env python3
# The desk of docs/desk.md: HAProxy run with docs/haproxy.cfg as shipped
# (only its ports and check intervals replaced) in front of ptychatd
# desks with --proxy-protocol and --agent.  Clients come from 127.0.0.2,
# .3, ... and each window shows its own client's address and port;
# health checks open no window and log nothing; away drains a desk and
# back restores it; a killed desk is left out and the others talk on;
# TLS passes through; --allow, --deny and --max-per-host judge the
# client, not HAProxy.
import os
import re
import signal
import socket
import subprocess
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from ptytest import (PTYCHAT, PTYCHATD, SLOW, TOP, TAP, Client,  # noqa
                     Sections, Server, Window, fd_targets, free_port,
                     haproxy_stat, kill_all, missing_tools, read_text, run,
                     wait_for)

t = TAP()
sections = Sections(t)
SHIPPED = os.path.join(TOP, "docs", "haproxy.cfg")
FINGERPRINT = r"SHA256:[A-Za-z0-9+/]{43}"
TRUST = ["--proxy-protocol", "127.0.0.1/32"]


def agent_port(srv):
    m = re.search(r"agent listening on \S+ port (\d+)", srv.text())
    return int(m.group(1)) if m else None


def shipped_cfg(tmp, public, desks):
    """docs/haproxy.cfg with the test's ports: public for clients, and a
    (port, agent port) per desk; checks every 100 ms.  Each text the
    test replaces must be found exactly once, or the file has changed
    under the test and it says so."""
    text = read_text(SHIPPED)
    subs = [("\tbind :6666\n", "\tbind 127.0.0.1:%d\n" % public),
            (" check inter 2s ", " check inter 100ms "),
            (" agent-inter 2s ", " agent-inter 100ms ")]
    for n, (port, agent) in enumerate(desks, 1):
        subs.append(("\tserver d%d 127.0.0.1:%d agent-port %d\n"
                     % (n, 6670 + n, 6680 + n),
                     "\tserver d%d 127.0.0.1:%d agent-port %d\n"
                     % (n, port, agent)))
    for old, new in subs:
        if text.count(old) != 1:
            raise RuntimeError("docs/haproxy.cfg: %r found %d times, "
                               "not once" % (old, text.count(old)))
        text = text.replace(old, new)
    path = os.path.join(tmp, "haproxy.cfg")
    with open(path, "w") as f:
        f.write(text)
    return path


class Desk:
    """HAProxy with the shipped file in front of the given desks (None:
    a desk not started, whose port nobody listens on)."""

    def __init__(self, tmp, desks):
        self.tmp, self.desks = tmp, desks
        self.public = free_port()
        ports = [(d.port, agent_port(d)) if d else (free_port(),
                                                     free_port())
                 for d in desks]
        cfg = shipped_cfg(tmp, self.public, ports)
        self.sock = os.path.join(tmp, "ptychat-haproxy.sock")
        self.log_path = os.path.join(tmp, "haproxy.log")
        log = open(self.log_path, "wb")
        sections.defer(log.close)
        self.proc = subprocess.Popen(
            ["haproxy", "-f", cfg, "-db"], stdin=subprocess.DEVNULL,
            stdout=log, stderr=subprocess.STDOUT,
            env=dict(os.environ, XDG_RUNTIME_DIR=tmp))
        sections.defer(kill_all, [self.proc])
        self.last = None

    def status(self):
        """Each desk's status as HAProxy shows it ("UP", "DOWN",
        "DRAIN (agent)", ...), d1 first."""
        rows = [haproxy_stat(self.sock, "d%d" % n)
                for n in range(1, len(self.desks) + 1)]
        self.last = [row and row.get("status") for row in rows]
        return self.last

    def wait_status(self, want, timeout=10.0):
        return wait_for(lambda: self.status() == want, timeout, 0.05)

    def connect(self, source, first=None):
        """A client from address source; first: a line it sends at once
        (a plain client that says nothing waits 200 ms for its window)."""
        c = Client(socket.create_connection(("127.0.0.1", self.public), 5,
                                            (source, 0)))
        if first:
            c.send(first)
        return c


def windows(srv):
    """The numbers of srv's windows so far."""
    return sorted(int(n[:-4]) for n in os.listdir(srv.windows)
                  if n.endswith(".pid"))


def find_window(desks, text, timeout=10.0):
    """(desk index, window) of the window that shows text, or None."""
    found = []

    def look():
        for i, d in enumerate(desks):
            if d is None:
                continue
            for n in windows(d):
                w = Window(d.windows, n)
                if text in w.text():
                    found.append((i, w))
                    return True
        return False

    return found[0] if wait_for(look, timeout) else None


def shows_client(w, addr, port):
    """The window's title and banner name the client's own address."""
    label = "%s:%d" % (addr, port)
    return re.match(r"ptychat #\d+ %s$" % re.escape(label),
                    w.title().strip()) is not None and \
        ("client %s connected" % label) in w.text()


def talks(c, w, tag):
    """Both directions of one conversation work."""
    c.send("%s from the client\n" % tag)
    w.type("%s from the operator\r" % tag)
    return w.wait_text("%s from the client" % tag) and \
        c.wait_data("%s from the operator\n" % tag)


def arrive(desk, desks, source, tag):
    """A client from source through HAProxy: (client, desk index,
    window), the window found by the line the client sends first."""
    c = desk.connect(source, "%s here\n" % tag)
    hit = find_window(desks, "%s here" % tag)
    return (c,) + (hit if hit else (None, None))


def the_desk(tmp):
    d = [sections.server(os.path.join(tmp, "d1"), args=TRUST +
                         ["--max-clients", "4", "--agent", "0"])]
    # d2 is killed below: not one of the section's servers, which must
    # all stop with status 0.
    d.append(Server(os.path.join(tmp, "d2"), args=TRUST +
                    ["--max-clients", "4", "--agent", "0"]))
    sections.defer(d[1].cleanup)
    d.append(sections.server(os.path.join(tmp, "d3"), args=TRUST +
                             ["--max-clients", "4", "--agent", "0"]))
    desk = Desk(tmp, d)
    t.ok(desk.wait_status(["UP"] * 3), "HAProxy runs the shipped "
         "file: its checks see three desks up", desk.last)

    logs = [srv.text() for srv in d]
    quiet = not wait_for(lambda: any(srv.text() != log for srv, log in
                                     zip(d, logs)) or
                         any(windows(srv) for srv in d), 3.0)
    t.ok(quiet and desk.status() == ["UP"] * 3, "three seconds of health "
         "checks every 100 ms: no window, no log line", [
             srv.text()[len(log):] for srv, log in zip(d, logs)])

    # Four clients: leastconn gives each desk one before any gets two.
    sources = ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"]
    got = [arrive(desk, d, src, "client %s" % src) for src in sources]
    t.ok(all(g[2] for g in got), "four clients through HAProxy, four "
         "windows", [g[1] for g in got])
    t.ok(all(g[2] and shows_client(g[2], src, g[0].sock.getsockname()[1])
             for g, src in zip(got, sources)),
         "each window shows its own client's address and port",
         [g[2].title() for g in got if g[2]])
    t.eq(sorted(set(g[1] for g in got[:3])), [0, 1, 2],
         "the first three went to three different desks")
    t.ok(all(talks(c, w, "first") for c, _, w in got if w),
         "every conversation works both ways")

    # Away: d1 drains; new clients go to d2 and d3.
    os.kill(d[0].pid, signal.SIGUSR1)
    t.ok(desk.wait_status(["DRAIN (agent)", "UP", "UP"]),
         "d1 away: its agent says drain, HAProxy drains it", desk.last)
    before = windows(d[0])
    later = [arrive(desk, d, src, "later %s" % src)
             for src in ("127.0.0.6", "127.0.0.7")]
    t.ok(all(g[2] and g[1] in (1, 2) for g in later) and
         windows(d[0]) == before, "new clients go to the other desks",
         [g[1] for g in later])
    mine = [g for g in got if g[1] == 0]
    t.ok(mine and all(talks(c, w, "away") for c, _, w in mine),
         "d1's own conversations go on while it is away")

    # Back: with its conversations over, d1 has the fewest and gets the
    # next client.
    for c, _, w in mine:
        w.close()
    t.ok(all(c.wait_eof() for c, _, _ in mine), "d1's windows closed: "
         "its clients are hung up on")
    for c, _, _ in mine:
        c.close()
    t.ok(wait_for(lambda: (haproxy_stat(desk.sock, "d1") or {}).get(
        "scur") == "0", 5.0), "HAProxy counts no session on d1")
    os.kill(d[0].pid, signal.SIGUSR2)
    t.ok(desk.wait_status(["UP"] * 3), "d1 back: HAProxy takes it in "
         "again", desk.last)
    c, i, w = arrive(desk, d, "127.0.0.8", "back")
    t.ok(i == 0 and shows_client(w, "127.0.0.8", c.sock.getsockname()[1])
         and talks(c, w, "back"), "the next client goes to d1, whose "
                                   "window shows it")

    # A desk killed: its clients are cut off, HAProxy leaves it out, and
    # the other desks' conversations do not notice.
    d2 = [g for g in got + later if g[1] == 1]
    os.kill(d[1].pid, signal.SIGKILL)
    d[1].proc.wait(5 * SLOW)
    t.ok(all(c.wait_eof() for c, _, _ in d2), "d2 killed: its clients "
         "see the end")
    t.ok(desk.wait_status(["UP", "DOWN", "UP"]), "HAProxy's checks find "
         "d2 down", desk.last)
    others = [g for g in got + later if g[1] == 2] + [(c, i, w)]
    new = [arrive(desk, d, src, "after %s" % src)
           for src in ("127.0.0.9", "127.0.0.10")]
    t.ok(all(g[2] and g[1] in (0, 2) for g in new), "new clients go to "
         "d1 and d3", [g[1] for g in new])
    t.ok(all(talks(c, w, "still") for c, _, w in others + new),
         "the other desks' conversations go on both ways")
    for c, _, _ in got + later + new + [(c, i, w)]:
        c.close()


def limits(tmp):
    """One desk up (the others not started): --allow, --deny and
    --max-per-host see each client's address, never HAProxy's."""
    d = [sections.server(os.path.join(tmp, "d1"), args=TRUST + [
        "--agent", "0", "--allow", "127.0.0.0/29", "--deny",
        "127.0.0.3/32", "--max-per-host", "1"]), None, None]
    desk = Desk(tmp, d)
    t.ok(desk.wait_status(["UP", "DOWN", "DOWN"]), "one desk up, two "
         "down", desk.last)
    a, i, w = arrive(desk, d, "127.0.0.2", "first from .2")
    t.ok(w and shows_client(w, "127.0.0.2", a.sock.getsockname()[1]),
         "a client from 127.0.0.2 gets its window")
    again = desk.connect("127.0.0.2", "second from .2\n")
    t.ok(again.wait_data("ptychatd: too many connections from your "
                         "address\n") and again.wait_eof(),
         "a second one from 127.0.0.2 is refused: --max-per-host 1")
    denied = desk.connect("127.0.0.3", "from .3\n")
    t.ok(denied.wait_data("ptychatd: access denied\n") and
         denied.wait_eof(), "127.0.0.3 is denied (--deny)")
    outside = desk.connect("127.0.0.9", "from .9\n")
    t.ok(outside.wait_data("ptychatd: access denied\n") and
         outside.wait_eof(), "127.0.0.9 is outside --allow 127.0.0.0/29 "
         "(HAProxy's 127.0.0.1 is inside)")
    b, i, w2 = arrive(desk, d, "127.0.0.4", "from .4")
    t.ok(w2 and shows_client(w2, "127.0.0.4", b.sock.getsockname()[1]),
         "one from 127.0.0.4 gets its window: HAProxy's address counts "
         "for nothing")
    t.eq(windows(d[0]), sorted(int(os.path.basename(x.pid_path)[:-4])
                               for x in (w, w2) if x),
         "and the refused ones had no window")
    a.close()
    b.close()


def local_port(pid):
    """The local port of pid's one TCP connection over IPv4, or None."""
    inodes = set(x[8:-1] for x in fd_targets(pid)
                 if x.startswith("socket:["))
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[9] in inodes and fields[3] == "01":
                return int(fields[1].split(":")[1], 16)
    return None


def tls(tmp):
    """Two desks sharing one key, TLS through HAProxy with the real
    ptychat: each window shows the client's key and its address."""
    home = os.path.join(tmp, "keys")
    key = os.path.join(home, "ptychat", "ptychatd.key")
    cert = os.path.join(home, "ptychat", "ptychatd.crt")
    st, out, err = run([PTYCHATD, "--fingerprint"],
                       env=dict(os.environ, XDG_CONFIG_HOME=home))
    m = re.search(FINGERPRINT, out)
    t.ok(st == 0 and m and os.path.exists(key) and os.path.exists(cert),
         "ptychatd --fingerprint makes the key every desk will share",
         out + err)
    shared = m.group(0) if m else ""
    st, out, err = run([PTYCHAT, "--show-key"])
    mine = re.search(FINGERPRINT, out)
    mine = mine.group(0) if mine else "no key"
    d = [sections.server(os.path.join(tmp, "d%d" % n), tls=True, args=TRUST
                         + ["--agent", "0", "--key", key, "--cert", cert])
         for n in (1, 2)] + [None]
    desk = Desk(tmp, d)
    t.ok(desk.wait_status(["UP", "UP", "DOWN"]), "two desks up",
         desk.last)
    procs, got = [], []
    sections.defer(kill_all, procs)
    for n in (1, 2):
        p = subprocess.Popen([PTYCHAT, "--fingerprint", shared, "127.0.0.1",
                              str(desk.public)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        procs.append(p)
        p.stdin.write(b"ptychat %d over TLS\n" % n)
        p.stdin.flush()
        hit = find_window(d, "ptychat %d over TLS" % n)
        got.append((p, local_port(p.pid)) + (hit or (None, None)))
    t.ok(all(g[3] for g in got), "two ptychat clients through HAProxy, "
         "two windows", [g[2] for g in got])
    t.eq(sorted(g[2] for g in got), [0, 1], "one on each desk: both "
         "desks have the key the clients were told of")
    t.ok(all(g[3] and re.search(r"Connection: TLS, key %s" %
                                re.escape(mine), g[3].text())
             for g in got), "each window shows the client's key",
         [g[3].text() for g in got if g[3]])
    t.ok(all(g[3] and g[1] and shows_client(g[3], "127.0.0.1", g[1])
             for g in got), "and the client's own address and port, "
         "not HAProxy's", [(g[1], g[3].title()) for g in got if g[3]])
    p, _, _, w = got[0]
    heard = []
    reader = threading.Thread(target=lambda: heard.append(p.stdout.read()),
                              daemon=True)
    reader.start()
    if w:
        w.type("over TLS to you\r")
        t.ok(w.wait_text("over TLS to you"), "the operator answers")
        w.close()
    t.ok(w and wait_for(lambda: heard, 5.0) and
         b"over TLS to you\n" in heard[0], "the answer reaches the "
         "client, which ends when its window is closed", heard)

if missing_tools("haproxy"):
    t.skip("the desk behind HAProxy", missing_tools("haproxy"), tool=True)
else:
    sections.run("the desk", the_desk)
    sections.run("limits", limits)
    sections.run("tls", tls)
t.done()
