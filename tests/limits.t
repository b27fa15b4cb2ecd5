#!/usr/bin/env python3
# --allow, --deny, --max-clients, --max-per-host and --idle-timeout: a
# refused client gets one line and no window; the server logs it.
import os
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from ptytest import TAP, Sections, wait_for  # noqa: E402

t = TAP()


def has_ipv6_loopback():
    try:
        s = socket.socket(socket.AF_INET6)
        s.bind(("::1", 0))
        s.close()
        return True
    except OSError:
        return False


def refused(srv, client, line, name):
    """Asserts client got exactly line, then EOF, and no window opened."""
    t.ok(client.wait_eof() and client.buf == line, name,
         "got %r" % client.buf)


sections = Sections(t)


def section(args, fn):
    sections.with_server(" ".join(args), args, fn)


def no_windows(srv):
    return [n for n in os.listdir(srv.windows) if n.endswith(".pid")] == []


DENIED = b"ptychatd: access denied\n"


def deny(srv):
    refused(srv, srv.connect(), DENIED, "--deny 127.0.0.1: access denied")
    t.ok(srv.wait_log(r"refused 127\.0\.0\.1:\d+: access denied"),
         "the refusal is logged")
    t.ok(no_windows(srv), "a denied client never gets a window")


def allow_other(srv):
    refused(srv, srv.connect(), DENIED,
            "--allow 10.0.0.0/8: a client outside it is denied")


def allow_deny(srv):
    refused(srv, srv.connect(source="127.0.0.3"), DENIED,
            "--deny wins over --allow for 127.0.0.3")
    srv.connect(source="127.0.0.2")
    t.ok(srv.window(1), "--allow 127.0.0.0/8 lets 127.0.0.2 in")


def max_clients(srv):
    a, b = srv.connect(), srv.connect()
    wa = srv.window(1)
    srv.window(2)
    refused(srv, srv.connect(),
            b"ptychatd: too many clients; try again later\n",
            "--max-clients 2: a third client is refused")
    wa.close()
    a.wait_eof()
    # The slot frees once the session's threads end, just after EOF.
    def admitted():
        c = srv.connect()
        return not c.wait_eof(0.3)
    t.ok(wait_for(admitted) and srv.window(3),
         "once a window closes, a new client gets one")


def max_per_host(srv):
    srv.connect(source="127.0.0.2")
    srv.window(1)
    refused(srv, srv.connect(source="127.0.0.2"),
            b"ptychatd: too many connections from your address\n",
            "--max-per-host 1: a second client from 127.0.0.2 is refused")
    srv.connect(source="127.0.0.3")
    t.ok(srv.window(2), "a client from 127.0.0.3 still gets a window")


def idle(srv):
    quiet, busy = srv.connect(), srv.connect()
    wq, wb = srv.window(1), srv.window(2)
    end = time.monotonic() + 3.5
    while time.monotonic() < end:       # busy talks every 0.3 s
        busy.send(".")
        time.sleep(0.3)
    t.ok(quiet.wait_eof(3) and b"ptychatd: idle for 2 seconds; "
         b"disconnecting\n" in quiet.buf,
         "--idle-timeout 2: a silent client is told and disconnected",
         quiet.buf)
    t.ok(wq.wait_text("disconnected after 2 seconds"),
         "its window says so and stays open", wq.text())
    t.ok(not busy.eof and wb.wait_text("...."),
         "a client that keeps talking stays connected")
    t.ok(srv.wait_log(r"session 1 \S+: idle for 2 s; disconnecting"),
         "the cut-off is logged")


def ipv6(srv):
    refused(srv, srv.connect(host="::1"), DENIED,
            "--deny ::1/128 refuses an IPv6 client")


section(["--deny", "127.0.0.1"], deny)
section(["--allow", "10.0.0.0/8"], allow_other)
section(["--allow", "127.0.0.0/8", "--deny", "127.0.0.3/32"], allow_deny)
section(["--max-clients", "2"], max_clients)
section(["--max-per-host", "1"], max_per_host)
section(["--idle-timeout", "2"], idle)
if has_ipv6_loopback():
    section(["-b", "::1", "--deny", "::1/128"], ipv6)
else:
    print("ok %d # SKIP no IPv6 loopback on this host" % (t.count + 1))
    t.count += 1
t.done()
