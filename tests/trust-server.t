#!/usr/bin/env python3
# ptychatd's side of trust (issue 9): TLS and plain clients on one port,
# the server's key and its fingerprint, --require-tls, --clients and
# SIGHUP, who each client is (banner, log, list, title), hostile hellos,
# and a recording relay that shows the text never crosses in clear.
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from ptytest import (PTYCHAT, PTYCHATD, SLOW, STANDIN, TAP,  # noqa
                     ConsoleServer, Sections, fd_count, kill_all,
                     missing_tools, need_tools,
                     read_text, run, thread_count, wait_for)

t = TAP()
need_tools(t, "openssl")
sections = Sections(t)
FINGERPRINT = r"SHA256:[A-Za-z0-9+/]{43}"


def config(tmp):
    """A private configuration directory for one party."""
    return {"XDG_CONFIG_HOME": os.path.join(tmp, "config")}


def openssl_fingerprint(key):
    """The fingerprint of a PEM key, by the openssl command line alone."""
    der = subprocess.run(["openssl", "pkey", "-in", key, "-pubout",
                          "-outform", "DER"], capture_output=True,
                         check=True).stdout
    digest = subprocess.run(["openssl", "dgst", "-sha256", "-binary"],
                            input=der, capture_output=True,
                            check=True).stdout
    b64 = subprocess.run(["openssl", "base64", "-A"], input=digest,
                         capture_output=True, check=True).stdout
    return "SHA256:" + b64.decode().strip().rstrip("=")


def client_key(tmp, name):
    """A P-256 key and a self-signed certificate for a TLS client."""
    key = os.path.join(tmp, name + ".key")
    cert = os.path.join(tmp, name + ".crt")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key,
                    "-out", cert, "-subj", "/CN=" + name, "-days", "2"],
                   capture_output=True, check=True)
    return key, cert


class TLSClient:
    """openssl s_client -quiet: what it prints is gathered by a thread."""

    def __init__(self, port, key=None, cert=None, target=None):
        cmd = ["openssl", "s_client", "-tls1_3", "-quiet", "-connect",
               target or "127.0.0.1:%d" % port]
        if key:
            cmd += ["-key", key, "-cert", cert]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL)
        self.buf = b""
        self.lock = threading.Lock()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        sections.defer(self.close)

    def _read(self):
        while True:
            data = os.read(self.proc.stdout.fileno(), 65536)
            if not data:
                return
            with self.lock:
                self.buf += data

    def text(self):
        with self.lock:
            return self.buf.decode("utf-8", "replace")

    def send(self, line):
        # No line may start with k or K: s_client takes it as a command.
        self.proc.stdin.write(line.encode())
        self.proc.stdin.flush()

    def wait_data(self, needle, timeout=5.0):
        return wait_for(lambda: needle in self.text(), timeout)

    def wait_exit(self, timeout=5.0):
        """True once s_client has exited and everything it printed has
        been gathered (its reader has seen the end of its output)."""
        deadline = time.monotonic() + timeout * SLOW
        if not wait_for(lambda: self.proc.poll() is not None, timeout):
            return False
        self.reader.join(max(0.0, deadline - time.monotonic()))
        return not self.reader.is_alive()

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.reader.join(5)
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except OSError:
                pass


def raw(srv):
    return socket.create_connection(("127.0.0.1", srv.port), 5)


def no_window(srv, number, marker):
    """No window numbered number opened: checked once a later window,
    marker's, is up, since windows open in the order of arrival."""
    srv.window(marker)
    return not os.path.exists(os.path.join(srv.windows, "%d.pid" % number))


