#!/usr/bin/env python3
# --proxy-protocol: from a trusted address each connection begins with a
# PROXY header (v1 text, v2 binary, written here byte by byte), and the
# client's address in it stands for the client: title, banner, log,
# transcript, the console's list, --allow/--deny and --max-per-host.
# From another address a header is text.  A trusted connection with no
# header, or a bad, cut or stalled one, gets a log line and no window;
# a health check (LOCAL, UNKNOWN, a header then the end, a bare connect)
# gets no window and no log line without -v.  What follows the header (a
# first line, a TLS hello) arrives whole.  Then the real HAProxy,
# send-proxy-v2 and send-proxy, with its health checks, and ptychat
# through it; and stalled headers cut short by SIGTERM, a kick or the
# client, many times, back to the baseline.
import os
import re
import signal
import socket
import ssl
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from ptytest import (PTYCHAT, PTYCHATD, SLOW, TAP, ConsoleServer,  # noqa: E402
                     Sections, Window, counts, fd_targets, free_port,
                     haproxy_start, haproxy_stat, has_ipv6_loopback,
                     kill_all, missing_tools, read_text, run, settled,
                     thread_count, wait_for, zombies)

t = TAP()
sections = Sections(t)
TRUST = ["--proxy-protocol", "127.0.0.1/32"]
V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"
DENIED = b"ptychatd: access denied\n"
PER_HOST = b"ptychatd: too many connections from your address\n"
# Seconds the server gives a proxy for its header.
HEADER_WAIT = 3.0

CTX = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
CTX.check_hostname = False
CTX.verify_mode = ssl.CERT_NONE


def v1(src, sport, dst=None, dport=6666):
    proto = "TCP6" if ":" in src else "TCP4"
    dst = dst or ("2001:db8::1" if proto == "TCP6" else "198.51.100.1")
    return ("PROXY %s %s %s %d %d\r\n"
            % (proto, src, dst, sport, dport)).encode()


def tlv(kind, value):
    return bytes([kind]) + struct.pack("!H", len(value)) + value


# ALPN, authority, a CRC32C (unchecked) and a NOOP of padding.
SOME_TLVS = (tlv(0x01, b"h2") + tlv(0x02, b"chat.example.org") +
             tlv(0x03, b"\x01\x02\x03\x04") + tlv(0x04, b"\x00" * 7))


def v2(src, sport, dst=None, dport=6666, tlvs=b"", command=1):
    family = socket.AF_INET6 if ":" in src else socket.AF_INET
    dst = dst or ("2001:db8::1" if family == socket.AF_INET6
                  else "198.51.100.1")
    body = (socket.inet_pton(family, src) + socket.inet_pton(family, dst) +
            struct.pack("!HH", sport, dport) + tlvs)
    return (V2_SIG + bytes([0x20 | command,
                            0x21 if family == socket.AF_INET6 else 0x11]) +
            struct.pack("!H", len(body)) + body)


# What HAProxy's send-proxy-v2 health check sends.
V2_LOCAL = V2_SIG + b"\x20\x00\x00\x00"


def windows(srv_windows):
    return sorted(int(n[:-4]) for n in os.listdir(srv_windows)
                  if n.endswith(".pid"))


def proxied(srv, header, first=b"", source=None):
    """A connection to srv that sends header, then first."""
    c = srv.connect(source=source)
    c.send(header + first)
    return c


def shown(srv, number, address, first):
    """Window number opens, titled and greeted with address, and shows the
    first line whole."""
    w = srv.window(number)
    return (w.wait_text(first) and address in w.title() and
            "client %s connected" % address in w.text(),
            "title %r, text %r" % (w.title(), w.text()[-400:]))


def unread(local, remote):
    """Bytes waiting in the receive queue of the loopback connection from
    port remote to port local, or None (from /proc/net/tcp)."""
    for line in read_text("/proc/net/tcp").splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == local and \
                int(fields[2].split(":")[1], 16) == remote:
            return int(fields[4].split(":")[1], 16)
    return None


