#!/usr/bin/env python3
# The lobby: --ask holds each new client, with no window, until the
# operator accepts it at the console (or rejects it, or nobody does in
# time); what it sends meanwhile is kept and shown; --max-waiting bounds
# the lobby; accept --remember adds a TLS client's key to --clients;
# --max-window-rate keeps a flood of connections from burying the desktop.
import os
import random
import re
import socket
import ssl
import stat
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from ptytest import (PTYCHATD, SLOW, STANDIN, TAP, Client,  # noqa
                     ConsoleServer, Sections, counts, missing_tools,
                     need_tools, read_text, run, settled, wait_for, zombies)

t = TAP()
need_tools(t, "tmux")
sections = Sections(t)
WAITING = b"ptychatd: waiting for the operator to accept you\n"
FINGERPRINT = r"SHA256:[A-Za-z0-9+/]{43}"


def console(tmp, args="", tls=False):
    con = ConsoleServer(tmp, args=args, tls=tls)
    sections.defer(con.close)
    if not t.ok(con.port, "ptychatd runs with its console", con.screen()):
        raise RuntimeError("no console")
    return con


def has_window(con, n):
    return os.path.exists(os.path.join(con.windows, "%d.pid" % n))


def waiting_client(con):
    c = con.connect()
    t.ok(c.wait_data(WAITING), "a new client hears that it waits",
         c.buf)
    return c


def ask(tmp):
    con = console(tmp, "--ask")
    a = waiting_client(con)
    a.send("said while waiting\n")
    t.ok(con.command("list", r"1\s+127\.0\.0\.1:\d+.*waiting"),
         "list shows it as waiting", con.screen())
    t.ok(not has_window(con, 1), "it has no window")
    t.ok(con.command("accept 1", r"accepted #1"), "accept 1",
         con.screen())
    w = con.window(1)
    t.ok(w is not None and w.wait_text("said while waiting"),
         "its window opens and shows what it said while waiting",
         w and w.text())
    t.ok(w.text().index("Close this window") <
         w.text().index("said while waiting"), "after the banner")
    a.send("and after\n")
    t.ok(w.wait_text("and after"), "and what it says next")
    w.type("welcome\r")
    t.ok(a.wait_data("welcome\n"), "the window's line reaches it")
    t.eq(a.buf.count(b"waiting for the operator"), 1,
         "the waiting line came once")

    b = waiting_client(con)
    t.ok(con.command("reject 2 not today, sorry", r"rejected #2"),
         "reject 2 with a reason", con.screen())
    t.ok(b.wait_eof(), "the rejected client is disconnected")
    t.eq(b.buf, WAITING + b"ptychatd: the operator turned you away: not "
         b"today, sorry\n", "after one line with the reason")
    b2 = waiting_client(con)
    t.ok(con.command("reject 3", r"rejected #3"), "reject 3, no reason")
    t.ok(b2.wait_eof() and b2.buf.endswith(
        b"\nptychatd: the operator turned you away\n"), "one line",
         b2.buf)

    c, d = waiting_client(con), waiting_client(con)
    t.ok(con.command("accept 4 --remember carol",
                     r"not accepted: --remember needs the server started "
                     r"with --clients"), "--remember without --clients "
         "says so", con.screen())
    t.ok(con.command("accept all", r"accepted 2 clients"), "accept all",
         con.screen())
    t.ok(con.window(4) is not None and con.window(5) is not None,
         "both windows open")
    t.ok(not has_window(con, 2) and not has_window(con, 3),
         "no rejected client ever had a window")
    t.ok(con.command("accept 4", r"no client #4 is waiting"),
         "accept of a client no longer waiting says so")
    t.ok(con.command("accept all", r"no client is waiting"),
         "accept all with nobody waiting says so")
    t.ok(con.command("reject x", r"usage: reject N \[REASON\]"),
         "a bad reject says how to use it")
    t.ok(con.command("help", r"accept N --remember NAME"),
         "help lists the lobby's commands")
    for x in (a, c, d):
        x.close()
    t.ok(con.stop(), "SIGTERM stops it with status 0", con.screen())


