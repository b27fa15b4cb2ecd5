#!/usr/bin/env python3
# Wayland: what -t auto chooses by display, and foot's windows on a real
# compositor.
#
# weston 10's headless backend offers no seat, and foot will not start
# without one ("no seats available"), so weston runs with its X11 backend
# on a private Xvfb instead: a real Wayland compositor with a keyboard.
# ptychatd and foot see WAYLAND_DISPLAY and no DISPLAY; the Xvfb under
# weston only shows the screen (pixels) and carries xdotool's keys.
# weston's protocol log tells each toplevel's title.
import os
import re
import signal
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from ptytest import (BIN, TAP, Sections, children_of, counts,  # noqa
                     missing_tools, process_alive, read_text, settled,
                     wait_for)
from xdisplay import (X, cmdline_of, pixels_differ, private_display,  # noqa
                      snapshot, stop_process)

t = TAP()
sections = Sections(t)
SOCKET = "wayland-ptychat"
WESTON_INI = """[core]
idle-time=0
[shell]
panel-position=none
background-color=0xff202020
animation=none
startup-animation=none
close-animation=none
focus-animation=none
locking=false
"""


def fake_programs(tmp, names):
    """A PATH directory holding programs of these names that do nothing:
    -t auto only looks for them, and no client comes to start one."""
    bin_dir = os.path.join(tmp, "bin-" + "-".join(names or ["none"]))
    os.makedirs(bin_dir)
    for name in names:
        path = os.path.join(bin_dir, name)
        with open(path, "w") as f:
            f.write("#!/bin/sh\nexit 1\n")
        os.chmod(path, 0o755)
    return bin_dir


def choose(tmp, name, programs, env, terminal="auto"):
    """Starts a server with only programs in PATH; returns its log once
    it has said where windows open (or warned that none can)."""
    full = {"PATH": fake_programs(os.path.join(tmp, name), programs),
            "TERMINAL": None, "TMUX": None}
    full.update(env)
    srv = sections.server(os.path.join(tmp, name), terminal=terminal,
                          env=full)
    srv.wait_log(r"client windows open|clients will be turned away")
    return srv.text()


def choices(tmp):
    wl, x = {"WAYLAND_DISPLAY": SOCKET}, {"DISPLAY": ":ptychat-test"}
    no_x = {"DISPLAY": None}
    every = ["xterm", "urxvt", "foot", "kitty", "alacritty", "tmux"]
    log = choose(tmp, "both", every, dict(wl, **x))
    t.ok("client windows open with xterm (auto, on X: DISPLAY is set)" in log,
         "DISPLAY and WAYLAND_DISPLAY: -t auto keeps the X order (xterm)",
         log)
    log = choose(tmp, "wayland", every, dict(wl, **no_x))
    t.ok("client windows open with foot (auto, on Wayland: WAYLAND_DISPLAY is set, "
         "DISPLAY is not)" in log,
         "WAYLAND_DISPLAY alone: -t auto picks foot, and says why", log)
    t.ok("client windows open with foot" in log and "warning" not in log,
         "WAYLAND_DISPLAY alone: foot, with no warning", log)
    log = choose(tmp, "no-foot", ["xterm", "urxvt", "kitty", "alacritty",
                                  "tmux"], dict(wl, **no_x))
    t.ok("client windows open with kitty (auto, on Wayland" in log,
         "WAYLAND_DISPLAY alone, no foot: the next Wayland terminal (kitty)"
         ", not xterm", log)
    log = choose(tmp, "terminal-env", every,
                 dict(wl, TERMINAL="alacritty", **no_x))
    t.ok("client windows open with alacritty ($TERMINAL)" in log,
         "WAYLAND_DISPLAY alone: $TERMINAL still comes first", log)
    log = choose(tmp, "x-only", ["xterm", "urxvt", "st", "tmux"],
                 dict(wl, **no_x))
    t.ok("client windows open in tmux session 'ptychat' (auto: WAYLAND_DISPLAY is set but no Wayland "
         "terminal (foot, gnome-terminal, kitty, alacritty) is installed, "
         "and DISPLAY is not set)" in log,
         "no Wayland terminal installed: tmux, with a line saying why", log)
    t.ok("attach with 'tmux attach -t ptychat'" in log,
         "no Wayland terminal installed: and how to see its windows", log)
    log = choose(tmp, "nothing", ["xterm"], dict(wl, **no_x))
    warned = [line for line in log.splitlines() if "warning" in line]
    t.ok(len(warned) == 1 and "no Wayland terminal was found (tried "
         "$TERMINAL, foot, gnome-terminal, kitty, alacritty) and tmux is "
         "not installed" in warned[0],
         "no Wayland terminal and no tmux: one warning, saying what was "
         "tried", log)
    log = choose(tmp, "named-x", ["xterm"], dict(wl, **no_x),
                 terminal="xterm")
    warned = [line for line in log.splitlines() if "DISPLAY" in line]
    t.ok(len(warned) == 1 and "DISPLAY is not set, and xterm needs X, not "
         "Wayland" in warned[0],
         "-t xterm on Wayland alone: one warning that xterm needs X", log)
    log = choose(tmp, "named-foot", ["foot"], dict(wl, **no_x),
                 terminal="foot")
    t.ok("client windows open with foot" in log and "DISPLAY" not in log,
         "-t foot on Wayland alone: no DISPLAY warning, no auto line", log)
    log = choose(tmp, "neither", every, {"DISPLAY": None,
                                         "WAYLAND_DISPLAY": None})
    t.ok("client windows open in tmux session 'ptychat' (auto: neither DISPLAY nor WAYLAND_DISPLAY is "
         "set)" in log, "no display at all: tmux, as before", log)
    log = choose(tmp, "neither-named", ["xterm"],
                 {"DISPLAY": None, "WAYLAND_DISPLAY": None},
                 terminal="xterm")
    t.ok("warning: DISPLAY is not set (nor WAYLAND_DISPLAY), so windows "
         "cannot open" in log, "no display at all: -t xterm is warned",
         log)


