#!/usr/bin/env python3
# The chat line in a window: the operator types a line a key at a time
# while the client keeps talking, and the client receives exactly the
# line that was typed; the half-typed line is drawn again, whole, under
# each incoming message; editing keys, history, UTF-8, timestamps, and
# --plain (no chat line).  Then the same for the ptychat client on a pty.
import fcntl
import os
import pty
import re
import select
import socket
import struct
import subprocess
import sys
import termios
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from ptytest import PTYCHAT, TAP, Sections, wait_for  # noqa: E402

t = TAP()
LEFT, RIGHT, HOME, END, UP = "\x1b[D", "\x1b[C", "\x1b[H", "\x1b[F", "\x1b[A"


class Chatter(threading.Thread):
    """Sends a numbered line every few milliseconds until stopped."""

    def __init__(self, client):
        super().__init__(daemon=True)
        self.client, self.sent, self.stop = client, 0, threading.Event()

    def run(self):
        while not self.stop.is_set() and self.sent < 2000:
            self.sent += 1
            self.client.send("chatter %d\n" % self.sent)
            time.sleep(0.003)


sections = Sections(t)
section = sections.with_server


def typing_under_fire(srv):
    c = srv.connect()
    w = srv.window(1)
    t.ok(wait_for(lambda: "> " in w.text().split("hang up.")[-1]),
         "the window shows the '> ' prompt after its banner",
         repr(w.text()[-80:]))
    chatter = Chatter(c)
    chatter.start()
    line = "the quick brown fox jumps over the lazy dog, one key at a time"
    for ch in line:
        w.type(ch)
        time.sleep(0.004)
    # Half typed, with messages arriving: the line is drawn again whole.
    half = "> " + line
    before = w.text()
    t.ok(wait_for(lambda: half in w.text()[len(before):]),
         "after a message arrives, the half-typed line is drawn again, "
         "whole")
    w.type("\r")
    t.ok(c.wait_data(line + "\n"), "the client receives the line",
         c.buf[-200:])
    chatter.stop.set()
    chatter.join()
    t.eq(c.buf, (line + "\n").encode(),
         "exactly the line typed, though %d messages arrived meanwhile"
         % chatter.sent)
    text = w.text()
    t.ok(all("chatter %d\r\n" % i in text for i in (1, chatter.sent // 2,
                                                    chatter.sent))
         or w.wait_text("chatter %d\r\n" % chatter.sent),
         "the client's messages are shown above the line")
    t.ok(w.wait_text("you: " + line), "the sent line is shown as 'you: ...'")


def editing(srv):
    c = srv.connect()
    w = srv.window(1)
    keys = [
        ("helo" + LEFT + "l" + END + " world\r", "hello world"),
        ("typo\x7f\x7f\x7f\x7fright\r", "right"),          # DEL
        ("typo\x08\x08fixed\r", "tyfixed"),                   # ^H
        ("discard this\x15kept\r", "kept"),                   # ^U
        ("one two\x17three\r", "one three"),                  # ^W
        ("middle" + HOME + "start " + END + " end\r", "start middle end"),
        ("\x01A\x05Z\r", "AZ"),                               # ^A ^E
        ("caf\u00e9 \u2615 \u6f22\x7f!\r", "caf\u00e9 \u2615 !"),
        (UP + "\r", "caf\u00e9 \u2615 !"),                    # history
        (UP + UP + "\r", "AZ"),
        ("\x04\x03not a signal\r", "not a signal"),           # ^D ^C
        ("\r", ""),                                           # empty line
    ]
    want = b""
    for typed, sent in keys:
        w.type(typed)
        want += (sent + "\n").encode()
        t.ok(c.wait_data(want) and c.buf == want,
             "typing %r sends %r" % (typed, sent), c.buf[-100:])


def quick_answers(srv):
    """A client that answers each line the moment it arrives: the echo
    of the operator's line, held back a moment to share a write with
    that answer, is always drawn first, and drawn once."""
    c = srv.connect()
    w = srv.window(1)
    rounds = 200
    for i in range(rounds):
        w.type("ping %d\r" % i)
        if not c.wait_data("ping %d\n" % i):
            break
        c.send("pong %d\n" % i)
    t.ok(w.wait_text("pong %d\r\n" % (rounds - 1)),
         "%d lines answered at once all reach the window" % rounds)
    text = w.text()
    misplaced = [i for i in range(rounds)
                 if text.count("you: ping %d\r\n" % i) != 1 or
                 text.count("pong %d\r\n" % i) != 1 or
                 text.find("you: ping %d\r\n" % i) >
                 text.find("pong %d\r\n" % i)]
    t.eq(misplaced, [], "each echo is drawn once, before its answer")
    w.type("unanswered\r")
    t.ok(c.wait_data("unanswered\n") and w.wait_text("you: unanswered"),
         "a line no answer follows is echoed all the same")


