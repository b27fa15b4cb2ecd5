#!/usr/bin/env python3
# Faults: a client that resets in the middle of a transfer (and one that
# resets before its window is even open), a client that half-closes, a
# window killed outright (idle, and in the middle of a flood), the server
# out of fds, and a bad environment that lifecycle.t, options.t and
# client.t leave out: DISPLAY unset, a terminal that exists but cannot be
# executed, and garbage values for the limit options and the port.
#
# After each fault the session must be gone without a trace: the server's
# fd and thread counts come back to a baseline taken after a first
# session (a sanitizer runtime may start a thread of its own with the
# first thread), and no window process is left unreaped.
#
# The windows are --plain: these tests check the order of the bytes a
# window receives, and the chat line (tests/chatline.t) redraws the
# client's unfinished line below each notice.
import os
import re
import resource
import select
import signal
import socket
import stat
import struct
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from ptytest import (PTYCHATD, SLOW, STANDIN, TAP, Sections,  # noqa: E402
                     children_of, counts, fd_count, read_text, run, settled,
                     standin_wrapper, wait_for, zombies)

NO_WINDOW = b"ptychatd: no operator window is available\n"
# A slow window: 64 KiB/s, so a sender stays in mid-transfer.
SLOW_RATE = 65536
t = TAP()


def warm_up(srv, number=1):
    """One session opened and closed; returns the baseline counts."""
    fds_before = counts(srv)[0]
    c = srv.connect()
    w = srv.window(number)
    c.send("warm-up\n")
    w.wait_text("warm-up")
    w.close()
    c.wait_eof()
    c.close()
    wait_for(lambda: children_of(srv.pid) == [], 5)
    # The session's fds close just after its client sees EOF.
    wait_for(lambda: counts(srv)[0] == fds_before, 5)
    return settled(lambda: counts(srv))


def back_to(srv, base, kids, what):
    """Asserts the fd and thread counts return to base and the children
    are exactly kids (pids), none a zombie."""
    t.ok(wait_for(lambda: counts(srv) == base, 10),
         "%s: fds and threads are back to %d and %d" % ((what,) + base),
         "now %r; fds %r" % (counts(srv), os.listdir("/proc/%d/fd"
                                                      % srv.pid)))
    t.ok(wait_for(lambda: sorted(p for p, _ in children_of(srv.pid))
                  == sorted(kids) and zombies(srv.pid) == [], 10),
         "%s: %s" % (what, "no window process is left, and no zombie"
                     if not kids else "only the other windows are left, "
                     "and no zombie"), children_of(srv.pid))


class Flooder(threading.Thread):
    """Sends lines on a socket until told to stop or the peer goes away;
    never blocks for more than 0.1 s, so stop() is prompt."""

    def __init__(self, sock, tag):
        super().__init__(daemon=True)
        self.sock = sock
        self.sent = 0
        self.error = None
        self.halt = threading.Event()
        line = ("%s " % tag + "0123456789abcdefghijklmnopqrstuvwxyz" * 2
                + "\n").encode()
        self.chunk = line * (65536 // len(line))

    def run(self):
        self.sock.setblocking(False)
        view = memoryview(self.chunk)
        off = 0
        deadline = time.monotonic() + 60 * SLOW
        while not self.halt.is_set() and time.monotonic() < deadline:
            try:
                _, w, _ = select.select([], [self.sock], [], 0.1)
                if not w:
                    continue
                n = self.sock.send(view[off:])
            except (BlockingIOError, InterruptedError):
                continue
            except OSError as e:
                self.error = e
                return
            self.sent += n
            off = (off + n) % len(self.chunk)

    def stop(self):
        self.halt.set()
        self.join(5 * SLOW)


# Each section's servers are stopped and checked after it.
sections = Sections(t, ["--plain"])
server = sections.server
section = sections.run


def reset_mid_transfer(tmp):
    """Client A floods a slow window, then resets; B carries on."""
    srv = server(tmp, terminal=standin_wrapper(tmp, {3: "--max-rate %d"
                                             % SLOW_RATE}))
    warm_up(srv)
    b = srv.connect()
    wb = srv.window(2)
    # B's relay threads start just after its banner.
    base = settled(lambda: counts(srv))
    a = srv.connect()
    wa = srv.window(3)
    flood = Flooder(a.sock, "from A")
    flood.start()
    # Mid-transfer: the window is showing A's lines, and far more is on
    # its way than the window has taken.
    midway = wait_for(lambda: "from A 0123" in wa.text()
                      and flood.sent > 1 << 20, 10)
    b.send("B during A's flood\n")
    wb.type("to B during the flood\r")
    t.ok(wb.wait_text("B during A's flood")
         and b.wait_data("to B during the flood\n"),
         "reset: B talks both ways while A floods a slow window")
    flood.stop()
    shown = os.path.getsize(wa.out_path)
    t.ok(midway and flood.error is None and flood.sent > shown + (1 << 20),
         "reset: A is mid-transfer (sent %d bytes, window shows %d)"
         % (flood.sent, shown))
    a.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                      struct.pack("ii", 1, 0))
    start = time.monotonic()
    a.close()
    t.ok(wa.wait_text("the client is gone", 10),
         "reset: A's window says 'the client is gone'", wa.text()[-300:])
    t.diag("reset: the notice showed %.2f s after the reset (the window "
           "reads %d B/s)" % (time.monotonic() - start, SLOW_RATE))
    t.ok(srv.wait_log(r"session 3 \S+: client gone"),
         "reset: the server logs that A is gone")
    # What the server had already received still drains into the window;
    # the notice should come after it, as the last thing shown.  A line
    # typed now is refused with a note that comes after anything of A's
    # still on its way.
    wa.type("to A after the reset\r")
    marked = wa.wait_text("not sent: the client is gone", 10)
    after = wa.text().split("the client is gone", 1)[-1]
    t.diag("reset: %d of A's lines showed after the notice"
           % after.count("from A"))
    t.ok(marked and "from A" not in after,
         "reset: nothing of A's shows after the notice 'the client is "
         "gone'", after[-300:])
    b.send("B after A's reset\n")
    wb.type("to B after the reset\r")
    t.ok(wb.wait_text("B after A's reset")
         and b.wait_data("to B after the reset\n"),
         "reset: B still talks both ways after A's reset")
    wa.close()
    back_to(srv, base, [wb.pid], "reset: after A's window closes")
    b.send("B at the end\n")
    wb.type("to B at the end\r")
    t.ok(wb.wait_text("B at the end") and b.wait_data("to B at the end\n"),
         "reset: B still talks both ways once A's session has ended")
    t.ok(not b.eof and srv.proc.poll() is None,
         "reset: B is still connected and the server still runs")
    return srv


