#!/usr/bin/env python3
# Real terminals other than xterm, on a private Xvfb: urxvt (which adopts
# the pty master with -pty-fd) and st (which runs ptychat-bridge).  For
# each: the window opens with its title, it draws what the client sends
# (its pixels change), a line typed in it reaches only its client, the
# close button (WM_DELETE_WINDOW) hangs up, and no process is left.
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from ptytest import (TAP, Sections, children_of, need_tools,  # noqa
                     read_text, wait_for)
from xdisplay import (X, pixels_differ, private_display,  # noqa
                      send_wm_delete, snapshot)

t = TAP()
need_tools(t, "Xvfb", "xdotool", "urxvt", "st", "import", "compare")
sections = Sections(t)


def exercise(tmp, program):
    display = private_display(sections, tmp)
    if not t.ok(display, "%s: a private Xvfb runs" % program,
                read_text(os.path.join(tmp, "xvfb.log"))):
        return
    x = X(display)
    srv = sections.server(os.path.join(tmp, "server"), terminal=program,
                          env={"DISPLAY": display})
    t.ok(srv.wait_log(r"client windows open with %s" % program),
         "%s: the server says windows open with it" % program,
         srv.text())
    a, b = srv.connect(), srv.connect()
    wa = x.find("^ptychat #1 127\\.0\\.0\\.1:%d$"
                % a.sock.getsockname()[1])
    wb = x.find("^ptychat #2 127\\.0\\.0\\.1:%d$"
                % b.sock.getsockname()[1])
    t.ok(wa and wb, "%s: two windows, titled 'ptychat #N ADDR:PORT'"
         % program)
    if not (wa and wb):
        return
    x.place(wa, 0)
    x.place(wb, 1)
    t.ok(srv.wait_log(r"session 2 \S+: window open"),
         "%s: both windows are open" % program, srv.text())
    before = os.path.join(tmp, program + "-before.png")
    after = os.path.join(tmp, program + "-after.png")
    # The banner first: wait until two snapshots agree.
    snapshot(display, wa, before)

    def settled():
        snapshot(display, wa, after)
        same = pixels_differ(before, after) == 0
        os.replace(after, before)
        return same
    t.ok(wait_for(settled, 10, 0.3),
         "%s: the window settles after its banner" % program)
    a.send("".join("line %d from the client of %s\n" % (i, program)
                   for i in range(8)))
    t.ok(wait_for(lambda: snapshot(display, wa, after)
                  and pixels_differ(before, after) > 500, 10, 0.2),
         "%s: the window draws what its client sends" % program)
    for wid, c, n in ((wb, b, 2), (wa, a, 1)):
        t.ok(x.type_line(wid, "reply %d via %s" % (n, program)),
             "%s: window %d takes the keyboard" % (program, n))
        t.ok(c.wait_data("reply %d via %s\n" % (n, program)),
             "%s: the line typed in window %d reaches client %d"
             % (program, n, n), c.buf)
    t.ok(send_wm_delete(display, wa) and a.wait_eof(),
         "%s: the close button hangs up on client 1" % program)
    t.ok(x.type_line(wb, "still here") and b.wait_data("still here\n"),
         "%s: client 2 stays connected" % program, b.buf)
    t.eq(srv.stop(), 0, "%s: SIGTERM stops the server" % program)
    t.ok(b.wait_eof(), "%s: client 2 sees EOF" % program)
    # Their EOFs come after all their windows sent.
    t.eq((a.buf, b.buf), (("reply 1 via %s\n" % program).encode(),
                          ("reply 2 via %s\nstill here\n"
                           % program).encode()),
         "%s: each client got only its own line" % program)
    t.ok(wait_for(lambda: children_of(srv.pid) == []),
         "%s: no window process is left" % program)


for program in ("urxvt", "st"):
    sections.run(program, lambda tmp: exercise(tmp, program))
t.done()
