#!/usr/bin/env python3
# One owner per direction of a client's socket, and a main thread that
# never waits on a session:
# - a window that stops reading (SIGSTOP) while its client floods it
#   stalls only its own session: say, all, list and kick still answer at
#   the console, a new client still gets a window, kick ends the stuck
#   session at once, and SIGTERM still stops the server within 2 s;
# - a console line said during a 1 MiB paste reaches the client whole,
#   between two of the pasted lines, never inside one.
import os
import re
import signal
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from ptytest import (SLOW, TAP, ConsoleServer, Sections,  # noqa
                     need_tools, process_alive, wait_for)

t = TAP()
need_tools(t, "tmux")


def flood(sock, limit, seconds):
    """Sends until the socket will take no more (the server has stopped
    reading) or limit bytes; returns the bytes sent."""
    sock.setblocking(False)
    sent, chunk = 0, b"x" * 65536
    deadline = time.monotonic() + seconds
    stalled_since = None
    while sent < limit and time.monotonic() < deadline:
        try:
            sent += sock.send(chunk)
            stalled_since = None
        except BlockingIOError:
            now = time.monotonic()
            stalled_since = stalled_since or now
            if now - stalled_since > 0.5:
                break
            time.sleep(0.01)
    sock.setblocking(True)
    return sent


def stuck_window(tmp):
    con = ConsoleServer(tmp, "stuck")
    try:
        t.ok(con.port, "ptychatd runs with its console in a pane",
             con.screen())
        a = con.connect()
        wa = con.window(1)
        t.ok(wa and wa.wait_text("Close this window"),
             "client 1 gets a window")
        os.kill(wa.pid, signal.SIGSTOP)
        sent = flood(a.sock, 64 << 20, 10 * SLOW)
        t.ok(0 < sent < 64 << 20,
             "with its window stopped, client 1's flood stalls (%d bytes "
             "taken)" % sent)
        t.ok(con.command("say 1 are you there", r"sent to #1"),
             "say to the stuck session answers at once", con.screen())
        t.ok(a.wait_data("are you there\n", 3 * SLOW),
             "and the line reaches its client, whose window is stuck")
        t.ok(con.command("all to everyone", r"sending to 1 client"),
             "all answers at once", con.screen())
        t.ok(con.command("list", r"1\s+127\.0\.0\.1:\d+.*open"),
             "list answers, and shows the stuck session open",
             con.screen())
        b = con.connect()
        wb = con.window(2)
        t.ok(wb and wb.wait_text("Close this window"),
             "a new client still gets a window")
        b.send("hello from b\n")
        t.ok(wb.wait_text("hello from b"),
             "and talks through it while session 1 is stuck")
        start = time.monotonic()
        t.ok(con.command("kick 1", r"hung up on #1"),
             "kick of the stuck session answers at once", con.screen())
        t.ok(a.wait_eof(2 * SLOW),
             "and its client is hung up on (%.2f s)"
             % (time.monotonic() - start))
        t.ok(wait_for(lambda: re.search(r"session 1 \S+: hung up from the "
                                        "console", con.screen()), 2 * SLOW),
             "the stuck session ends: the log says so", con.screen())
        t.ok(wait_for(lambda: not process_alive(wa.pid), 2 * SLOW),
             "and its stopped window closes at once")
        t.ok(wait_for(lambda: re.search(r"sent to 0 of 1 clients \(not to "
                                        r"#1: the session ended\)",
                                        con.screen()), 2 * SLOW),
             "the all line it had not sent yet gets its verdict",
             con.screen())
        start = time.monotonic()
        os.kill(con.pid, signal.SIGTERM)
        t.ok(wait_for(lambda: "status 0" in con.screen(), 2 * SLOW),
             "SIGTERM stops the server in %.2f s, with status 0"
             % (time.monotonic() - start), con.screen())
        a.close()
        b.close()
    finally:
        con.close()


def say_during_paste(tmp):
    """Ten console lines said while a 6 MiB paste goes out to a client
    that reads slowly, so that the server's socket buffer (up to 4 MiB
    on loopback) is full and has a little room now and then: each
    console line arrives whole, between two pasted lines."""
    con = ConsoleServer(tmp, "paste")
    try:
        t.ok(con.port, "ptychatd runs with its console in a pane",
             con.screen())
        c = con.connect(rcvbuf=4096)
        w = con.window(1)
        t.ok(w and w.wait_text("Close this window"), "the client gets a "
             "window")
        # 6 MiB of lines, each 1000 bytes and numbered, pasted at once.
        lines = ["%04d:" % i + "p" * 995 for i in range(6300)]
        paste = "".join(ln + "\r" for ln in lines)
        markers = ["MARKER %d from the console" % i for i in range(10)]
        typist = threading.Thread(target=w.type, args=(paste,), daemon=True)
        typist.start()
        got = bytearray()
        done = threading.Event()

        def read_slowly():
            c.sock.settimeout(1)
            deadline = time.monotonic() + 60 * SLOW
            while time.monotonic() < deadline and not done.is_set():
                try:
                    data = c.sock.recv(2048)
                except socket.timeout:
                    continue
                if not data:
                    break
                got.extend(data)
                time.sleep(0.001)
        reader = threading.Thread(target=read_slowly, daemon=True)
        # The paste is well under way (its echo is in the window), then
        # the client starts reading, slowly: far slower than the paste
        # goes, so the socket stays full.  How much the socket takes is
        # the kernel's to tune (up to 4 MiB, less under memory pressure),
        # so the wait asks for less than that.
        t.ok(wait_for(lambda: os.path.getsize(w.out_path) > 1 << 20,
                      20 * SLOW, 0.1), "the paste is under way")
        reader.start()
        for m in markers:
            con.type("say 1 " + m)
            time.sleep(0.05)
        wait_for(lambda: all(m.encode() in got for m in markers) and
                 b"6299:" in got and got.endswith(b"\n"), 60 * SLOW, 0.25)
        done.set()
        reader.join(5)
        typist.join(5)
        rows = got.decode(errors="replace").split("\n")[:-1]
        t.eq([r for r in rows if r.startswith("MARKER")], markers,
             "every console line arrives once, whole, on a line of its "
             "own, in order")
        pasted = [r for r in rows if not r.startswith("MARKER")]
        whole = set(lines)
        odd = [r[:60] + "..." + r[-60:] for r in pasted if r not in whole]
        if odd:
            t.diag("rows that are not pasted lines: %r" % odd[:5])
        t.ok(pasted == lines, "every pasted line arrives whole and in order"
             " (%d of %d)" % (sum(1 for r in pasted if r in whole),
                              len(lines)))
        t.ok(wait_for(lambda: len(re.findall(r"^sent to #1\s*$",
                                             con.screen(), re.M)) == 10,
                      10 * SLOW), "each say gets its verdict, once",
             con.screen())
        t.ok(con.command("list", r"1\s+127"), "the console still answers")
        t.ok(wait_for(lambda: "sent from the console: MARKER 9" in w.text(),
                      5 * SLOW), "the window shows the console's lines")
        c.close()
    finally:
        con.close()


sections = Sections(t)
sections.run("stuck window", stuck_window)
sections.run("say during a paste", say_during_paste)
t.done()
