#!/usr/bin/env python3
# Races over TLS, where one thread of a session ends while another still
# works, each repeated many times (as many as fit in the time allowed,
# fewer under the slow sanitizer builds): a TLS client that hangs up
# while the window types to it, a window closed while its TLS client
# pastes, SIGTERM while handshakes stall or run, and a kick from the
# console during a TLS paste.  After each: the server serves a new TLS
# client both ways with its fds and threads back at their baseline and
# no zombie, or it has exited 0 at once with no sanitizer report.
#
# The clients are Python's ssl, with no key of their own, each driven by
# one thread (one SSL object is never used by two threads at once).
import os
import re
import select
import signal
import socket
import ssl
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from ptytest import (SLOW, TAP, ConsoleServer, Sections,  # noqa: E402
                     counts, fd_targets, missing_tools, process_alive,
                     read_text, settled, wait_for, zombies)

t = TAP()
sections = Sections(t)
ROUNDS = 300
# Seconds each section may spend on its rounds: a sanitizer build runs as
# many as fit in its own, longer, budget.
BUDGET = 8.0 if SLOW <= 1 else 20.0
# Seconds to wait for one thing: ptytest's waits scale it by SLOW
# themselves, socket timeouts here do.
TIMEOUT = 5.0

CTX = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
CTX.check_hostname = False
CTX.verify_mode = ssl.CERT_NONE
CTX.minimum_version = ssl.TLSVersion.TLSv1_3


def client_hello():
    """The first flight of a TLS 1.3 client, made without a socket."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = CTX.wrap_bio(incoming, outgoing)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


class TLSClient:
    """A TLS client on port, handshake done, then driven without blocking
    by pump()."""

    def __init__(self, port):
        raw = socket.create_connection(("127.0.0.1", port), TIMEOUT * SLOW)
        self.sock = CTX.wrap_socket(raw, do_handshake_on_connect=False)
        self.sock.settimeout(TIMEOUT * SLOW)
        self.sock.do_handshake()
        self.sock.setblocking(False)
        self.got = b""
        self.ended = None       # how the connection ended, once it has

    def _read(self):
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    self.ended = "end of stream"
                    return
                self.got += data
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            pass
        except OSError as e:
            self.ended = "%s: %s" % (type(e).__name__, e)

    def pump(self, out=b"", at=None, then=None, until=None,
             timeout=TIMEOUT):
        """Sends out while reading what comes, until until() holds, the
        connection ends or the deadline passes; calls then() once at
        bytes of out have gone.  Returns how many bytes went."""
        deadline = time.monotonic() + timeout * SLOW
        sent = 0
        while self.ended is None and not (until and until()):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            sending = sent < len(out)
            r, w, _ = select.select([self.sock],
                                    [self.sock] if sending else [], [],
                                    min(left, 0.05))
            if r or self.sock.pending():
                self._read()
            if not w or self.ended is not None:
                continue
            try:
                sent += self.sock.send(out[sent:sent + 16384])
            except (ssl.SSLWantWriteError, ssl.SSLWantReadError):
                pass
            except OSError as e:
                self.ended = "%s: %s" % (type(e).__name__, e)
            if then is not None and sent >= at:
                then()
                then = None
        return sent

    def reset(self):
        """Hangs up with a reset: no close_notify, no FIN."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                             struct.pack("ii", 1, 0))
        self.sock.close()

    def close(self):
        """Hangs up with a FIN and no close_notify."""
        self.sock.close()


def serves(srv, number):
    """A new TLS client gets window number, its line shows there, the
    operator's reaches it, and closing the window ends it."""
    c = TLSClient(srv.port)
    w = srv.window(number)
    banner = w is not None and w.wait_text("Close this window", TIMEOUT)
    t.ok(banner and "Connection: TLS, no key." in w.text(),
         "a new TLS client gets window %d, marked TLS, no key" % number,
         w.text()[:300] if w else "no window")
    if not banner:
        c.close()
        return
    c.pump(b"a new client after the rounds\n",
           until=lambda: "a new client after the rounds" in w.text())
    t.ok("a new client after the rounds\r\n" in w.text(),
         "its line shows in the window", w.text()[-300:])
    w.type("and the operator answers\r")
    c.pump(until=lambda: b"and the operator answers\n" in c.got)
    t.ok(b"and the operator answers\n" in c.got, "the operator's line "
         "reaches it", c.got[-300:])
    w.close()
    c.pump()
    t.ok(c.ended is not None, "closing the window ends it", c.ended)
    c.close()