def one_port(tmp):
    """Plain and TLS clients on the same port, each shown as it came."""
    logs = os.path.join(tmp, "logs")
    srv = sections.server(tmp, args=["--log-dir", logs], env=config(tmp),
                          tls=True)
    lines = srv.text().splitlines()
    t.ok(lines[0].startswith("ptychatd: listening on ") and
         re.fullmatch("ptychatd: TLS key " + FINGERPRINT, lines[1]),
         "the listening line comes first, then the TLS key's", lines[:2])

    start = time.monotonic()
    plain = srv.connect()
    w = srv.window(1)
    waited = time.monotonic() - start
    t.ok(waited >= 0.2, "a silent plain client gets its window after the "
         "200 ms wait (%.3f s)" % waited)
    t.ok("Connection: plain" in w.text(), "its banner says plain", w.text())
    plain.send("hello in clear\n")
    w.type("hello plain\r")
    t.ok(w.wait_text("hello in clear") and plain.wait_data("hello plain\n"),
         "the plain client talks both ways", plain.buf)
    t.ok(srv.wait_log(r"session 1 127\.0\.0\.1:\d+: connected: plain"),
         "the log says it came plain", srv.text())

    tls = TLSClient(srv.port)
    w = srv.window(2)
    t.ok("Connection: TLS, no key." in w.text(),
         "openssl s_client gets a window; no certificate: no key",
         w.text())
    tls.send("hello over tls\n")
    w.type("hello tls\r")
    t.ok(w.wait_text("hello over tls") and tls.wait_data("hello tls\n"),
         "the TLS client talks both ways", tls.text())
    t.ok(srv.wait_log(r"session 2 127\.0\.0\.1:\d+: connected: TLS, no "
                      r"key"), "the log says TLS, no key", srv.text())

    key, cert = client_key(tmp, "carol")
    fp = openssl_fingerprint(key)
    keyed = TLSClient(srv.port, key, cert)
    w = srv.window(3)
    t.ok("Connection: TLS, key %s." % fp in w.text(),
         "a client's certificate: its key's fingerprint is in the banner",
         (fp, w.text()))
    t.ok(srv.wait_log(r"session 3 127\.0\.0\.1:\d+: connected: TLS, key "
                      + re.escape(fp)), "and in the log", srv.text())
    keyed.send("signed line\n")
    t.ok(w.wait_text("signed line"), "and it talks")
    port = re.search(r"session 3 127\.0\.0\.1:(\d+)", srv.text()).group(1)
    t.eq(w.title().strip(), "ptychat #3 127.0.0.1:%s" % port,
         "without --clients the title has no name")

    # The window closed: the TLS client is told, with close_notify, and
    # exits.
    srv.window(2).close()
    t.ok(tls.wait_exit(), "closing the window ends the TLS client")

    def first_event(n):
        names = [f for f in os.listdir(logs)
                 if f.startswith("session-%d-" % n)]
        text = read_text(os.path.join(logs, names[0])) if names else ""
        m = re.search(r"^\S+ \S+ \* (.*)$", text, re.M)
        return m.group(1) if m else ""
    t.ok(re.fullmatch(r"ptychat session #1: client 127\.0\.0\.1:\d+ "
                      r"connected: plain \(not encrypted\)", first_event(1))
         and re.fullmatch(r"ptychat session #2: client 127\.0\.0\.1:\d+ "
                          r"connected: TLS, no key", first_event(2)) and
         re.fullmatch(r"ptychat session #3: client 127\.0\.0\.1:\d+ "
                      r"connected: TLS, key " + re.escape(fp),
                      first_event(3)),
         "each transcript starts with how its client came",
         [first_event(n) for n in (1, 2, 3)])


def tls_idle(tmp):
    """--idle-timeout over TLS: the notice goes encrypted, then the end."""
    limit = max(1, int(round(SLOW)))
    srv = sections.server(tmp, args=["--idle-timeout", str(limit)],
                          env=config(tmp), tls=True)
    tls = TLSClient(srv.port)
    w = srv.window(1)
    t.ok(tls.wait_exit(limit + 5 * SLOW), "a silent TLS client is cut off")
    t.eq(tls.text(), "ptychatd: idle for %d seconds; disconnecting\n"
         % limit, "after the notice, over TLS")
    t.ok(w.wait_text("disconnected after"), "and its window says so")


