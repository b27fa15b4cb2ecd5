#!/usr/bin/env python3
# ptychat's side of trust (issue 9): TLS by default, the server's key
# remembered on first use and checked ever after, --fingerprint, exit 3
# with nothing sent when a key is not the right one, a clear line and
# exit 1 for a server that does not speak TLS (never clear text instead),
# --no-tls for plain servers, and its own key file and modes.  Servers:
# openssl s_server and ncat --ssl -l with keys made here by openssl, socat
# in front of a plain listener, plain listeners of our own.  Every party
# has a private XDG_CONFIG_HOME.
import base64
import hashlib
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from ptytest import (PTYCHAT, PTYCHATD, SLOW, TAP, Sections,  # noqa: E402
                     children_of, free_port, kill_all, missing_tools,
                     need_tools, run, wait_for)

TIMEOUT = 10.0 * SLOW
# ptychat gives a server that sends nothing back this long (src/ptychat.c
# CLIENT_SILENCE_MS), well before the handshake's 10 s.
SILENCE = 3.0
CLOSED = "ptychat: connection closed by server\n"

t = TAP()
need_tools(t, "openssl")
sections = Sections(t)
procs = []


def party(tmp, name):
    """The environment of one user: a home and a configuration of its
    own."""
    home = os.path.join(tmp, name)
    os.makedirs(home)
    return dict(os.environ, HOME=home,
                XDG_CONFIG_HOME=os.path.join(home, "config"))


def config(env, name=""):
    return os.path.join(env["XDG_CONFIG_HOME"], "ptychat", name).rstrip("/")


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        return None


def make_key(tmp, name):
    """A P-256 key and a self-signed certificate, made by openssl."""
    key = os.path.join(tmp, name + ".key")
    cert = os.path.join(tmp, name + ".crt")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "2", "-subj", "/CN=" + name],
                   check=True, capture_output=True, timeout=TIMEOUT)
    return key, cert


def fingerprint(key):
    """SHA256: and unpadded base64 of the DER public key, by openssl and
    Python alone."""
    der = subprocess.run(["openssl", "pkey", "-in", key, "-pubout",
                          "-outform", "DER"], check=True,
                         capture_output=True, timeout=TIMEOUT).stdout
    return "SHA256:" + base64.b64encode(
        hashlib.sha256(der).digest()).decode().rstrip("=")


class Output:
    """Collects what a pipe delivers, in a thread of its own."""

    def __init__(self, pipe):
        self.data = b""
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._pump, args=(pipe,),
                                       daemon=True)
        self.thread.start()

    def _pump(self, pipe):
        for chunk in iter(lambda: os.read(pipe.fileno(), 65536), b""):
            with self.lock:
                self.data += chunk

    def text(self):
        with self.lock:
            return self.data.decode("utf-8", "replace")

    def wait(self, needle, timeout=TIMEOUT):
        return wait_for(lambda: needle in self.text(), timeout)