def reset_early(tmp):
    """A client sends a line and resets before its window is open."""
    srv = server(tmp)
    base = warm_up(srv)
    s = socket.create_connection(("127.0.0.1", srv.port), 5 * SLOW)
    s.sendall(b"a line, then a reset\n")
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
    w = srv.window(2)
    t.ok(w.wait_text("the client is gone"),
         "early reset: the window says 'the client is gone'", w.text())
    t.ok(w.wait_text("a line, then a reset\r\n"),
         "early reset: the line sent before the reset is shown", w.text())
    text = w.text()
    t.ok(text.find("a line, then a reset") < text.find("the client is gone"),
         "early reset: the line is shown before the notice, not after it",
         text)
    w.close()
    back_to(srv, base, [], "early reset: after the window closes")
    return srv


def half_close(tmp):
    """After shutdown(SHUT_WR) the client still hears the operator."""
    srv = server(tmp)
    base = warm_up(srv)
    c = srv.connect()
    w = srv.window(2)
    # A burst just before the EOF: all of it shows, then the notice.
    sent = "".join("before EOF %d\n" % i for i in range(20000))
    c.send(sent)
    c.sock.shutdown(socket.SHUT_WR)
    t.ok(w.wait_text("closed its side"),
         "half-close: the window says the client closed its side")
    screen = w.text()
    shown = screen.find(sent.replace("\n", "\r\n"))
    t.ok(shown != -1, "half-close: all %d bytes sent before the EOF are "
         "shown, in order" % len(sent), screen[-300:])
    t.ok(shown != -1 and screen.find("closed its side") > shown,
         "half-close: the notice comes after them")
    t.ok(srv.wait_log(r"session 2 \S+: client closed its side"),
         "half-close: the server logs it")
    want = b""
    for i in range(8):
        w.type("after EOF %d\r" % i)
        want += b"after EOF %d\n" % i
        if i == 3:
            # The client stays quiet for a while: nothing times out.
            time.sleep(0.3)
    t.ok(c.wait_data(want), "half-close: 8 lines typed after the EOF "
         "reach the client", c.buf)
    w.type("marker\r")
    c.wait_data("marker\n")
    t.eq(c.buf, want + b"marker\n", "half-close: the client gets exactly "
         "those lines (and a marker typed after them)")
    t.ok(not c.eof, "half-close: the server has not closed the connection")
    w.close()
    t.ok(c.wait_eof(), "half-close: closing the window gives the client EOF")
    c.close()
    back_to(srv, base, [], "half-close: after the window closes")
    return srv