def key_files(tmp):
    """The key made on first use, its modes, and --fingerprint."""
    env = dict(os.environ, **config(tmp))
    status, out, err = run([PTYCHATD, "--fingerprint"], env=env)
    fp = out.strip()
    t.ok(status == 0 and re.fullmatch(FINGERPRINT, fp) and err == "",
         "--fingerprint prints SHA256:... and exits 0", (status, out, err))
    d = os.path.join(tmp, "config", "ptychat")
    key = os.path.join(d, "ptychatd.key")
    t.eq(stat.S_IMODE(os.stat(d).st_mode), 0o700, "the directory is 0700")
    t.eq(stat.S_IMODE(os.stat(key).st_mode), 0o600, "the key file is 0600")
    t.eq(fp, openssl_fingerprint(key), "--fingerprint is what the openssl "
         "command line makes of the key file")
    status, out, err = run([PTYCHATD, "--fingerprint"], env=env)
    t.eq(out.strip(), fp, "a second run keeps the key")
    srv = sections.server(tmp, env=config(tmp), tls=True)
    t.ok(srv.wait_log("TLS key " + re.escape(fp)),
         "the server logs the same fingerprint", srv.text())
    srv.stop()

    # Another's key and certificate.
    other_key, other_cert = client_key(tmp, "corp")
    status, out, err = run([PTYCHATD, "--key", other_key, "--cert",
                            other_cert, "--fingerprint"], env=env)
    t.eq(out.strip(), openssl_fingerprint(other_key),
         "--key and --cert: the fingerprint of that key")
    status, out, err = run([PTYCHATD, "--key", other_key, "--fingerprint"],
                           env=env)
    t.ok(status == 2 and "--key and --cert go together" in err,
         "--key without --cert is a usage error", (status, err))
    status, out, err = run([PTYCHATD, "--no-tls", "--require-tls"],
                           env=env)
    t.ok(status == 2 and "--no-tls" in err, "--no-tls with --require-tls "
         "is a usage error", (status, err))

    # A key its group may read is refused, with the fix.
    os.chmod(key, 0o640)
    status, out, err = run([PTYCHATD, "-p", "0", "-b", "127.0.0.1"],
                           env=env)
    t.ok(status == 1 and "chmod 600 " + key in err and
         "listening" not in err,
         "a group-readable key: exit 1 before listening, with the chmod "
         "line", (status, err))
    t.eq(stat.S_IMODE(os.stat(key).st_mode), 0o640,
         "and the file is left as it was")


def require_tls(tmp):
    """--require-tls: a plain client gets one line and no window."""
    srv = sections.server(tmp, args=["--require-tls"], env=config(tmp),
                          tls=True)
    talker = srv.connect()
    talker.send("hello?\n")
    t.ok(talker.wait_eof(), "a plain client is disconnected")
    t.eq(talker.buf, b"ptychatd: this server requires TLS; connect with "
         b"ptychat\n", "after one line in clear text")
    silent = srv.connect()
    t.ok(silent.wait_eof() and b"requires TLS" in silent.buf,
         "a silent plain client too, after the wait", silent.buf)
    tls = TLSClient(srv.port)
    tls.send("secure\n")
    t.ok(no_window(srv, 1, 3) and no_window(srv, 2, 3),
         "neither plain client got a window; the TLS one did")
    t.ok(srv.window(3).wait_text("secure"), "and it is heard")
    t.ok(srv.wait_log(r"session 1 \S+: refused: plain, and TLS is "
                      r"required"), "the refusal is logged", srv.text())


def write_list(path, entries):
    with open(path, "w") as f:
        f.write("# who may connect\n")
        for fp, name in entries:
            f.write("%s %s\n" % (fp, name))