def baseline(srv):
    """The server's counts once a TLS session has come and gone (the
    sanitizers, and OpenSSL, start things of their own with the first).
    Window 1 is used up."""
    c = TLSClient(srv.port)
    w = srv.window(1)
    if w is not None:
        w.wait_text("Close this window", TIMEOUT)
        w.close()
    c.pump()
    c.close()
    return settled(lambda: counts(srv))


def wound_down(srv, number, base):
    """After the rounds: back to base, no zombie, and serving still."""
    t.ok(wait_for(lambda: counts(srv) == base, 10),
         "fds and threads back to %r" % (base,), "now %r" % (counts(srv),))
    # A window that has just ended is reaped when its SIGCHLD is read:
    # only one that stays unreaped is a zombie.
    t.ok(wait_for(lambda: zombies(srv.pid) == [], 5 * SLOW), "no zombie",
         zombies(srv.pid))
    serves(srv, number)
    t.ok(wait_for(lambda: counts(srv) == base, 10),
         "and back to %r once it is gone" % (base,),
         "now %r" % (counts(srv),))


def rounds_left(start, rounds, limit=ROUNDS):
    return rounds < limit and time.monotonic() - start < BUDGET


def hang_up_while_typing(srv):
    """The window types line after line to its TLS client, which hangs up
    once the text flows: a reset one round, a FIN without close_notify
    the next."""
    base = baseline(srv)
    start, rounds, ended = time.monotonic(), 0, 0
    typing = ("y" * 99 + "\r") * 200    # fits in the FIFO: never blocks
    while rounds_left(start, rounds):
        rounds += 1
        number = rounds + 1
        c = TLSClient(srv.port)
        w = srv.window(number)
        w.type(typing)
        c.pump(until=lambda: b"y" * 99 + b"\n" in c.got)
        if c.ended is not None or b"y" * 99 + b"\n" not in c.got:
            t.diag("round %d: no text came: %r" % (rounds, c.ended))
            break
        if rounds % 2:
            c.reset()
        else:
            c.close()
        if not srv.wait_log(r"session %d \S+: (client gone|client closed "
                            r"its side)" % number, TIMEOUT):
            t.diag("round %d: the hang-up went unnoticed" % rounds)
            break
        w.close()
        ended += 1
    t.eq(ended, rounds, "TLS client hangs up while the window types, %d "
         "rounds: each session notices" % rounds)
    t.diag("%d rounds in %.1f s" % (rounds, time.monotonic() - start))
    wound_down(srv, rounds + 2, base)


def paste_cut(srv, cut, ended, what, outcome):
    """Rounds of a TLS client pasting 256 KiB, cut(number, window) called
    once 32 KiB have gone: each client's connection ends, and ended(number,
    window), the outcome, holds."""
    base = baseline(srv)
    start, rounds, good = time.monotonic(), 0, 0
    paste = ("p" * 1023 + "\n").encode() * 256
    while rounds_left(start, rounds):
        rounds += 1
        number = rounds + 1
        c = TLSClient(srv.port)
        w = srv.window(number)
        if w is None or not w.wait_text("Close this window", TIMEOUT):
            t.diag("round %d: no window" % rounds)
            break
        c.pump(paste, at=32768, then=lambda: cut(number, w), timeout=10)
        c.close()
        if c.ended is None:
            t.diag("round %d: the client's connection did not end"
                   % rounds)
            break
        if not ended(number, w):
            t.diag("round %d: the session did not end so" % rounds)
            break
        good += 1
    t.eq(good, rounds, "%s during a 256 KiB TLS paste, %d rounds: each "
         "client's connection ends, %s" % (what, rounds, outcome))
    t.diag("%d rounds in %.1f s" % (rounds, time.monotonic() - start))
    wound_down(srv, rounds + 2, base)


def close_during_paste(srv):
    """The window is closed during the paste: the log says so."""
    paste_cut(srv, lambda number, w: w.close(),
              lambda number, w: srv.wait_log(r"session %d \S+: window "
                                             r"closed" % number, TIMEOUT),
              "window closed", "the log says so")


