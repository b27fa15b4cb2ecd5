#!/usr/bin/env python3
# Races between a session's threads and the rest, each repeated many
# times (fewer under the slow sanitizer builds, bounded in time either
# way): a kick during a paste, a console line while its client hangs up,
# a client that hangs up while the operator types, and a server stopped
# while windows are still opening.  After each: the server runs on, or
# exits 0, with no zombie and its fds and threads back where they were.
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from ptytest import (PTYCHATD, SLOW, STANDIN, TAP, Client, Sections,  # noqa
                     Window, fd_count, need_tools, settled, thread_count,
                     wait_for, zombies)

t = TAP()
need_tools(t, "tmux")
sections = Sections(t)
ROUNDS = 200
# Seconds a section may spend on its rounds: a sanitizer build runs as
# many as fit.
BUDGET = 60.0 if SLOW <= 1 else 25.0


class ConsoleServer:
    """ptychatd in a private tmux pane, its console typed into."""

    def __init__(self, tmp):
        self.env = dict(os.environ, TMUX_TMPDIR=tmp)
        self.env.pop("TMUX", None)
        self.windows = os.path.join(tmp, "windows")
        os.makedirs(self.windows)
        self.tmux("new-session", "-d", "-s", "con", "-x", "150", "-y", "50",
                  "%s -p 0 -b 127.0.0.1 -t '%s --dir %s --name %%n'; "
                  "echo status $?; sleep 60"
                  % (PTYCHATD, STANDIN, self.windows))
        m = wait_for(lambda: re.search(r"listening on \S+ port (\d+)",
                                       self.screen()), 10 * SLOW)
        self.port = int(m.group(1)) if m else None
        pane = self.tmux("list-panes", "-t", "con", "-F", "#{pane_pid}")
        kids = wait_for(lambda: self.children(int(pane)), 5) \
            if pane.strip().isdigit() else None
        self.pid = kids[0] if kids else None

    @staticmethod
    def children(pid):
        try:
            with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
                return [int(p) for p in f.read().split()]
        except OSError:
            return []

    def tmux(self, *args):
        return subprocess.run(["tmux"] + list(args), env=self.env,
                              capture_output=True, timeout=10
                              ).stdout.decode()

    def screen(self):
        return self.tmux("capture-pane", "-p", "-J", "-t", "con")

    def type(self, text):
        self.tmux("send-keys", "-t", "con", text, "Enter")

    def connect(self):
        return Client(socket.create_connection(("127.0.0.1", self.port), 5))

    def window(self, n):
        w = Window(self.windows, n)
        return w if wait_for(lambda: os.path.exists(w.pid_path),
                             10 * SLOW) else None

    def stop(self):
        """SIGTERM; returns True once ptychatd has exited with 0."""
        if self.pid:
            os.kill(self.pid, signal.SIGTERM)
        ok = wait_for(lambda: "status 0" in self.screen(), 5 * SLOW)
        self.tmux("kill-server")
        return ok


def type_into(w, keys):
    """Types keys into a stand-in window until it is gone: unlike
    Window.type, never waits for a window that has already closed."""
    try:
        fd = os.open(w.in_path, os.O_WRONLY | os.O_NONBLOCK)
    except OSError:
        return
    try:
        os.set_blocking(fd, True)
        os.write(fd, keys.encode())
    except OSError:
        pass
    finally:
        os.close(fd)


def counts(pid):
    """The server's (fd count, thread count)."""
    return fd_count(pid), thread_count(pid)


def baseline(con):
    """The server's counts once one session has come and gone (the
    sanitizers start a thread of their own with the first thread).
    Window 1 is used up."""
    c = con.connect()
    w = con.window(1)
    if w is not None:
        w.wait_text("Close this window", 5 * SLOW)
    c.close()
    if w is not None:
        w.close()
    return settled(lambda: counts(con.pid))