def end_of_input(tmp):
    """A client that sends a line and ends its input while it waits (nc
    -N, printf | ptychat) still gets its window, with what it sent, and
    hears the reply."""
    logs = os.path.join(tmp, "logs")
    con = console(tmp, "--ask --log-dir " + logs)
    a = waiting_client(con)
    a.send("asked and done\n")
    a.sock.shutdown(socket.SHUT_WR)
    t.ok(con.command("list", r"1\s+127\.0\.0\.1:\d+.*waiting"),
         "it still waits after its end of input", con.screen())
    t.ok(con.command("accept 1", r"accepted #1"), "accept 1")
    w = con.window(1)
    t.ok(w.wait_text("asked and done") and w.wait_text("closed its side"),
         "its window shows its line, then that it stopped sending",
         w.text())
    w.type("answered\r")
    t.ok(a.wait_data("answered\n"), "and the reply reaches it", a.buf)
    t.ok(con.stop(), "SIGTERM stops it with status 0", con.screen())
    text = "".join(read_text(os.path.join(logs, n))
                   for n in os.listdir(logs))
    t.ok(re.search(r"(?s)waiting for the operator.*client closed its side "
                   r"while waiting.*let in from the lobby.*asked and done",
                   text), "the transcript tells the lobby's part", text)


def kick_and_stop(tmp):
    con = console(tmp, "--ask")
    a, b, c = (waiting_client(con) for _ in range(3))
    base_wait = time.monotonic()
    t.ok(con.command("kick 2", r"hung up on #2"), "kick a waiting client",
         con.screen())
    t.ok(b.wait_eof(), "it is disconnected at once (%.2f s)"
         % (time.monotonic() - base_wait))
    t.ok(con.command("list", r"(?s)1\s+127.*waiting.*\n\s+3\s+127.*"
                     r"waiting"), "the others still wait", con.screen())
    t.ok(not re.search(r"\n\s+2\s+127", con.screen()[
        con.screen().rfind("ptychatd> list"):]), "2 is gone from the list")
    start = time.monotonic()
    t.ok(con.stop(), "SIGTERM with clients waiting: status 0",
         con.screen())
    t.ok(a.wait_eof(1) and c.wait_eof(1), "and the waiting clients are "
         "disconnected (%.2f s)" % (time.monotonic() - start))
    t.ok(not has_window(con, 1) and not has_window(con, 3),
         "none of them had a window")


def timeout_and_limits(tmp):
    srv = sections.server(tmp, args=["--ask", "--ask-timeout", "1",
                                     "--max-waiting", "3"])
    # The baseline after one client (a sanitizer starts a thread of its
    # own with the first one).
    first = srv.connect()
    first.wait_data(WAITING)
    first.close()
    srv.wait_log(r"session 1 \S+: nobody accepted it")
    base = settled(lambda: counts(srv))
    start = time.monotonic()
    clients = [srv.connect() for _ in range(3)]
    t.ok(all(c.wait_data(WAITING) for c in clients), "three wait")
    extra = srv.connect()
    t.ok(extra.wait_eof(), "a fourth, beyond --max-waiting 3, is closed")
    t.eq(extra.buf, b"ptychatd: too many clients are waiting; try again "
         b"later\n", "after one line")
    t.ok(all(c.wait_eof(5) for c in clients), "--ask-timeout 1: nobody "
         "accepted them, and they are closed")
    took = time.monotonic() - start
    t.ok(0.9 <= took <= 3 * SLOW, "after about a second (%.2f s)" % took)
    t.ok(all(c.buf == WAITING + b"ptychatd: nobody accepted you in time; "
             b"try again later\n" for c in clients), "each told why",
         [c.buf for c in clients])
    t.ok(srv.wait_log(r"session 4 \S+: nobody accepted it in 1 s"),
         "logged", srv.text())
    t.ok(wait_for(lambda: counts(srv) == base, 5), "fds and threads are "
         "back to %r" % (base,), counts(srv))

    # Too much while waiting: refused; 64 KiB exactly: kept.
    big = srv.connect()
    big.wait_data(WAITING)
    try:
        big.send(b"y" * (64 * 1024 + 1))
    except (BrokenPipeError, ConnectionResetError):
        pass
    t.ok(big.wait_eof(), "a client that sends more than 64 KiB while "
         "waiting is closed")
    t.ok(big.buf.endswith(b"ptychatd: you sent more than 64 KiB while "
                          b"waiting; goodbye\n"), "with one line",
         big.buf[-200:])
    t.eq(os.listdir(srv.windows), [], "no client had a window")


