#!/usr/bin/env python3
# systemd socket activation, as systemd does it but set up by the test:
# listening sockets from fd 3 on, LISTEN_FDS, and LISTEN_PID naming the
# server's own pid.  ptychatd takes them instead of binding, hides
# LISTEN_* from its windows, ignores a LISTEN_PID that is not its own,
# and a bad socket stops it with one line.  make install puts the user
# units in place, and systemd-analyze finds nothing wrong with them.
import os
import re
import socket
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from ptytest import (BIN, PTYCHATD, SLOW, STANDIN, TAP, TOP,  # noqa: E402
                     Sections, fd_targets, missing_tools, read_text)

t = TAP()
sections = Sections(t)

# Started through this: it moves the fds named in argv[1] to 3, 4, ...,
# sets LISTEN_PID to its own pid (which exec keeps) or to argv[2], and
# execs the rest of its arguments.
ACTIVATE = r"""
import fcntl, os, sys
high = [fcntl.fcntl(int(f), fcntl.F_DUPFD, 64) for f in sys.argv[1].split(",")]
for i, fd in enumerate(high):
    os.dup2(fd, 3 + i)
    os.close(fd)
pid = sys.argv[2]
os.environ["LISTEN_PID"] = str(os.getpid()) if pid == "ours" else pid
os.execvp(sys.argv[3], sys.argv[3:])
"""


def wrapper(fds, pid="ours"):
    return [sys.executable, "-c", ACTIVATE, ",".join(map(str, fds)), pid]


def listener(family=socket.AF_INET, host="127.0.0.1"):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.bind((host, 0))
    s.listen(8)
    sections.defer(s.close)
    return s


def listen_env(n):
    return {"LISTEN_FDS": str(n), "LISTEN_FDNAMES": ":".join(["ptychatd"] * n)}


def environ_of(pid):
    with open("/proc/%d/environ" % pid, "rb") as f:
        return [v.decode("utf-8", "replace") for v in f.read().split(b"\0")
                if v]


def no_listen_vars(w, name):
    leaked = [v for v in environ_of(w.pid) if v.startswith("LISTEN_")]
    t.ok(not leaked, "%s: the window's environment has no LISTEN_*" % name,
         leaked)


def fd_flags(pid, fd):
    text = read_text("/proc/%d/fdinfo/%d" % (pid, fd))
    m = re.search(r"^flags:\s+([0-7]+)", text, re.M)
    return int(m.group(1), 8) if m else None


def activated(tmp):
    lsock = listener()
    port = lsock.getsockname()[1]
    inode = "socket:[%d]" % os.fstat(lsock.fileno()).st_ino
    srv = sections.server(tmp, wrap=wrapper([lsock.fileno()]),
                          pass_fds=(lsock.fileno(),), env=listen_env(1))
    # From here on the server holds the only copy.
    lsock.close()
    log = srv.text()
    t.ok("ptychatd: listening on 127.0.0.1 port %d (from systemd)\n" % port
         in log, "the log names systemd's socket and its port", log)
    t.ok(srv.port == port and not re.search(
        r"listening on \S+ port \d+\n", log),
         "it binds no socket of its own", log)
    t.ok("ptychatd: warning: -b, -p, -4 and -6 are ignored: the sockets "
         "come from systemd" in log, "-b and -p are ignored, with a note",
         log)
    flags = fd_flags(srv.pid, 3)
    t.ok(flags is not None and flags & os.O_NONBLOCK and
         flags & 0o2000000, "fd 3 is now non-blocking and close-on-exec",
         flags)
    c = srv.connect()
    w = srv.window(1)
    t.ok(w.wait_text("client 127.0.0.1:%d connected" %
                     c.sock.getsockname()[1]),
         "a client of the socket gets its window", w.text())
    c.send("hello through systemd\r\n")
    t.ok(w.wait_text("hello through systemd"), "what it says shows")
    w.type("hello from the desk\r")
    t.ok(c.wait_data("hello from the desk\n"), "and the answer reaches it",
         c.buf)
    no_listen_vars(w, "activated")
    t.ok(inode not in fd_targets(w.pid),
         "the window does not inherit the listening socket",
         fd_targets(w.pid))
    c.close()


def two_sockets(tmp):
    socks = [listener(), listener()]
    fds = [s.fileno() for s in socks]
    ports = [s.getsockname()[1] for s in socks]
    srv = sections.server(tmp, wrap=wrapper(fds), pass_fds=tuple(fds),
                          env=listen_env(2))
    for s in socks:
        s.close()
    log = srv.text()
    t.ok(all("listening on 127.0.0.1 port %d (from systemd)" % p in log
             for p in ports), "one line for each of two sockets", log)
    clients = []
    for n, p in enumerate(ports, 1):
        c = socket.create_connection(("127.0.0.1", p), 5)
        clients.append(c)
        w = srv.window(n)
        t.ok(w.wait_text("client 127.0.0.1:%d connected" %
                         c.getsockname()[1]),
             "a client of socket %d (port %d) gets window %d" % (n, p, n),
             w.text())
    for c in clients:
        c.close()


