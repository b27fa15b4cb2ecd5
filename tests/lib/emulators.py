"""The checks every real terminal emulator must pass with ptychatd, for
any terminal on any display.

An Emulator says how ptychatd is told to use a terminal and what it
needs; a screen says how windows are seen and driven on a display (XScreen
for X; another display server brings its own object with the same
methods, and lists in its `can` only what it can do).  Each check function
takes the TAP object, the emulator and the screen, asserts what the
screen can show, and prints what it could not check.

The processes a test starts carry a marker in their environment (see
Emulator.env), which is how those left behind are found: a terminal's
helpers started over D-Bus are not our children.
"""
import os
import re
import signal
import subprocess

from ptytest import (SLOW, children_of, counts, missing_tools,
                     process_alive, settled, wait_for)
from xdisplay import (X, pixels_differ, send_wm_delete, urgent,  # noqa
                      window_texts)

# The variable that marks every process a test starts.
MARKER = "PTYCHAT_EMULATOR_TEST"



class Emulator:
    """One terminal under test.

    label      its name in the test output
    terminal   the -t value given to ptychatd
    tools      the programs it needs (the file skips it when one is missing)
    env        more environment for the server (None removes a variable)
    bus        it needs a D-Bus session bus
    services   process names that serve windows for it but are not ours
               to end (gnome-terminal-server: the bus ends it)
    urgent     True when its urgency hint (WM_HINTS) must go up on the
               bell; otherwise why it is not checked
    """

    def __init__(self, label, terminal, tools=(), env=None, bus=False,
                 services=(), urgent="its bell sets no urgency hint"):
        self.label = label
        self.terminal = terminal
        self.tools = tuple(tools) or (terminal.split()[0],)
        self.env = dict(env or {})
        self.bus = bus
        self.services = tuple(services)
        self.urgent = urgent

    def missing(self):
        return missing_tools(*self.tools)


class XScreen:
    """Windows on one X display, found by title, driven with xdotool."""

    can = frozenset(("title", "draw", "type", "close", "urgent"))

    def __init__(self, display):
        self.display = display
        self.x = X(display)
        self.places = 0

    def env(self):
        return {"DISPLAY": self.display, "WAYLAND_DISPLAY": None}

    def find(self, title, timeout=15.0):
        """The one mapped window whose title starts with title, or None.
        (Unmapped ones are skipped: alacritty makes and drops a window
        before its real one.)  Each window found gets its own place."""
        pattern = "^" + re.escape(title) + "( |$)"

        def search():
            status, out = self.x.run("search", "--onlyvisible", "--name",
                                     pattern)
            ids = out.split()
            return ids[0] if status == 0 and len(ids) == 1 else None
        wid = wait_for(search, timeout, 0.05)
        if wid:
            self.x.place(wid, self.places)
            self.places += 1
        return wid

    def title(self, wid):
        """WM_NAME (konsole adds its own name to _NET_WM_NAME only)."""
        texts = window_texts(self.display, wid, ("WM_NAME",)) or {}
        raw = texts.get("WM_NAME")
        return raw.decode("utf-8", "replace") if raw is not None else None

    def snapshot(self, wid, path):
        if os.path.exists(path):
            os.unlink(path)
        subprocess.run(["import", "-display", self.display, "-window", wid,
                        path], capture_output=True, timeout=20 * SLOW)
        return os.path.exists(path)

    def type_line(self, wid, text):
        return self.x.type_line(wid, text)

    def focus(self, wid):
        return self.x.focus(wid)

    def close(self, wid):
        """The window manager's close button: WM_DELETE_WINDOW."""
        return send_wm_delete(self.display, wid)

    def gone(self, wid):
        """True once wid is no longer a mapped window."""
        status, out = self.x.run("search", "--onlyvisible", "--name", ".")
        return status in (0, 1) and wid not in out.split()

    def urgent(self, wid):
        """True when wid's WM_HINTS ask for urgency, None when unknown."""
        return urgent(self.display, wid)


def marked(tag):
    """(pid, name) of each live process whose environment carries tag."""
    needle = ("%s=%s\0" % (MARKER, tag)).encode()
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            with open("/proc/%s/environ" % name, "rb") as f:
                env = f.read()
            with open("/proc/%s/comm" % name) as f:
                comm = f.read().strip()
        except OSError:
            continue
        if needle in env and process_alive(int(name)):
            found.append((int(name), comm))
    return found