def compositor(tmp):
    """A private Xvfb and weston on it; returns (X on that display, env
    for a Wayland client, weston's log path, weston's X window), or
    None."""
    display = private_display(sections, tmp)
    if not t.ok(display, "a private Xvfb runs",
                read_text(os.path.join(tmp, "xvfb.log"))):
        return None
    run = os.path.join(tmp, "run")
    os.mkdir(run, 0o700)
    ini = os.path.join(tmp, "weston.ini")
    with open(ini, "w") as f:
        f.write(WESTON_INI)
    log = os.path.join(tmp, "weston.log")
    proc = subprocess.Popen(
        ["weston", "--backend=x11-backend.so", "--socket=" + SOCKET,
         "--use-pixman", "--width=1024", "--height=768", "--config=" + ini,
         "--log=" + log, "--logger-scopes=log,proto"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=dict(os.environ, DISPLAY=display, XDG_RUNTIME_DIR=run))
    sections.defer(stop_process, proc)
    if not t.ok(wait_for(lambda: "launching" in read_text(log) and
                         os.path.exists(os.path.join(run, SOCKET)), 10),
                "weston runs, with a Wayland socket", read_text(log)):
        return None
    # Its X window has the X focus, so that it has the keyboard to give.
    m = re.search(r"x11 output \S+, window id (\d+)", read_text(log))
    if not t.ok(m and X(display).focus(m.group(1)),
                "weston's X window has the keyboard", read_text(log)):
        return None
    # A private tmux too, should -t auto ever fall back to it.
    env = {"DISPLAY": None, "WAYLAND_DISPLAY": SOCKET,
           "XDG_RUNTIME_DIR": run, "TERMINAL": None, "TMUX": None,
           "TMUX_TMPDIR": run}
    return X(display), env, log, m.group(1)


def foot_of(srv, number):
    """The pid of the foot whose window is session number's, or None."""
    for pid, state in children_of(srv.pid):
        argv = cmdline_of(pid) or []
        if (argv and os.path.basename(argv[0]) == "foot" and state != "Z"
                and any(a.startswith("ptychat #%d " % number)
                        for a in argv)):
            return pid
    return None


def environ_of(pid):
    try:
        with open("/proc/%d/environ" % pid, "rb") as f:
            raw = f.read().decode("utf-8", "replace")
    except OSError:
        return {}
    return dict(v.split("=", 1) for v in raw.split("\0") if "=" in v)


def focus_count(srv, number):
    return len(re.findall(r"session %d \S+: window has the focus" % number,
                          srv.text()))


def windows(tmp):
    up = compositor(tmp)
    if not up:
        return
    x, env, wlog, screen = up
    display = x.display
    # -v: the log then says which window has the keyboard.
    srv = sections.server(os.path.join(tmp, "server"), terminal="auto",
                          env=env, args=["-v"])
    t.ok(srv.wait_log(r"client windows open with foot \(auto, on Wayland"),
         "ptychatd with WAYLAND_DISPLAY and no DISPLAY says it chose foot",
         srv.text())
    before = os.path.join(tmp, "before.png")
    after = os.path.join(tmp, "after.png")
    a = srv.connect()
    title_a = "ptychat #1 127.0.0.1:%d" % a.sock.getsockname()[1]
    t.ok(srv.wait_log(r"session 1 \S+: window open", 15),
         "a client's foot window opens", srv.text())
    fa = foot_of(srv, 1)
    argv = cmdline_of(fa) if fa else []
    t.ok(fa and argv[1:3] == ["--title", title_a] and
         os.path.basename(argv[3]) == "ptychat-bridge" and
         argv[-1].startswith("/dev/pts/"),
         "foot runs ptychat-bridge on the session's pty, titled '%s'"
         % title_a, argv)
    t.ok(fa and "DISPLAY" not in environ_of(fa) and
         environ_of(fa).get("WAYLAND_DISPLAY") == SOCKET,
         "foot sees WAYLAND_DISPLAY and no DISPLAY")
    t.ok(wait_for(lambda: 'set_title("%s")' % title_a in read_text(wlog),
                  10),
         "the compositor is told the title '%s'" % title_a)

    snapshot(display, "root", before)

    def still():
        snapshot(display, "root", after)
        same = pixels_differ(before, after) == 0
        os.replace(after, before)
        return same
    t.ok(wait_for(still, 10, 0.3), "the screen settles after the banner")
    a.send("".join("line %d from the client\n" % i for i in range(8)))
    t.ok(wait_for(lambda: snapshot(display, "root", after)
                  and pixels_differ(before, after) > 500, 10, 0.2),
         "the window draws what its client sends (screen pixels change)")

    b = srv.connect()
    t.ok(srv.wait_log(r"session 2 \S+: window open", 15),
         "a second client's window opens", srv.text())
    fb = foot_of(srv, 2)
    # Window 2 may take the keyboard before its bridge asks foot for
    # focus reports, so what shows is that window 1 loses it.
    t.ok(srv.wait_log(r"session 1 \S+: window lost the focus", 10),
         "the second window takes the keyboard from the first", srv.text())
    t.ok(x.type_line(screen, "reply 2 via foot"),
         "keys go to the compositor")
    t.ok(b.wait_data("reply 2 via foot\n"),
         "a line typed in window 2 reaches client 2", b.buf)
    bridge_b = [p for p, _ in children_of(fb)] if fb else []
    t.ok(fb and len(bridge_b) == 1, "window 2's foot runs one bridge",
         bridge_b)
    focused = focus_count(srv, 1)
    if fb:
        os.kill(fb, signal.SIGTERM)
    t.ok(b.wait_eof(), "SIGTERM to window 2's foot hangs up on client 2")
    t.ok(wait_for(lambda: not any(map(process_alive, [fb] + bridge_b))),
         "and its foot and bridge are gone")
    t.ok(not a.eof, "client 1 stays connected")
    t.ok(wait_for(lambda: focus_count(srv, 1) > focused, 10),
         "the keyboard goes back to window 1", srv.text())
    t.ok(x.type_line(screen, "reply 1 via foot") and
         a.wait_data("reply 1 via foot\n"),
         "a line typed in window 1 reaches client 1", a.buf)
    bridge_a = [p for p, _ in children_of(fa)] if fa else []
    t.eq(srv.stop(), 0, "SIGTERM stops the server")
    t.ok(a.wait_eof(), "client 1 sees EOF")
    t.ok(wait_for(lambda: not any(map(process_alive, [fa] + bridge_a))),
         "SIGTERM to ptychatd closed window 1: no foot or bridge is left")
    t.eq((a.buf, b.buf), (b"reply 1 via foot\n", b"reply 2 via foot\n"),
         "each client got only its own line")
    t.diag("not checked: foot's own close button (no pointer is driven), "
           "urgency on bell (weston 10 has no xdg-activation; foot "
           "colours its margins instead)")


def twenty(tmp):
    up = compositor(tmp)
    if not up:
        return
    srv = sections.server(os.path.join(tmp, "server"), terminal="auto",
                          env=up[1])

    def one(n):
        """Opens and closes window n; returns what went wrong, or None."""
        c = srv.connect()
        if not srv.wait_log(r"session %d \S+: window open" % n, 15):
            return "window %d did not open" % n
        c.send("hello %d\n" % n)
        foot = wait_for(lambda: foot_of(srv, n))
        if not foot:
            return "window %d: no foot process" % n
        if n % 2:
            c.close()       # the client leaves first, then the window
            if not srv.wait_log(r"session %d \S+: client closed its side"
                                % n):
                return "window %d: the client's close went unseen" % n
            os.kill(foot, signal.SIGTERM)
        else:
            os.kill(foot, signal.SIGTERM)     # the window goes first
            eof = c.wait_eof()
            c.close()
            if not eof:
                return "window %d: its client saw no EOF" % n
        if not srv.wait_log(r"session %d \S+: window closed" % n):
            return "window %d: its close went unseen" % n
        return None

    # The baseline is taken after one window (see lifecycle.t).
    t.eq(one(1), None, "window 1 opens and closes")
    wait_for(lambda: children_of(srv.pid) == [], 10)
    base = settled(lambda: counts(srv))
    wrong = [w for w in map(one, range(2, 22)) if w is not None]
    t.eq(wrong, [], "20 more foot windows open and close")
    t.ok(wait_for(lambda: children_of(srv.pid) == [], 10),
         "every foot has been reaped", children_of(srv.pid))
    t.ok(wait_for(lambda: counts(srv) == base, 10),
         "after 20 windows the fd and thread counts are back to %r" % (base,),
         "now %r" % (counts(srv),))


def session_bus(env):
    """A private D-Bus session bus (gnome-terminal asks its server for the
    window over it, and the bus starts that server with env, as a
    desktop's bus has the session's WAYLAND_DISPLAY); returns its
    address, or None."""
    full = dict(os.environ)
    full.update(env)
    full = dict((k, v) for k, v in full.items() if v is not None)
    p = subprocess.Popen(["dbus-daemon", "--session", "--nofork",
                          "--print-address=1"], stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         env=full)
    sections.defer(stop_process, p)
    line = p.stdout.readline().decode().strip()
    p.stdout.close()
    return line or None


def others(tmp):
    """The rest of -t auto's Wayland list, one window each."""
    up = compositor(tmp)
    if not up:
        return
    x, env, wlog, screen = up
    bus = session_bus(env)
    t.ok(bus, "a private session bus runs")
    env = dict(env, DBUS_SESSION_BUS_ADDRESS=bus or "")
    for program in ("gnome-terminal", "kitty", "alacritty"):
        missing = missing_tools(program)
        if missing:
            t.skip("%s on Wayland" % program, missing, 4, tool=True)
            continue
        srv = sections.server(os.path.join(tmp, program), terminal=program,
                              env=env, args=["-v"])
        before = set(bridges())
        c = srv.connect()
        title = "ptychat #1 127.0.0.1:%d" % c.sock.getsockname()[1]
        t.ok(srv.wait_log(r"session 1 \S+: window open", 20) and
             wait_for(lambda: 'set_title("%s")' % title in read_text(wlog),
                      10),
             "%s: a window opens on Wayland alone, titled '%s'"
             % (program, title), srv.text()[-3000:])
        bridge = wait_for(lambda: [p for p in bridges() if p not in before])
        t.ok(wait_for(lambda: x.type_line(screen, "hi from %s" % program)
                      and c.wait_data("hi from %s\n" % program, 1), 10, 0.5),
             "%s: a line typed in it reaches the client" % program, c.buf)
        t.eq(srv.stop(), 0, "%s: SIGTERM stops the server" % program)
        t.ok(c.wait_eof() and wait_for(
            lambda: not any(map(process_alive, bridge or [0]))),
             "%s: the client sees EOF, and the bridge is gone" % program)


def bridges():
    """Pids of running ptychat-bridge processes of this build (those of
    gnome-terminal are not the server's descendants)."""
    mine = os.path.join(BIN, "ptychat-bridge")
    found = []
    for name in os.listdir("/proc"):
        argv = cmdline_of(int(name)) if name.isdigit() else None
        if argv and argv[0] == mine and process_alive(int(name)):
            found.append(int(name))
    return found


sections.run("choices", choices)
tools = ("Xvfb", "weston", "foot", "xdotool", "import", "compare")
for name, fn, more in (("foot windows", windows, ()),
                       ("20 foot windows", twenty, ()),
                       ("other Wayland terminals", others, ("dbus-daemon",))):
    missing = missing_tools(*(tools + more))
    if missing:
        t.skip("%s on weston" % name, missing, tool=True)
    else:
        sections.run(name, fn)
t.done()