def timestamps(srv):
    c = srv.connect()
    w = srv.window(1)
    c.send("stamped line\n")
    t.ok(w.wait_text("stamped line"), "the line arrives")
    t.ok(re.search(r"\[\d\d:\d\d\] stamped line", w.text()),
         "--timestamps: it starts with [HH:MM]", w.text()[-200:])


def plain(srv):
    c = srv.connect()
    w = srv.window(1)
    c.send("plain text\n")
    t.ok(w.wait_text("plain text\r\n"), "--plain: the text arrives")
    t.ok("> " not in w.text() and "\x1b[" not in w.text(),
         "--plain: no prompt and no cursor movement")
    w.type("typo\x08\x08\x08\x08line\r")
    t.ok(c.wait_data("line\n") and c.buf == b"line\n",
         "--plain: the terminal's own editing makes the line", c.buf)


def client_on_a_terminal():
    """ptychat with its stdin and stdout on a pty: typing a key at a time
    while the server talks, the server gets exactly the line typed, and
    the screen shows the half-typed line below the server's lines."""
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(1)
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 60, 0, 0))
    proc = subprocess.Popen([PTYCHAT, "--no-tls", "127.0.0.1",
                             str(ls.getsockname()[1])],
                            stdin=slave, stdout=slave, stderr=slave,
                            close_fds=True)
    os.close(slave)
    screen = bytearray()

    def pump(timeout=0.0):
        while select.select([master], [], [], timeout)[0]:
            try:
                data = os.read(master, 65536)
            except OSError:
                return
            if not data:
                return
            screen.extend(data)
            timeout = 0.0
    try:
        ls.settimeout(5)
        conn, _ = ls.accept()
        conn.settimeout(5)
        t.ok(wait_for(lambda: pump(0.05) or b"> " in screen),
             "client: the chat line shows its '> ' prompt", bytes(screen))
        line = "typed while the server talks: caf\u00e9"
        for i, ch in enumerate(line):
            conn.sendall(b"server line %d\n" % i)
            os.write(master, ch.encode())
            pump(0.01)
        t.ok(wait_for(lambda: pump(0.05) or
                      b"server line %d" % (len(line) - 1) in screen),
             "client: the server's lines are shown")
        tail = bytes(screen).rsplit(b"server line", 1)[-1]
        t.ok(("> " + line).encode() in tail,
             "client: below the last of them, the half-typed line whole",
             tail[-120:])
        os.write(master, b"\r")
        got = b""
        while not got.endswith(b"\n"):
            got += conn.recv(4096)
        t.eq(got, (line + "\n").encode(),
             "client: the server gets exactly the line typed")
        os.write(master, b"\x04")            # ^D on an empty line: EOF
        t.eq(conn.recv(4096), b"", "client: ^D on an empty line sends EOF")
        conn.close()
        t.eq(proc.wait(5), 0, "client: exits 0 when the server closes")
        pump(0.1)
        t.ok(b"connection closed by server" in screen,
             "client: and says so", bytes(screen[-200:]))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
        ls.close()


def client_plain():
    """ptychat --plain on a pty: no chat line; the terminal's own line
    discipline edits (DEL erases) and the line arrives whole."""
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(1)
    master, slave = pty.openpty()
    proc = subprocess.Popen([PTYCHAT, "--no-tls", "--plain", "127.0.0.1",
                             str(ls.getsockname()[1])],
                            stdin=slave, stdout=slave, stderr=slave,
                            close_fds=True)
    os.close(slave)
    try:
        ls.settimeout(5)
        conn, _ = ls.accept()
        conn.settimeout(5)
        conn.sendall(b"hello plain\n")
        os.write(master, b"abc\x7f\x7fxy\r")
        got = b""
        while not got.endswith(b"\n"):
            got += conn.recv(4096)
        t.eq(got, b"axy\n", "client --plain: the terminal's editing makes "
             "the line")
        conn.close()
        # Its last words mark the end of all it wrote to the terminal.
        screen = b""
        end = time.monotonic() + 5
        while b"connection closed by server" not in screen and \
                select.select([master], [], [], end - time.monotonic())[0]:
            try:
                screen += os.read(master, 65536)
            except OSError:
                break
        t.ok(b"hello plain" in screen and b"connection closed" in screen
             and b"> " not in screen and b"\x1b[" not in screen,
             "client --plain: no prompt and no cursor movement", screen)
        t.eq(proc.wait(5), 0, "client --plain: exits 0 when the server "
             "closes")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
        ls.close()


section("typing", [], typing_under_fire)
section("editing", [], editing)
section("quick answers", [], quick_answers)
section("timestamps", ["--timestamps"], timestamps)
section("plain", ["--plain"], plain)
sections.run("client on a terminal", lambda tmp: client_on_a_terminal())
sections.run("client --plain", lambda tmp: client_plain())
t.done()
