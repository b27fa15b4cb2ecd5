"""Shared helpers for ptychat's integration tests.

Each test is a Python script that prints TAP.  It starts its own
ptychatd on port 0 in a private temporary directory, waits on conditions
with deadlines (never a bare sleep), and cleans up everything it started.
"""
import atexit
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.path.abspath(os.path.join(TOP, os.environ.get("PTYCHAT_BIN", ".")))
PTYCHATD = os.path.join(BIN, "ptychatd")
PTYCHAT = os.path.join(BIN, "ptychat")
STANDIN = os.path.abspath(os.path.join(
    TOP, os.environ.get("PTYCHAT_STANDIN", "build/standin-term")))
# In CI every tool must be present: a skip there is a failure.
REQUIRE = os.environ.get("PTYCHAT_REQUIRE_X") == "1"
# Extra wall-clock slack for slow (sanitizer, valgrind) builds.
SLOW = float(os.environ.get("PTYCHAT_TIME_FACTOR", "1"))
# No test reads or makes the user's keys: what it starts gets a private
# configuration directory ($XDG_CONFIG_HOME), unless it passes its own.
CONFIG_HOME = tempfile.mkdtemp(prefix="ptychat-config.")
os.environ["XDG_CONFIG_HOME"] = CONFIG_HOME
atexit.register(shutil.rmtree, CONFIG_HOME, True)
# Nor does -t auto see the user's Wayland session (tests/wayland.t makes
# its own).
os.environ.pop("WAYLAND_DISPLAY", None)


class TAP:
    def __init__(self):
        self.count = 0
        self.failed = 0

    def ok(self, passed, name, diag=None):
        self.count += 1
        if not passed:
            self.failed += 1
        print("%sok %d - %s" % ("" if passed else "not ", self.count, name),
              flush=True)
        if not passed and diag is not None:
            self.diag(diag)
        return passed

    def eq(self, got, want, name):
        return self.ok(got == want, name, "got %r, want %r" % (got, want))

    def diag(self, text):
        for line in str(text).splitlines() or [""]:
            print("# " + line, flush=True)

    def done(self):
        print("1..%d" % self.count, flush=True)
        sys.exit(1 if self.failed else 0)

    def skip(self, name, reason, count=1, tool=False):
        """Skips count checks ("ok N - name # SKIP reason").  A skip for
        a missing tool (tool=True) is one failure instead when tools are
        required.  Returns False when it failed."""
        if tool and REQUIRE:
            return self.ok(False, "%s: %s" % (name, _required(reason)))
        for _ in range(count):
            self.count += 1
            print("ok %d - %s # SKIP %s" % (self.count, name, reason),
                  flush=True)
        return True

    def skip_all(self, reason):
        """Skips the whole file for a missing tool, or fails it when tools
        are required.  Call it before any check."""
        if REQUIRE:
            self.ok(False, _required(reason))
            self.done()
        print("1..0 # SKIP %s" % reason, flush=True)
        sys.exit(0)


def _required(reason):
    return "a required tool is missing (PTYCHAT_REQUIRE_X=1): " + reason


def missing_tools(*names):
    """Why these programs cannot be run ("not installed: a, b"), or None."""
    missing = [n for n in names if shutil.which(n) is None]
    return "not installed: " + ", ".join(missing) if missing else None


def need_tools(tap, *names):
    """Skips (or with REQUIRE fails) the whole file unless every one of
    these programs is installed."""
    reason = missing_tools(*names)
    if reason:
        tap.skip_all(reason)


def wait_for(cond, timeout=5.0, step=0.02):
    """Polls cond() until it returns a true value or the deadline passes."""
    deadline = time.monotonic() + timeout * SLOW
    while True:
        value = cond()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(step)


def settled(fn, quiet=0.3, timeout=5.0):
    """The value of fn() once it has stayed the same for quiet seconds."""
    deadline = time.monotonic() + timeout * SLOW
    value, since = fn(), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.05)
        now = fn()
        if now != value:
            value, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            break
    return value