class SServer:
    """openssl s_server with a key and certificate, on 127.0.0.1 port."""

    def __init__(self, key, cert, port):
        self.port = port
        self.proc = subprocess.Popen(
            ["openssl", "s_server", "-tls1_3", "-key", key, "-cert", cert,
             "-accept", "127.0.0.1:%d" % port], bufsize=0,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT)
        procs.append(self.proc)
        self.out = Output(self.proc.stdout)
        if not self.out.wait("ACCEPT"):
            self.stop()
            raise RuntimeError("s_server did not start: " + self.out.text())

    def say(self, text):
        self.proc.stdin.write(text.encode())

    def stop(self):
        """Stops it; the port is free again once it has exited."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.proc.stdin.close()


class NServer(SServer):
    """ncat --ssl -l with a key and certificate, on 127.0.0.1 port; -k: it
    takes one connection after another, and what it is given goes to
    each.  Its output is what its clients sent, and only that."""

    def __init__(self, key, cert, port):
        self.port = port
        self.proc = subprocess.Popen(
            ["ncat", "-l", "-k", "--ssl", "--ssl-key", key, "--ssl-cert",
             cert, "127.0.0.1", str(port)], bufsize=0,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL)
        procs.append(self.proc)
        self.out = Output(self.proc.stdout)
        if not wait_for(lambda: port_listening(port), TIMEOUT):
            self.stop()
            raise RuntimeError("ncat did not listen")


def openssl_fingerprint(key):
    """The fingerprint as a person would make it with openssl and base64:
    openssl pkey -pubout -outform DER | openssl dgst -sha256 -binary |
    base64, less the padding."""
    der = subprocess.run(["openssl", "pkey", "-in", key, "-pubout",
                          "-outform", "DER"], check=True,
                         capture_output=True, timeout=TIMEOUT).stdout
    digest = subprocess.run(["openssl", "dgst", "-sha256", "-binary"],
                            input=der, check=True, capture_output=True,
                            timeout=TIMEOUT).stdout
    b64 = subprocess.run(["base64"], input=digest, check=True,
                         capture_output=True, timeout=TIMEOUT).stdout
    return "SHA256:" + b64.decode().strip().rstrip("=")


class Client:
    """ptychat as env's user, with its output collected."""

    def __init__(self, env, args):
        # Unbuffered: a write that meets a closed pipe leaves nothing
        # behind to fail again at the close.
        self.proc = subprocess.Popen([PTYCHAT] + args, env=env, bufsize=0,
                                     stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        procs.append(self.proc)
        self.out = Output(self.proc.stdout)
        self.err = Output(self.proc.stderr)

    def type(self, text):
        self.proc.stdin.write(text.encode())

    def end_input(self):
        self.proc.stdin.close()

    def finish(self):
        """The exit status (None if it had to be killed), and stderr."""
        try:
            self.proc.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None, self.err.text()
        self.err.thread.join(TIMEOUT)
        return self.proc.returncode, self.err.text()


def refused(env, args, text):
    """Runs ptychat with text on its input, all of it at once; returns
    (status, stderr)."""
    c = Client(env, args)
    try:
        c.type(text)
        c.end_input()
    except BrokenPipeError:
        pass
    return c.finish()


def talk(env, args, srv, line, reply):
    """ptychat as env's user says line to s_server srv, which answers
    reply; then ptychat's input ends.  Returns (status, stderr, whether
    the line arrived, whether the reply arrived)."""
    c = Client(env, args + ["127.0.0.1", str(srv.port)])
    c.type(line + "\n")
    heard = srv.out.wait(line)
    if heard:
        srv.say(reply + "\n")
    answered = heard and c.out.wait(reply)
    # Its close_notify ends s_server's side too: ptychat exits 0.
    c.end_input()
    status, err = c.finish()
    return status, err, heard, answered


def first_use(tmp):
    key, cert = make_key(tmp, "server")
    fp = fingerprint(key)
    env = party(tmp, "alice")
    srv = SServer(key, cert, free_port())
    try:
        status, err, heard, answered = talk(env, [], srv, "hello over TLS",
                                            "hello from s_server")
        hosts = config(env, "known_hosts")
        t.eq(status, 0, "first use: exit 0 when the server closes")
        t.ok(heard and answered, "first use: text crosses both ways",
             srv.out.text()[-500:])
        t.eq(err, "ptychat: new server 127.0.0.1 port %d, key %s "
             "(remembered in %s)\n" % (srv.port, fp, hosts) + CLOSED,
             "first use: one line names the server and its key, as "
             "openssl computes it, and the file")
        t.eq(read(hosts), "127.0.0.1 %d %s\n" % (srv.port, fp),
             "first use: known_hosts holds host, port and key")
        mode = os.stat(config(env)).st_mode
        t.ok(stat.S_ISDIR(mode) and stat.S_IMODE(mode) == 0o700,
             "first use: the configuration directory is made 0700",
             oct(mode))
        mode = os.stat(config(env, "ptychat.key")).st_mode
        t.eq(oct(stat.S_IMODE(mode)), oct(0o600),
             "first use: ptychat.key is made 0600")
        before = read(hosts)

        status, err, heard, answered = talk(env, [], srv, "second time",
                                            "welcome back")
        t.ok(status == 0 and heard and answered,
             "second use: it talks", (status, err))
        t.eq(err, CLOSED, "second use: nothing said about the key")
        t.eq(read(hosts), before, "second use: known_hosts unchanged")

        status, err, heard, answered = talk(env, ["-v"], srv, "verbose",
                                            "verbose reply")
        t.eq(err, "ptychat: server 127.0.0.1 port %d, key %s, as "
             "remembered\n" % (srv.port, fp) + CLOSED,
             "-v: the key, known, is named")

        # The host as typed: another name for the same server is another
        # entry.
        if "127.0.0.1" in [a[4][0] for a in socket.getaddrinfo(
                "localhost", srv.port, socket.AF_INET)]:
            c = Client(env, ["-4", "localhost", str(srv.port)])
            c.type("by name\n")
            srv.out.wait("by name")
            c.end_input()
            status, err = c.finish()
            t.ok(status == 0 and err.startswith(
                "ptychat: new server localhost port %d, key %s" %
                (srv.port, fp)), "the host as typed: localhost is a new "
                "entry", err)
            t.eq(read(hosts), before + "localhost %d %s\n" % (srv.port, fp),
                 "the host as typed: recorded under its own name")
        else:
            t.skip("the host as typed", "localhost is not 127.0.0.1", 2)
    finally:
        srv.stop()


def changed_key(tmp):
    key1, cert1 = make_key(tmp, "before")
    key2, cert2 = make_key(tmp, "after")
    fp1, fp2 = fingerprint(key1), fingerprint(key2)
    env = party(tmp, "alice")
    hosts = config(env, "known_hosts")
    port = free_port()
    srv = SServer(key1, cert1, port)
    try:
        status, _, heard, _ = talk(env, ["-q"], srv, "first", "ok")
        t.ok(status == 0 and heard, "changed key: the first key is "
             "remembered", status)
    finally:
        srv.stop()
    # A comment and a blank line before it: the line to delete is 3.
    with open(hosts) as f:
        entry = f.read()
    with open(hosts, "w") as f:
        f.write("# known servers\n\n" + entry)
    srv = SServer(key2, cert2, port)
    try:
        status, err = refused(env, ["127.0.0.1", str(port)],
                              "secret words\n")
        t.eq(status, 3, "changed key: exit 3")
        lines = err.splitlines()
        t.eq(lines[:1], ["ptychat: WARNING: the key of 127.0.0.1 port %d "
                         "has CHANGED" % port],
             "changed key: the first line says so, loudly")
        t.ok(len(lines) >= 5 and all(l.startswith("ptychat: ")
                                     for l in lines),
             "changed key: several lines, each ptychat's", err)
        t.ok(re.search(r"remembered: +%s\n" % re.escape(fp1), err) and
             re.search(r"presented: +%s\n" % re.escape(fp2), err),
             "changed key: both keys, the remembered and the presented",
             err)
        t.ok(re.search(r"delete line 3 of %s" % re.escape(hosts), err),
             "changed key: the file and the line to delete", err)
        t.ok("Nothing was sent" in err, "changed key: says nothing was "
             "sent", err)
        t.eq(read(hosts), "# known servers\n\n" + entry,
             "changed key: known_hosts untouched")
        # Proof of nothing: a marker sent afterwards arrives alone.
        status, _, heard, _ = talk(env, ["-q", "--fingerprint", fp2], srv,
                                   "marker after the refusal", "ok")
        t.ok(status == 0 and heard, "changed key: a later connection, "
             "pinned, gets through", status)
        t.ok("secret words" not in srv.out.text(),
             "changed key: s_server never saw the text typed",
             srv.out.text()[-400:])
        t.eq(read(hosts), "# known servers\n\n" + entry,
             "pinned: known_hosts untouched")

        # Deleting the line, as told, makes it new again.
        with open(hosts, "w") as f:
            f.write("# known servers\n\n")
        status, err, heard, _ = talk(env, [], srv, "after deleting", "ok")
        t.ok(status == 0 and heard and "new server 127.0.0.1 port %d, "
             "key %s" % (port, fp2) in err,
             "changed key: once the line is deleted, the new key is "
             "remembered", err)
    finally:
        srv.stop()


def pinning_against(tmp, server, fingerprint_of, name):
    """ptychat --fingerprint against server (SServer, NServer), its key
    and another's fingerprints made by fingerprint_of."""
    key1, _ = make_key(tmp, "other")
    key2, cert2 = make_key(tmp, name)
    fp1, fp2 = fingerprint_of(key1), fingerprint_of(key2)
    env = party(tmp, "bob")
    srv = server(key2, cert2, free_port())
    try:
        status, err, heard, answered = talk(env, ["--fingerprint", fp2],
                                            srv, "pinned hello",
                                            "pinned reply")
        t.ok(status == 0 and heard and answered,
             "%s, pin right: it talks, both ways" % name,
             (status, err, srv.out.text()[-300:]))
        t.eq(err, CLOSED, "%s, pin right: nothing said about the key"
             % name)
        t.ok(not os.path.exists(config(env, "known_hosts")),
             "%s, pin right: no known_hosts written" % name)

        status, err = refused(env, ["--fingerprint", fp1, "127.0.0.1",
                                    str(srv.port)], "pinned secret\n")
        t.eq(status, 3, "%s, pin wrong: exit 3" % name)
        t.ok(err.startswith("ptychat: WARNING: the key of 127.0.0.1 port "
                            "%d is NOT the one given with --fingerprint\n"
                            % srv.port) and
             re.search(r"expected: +%s\n" % re.escape(fp1), err) and
             re.search(r"presented: +%s\n" % re.escape(fp2), err),
             "%s, pin wrong: a warning with both keys" % name, err)
        status, _, heard, _ = talk(env, ["--fingerprint", fp2], srv,
                                   "marker after the pin", "ok")
        t.ok(heard and "pinned secret" not in srv.out.text(),
             "%s, pin wrong: it never got the text typed" % name,
             srv.out.text()[-400:])
        t.ok(not os.path.exists(config(env, "known_hosts")),
             "%s, pin wrong: no known_hosts written" % name)
    finally:
        srv.stop()


def pinning(tmp):
    pinning_against(tmp, SServer, fingerprint, "s_server")


def ncat_pinning(tmp):
    """The same against ncat --ssl -l, the pins made with openssl and
    base64 as a person would."""
    reason = missing_tools("ncat", "base64")
    if reason:
        t.skip("ncat --ssl -l", reason, 7, tool=True)
        return
    pinning_against(tmp, NServer, openssl_fingerprint, "ncat")


def plain_server(kind, env):
    """ptychat, TLS, against a plain server that greets, stays silent or
    closes at once: returns (status, stderr, seconds, bytes received)."""
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(1)
    lst.settimeout(TIMEOUT)
    port = lst.getsockname()[1]
    start = time.monotonic()
    c = Client(env, ["127.0.0.1", str(port)])
    c.type("clear secret\n")
    got = b""
    try:
        conn, _ = lst.accept()
        if kind == "greets":
            conn.sendall(b"welcome to a plain server\r\n")
        elif kind == "closes":
            conn.close()
        if kind != "closes":
            # Until ptychat is gone: everything it ever sent.
            conn.settimeout(TIMEOUT)
            try:
                for data in iter(lambda: conn.recv(65536), b""):
                    got += data
            except (socket.timeout, ConnectionError):
                pass
            conn.close()
    finally:
        lst.close()
    status, err = c.finish()
    return status, err, time.monotonic() - start, got


def not_tls(tmp):
    env = party(tmp, "carol")
    for kind in ("greets", "stays silent", "closes"):
        status, err, seconds, got = plain_server(kind, env)
        t.eq((status, re.sub(r"port \d+", "port N", err)),
             (1, "ptychat: 127.0.0.1 port N does not speak TLS; use "
              "--no-tls for a plain server\n"),
             "a plain server that %s: exit 1, one line naming --no-tls"
             % kind)
        if kind != "closes":
            t.ok(got[:1] == b"\x16" and b"clear secret" not in got,
                 "a plain server that %s: it got a TLS hello, never the "
                 "text" % kind, got[:40])
        if kind == "stays silent":
            t.ok(SILENCE - 0.5 <= seconds < 10.0,
                 "a plain server that stays silent: given up after about "
                 "%.0f s, before the handshake's 10 s" % SILENCE,
                 "%.1f s" % seconds)

    # --no-tls: the same kind of server, and plain talk.
    env = party(tmp, "dave")
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(1)
    lst.settimeout(TIMEOUT)
    c = Client(env, ["--no-tls", "127.0.0.1", str(lst.getsockname()[1])])
    try:
        conn, _ = lst.accept()
        conn.settimeout(TIMEOUT)
        conn.sendall(b"plain welcome\n")
        t.ok(c.out.wait("plain welcome"), "--no-tls: the plain server's "
             "line is shown")
        c.type("plain answer\n")
        c.end_input()
        got = b""
        for data in iter(lambda: conn.recv(65536), b""):
            got += data
        t.eq(got, b"plain answer\n", "--no-tls: the line typed arrives "
             "in clear, then the end of input")
        conn.close()
    finally:
        lst.close()
    status, err = c.finish()
    t.eq((status, err), (0, CLOSED), "--no-tls: exit 0")
    t.ok(not os.path.exists(env["XDG_CONFIG_HOME"]),
         "--no-tls: no key made, no file touched")


def key_files(tmp):
    env = party(tmp, "erin")
    os.makedirs(env["XDG_CONFIG_HOME"])
    # A first run makes the key (the connection is refused: no server).
    port = free_port()
    status, err = refused(env, ["127.0.0.1", str(port)], "")
    key = config(env, "ptychat.key")
    t.eq((status, err), (1, "ptychat: connect to 127.0.0.1 port %d: "
                         "Connection refused\n" % port),
         "TLS, nothing listening: exit 1, the same one line as ever")
    t.ok(os.path.exists(key) and
         stat.S_IMODE(os.stat(key).st_mode) == 0o600 and
         stat.S_IMODE(os.stat(config(env)).st_mode) == 0o700,
         "the key is made 0600 in a 0700 directory")
    with open(key) as f:
        pem = f.read()
    t.ok("PRIVATE KEY" in pem, "the key file is a PEM private key")
    fp = fingerprint(key)
    # A second run keeps it.
    refused(env, ["127.0.0.1", str(port)], "")
    t.eq(fingerprint(key), fp, "a second run keeps the same key")

    os.chmod(key, 0o640)
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(1)
    try:
        status, err = refused(env, ["127.0.0.1",
                                    str(lst.getsockname()[1])], "text\n")
        t.eq(status, 1, "a group-readable key: exit 1")
        t.ok(err.count("\n") == 1 and "chmod 600 %s" % key in err,
             "a group-readable key: one line that says 'chmod 600 FILE'",
             err)
        lst.setblocking(False)
        try:
            lst.accept()[0].close()
            connected = True
        except BlockingIOError:
            connected = False
        t.ok(not connected, "a group-readable key: refused before "
             "connecting")
    finally:
        lst.close()
    t.eq(stat.S_IMODE(os.stat(key).st_mode), 0o640,
         "a group-readable key: left as it was")


def usage(tmp):
    env = party(tmp, "frank")
    for args, want in (
            (["--fingerprint", "SHA256:short", "127.0.0.1"],
             "ptychat: invalid fingerprint 'SHA256:short': use SHA256: and "
             "43 base64 characters"),
            (["--fingerprint", "MD5:" + "A" * 43, "127.0.0.1"],
             "ptychat: invalid fingerprint 'MD5:%s': use SHA256: and 43 "
             "base64 characters" % ("A" * 43)),
            (["--fingerprint", "SHA256:" + "A" * 43, "--no-tls",
              "127.0.0.1"],
             "ptychat: --fingerprint and --no-tls cannot be used "
             "together")):
        status, err = refused(env, args, "")
        t.ok(status == 2 and err.startswith(want + "\nusage: ptychat"),
             "usage: %s" % want[len("ptychat: "):], (status, err))
    t.ok(not os.path.exists(env["XDG_CONFIG_HOME"]),
         "usage errors make no key")


def tls_both_ways(tmp):
    """Through socat, a TLS terminator in front of a plain listener: the
    bytes, a megabyte each way at once, and the half close."""
    need = shutil.which("socat")
    if need is None:
        t.skip("TLS both ways", "not installed: socat", 4, tool=True)
        return
    key, cert = make_key(tmp, "socat")
    env = party(tmp, "gina")
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(1)
    lst.settimeout(TIMEOUT)
    port = free_port()
    # -t: after one side's end, the other side has this long to finish.
    socat = subprocess.Popen(
        ["socat", "-t", "30", "OPENSSL-LISTEN:%d,bind=127.0.0.1,reuseaddr,"
         "cert=%s,key=%s,verify=0" % (port, cert, key),
         "TCP:127.0.0.1:%d" % lst.getsockname()[1]],
        stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)
    procs.append(socat)
    try:
        if not wait_for(lambda: port_listening(port), TIMEOUT):
            raise RuntimeError("socat did not listen")
        down = os.urandom(1 << 20) + bytes(range(256))
        up = os.urandom(1 << 20) + bytes(range(256))
        c = subprocess.Popen([PTYCHAT, "-q", "127.0.0.1", str(port)],
                             env=env, stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        procs.append(c)
        conn, _ = lst.accept()
        conn.settimeout(TIMEOUT)
        received = []

        def serve():
            sender = threading.Thread(target=conn.sendall, args=(down,))
            sender.start()
            got = b""
            try:
                for data in iter(lambda: conn.recv(65536), b""):
                    got += data
                received.append(got)
            except (socket.timeout, ConnectionError):
                pass
            sender.join(TIMEOUT)
            # Answers after the client's end of input still arrive.
            conn.sendall(b"after your end")
            conn.close()

        th = threading.Thread(target=serve)
        th.start()
        try:
            out, err = c.communicate(up, TIMEOUT)
        except subprocess.TimeoutExpired:
            c.kill()
            out, err = c.communicate()
        th.join(TIMEOUT)
        t.ok(received == [up], "TLS: 1 MiB from stdin reaches the server "
             "exactly, then its end", "got %r bytes"
             % [len(r) for r in received])
        t.ok(out == down + b"after your end", "TLS: 1 MiB from the server "
             "reaches stdout exactly, at the same time, and a reply after "
             "the client's end", "got %d bytes" % len(out))
        t.eq(c.returncode, 0, "TLS: exit 0 when the server closes")
        t.ok(b"new server" not in err, "TLS: -q keeps the new key quiet",
             err)
    finally:
        socat.kill()
        socat.wait()
        lst.close()


def real_server(tmp):
    """ptychat and ptychatd, each with a configuration of its own and no
    flags: TLS, both keys shown to the other side."""
    srv = sections.server(os.path.join(tmp, "tls"), tls=True)
    m = srv.wait_log(r"TLS key (SHA256:\S+)")
    server_fp = m.group(1) if m else None
    status, out, _ = run([PTYCHATD, "--fingerprint"])
    t.ok(status == 0 and server_fp is not None and
         out == server_fp + "\n", "ptychatd: its log and --fingerprint "
         "name the same key", (server_fp, out))
    env = party(tmp, "alice")
    c = Client(env, ["127.0.0.1", str(srv.port)])
    c.type("hello operator\n")
    w = srv.window(1)
    t.ok(w.wait_text("hello operator"), "ptychatd: the client's line "
         "reaches its window", w.text()[-300:])
    client_fp = fingerprint(config(env, "ptychat.key"))
    t.ok("TLS, key %s" % client_fp in w.text() and
         srv.wait_log(r"session 1 \S+: connected: TLS, key %s"
                      % re.escape(client_fp)),
         "ptychatd: the window and the log show ptychat.key's "
         "fingerprint, as openssl computes it", w.text()[:400])
    w.type("hello client\r")
    t.ok(c.out.wait("hello client"), "ptychatd: the operator's line "
         "reaches ptychat")
    c.end_input()
    t.ok(srv.wait_log(r"session 1 \S+: client closed its side"),
         "ptychatd: ptychat's end of input is the end of its side")
    w.close()
    status, err = c.finish()
    t.eq((status, err), (0, "ptychat: new server 127.0.0.1 port %d, key %s "
                         "(remembered in %s)\n" % (srv.port, server_fp,
                                                   config(env,
                                                          "known_hosts")) +
                         CLOSED),
         "ptychatd: ptychat names the key of ptychatd --fingerprint, and "
         "exits 0 when the window closes")

    # A ptychatd without TLS takes the hello for text: ptychat gives up.
    plain = sections.server(os.path.join(tmp, "plain"), args=["--no-tls"])
    c = Client(env, ["127.0.0.1", str(plain.port)])
    c.type("clear secret\n")
    status, err = c.finish()
    t.eq((status, err), (1, "ptychat: 127.0.0.1 port %d does not speak "
                         "TLS; use --no-tls for a plain server\n"
                         % plain.port),
         "ptychatd --no-tls: ptychat says it does not speak TLS, exit 1")
    # ptychat has exited: its side is closed, all it sent is in.
    t.ok(plain.wait_log(r"session 1 \S+: client closed its side") and
         "clear secret" not in plain.window(1).text(),
         "ptychatd --no-tls: its window never shows the text typed",
         plain.window(1).text()[-300:])
    c = Client(env, ["--no-tls", "127.0.0.1", str(plain.port)])
    c.type("in clear, as asked\n")
    w = plain.window(2)
    t.ok(w.wait_text("in clear, as asked"), "ptychatd --no-tls: ptychat "
         "--no-tls talks to it")
    c.end_input()
    w.close()
    t.eq(c.finish(), (0, CLOSED), "ptychatd --no-tls: and exits 0")

    # --require-tls: ptychat --no-tls hears why it is turned away.
    strict = sections.server(os.path.join(tmp, "strict"),
                             args=["--require-tls"], tls=True)
    c = Client(env, ["--no-tls", "127.0.0.1", str(strict.port)])
    t.ok(c.out.wait("ptychatd: this server requires TLS; connect with "
                    "ptychat"), "ptychatd --require-tls: ptychat --no-tls "
         "shows its line", c.out.text())
    c.end_input()
    t.eq(c.finish(), (0, CLOSED), "ptychatd --require-tls: exit 0 when it "
         "closes")


def port_listening(port):
    """Whether something listens on 127.0.0.1 port, from /proc/net/tcp:
    a test connection would be taken for the client."""
    want = "0100007F:%04X" % port
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[1] == want and fields[3] == "0A":
                return True
    return False


try:
    sections.run("first use", first_use)
    sections.run("changed key", changed_key)
    sections.run("pinning", pinning)
    sections.run("pinning against ncat", ncat_pinning)
    sections.run("not TLS", not_tls)
    sections.run("key files", key_files)
    sections.run("usage", usage)
    sections.run("TLS both ways", tls_both_ways)
    sections.run("ptychatd over TLS", real_server)
finally:
    kill_all(procs)
wait_for(lambda: children_of(os.getpid()) == [], 2.0)
t.eq(children_of(os.getpid()), [], "no process is left behind")
t.done()