def keeps_64k(tmp):
    con = console(tmp, "--ask")
    a = waiting_client(con)
    line = "z" * 1023 + "\n"
    body = line * 63 + "k" * 1012 + "END-OF-KEPT\n"
    t.eq(len(body), 64 * 1024, "64 KiB to send")
    a.send(body)
    t.ok(wait_for(lambda: con.command(
        "list", r"1\s+127\.0\.0\.1:\d+\s+\S+\s+64\.0k.*waiting", 0.5)),
        "all 64 KiB are in (list)", con.screen())
    t.ok(con.command("accept 1", "accepted #1"), "accepted")
    w = con.window(1)
    t.ok(w is not None and w.wait_text("END-OF-KEPT"), "the window shows "
         "all of it, to the end")
    t.eq(w.text().count("z" * 1023), 63, "every line of it")
    a.close()
    t.ok(con.stop(), "stops with status 0", con.screen())


class LogTimes:
    """Stamps each new line of a log file as it appears."""

    def __init__(self, path, pattern):
        self.path, self.pattern = path, re.compile(pattern)
        self.times, self.stop = [], False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        seen = 0
        while not self.stop:
            text = read_text(self.path)
            end = text.rfind("\n") + 1
            now = time.monotonic()
            for line in text[seen:end].splitlines():
                if self.pattern.search(line):
                    self.times.append(now)
            seen = end
            time.sleep(0.002)

    def close(self):
        self.stop = True
        self.thread.join(5)


def window_rate(tmp):
    """50 clients at once, with the default rate (5 a second) and lobby
    (16 seats): never more than 5 windows in any second; every client gets
    a window or a line."""
    srv = sections.server(tmp, args=["--max-clients", "100"])
    opened = LogTimes(srv.log_path, r"session \d+ \S+: window open")
    socks = []
    for _ in range(50):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", srv.port))
        socks.append(s)
    clients = [Client(s) for s in socks]
    for s in socks:
        s.setblocking(True)

    def windows():
        return len([n for n in os.listdir(srv.windows)
                    if n.endswith(".pid")])

    def all_answered():
        for c in clients:
            if not c.eof:
                c._fill(0.001)
        return sum(c.eof for c in clients) + windows() == 50
    t.ok(wait_for(all_answered, 20), "every client gets a window or is "
         "closed", "%d windows" % windows())
    refused = [c for c in clients if c.eof]
    t.ok(all(c.buf == b"ptychatd: too many clients are waiting; try again "
             b"later\n" for c in refused), "each client turned away got "
         "one line", [c.buf for c in refused][:3])
    want = 50 - len(refused)
    t.ok(wait_for(lambda: len(opened.times) == want, 5),
         "the %d others all get windows, logged" % want,
         "%d logged" % len(opened.times))
    t.ok(1 <= len(refused) <= 50 - 5 - 16, "%d were turned away: the 16 "
         "seats were full" % len(refused))
    t.ok(settled(lambda: len(opened.times), 0.5) == want,
         "and no more windows open")
    opened.close()
    times = opened.times
    # The watcher stamps a line within a few ms of its writing; a
    # sanitizer build may delay the log line after the window by more.
    slack = 0.03 * SLOW
    gaps = [times[i + 5] - times[i] for i in range(len(times) - 5)]
    t.ok(gaps and min(gaps) >= 1.0 - slack, "never more than 5 windows "
         "in a second: the 6th after any one comes %.3f s later at the "
         "least" % (min(gaps) if gaps else 0))
    span = times[-1] - times[0] if times else 0
    t.ok(span >= (want - 1) // 5 - slack, "the %d windows took %.2f s"
         % (want, span))
    for c in clients:
        c.close()