def kill_marked(tag):
    for pid, _ in marked(tag):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def start_bus(sections, tmp, env):
    """A private D-Bus session bus for a section, stopped when it ends;
    returns its address, or None."""
    proc = subprocess.Popen(
        ["dbus-daemon", "--session", "--nofork", "--print-address=1"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=open(os.path.join(tmp, "dbus.log"), "wb"), env=env)

    def stop():
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        proc.stdout.close()
    sections.defer(stop)
    line = proc.stdout.readline().decode().strip()
    return line or None


def start_server(sections, tmp, emu, screen):
    """ptychatd using emu on screen, with a private HOME and
    XDG_RUNTIME_DIR, its processes marked with tmp.  Leftovers are killed when the section ends (after
    they have been looked for)."""
    home = os.path.join(tmp, "home")
    run = os.path.join(tmp, "run")
    os.makedirs(home, exist_ok=True)
    os.makedirs(run, mode=0o700, exist_ok=True)
    env = {"HOME": home, MARKER: tmp, "NO_AT_BRIDGE": "1",
           "XDG_RUNTIME_DIR": run, "DBUS_SESSION_BUS_ADDRESS": None,
           "TERMINAL": None}
    env.update(screen.env())
    env.update(emu.env)
    sections.defer(kill_marked, tmp)
    if emu.bus:
        bus_env = dict(os.environ)
        bus_env.update((k, v) for k, v in env.items() if v is not None)
        address = start_bus(sections, tmp, bus_env)
        if address is None:
            return None
        env["DBUS_SESSION_BUS_ADDRESS"] = address
    return sections.server(os.path.join(tmp, "server"),
                           terminal=emu.terminal, env=env)


def title_of(n, client):
    return "ptychat #%d 127.0.0.1:%d" % (n, client.sock.getsockname()[1])


def open_windows(t, emu, screen, srv, numbers):
    """Connects one client per session number and finds its window by
    title.  Returns [(client, window)], or None when one did not open."""
    pairs = []
    for n in numbers:
        c = srv.connect()
        wid = screen.find(title_of(n, c))
        if not t.ok(wid is not None, "%s: window %d is on the display"
                    % (emu.label, n), srv.text()[-2000:]):
            c.close()
            return None
        pairs.append((c, wid))
    t.ok(srv.wait_log(r"session %d \S+: window open" % numbers[-1], 15),
         "%s: the server has the windows open" % emu.label,
         srv.text()[-2000:])
    return pairs


def check_titles(t, emu, screen, pairs, first=1):
    if "title" not in screen.can:
        t.diag("%s: not checked: the title" % emu.label)
        return
    for n, (c, wid) in enumerate(pairs, first):
        t.eq(screen.title(wid), title_of(n, c),
             "%s: window %d is titled 'ptychat #N ADDRESS:PORT'"
             % (emu.label, n))


def check_launchers(t, emu, srv, count):
    """The terminal ptychatd started lives as long as its window (a
    launcher that returned at once would leave no child)."""
    t.ok(wait_for(lambda: len([p for p, s in children_of(srv.pid)
                               if s != "Z"]) == count, 5),
         "%s: %d terminal processes of ptychatd live while %d windows "
         "are open" % (emu.label, count, count), children_of(srv.pid))


def check_draw(t, emu, screen, wid, client, tmp):
    """The window's pixels change when its client sends text."""
    if "draw" not in screen.can:
        t.diag("%s: not checked: drawing" % emu.label)
        return
    before = os.path.join(tmp, "before.png")
    after = os.path.join(tmp, "after.png")
    screen.snapshot(wid, before)

    # The banner first: wait until two snapshots agree.
    def calm():
        same = (screen.snapshot(wid, after)
                and pixels_differ(before, after) == 0)
        if os.path.exists(after):
            os.replace(after, before)
        return same
    t.ok(wait_for(calm, 10, 0.3),
         "%s: the window settles after its banner" % emu.label)
    client.send("".join("line %d for the window of %s\n" % (i, emu.label)
                        for i in range(8)))
    t.ok(wait_for(lambda: screen.snapshot(wid, after)
                  and pixels_differ(before, after) > 500, 10, 0.3),
         "%s: the window draws what its client sends" % emu.label)


def check_typing(t, emu, screen, pairs):
    """A line typed in each window reaches its own client; each reply is
    awaited before the next window is typed into."""
    if "type" not in screen.can:
        t.diag("%s: not checked: typing" % emu.label)
        return
    for n in reversed(range(1, len(pairs) + 1)):
        c, wid = pairs[n - 1]
        line = "reply %d via %s" % (n, emu.label)
        t.ok(screen.type_line(wid, line),
             "%s: window %d takes the keyboard" % (emu.label, n))
        t.ok(c.wait_data(line + "\n"), "%s: the line typed in window %d "
             "reaches client %d" % (emu.label, n, n), c.buf)


def check_urgent(t, emu, screen, pairs):
    """Text for a window without the focus rings its bell; a terminal
    that turns the bell into urgency raises the hint."""
    if "urgent" not in screen.can or emu.urgent is not True:
        t.diag("%s: not checked: urgency on the bell (%s)"
               % (emu.label, "the display cannot show it"
                  if "urgent" not in screen.can else emu.urgent))
        return
    (a, wa), (b, wb) = pairs[0], pairs[1]
    t.ok(screen.focus(wb), "%s: window 2 has the focus" % emu.label)
    t.ok(screen.urgent(wa) is not True,
         "%s: window 1 does not ask for urgency yet" % emu.label)
    a.send("while you look elsewhere\n")
    t.ok(wait_for(lambda: screen.urgent(wa), 5, 0.1),
         "%s: window 1, not focused, asks for urgency when its client "
         "writes" % emu.label)


def check_close_button(t, emu, screen, srv, pairs):
    """The close button on window 1 hangs up client 1 alone; its
    terminal process ends."""
    if "close" not in screen.can:
        t.diag("%s: not checked: the close button" % emu.label)
        return
    (a, wa), (b, wb) = pairs[0], pairs[1]
    t.ok(screen.close(wa) and a.wait_eof(10),
         "%s: the close button on window 1 hangs up client 1" % emu.label)
    t.ok(wait_for(lambda: screen.gone(wa), 5),
         "%s: window 1 is gone" % emu.label)
    check_launchers(t, emu, srv, len(pairs) - 1)
    if "type" in screen.can:
        t.ok(screen.type_line(wb, "still here")
             and b.wait_data("still here\n"),
             "%s: client 2 stays connected" % emu.label, b.buf)
    else:
        b.send("still here\n")
        t.ok(not b.eof and not b.wait_eof(0.5),
             "%s: client 2 stays connected" % emu.label)


def check_many(t, emu, screen, srv, first, total=20, batch=4, close=None):
    """total windows, batch at a time, each opened and then closed with
    close(window) (the close button by default), which must hang up its
    client; the server's fd and thread counts come back to what they
    were.  Returns the next session number."""
    close = close or screen.close
    wait_for(lambda: children_of(srv.pid) == [], 10)
    base = settled(lambda: counts(srv), 0.5, 10)
    n, done = first, 0
    while done < total:
        group = []
        for _ in range(min(batch, total - done)):
            group.append((n, srv.connect()))
            n += 1
        found = [(c, screen.find(title_of(m, c))) for m, c in group]
        if not all(w for _, w in found):
            break
        if not srv.wait_log(r"session %d \S+: window open" % (n - 1), 15):
            break
        hung = [close(w) and c.wait_eof(10) for c, w in found]
        for c, _ in found:
            c.close()
        if not all(hung):
            break
        done += len(group)
    t.eq(done, total, "%s: %d windows open and close with the close button, "
         "%d at a time, each hanging up its client"
         % (emu.label, total, batch))
    t.ok(wait_for(lambda: children_of(srv.pid) == [], 15),
         "%s: every terminal process of the %d is reaped"
         % (emu.label, total), children_of(srv.pid))
    t.ok(wait_for(lambda: counts(srv) == base, 15),
         "%s: after %d windows the server's fds and threads are back to "
         "%d and %d" % ((emu.label, total) + base),
         "now %r: %r" % (counts(srv),
                         os.listdir("/proc/%d/fd" % srv.pid)))
    return n


def leftovers(emu, tag):
    return [(p, name) for p, name in marked(tag)
            if name not in emu.services and name != "dbus-daemon"]


def check_shutdown(t, emu, screen, srv, pairs, tag):
    """SIGTERM to ptychatd: it exits 0, every client sees EOF, every
    window goes, and no process of ours is left."""
    t.eq(srv.stop(timeout=15), 0, "%s: SIGTERM stops the server"
         % emu.label)
    t.ok(all(c.wait_eof(10) for c, _ in pairs),
         "%s: every client sees EOF" % emu.label)
    t.ok(wait_for(lambda: all(screen.gone(w) for _, w in pairs), 10),
         "%s: SIGTERM to ptychatd closes every window" % emu.label)
    t.ok(wait_for(lambda: leftovers(emu, tag) == [], 10),
         "%s: no process of ours is left (bridge, terminal)" % emu.label,
         leftovers(emu, tag))