def headers(tmp):
    """Each form of header: the address in it is the client's."""
    logs = os.path.join(tmp, "transcripts")
    srv = sections.server(tmp, args=TRUST + ["-v", "--log-dir", logs])
    cases = [
        ("v1 TCP4", v1("192.0.2.7", 5555), "192.0.2.7:5555"),
        ("v1 TCP6", v1("2001:db8::7", 4444), "[2001:db8::7]:4444"),
        ("v2 IPv4 with TLVs", v2("198.51.100.9", 7777, tlvs=SOME_TLVS),
         "198.51.100.9:7777"),
        ("v2 IPv6 with TLVs", v2("2001:db8:0:1::9", 8888, tlvs=SOME_TLVS),
         "[2001:db8:0:1::9]:8888"),
    ]
    clients = []
    for number, (name, header, address) in enumerate(cases, 1):
        first = "first line of %d" % number
        c = proxied(srv, header, (first + "\n").encode())
        clients.append(c)
        good, why = shown(srv, number, address, first)
        t.ok(good, "%s: the title and banner give %s, and the first line "
             "after the header arrives whole" % (name, address), why)
        t.ok(srv.wait_log(r"connection %s: via proxy 127\.0\.0\.1:\d+\n"
                          % re.escape(address)) and
             srv.wait_log(r"session %d %s: connected: plain"
                          % (number, re.escape(address))),
             "%s: the log gives %s, and the proxy once" % (name, address))
        w = Window(srv.windows, number)
        w.type("answer %d\r" % number)
        t.ok(c.wait_data("answer %d\n" % number), "%s: the operator's "
             "line reaches the client" % name)
    # 60 KB of TLVs, in pieces: the header is read whole, nothing after it
    # is lost.
    big = v2("192.0.2.77", 1234, tlvs=tlv(0xE0, b"x" * 30000) +
             tlv(0x04, b"\x00" * 30000))
    c = srv.connect()
    c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for at in range(0, len(big), 7000):
        c.send(big[at:at + 7000])
    c.send(b"after a big header\n")
    good, why = shown(srv, 5, "192.0.2.77:1234", "after a big header")
    t.ok(good, "a v2 header of %d bytes sent in pieces: read whole, and "
         "the line after it too" % len(big), why)
    clients.append(c)
    # A header in three pieces, each taken in before the next is sent.
    c = srv.connect()
    header = v1("192.0.2.78", 4321)
    for piece in (header[:9], header[9:30], header[30:] + b"in pieces\n"):
        c.send(piece)
        wait_for(lambda: unread(srv.port, c.sock.getsockname()[1]) == 0)
    good, why = shown(srv, 6, "192.0.2.78:4321", "in pieces")
    t.ok(good, "a v1 header in three pieces: read whole, and the line "
         "after it too", why)
    clients.append(c)
    names = wait_for(lambda: len(os.listdir(logs)) >= 6 and
                     sorted(os.listdir(logs)))
    t.ok(names and re.match(r"session-1-192\.0\.2\.7-5555-", names[0]),
         "the transcript is named by the header's address", names)
    path = os.path.join(logs, names[0]) if names else ""
    t.ok(wait_for(lambda: "client 192.0.2.7:5555 connected" in
                  read_text(path)), "and says it at its start",
         read_text(path)[:300])
    for c in clients:
        c.close()


def ipv6_proxy(srv):
    """A proxy at ::1 trusted as ::1/128, its client at an IPv4 address."""
    c = srv.connect(host="::1")
    c.send(v2("192.0.2.7", 5555, tlvs=SOME_TLVS) + b"from ::1\n")
    good, why = shown(srv, 1, "192.0.2.7:5555", "from ::1")
    t.ok(good, "a proxy at ::1: its client at 192.0.2.7 has the window",
         why)
    c.close()


def console_list(tmp):
    con = ConsoleServer(tmp, args=" ".join(TRUST))
    sections.defer(con.close)
    # Not a client until its header has come: not listed, not numbered.
    base = thread_count(con.pid)
    stalled = socket.create_connection(("127.0.0.1", con.port), 5)
    stalled.sendall(b"PROXY ")
    t.ok(wait_for(lambda: thread_count(con.pid) >= base + 1, 2),
         "a stalled header has its thread")
    t.ok(con.command("list", r"no sessions"), "list shows no session while "
         "a header is awaited", con.screen())
    c = con.connect()
    c.send(v1("192.0.2.7", 5555) + b"hello\n")
    w = con.window(1)
    t.ok(w and w.wait_text("hello"), "a proxied client gets its window, "
         "#1")
    t.ok(con.command("list", r"\n\s+1\s+192\.0\.2\.7:5555\s.*\n(?!\s+2\s)"),
         "list shows the header's address, and no one else", con.screen())
    stalled.close()
    t.ok(con.command("kick 1", r"hung up on #1"), "kick 1",
         con.screen())
    t.ok(c.wait_eof(), "the kicked client is hung up on")
    t.ok(con.stop(), "SIGTERM stops it with status 0", con.screen())