def ask_and_rate(tmp):
    """--ask with a rate of 1 a second: accept all lets them in one by
    one, in order of arrival."""
    con = console(tmp, "--ask --max-window-rate 1")
    clients = [waiting_client(con) for _ in range(3)]
    t.ok(con.command("accept all", "accepted 3 clients"), "accept all")
    t.ok(con.window(1) is not None, "the first window opens")
    t.ok(con.command("list", r"(?s)1\s+127.*open.*\n\s+2\s+127.*waiting"
                     r".*\n\s+3\s+127.*waiting"), "the others wait their "
         "turn", con.screen())
    start = time.monotonic()
    t.ok(con.window(2) is not None and con.window(3) is not None,
         "then they open")
    took = time.monotonic() - start
    t.ok(took >= 1.0, "a second or more apart (%.2f s for two)" % took)
    for c in clients:
        c.close()
    t.ok(con.stop(), "stops with status 0", con.screen())


# A notify-send that writes its arguments, one per line and a blank line
# after, to $LOBBY_NOTES, and picks the action $LOBBY_PICK when it is
# offered one.
PICKER = """#!/bin/sh
for arg in "$@"; do printf '%s\\n' "$arg"; done >> "$LOBBY_NOTES"
echo >> "$LOBBY_NOTES"
for arg in "$@"; do
    case "$arg" in "$LOBBY_PICK"=*) echo "$LOBBY_PICK"; exit 0 ;; esac
done
"""


def notification_actions(tmp):
    """The waiting client's notification: Accept and Reject do what the
    console's accept and reject do."""
    bindir = os.path.join(tmp, "bin")
    os.makedirs(bindir)
    with open(os.path.join(bindir, "notify-send"), "w") as f:
        f.write(PICKER)
    os.chmod(os.path.join(bindir, "notify-send"), 0o755)
    notes = os.path.join(tmp, "notes")
    env = {"PATH": bindir + ":" + os.environ["PATH"], "LOBBY_NOTES": notes,
           "LOBBY_PICK": "accept"}
    srv = sections.server(os.path.join(tmp, "a"), args=["--ask"], env=env,
                          notify=True)
    a = srv.connect()
    a.send("picked\n")
    w = srv.window(1)
    t.ok(w.wait_text("picked"), "Accept on the notification opens the "
         "window, with what the client said while waiting")
    t.ok(srv.wait_log(r"from the notification: accepted #1"), "logged",
         srv.text())
    waiting = [n for n in read_text(notes).split("\n\n")
               if "is waiting" in n]
    t.ok(waiting and "-A\naccept=Accept\n-A\nreject=Reject" in waiting[0],
         "the notification offers Accept and Reject", read_text(notes))
    port = a.sock.getsockname()[1]
    t.ok(waiting and "ptychat: client #1 is waiting" in waiting[0] and
         "127.0.0.1:%d, plain (not encrypted)" % port in waiting[0],
         "and names the client", waiting)

    env["LOBBY_PICK"] = "reject"
    srv = sections.server(os.path.join(tmp, "r"), args=["--ask"], env=env,
                          notify=True)
    b = srv.connect()
    t.ok(b.wait_eof(), "Reject on the notification closes the client")
    t.eq(b.buf, WAITING + b"ptychatd: the operator turned you away\n",
         "after one line")
    t.ok(srv.wait_log(r"from the notification: rejected #1"), "logged")
    t.eq(os.listdir(srv.windows), [], "and it had no window")
    a.close()