def window_killed(tmp):
    """SIGKILL to the window, with the client idle and then flooding."""
    srv = server(tmp, terminal=standin_wrapper(tmp, {3: "--max-rate %d"
                                             % SLOW_RATE}))
    base = warm_up(srv)

    c = srv.connect()
    w = srv.window(2)
    c.send("about to lose my window\n")
    w.wait_text("about to lose my window")
    os.kill(w.pid, signal.SIGKILL)
    t.ok(c.wait_eof(), "killed window: the idle client sees EOF")
    t.eq(c.buf, b"", "killed window: and receives nothing else")
    t.ok(srv.wait_log(r"session 2: terminal killed by signal 9"),
         "killed window: the server logs the signal")
    t.ok(srv.wait_log(r"session 2 \S+: window closed"),
         "killed window: the server logs the closed window")
    c.close()
    back_to(srv, base, [], "killed window")

    c = srv.connect()
    w = srv.window(3)
    flood = Flooder(c.sock, "doomed")
    flood.start()
    wait_for(lambda: "doomed 0123" in w.text() and flood.sent > 1 << 20, 10)
    os.kill(w.pid, signal.SIGKILL)
    flood.join(10 * SLOW)
    ended = not flood.is_alive() and isinstance(
        flood.error, (BrokenPipeError, ConnectionResetError))
    if not ended:
        # EOF, not a reset, when the server read everything it was sent.
        flood.stop()
        ended = sock_ends(c.sock)
    t.ok(ended, "killed window mid-flood: the sender's connection ends "
         "(%s after %d bytes)" % (type(flood.error).__name__, flood.sent))
    t.ok(srv.wait_log(r"session 3: terminal killed by signal 9"),
         "killed window mid-flood: the server logs the signal")
    c.close()
    back_to(srv, base, [], "killed window mid-flood")
    t.ok(srv.proc.poll() is None, "killed window: the server still runs")
    return srv


def sock_ends(sock):
    """True once sock reads end of file or a reset, within 5 s."""
    sock.setblocking(True)
    sock.settimeout(0.2)
    deadline = time.monotonic() + 5 * SLOW
    while time.monotonic() < deadline:
        try:
            if sock.recv(65536) == b"":
                return True
        except socket.timeout:
            continue
        except ConnectionResetError:
            return True
    return False


def fd_limit(tmp):
    """Out of fds: a client is told no window is available; once a
    session ends, the next client gets a window again."""
    srv = server(tmp)
    base = warm_up(srv)
    # Room for three sessions of five fds each (socket, pty, the doorbell
    # and hang-up eventfds, and the terminal's output pipe), and for the
    # three more a launch holds for a moment (the pty's other end, the
    # pipe's other end, the terminal's exit eventfd).
    resource.prlimit(srv.pid, resource.RLIMIT_NOFILE,
                     (base[0] + 18, base[0] + 18))
    clients, windows, refused = [], [], None
    for n in range(2, 12):
        c = srv.connect()
        if wait_for(lambda: os.path.exists(os.path.join(
                srv.windows, "%d.pid" % n)) or c.wait_eof(0.1), 5) \
                and c.eof:
            refused = (n, c)
            break
        clients.append(c)
        windows.append(srv.window(n))
    t.ok(refused and refused[1].buf == NO_WINDOW,
         "fd limit: a client beyond it is told no window is available",
         refused and refused[1].buf)
    t.eq(len(windows), 3, "fd limit: the three sessions before it opened")
    t.ok(srv.wait_log(r"Too many open files"),
         "fd limit: the log says why")
    before = fd_count(srv.pid)
    windows[0].close()
    clients[0].wait_eof()
    # The client sees EOF a moment before the session's fds are closed:
    # all five, the output pipe once the terminal has exited.
    wait_for(lambda: fd_count(srv.pid) <= before - 5)
    n = refused[0] + 1 if refused else 12
    c = srv.connect()
    try:
        w = srv.window(n, 5)
        c.send("room again\n")
        windows[0] = w
        ok = w.wait_text("room again")
    except RuntimeError:
        ok = False
    t.ok(ok, "fd limit: with a session gone, the next client gets a window")
    for w in windows[1:] + [windows[0]] * ok:
        w.close()
    back_to(srv, base, [], "fd limit: once every window is closed")
    t.ok(srv.proc.poll() is None, "fd limit: the server still runs")
    return srv


def display_unset(tmp):
    """lifecycle.t checks an empty DISPLAY; here it is not set at all."""
    env = dict(os.environ)
    env.pop("DISPLAY", None)
    log = os.path.join(tmp, "ptychatd.log")
    with open(log, "wb") as f:
        p = subprocess.Popen([PTYCHATD, "-b", "127.0.0.1", "-p", "0", "-t",
                              STANDIN], stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=f, env=env)
    try:
        t.ok(wait_for(lambda: "DISPLAY is not set" in read_text(log), 5),
             "DISPLAY unset: a warning at start-up", read_text(log))
        warning = [x for x in read_text(log).splitlines()
                   if "DISPLAY" in x]
        t.eq(len(warning), 1, "DISPLAY unset: the warning is one line")
        t.ok(p.poll() is None, "DISPLAY unset: the server keeps running")
        p.send_signal(signal.SIGTERM)
        t.eq(p.wait(5 * SLOW), 0, "DISPLAY unset: SIGTERM, exit 0")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    return None


