#!/usr/bin/env python3
# The plain client, ptychat, against small servers of our own on
# 127.0.0.1 port 0: bytes pass unchanged both ways, end of input closes
# only the sending side, both directions flow at once, errors are one
# clear line with the right exit status, and a terminal is protected from
# the server's escape sequences unless --raw is given.
import os
import pty
import re
import select
import socket
import struct
import subprocess
import sys
import threading
import time
import tty

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from ptytest import (PTYCHAT, SLOW, TAP, TOP, Sections,  # noqa: E402
                     children_of, kill_all, wait_for)

TIMEOUT = 5.0 * SLOW
USAGE = ("usage: ptychat [-46hqVv] [--fingerprint SHA256:...] [--no-tls] "
         "[--plain] [--raw]\n               host [port]\n"
         "       ptychat --show-key\n"
         "Try 'ptychat --help' for more information.\n")

t = TAP()
procs = []
sections = Sections(t)


def section(check):
    """Makes a check run as a section when called: in a directory of its
    own, a crash in it a failure rather than the end of the file."""
    def run(*args):
        name = check.__name__.replace("check_", "").replace("_", " ")
        sections.run(name + "".join(" %r" % a for a in args),
                     lambda tmp: check(*args))
    return run


class Listener:
    """A listening socket on 127.0.0.1 port 0."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.sock.settimeout(TIMEOUT)
        self.port = self.sock.getsockname()[1]

    def accept(self):
        conn, _ = self.sock.accept()
        conn.settimeout(TIMEOUT)
        return conn

    def close(self):
        self.sock.close()


def start(args, port=None, stdin=subprocess.PIPE, stdout=subprocess.PIPE):
    """Starts ptychat as a user would run it from PATH: argv[0] ptychat.
    The servers here are plain ones: --no-tls (TLS is trust-client.t's)."""
    argv = ["ptychat", "--no-tls"] + list(args)
    if port is not None:
        argv += ["127.0.0.1", str(port)]
    p = subprocess.Popen(argv, executable=PTYCHAT, stdin=stdin,
                         stdout=stdout, stderr=subprocess.PIPE)
    procs.append(p)
    return p


def run(args, port=None, stdin=b""):
    """Runs ptychat to the end; returns (status, stdout, stderr) as bytes."""
    p = start(args, port)
    try:
        out, err = p.communicate(stdin, TIMEOUT)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        return None, out, err
    return p.returncode, out, err


def finish(p):
    """Waits for p with a deadline; returns (status, stderr), where the
    status is None if p had to be killed."""
    try:
        p.wait(TIMEOUT)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        return None, p.stderr.read().decode("utf-8", "replace")
    return p.returncode, p.stderr.read().decode("utf-8", "replace")


def read_until(fd, want=None, timeout=TIMEOUT):
    """Reads fd until want has been seen (never, for None), EOF, EIO or
    the deadline; returns what was read."""
    got = b""
    deadline = time.monotonic() + timeout
    while want is None or want not in got:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            break
        try:
            data = os.read(fd, 65536)
        except OSError:         # EIO: a pty with no slave left
            break
        if not data:
            break
        got += data
    return got


def read_all(fd):
    return read_until(fd, None)


def recv_to_eof(conn):
    """Receives until the peer shuts down its side; returns the bytes, and
    whether EOF was really seen."""
    got = b""
    try:
        while True:
            data = conn.recv(65536)
            if not data:
                return got, True
            got += data
    except (socket.timeout, ConnectionError):
        return got, False


def recv_exactly(conn, want):
    got = b""
    try:
        while len(got) < len(want):
            data = conn.recv(65536)
            if not data:
                break
            got += data
    except (socket.timeout, ConnectionError):
        pass
    return got


def closed_port():
    """A port bound but not listening: it refuses, and stays ours."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    return s


def header_version():
    with open(os.path.join(TOP, "src", "ptychat.h")) as f:
        m = re.search(r'#define\s+PTYCHAT_VERSION\s+"([^"]+)"', f.read())
    return m.group(1) if m else None


@section
def check_binary_pipe():
    """All 256 byte values and escape sequences pass unchanged to a pipe,
    and stdin's bytes reach the server unchanged; then a megabyte each way
    at once."""
    lst = Listener()
    server_sends = (bytes(range(256)) + b"\x1b[2J\x1b]2;title\x07"
                    b"\x1b[31mred\x1b[0m\r\n\x9b6n\xc2\x9d\r\x00\xff")
    client_sends = b"in\x00put\xff\r\n" + bytes(range(256)) + b"\x04\x1b"
    p = start([], lst.port)
    conn = lst.accept()
    p.stdin.write(client_sends)
    p.stdin.close()
    got, eof = recv_to_eof(conn)
    t.eq(got, client_sends,
         "stdin bytes (NUL, 0xFF, ^D, every value) reach the server exactly")
    t.ok(eof, "the server sees EOF after stdin ends")
    conn.sendall(server_sends)
    conn.close()
    out = read_all(p.stdout.fileno())
    t.eq(out, server_sends,
         "every byte value and ESC sequence reaches a pipe unchanged")
    status, err = finish(p)
    t.eq(status, 0, "exit 0 when the server closes")

    # A megabyte each way at the same time: no deadlock, no loss.
    down = os.urandom(1 << 20)
    up = os.urandom(1 << 20)
    p = start(["-q"], lst.port)
    conn = lst.accept()
    received = []

    def serve():
        sender = threading.Thread(target=conn.sendall, args=(down,))
        sender.start()
        received.append(recv_to_eof(conn))
        sender.join(TIMEOUT)
        conn.close()

    th = threading.Thread(target=serve)
    th.start()
    try:
        out, _ = p.communicate(up, TIMEOUT)
    except subprocess.TimeoutExpired:
        p.kill()
        out, _ = p.communicate()
    th.join(TIMEOUT)
    t.ok(received and received[0] == (up, True),
         "1 MiB of random bytes from stdin reaches the server exactly",
         "got %d bytes" % (len(received[0][0]) if received else -1))
    t.ok(out == down, "1 MiB of random bytes from the server reaches "
         "stdout exactly", "got %d bytes" % len(out))
    t.eq(p.returncode, 0, "and the client exits 0")
    lst.close()


@section
def check_half_close(quiet):
    """End of stdin shuts down the sending side only."""
    lst = Listener()
    p = start(["-q"] if quiet else [], lst.port)
    conn = lst.accept()
    tag = " (-q)" if quiet else ""
    p.stdin.write(b"last words\n")
    p.stdin.close()
    got, eof = recv_to_eof(conn)
    t.ok(got == b"last words\n" and eof,
         "the server gets the line, then EOF, when stdin ends" + tag,
         repr(got))
    t.ok(p.poll() is None, "the client still runs after its stdin ends" + tag)
    conn.sendall(b"reply after your EOF\n")
    out = read_until(p.stdout.fileno(), b"reply after your EOF\n")
    t.eq(out, b"reply after your EOF\n",
         "the client prints a reply sent after its EOF" + tag)
    conn.close()
    rest = read_all(p.stdout.fileno())
    status, err = finish(p)
    t.eq(status, 0, "exit 0 when the server then closes" + tag)
    if quiet:
        t.eq(err, "", "-q: nothing on stderr")
    else:
        t.eq(err, "ptychat: connection closed by server\n",
             "stderr says the server closed the connection")
    t.eq(rest, b"", "nothing else on stdout" + tag)
    lst.close()


@section
def check_full_duplex():
    """The server speaks first, while the client's stdin stays open."""
    lst = Listener()
    p = start([], lst.port)
    conn = lst.accept()
    conn.sendall(b"hello before you say anything\n")
    out = read_until(p.stdout.fileno(), b"hello before you say anything\n")
    t.eq(out, b"hello before you say anything\n",
         "a line from the server is printed while stdin is open and silent")
    p.stdin.write(b"my answer\n")
    p.stdin.flush()
    t.eq(recv_exactly(conn, b"my answer\n"), b"my answer\n",
         "a line typed afterwards reaches the server")
    conn.sendall(b"second line\n")
    out = read_until(p.stdout.fileno(), b"second line\n")
    t.eq(out, b"second line\n", "and the server's next line is printed")

    # The server hangs up while stdin is still open: the client ends.
    conn.close()
    status, err = finish(p)
    t.eq(status, 0, "the client exits 0 when the server closes, stdin "
         "still open")
    t.eq(err, "ptychat: connection closed by server\n",
         "with the closed-by-server notice")
    p.stdin.close()
    lst.close()


@section
def check_connect_errors():
    holder = closed_port()
    port = holder.getsockname()[1]
    status, out, err = run([], port)
    t.eq(status, 1, "connection refused: exit 1")
    t.eq(err.decode(), "ptychat: connect to 127.0.0.1 port %d: "
         "Connection refused\n" % port,
         "connection refused: exactly one line naming address and port")
    t.eq(out, b"", "connection refused: nothing on stdout")
    status, out, err = run(["-4"], port)
    t.ok(status == 1 and err.decode().count("\n") == 1 and
         "Connection refused" in err.decode(),
         "connection refused with -4: exit 1, one line", err)
    holder.close()

    status, out, err = run(["nonexistent.invalid", "80"])
    err = err.decode()
    t.eq(status, 1, "unresolvable host: exit 1")
    t.ok(err.startswith("ptychat: nonexistent.invalid: ") and
         err.count("\n") == 1 and err.endswith("\n") and
         len(err) > len("ptychat: nonexistent.invalid: \n"),
         "unresolvable host: one line naming the host and the reason", err)


def v6_listener():
    """A listener on ::1 port 0, or None where there is no IPv6."""
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.bind(("::1", 0))
    except OSError:
        return None
    s.listen(4)
    s.settimeout(TIMEOUT)
    return s


def nothing_accepted(sock):
    sock.setblocking(False)
    try:
        sock.accept()[0].close()
        return False
    except BlockingIOError:
        return True
    finally:
        sock.settimeout(TIMEOUT)


def connect_and_hear(args, lsock, host):
    """ptychat ARGS HOST PORT against lsock, which says one line and
    closes; returns (status, stdout)."""
    p = start(args + [host, str(lsock.getsockname()[1])])
    try:
        conn, _ = lsock.accept()
    except socket.timeout:
        p.kill()
        p.wait()
        return None, b""
    conn.sendall(b"over %s\n" % host.encode())
    conn.close()
    out = read_all(p.stdout.fileno())
    status, _ = finish(p)
    p.stdin.close()
    return status, out


@section
def check_family():
    lst = Listener()
    status, out, err = run(["-6"], lst.port)
    err = err.decode()
    t.ok(status == 1 and err.startswith("ptychat: 127.0.0.1: ") and
         err.count("\n") == 1,
         "-6 with an IPv4 address: exit 1, one line naming the address",
         (status, err))
    t.ok(nothing_accepted(lst.sock), "-6 with an IPv4 address: no "
         "connection is made")
    status, out = connect_and_hear(["-4"], lst.sock, "127.0.0.1")
    t.ok(status == 0 and out == b"over 127.0.0.1\n",
         "-4 with an IPv4 address connects", (status, out))
    lst.close()

    v6 = v6_listener()
    if v6 is None:
        t.skip("-4 with ::1 fails, -6 with ::1 connects",
               "no IPv6 loopback", 2)
        return
    port = v6.getsockname()[1]
    status, out, err = run(["-4", "::1", str(port)])
    err = err.decode()
    t.ok(status == 1 and err.startswith("ptychat: ::1: ") and
         err.count("\n") == 1 and nothing_accepted(v6),
         "-4 with an IPv6 address: exit 1, one line, no connection",
         (status, err))
    status, out = connect_and_hear(["-6"], v6, "::1")
    t.ok(status == 0 and out == b"over ::1\n", "-6 with ::1 connects",
         (status, out))
    v6.close()


@section
def check_usage():
    cases = [
        ([], "ptychat: missing host"),
        (["127.0.0.1", "0"], "ptychat: invalid port '0': use a number "
         "from 1 to 65535"),
        (["127.0.0.1", "70000"], "ptychat: invalid port '70000': use a "
         "number from 1 to 65535"),
        (["127.0.0.1", "65536"], "ptychat: invalid port '65536': use a "
         "number from 1 to 65535"),
        (["127.0.0.1", "abc"], "ptychat: invalid port 'abc': use a number "
         "from 1 to 65535"),
        (["127.0.0.1", "80x"], "ptychat: invalid port '80x': use a number "
         "from 1 to 65535"),
        (["127.0.0.1", ""], "ptychat: invalid port '': use a number from 1 "
         "to 65535"),
        (["127.0.0.1", "-1"], "ptychat: invalid option -- '1'"),
        (["127.0.0.1", "99999999999999999999"], "ptychat: invalid port "
         "'99999999999999999999': use a number from 1 to 65535"),
        (["-x", "127.0.0.1"], "ptychat: invalid option -- 'x'"),
        (["--bogus", "127.0.0.1"], "ptychat: unrecognized option "
         "'--bogus'"),
        (["-4", "-6", "127.0.0.1"], "ptychat: -4 and -6 cannot be used "
         "together"),
        (["--ipv4", "--ipv6", "127.0.0.1"], "ptychat: -4 and -6 cannot be "
         "used together"),
        (["127.0.0.1", "80", "extra"], "ptychat: too many arguments"),
    ]
    for args, want in cases:
        status, out, err = run(args)
        what = " ".join(repr(a) for a in args) or "no arguments"
        t.ok(status == 2 and out == b"" and err.decode() == want + "\n" +
             USAGE, "usage error (%s): exit 2, '%s', usage and hint"
             % (what, want[len("ptychat: "):]),
             "status %r, stdout %r, stderr %r" % (status, out, err))

    for flag in ("--help", "-h"):
        status, out, err = run([flag])
        out = out.decode()
        t.ok(status == 0 and err == b"" and out.startswith("usage: ptychat"),
             "%s: exit 0, help on stdout" % flag, (status, out, err))
        missing = [o for o in ("-4", "--ipv4", "-6", "--ipv6", "-q",
                               "--quiet", "--raw", "-h", "--help", "-V",
                               "--version", "-v", "--verbose", "--no-tls",
                               "--fingerprint", "--plain")
                   if not re.search(r"(^|[\s,\[])%s\b" % re.escape(o), out)]
        t.eq(missing, [], "%s mentions every option" % flag)

    version = header_version()
    for flag in ("-V", "--version"):
        status, out, err = run([flag])
        t.ok(status == 0 and err == b"" and
             out.decode() == "ptychat %s\n" % version,
             "%s prints 'ptychat %s' and exits 0" % (flag, version),
             (status, out, err))


def run_on_pty(args, server_sends):
    """Runs ptychat with stdout on a raw pty; the server sends its bytes
    and closes.  Returns (what appeared on the pty, status)."""
    lst = Listener()
    master, slave = pty.openpty()
    # Raw: what the client writes arrives on the master byte for byte.
    tty.setraw(slave)
    try:
        p = start(args, lst.port, stdout=slave)
    finally:
        os.close(slave)
    conn = lst.accept()
    conn.sendall(server_sends)
    conn.close()
    got = read_all(master)
    status, _ = finish(p)
    os.close(master)
    p.stdin.close()
    lst.close()
    return got, status


@section
def check_terminal():
    hostile = b"\x1b]2;x\x07\x9b6n|\r\n"
    got, status = run_on_pty([], hostile)
    t.eq(got, b"^[]2;x^G\\x9B6n|\n",
         "stdout a terminal: OSC and C1 CSI arrive escaped, CRLF as \\n")
    t.eq(status, 0, "stdout a terminal: exit 0")

    got, _ = run_on_pty([], b"tail\xe2\x82")
    t.eq(got, b"tail\\xE2\\x82",
         "stdout a terminal: an unfinished UTF-8 tail is shown at the end")
    got, _ = run_on_pty([], b"caf\xc3\xa9 \xe2\x82\xac\n")
    t.eq(got, "caf\u00e9 \u20ac\n".encode(),
         "stdout a terminal: valid UTF-8 passes")

    got, status = run_on_pty(["--raw"], hostile)
    t.eq(got, hostile, "--raw: the same bytes pass unchanged")
    t.eq(status, 0, "--raw: exit 0")


@section
def check_reset(quiet):
    lst = Listener()
    p = start(["-q"] if quiet else [], lst.port)
    conn = lst.accept()
    tag = " (-q)" if quiet else ""
    # Close with a zero linger: a reset instead of a FIN.
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                    struct.pack("ii", 1, 0))
    conn.close()
    status, err = finish(p)
    t.eq(status, 1, "a reset connection: exit 1" + tag)
    t.eq(err, "ptychat: connection reset by server\n",
         "a reset connection: 'connection reset by server'" + tag)
    p.stdin.close()
    p.stdout.close()
    lst.close()


@section
def check_stdout_closed():
    """A reader that goes away is reported, not ignored (and no SIGPIPE)."""
    lst = Listener()
    r, w = os.pipe()
    p = start([], lst.port, stdout=w)
    os.close(w)
    os.close(r)
    conn = lst.accept()
    try:
        conn.sendall(b"nobody reads this\n")
    except OSError:
        pass
    status, err = finish(p)
    t.eq(status, 1, "stdout closed: exit 1")
    t.eq(err, "ptychat: standard output: Broken pipe\n",
         "stdout closed: one line naming standard output")
    conn.close()
    p.stdin.close()
    lst.close()


try:
    check_binary_pipe()
    check_half_close(False)
    check_half_close(True)
    check_full_duplex()
    check_connect_errors()
    check_family()
    check_usage()
    check_terminal()
    check_reset(False)
    check_reset(True)
    check_stdout_closed()
finally:
    kill_all(procs)
wait_for(lambda: children_of(os.getpid()) == [], 2.0)
t.eq(children_of(os.getpid()), [], "no ptychat process is left behind")
t.done()