def read_text(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return ""


def fd_targets(pid):
    """The targets of /proc/PID/fd links (socket:[...], /dev/pts/3, ...)."""
    out = []
    try:
        names = os.listdir("/proc/%d/fd" % pid)
    except FileNotFoundError:
        return out
    for name in names:
        try:
            out.append(os.readlink("/proc/%d/fd/%s" % (pid, name)))
        except FileNotFoundError:
            pass
    return out


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def counts(srv):
    """The server's (fd count, thread count)."""
    return fd_count(srv.pid), thread_count(srv.pid)


def zombies(pid):
    return [p for p, state in children_of(pid) if state == "Z"]


def standin_wrapper(tmp, per_window):
    """A terminal command that runs the stand-in with extra options for
    some session numbers: per_window maps a number to an option string."""
    path = os.path.join(tmp, "terminal.sh")
    windows = os.path.join(tmp, "windows")
    lines = ["#!/bin/sh", 'n="$1"', "shift", 'case "$n" in']
    for number, opts in per_window.items():
        lines.append('%d) exec "%s" %s --dir "%s" --name "$n" "$@" ;;'
                     % (number, STANDIN, opts, windows))
    lines.append('*) exec "%s" --dir "%s" --name "$n" "$@" ;;'
                 % (STANDIN, windows))
    lines.append("esac")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.chmod(path, 0o755)
    return "%s %%n" % path


def thread_count(pid):
    try:
        return len(os.listdir("/proc/%d/task" % pid))
    except FileNotFoundError:
        return 0


def children_of(pid):
    """(pid, state) of each process whose parent is pid."""
    kids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                stat = f.read()
        except (FileNotFoundError, ProcessLookupError):
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        if int(fields[1]) == pid:
            kids.append((int(name), fields[0]))
    return kids


def process_alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat[stat.rfind(")") + 2:].split()[0] != "Z"


# Every server started, so that none outlives its test, whatever happens.
_servers = []


@atexit.register
def _cleanup_servers():
    for srv in _servers:
        srv.cleanup()


class Server:
    """A ptychatd on port 0 whose stderr goes to a log file.  env adds to
    the test's environment; a variable set to None there is removed.
    Without tls it runs with --no-tls: a plain client that waits to be
    greeted then gets its window without the front door's 200 ms wait,
    which adds up over the suite.  The TLS tests, and those that show
    plain clients on a server as started with no options, pass tls.
    Likewise --no-notify unless notify: no notify-send joins the
    server's children.  wrap is a command the server is started
    through, given pass_fds (see Popen)."""

    def __init__(self, tmp, terminal=None, args=(), env=None, tls=False,
                 notify=False, wrap=(), pass_fds=()):
        self.tmp = tmp
        self.log_path = os.path.join(tmp, "ptychatd.log")
        os.makedirs(tmp, exist_ok=True)
        self.windows = os.path.join(tmp, "windows")
        os.makedirs(self.windows, exist_ok=True)
        if terminal is None:
            terminal = "%s --dir %s --name %%n" % (STANDIN, self.windows)
        self.log = open(self.log_path, "wb")
        full_env = dict(os.environ)
        full_env.setdefault("DISPLAY", ":ptychat-test")
        for name, value in (env or {}).items():
            if value is None:
                full_env.pop(name, None)
            else:
                full_env[name] = value
        cmd = list(wrap) + os.environ.get("PTYCHAT_WRAP", "").split()
        cmd += [PTYCHATD, "-p", "0", "-b", "127.0.0.1", "-t", terminal]
        cmd += [] if tls else ["--no-tls"]
        cmd += [] if notify else ["--no-notify"]
        cmd += list(args)   # a later -p wins over the -p 0 above
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL,
                                     stderr=self.log, env=full_env,
                                     pass_fds=pass_fds)
        self.pid = self.proc.pid
        _servers.append(self)
        m = self.wait_log(r"listening on \S+ port (\d+)", 10)
        if not m:
            self.cleanup()
            raise RuntimeError("ptychatd did not start:\n" + self.text())
        self.port = int(m.group(1))

    def text(self):
        return read_text(self.log_path)

    def wait_log(self, pattern, timeout=5.0):
        return wait_for(lambda: re.search(pattern, self.text()), timeout)

    def connect(self, host="127.0.0.1", source=None):
        """A raw client; source picks its address (127.0.0.2, say)."""
        return Client(socket.create_connection(
            (host, self.port), 5, (source, 0) if source else None))

    def window(self, number, timeout=10.0):
        w = Window(self.windows, number)
        if not wait_for(lambda: os.path.exists(w.pid_path), timeout):
            raise RuntimeError("window %d did not open:\n%s"
                               % (number, self.text()))
        # The banner is the last thing before the relays start.
        w.wait_text("Close this window", timeout)
        return w

    def stop(self, sig=signal.SIGTERM, timeout=5.0):
        """Signals the server; returns its exit status, or None."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout * SLOW)
        except subprocess.TimeoutExpired:
            return None

    def cleanup(self):
        """Stops the server and its windows; safe to call twice."""
        # SIGTERM, not SIGKILL: valgrind and LeakSanitizer report at exit.
        if self.stop(signal.SIGTERM) is None:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        if not os.path.isdir(self.windows):
            return
        for name in os.listdir(self.windows):
            if name.endswith(".pid"):
                try:
                    os.kill(int(read_text(os.path.join(self.windows, name))),
                            signal.SIGKILL)
                except (ValueError, ProcessLookupError):
                    pass


class Window:
    """One stand-in terminal window, seen through its files."""

    def __init__(self, directory, number):
        base = os.path.join(directory, str(number))
        self.pid_path = base + ".pid"
        self.out_path = base + ".out"
        self.in_path = base + ".in"
        self.title_path = base + ".title"

    @property
    def pid(self):
        return int(read_text(self.pid_path))

    def text(self):
        return read_text(self.out_path)

    def title(self):
        return read_text(self.title_path)

    def wait_text(self, needle, timeout=5.0):
        return wait_for(lambda: needle in self.text(), timeout)

    def type(self, keys):
        """Types as the operator would; Enter is \\r, as xterm sends it."""
        fd = os.open(self.in_path, os.O_WRONLY)
        try:
            os.write(fd, keys.encode() if isinstance(keys, str) else keys)
        finally:
            os.close(fd)

    def close(self):
        """Closes the window the way a window manager would kill it."""
        os.kill(self.pid, signal.SIGTERM)


class Client:
    """A raw TCP client with a receive buffer."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        self.eof = False

    def send(self, data):
        self.sock.sendall(data.encode() if isinstance(data, str) else data)

    def _fill(self, timeout):
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return
        except ConnectionResetError:
            data = b""
        if not data:
            self.eof = True
        self.buf += data

    def wait_data(self, needle, timeout=5.0):
        needle = needle.encode() if isinstance(needle, str) else needle
        deadline = time.monotonic() + timeout * SLOW
        while needle not in self.buf and not self.eof:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self._fill(min(left, 0.2))
        return needle in self.buf

    def wait_eof(self, timeout=5.0):
        deadline = time.monotonic() + timeout * SLOW
        while not self.eof:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self._fill(min(left, 0.2))
        return self.eof

    def close(self):
        self.sock.close()


