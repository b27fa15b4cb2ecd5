#!/usr/bin/env python3
# ptychat on a terminal while the server hangs up as the user types
# (issue 8, bug 1: the stdin thread used the chat line's editor after the
# main thread had freed it, a SIGSEGV in some runs out of a hundred).
# Hundreds of runs, each on a fresh pty against a loopback server that
# talks, takes the lines typed, and hangs up while keys are still being
# written: every run must end with status 0, the closed-by-server
# message, and the terminal as it was before.  Plain (--no-tls), then
# over TLS through socat in front of the same server, where both threads
# share the TLS connection as well.
import os
import pty
import select
import shutil
import socket
import subprocess
import sys
import termios
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from ptytest import (PTYCHAT, SLOW, TAP, Sections, children_of,  # noqa: E402
                     wait_for)

t = TAP()
sections = Sections(t)

RUNS = 300
RUN_SECONDS = 5.0 * SLOW            # one run, at the most
ALL_SECONDS = 120.0 * SLOW          # every run together, at the most
KEYS = b"typing away\x7f\x7f\x7f\x1b[D\x1b[Cy\r"
CHUNKS_MAX = 400                    # chunks of keys written in one run


class Run:
    """One ptychat on a fresh pty, connected to our listener."""

    def __init__(self, lst, argv, env):
        self.master, self.slave = pty.openpty()
        self.before = termios.tcgetattr(self.slave)
        self.proc = subprocess.Popen(
            argv, stdin=self.slave, stdout=self.slave, stderr=self.slave,
            close_fds=True, env=env)
        os.set_blocking(self.master, False)
        self.screen = b""
        self.conn, _ = lst.accept()
        self.conn.setblocking(False)
        self.conn_open = True

    def pump(self, timeout, write=False):
        """Reads the screen and the connection, and writes a chunk of
        keys if asked and there is room; returns whether keys went."""
        rd = [self.master] + ([self.conn] if self.conn_open else [])
        r, w, _ = select.select(rd, [self.master] if write else [], [],
                                timeout)
        if self.master in r:
            try:
                self.screen += os.read(self.master, 65536)
            except (BlockingIOError, OSError):
                pass
        if self.conn in r:
            try:
                data = self.conn.recv(65536)
            except (BlockingIOError, ConnectionError):
                data = b"x"
            if not data:
                self.conn_open = False
        if self.master in w:
            try:
                os.write(self.master, KEYS)
                return True
            except BlockingIOError:
                pass
        return False

    def race(self, hang_up_after):
        """Types, and hangs up after that many chunks of keys while the
        typing goes on; returns ptychat's exit status, or None."""
        deadline = time.monotonic() + RUN_SECONDS
        chunks, hung_up = 0, False
        while (self.proc.poll() is None and
               time.monotonic() < deadline):
            if not hung_up and chunks >= hang_up_after:
                # Half-close: what ptychat sends is still drained, so
                # the hang-up is an end of file, never a reset.
                self.conn.shutdown(socket.SHUT_WR)
                hung_up = True
            elif not hung_up:
                try:
                    self.conn.send(b"the server says %d\n" % chunks)
                except BlockingIOError:
                    pass
            if self.pump(0.02, chunks < CHUNKS_MAX):
                chunks += 1
        try:
            status = self.proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None
        # What it wrote last is on the pty already: read it all.
        while select.select([self.master], [], [], 0)[0]:
            try:
                data = os.read(self.master, 65536)
            except (BlockingIOError, OSError):
                break
            if not data:
                break
            self.screen += data
        return status

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.conn.close()
        os.close(self.master)
        os.close(self.slave)


def close_while_typing(tmp, tls=False):
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(4)
    lst.settimeout(5 * SLOW)
    port, env, socat = lst.getsockname()[1], None, None
    if tls:
        port, env, socat = tls_front(tmp, port)
    argv = [PTYCHAT] + ([] if tls else ["--no-tls"]) + ["127.0.0.1",
                                                        str(port)]
    statuses, no_message, not_restored, runs = {}, [], [], 0
    start = time.monotonic()
    try:
        while runs < RUNS and time.monotonic() - start < ALL_SECONDS:
            run = Run(lst, argv, env)
            runs += 1
            try:
                # Wait for the prompt: the chat line is up, keys are raw.
                if not wait_for(lambda: run.pump(0.01) or
                                b"> " in run.screen, 5):
                    statuses["no prompt"] = statuses.get("no prompt", 0) + 1
                    continue
                status = run.race(runs % 12)
                statuses[status] = statuses.get(status, 0) + 1
                if b"ptychat: connection closed by server" not in run.screen:
                    no_message.append(runs)
                if termios.tcgetattr(run.slave) != run.before:
                    not_restored.append(runs)
            finally:
                run.close()
    finally:
        lst.close()
        if socat is not None:
            socat.kill()
            socat.wait()
    elapsed = time.monotonic() - start
    t.diag("%d runs in %.1f s; exit statuses %r" % (runs, elapsed, statuses))
    t.eq(runs, RUNS, "all %d runs done within %d s" % (RUNS, ALL_SECONDS))
    t.eq(statuses, {0: runs}, "every run exits 0: no crash (a negative "
         "status is the signal that killed ptychat)")
    t.ok(not no_message, "every run says 'connection closed by server'",
         "not in runs %r" % no_message[:20])
    t.ok(not not_restored, "every run leaves the terminal's mode as it was",
         "not in runs %r" % not_restored[:20])


def tls_front(tmp, port):
    """socat taking TLS on a port of its own, for the plain listener on
    port; returns (its port, ptychat's environment, socat)."""
    key, cert = os.path.join(tmp, "s.key"), os.path.join(tmp, "s.crt")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "2", "-subj", "/CN=race"],
                   check=True, capture_output=True, timeout=10)
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    front = probe.getsockname()[1]
    probe.close()
    socat = subprocess.Popen(
        ["socat", "-t", "10", "OPENSSL-LISTEN:%d,bind=127.0.0.1,reuseaddr,"
         "fork,cert=%s,key=%s,verify=0" % (front, cert, key),
         "TCP:127.0.0.1:%d" % port], stdin=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)   # a broken pipe at each hang-up
    want = "0100007F:%04X" % front

    def listening():
        with open("/proc/net/tcp") as f:
            return any(line.split()[1] == want and line.split()[3] == "0A"
                       for line in f.readlines()[1:])
    if not wait_for(listening, 5):
        socat.kill()
        socat.wait()
        raise RuntimeError("socat did not listen")
    env = dict(os.environ, XDG_CONFIG_HOME=os.path.join(tmp, "config"))
    return front, env, socat


sections.run("close while typing", close_while_typing)
if shutil.which("socat") and shutil.which("openssl"):
    sections.run("close while typing, TLS",
                 lambda tmp: close_while_typing(tmp, True))
else:
    t.skip("close while typing, TLS", "not installed: socat or openssl", 4,
           tool=True)
wait_for(lambda: children_of(os.getpid()) == [], 2.0)
t.eq(children_of(os.getpid()), [], "no ptychat process is left behind")
t.done()