def clients(tmp):
    """--clients: listed keys get a named window, others a line."""
    ann = client_key(tmp, "ann")
    bob = client_key(tmp, "bob")
    ann_fp, bob_fp = openssl_fingerprint(ann[0]), openssl_fingerprint(bob[0])
    path = os.path.join(tmp, "clients")
    write_list(path, [(ann_fp, "ann")])
    srv = sections.server(tmp, args=["--clients", path], env=config(tmp),
                          tls=True)

    a = TLSClient(srv.port, *ann)
    w = srv.window(1)
    a.send("ann here\n")
    t.ok(w.wait_text("ann here"), "a listed key gets a window")
    port = re.search(r"session 1 127\.0\.0\.1:(\d+)", srv.text()).group(1)
    t.eq(w.title().strip(), "ptychat #1 ann 127.0.0.1:%s" % port,
         "titled with its name")
    t.ok("Connection: TLS, key %s (ann)." % ann_fp in w.text(),
         "its banner names it", w.text())

    b = TLSClient(srv.port, *bob)
    t.ok(b.wait_exit(), "an unlisted key is disconnected")
    t.eq(b.text(), "ptychatd: your key %s is not on this server's list\n"
         % bob_fp, "after one line naming its key")
    nokey = TLSClient(srv.port)
    t.ok(nokey.wait_exit() and nokey.text() == "ptychatd: you sent no key; "
         "this server lets in only the keys on its list\n",
         "a TLS client without a key is told it sent none", nokey.text())
    plain = srv.connect()
    plain.send("let me in\n")
    t.ok(plain.wait_eof() and b"you sent no key" in plain.buf,
         "so is a plain client", plain.buf)
    t.ok(srv.wait_log(r"session 2 \S+: refused: key " + re.escape(bob_fp) +
                      " is not on the clients list"), "refusals are logged")

    # SIGHUP: bob in, ann out.
    write_list(path, [(bob_fp, "bob")])
    srv.proc.send_signal(signal.SIGHUP)
    t.ok(wait_for(lambda: srv.text().count("1 key on the clients list") ==
                  2), "SIGHUP re-reads the list", srv.text())
    b2 = TLSClient(srv.port, *bob)
    w = srv.window(5)
    b2.send("bob now\n")
    t.ok(w.wait_text("bob now") and "ptychat #5 bob " in w.title(),
         "the newly listed key gets a window, with its name", w.title())
    a2 = TLSClient(srv.port, *ann)
    t.ok(a2.wait_exit() and "not on this server's list" in a2.text(),
         "the key taken off is refused", a2.text())
    t.ok(srv.proc.poll() is None, "SIGHUP with --clients does not stop "
         "the server")
    a.send("ann still here\n")
    t.ok(srv.window(1).wait_text("ann still here"),
         "a session already open stays")

    # A bad line: reported with FILE:LINE, the old list stays.
    with open(path, "a") as f:
        f.write("not a key at all\n")
    srv.proc.send_signal(signal.SIGHUP)
    t.ok(srv.wait_log(re.escape(path) + r":3: .*\n.*old clients list "
                      r"stays"), "a bad line is reported as FILE:LINE",
         srv.text())
    b3 = TLSClient(srv.port, *bob)
    w = srv.window(7)
    b3.send("still bob\n")
    t.ok(w.wait_text("still bob"), "and the old list stays in force")

    # At start-up, a bad file stops the server.
    status, out, err = run([PTYCHATD, "-p", "0", "-b", "127.0.0.1",
                            "--clients", path],
                           env=dict(os.environ, **config(tmp)))
    t.ok(status == 1 and (path + ":3:") in err and "listening" not in err,
         "a bad line at start-up: exit 1, FILE:LINE", (status, err))