def kill_all(procs):
    """Kills and reaps helper processes, closing their pipes."""
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait()
        for f in (p.stdin, p.stdout, p.stderr):
            if f is not None and not f.closed:
                f.close()


class Sections:
    """Runs a test file's sections, each in a private directory, and
    after each stops every server it started: each must exit 0 with no
    sanitizer report in its log.  Then it runs the section's deferred
    clean-ups, last first.  A crash in a section is a failure, not an
    abort."""

    def __init__(self, tap, args=()):
        self.t, self.args = tap, list(args)
        self.started, self.deferred = [], []

    def server(self, tmp, args=(), **kwargs):
        srv = Server(tmp, args=self.args + list(args), **kwargs)
        self.started.append(srv)
        return srv

    def defer(self, fn, *args):
        """Calls fn(*args) when the section ends, after its servers stop."""
        self.deferred.append((fn, args))

    def with_server(self, name, args, fn):
        """Runs fn(server) as a section, the server started with args."""
        self.run(name, lambda tmp: fn(self.server(tmp, args=args)))

    def run(self, name, fn):
        t, tmp, failed = self.t, tmpdir(), self.t.failed
        start = time.monotonic()
        try:
            fn(tmp)
        except Exception as e:
            t.ok(False, "%s: %s: %s" % (name, type(e).__name__, e))
        finally:
            while self.started:
                srv = self.started.pop()
                srv.cleanup()
                log = srv.text()
                t.ok(srv.proc.returncode == 0 and not re.search(
                    r"Sanitizer|runtime error", log),
                     "%s: the server stops cleanly, with no sanitizer "
                     "report" % name, "status %r" % srv.proc.returncode)
                if t.failed > failed:
                    t.diag(log[-3000:])
            while self.deferred:
                fn, args = self.deferred.pop()
                try:
                    fn(*args)
                except Exception as e:
                    t.ok(False, "%s: clean-up: %s: %s"
                         % (name, type(e).__name__, e))
            shutil.rmtree(tmp, ignore_errors=True)
        t.diag("%s took %.1f s" % (name, time.monotonic() - start))


