"""X helpers for the tests that drive real xterm windows on a private Xvfb.

Without a window manager, `xdotool windowfocus --sync` sets the X input
focus directly and waits until the server reports it, and `xdotool type`
then sends XTEST key events, which go to the focus window wherever it is
stacked.  (With --window, xdotool would use XSendEvent instead, and xterm
ignores sent events.)

The few requests xdotool 3.2016 cannot make (a WM_DELETE_WINDOW client
message, the owner of a selection) go through libX11 with ctypes.
"""
import ctypes
import ctypes.util
import os
import select
import signal
import subprocess
import time

from ptytest import SLOW, process_alive, wait_for

# Where each window goes, so that none overlaps another (80x24 in the
# "fixed" font is 484x316 pixels).
PLACES = [(0, 0), (500, 0), (0, 350), (500, 350), (0, 700), (500, 700)]


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
    """Stops a child with SIGTERM, then SIGKILL; reaps it."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def cmdline_of(pid):
    """The argument vector of a process, or None once it is gone."""
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            raw = f.read()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return raw.decode("utf-8", "replace").split("\0")[:-1]


def xterms_mentioning(text):
    """Pids of live xterm processes whose command line contains text."""
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        argv = cmdline_of(int(name))
        if not argv:
            continue
        if (os.path.basename(argv[0]) == "xterm"
                and text in "\0".join(argv) and process_alive(int(name))):
            pids.append(int(name))
    return pids


def stop_display(xvfb, tmp):
    """Kills any xterm still running for this test (its command line
    names tmp), then stops the private Xvfb."""
    for pid in xterms_mentioning(tmp):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if xvfb:
        stop_process(xvfb)


def private_display(sections, tmp):
    """Starts a private Xvfb for a section, stopped (with any xterm left
    for tmp) when the section ends, after its servers; returns ":N", or
    None when it did not start (its log is tmp/xvfb.log)."""
    xvfb, display = start_xvfb(tmp)
    sections.defer(stop_display, xvfb, tmp)
    return display


class X:
    """xdotool on one display."""

    def __init__(self, display):
        self.display = display
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

    def place(self, wid, index):
        """Moves wid to the index'th spot of PLACES (wrapping around)."""
        spot = PLACES[index % len(PLACES)]
        self.run("windowmove", "--sync", wid, *map(str, spot))

    def type_line(self, wid, text):
        """Focuses wid and types text and Return; returns False when wid
        never got the keyboard (and nothing was typed)."""
        if not self.focus(wid):
            return False
        self.run("type", "--delay", "10", text)
        self.run("key", "Return")
        return True


# Xlib's default error handler exits the process, so a request about a
# window that has just gone (an xterm killed by an attack, say) would end
# the test with no clean-up.  This one ignores the error; the call that
# caused it returns its failure status instead.
_X_ERROR_HANDLER = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p,
                                    ctypes.c_void_p)
_ignore_x_error = _X_ERROR_HANDLER(lambda display, event: 0)
_x11 = []


def _libx11():
    """libX11 through ctypes with the prototypes used here, or None."""
    if _x11:
        return _x11[0]
    path = ctypes.util.find_library("X11") or "libX11.so.6"
    try:
        x11 = ctypes.CDLL(path)
    except OSError:
        return None
    x11.XSetErrorHandler.restype = ctypes.c_void_p
    x11.XSetErrorHandler.argtypes = [_X_ERROR_HANDLER]
    x11.XSetErrorHandler(_ignore_x_error)
    x11.XOpenDisplay.restype = ctypes.c_void_p
    x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
    x11.XInternAtom.restype = ctypes.c_ulong
    x11.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p,
                                ctypes.c_int]
    x11.XSendEvent.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int,
                               ctypes.c_long, ctypes.c_void_p]
    x11.XGetWindowProperty.argtypes = [
        ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_long,
        ctypes.c_long, ctypes.c_int, ctypes.c_ulong,
        ctypes.POINTER(ctypes.c_ulong), ctypes.POINTER(ctypes.c_int),
        ctypes.POINTER(ctypes.c_ulong), ctypes.POINTER(ctypes.c_ulong),
        ctypes.POINTER(ctypes.c_void_p)]
    x11.XFree.argtypes = [ctypes.c_void_p]
    x11.XGetSelectionOwner.restype = ctypes.c_ulong
    x11.XGetSelectionOwner.argtypes = [ctypes.c_void_p, ctypes.c_ulong]
    x11.XSync.argtypes = [ctypes.c_void_p, ctypes.c_int]
    x11.XCloseDisplay.argtypes = [ctypes.c_void_p]
    _x11.append(x11)
    return x11


