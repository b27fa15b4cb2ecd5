#!/usr/bin/env python3
# A chat line takes keys in the order typed, also when several arrive in
# one read (fast typing, a paste, expect).  In ptychat (issue 8, bug 5):
# a line finished before ^D or ^C is sent, ^D ends the input only when
# it is reached on an empty line, and ^C leaves with status 130 after
# what came before it.  At ptychatd's console: commands finished before
# a ^C are carried out before it stops.  Each key string below goes to
# the pty in one write, which the program reads at once.
import os
import pty
import re
import select
import socket
import subprocess
import sys
import termios
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from ptytest import (PTYCHAT, PTYCHATD, SLOW, STANDIN, TAP,  # noqa: E402
                     Sections, children_of, wait_for)

t = TAP()
sections = Sections(t)
TIMEOUT = 5.0 * SLOW


class Pty:
    """A pty whose slave the test keeps open, to read its mode."""

    def __init__(self):
        self.master, self.slave = pty.openpty()
        self.before = termios.tcgetattr(self.slave)
        self.screen = b""

    def start(self, argv):
        return subprocess.Popen(argv, stdin=self.slave, stdout=self.slave,
                                stderr=self.slave, close_fds=True)

    def pump(self):
        while select.select([self.master], [], [], 0.01)[0]:
            try:
                data = os.read(self.master, 65536)
            except OSError:
                return
            if not data:
                return
            self.screen += data

    def wait_screen(self, needle):
        return wait_for(lambda: self.pump() or needle in self.screen)

    def type(self, keys):
        os.write(self.master, keys)

    def restored(self):
        return termios.tcgetattr(self.slave) == self.before

    def close(self):
        os.close(self.master)
        os.close(self.slave)


def finish(proc):
    """proc's exit status, or None if it had to be killed."""
    try:
        return proc.wait(TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return None


class TtyClient(Pty):
    """ptychat on a pty, connected to a loopback listener."""

    def __init__(self):
        super().__init__()
        self.lst = socket.socket()
        self.lst.bind(("127.0.0.1", 0))
        self.lst.listen(1)
        self.lst.settimeout(TIMEOUT)
        self.proc = self.start(
            [PTYCHAT, "--no-tls", "127.0.0.1",
             str(self.lst.getsockname()[1])])
        self.conn, _ = self.lst.accept()
        self.conn.settimeout(TIMEOUT)
        self.got = b""
        if not self.wait_screen(b"> "):
            raise RuntimeError("no prompt: %r" % self.screen)

    def receive(self, want=None):
        """What the server has received once want is there (never, for
        None), at end of file, or at the deadline; with whether the end
        of file came."""
        deadline = time.monotonic() + TIMEOUT
        while want is None or want not in self.got:
            try:
                self.conn.settimeout(max(0.001,
                                         deadline - time.monotonic()))
                data = self.conn.recv(65536)
            except socket.timeout:
                return self.got, False
            if not data:
                return self.got, True
            self.got += data
        return self.got, False

    def ends_input(self, keys, sent, name):
        """keys, typed at once, end the input after sent."""
        self.type(keys)
        t.eq(self.receive(), (sent, True), name)
        self.conn.close()
        t.eq(finish(self.proc), 0, "exit 0 when the server then closes")

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.conn.close()
        self.lst.close()
        super().close()


def with_client(fn):
    def section(tmp):
        c = TtyClient()
        try:
            fn(c)
        finally:
            c.close()
    return section


def line_then_eof(c):
    c.type(b"first line\r")
    t.eq(c.receive(b"first line\n"), (b"first line\n", False),
         "a line typed alone is sent")
    c.type(b"second line\r\x04")
    t.eq(c.receive(), (b"first line\nsecond line\n", True),
         "'second line\\r^D' at once: the line is sent, then end of file")
    t.ok(wait_for(c.restored), "after ^D the terminal has its mode back")
    c.conn.sendall(b"a reply after your end\n")
    t.ok(c.wait_screen(b"a reply after your end\r\n"),
         "what the server sends after ^D is still shown", c.screen[-200:])
    c.conn.close()
    t.eq(finish(c.proc), 0, "exit 0 when the server then closes")


def eof_inside_a_line(c):
    c.type(b"abc\x04")
    c.type(b"def\r")
    t.eq(c.receive(b"\n"), (b"abcdef\n", False),
         "'abc^D' at once: ^D inside a line ends nothing, the line goes on")


def eof_after_erasing(c):
    c.type(b"x")
    t.ok(c.wait_screen(b"> x"), "a key typed alone is echoed")
    c.ends_input(b"\x15\x04", b"", "'^U^D' at once: ^U empties the line, "
                 "so the ^D after it is the end of input")


def keys_after_eof(c):
    c.ends_input(b"\x04not sent\r", b"", "'^Dnot sent\\r' at once: end "
                 "of file, and keys after the ^D are not sent")


def lines_then_interrupt(c):
    c.type(b"one\rtwo\r\x03")
    t.eq(c.receive(), (b"one\ntwo\n", True), "'one\\rtwo\\r^C' at once: "
         "both lines are sent before ptychat leaves")
    t.eq(finish(c.proc), 130, "^C: exit status 130")
    t.ok(c.restored(), "^C: the terminal has its mode back")


def interrupt_inside_a_line(c):
    c.type(b"half")
    t.ok(c.wait_screen(b"> half"), "a half-typed line is echoed")
    c.type(b" a line\x03")
    t.eq(c.receive(), (b"", True),
         "^C inside a line: nothing is sent, the line is not finished")
    t.eq(finish(c.proc), 130, "^C: exit status 130")
    t.ok(c.restored(), "^C: the terminal has its mode back")


def console_commands_then_interrupt(tmp):
    p = Pty()
    proc = p.start([PTYCHATD, "-p", "0", "-b", "127.0.0.1", "-t",
                    "%s --dir %s --name %%n" % (STANDIN, tmp)])
    try:
        t.ok(p.wait_screen(b"type help for the commands"),
             "console: it greets the operator", p.screen[-300:])
        p.type(b"list\rhelp\r\x03")
        t.ok(p.wait_screen(b"stopping at the console's word"),
             "console: 'list\\rhelp\\r^C' at once stops the server",
             p.screen[-300:])
        tail = p.screen.split(b"help for the commands", 1)[-1]
        t.ok(re.search(b"no sessions.*kick N.*stopping", tail, re.S),
             "console: after list's and help's answers, in that order",
             tail)
        t.eq(finish(proc), 0, "console: ptychatd exits 0")
        t.ok(p.restored(), "console: the terminal has its mode back")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        p.close()


sections.run("a line, then ^D, in one read", with_client(line_then_eof))
sections.run("^D inside a line", with_client(eof_inside_a_line))
sections.run("^D after ^U", with_client(eof_after_erasing))
sections.run("keys after ^D", with_client(keys_after_eof))
sections.run("lines, then ^C, in one read", with_client(lines_then_interrupt))
sections.run("^C inside a line", with_client(interrupt_inside_a_line))
sections.run("console: commands, then ^C, in one read",
             console_commands_then_interrupt)
wait_for(lambda: children_of(os.getpid()) == [], 2.0)
t.eq(children_of(os.getpid()), [], "no ptychat process is left behind")
t.done()
