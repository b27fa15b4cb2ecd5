#!/usr/bin/env python3
# Three clients through real xterm windows on a private Xvfb, driven by
# xdotool: each window shows only its own client, a line typed in a
# window reaches only that window's client, a client cannot retitle its
# window, closing a window hangs up on its client alone, and SIGTERM
# leaves no xterm behind.
#
# What the screen shows is read from xterm's own log (-l -lf FILE).
# xterm does not buffer it: it write(2)s what it has parsed each time it
# goes back to the pty for more, so a line shows up in the file within a
# millisecond or two of reaching the window, and waiting on the file with
# a deadline is reliable.  (A line is in the log exactly as the window got
# it, \r\n and all.)
#
# Without a window manager, `xdotool windowfocus --sync` sets the X input
# focus directly and waits until the server reports it, and `xdotool type`
# then sends XTEST key events, which go to the focus window wherever it is
# stacked.  (With --window, xdotool would use XSendEvent instead, and
# xterm ignores sent events.)
import ctypes
import ctypes.util
import os
import select
import shutil
import signal
import subprocess
import sys
import time
import traceback

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from ptytest import (SLOW, TAP, Server, need_tools, process_alive,  # noqa
                     read_text, tmpdir, wait_for)

# Where each window goes, so that none overlaps another (80x24 in the
# "fixed" font is 484x316 pixels).
PLACES = [(0, 0), (500, 0), (0, 350)]


def start_xvfb(tmp, timeout=10.0):
    """Starts a private Xvfb; returns (process, ":N"), or (process, None)."""
    rfd, wfd = os.pipe()
    with open(os.path.join(tmp, "xvfb.log"), "wb") as log:
        # -displayfd picks a free display number and writes it once the
        # server takes connections; -r turns key auto-repeat off, so a
        # slow xdotool can never produce a doubled letter; -noreset keeps
        # the server as it is while no client is connected.
        proc = subprocess.Popen(
            ["Xvfb", "-displayfd", str(wfd), "-nolisten", "tcp", "-noreset",
             "-r", "-screen", "0", "1280x1024x24"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            pass_fds=(wfd,))
    os.close(wfd)
    got = b""
    deadline = time.monotonic() + timeout * SLOW
    try:
        while not got.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([rfd], [], [], left)[0]:
                break
            chunk = os.read(rfd, 64)
            if not chunk:
                break
            got += chunk
    finally:
        os.close(rfd)
    if not got.strip().isdigit():
        return proc, None
    return proc, ":" + got.strip().decode()


def stop_process(proc, timeout=5.0):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def xterms_mentioning(text):
    """Pids of live xterm processes whose command line contains text."""
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % name, "rb") as f:
                cmdline = f.read().decode("utf-8", "replace")
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        argv0 = os.path.basename(cmdline.split("\0")[0])
        if argv0 == "xterm" and text in cmdline and process_alive(int(name)):
            pids.append(int(name))
    return pids


class X:
    """xdotool on one display."""

    def __init__(self, display):
        self.env = dict(os.environ, DISPLAY=display)

    def run(self, *args):
        p = subprocess.run(["xdotool"] + list(args), capture_output=True,
                           timeout=10 * SLOW, env=self.env)
        return p.returncode, p.stdout.decode("utf-8", "replace").strip()

    def find(self, pattern, timeout=10.0):
        """The id of the one window whose title matches, or None."""
        def search():
            status, out = self.run("search", "--name", pattern)
            ids = out.split()
            return ids[0] if status == 0 and len(ids) == 1 else None
        return wait_for(search, timeout, 0.05)

    def name(self, wid):
        return self.run("getwindowname", wid)[1]

    def focused(self):
        status, out = self.run("getwindowfocus")
        return out if status == 0 else None

    def focus(self, wid):
        """Raises wid and gives it the keyboard; returns True if it has it."""
        self.run("windowraise", wid)
        self.run("windowfocus", "--sync", wid)
        return wait_for(lambda: self.focused() == wid, 2.0, 0.02)


