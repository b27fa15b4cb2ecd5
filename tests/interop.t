#!/usr/bin/env python3
# Other people's clients against the real ptychatd (TLS on, as started
# with no options), with the stand-in terminal: in clear, OpenBSD nc,
# ncat, socat, telnet, a plain Python socket script and ptychat --no-tls;
# over TLS, openssl s_client, ncat --ssl, socat OPENSSL: and ptychat.  For
# each one: its window's banner and the server's log say how it came
# ("plain (not encrypted)", "TLS, no key", or ptychat's key as openssl
# computes it), its line shows in its window with a plain line end, a
# line typed in the window reaches its standard output, its end of input
# (where it can half-close) shows in the window while replies still reach
# it, and closing the window ends it.
#
# A missing tool skips its own checks (TAP "# SKIP"), or fails them when
# PTYCHAT_REQUIRE_X=1.
import base64
import hashlib
import os
import re
import select
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from ptytest import (CONFIG_HOME, PTYCHAT, SLOW, TAP,  # noqa: E402
                     Sections, children_of, kill_all, missing_tools,
                     process_alive, wait_for)

TIMEOUT = 5.0 * SLOW

# Copies stdin to the socket (then half-closes) and the socket to stdout.
PY_CLIENT = r"""
import socket, sys, threading
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), 5)
s.settimeout(None)
s.sendall(sys.argv[2].encode())
def up():
    while True:
        data = sys.stdin.buffer.read1(65536)
        if not data:
            break
        s.sendall(data)
    s.shutdown(socket.SHUT_WR)
threading.Thread(target=up, daemon=True).start()
while True:
    data = s.recv(65536)
    if not data:
        break
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()
"""

# Checks made for each client; a skipped client skips this many.
CHECKS_FULL = 7         # with a half-close
CHECKS_PLAIN = 5        # without
PLAIN = "plain (not encrypted)"


def openbsd_nc():
    """Returns None when nc is OpenBSD's (it has -N), or why not."""
    if missing_tools("nc"):
        return missing_tools("nc")
    p = subprocess.run(["nc", "-h"], capture_output=True, timeout=TIMEOUT)
    if b"OpenBSD netcat" not in p.stdout + p.stderr:
        return "nc is not OpenBSD netcat (no -N)"
    return None


def ptychat_key():
    """How the server names ptychat's key (made on its first use, in the
    test's private configuration): its fingerprint, by openssl and
    Python."""
    der = subprocess.run(["openssl", "pkey", "-in",
                          os.path.join(CONFIG_HOME, "ptychat",
                                       "ptychat.key"),
                          "-pubout", "-outform", "DER"],
                         capture_output=True, timeout=TIMEOUT).stdout
    return "TLS, key SHA256:" + base64.b64encode(
        hashlib.sha256(der).digest()).decode().rstrip("=")


class Tool:
    def __init__(self, name, argv, missing, half_close, greets=False,
                 want_stderr=None, who=PLAIN):
        self.name = name
        self.argv = argv                # PORT becomes the port number
        self.missing = missing          # None, or why it cannot run
        self.half_close = half_close    # stdin EOF leaves reading open
        self.greets = greets            # sends "hello from NAME" itself
        self.want_stderr = want_stderr  # ours: exit 0 with this stderr
        self.who = who                  # how it came, or a function


def read_until(p, want, timeout=TIMEOUT):
    """Reads p's stdout until want is seen, EOF or the deadline."""
    fd = p.stdout.fileno()
    deadline = time.monotonic() + timeout
    while want not in p.got:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            break
        data = os.read(fd, 65536)
        if not data:
            break
        p.got += data
    return want in p.got