def refused(c, line):
    return c.wait_eof() and c.buf == line


def deny(srv):
    """--deny judges the header's address, never the proxy's own."""
    c = proxied(srv, v1("192.0.2.7", 5555), b"let me in\n")
    t.ok(refused(c, DENIED), "--deny 192.0.2.0/24: a client of the proxy "
         "at 192.0.2.7 is denied", c.buf)
    t.ok(srv.wait_log(r"refused 192\.0\.2\.7:5555: access denied"),
         "the refusal is logged with the client's address")
    c = proxied(srv, v1("198.51.100.9", 5555), b"let me in\n")
    good, why = shown(srv, 1, "198.51.100.9:5555", "let me in")
    t.ok(good, "--deny 127.0.0.1: the proxy at 127.0.0.1 is not judged; "
         "its client at 198.51.100.9 gets a window", why)
    t.eq(windows(srv.windows), [1], "the denied one had none, nor a "
         "number")
    c.close()


def allow(srv):
    """--allow judges the header's address; a direct client still by its
    own."""
    c = proxied(srv, v2("203.0.113.5", 5555), b"let me in\n")
    t.ok(refused(c, DENIED), "--allow 192.0.2.0/24: a client of the "
         "proxy at 203.0.113.5 is denied", c.buf)
    c = proxied(srv, v2("192.0.2.7", 5555), b"let me in\n")
    good, why = shown(srv, 1, "192.0.2.7:5555", "let me in")
    t.ok(good, "the proxy's client at 192.0.2.7 gets a window", why)
    d = srv.connect(source="127.0.0.2")
    t.ok(refused(d, DENIED), "a direct client at 127.0.0.2 is denied",
         d.buf)
    c.close()


def per_host(srv):
    """--max-per-host counts the header's addresses, not the proxy's."""
    a = proxied(srv, v1("192.0.2.7", 1001), b"first\n")
    good, why = shown(srv, 1, "192.0.2.7:1001", "first")
    t.ok(good, "--max-per-host 1: one client at 192.0.2.7 comes in", why)
    b = proxied(srv, v1("192.0.2.7", 1002), b"second\n")
    t.ok(refused(b, PER_HOST), "a second one at 192.0.2.7, through the "
         "same proxy, is refused", b.buf)
    t.ok(srv.wait_log(r"refused 192\.0\.2\.7:1002: too many connections "
                      r"from your address"), "and logged so")
    c = proxied(srv, v1("192.0.2.8", 1003), b"third\n")
    good, why = shown(srv, 2, "192.0.2.8:1003", "third")
    t.ok(good, "one at 192.0.2.8 comes in: the proxy's own address, "
         "shared by all three, is not counted", why)
    a.close()
    c.close()


def forged(srv):
    """A header from an address not trusted is the client's text."""
    c = proxied(srv, v1("192.0.2.66", 5555), b"after\n", source="127.0.0.2")
    w = srv.window(1)
    t.ok(w.wait_text("after") and "PROXY TCP4 192.0.2.66" in w.text() and
         "127.0.0.2:" in w.title() and "192.0.2.66" not in w.title(),
         "a v1 header from 127.0.0.2 shows as text; the title gives "
         "127.0.0.2", "title %r, text %r" % (w.title(), w.text()[-300:]))
    d = proxied(srv, v2("192.0.2.67", 5555), b"after v2\n",
                source="127.0.0.2")
    w = srv.window(2)
    t.ok(w.wait_text("after v2") and "QUIT" in w.text() and
         "127.0.0.2:" in w.title() and "192.0.2.67" not in w.text(),
         "a v2 header from 127.0.0.2 shows as text; the title gives "
         "127.0.0.2", "title %r, text %r" % (w.title(), w.text()[-300:]))
    c.close()
    d.close()


def closed_quietly(srv, data, server_closes):
    """A trusted connection that sends data (then its end unless
    server_closes) is closed with nothing sent."""
    c = srv.connect()
    c.send(data)
    if not server_closes:
        c.sock.shutdown(socket.SHUT_WR)
    quiet = c.wait_eof() and c.buf == b""
    c.close()
    return quiet, c.buf