def send_wm_delete(display, wid):
    """Asks wid to close the way a window manager's close button does:
    an ICCCM WM_PROTOCOLS/WM_DELETE_WINDOW client message (xdotool 3.2016
    has no command for it).  Returns True when the message was sent."""
    path = ctypes.util.find_library("X11") or "libX11.so.6"
    try:
        x11 = ctypes.CDLL(path)
    except OSError:
        return False

    class ClientMessage(ctypes.Structure):
        _fields_ = [("type", ctypes.c_int), ("serial", ctypes.c_ulong),
                    ("send_event", ctypes.c_int),
                    ("display", ctypes.c_void_p),
                    ("window", ctypes.c_ulong),
                    ("message_type", ctypes.c_ulong),
                    ("format", ctypes.c_int), ("l", ctypes.c_long * 5)]

    class XEvent(ctypes.Union):
        _fields_ = [("xclient", ClientMessage), ("pad", ctypes.c_long * 24)]

    x11.XOpenDisplay.restype = ctypes.c_void_p
    x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
    x11.XInternAtom.restype = ctypes.c_ulong
    x11.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p,
                                ctypes.c_int]
    x11.XSendEvent.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int,
                               ctypes.c_long, ctypes.c_void_p]
    x11.XSync.argtypes = [ctypes.c_void_p, ctypes.c_int]
    x11.XCloseDisplay.argtypes = [ctypes.c_void_p]
    dpy = x11.XOpenDisplay(display.encode())
    if not dpy:
        return False
    ev = XEvent()
    ev.xclient.type = 33                        # ClientMessage
    ev.xclient.window = int(wid)
    ev.xclient.message_type = x11.XInternAtom(dpy, b"WM_PROTOCOLS", 0)
    ev.xclient.format = 32
    ev.xclient.l[0] = x11.XInternAtom(dpy, b"WM_DELETE_WINDOW", 0)
    ev.xclient.l[1] = 0                         # CurrentTime
    sent = x11.XSendEvent(dpy, int(wid), 0, 0, ctypes.byref(ev)) != 0
    x11.XSync(dpy, 0)
    x11.XCloseDisplay(dpy)
    return sent


t = TAP()
need_tools(t, "Xvfb", "xterm", "xdotool")