class ConsoleServer:
    """A ptychatd in a private tmux pane, so that its console is live and
    typed into; windows are stand-ins in tmp/name.  Without tls it runs
    with --no-tls, and without notify with --no-notify, as Server does."""

    def __init__(self, tmp, name="windows", args="", tls=False,
                 notify=False):
        self.env = dict(os.environ, TMUX_TMPDIR=tmp)
        self.env.pop("TMUX", None)
        self.windows = os.path.join(tmp, name)
        os.makedirs(self.windows)
        self.tmux("new-session", "-d", "-s", "con", "-x", "150", "-y", "50",
                  "%s -p 0 -b 127.0.0.1 -t '%s --dir %s --name %%n' %s %s %s; "
                  "echo status $?; sleep 60"
                  % (PTYCHATD, STANDIN, self.windows,
                     "" if tls else "--no-tls",
                     "" if notify else "--no-notify", args))
        m = wait_for(lambda: re.search(r"listening on \S+ port (\d+)",
                                       self.screen()), 10)
        self.port = int(m.group(1)) if m else None
        pane = self.tmux("list-panes", "-t", "con", "-F", "#{pane_pid}")
        # The pane runs a shell; ptychatd is its child.
        kids = wait_for(lambda: self._children(int(pane)), 5) \
            if pane.strip().isdigit() else None
        self.pid = kids[0] if kids else None

    @staticmethod
    def _children(pid):
        try:
            with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
                return [int(p) for p in f.read().split()]
        except OSError:
            return []

    def tmux(self, *args):
        return subprocess.run(["tmux"] + list(args), env=self.env,
                              capture_output=True, timeout=10
                              ).stdout.decode()

    def screen(self):
        return self.tmux("capture-pane", "-p", "-J", "-S", "-200", "-t",
                         "con")

    def type(self, text):
        self.tmux("send-keys", "-t", "con", text, "Enter")

    def command(self, text, reply, timeout=3.0):
        """Types a command; returns True once reply shows after it."""
        self.type(text)

        def answered():
            s = self.screen()
            at = s.rfind("ptychatd> " + text)
            return at != -1 and re.search(reply, s[at:])
        return wait_for(answered, timeout * SLOW)

    def connect(self, rcvbuf=None):
        """A raw client; rcvbuf sets its receive buffer before it connects
        (a window shrunk later makes the kernel drop data it had room for,
        and the sender back off)."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.settimeout(5)
        sock.connect(("127.0.0.1", self.port))
        return Client(sock)

    def window(self, n):
        w = Window(self.windows, n)
        return w if wait_for(lambda: os.path.exists(w.pid_path),
                             10 * SLOW) else None

    def stop(self):
        """SIGTERM; returns True once ptychatd has exited with 0."""
        if self.pid:
            os.kill(self.pid, signal.SIGTERM)
        ok = wait_for(lambda: "status 0" in self.screen(), 5 * SLOW)
        self.close()
        return ok

    def close(self):
        self.tmux("kill-server")


def tmpdir():
    return tempfile.mkdtemp(prefix="ptychat-test.")


def has_ipv6_loopback():
    """Whether ::1 can be bound here."""
    try:
        s = socket.socket(socket.AF_INET6)
        s.bind(("::1", 0))
        s.close()
        return True
    except OSError:
        return False


def free_port():
    """A loopback TCP port free a moment ago, for a program that cannot
    be told to take port 0."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def recv_all(sock):
    """All that sock receives up to its end (its timeout applies)."""
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk


HAPROXY_HEAD = """global
    stats socket %(tmp)s/stats.sock level admin
defaults
    mode tcp
    timeout connect 1s
    timeout client 10s
    timeout server 10s
"""


def haproxy_start(sections, tmp, body):
    """Starts HAProxy in TCP mode with its stats socket in tmp (see
    haproxy_stat) and the frontends and backends in body, its output in
    tmp/haproxy.log; it is stopped when the section ends."""
    cfg = os.path.join(tmp, "haproxy.cfg")
    with open(cfg, "w") as f:
        f.write(HAPROXY_HEAD % {"tmp": tmp} + body)
    log = open(os.path.join(tmp, "haproxy.log"), "wb")
    proc = subprocess.Popen(["haproxy", "-f", cfg, "-db"],
                            stdin=subprocess.DEVNULL, stdout=log,
                            stderr=subprocess.STDOUT)
    sections.defer(log.close)
    sections.defer(kill_all, [proc])
    return proc


def haproxy_stat(sock_path, name):
    """The row HAProxy's stats socket (at sock_path) shows for server
    name, as a dict of its columns (status, weight, check_status, ...),
    or None."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(5)
    try:
        s.connect(sock_path)
        s.sendall(b"show stat\n")
        data = recv_all(s)
    except OSError:
        return None
    finally:
        s.close()
    lines = data.decode("ascii", "replace").splitlines()
    if not lines or not lines[0].startswith("# "):
        return None
    head = lines[0][2:].split(",")
    for line in lines[1:]:
        row = dict(zip(head, line.split(",")))
        if row.get("svname") == name:
            return row
    return None


def run(cmd, stdin=None, timeout=10.0, env=None):
    """Runs a command; returns (status, stdout, stderr) as text."""
    p = subprocess.run(cmd, input=stdin, capture_output=True,
                       timeout=timeout * SLOW, env=env)
    return (p.returncode, p.stdout.decode("utf-8", "replace"),
            p.stderr.decode("utf-8", "replace"))

