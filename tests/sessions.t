#!/usr/bin/env python3
# Three clients at once through stand-in windows: each window shows only
# its own client, each reply reaches only its own client, and hostile
# bytes arrive in visible form.
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from ptytest import (TAP, Sections, children_of, fd_targets,  # noqa: E402
                     process_alive)

t = TAP()
sections = Sections(t)


def three_clients(tmp):
    srv = sections.server(tmp)
    clients, windows = [], []
    for i in range(1, 4):
        clients.append(srv.connect())
        windows.append(srv.window(i))
    pids = [w.pid for w in windows]
    t.ok(len(set(pids)) == 3 and all(process_alive(p) for p in pids) and
         sorted(p for p, _ in children_of(srv.pid)) == sorted(pids),
         "three clients connected: three window processes of the server's "
         "run", (pids, children_of(srv.pid)))

    for i, w in enumerate(windows, 1):
        t.ok(w.title().startswith("ptychat #%d 127.0.0.1:" % i),
             "window %d has title 'ptychat #%d ADDRESS:PORT'" % (i, i),
             w.title())
        t.ok("client 127.0.0.1:" in w.text(),
             "window %d opens with a banner naming the client" % i)

    # Clients speak in reverse order; each window shows only its own.
    for i in (3, 2, 1):
        clients[i - 1].send("message from client %d\r\n" % i)
    for i, w in enumerate(windows, 1):
        # The pty's ONLCR makes every line end \r\n on the screen.
        t.ok(w.wait_text("message from client %d\r\n" % i)
             and "^M" not in w.text(),
             "window %d shows its client's line, CRLF as a line end" % i,
             w.text())
        others = [j for j in (1, 2, 3) if j != i
                  and ("message from client %d" % j) in w.text()]
        t.eq(others, [], "window %d shows no other client's line" % i)

    # The operator answers out of order; each reply reaches one client.
    for i in (2, 3, 1):
        windows[i - 1].type("reply to %d\r" % i)
    for i, c in enumerate(clients, 1):
        t.ok(c.wait_data("reply to %d\n" % i),
             "client %d gets the reply typed in its window" % i, c.buf)
    # A marker typed after the replies: once it is in, any stray line
    # would be too.  Each window reports the focus first (CSI I): no
    # BEL of ours below, and the report reaches no client.
    for i, w in enumerate(windows, 1):
        w.type("\x1b[Imarker %d\r" % i)
    for i, c in enumerate(clients, 1):
        c.wait_data("marker %d\n" % i)
        t.eq(c.buf, b"reply to %d\nmarker %d\n" % (i, i),
             "client %d gets nothing else" % i)

    # Line editing: Backspace is ^H in xterm's -S mode; ^U kills a line.
    windows[0].type("typo\x08\x08\x08\x08fixed\r")
    windows[0].type("discard me\x15kept\r")
    t.ok(clients[0].wait_data("fixed\nkept\n"),
         "Backspace (^H) and ^U edit the operator's line", clients[0].buf)
    # ^D must not look like a closed window.
    windows[0].type("\x04still here\r")
    t.ok(clients[0].wait_data("still here\n"),
         "^D in the window does not end the session", clients[0].buf)

    # Hostile bytes are shown, never obeyed.  (Before the focus report,
    # the window rang with a BEL of ours: look only at what comes now.)
    before = len(windows[1].text())
    clients[1].send(b"\x1b]2;owned\x07\x9b6n\xc2\x9d\xfe|\rX\n")
    want = "^[]2;owned^G\\x9B6n\\u009D\\xFE|^MX\r\n"
    t.ok(windows[1].wait_text(want),
         "escape sequences, C1 controls and bad UTF-8 arrive escaped",
         repr(windows[1].text()[-80:]))
    after = windows[1].text()[before:]
    t.ok("\x1b]" not in after and "\x07" not in after,
         "no raw ESC or BEL reaches the window", repr(after))
    t.ok(windows[1].title().startswith("ptychat #2 "),
         "the title is unchanged")

    # Nothing of ours inside a terminal: no socket, no other pty.
    for i, w in enumerate(windows, 1):
        leaked = [x for x in fd_targets(w.pid) if x.startswith("socket:")]
        t.eq(leaked, [], "window %d's process holds no socket" % i)
    ptys = [x for x in fd_targets(windows[0].pid) if x == "/dev/ptmx"]
    t.eq(len(ptys), 1, "window 1 holds exactly one pty master (its own)")

    # Closing window 2 disconnects client 2 only.
    windows[1].close()
    t.ok(clients[1].wait_eof(), "closing window 2 gives client 2 EOF")
    t.ok(srv.wait_log(r"session 2 \S+: window closed"),
         "the server logs the closed window")
    clients[0].send("one still here\n")
    clients[2].send("three still here\n")
    t.ok(windows[0].wait_text("one still here")
         and windows[2].wait_text("three still here"),
         "the other two sessions carry on")
    windows[2].type("back to 3\r")
    t.ok(clients[2].wait_data("back to 3\n"), "and answer as before")

    # Client 1 stops sending: its window says so, replies still go out.
    clients[0].sock.shutdown(1)
    t.ok(windows[0].wait_text("closed its side"),
         "a client's EOF shows a notice in its window", windows[0].text())
    windows[0].type("after your EOF\r")
    t.ok(clients[0].wait_data("after your EOF\n"),
         "the operator can still send after the client's EOF")
    t.ok(srv.proc.poll() is None, "the server is still running")
    for c in clients:
        c.close()


sections.run("three clients", three_clients)
t.done()