def kick_during_paste(tmp):
    """The operator types kick N during the paste: the window goes."""
    con = ConsoleServer(tmp, tls=True)
    sections.defer(con.close)
    if not t.ok(con.port and con.pid, "ptychatd runs with its console",
                con.screen()):
        return
    paste_cut(con, lambda number, w: con.type("kick %d" % number),
              lambda number, w: wait_for(lambda: not process_alive(w.pid),
                                         TIMEOUT),
              "kick", "its window goes")
    t.ok(con.stop(), "SIGTERM then stops it with status 0", con.screen())


def handshaker(port, done):
    """A full handshake, and a line, racing the server's stop."""
    try:
        c = TLSClient(port)
        c.pump(b"in flight\n", until=lambda: False, timeout=TIMEOUT)
        c.close()
    except OSError:
        pass
    done.append(1)


def stop_during_handshakes(tmp):
    """Four clients sent a ClientHello and stall, four stopped halfway
    through theirs, four run whole handshakes: SIGTERM."""
    hello = client_hello()
    start, rounds, clean, slowest = time.monotonic(), 0, 0, 0.0
    while rounds_left(start, rounds, ROUNDS // 2):
        rounds += 1
        srv = sections.server(os.path.join(tmp, str(rounds)), tls=True)
        socks = []
        for i in range(8):
            s = socket.create_connection(("127.0.0.1", srv.port),
                                         TIMEOUT * SLOW)
            s.sendall(hello if i % 2 else hello[:len(hello) // 2])
            socks.append(s)
        done = []
        runners = [threading.Thread(target=handshaker,
                                    args=(srv.port, done), daemon=True)
                   for _ in range(4)]
        for r in runners:
            r.start()
        # It holds all twelve, and its listening socket.
        held = wait_for(lambda: sockets(srv.pid) >= 13, TIMEOUT)
        began = time.monotonic()
        status = srv.stop(signal.SIGTERM, TIMEOUT)
        took = time.monotonic() - began
        slowest = max(slowest, took)
        gone = windows_gone(srv)
        sections.started.remove(srv)
        srv.cleanup()
        for s in socks:
            s.close()
        for r in runners:
            r.join(TIMEOUT * SLOW)
        log = srv.text()
        # A handshake the stop cut short is no client's failure.
        blamed = re.findall(r".*TLS handshake: .*", log)
        if not (held and status == 0 and took < 2.0 * SLOW and gone and
                len(done) == 4 and not blamed and
                not re.search(r"Sanitizer|runtime error", log)):
            t.diag("round %d: held all %r, status %r after %.1f s, "
                   "windows gone %r, %d handshakers done, %r\n%s"
                   % (rounds, held, status, took, gone, len(done),
                      blamed[:2], log[-2000:]))
            break
        clean += 1
    t.eq(clean, rounds, "SIGTERM during 12 handshakes, %d rounds: exit "
         "0 within %.0f s, no sanitizer report, no handshake failure "
         "logged, every window gone" % (rounds, 2.0 * SLOW))
    t.diag("%d rounds in %.1f s, the slowest stop %.2f s"
           % (rounds, time.monotonic() - start, slowest))


def sockets(pid):
    """How many sockets pid holds."""
    return sum(1 for target in fd_targets(pid)
               if target.startswith("socket:"))


def windows_gone(srv):
    """Whether every window the stopped server opened is gone (not one is
    left to the system to reap)."""
    pids = []
    for name in os.listdir(srv.windows):
        if name.endswith(".pid"):
            pids.append(int(read_text(os.path.join(srv.windows, name))))
    return wait_for(lambda: not any(process_alive(p) for p in pids),
                    TIMEOUT)


def tls_server(fn):
    return lambda tmp: fn(sections.server(tmp, tls=True))


sections.run("hang-up while the window types",
             tls_server(hang_up_while_typing))
sections.run("window closed during a paste", tls_server(close_during_paste))
sections.run("stop during handshakes", stop_during_handshakes)
if missing_tools("tmux"):
    t.skip("kick during a paste", missing_tools("tmux"), tool=True)
else:
    sections.run("kick during a paste", kick_during_paste)
t.done()