def bad_headers(srv):
    """No header, a bad, cut or stalled one: a log line, no window,
    nothing sent."""
    cases = [
        ("no header, a plain line", b"hello\n", True,
         r"bad PROXY header: not a PROXY header"),
        ("a bad v1 address", b"PROXY TCP4 192.0.2.300 198.51.100.1 1 2\r\n",
         True, r"bad PROXY header: PROXY v1: bad source address"),
        ("a v2 of version 3", V2_SIG + b"\x31\x11\x00\x0c" + b"\0" * 12,
         True, r"bad PROXY header: PROXY v2: version 3"),
        ("v1 cut short by the end", b"PROXY TCP4 192.0.2.7 198", False,
         r"PROXY header cut short after 24 bytes: the connection ended"),
        ("v2 cut short by the end", v2("192.0.2.7", 1)[:20], False,
         r"PROXY header cut short after 20 bytes: the connection ended"),
    ]
    for name, data, keep_open, line in cases:
        quiet, got = closed_quietly(srv, data, keep_open)
        t.ok(quiet, "%s: closed, nothing sent" % name, got)
        t.ok(srv.wait_log(r"ptychatd: refused 127\.0\.0\.1:\d+: %s$"
                          % line), "%s: one line in the log, by the "
             "proxy's address" % name)
    stalled = [srv.connect(), srv.connect()]
    stalled[1].send(b"PROXY TCP4 192.0.2.7 ")
    began = time.monotonic()
    t.ok(all(s.wait_eof(HEADER_WAIT + 3) and s.buf == b""
             for s in stalled), "a proxy that stalls before or in its "
         "header is closed, nothing sent")
    took = time.monotonic() - began
    t.ok(HEADER_WAIT - 0.5 < took < (HEADER_WAIT + 2) * SLOW,
         "after the %.0f s the header may take" % HEADER_WAIT,
         "%.1f s" % took)
    t.ok(srv.wait_log(r"refused 127\.0\.0\.1:%d: no PROXY header: none "
                      r"came in time" % stalled[0].sock.getsockname()[1])
         and srv.wait_log(r"refused 127\.0\.0\.1:%d: PROXY header cut "
                          r"short after 21 bytes: no more came in time"
                          % stalled[1].sock.getsockname()[1]), "each logged")
    # Then a good one: the server still serves, and opened nothing else.
    c = proxied(srv, v1("192.0.2.7", 5555), b"the marker\n")
    good, why = shown(srv, 1, "192.0.2.7:5555", "the marker")
    t.ok(good and windows(srv.windows) == [1], "none of them had a window "
         "or a number; a good header after them is #1", why)
    t.eq([line for line in srv.text().splitlines() if "session" in line and
          "192.0.2.7:5555" not in line], [], "and no session line in the "
         "log is theirs")
    for s in stalled:
        s.close()
    c.close()


def health_checks(srv):
    """A proxy's own connections: no window, no line without -v."""
    cases = [
        ("v2 LOCAL (HAProxy's send-proxy-v2 check)", V2_LOCAL, True),
        ("v2 LOCAL with an address block and TLVs",
         V2_SIG + b"\x20\x11\x00\x13" + b"\x7f\0\0\x01" * 2 + b"\0\x01" * 2 +
         tlv(0x04, b"\0" * 4), True),
        ("v1 UNKNOWN", b"PROXY UNKNOWN\r\n", True),
        ("v1 UNKNOWN with addresses, then a line",
         b"PROXY UNKNOWN 192.0.2.1 192.0.2.2 1 2\r\nhello\n", True),
        ("v1 header then the end (HAProxy's send-proxy check)",
         v1("127.0.0.1", 40000, "127.0.0.1", 6666), False),
        ("v2 header then the end", v2("192.0.2.7", 40000), False),
        ("nothing, then the end (a bare connect check)", b"", False),
    ]
    for name, data, server_closes in cases:
        quiet, got = closed_quietly(srv, data, server_closes)
        t.ok(quiet, "%s: closed, nothing sent" % name, got)
    c = proxied(srv, v2("192.0.2.7", 5555), b"the marker\n")
    good, why = shown(srv, 1, "192.0.2.7:5555", "the marker")
    t.ok(good and windows(srv.windows) == [1], "none of them had a window "
         "or a number; the next client is #1", why)
    said = [line for line in srv.text().splitlines()
            if "192.0.2.7:5555" not in line and
            re.search(r"session|connection|refused", line)]
    t.eq(said, [], "none of them is in the log")
    c.close()