def make_key(tmp, name):
    key = os.path.join(tmp, name + ".pem")
    cert = os.path.join(tmp, name + ".cert")
    subprocess.run(["openssl", "req", "-x509", "-subj", "/CN=" + name,
                    "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-days", "1", "-keyout", key, "-out", cert],
                   capture_output=True, check=True)
    return key, cert


class TLS:
    """A TLS client in Python, with a key or without."""

    def __init__(self, port, keypair=None):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        if keypair:
            ctx.load_cert_chain(keypair[1], keypair[0])
        raw = socket.create_connection(("127.0.0.1", port), 5 * SLOW)
        self.sock = ctx.wrap_socket(raw)
        self.client = Client(self.sock)

    def wait_data(self, needle):
        try:
            return self.client.wait_data(needle)
        except ssl.SSLError:
            return False

    def send(self, data):
        self.client.send(data)

    def close(self):
        self.sock.close()


def remember(tmp):
    ann, bob = make_key(tmp, "ann"), make_key(tmp, "bob")
    # The list is reached through a link, which must stay one.
    real = os.path.join(tmp, "real-list")
    listed = os.path.join(tmp, "clients")
    with open(real, "w") as f:
        f.write("# who may come in at once\n")
    os.chmod(real, 0o640)
    os.symlink(real, listed)
    con = console(tmp, "--ask --clients %s" % listed, tls=True)
    a = TLS(con.port, ann)
    t.ok(a.wait_data(WAITING), "a TLS client hears the waiting line over "
         "TLS")
    a.send("ann, early\n")
    t.ok(con.command("list", r"1\s+127.*waiting\s+" + FINGERPRINT),
         "list shows it waiting, with its key", con.screen())
    t.ok(con.command("accept 1 --remember Ann Smith",
                     r"accepted #1; its key (" + FINGERPRINT + r") is "
                     r"remembered as Ann Smith"), "accept --remember",
         con.screen())
    w = con.window(1)
    t.ok(w is not None and w.wait_text("ann, early"), "its window shows "
         "what it said while waiting")
    m = re.search(r"its key (\S+) is remembered", con.screen())
    fp = m.group(1) if m else None
    t.ok("(Ann Smith)" in w.text(), "the banner names it", w.text())
    text = read_text(listed)
    t.eq(text, "# who may come in at once\n%s Ann Smith\n" % fp,
         "the key is added to the --clients file")
    t.eq(stat.S_IMODE(os.stat(real).st_mode), 0o640,
         "which keeps its mode")
    t.ok(os.path.islink(listed) and os.path.realpath(listed) == real,
         "the link to it is still a link")
    t.ok(not any(n.startswith(("clients.", "real-list."))
                 for n in os.listdir(tmp)),
         "and no temporary file is left beside it", os.listdir(tmp))

    a2 = TLS(con.port, ann)
    a2.send("ann again\n")
    w2 = con.window(2)
    t.ok(w2 is not None and w2.wait_text("ann again"), "next time the key "
         "is let in at once")
    t.ok(WAITING not in a2.client.buf, "without the waiting line")

    b = TLS(con.port, bob)
    t.ok(b.wait_data(WAITING), "another key waits")
    nokey = TLS(con.port)
    t.ok(nokey.wait_data(WAITING), "so does a client with no key")
    t.ok(con.command("accept 4 --remember Nobody",
                     r"not accepted: #4 has no key to remember"),
         "which cannot be remembered", con.screen())
    t.ok(con.command("accept 3 --remember " + "x" * 70,
                     r"not accepted: .*clients:"), "a bad name is refused "
         "and the file left as it was", con.screen())
    t.eq(read_text(listed), text, "(unchanged)")
    t.ok(con.command("reject 3 go away", "rejected #3"), "reject the key")
    t.ok(b.wait_data(b"ptychatd: the operator turned you away: go away\n"),
         "the TLS client gets the line over TLS", b.client.buf)
    t.ok(con.command("reject 4", "rejected #4"), "reject the keyless one")
    for x in (a, a2, b, nokey):
        x.close()
    t.ok(con.stop(), "stops with status 0", con.screen())