tmp = tmpdir()
xvfb = srv = None
clients = []
try:
    xvfb, display = start_xvfb(tmp)
    if display is None:
        t.ok(False, "Xvfb started", read_text(os.path.join(tmp, "xvfb.log")))
        raise SystemExit
    t.ok(True, "a private Xvfb runs on display %s" % display)
    x = X(display)

    # -fn fixed: a core font that is always there, so xterm neither hunts
    # for fonts nor warns; HOME and XENVIRONMENT keep the user's X
    # resources out of the test.
    terminal = ("xterm -l -lf %s/xterm-%%n.log -fn fixed -geometry 80x24"
                % tmp)
    srv = Server(tmp, terminal=terminal,
                 env={"DISPLAY": display, "HOME": tmp,
                      "XENVIRONMENT": os.devnull})

    def log_of(n):
        return read_text(os.path.join(tmp, "xterm-%d.log" % n))

    def log_has(n, needle, timeout=5.0):
        return wait_for(lambda: needle in log_of(n), timeout)

    wids = {}
    for n in (1, 2, 3):
        clients.append(srv.connect())
        wids[n] = x.find("^ptychat #%d " % n)
        if not t.ok(wids[n] is not None, "window %d is on the display" % n,
                    srv.text()):
            raise SystemExit
        x.run("windowmove", "--sync", wids[n], *map(str, PLACES[n - 1]))
        t.ok(log_has(n, "Close this window", 10),
             "window %d shows the banner" % n, log_of(n))
    titles = {}
    for n, c in enumerate(clients, 1):
        titles[n] = "ptychat #%d 127.0.0.1:%d" % (n, c.sock.getsockname()[1])
        t.eq(x.name(wids[n]), titles[n],
             "window %d is titled '%s'" % (n, titles[n]))

    # Each client speaks; each window shows its own client only.
    for n in (3, 1, 2):
        clients[n - 1].send("line from client %d\n" % n)
    for n in (1, 2, 3):
        t.ok(log_has(n, "line from client %d\r\n" % n),
             "window %d shows its client's line" % n, log_of(n))
    for n in (1, 2, 3):
        others = [m for m in (1, 2, 3)
                  if m != n and "line from client %d" % m in log_of(n)]
        t.eq(others, [], "window %d shows no other client's line" % n)

    # The operator answers in a scrambled order.  Each reply must arrive
    # before the next window is typed into, so a keystroke that went to
    # the wrong window shows up as a failure, not as a late arrival.
    for n in (2, 3, 1):
        if not t.ok(x.focus(wids[n]), "window %d has the keyboard" % n,
                    "focus is on %s" % x.focused()):
            continue
        x.run("type", "--delay", "10", "reply %d" % n)
        x.run("key", "Return")
        t.ok(clients[n - 1].wait_data("reply %d\n" % n),
             "client %d gets the line typed in window %d" % (n, n),
             clients[n - 1].buf)
    for n, c in enumerate(clients, 1):
        c.wait_data("never sent", 0.3)
        t.eq(c.buf, b"reply %d\n" % n, "client %d gets nothing else" % n)
    t.ok(log_has(2, "reply 2\r\n"), "window 2 echoes what was typed")

    # A client tries to retitle its window.
    clients[0].send(b"\x1b]2;hijacked\x07\n")
    t.ok(log_has(1, "^[]2;hijacked^G\r\n"),
         "the title sequence reaches window 1 in visible form",
         log_of(1)[-200:])
    t.ok("\x1b]2;hijacked" not in log_of(1), "and never as a raw escape")
    t.eq(x.name(wids[1]), titles[1], "window 1 keeps its title")

    # A window manager's close button sends WM_DELETE_WINDOW; xterm
    # answers it with SIGHUP to its child, ptychat-bridge.  (Under -S
    # there would be no child, and the window would not close.)
    t.ok(send_wm_delete(display, wids[2]) and clients[1].wait_eof(),
         "the close button (WM_DELETE_WINDOW) on window 2 gives client 2 "
         "EOF")
    t.ok(srv.wait_log(r"session 2 \S+: window closed"),
         "the server logs the closed window", srv.text())
    t.ok(not clients[0].eof and not clients[2].eof,
         "clients 1 and 3 are still connected")
    clients[0].send("one still here\n")
    clients[2].send("three still here\n")
    t.ok(log_has(1, "one still here") and log_has(3, "three still here"),
         "windows 1 and 3 still show their clients")
    for n in (3, 1):
        if t.ok(x.focus(wids[n]), "window %d has the keyboard again" % n):
            x.run("type", "--delay", "10", "again %d" % n)
            x.run("key", "Return")
            t.ok(clients[n - 1].wait_data("again %d\n" % n),
                 "client %d gets a second line" % n, clients[n - 1].buf)
    t.eq([c.buf for c in clients],
         [b"reply 1\nagain 1\n", b"reply 2\n", b"reply 3\nagain 3\n"],
         "every client got exactly its own lines")

    # Closing window 3 as xkill, or a window manager's force quit, does:
    # its X connection is cut and xterm exits at once.
    x.run("windowkill", wids[3])
    t.ok(clients[2].wait_eof(), "killing window 3 gives client 3 EOF")
    t.ok(not clients[0].eof, "client 1 is still connected")

    # SIGTERM: a clean exit, every client hung up, no xterm left.
    status = srv.stop(timeout=10)
    t.eq(status, 0, "SIGTERM stops the server with status 0")
    t.ok(clients[0].wait_eof(), "client 1 sees EOF")
    left = wait_for(lambda: not xterms_mentioning(tmp + "/xterm-"), 5.0)
    t.ok(left, "no xterm is left running",
         xterms_mentioning(tmp + "/xterm-"))
except SystemExit:
    pass
except Exception:
    t.ok(False, "the test ran to its end", traceback.format_exc())
finally:
    for c in clients:
        c.close()
    if srv:
        srv.cleanup()
        if t.failed:
            t.diag(srv.text())
    for pid in xterms_mentioning(tmp + "/xterm-"):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if xvfb:
        stop_process(xvfb)
    shutil.rmtree(tmp, ignore_errors=True)
t.done()
