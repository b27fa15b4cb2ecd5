#!/usr/bin/env python3
# Load: a 256 MiB flood into a slow window, 2,000 sessions one after the
# other, and 500 sessions at once.  Nothing is lost or reordered, the
# server's memory does not grow with what passes through it, another
# session stays responsive, and every fd, thread and window process comes
# back.  The figures are printed as "# " lines for the README.
#
# The stand-in terminal does the operator's part without polling files:
# --max-rate makes it read slowly, --sum-after keeps a byte count and a
# CRC-32 of the screen instead of a 256 MiB log, and --when/--whenever
# make it type an answer when a text appears (see tests/standin-term.c).
#
# Slow builds (PTYCHAT_TIME_FACTOR > 1: sanitizers, valgrind) run smaller
# sizes; the assertions are the same.
import os
import random
import re
import resource
import selectors
import socket
import statistics
import sys
import threading
import time
import zlib

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from ptytest import (SLOW, STANDIN, TAP, Sections, children_of,  # noqa: E402
                     counts, fd_count, read_text, settled, standin_wrapper,
                     thread_count, wait_for, zombies)

MIB = 1 << 20
SCALED = SLOW > 1
FLOOD_MIB = 16 if SCALED else 256
CHURN_CYCLES = 200 if SCALED else 2000
MANY = 100 if SCALED else 500
# The slow window reads 16 MiB/s (less in slow builds): the flood takes
# 16 s, and the window, not the server, is what limits it (unthrottled,
# the stand-in takes ~45 MiB/s through ptychatd on this machine).
WINDOW_RATE = int(16 * MIB / SLOW)
# Why 32 MiB is a fair bound on the server's resident size: ptychatd
# itself needs ~2 MiB, a session's relays hold 16 KiB + 64 KiB of buffers
# and two 128 KiB stacks, and the flood is 256 MiB.  A server that queued
# what its slow window cannot take yet would pass the bound after an
# eighth of the flood; one that applies backpressure stays near its
# baseline.  The margin leaves room for malloc arenas and a sanitizer.
RSS_BOUND_KIB = 32 * 1024

t = TAP()
if SCALED:
    t.diag("PTYCHAT_TIME_FACTOR=%g: scaled down to a %d MiB flood, %d "
           "churn cycles and %d concurrent sessions"
           % (SLOW, FLOOD_MIB, CHURN_CYCLES, MANY))


def status_kib(pid, field):
    """A /proc/PID/status figure in KiB (VmRSS, VmHWM), or 0."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except FileNotFoundError:
        pass
    return 0


def mib(kib):
    return "%.1f MiB" % (kib / 1024.0)


def scripted(tmp, *triggers):
    """The stand-in as terminal, with --when/--whenever triggers.  The -t
    value is split on blanks, so the texts use \\s for a space."""
    return " ".join([STANDIN, "--dir", os.path.join(tmp, "windows"),
                     "--name", "%n"] + list(triggers))


def recv_until(sock, want, timeout):
    """Receives until want is in what was read, EOF or the deadline;
    returns what was read."""
    got = b""
    deadline = time.monotonic() + timeout * SLOW
    while want not in got:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        sock.settimeout(left)
        try:
            data = sock.recv(65536)
        except (socket.timeout, ConnectionError):
            break
        if not data:
            break
        got += data
    return got


# Each section's servers are stopped and checked after it.
# Load is measured without the flood guard (--max-window-rate, which
# lobby.t tests).
sections = Sections(t, ["--max-window-rate", "0"])
server = sections.server
section = sections.run


# The flood: 1 MiB of mixed text, sent FLOOD_MIB times, each time behind
# a numbered header line and rotated to start at a different line.
VOCABULARY = ("the quick brown fox jumps over a lazy dog 0 1 2 42 1999 "
              "ptychat relay pty window: (x) [y] {z} <a> 'q' \"d\" ~!@#$%^&*"
              "-_=+;,./?|\\ \t \t café über naïve € ½ 日本語 中文 Ωμέγα "
              "Привет 😀 🙂 𝔘𝔫𝔦").split(" ")


def flood_body(rnd):
    """About 1 MiB of lines: printable ASCII, UTF-8 of 2 to 4 bytes, tabs,
    some \\r\\n line ends and a few long lines.  Returns the body and the
    offsets where its lines start."""
    lines = []
    size = 0
    while size < MIB:
        if rnd.random() < 0.005:
            words = rnd.choices(VOCABULARY, k=rnd.randint(500, 1500))
        else:
            words = rnd.choices(VOCABULARY, k=rnd.randint(0, 25))
        line = (" ".join(words) + ("\r\n" if rnd.random() < 0.2 else "\n"))
        line = line.encode()
        lines.append(line)
        size += len(line)
    starts, off = [], 0
    for line in lines:
        starts.append(off)
        off += len(line)
    return b"".join(lines), starts


def flood_block(body, i, n, off):
    return b"block %d of %d\n" % (i + 1, n) + body[off:] + body[:off]


def on_screen(data):
    """What a window shows for data a client sent: the sanitiser turns
    \\r\\n into \\n, and the pty's ONLCR turns each \\n into \\r\\n."""
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