def away_or_full(srv):
    """Away or full, a proxy's connection is still judged after its
    header: its health checks stay quiet, and a client turned away is
    logged by its own address."""
    srv.proc.send_signal(signal.SIGUSR1)
    t.ok(srv.wait_log(r"away \(.*\): new clients"), "SIGUSR1: away")
    for name, data in (("v2 LOCAL", V2_LOCAL),
                       ("v1 header then the end",
                        v1("127.0.0.1", 40000, "127.0.0.1", 6666))):
        quiet, got = closed_quietly(srv, data, name == "v2 LOCAL")
        t.ok(quiet, "away: a health check (%s) is closed, nothing sent"
             % name, got)
    c = proxied(srv, v1("192.0.2.7", 5555), b"hello\n")
    t.ok(refused(c, b"ptychatd: this operator is away; try again later\n"),
         "away: a client of the proxy hears why", c.buf)
    t.ok(srv.wait_log(r"refused 192\.0\.2\.7:5555: this operator is away"),
         "and is logged by its own address")
    srv.proc.send_signal(signal.SIGUSR2)
    t.ok(srv.wait_log(r"back \(.*\): taking"), "SIGUSR2: back")
    # A header still on its way is no client: it takes no place.
    stalled = srv.connect()
    stalled.send(b"PROXY TCP4 ")
    a = proxied(srv, v1("192.0.2.8", 5555), b"first\n")
    good, why = shown(srv, 1, "192.0.2.8:5555", "first")
    t.ok(good, "--max-clients 1, a header on its way: one client comes in, "
         "#1: nothing before it took a number or a place", why)
    quiet, got = closed_quietly(srv, V2_LOCAL, True)
    t.ok(quiet, "full: a health check is closed, nothing sent", got)
    b = proxied(srv, v1("192.0.2.9", 5555), b"second\n")
    t.ok(refused(b, b"ptychatd: too many clients; try again later\n"),
         "full: the next client hears why", b.buf)
    t.ok(srv.wait_log(r"refused 192\.0\.2\.9:5555: too many clients"),
         "and is logged by its own address")
    stalled.close()
    t.ok(srv.wait_log(r"refused 127\.0\.0\.1:\d+: PROXY header cut short "
                      r"after 11 bytes"), "the stalled header is refused "
         "when it ends")
    t.eq([line for line in srv.text().splitlines()
          if "127.0.0.1:" in line and "cut short" not in line], [],
         "no other line names the proxy's own connections: the checks were "
         "quiet")
    a.close()


def headers_bounded(srv):
    """At most --max-clients + 16 of a proxy's connections wait for their
    header at once; the next is turned away at the door."""
    base = thread_count(srv.pid)
    held = []
    for _ in range(17):
        c = srv.connect()
        c.send(b"PROXY ")
        held.append(c)
    t.ok(wait_for(lambda: thread_count(srv.pid) >= base + 17, 5),
         "--max-clients 1: 17 headers on their way are held",
         thread_count(srv.pid))
    c = srv.connect()
    c.send(b"PROXY ")
    t.ok(refused(c, b"ptychatd: too many clients; try again later\n"),
         "the 18th is turned away at once", c.buf)
    t.ok(srv.wait_log(r"refused 127\.0\.0\.1:%d: too many clients"
                      % c.sock.getsockname()[1]), "logged by the proxy's "
         "address: no client is known yet")
    for c in held:
        c.close()
    t.ok(wait_for(lambda: thread_count(srv.pid) == base, 5),
         "their threads end with them")