def send_wm_delete(display, wid):
    """Asks wid to close the way a window manager's close button does:
    an ICCCM WM_PROTOCOLS/WM_DELETE_WINDOW client message (xdotool 3.2016
    has no command for it).  Returns True when the message was sent."""
    x11 = _libx11()
    if x11 is None:
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


def selection_owners(display, names=("PRIMARY", "CLIPBOARD")):
    """{name: owner window id, 0 for none} for each selection, or None
    when the display cannot be opened.  (An owner is whoever last
    claimed the selection: xterm claims it when OSC 52 sets it.)"""
    x11 = _libx11()
    if x11 is None:
        return None
    dpy = x11.XOpenDisplay(display.encode())
    if not dpy:
        return None
    owners = {}
    for name in names:
        atom = x11.XInternAtom(dpy, name.encode(), 0)
        owners[name] = x11.XGetSelectionOwner(dpy, atom)
    x11.XCloseDisplay(dpy)
    return owners


# The properties a title or icon-name sequence would change.
NAME_PROPERTIES = ("WM_NAME", "_NET_WM_NAME", "WM_ICON_NAME",
                   "_NET_WM_ICON_NAME")


def window_texts(display, wid, names=NAME_PROPERTIES):
    """{name: bytes, or None when unset} for 8-bit text properties of
    wid, whatever their type (STRING, UTF8_STRING...), or None when the
    display cannot be opened."""
    x11 = _libx11()
    if x11 is None:
        return None
    dpy = x11.XOpenDisplay(display.encode())
    if not dpy:
        return None
    texts = {}
    for name in names:
        atom = x11.XInternAtom(dpy, name.encode(), 0)
        kind, fmt = ctypes.c_ulong(), ctypes.c_int()
        count, after = ctypes.c_ulong(), ctypes.c_ulong()
        data = ctypes.c_void_p()
        # AnyPropertyType (0); up to 4 MB (the length is in 32-bit units).
        status = x11.XGetWindowProperty(
            dpy, int(wid), atom, 0, 1 << 20, 0, 0, ctypes.byref(kind),
            ctypes.byref(fmt), ctypes.byref(count), ctypes.byref(after),
            ctypes.byref(data))
        texts[name] = None
        if status == 0 and kind.value != 0 and data.value:
            if fmt.value == 8:
                texts[name] = ctypes.string_at(data.value, count.value)
        if data.value:
            x11.XFree(data)
    x11.XCloseDisplay(dpy)
    return texts


def snapshot(display, wid, path):
    """Saves window wid ("root": the whole screen) as an image at path;
    returns True when the file is there (ImageMagick's import)."""
    subprocess.run(["import", "-display", display, "-window", wid, path],
                   capture_output=True, timeout=20 * SLOW)
    return os.path.exists(path)


def pixels_differ(a, b):
    """How many pixels differ between two snapshots (ImageMagick), or -1
    when they cannot be compared."""
    p = subprocess.run(["compare", "-metric", "AE", a, b, "null:"],
                       capture_output=True, timeout=20 * SLOW)
    try:
        return int(float(p.stderr.split()[0]))
    except (ValueError, IndexError):
        return -1


# Xutil.h's XUrgencyHint: the WM_HINTS flag a terminal sets on a bell.
URGENCY_HINT = 1 << 8


def urgent(display, wid):
    """True when wid's WM_HINTS have the urgency flag, False when not,
    None when they cannot be read."""
    x11 = _libx11()
    if x11 is None:
        return None
    x11.XGetWMHints.restype = ctypes.POINTER(ctypes.c_long)
    x11.XGetWMHints.argtypes = [ctypes.c_void_p, ctypes.c_ulong]
    dpy = x11.XOpenDisplay(display.encode())
    if not dpy:
        return None
    hints = x11.XGetWMHints(dpy, int(wid))
    flags = None
    if hints:
        flags = hints[0]        # the first member: long flags
        x11.XFree(hints)
    x11.XCloseDisplay(dpy)
    return None if flags is None else bool(flags & URGENCY_HINT)