class Sender(threading.Thread):
    def __init__(self, sock, body, offsets):
        super().__init__(daemon=True)
        self.sock, self.body, self.offsets = sock, body, offsets
        self.sent = 0
        self.error = None

    def run(self):
        try:
            for i, off in enumerate(self.offsets):
                block = flood_block(self.body, i, len(self.offsets), off)
                self.sock.sendall(block)
                self.sent += len(block)
        except OSError as e:
            self.error = e


def read_sum(path):
    """The stand-in's (count, crc) from NAME.sum, or (0, None)."""
    fields = read_text(path).split()
    if len(fields) != 2:
        return 0, None
    return int(fields[0]), int(fields[1], 16)


def flood(tmp):
    mark = "=== flood begins ==="
    # --plain: the byte stream a window gets is then exactly the text (the
    # chat line would redraw the client's unfinished line in it).
    srv = server(tmp, args=["--plain"], terminal=standin_wrapper(tmp, {
        1: "--max-rate %d --sum-after '%s'" % (WINDOW_RATE, mark),
        2: "--whenever ping --type 'pong\\r'"}))
    big, big_win = srv.connect(), srv.window(1)
    small, small_win = srv.connect(), srv.window(2)
    sum_path = os.path.join(srv.windows, "1.sum")

    rnd = random.Random(20240611)
    body, starts = flood_body(rnd)
    offsets = [rnd.choice(starts) for _ in range(FLOOD_MIB)]
    want_crc, want_len = zlib.crc32(b"\r\n"), 2   # the mark's line end
    total = 0
    for i, off in enumerate(offsets):
        block = flood_block(body, i, FLOOD_MIB, off)
        total += len(block)
        shown = on_screen(block)
        want_crc = zlib.crc32(shown, want_crc)
        want_len += len(shown)
    t.diag("flood: %d bytes (%.1f MiB) to send, %d to show; the window "
           "reads %.1f MiB/s" % (total, total / MIB, want_len,
                                 WINDOW_RATE / MIB))

    big.send(mark + "\n")
    t.ok(wait_for(lambda: mark in big_win.text()),
         "flood: the slow window shows the mark line")
    rss_before = status_kib(srv.pid, "VmRSS")
    samples, in_flight = [], []
    sender = Sender(big.sock, body, offsets)
    big.sock.settimeout(30 * SLOW)
    watching = threading.Event()

    def watch():
        while not watching.is_set():
            samples.append(status_kib(srv.pid, "VmRSS"))
            in_flight.append(sender.sent - read_sum(sum_path)[0])
            watching.wait(0.2)

    watcher = threading.Thread(target=watch, daemon=True)
    start = time.monotonic()
    sender.start()
    watcher.start()

    # Meanwhile, the other session: the client sends a line, the window
    # shows it and types "pong" (--whenever), the client receives it.
    rtts, missed = [], 0
    got = b""
    while sender.is_alive() and missed < 3:
        k = len(rtts) + missed
        t0 = time.monotonic()
        small.send("ping %d\n" % k)
        got += recv_until(small.sock, b"pong\n", 10)
        if got.count(b"pong\n") == len(rtts) + 1:
            rtts.append(time.monotonic() - t0)
        else:
            missed += 1
        sender.join(0.1)
    sender.join(60 * SLOW)
    sent_in = time.monotonic() - start

    done = wait_for(lambda: read_sum(sum_path)[0] >= want_len,
                    10 + 2.0 * want_len / WINDOW_RATE)
    took = time.monotonic() - start
    watching.set()
    watcher.join()
    count, crc = read_sum(sum_path)
    t.ok(sender.error is None and sender.sent == total,
         "flood: the client sent all %d bytes" % total,
         "sent %d, error %r" % (sender.sent, sender.error))
    t.ok(done, "flood: the window received everything in time",
         "count %d of %d after %.1f s" % (count, want_len, took))
    t.eq(count, want_len, "flood: the window shows exactly %d bytes"
         % want_len)
    t.eq("%08x" % (crc or 0), "%08x" % want_crc,
         "flood: and their CRC-32 is the expected one (nothing lost, "
         "altered or reordered)")
    t.diag("flood: %.1f MiB sent in %.1f s, shown in %.1f s (%.1f MiB/s)"
           % (total / MIB, sent_in, took, total / MIB / took))

    hwm = status_kib(srv.pid, "VmHWM")
    peak = max(samples + [rss_before])
    t.diag("flood: server RSS %s before, max %s sampled every 0.2 s "
           "(%d samples), VmHWM %s; bound %s"
           % (mib(rss_before), mib(peak), len(samples), mib(hwm),
              mib(RSS_BOUND_KIB)))
    t.ok(len(samples) >= 5 and max(peak, hwm) < RSS_BOUND_KIB,
         "flood: the server's RSS stays below %s" % mib(RSS_BOUND_KIB),
         "max %s, VmHWM %s" % (mib(peak), mib(hwm)))
    t.diag("flood: at most %.1f MiB in flight between the client and the "
           "window (kernel socket and pty buffers included)"
           % (max(in_flight + [0]) / MIB))

    t.ok(len(rtts) >= 5 and missed == 0,
         "flood: the other session answered every one of %d round trips"
         % (len(rtts) + missed), "%d answered, %d missed"
         % (len(rtts), missed))
    if rtts:
        t.diag("flood: round trip of the other session (line -> window "
               "-> typed reply -> client): median %.1f ms, max %.1f ms, "
               "%d samples" % (statistics.median(rtts) * 1000,
                               max(rtts) * 1000, len(rtts)))
    t.ok(small_win.wait_text("ping %d" % (len(rtts) - 1)),
         "flood: the other window shows its client's lines")
    t.ok(srv.proc.poll() is None, "flood: the server still runs")
    return srv