def after_the_header(srv):
    """TLS passes behind a header: the hello right after it is not lost."""
    for number, header, address in (
            (1, v2("192.0.2.7", 5555, tlvs=SOME_TLVS), "192.0.2.7:5555"),
            (2, v1("2001:db8::7", 4444), "[2001:db8::7]:4444")):
        sock = socket.create_connection(("127.0.0.1", srv.port), 5)
        sock.sendall(header)
        tls = CTX.wrap_socket(sock)
        tls.settimeout(5 * SLOW)
        tls.sendall(b"over TLS %d\n" % number)
        w = srv.window(number)
        t.ok(w.wait_text("over TLS %d" % number) and address in w.title()
             and "Connection: TLS, no key." in w.text() and
             "client %s connected" % address in w.text(),
             "a TLS client behind a header: its line, its address, and "
             "TLS in the banner", "title %r, text %r"
             % (w.title(), w.text()[-400:]))
        t.ok(srv.wait_log(r"session %d %s: connected: TLS, no key"
                          % (number, re.escape(address))),
             "the log gives its address and TLS")
        w.type("back %d\r" % number)
        got, deadline = b"", time.monotonic() + 5 * SLOW
        while b"back %d\n" % number not in got and \
                time.monotonic() < deadline:
            chunk = tls.recv(4096)
            if not chunk:
                break
            got += chunk
        t.ok(b"back %d\n" % number in got, "the operator's line comes "
             "back over TLS", got[-200:])
        tls.close()
    c = proxied(srv, v1("192.0.2.8", 5555), b"plain after the header\n")
    good, why = shown(srv, 3, "192.0.2.8:5555", "plain after the header")
    t.ok(good and "Connection: plain" in Window(srv.windows, 3).text(),
         "a plain first line right after the header, on a TLS server: "
         "whole, and plain", why)
    c.close()


HAPROXY_CFG = """frontend front
    bind 127.0.0.1:%(front)d
    default_backend desk
backend desk
    server d1 127.0.0.1:%(port)d %(send)s check inter 100ms
"""


def haproxy(send):
    """The real HAProxy with send: its checks for a few seconds open no
    window, take no number and log nothing above debug (-v shows those
    lines); then a plain client from 127.0.0.2 and a TLS one from
    127.0.0.3 through it, each shown with its own address."""
    def run(tmp):
        srv = sections.server(tmp, args=TRUST + ["-v"], tls=True)
        front = free_port()
        haproxy_start(sections, tmp, HAPROXY_CFG % {
            "front": front, "port": srv.port, "send": send})
        seen = []
        t.ok(wait_for(lambda: seen.append(haproxy_stat(
            os.path.join(tmp, "stats.sock"), "d1") or {}) or
            seen[-1].get("status") == "UP" and
            seen[-1].get("check_status", "").startswith("L4OK"), 10),
             "%s: HAProxy's checks find the desk up" % send,
             [seen[-1].get(k) for k in ("status", "check_status")])
        # The checks themselves are the subject: let them run a while.
        time.sleep(2.0)
        c = socket.create_connection(("127.0.0.1", front), 5,
                                     ("127.0.0.2", 0))
        c.sendall(b"plain through haproxy\n")
        number = wait_for(lambda: windows(srv.windows), 10)
        number = number[0] if number else 0
        t.eq(number, 1, "%s: the client is #1: the checks took no number"
             % send)
        w = Window(srv.windows, number)
        t.ok(w.wait_text("plain through haproxy") and
             "127.0.0.2:%d" % c.getsockname()[1] in w.title(),
             "%s: the client at 127.0.0.2 has its own address and port in "
             "the title" % send, w.title())
        lines = [line for line in srv.text().splitlines()
                 if re.search(r"127\.0\.0\.1:\d+", line) and
                 not re.search(r"127\.0\.0\.[23]:", line)]
        checks = [line for line in lines if re.search(
            r"the proxy's own \(a health check\)$|gone before a word$",
            line)]
        t.ok(len(checks) >= 9, "%s: %d of HAProxy's checks came"
             % (send, len(checks)))
        t.eq([line for line in lines if not re.match(
            r"ptychatd: connection \S+: (the proxy's own \(a health "
            r"check\)|via proxy \S+|gone before a word)$", line)], [],
             "%s: the checks opened no window and are in the log at debug "
             "level only" % send)
        sock = socket.create_connection(("127.0.0.1", front), 5,
                                        ("127.0.0.3", 0))
        tls = CTX.wrap_socket(sock)
        tls.sendall(b"TLS through haproxy\n")
        later = wait_for(lambda: [n for n in windows(srv.windows)
                                  if n > number], 10)
        w = Window(srv.windows, later[0] if later else 0)
        t.ok(later and w.wait_text("TLS through haproxy") and
             "127.0.0.3:%d" % tls.getsockname()[1] in w.title() and
             "Connection: TLS, no key." in w.text(),
             "%s: a TLS client at 127.0.0.3 passes through, shown with "
             "its address" % send, w.text()[-300:])
        tls.close()
        c.close()
    return run