def kick_during_paste(tmp):
    con = ConsoleServer(tmp)
    t.ok(con.port, "ptychatd runs with its console", con.screen())
    base = baseline(con)
    start, done, rounds = time.monotonic(), 0, 0
    paste = ("x" * 999 + "\r") * 256
    while rounds < ROUNDS and time.monotonic() - start < BUDGET:
        rounds += 1
        c = con.connect()
        w = con.window(rounds + 1)
        if w is None or not w.wait_text("Close this window", 5 * SLOW):
            break
        typist = threading.Thread(target=type_into, args=(w, paste),
                                  daemon=True)
        typist.start()
        con.type("kick %d" % (rounds + 1))
        if not c.wait_eof(5 * SLOW):
            break
        c.close()
        typist.join(5 * SLOW)
        done += 1
    t.eq(done, rounds, "kick during a 256 KiB paste, %d rounds: every "
         "client hung up on" % rounds)
    t.ok(wait_for(lambda: counts(con.pid) == base,
                  10 * SLOW),
         "fds and threads back to %r" % (base,))
    t.eq(zombies(con.pid), [], "no zombie")
    t.ok(con.stop(), "SIGTERM then stops it with status 0", con.screen())


def say_while_hanging_up(tmp):
    con = ConsoleServer(tmp)
    t.ok(con.port, "ptychatd runs with its console", con.screen())
    base = baseline(con)
    start, rounds, answered = time.monotonic(), 0, 0
    while rounds < ROUNDS and time.monotonic() - start < BUDGET:
        rounds += 1
        number = rounds + 1
        c = con.connect()
        w = con.window(number)
        if w is None or not w.wait_text("Close this window", 5 * SLOW):
            break
        con.type("say %d round %d" % (number, rounds))
        # A reset at once: the line may or may not be sent first.
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                          struct.pack("ii", 1, 0))
        c.close()
        verdict = r"^(sent to|not sent to|not sent:|no session) #%d\b" \
            % number
        if wait_for(lambda: re.search(verdict, con.screen(), re.M),
                    5 * SLOW):
            answered += 1
        else:
            break
        # The client is gone; the window stays until the operator closes
        # it.
        w.close()
    t.eq(answered, rounds, "say while the client resets, %d rounds: "
         "each say gets its verdict" % rounds)
    t.ok(wait_for(lambda: counts(con.pid) == base,
                  10 * SLOW),
         "fds and threads back to %r" % (base,))
    t.eq(zombies(con.pid), [], "no zombie")
    t.ok(con.stop(), "SIGTERM then stops it with status 0", con.screen())


def hang_up_while_typing(srv):
    c = srv.connect()
    srv.window(1)
    c.close()
    srv.window(1).close()
    base = settled(lambda: counts(srv.pid))
    start, rounds, ended = time.monotonic(), 0, 0
    while rounds < ROUNDS and time.monotonic() - start < BUDGET:
        rounds += 1
        number = rounds + 1
        c = srv.connect()
        w = srv.window(number)
        if not w.wait_text("Close this window", 5 * SLOW):
            break
        typist = threading.Thread(target=type_into,
                                  args=(w, ("y" * 99 + "\r") * 200),
                                  daemon=True)
        typist.start()
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                          struct.pack("ii", 1, 0))
        c.close()
        if not srv.wait_log(r"session %d \S+: (client gone|client closed)"
                            % number, 5 * SLOW):
            break
        w.close()
        typist.join(5 * SLOW)
        ended += 1
    t.eq(ended, rounds, "client resets while the operator types, %d "
         "rounds: each session notices" % rounds)
    t.ok(wait_for(lambda: counts(srv.pid) == base, 10 * SLOW),
         "fds and threads back to %r" % (base,), counts(srv.pid))
    t.eq(zombies(srv.pid), [], "no zombie")


def stop_while_opening(tmp):
    rounds, clean = 0, 0
    start = time.monotonic()
    while rounds < ROUNDS // 4 and time.monotonic() - start < BUDGET:
        rounds += 1
        srv = sections.server(os.path.join(tmp, str(rounds)))
        for _ in range(3):
            srv.connect()
        # Windows are being launched and awaited: stop now.
        srv.stop()
        sections.started.remove(srv)
        srv.cleanup()
        if srv.proc.returncode == 0:
            clean += 1
    t.eq(clean, rounds, "SIGTERM while three windows open, %d rounds: "
         "exit status 0 each time" % rounds)


sections.run("kick during a paste", kick_during_paste)
sections.run("say while the client hangs up", say_while_hanging_up)
sections.with_server("hang-up while typing", [], hang_up_while_typing)
sections.run("stop while windows open", stop_while_opening)
t.done()