def churn(tmp):
    """Sessions come and go; fds, threads and children come back."""
    # The window greets its client as soon as the banner is up, closes
    # on "bye", and closes when its client has left.
    srv = server(tmp, terminal=scripted(
        tmp, "--when", "Close\\sthis\\swindow", "--type", "hi\\r",
        "--when", "bye", "--close",
        "--when", "closed\\sits\\sside", "--close"),
        args=["--max-clients", "1000"])

    def cycle(i):
        """One session; odd ones end by the client, even ones by the
        window.  Returns True when the session behaved."""
        s = socket.create_connection(("127.0.0.1", srv.port), 5 * SLOW)
        try:
            if not recv_until(s, b"hi\n", 10).endswith(b"hi\n"):
                return False
            if i % 2:
                return True        # the window closes on the notice
            s.sendall(b"bye\n")
            return recv_until(s, b"never", 10) == b""
        finally:
            s.close()

    fds_before = counts(srv)[0]
    cycle(0)
    wait_for(lambda: children_of(srv.pid) == [])
    wait_for(lambda: counts(srv)[0] == fds_before)
    base = settled(lambda: counts(srv))
    start = time.monotonic()
    failed = [i for i in range(1, CHURN_CYCLES + 1) if not cycle(i)]
    took = time.monotonic() - start
    t.eq(failed[:10], [], "churn: all %d sessions opened, greeted their "
         "client and ended" % CHURN_CYCLES)
    t.diag("churn: %d connect/disconnect cycles in %.1f s: %.0f cycles/s"
           % (CHURN_CYCLES, took, CHURN_CYCLES / took))
    t.ok(wait_for(lambda: counts(srv) == base, 20),
         "churn: fds and threads are back to %d and %d" % base,
         "now %r" % (counts(srv),))
    t.ok(wait_for(lambda: children_of(srv.pid) == [], 20),
         "churn: every window process has been reaped (no zombie)",
         "%d children, %d zombies" % (len(children_of(srv.pid)),
                                      len(zombies(srv.pid))))
    sessions = len(re.findall(r"session \d+ \S+: window open", srv.text()))
    t.eq(sessions, CHURN_CYCLES + 1, "churn: the log shows every window "
         "opening")
    t.diag("churn: server RSS after %d sessions: %s (VmHWM %s)"
           % (CHURN_CYCLES + 1, mib(status_kib(srv.pid, "VmRSS")),
              mib(status_kib(srv.pid, "VmHWM"))))
    return srv


# The end of a client's marker line, typed in its window.
MARKED = re.compile(rb"\nend-\d+\n")