def local_ports(pid):
    """The local ports of pid's TCP sockets (IPv4), from /proc."""
    inodes = set(re.findall(r"socket:\[(\d+)\]",
                            " ".join(fd_targets(pid))))
    ports = set()
    for line in read_text("/proc/net/tcp").splitlines()[1:]:
        fields = line.split()
        if len(fields) > 9 and fields[9] in inodes:
            ports.add(int(fields[1].split(":")[1], 16))
    return ports


def ptychat_through_haproxy(tmp):
    """ptychat over TLS through HAProxy's send-proxy-v2: its key and its
    own address and port, not HAProxy's, in the banner, title and log."""
    srv = sections.server(tmp, args=TRUST + ["-v"], tls=True)
    front = free_port()
    haproxy_start(sections, tmp, HAPROXY_CFG % {
        "front": front, "port": srv.port, "send": "send-proxy-v2"})
    t.ok(wait_for(lambda: (haproxy_stat(os.path.join(tmp, "stats.sock"),
                                        "d1") or {}).get("status") == "UP",
                  10), "HAProxy is up")
    key = run([PTYCHAT, "--show-key"])[1].strip()
    p = subprocess.Popen([PTYCHAT, "127.0.0.1", str(front)],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    sections.defer(kill_all, [p])
    p.stdin.write(b"ptychat through haproxy\n")
    p.stdin.flush()
    m = srv.wait_log(r"session (\d+) 127\.0\.0\.1:(\d+): connected: "
                     r"TLS, key (\S+)", 10)
    t.ok(m and m.group(3) == key, "the log gives ptychat's key %s" % key,
         m and m.group(0))
    if not m:
        return
    number, port = int(m.group(1)), int(m.group(2))
    w = srv.window(number)
    t.ok(w.wait_text("ptychat through haproxy") and
         "127.0.0.1:%d" % port in w.title() and
         "Connection: TLS, key %s." % key in w.text(),
         "its line, its key in the banner, its address in the title",
         "title %r, text %r" % (w.title(), w.text()[-300:]))
    t.ok(port in local_ports(p.pid), "the port is ptychat's own",
         (port, local_ports(p.pid)))
    via = srv.wait_log(r"connection 127\.0\.0\.1:%d: via proxy "
                       r"127\.0\.0\.1:(\d+)" % port)
    t.ok(via and int(via.group(1)) != port, "and HAProxy's is another",
         via and via.group(0))
    w.type("to ptychat\r")
    got = []
    fd = p.stdout.fileno()
    os.set_blocking(fd, False)

    def heard():
        try:
            got.append(os.read(fd, 4096) or b"")
        except BlockingIOError:
            pass
        return b"to ptychat\n" in b"".join(got)
    t.ok(wait_for(heard, 5), "the operator's line reaches ptychat",
         b"".join(got)[-200:])
    w.close()
    t.ok(wait_for(lambda: p.poll() is not None, 10) and p.returncode == 0,
         "closing the window ends ptychat with status 0", p.returncode)


def budget_rounds(limit, seconds):
    """Yields round numbers up to limit, while time is left."""
    start = time.monotonic()
    for n in range(limit):
        if time.monotonic() - start > seconds * SLOW:
            return
        yield n


def stalled_then_gone(srv):
    """200 proxies that stall in their header, then close or reset."""
    warm = proxied(srv, v1("192.0.2.7", 5555), b"warm\n")
    w = srv.window(1)
    w.wait_text("warm")
    w.close()
    warm.wait_eof()
    warm.close()
    base = settled(lambda: counts(srv))
    header = v2("192.0.2.7", 5555, tlvs=SOME_TLVS)
    rounds = 0
    for n in budget_rounds(200, 15):
        socks = []
        for i in range(4):
            s = socket.create_connection(("127.0.0.1", srv.port), 5)
            s.sendall(header[:(n * 4 + i) % (len(header) - 1) + 1])
            if i % 2:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                             struct.pack("ii", 1, 0))
            socks.append(s)
        for s in socks:
            s.close()
        # Each is logged once its session has seen the end; then it goes.
        if not (wait_for(lambda: srv.text().count("ptychatd: refused ") >=
                         4 * (n + 1), 5) and
                wait_for(lambda: counts(srv) == base, 5)):
            break
        rounds += 1
    t.ok(rounds >= 50, "%d rounds of 4 stalled headers, closed or reset, "
         "each time back to the fds and threads of %r" % (rounds, base),
         "now %r" % (counts(srv),))
    t.eq(zombies(srv.pid), [], "no zombie")
    c = proxied(srv, v1("192.0.2.8", 5555), b"after the rounds\n")
    good, why = shown(srv, 2, "192.0.2.8:5555", "after the rounds")
    t.ok(good and windows(srv.windows) == [1, 2], "no window or number for "
         "any; the next client is #2", why)
    said = [line for line in srv.text().splitlines()
            if not line.startswith("ptychatd: refused ") and
            "session" in line and
            not re.match(r"ptychatd: session [12] ", line)]
    t.eq(said, [], "each is one refusal line in the log, no more")
    c.close()


