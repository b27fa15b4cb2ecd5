#!/usr/bin/env python3
# Every X terminal we name, driven for real on a private Xvfb, with the
# same checks for each (tests/lib/emulators.py): the title, the client's
# text drawn, typing that reaches only its own client, urgency on the
# bell where the terminal has it, the close button, 20 windows with the
# server's fds and threads back at their baseline, and SIGTERM closing
# every window with no process of ours left.  x-terminal-emulator is
# tried as a link to each of them, as Debian's alternatives make it,
# with the shorter set of checks.
#
# kitty and alacritty draw with OpenGL: Mesa's software renderer on
# Xvfb's GLX.  gnome-terminal and konsole get a private D-Bus session
# bus, as on a desktop; gnome-terminal's windows belong to the
# gnome-terminal-server started on it, its launcher (--wait) to us.
#
# A client that closes its side keeps its window (ptychatd says so in
# it), so the windows here are closed by their close buttons.
# PTYCHAT_EMULATORS=kitty,x-terminal-emulator runs only those.
import os
import shutil
import sys

sys.dont_write_bytecode = True     # no __pycache__ in the tree
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from ptytest import TAP, Sections, need_tools, read_text  # noqa
from xdisplay import private_display  # noqa
from emulators import (Emulator, XScreen, check_close_button,  # noqa
                       check_draw, check_launchers,
                       check_many, check_shutdown, check_titles,
                       check_typing, check_urgent, open_windows,
                       start_server)

t = TAP()
need_tools(t, "Xvfb", "xdotool", "import", "compare")
sections = Sections(t)

GL = {"LIBGL_ALWAYS_SOFTWARE": "1"}
GNOME = dict(tools=("gnome-terminal", "dbus-daemon"), bus=True,
             services=("gnome-terminal-", "dconf-service"))
# Without a session bus, konsole starts one (dbus-launch) that outlives
# it; on a desktop there is one.
KDE = dict(tools=("konsole", "dbus-daemon"), bus=True)
EMULATORS = [
    Emulator("gnome-terminal", "gnome-terminal", **GNOME),
    Emulator("konsole", "konsole", **KDE),
    Emulator("kitty", "kitty", env=GL,
             urgent="it asks a window manager for attention "
             "(_NET_WM_STATE), and Xvfb has none"),
    Emulator("alacritty", "alacritty", env=GL, urgent=True),
    Emulator("xfce4-terminal", "xfce4-terminal",
             urgent="only with its misc-bell-urgent preference"),
]
# x-terminal-emulator: (what the link points to, what ptychatd runs).
ALTERNATIVES = [
    ("gnome-terminal.wrapper", "gnome-terminal", GNOME),
    ("konsole", "konsole", KDE),
    ("kitty", "kitty", dict(env=GL)),
    ("alacritty", "alacritty", dict(env=GL)),
    ("xfce4-terminal.wrapper", "xfce4-terminal", {}),
]


def display_for(tmp):
    display = private_display(sections, tmp)
    t.ok(display, "a private Xvfb runs",
         read_text(os.path.join(tmp, "xvfb.log")))
    return XScreen(display) if display else None


def full(tmp, emu):
    screen = display_for(tmp)
    srv = screen and start_server(sections, tmp, emu, screen)
    if not srv:
        return
    pairs = open_windows(t, emu, screen, srv, (1, 2))
    if not pairs:
        return
    (a, wa), (b, wb) = pairs
    check_titles(t, emu, screen, pairs)
    check_launchers(t, emu, srv, 2)
    check_draw(t, emu, screen, wa, a, tmp)
    check_typing(t, emu, screen, pairs)
    check_urgent(t, emu, screen, pairs)
    check_close_button(t, emu, screen, srv, pairs)
    # Each reply came before the next window was typed into, and "still
    # here" after the rest: nothing else was typed to either client.
    t.eq((a.buf, b.buf),
         (("reply 1 via %s\n" % emu.label).encode(),
          ("reply 2 via %s\nstill here\n" % emu.label).encode()),
         "%s: each client got only its own lines" % emu.label)
    t.ok(screen.close(wb) and b.wait_eof(10),
         "%s: the close button on window 2 hangs up client 2" % emu.label)
    a.close()
    b.close()
    n = check_many(t, emu, screen, srv, 3)
    last = open_windows(t, emu, screen, srv, (n, n + 1))
    if last:
        check_shutdown(t, emu, screen, srv, last, tmp)


def alternative(tmp, target, runs, kwargs):
    links = os.path.join(tmp, "bin")
    os.makedirs(links)
    os.symlink(shutil.which(target), os.path.join(links,
                                                  "x-terminal-emulator"))
    kwargs = dict(kwargs)
    env = dict(kwargs.pop("env", {}))
    env["PATH"] = links + os.pathsep + os.environ.get("PATH", "")
    emu = Emulator("x-terminal-emulator -> " + target,
                   "x-terminal-emulator", env=env, **kwargs)
    screen = display_for(tmp)
    srv = screen and start_server(sections, tmp, emu, screen)
    if not srv:
        return
    t.ok(srv.wait_log(r"client windows open with /\S*/%s\n"
                      % runs.replace(".", r"\.")),
         "%s: the server runs %s itself" % (emu.label, runs), srv.text())
    pairs = open_windows(t, emu, screen, srv, (1, 2))
    if not pairs:
        return
    check_titles(t, emu, screen, pairs)
    check_typing(t, emu, screen, pairs)
    check_close_button(t, emu, screen, srv, pairs)
    check_shutdown(t, emu, screen, srv, pairs[1:], tmp)


only = os.environ.get("PTYCHAT_EMULATORS")
for emu in EMULATORS:
    if only and emu.label not in only.split(","):
        continue
    why = emu.missing()
    if why:
        t.skip(emu.label, why, tool=True)
        continue
    sections.run(emu.label, lambda tmp: full(tmp, emu))
for target, runs, kwargs in ALTERNATIVES:
    if only and "x-terminal-emulator" not in only.split(","):
        continue
    why = Emulator(target, target, tools=(target,) + kwargs.get("tools", ())
                   ).missing()
    if why:
        t.skip("x-terminal-emulator -> " + target, why, tool=True)
        continue
    sections.run("x-terminal-emulator -> " + target,
                 lambda tmp: alternative(tmp, target, runs, kwargs))
t.done()