def show_key(tmp):
    """ptychat --show-key gives what --clients lists: a named window for
    that key, one line naming its key for another."""
    dee, eve = config(os.path.join(tmp, "dee")), config(os.path.join(tmp,
                                                                     "eve"))
    for party in ("dee", "eve"):
        os.mkdir(os.path.join(tmp, party))
    status, out, err = run([PTYCHAT, "--show-key"], env=dee)
    fp = out.strip()
    key = os.path.join(dee["XDG_CONFIG_HOME"], "ptychat", "ptychat.key")
    t.ok(status == 0 and re.fullmatch(FINGERPRINT, fp) and err == "",
         "ptychat --show-key prints a fingerprint", (status, out, err))
    t.eq(fp, openssl_fingerprint(key), "that of the key it made")
    t.eq(stat.S_IMODE(os.stat(key).st_mode), 0o600, "made 0600")
    t.eq(run([PTYCHAT, "--show-key"], env=dee)[1].strip(), fp,
         "and it stays")
    status, out, err = run([PTYCHAT, "--show-key", "localhost"], env=dee)
    t.ok(status == 2 and "--show-key takes no host" in err,
         "--show-key with a host is a usage error", (status, err))
    eve_fp = run([PTYCHAT, "--show-key"], env=eve)[1].strip()
    path = os.path.join(tmp, "clients")
    write_list(path, [(fp, "dee")])
    srv = sections.server(tmp, args=["--clients", path], env=config(tmp),
                          tls=True)
    procs = []
    sections.defer(kill_all, procs)

    def client(env):
        p = subprocess.Popen([PTYCHAT, "127.0.0.1", str(srv.port)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE,
                             env=dict(os.environ, **env))
        procs.append(p)
        return p

    d = client(dee)
    w = srv.window(1)
    d.stdin.write(b"dee on the list\n")
    d.stdin.flush()
    t.ok(w.wait_text("dee on the list") and
         w.title().startswith("ptychat #1 dee 127.0.0.1:"),
         "the listed ptychat gets a window with its name", w.title())
    e = client(eve)
    try:
        out, err = e.communicate(timeout=10 * SLOW)
    except subprocess.TimeoutExpired:
        out, err = b"", b"timed out"
    t.ok(("ptychatd: your key %s is not on this server's list" % eve_fp)
         .encode() in out, "the other hears its key is not on the list",
         (out, err))
    w.close()
    try:
        d.communicate(timeout=10 * SLOW)
    except subprocess.TimeoutExpired:
        pass
    t.eq(d.returncode, 0, "closing the window ends the listed client")


def refused_key(tmp):
    """A ptychat that remembers another key refuses ours: it exits 3,
    nothing of it reaches a window, and the log says what happened."""
    srv = sections.server(tmp, env=config(tmp), tls=True)
    cl = config(os.path.join(tmp, "cl"))
    os.makedirs(os.path.join(cl["XDG_CONFIG_HOME"], "ptychat"))
    other = "SHA256:" + "A" * 43
    with open(os.path.join(cl["XDG_CONFIG_HOME"], "ptychat",
                           "known_hosts"), "w") as f:
        f.write("127.0.0.1 %d %s\n" % (srv.port, other))
    status, out, err = run([PTYCHAT, "127.0.0.1", str(srv.port)],
                           stdin=b"never shown\n", env=cl)
    t.ok(status == 3 and "has CHANGED" in err and other in err,
         "ptychat refuses the server's key with status 3", (status, err))
    t.ok(srv.wait_log(r"session 1 \S+: TLS handshake: the peer refused "
                      r"our key \(sslv3 alert bad certificate\)"),
         "the server logs that the client refused its key", srv.text())
    c = srv.connect()
    c.send(b"marker\n")
    t.ok(srv.window(2).wait_text("marker") and
         not os.path.exists(os.path.join(srv.windows, "1.pid")),
         "the refusing client never had a window")


def console_list(tmp):
    """The console's list names each client's key."""
    con = ConsoleServer(tmp, tls=True)
    sections.defer(con.close)
    if not t.ok(con.port, "the server starts in a tmux pane", con.screen()):
        return
    key, cert = client_key(tmp, "dave")
    fp = openssl_fingerprint(key)
    plain = con.connect()
    plain.send("hi\n")
    con.window(1)
    TLSClient(con.port)
    con.window(2)
    TLSClient(con.port, key, cert)
    con.window(3)
    t.ok(con.command("list", r"(?s)1\s+127\.0\.0\.1:\d+.*open\s+plain\s*\n"
                     r".*2\s+127\.0\.0\.1:\d+.*open\s+no key\s*\n.*3\s+"
                     r"127\.0\.0\.1:\d+.*open\s+" + re.escape(fp)),
         "list: plain, no key, and the fingerprint, after the state",
         con.screen())
    t.ok(con.stop(), "the server stops")


def ends(sock):
    """True once the server has closed sock (after reading what is
    left), within a few seconds; closes it."""
    sock.settimeout(5 * SLOW)
    try:
        while sock.recv(65536):
            pass
        return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False
    finally:
        sock.close()


def partial_hello():
    """A TLS record header that promises 512 bytes, and 6 of them."""
    return b"\x16\x03\x01\x02\x00" + b"\x01\x00\x01\xfc\x03\x03"


def hostile(tmp):
    """Garbage, a 1 MiB hello, and 200 stalled handshakes: none gets a
    window, and a normal client still gets one at once."""
    srv = sections.server(tmp, args=["--max-clients", "400"],
                          env=config(tmp), tls=True)
    base_fds, base_threads = fd_count(srv.pid), thread_count(srv.pid)

    garbage = raw(srv)
    garbage.sendall(b"\x16\x03\x01\x00\x05" + b"\xde\xad\xbe\xef\x00" * 20)
    t.ok(srv.wait_log(r"session 1 \S+: TLS handshake: "),
         "a garbage hello fails the handshake, logged", srv.text())
    t.ok(ends(garbage), "and is disconnected")

    # A ClientHello that says it is 1 MiB long, sent in full records.
    big = raw(srv)
    record = os.urandom(16384)
    sent = 0
    try:
        big.sendall(b"\x16\x03\x01\x40\x04" + b"\x01\x10\x00\x00" +
                    record)
        sent = 16384
        while sent < 1 << 20:
            big.sendall(b"\x16\x03\x01\x40\x00" + record)
            sent += len(record)
    except (BrokenPipeError, ConnectionResetError):
        pass
    t.ok(srv.wait_log(r"session 2 \S+: TLS handshake: "),
         "a 1 MiB hello fails the handshake (%d KiB went)" % (sent >> 10),
         srv.text())
    t.ok(ends(big), "and is disconnected")

    stalled = []
    for _ in range(200):
        s = raw(srv)
        s.sendall(partial_hello())
        stalled.append(s)
    start = time.monotonic()
    c = srv.connect()
    c.send("still served\n")
    w = srv.window(203)
    took = time.monotonic() - start
    t.ok(w.wait_text("still served") and took < 3 * SLOW,
         "with 200 handshakes stalled, a plain client gets its window in "
         "%.2f s" % took)
    tls = TLSClient(srv.port)
    tls.send("tls too\n")
    t.ok(srv.window(204).wait_text("tls too"), "and so does a TLS client")
    names = sorted(n for n in os.listdir(srv.windows) if n.endswith(".pid"))
    t.eq(names, ["203.pid", "204.pid"], "no hostile hello got a window")

    # The handshake deadline (10 s) drops every stalled one, logged.
    t.ok(wait_for(lambda: len(re.findall(r"TLS handshake: timed out",
                                         srv.text())) == 200, 15),
         "all 200 stalled handshakes are dropped after the deadline",
         len(re.findall(r"TLS handshake: timed out", srv.text())))
    t.eq(sum(ends(s) for s in stalled), 200,
         "and each of those clients sees the end")
    c.close()
    tls.close()
    srv.window(203).close()
    srv.window(204).close()
    t.ok(wait_for(lambda: fd_count(srv.pid) <= base_fds and
                  thread_count(srv.pid) <= base_threads, 10),
         "fds and threads back to where they were",
         (fd_count(srv.pid), base_fds, thread_count(srv.pid),
          base_threads))


def port_scanner(tmp):
    """Connect and close at once: no window, no log line but -v's."""
    srv = sections.server(tmp, env=config(tmp), tls=True)
    for _ in range(20):
        raw(srv).close()
    c = srv.connect()
    c.send("marker\n")
    w = srv.window(21)
    t.ok(w.wait_text("marker"), "a client after 20 scans gets window 21")
    names = sorted(n for n in os.listdir(srv.windows) if n.endswith(".pid"))
    t.eq(names, ["21.pid"], "no scan opened a window")
    t.ok(not re.search(r"session (\d|1\d|20) ", srv.text()),
         "and none was logged", srv.text())

    srv2 = sections.server(os.path.join(tmp, "v"), args=["-v"],
                           env=config(tmp), tls=True)
    raw(srv2).close()
    t.ok(srv2.wait_log(r"connection \S+: gone before a word"),
         "with -v, a scan is a debug line", srv2.text())


class Recorder:
    """A TCP forwarder that records every byte each way."""

    def __init__(self, port):
        self.lsock = socket.create_server(("127.0.0.1", 0))
        self.port = self.lsock.getsockname()[1]
        self.target = port
        self.up = bytearray()
        self.down = bytearray()
        self.threads = [threading.Thread(target=self._serve, daemon=True)]
        self.threads[0].start()
        sections.defer(self.close)

    def _serve(self):
        try:
            client, _ = self.lsock.accept()
        except OSError:
            return
        server = socket.create_connection(("127.0.0.1", self.target), 5)
        for src, dst, rec in ((client, server, self.up),
                              (server, client, self.down)):
            th = threading.Thread(target=self._pump, args=(src, dst, rec),
                                  daemon=True)
            th.start()
            self.threads.append(th)

    @staticmethod
    def _pump(src, dst, rec):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                rec += data
                dst.sendall(data)
        except OSError:
            pass
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def close(self):
        self.lsock.close()


def recording(tmp):
    """Between openssl s_client and ptychatd, only TLS records pass."""
    srv = sections.server(tmp, env=config(tmp), tls=True)
    secret_up, secret_down = "pelican-7193-up", "walrus-4410-down"

    control = Recorder(srv.port)
    c = socket.create_connection(("127.0.0.1", control.port), 5)
    c.sendall(("plain " + secret_up + "\n").encode())
    w = srv.window(1)
    w.wait_text(secret_up)
    w.type("plain " + secret_down + "\r")
    t.ok(wait_for(lambda: secret_down.encode() in control.down) and
         secret_up.encode() in control.up,
         "control: the recorder sees a plain client's text both ways")
    c.close()

    rec = Recorder(srv.port)
    tls = TLSClient(srv.port, target="127.0.0.1:%d" % rec.port)
    w = srv.window(2)
    tls.send(secret_up + "\n")
    t.ok(w.wait_text(secret_up), "a line crosses the relay over TLS")
    w.type(secret_down + "\r")
    t.ok(tls.wait_data(secret_down), "and one comes back")
    up, down = bytes(rec.up), bytes(rec.down)
    t.ok(len(up) > 200 and len(down) > 200 and up[0] == 0x16 and
         down[0] == 0x16, "the relay carried TLS records both ways "
         "(%d and %d bytes)" % (len(up), len(down)))
    t.ok(secret_up.encode() not in up and secret_down.encode() not in down
         and secret_up.encode() not in down and
         secret_down.encode() not in up,
         "and neither line crossed in clear")


sections.run("one port, both kinds", one_port)
sections.run("idle TLS client", tls_idle)
sections.run("key files and --fingerprint", key_files)
sections.run("--require-tls", require_tls)
sections.run("--clients and SIGHUP", clients)
sections.run("ptychat --show-key and --clients", show_key)
sections.run("a client refuses the server's key", refused_key)
if missing_tools("tmux"):
    t.skip("console list", missing_tools("tmux"), tool=True)
else:
    sections.run("console list", console_list)
sections.run("hostile hellos", hostile)
sections.run("port scanner", port_scanner)
sections.run("recording relay", recording)
t.done()