# A terminal that exists but cannot be run: its name in the test names,
# and the errno the server logs when it tries.
UNEXECUTABLE = {
    "directory": ("a directory", "Permission denied"),
    "noexec": ("a file without execute permission", "Permission denied"),
    "badinterp": ("a script whose interpreter is missing",
                  "No such file or directory"),
}


def unexecutable(kind):
    """Every client is told no window is available; the log says why."""
    what, reason = UNEXECUTABLE[kind]

    def check(tmp):
        path = os.path.join(tmp, "terminal-" + kind)
        if kind == "directory":
            os.mkdir(path)
        else:
            with open(path, "w") as f:
                f.write("#!/bin/sh\nexit 0\n" if kind == "noexec"
                        else "#!/nonexistent/interpreter\n")
            os.chmod(path, stat.S_IRUSR | stat.S_IWUSR if kind == "noexec"
                     else 0o755)
        srv = server(tmp, terminal=path)
        # Start-up warnings come before the line naming the terminal.
        srv.wait_log(r"client windows open with")
        warned = re.search(r"warning: terminal program '%s' "
                           % re.escape(path), srv.text())
        if kind == "noexec":
            t.ok(warned, "terminal is %s: a warning at start-up" % what,
                 srv.text())
            t.ok(warned and "it is not an executable file" in srv.text(),
                 "terminal is %s: the warning says it cannot be executed"
                 % what, srv.text())
        elif kind == "directory":
            t.ok(warned and "it is a directory" in srv.text(),
                 "terminal is %s: a warning at start-up says so" % what,
                 srv.text())
        for n in (1, 2):
            c = srv.connect()
            t.ok(c.wait_eof() and c.buf == NO_WINDOW,
                 "terminal is %s: client %d is told no window is "
                 "available, then closed" % (what, n), c.buf)
            c.close()
        t.ok(srv.wait_log(r"session 2 \S+: cannot start terminal '%s': %s"
                          % (re.escape(path), reason)),
             "terminal is %s: the log says why (%s)" % (what, reason))
        t.ok(srv.proc.poll() is None and
             wait_for(lambda: children_of(srv.pid) == []),
             "terminal is %s: the server runs on, with no child left"
             % what, children_of(srv.pid))
        return srv
    return check


def garbage_options(tmp):
    """Nonsense values: one line naming option and value, usage, 2."""
    bad = [
        (["--max-clients", "abc"], "invalid --max-clients 'abc'"),
        (["--max-clients", "0"], "invalid --max-clients '0'"),
        (["--max-clients", " 5"], "invalid --max-clients ' 5'"),
        (["--max-per-host", "-1"], "invalid --max-per-host '-1'"),
        (["--idle-timeout", "-5"], "invalid --idle-timeout '-5'"),
        (["--idle-timeout", "1.5"], "invalid --idle-timeout '1.5'"),
        (["--idle-timeout", "99999999999999999999"],
         "invalid --idle-timeout '99999999999999999999'"),
        (["--allow", "300.1.1.1/8"], "--allow: '300.1.1.1/8'"),
        (["--allow", "10.0.0.0/33"], "--allow: '10.0.0.0/33'"),
        (["--deny", "::1/129"], "--deny: '::1/129'"),
        (["--deny", "localhost"], "--deny: 'localhost'"),
        (["--deny", "::ffff:0:0/95"], "--deny: '::ffff:0:0/95' is an "
         "IPv4-mapped address; its prefix must be /96 or longer"),
        (["-p", "1e3"], "invalid port '1e3'"),
        (["-p", "0x50"], "invalid port '0x50'"),
        (["-p", "+80"], "invalid port '+80'"),
    ]
    for args, message in bad:
        status, out, err = run([PTYCHATD] + args)
        lines = err.splitlines()
        t.ok(status == 2 and len(lines) == 3 and
             lines[0].startswith("ptychatd: ") and message in lines[0]
             and lines[1].startswith("usage: ptychatd") and out == "",
             "ptychatd %s: status 2, \"%s\", usage" % (" ".join(args),
                                                        message),
             "status %r, stderr %r" % (status, err))
    return None


for name, fn in [("reset mid-transfer", reset_mid_transfer),
                 ("early reset", reset_early),
                 ("half-close", half_close),
                 ("window killed", window_killed),
                 ("fd limit", fd_limit),
                 ("DISPLAY unset", display_unset),
                 ("directory", unexecutable("directory")),
                 ("not executable", unexecutable("noexec")),
                 ("missing interpreter", unexecutable("badinterp")),
                 ("garbage options", garbage_options)]:
    section(name, fn)
t.done()