def stop_while_stalled(tmp):
    """SIGTERM while 50 proxies stall in their header: exit 0 at once."""
    clean, rounds = 0, 0
    for n in budget_rounds(4, 20):
        rounds += 1
        srv = sections.server(os.path.join(tmp, str(n)), args=TRUST)
        socks = []
        for i in range(50):
            s = socket.create_connection(("127.0.0.1", srv.port), 5)
            s.sendall(v1("192.0.2.7", 5555)[:i % 20])
            socks.append(s)
        # Each session holds its socket and two eventfds.
        base = counts(srv)[0]
        held = wait_for(lambda: counts(srv)[1] >= 51, 5)
        began = time.monotonic()
        status = srv.stop(signal.SIGTERM, 5)
        took = time.monotonic() - began
        sections.started.remove(srv)
        srv.cleanup()
        log = srv.text()
        if held and status == 0 and took < 1.5 * SLOW and \
                not re.search(r"Sanitizer|runtime error|refused", log):
            clean += 1
        else:
            t.diag("round %d: held %r (fds %d), status %r after %.2f s\n%s"
                   % (n, held, base, status, took, log[-1500:]))
        for s in socks:
            s.close()
    t.eq(clean, rounds, "SIGTERM with 50 stalled headers, %d rounds: exit "
         "0 well before the header's deadline, nothing logged for them"
         % rounds)


def usage(tmp):
    for arg in ("", "10.0.0.1/33", "10.1.2.3/8", "example.org"):
        st, out, err = run([PTYCHATD, "--no-tls", "--proxy-protocol", arg])
        t.ok(st == 2 and err.startswith("ptychatd: --proxy-protocol: "),
             "--proxy-protocol '%s' is a usage error" % arg, err)


sections.run("v1 and v2 headers", headers)
sections.with_server("--deny", TRUST + ["--deny", "127.0.0.1", "--deny",
                                        "192.0.2.0/24"], deny)
sections.with_server("--allow", TRUST + ["--allow", "192.0.2.0/24"], allow)
sections.with_server("--max-per-host", TRUST + ["--max-per-host", "1"],
                     per_host)
sections.with_server("forged headers", TRUST, forged)
sections.with_server("bad headers", TRUST, bad_headers)
sections.with_server("health checks", TRUST, health_checks)
sections.with_server("away or full", TRUST + ["--max-clients", "1"],
                     away_or_full)
sections.with_server("headers in flight bounded",
                     TRUST + ["--max-clients", "1"], headers_bounded)
if has_ipv6_loopback():
    sections.with_server("a proxy at ::1", ["-b", "::1", "--proxy-protocol",
                                            "::1/128"], ipv6_proxy)
else:
    t.skip("a proxy at ::1", "no IPv6 loopback", count=2)
sections.run("TLS after the header",
             lambda tmp: after_the_header(sections.server(tmp, args=TRUST,
                                                          tls=True)))
if missing_tools("tmux"):
    t.skip("console", missing_tools("tmux"), tool=True)
else:
    sections.run("console list", console_list)
if missing_tools("haproxy"):
    t.skip("haproxy", missing_tools("haproxy"), count=3, tool=True)
else:
    sections.run("haproxy send-proxy-v2", haproxy("send-proxy-v2"))
    sections.run("haproxy send-proxy", haproxy("send-proxy"))
    sections.run("ptychat through haproxy", ptychat_through_haproxy)
sections.with_server("stalled headers, closed or reset", TRUST,
                     stalled_then_gone)
sections.run("SIGTERM while headers stall", stop_while_stalled)
sections.run("usage", usage)
t.done()