def not_ours(tmp):
    # Meant for another process (a shell systemd started, say): ignored.
    srv = sections.server(tmp, env={"LISTEN_PID": "1", "LISTEN_FDS": "1",
                                    "LISTEN_FDNAMES": "other"})
    log = srv.text()
    t.ok(re.search(r"ptychatd: listening on 127\.0\.0\.1 port \d+\n", log)
         and "(from systemd)" not in log,
         "a LISTEN_PID that is not ours: it binds as usual", log)
    c = srv.connect()
    w = srv.window(1)
    t.ok(w.wait_text("client 127.0.0.1:%d connected" %
                     c.sock.getsockname()[1]), "its client gets a window",
         w.text())
    no_listen_vars(w, "not ours")
    c.close()


def run_activated(fds, env, pass_fds):
    full = dict(os.environ)
    full.update(env)
    cmd = wrapper(fds) + [PTYCHATD, "-t", STANDIN, "--no-tls",
                          "--no-notify"]
    p = subprocess.run(cmd, pass_fds=pass_fds, env=full, timeout=10 * SLOW,
                       stdin=subprocess.DEVNULL, capture_output=True)
    return p.returncode, p.stderr.decode("utf-8", "replace")


def bad_sockets(tmp):
    path = os.path.join(tmp, "plain-file")
    with open(path, "w") as f:
        f.write("not a socket\n")
    unlistened = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    unlistened.bind(("127.0.0.1", 0))
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    unix_dir = tempfile.mkdtemp(dir=tmp)
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    unix.bind(os.path.join(unix_dir, "s"))
    unix.listen(1)
    good = listener()
    fd = os.open(path, os.O_RDONLY)
    try:
        cases = [
            ("a plain file", [fd], 1, "systemd's fd 3: not a socket"),
            ("a socket that does not listen", [unlistened.fileno()], 1,
             "systemd's fd 3: not a listening stream socket"),
            ("a UDP socket", [udp.fileno()], 1,
             "systemd's fd 3: not a listening stream socket"),
            ("a Unix socket", [unix.fileno()], 1,
             "systemd's fd 3: not a TCP socket"),
            ("a second fd that is closed", [good.fileno()], 2,
             "systemd's fd 4: Bad file descriptor"),
            ("LISTEN_FDS out of range", [good.fileno()], 17,
             "LISTEN_FDS '17' from systemd is out of range"),
        ]
        for name, fds, n, message in cases:
            status, err = run_activated(fds, {"LISTEN_FDS": str(n)},
                                        tuple(fds))
            lines = err.splitlines()
            t.ok(status == 1 and len(lines) == 1 and message in lines[0],
                 "%s: one line, '%s', status 1" % (name, message),
                 "status %d, stderr %r" % (status, err))
        status, err = run_activated([good.fileno()], {"LISTEN_FDS": "x1"},
                                    (good.fileno(),))
        t.ok(status == 1 and err == "ptychatd: LISTEN_FDS 'x1' from "
             "systemd is invalid (at most 16 sockets)\n",
             "a LISTEN_FDS that is no number: one line, status 1",
             "status %d, stderr %r" % (status, err))
    finally:
        os.close(fd)
        for s in (unlistened, udp, unix):
            s.close()


def make(*args):
    # The binaries under test: make finds them up to date, builds nothing.
    cmd = ["make", "-s", "-C", TOP, "O=" + os.path.dirname(STANDIN),
           "OUT=" + BIN] + list(args)
    p = subprocess.run(cmd, capture_output=True, timeout=120 * SLOW,
                       stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout.decode() + p.stderr.decode()


def install(tmp):
    dest = os.path.join(tmp, "dest")
    units = os.path.join(dest, "usr", "lib", "systemd", "user")
    status, out = make("install", "DESTDIR=" + dest, "PREFIX=/usr")
    t.ok(status == 0, "make install DESTDIR=... PREFIX=/usr", out)
    service = read_text(os.path.join(units, "ptychatd.service"))
    socket_unit = read_text(os.path.join(units, "ptychatd.socket"))
    t.ok(re.search(r"^ListenStream=6666$", socket_unit, re.M),
         "ptychatd.socket is installed, on port 6666", socket_unit)
    t.ok(re.search(r"^ExecStart=/usr/bin/ptychatd -t auto$", service, re.M)
         and "@" not in service,
         "ptychatd.service is installed, naming /usr/bin/ptychatd", service)
    status, out = make("uninstall", "DESTDIR=" + dest, "PREFIX=/usr")
    left = [os.path.join(d, f) for d, _, fs in os.walk(dest) for f in fs]
    t.ok(status == 0 and not left, "make uninstall removes them all",
         out + repr(left))

    if missing_tools("systemd-analyze"):
        t.skip("systemd-analyze verify", "no systemd-analyze", tool=True)
        return
    prefix = os.path.join(tmp, "prefix")
    status, out = make("install", "PREFIX=" + prefix)
    units = os.path.join(prefix, "lib", "systemd", "user")
    p = subprocess.run(["systemd-analyze", "verify", "--man=no",
                        os.path.join(units, "ptychatd.socket"),
                        os.path.join(units, "ptychatd.service")],
                       capture_output=True, timeout=30 * SLOW)
    err = (p.stdout + p.stderr).decode("utf-8", "replace")
    t.ok(status == 0 and p.returncode == 0 and "ptychatd" not in err,
         "systemd-analyze verify finds nothing wrong with the units",
         out + err)


sections.run("activated", activated)
sections.run("two sockets", two_sockets)
sections.run("LISTEN_PID not ours", not_ours)
sections.run("bad sockets", bad_sockets)
sections.run("make install", install)
t.done()