def hang_up_when_accepted(tmp):
    """A client hangs up just as it is accepted, round after round: each
    session ends, no fd or thread is left, and (under TSan) no race."""
    term = ("%s --dir %s --name %%n --when client\\sis\\sgone --close "
            "--when closed\\sits\\sside --close" % (STANDIN,
                                                    os.path.join(tmp, "w")))
    os.makedirs(os.path.join(tmp, "w"))
    con = console(tmp, "--ask --max-window-rate 0 --ask-timeout 0 -t '%s'"
                  % term)
    c = waiting_client(con)
    # A reset, not an end of input: a client that only stops sending
    # still waits for its window.
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                      b"\x01\x00\x00\x00\x00\x00\x00\x00")
    c.close()
    con.command("list", "no sessions")
    base = settled(lambda: counts(con))
    budget = 40.0 if SLOW <= 1 else 25.0
    start, rounds = time.monotonic(), 0
    rnd = random.Random(10)
    while rounds < 300 and time.monotonic() - start < budget:
        rounds += 1
        c = con.connect()
        if not c.wait_data(WAITING):
            break
        # The console's accept and the hang-up race each other, each
        # after a jitter of its own, so that either may come first (the
        # typing takes a few ms to reach the console).
        typist = threading.Timer(rnd.uniform(0, 0.01 * SLOW), con.type,
                                 args=("accept %d" % (rounds + 1),))
        typist.start()
        time.sleep(rnd.uniform(0, 0.02 * SLOW))
        if rounds % 2:
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                              b"\x01\x00\x00\x00\x00\x00\x00\x00")
        c.close()
        typist.join()
    t.ok(rounds >= 50, "%d rounds in %.1f s" % (rounds,
                                                time.monotonic() - start))
    opened = len([n for n in os.listdir(os.path.join(tmp, "w"))
                  if n.endswith(".out")])
    t.ok(0 < opened < rounds, "the race went both ways: %d of %d were "
         "let in before they were seen gone" % (opened, rounds))
    t.ok(wait_for(lambda: counts(con) == base, 20),
         "every session ended: fds and threads back to %r" % (base,),
         counts(con))
    t.ok(con.command("list", "no sessions"), "the list is empty",
         con.screen())
    t.eq(zombies(con.pid), [], "no zombie")
    t.ok(con.stop(), "SIGTERM stops it with status 0", con.screen())


def bad_values(tmp):
    for option, value, want in (
            ("--ask-timeout", "-1", "use a number from 0 to 604800"),
            ("--max-waiting", "0", "use a number from 1 to 100000"),
            ("--max-window-rate", "1001", "use a number from 0 to 1000"),
            ("--max-window-rate", "five", "use a number from 0 to 1000")):
        status, out, err = run([PTYCHATD, option, value])
        t.ok(status == 2 and "invalid %s '%s': %s" % (option, value, want)
             in err, "%s %s is a usage error" % (option, value), err)


sections.run("bad values", bad_values)
sections.run("--ask: wait, accept, reject", ask)
sections.run("end of input while waiting", end_of_input)
sections.run("kick and stop while waiting", kick_and_stop)
sections.run("--ask-timeout, --max-waiting, too much", timeout_and_limits)
sections.run("64 KiB kept", keeps_64k)
sections.run("--max-window-rate: 50 at once", window_rate)
sections.run("--ask with a rate", ask_and_rate)
sections.run("Accept and Reject on the notification", notification_actions)
if missing_tools("openssl"):
    t.skip("accept --remember", missing_tools("openssl"), tool=True)
else:
    sections.run("accept --remember with TLS keys", remember)
sections.run("hang-up at the moment of accept", hang_up_when_accepted)
t.done()
