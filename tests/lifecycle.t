#!/usr/bin/env python3
# How sessions end, how the server stops, and that nothing is left behind:
# no zombie, no fd, no thread, no window process.
import os
import signal
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from ptytest import (STANDIN, TAP, Sections, children_of,  # noqa: E402
                     fd_count, missing_tools, process_alive, settled,
                     thread_count, wait_for, zombies)

NO_WINDOW = b"ptychatd: no operator window is available\n"
t = TAP()
# Each section's servers are stopped and checked after it.
sections = Sections(t)
server = sections.server


def churn(tmp):
    """Fifty sessions come and go; fds, threads, children come back."""
    srv = server(tmp)

    def one_session(i):
        c = srv.connect()
        w = srv.window(i)
        c.send("hello %d\n" % i)
        w.wait_text("hello %d" % i)
        if i % 2:
            c.close()       # the client leaves first, then the window
            w.wait_text("closed its side")
            w.close()
        else:
            w.close()       # the window goes first
            c.wait_eof()
            c.close()

    # The baseline is taken after one session: a sanitizer runtime may
    # start a helper thread of its own with the first thread.
    fds_before = fd_count(srv.pid)
    one_session(1)
    wait_for(lambda: children_of(srv.pid) == [])
    wait_for(lambda: fd_count(srv.pid) == fds_before)
    base_fds = fd_count(srv.pid)
    base_threads = settled(lambda: thread_count(srv.pid))
    for i in range(2, 52):
        one_session(i)
    t.ok(wait_for(lambda: fd_count(srv.pid) == base_fds, 10),
         "after 50 sessions the fd count is back to %d" % base_fds,
         "now %d: %r" % (fd_count(srv.pid), os.listdir(
             "/proc/%d/fd" % srv.pid)))
    t.ok(wait_for(lambda: thread_count(srv.pid) == base_threads, 10),
         "after 50 sessions the thread count is back to %d" % base_threads,
         "now %d" % thread_count(srv.pid))
    t.ok(wait_for(lambda: children_of(srv.pid) == [], 10),
         "every window process has been reaped (no zombie)",
         children_of(srv.pid))
    return srv


def reset(tmp):
    """A client that resets: a notice in its window; others carry on."""
    srv = server(tmp)
    a = srv.connect()
    wa = srv.window(1)
    b = srv.connect()
    wb = srv.window(2)
    a.send("about to vanish\n")
    wa.wait_text("about to vanish")
    a.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                      struct.pack("ii", 1, 0))
    a.close()
    t.ok(wa.wait_text("the client is gone"),
         "a reset shows 'the client is gone' in its window", wa.text())
    t.ok(srv.wait_log(r"session 1 \S+: client gone"),
         "the server logs the reset")
    wa.type("anyone there?\r")
    t.ok(wa.wait_text("not sent"),
         "a line typed to a vanished client is reported as not sent")
    b.send("still talking\n")
    wb.type("yes\r")
    t.ok(wb.wait_text("still talking") and b.wait_data("yes\n"),
         "the other session is unaffected")
    wa.close()
    t.ok(wait_for(lambda: zombies(srv.pid) == [] and len(
        children_of(srv.pid)) == 1), "the closed window is reaped")
    return srv


def sigterm(tmp):
    """SIGTERM closes every session and reaps every window."""
    srv = server(tmp)
    clients, pids = [], []
    for i in range(1, 4):
        clients.append(srv.connect())
        pids.append(srv.window(i).pid)
    start = time.monotonic()
    status = srv.stop(signal.SIGTERM)
    took = time.monotonic() - start
    t.eq(status, 0, "SIGTERM: the server exits 0")
    t.diag("shutdown with 3 sessions took %.2f s" % took)
    t.ok(all(c.wait_eof(2) for c in clients), "SIGTERM: every client sees EOF")
    t.ok(wait_for(lambda: not any(process_alive(p) for p in pids), 2),
         "SIGTERM: every window process has exited")
    t.ok(srv.wait_log(r"stopped"), "SIGTERM: the server says it stopped")
    # Connections the server closed sit in TIME_WAIT; a new server must
    # still get the port (SO_REUSEADDR).
    again = server(os.path.join(tmp, "again"), args=["-p", str(srv.port)])
    t.eq(again.port, srv.port, "a new server binds the same port at once")
    return srv


def sigint_idle(tmp):
    srv = server(tmp)
    t.eq(srv.stop(signal.SIGINT), 0, "SIGINT with no session: exit 0")
    return srv


def missing_terminal(tmp):
    """No terminal program: one line to the client; the server goes on."""
    srv = server(tmp, terminal=os.path.join(tmp, "no-such-terminal"))
    t.ok(srv.wait_log(r"warning: terminal program '.*no-such-terminal' "
                      r"not found"), "a missing terminal is reported at start")
    for n in (1, 2):
        c = srv.connect()
        t.ok(c.wait_eof(), "client %d is closed when no window can open" % n)
        t.eq(c.buf, NO_WINDOW, "client %d is told no window is available" % n)
    # glibc's posix_spawnp reports ENOENT itself; under valgrind the
    # child reports it instead, by exiting with status 127.
    t.ok(srv.wait_log(r"session 2 \S+: cannot start terminal "
                      r"'.*no-such-terminal': No such file or directory"
                      r"|session 2: terminal exited with status 127"),
         "the server logs why the window could not open")
    t.ok(srv.proc.poll() is None, "the server keeps serving")
    return srv


def early_exit(tmp):
    """A terminal that exits before its window opens (no display, say)."""
    srv = server(tmp, terminal="%s --exit-early --dir %s --name %%n"
                 % (STANDIN, tmp))
    c = srv.connect()
    t.ok(c.wait_eof() and c.buf == NO_WINDOW,
         "a terminal that dies at once: the client is told and closed",
         c.buf)
    t.ok(srv.wait_log(r"session 1 \S+: no window: the terminal exited "
                      r"before its window opened"), "and the server logs it")
    t.ok(srv.wait_log(r"session 1: terminal exited with status 1"),
         "the terminal's exit status is logged")
    t.ok(wait_for(lambda: children_of(srv.pid) == []), "and it is reaped")
    return srv


def no_display(tmp):
    """No DISPLAY: warned at start; a real xterm then cannot open, and the
    client is told so at once (no waiting for a time-out)."""
    missing = missing_tools("xterm")
    terminal = None if missing else "xterm"
    srv = server(tmp, terminal=terminal, env={"DISPLAY": ""})
    t.ok(srv.wait_log(r"warning: DISPLAY is not set"),
         "an unset DISPLAY is reported at start")
    if missing:
        t.skip("with no display, an xterm client is told no window is "
               "available", missing, 2, tool=True)
        return srv
    c = srv.connect()
    t.ok(c.wait_eof(5) and c.buf == NO_WINDOW,
         "with no display, an xterm client is told no window is available",
         c.buf)
    t.ok(srv.wait_log(r"session 1 \S+: no window: the terminal exited"),
         "and the server logs why")
    return srv


for name, fn in [("churn", churn), ("reset", reset), ("sigterm", sigterm),
                 ("sigint", sigint_idle),
                 ("missing terminal", missing_terminal),
                 ("early exit", early_exit), ("no display", no_display)]:
    sections.run(name, fn)
t.done()
