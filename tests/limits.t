#!/usr/bin/env python3
# --allow, --deny, --max-clients, --max-per-host and --idle-timeout: a
# refused client gets one line and no window; the server logs it.  A rule
# written as IPv4-mapped IPv6 (::ffff:a.b.c.d) is the IPv4 rule, also for
# IPv4 clients of an IPv6 socket, who arrive as ::ffff:a.b.c.d.
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from ptytest import (TAP, Sections, Window, has_ipv6_loopback,  # noqa: E402
                     wait_for)

t = TAP()


def refused(srv, client, line, name):
    """Asserts client got exactly line, then EOF, and no window opened."""
    t.ok(client.wait_eof() and client.buf == line, name,
         "got %r" % client.buf)


sections = Sections(t)


def section(args, fn):
    sections.with_server(" ".join(args), args, fn)


def no_windows(srv):
    return [n for n in os.listdir(srv.windows) if n.endswith(".pid")] == []


def admitted(srv, client, number):
    """True when client gets window number and what it says shows there."""
    try:
        w = srv.window(number)
    except RuntimeError:
        return False
    client.send("hello from client %d\n" % number)
    return w.wait_text("hello from client %d" % number) and not client.eof


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
    c = srv.connect(source="127.0.0.2")
    t.ok(admitted(srv, c, 1), "--allow 127.0.0.0/8 lets 127.0.0.2 in")


def max_clients(srv):
    a, b = srv.connect(), srv.connect()
    wa = srv.window(1)
    srv.window(2)
    refused(srv, srv.connect(),
            b"ptychatd: too many clients; try again later\n",
            "--max-clients 2: a third client is refused")
    wa.close()
    a.wait_eof()
    # The slot frees once the session's threads end, just after EOF: until
    # then a new client is refused (EOF); then one gets window 3.
    third = Window(srv.windows, 3)

    def try_again():
        c = srv.connect()
        if wait_for(lambda: c.wait_eof(0.05) or os.path.exists(
                third.pid_path)) and not c.eof:
            return c
        c.close()
        return None
    c = wait_for(try_again)
    t.ok(c is not None and admitted(srv, c, 3),
         "once a window closes, a new client gets one")


def max_per_host(srv):
    # Kept: a client that closes before a word is a scan, and gets none.
    first = srv.connect(source="127.0.0.2")
    srv.window(1)
    refused(srv, srv.connect(source="127.0.0.2"),
            b"ptychatd: too many connections from your address\n",
            "--max-per-host 1: a second client from 127.0.0.2 is refused")
    c = srv.connect(source="127.0.0.3")
    t.ok(admitted(srv, c, 2), "a client from 127.0.0.3 still gets a window")
    first.close()


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
    wb.type("still there?\r")
    t.ok(wb.wait_text("....") and busy.wait_data("still there?\n") and
         b"idle" not in busy.buf and not busy.eof,
         "a client that keeps talking stays connected", busy.buf)
    t.ok(srv.wait_log(r"session 1 \S+: idle for 2 s; disconnecting"),
         "the cut-off is logged")


def ipv6(srv):
    refused(srv, srv.connect(host="::1"), DENIED,
            "--deny ::1/128 refuses an IPv6 client")


# An IPv6 socket on 127.0.0.1: IPv4 clients arrive as ::ffff:127.0.0.x,
# as they do on the dual-stack default (::), but only from loopback.
MAPPED = "::ffff:127.0.0.1"


def listens_mapped(port):
    """True when an IPv6 socket listens on ::ffff:127.0.0.1 port."""
    want = "0000000000000000FFFF00000100007F:%04X" % port
    with open("/proc/net/tcp6") as f:
        return any(line.split()[1] == want and line.split()[3] == "0A"
                   for line in f.readlines()[1:])


def deny_mapped(rule):
    def check(srv):
        t.ok(listens_mapped(srv.port), "--deny %s: the server listens on "
             "an IPv6 socket, on %s" % (rule, MAPPED))
        refused(srv, srv.connect(), DENIED, "--deny %s refuses a client "
                "from 127.0.0.1, arriving as ::ffff:127.0.0.1" % rule)
        t.ok(srv.wait_log(r"refused 127\.0\.0\.1:\d+: access denied"),
             "--deny %s: the refusal is logged" % rule)
        c = srv.connect(source="127.0.0.2")
        t.ok(admitted(srv, c, 1), "--deny %s lets a client from 127.0.0.2 "
             "in" % rule)
    return check


def deny_mapped_ipv4(srv):
    refused(srv, srv.connect(), DENIED, "--deny ::ffff:127.0.0.1 refuses "
            "127.0.0.1 on an IPv4 socket")
    c = srv.connect(source="127.0.0.2")
    t.ok(admitted(srv, c, 1), "--deny ::ffff:127.0.0.1 lets 127.0.0.2 in on "
         "an IPv4 socket")


section(["--deny", "127.0.0.1"], deny)
section(["--allow", "10.0.0.0/8"], allow_other)
section(["--allow", "127.0.0.0/8", "--deny", "127.0.0.3/32"], allow_deny)
section(["--max-clients", "2"], max_clients)
section(["--max-per-host", "1"], max_per_host)
section(["--idle-timeout", "2"], idle)
if has_ipv6_loopback():
    section(["-b", "::1", "--deny", "::1/128"], ipv6)
    for rule in ("::ffff:127.0.0.1/128", "127.0.0.1/32"):
        section(["-b", MAPPED, "--deny", rule], deny_mapped(rule))
else:
    t.skip("IPv6 --deny and IPv4-mapped rules", "no IPv6 loopback on this "
           "host", 2 + 2 * 5)
section(["--deny", "::ffff:127.0.0.1"], deny_mapped_ipv4)
t.done()
