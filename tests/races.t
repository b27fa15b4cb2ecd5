#!/usr/bin/env python3
# Races between a session's threads and the rest, each repeated many
# times (fewer under the slow sanitizer builds, bounded in time either
# way): a kick during a paste, a console line while its client hangs up,
# a client that hangs up while the operator types, and a server stopped
# while windows are still opening.  After each: the server runs on, or
# exits 0, with no zombie and its fds and threads back where they were.
import os
import re
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from ptytest import (SLOW, TAP, ConsoleServer, Sections, fd_count,  # noqa
                     need_tools, settled, thread_count, wait_for, zombies)

t = TAP()
need_tools(t, "tmux")
# The rounds open windows back to back, faster than the default
# --max-window-rate (lobby.t tests the rate).
NO_RATE = ["--max-window-rate", "0"]
sections = Sections(t, NO_RATE)
ROUNDS = 200
# Seconds a section may spend on its rounds: a sanitizer build runs as
# many as fit.
BUDGET = 60.0 if SLOW <= 1 else 25.0


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


def wound_down(con, base):
    """After the rounds: nothing left over, and a clean stop."""
    t.ok(wait_for(lambda: counts(con.pid) == base, 10 * SLOW),
         "fds and threads back to %r" % (base,),
         "now %r" % (counts(con.pid),))
    # A window that has just ended is reaped when its SIGCHLD is read:
    # only one that stays unreaped is a zombie.
    t.ok(wait_for(lambda: zombies(con.pid) == [], 5 * SLOW), "no zombie",
         zombies(con.pid))
    t.ok(con.stop(), "SIGTERM then stops it with status 0", con.screen())


def kick_during_paste(tmp):
    con = ConsoleServer(tmp, args=" ".join(NO_RATE))
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
    t.diag("%d rounds in %.1f s" % (rounds, time.monotonic() - start))
    wound_down(con, base)


def kick_while_echo_waits(tmp):
    """A short line's echo waits a moment for the client's answer: the
    console's kick (odd rounds) or the client's reset (even ones) lands
    while it waits."""
    con = ConsoleServer(tmp, args=" ".join(NO_RATE))
    t.ok(con.port, "ptychatd runs with its console", con.screen())
    base = baseline(con)
    start, done, rounds = time.monotonic(), 0, 0
    while rounds < ROUNDS and time.monotonic() - start < BUDGET:
        rounds += 1
        number = rounds + 1
        c = con.connect()
        w = con.window(number)
        if w is None or not w.wait_text("Close this window", 5 * SLOW):
            break
        type_into(w, "held %d\r" % rounds)
        if rounds % 2:
            con.type("kick %d" % number)
            if not c.wait_eof(5 * SLOW):
                break
        else:
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                              struct.pack("ii", 1, 0))
        c.close()
        ended = r"session %d \S+: (hung up|client gone|client closed)" \
            % number
        if not wait_for(lambda: re.search(ended, con.screen()), 5 * SLOW):
            break
        # A kicked window has closed; the client's stays for the operator.
        if rounds % 2 == 0:
            w.close()
        done += 1
    t.eq(done, rounds, "kick or reset while a line's echo waits, %d "
         "rounds: every session ends" % rounds)
    wound_down(con, base)


def say_while_hanging_up(tmp):
    con = ConsoleServer(tmp, args=" ".join(NO_RATE))
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
                    5 * SLOW) and len(re.findall(verdict, con.screen(),
                                                 re.M)) == 1:
            answered += 1
        else:
            break
        # The client is gone; the window stays until the operator closes
        # it.
        w.close()
    t.eq(answered, rounds, "say while the client resets, %d rounds: "
         "each say gets one verdict" % rounds)
    wound_down(con, base)


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
    t.ok(wait_for(lambda: zombies(srv.pid) == [], 5 * SLOW), "no zombie",
         zombies(srv.pid))


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
sections.run("kick while an echo waits", kick_while_echo_waits)
sections.run("say while the client hangs up", say_while_hanging_up)
sections.with_server("hang-up while typing", [], hang_up_while_typing)
sections.run("stop while windows open", stop_while_opening)
t.done()