def exercise(t, srv, number, tool):
    """Runs one client through its checks; returns its process."""
    name = tool.name
    argv = [a.replace("PORT", str(srv.port)) for a in tool.argv]
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    p.got = b""
    try:
        w = srv.window(number)
    except RuntimeError as e:
        t.ok(False, "%s: its window opens" % name, e)
        return p
    who = tool.who() if callable(tool.who) else tool.who
    t.ok("\r\nConnection: %s.\r\n" % who in w.text() and
         srv.wait_log(r"session %d \S+: connected: %s\n"
                      % (number, re.escape(who))),
         "%s: its banner and the log say %s" % (
             name, who if who == tool.who else "its key, as openssl "
             "computes it"),
         repr(w.text()[:300]))

    line = "hello from %s" % name
    if not tool.greets:
        p.stdin.write(line.encode() + b"\n")
        p.stdin.flush()

    # The pty's ONLCR makes a line end \r\n on screen; a stray CR would
    # show as ^M.
    t.ok(w.wait_text(line + "\r\n") and "^M" not in w.text(),
         "%s: its line shows in window %d with a plain line end"
         % (name, number), repr(w.text()[-200:]))

    w.type("reply to %s\r" % name)
    t.ok(read_until(p, b"reply to %s\n" % name.encode()),
         "%s: a line typed in the window reaches its stdout" % name, p.got)

    if tool.half_close:
        p.stdin.close()
        t.ok(w.wait_text("closed its side"),
             "%s: its end of input shows in the window" % name,
             repr(w.text()[-200:]))
        w.type("after your EOF\r")
        t.ok(read_until(p, b"after your EOF\n"),
             "%s: a line typed after its EOF still reaches it" % name, p.got)

    w.close()
    try:
        p.wait(TIMEOUT)
        exited = True
    except subprocess.TimeoutExpired:
        exited = False
    err = p.stderr.read1(65536).decode("utf-8", "replace") if exited else ""
    t.ok(exited, "%s: closing the window ends it" % name,
         err if exited else "still running")
    if tool.want_stderr is not None:
        t.ok(exited and p.returncode == 0 and err == tool.want_stderr,
             "%s: it exits 0 and says %s" % (name,
                                               repr(tool.want_stderr)
                                               if tool.want_stderr
                                               else "nothing"),
             "status %r, stderr %r" % (p.returncode, err))
    t.ok(srv.wait_log(r"session %d \S+: window closed" % number),
         "%s: the server logs session %d's window closed" % (name, number))
    return p


t = TAP()
sections = Sections(t)
tools = [
    Tool("nc", ["nc", "-N", "127.0.0.1", "PORT"], openbsd_nc(), True),
    Tool("ncat", ["ncat", "127.0.0.1", "PORT"], missing_tools("ncat"), True),
    # socat quits 0.5 s after its stdin ends: no half-close checks.
    Tool("socat", ["socat", "-", "TCP:127.0.0.1:PORT"],
         missing_tools("socat"), False),
    # telnet ends the connection at the end of its input, and sends \r\n.
    Tool("telnet", ["telnet", "127.0.0.1", "PORT"], missing_tools("telnet"),
         False),
    # The script sends its first line, with CRLF, before reading stdin.
    Tool("python socket script",
         [sys.executable, "-c", PY_CLIENT, "PORT",
          "hello from python socket script\r\n"], None, True, True, ""),
    Tool("ptychat --no-tls", [PTYCHAT, "--no-tls", "127.0.0.1", "PORT"],
         None, True, False, "ptychat: connection closed by server\n"),
    # -quiet already ignores the end of input (-ign_eof): without it
    # s_client quits there, with no half-close.  -nocommands: a line
    # that starts with Q, R or k is text, not a command.
    Tool("openssl s_client", ["openssl", "s_client", "-quiet", "-ign_eof",
                              "-nocommands", "-verify_quiet", "-tls1_3",
                              "-connect", "127.0.0.1:PORT"],
         missing_tools("openssl"), False, who="TLS, no key"),
    Tool("ncat --ssl", ["ncat", "--ssl", "127.0.0.1", "PORT"],
         missing_tools("ncat"), True, who="TLS, no key"),
    # As in clear, socat quits 0.5 s after its stdin ends.
    Tool("socat OPENSSL", ["socat", "-", "OPENSSL:127.0.0.1:PORT,verify=0"],
         missing_tools("socat"), False, who="TLS, no key"),
    # TLS by default; its key is made on first use, here.  -q: not a
    # word about the server's new key, nor the end.
    Tool("ptychat over TLS", [PTYCHAT, "-q", "127.0.0.1", "PORT"],
         missing_tools("openssl"), True, False, "", ptychat_key),
]


def every_client(tmp):
    srv = sections.server(tmp, tls=True)
    procs = []
    sections.defer(kill_all, procs)
    number = 0
    for tool in tools:
        count = CHECKS_FULL if tool.half_close else CHECKS_PLAIN
        count += tool.want_stderr is not None
        if tool.missing:
            t.skip(tool.name, tool.missing, count, tool=True)
            continue
        number += 1
        procs.append(exercise(t, srv, number, tool))

    t.ok(srv.proc.poll() is None, "the server is still running")
    t.eq(srv.stop(), 0, "the server stops cleanly with SIGTERM")


sections.run("every client", every_client)
wait_for(lambda: children_of(os.getpid()) == [], 2.0)
t.eq([pid for pid, _ in children_of(os.getpid()) if process_alive(pid)], [],
     "no client or server process is left behind")
t.done()