def many(tmp):
    """MANY sessions at once, each with its own window and reply."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < MANY + 256:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    srv = server(tmp, terminal=scripted(
        tmp, "--when", "Close\\sthis\\swindow", "--type", "hi-%n\\r",
        "--when", "closed\\sits\\sside", "--close"),
        args=["--max-clients", "1000"])
    fds_before = fd_count(srv.pid)
    first = socket.create_connection(("127.0.0.1", srv.port), 5 * SLOW)
    recv_until(first, b"hi-1\n", 10)
    first.close()
    wait_for(lambda: children_of(srv.pid) == [])
    # The first session's fds close just after its window process goes.
    wait_for(lambda: fd_count(srv.pid) == fds_before)
    base = settled(lambda: counts(srv))
    rss_base = status_kib(srv.pid, "VmRSS")

    sel = selectors.DefaultSelector()
    clients = {}            # socket -> bytes received

    def receive(done, timeout):
        """Reads the clients until what each got is done(), or it has
        closed, or the deadline passes."""
        deadline = time.monotonic() + timeout * SLOW
        waiting = set(key.fileobj for key in sel.get_map().values()
                      if not done(clients[key.fileobj]))
        while waiting and time.monotonic() < deadline:
            for key, _ in sel.select(0.5):
                try:
                    data = key.fileobj.recv(4096)
                except (BlockingIOError, ConnectionError):
                    continue
                clients[key.fileobj] += data
                if not data:
                    sel.unregister(key.fileobj)
                if not data or done(clients[key.fileobj]):
                    waiting.discard(key.fileobj)

    def open_sessions(n):
        """Connects n more clients and waits for every greeting (a client
        closed before its greeting counts as done)."""
        start = time.monotonic()
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", srv.port), 5 * SLOW)
            s.setblocking(False)
            clients[s] = b""
            sel.register(s, selectors.EVENT_READ)
        receive(lambda got: b"\n" in got, 60)
        return time.monotonic() - start

    def report(n, took):
        t.diag("many: %d sessions open (windows up and greeting) in %.1f s;"
               " server RSS %s (%s over its baseline of %s), %d threads, "
               "%d fds" % (n, took, mib(status_kib(srv.pid, "VmRSS")),
                           mib(status_kib(srv.pid, "VmRSS") - rss_base),
                           mib(rss_base), thread_count(srv.pid),
                           fd_count(srv.pid)))

    took = open_sessions(min(100, MANY))
    if MANY > 100:
        report(100, took)
        took += open_sessions(MANY - 100)
    report(MANY, took)

    greeted = {}
    for s, got in clients.items():
        m = re.fullmatch(rb"hi-(\d+)\n", got)
        if m:
            greeted[int(m.group(1))] = s
    t.eq(sorted(greeted), list(range(2, MANY + 2)),
         "many: all %d windows opened, each greeting its own client once"
         % MANY)
    t.eq(len(children_of(srv.pid)), MANY,
         "many: %d window processes are running" % MANY)

    # A sample of windows answer; each answer reaches its client alone.
    sample = sorted(set(range(2, MANY + 2, max(1, MANY // 20))))[:20]
    for n in sample:
        fd = os.open(os.path.join(srv.windows, "%d.in" % n), os.O_WRONLY)
        os.write(fd, b"reply-%d\r" % n)
        os.close(fd)
    wrong = []
    for n in sample:
        s = greeted.get(n)
        if s is None:
            wrong.append(n)
            continue
        s.setblocking(True)
        got = clients[s][len(b"hi-%d\n" % n):]
        got += recv_until(s, b"reply-%d\n" % n, 10) \
            if b"\n" not in got else b""
        clients[s] = b"hi-%d\n" % n + got
        s.setblocking(False)
        if got != b"reply-%d\n" % n:
            wrong.append((n, got))
    t.eq(wrong, [], "many: each of %d sampled clients gets the reply typed "
         "in its own window" % len(sample))
    # A marker typed in every window: once each client has its own, a
    # stray line would have come before it.
    for n in greeted:
        fd = os.open(os.path.join(srv.windows, "%d.in" % n), os.O_WRONLY)
        os.write(fd, b"end-%d\r" % n)
        os.close(fd)
    receive(MARKED.search, 30)
    extra = [(n, clients[s]) for n, s in sorted(greeted.items())
             if clients[s] != b"hi-%d\n%send-%d\n"
             % (n, b"reply-%d\n" % n if n in sample else b"", n)]
    t.eq(extra[:5], [], "many: no client gets anything more (before a "
         "marker typed in every window)")
    failures = re.findall(r".*(?:cannot|thread:|openpty|accept:|no window"
                          r"|too many).*", srv.text())
    t.eq(failures[:5], [], "many: the server logged no failure")

    start = time.monotonic()
    for s in clients:
        if s in sel.get_map():
            sel.unregister(s)
        s.close()
    sel.close()
    back = wait_for(lambda: counts(srv) == base
                    and children_of(srv.pid) == [], 60)
    t.ok(back, "many: once all clients leave, fds, threads and window "
         "processes are back to %d, %d and none" % base,
         "now %r, %d children" % (counts(srv), len(children_of(srv.pid))))
    t.diag("many: %d sessions wound down in %.1f s"
           % (MANY, time.monotonic() - start))
    return srv


all_start = time.monotonic()
for name, fn in [("flood", flood), ("churn", churn), ("many", many)]:
    section(name, fn)
t.diag("load.t took %.1f s" % (time.monotonic() - all_start))
t.done()
