#!/usr/bin/env python3
# Telnet as a client.  The real telnet program, in a pane of a private
# tmux, sends IAC IP and IAC DO TIMING-MARK for ^C, and IAC BRK and IAC
# DO TIMING-MARK in place of a byte of a check mark (7-bit mode); it
# then shows nothing until the timing mark is answered.  After each, the
# operator's reply must still reach it, and the window must show a
# notice, never the command bytes.  Then, with a raw socket: each option
# refused once, each timing mark answered, IAC IAC as one 0xFF byte, AYT
# answered, the transcript free of commands; and --binary, which turns
# all of it off.
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from ptytest import (TAP, Sections, need_tools, read_text,  # noqa: E402
                     wait_for)

t = TAP()
need_tools(t, "telnet", "tmux")
sections = Sections(t)

IAC, DONT, DO, WONT, WILL, SB, SE = (b"\xff", b"\xfe", b"\xfd", b"\xfc",
                                     b"\xfb", b"\xfa", b"\xf0")
IP, BRK, AYT = b"\xf4", b"\xf3", b"\xf6"
TM, ECHO, NAWS, TTYPE = b"\x06", b"\x01", b"\x1f", b"\x18"
INTERRUPT = "*** the client sent an interrupt (telnet IP: its ^C) ***"
BREAK = "*** the client sent a break (telnet BRK"
HERE = b"\r\n[ptychatd: yes, still here]\r\n"


class Tmux:
    """A tmux server of our own, on a socket in the test's directory."""

    def __init__(self, tmp):
        self.sock = os.path.join(tmp, "tmux.sock")
        self.env = dict(os.environ, LC_ALL="C.UTF-8", TERM="xterm")
        self.env.pop("TMUX", None)

    def __call__(self, *args):
        p = subprocess.run(["tmux", "-u", "-S", self.sock] + list(args),
                           env=self.env, capture_output=True, timeout=10)
        return p.stdout.decode("utf-8", "replace")

    def pane(self):
        return self("capture-pane", "-p", "-t", "tn")

    def kill(self):
        self("kill-server")


def reply_arrives(tmux, w, text):
    """The operator sends text from the window; True once telnet shows
    it."""
    w.type(text + "\r")
    return wait_for(lambda: text in tmux.pane(), 5)


def real_telnet(tmp):
    srv = sections.server(tmp)
    tmux = Tmux(tmp)
    try:
        tmux("new-session", "-d", "-s", "tn", "-x", "100", "-y", "30",
             "telnet 127.0.0.1 %d" % srv.port)
        w = srv.window(1)
        t.ok(wait_for(lambda: "Escape character" in tmux.pane()),
             "telnet connects in its tmux pane", tmux.pane())
        tmux("send-keys", "-t", "tn", "hello from telnet", "Enter")
        t.ok(w.wait_text("hello from telnet\r\n"), "its line shows in the "
             "window", w.text()[-300:])
        t.ok(reply_arrives(tmux, w, "first reply"), "a reply reaches "
             "telnet", tmux.pane())

        tmux("send-keys", "-t", "tn", "C-c")
        t.ok(w.wait_text(INTERRUPT), "^C shows in the window as a notice",
             w.text()[-300:])
        t.ok(reply_arrives(tmux, w, "reply after the interrupt"),
             "after ^C (IAC IP, IAC DO TIMING-MARK) the next reply still "
             "reaches telnet", tmux.pane())

        tmux("send-keys", "-t", "tn", "-l", "tick \u2713 done")
        tmux("send-keys", "-t", "tn", "Enter")
        t.ok(w.wait_text(BREAK) and w.wait_text("done\r\n"),
             "a line with a check mark shows, with a break notice in it",
             w.text()[-400:])
        t.ok(reply_arrives(tmux, w, "reply after the check mark"),
             "after a UTF-8 line (IAC BRK, IAC DO TIMING-MARK in it) the "
             "next reply still reaches telnet", tmux.pane())

        tmux("send-keys", "-t", "tn", "last line", "Enter")
        t.ok(w.wait_text("last line\r\n"), "telnet's next line arrives")
        text = w.text()
        t.ok("\\xFF" not in text and "\\xF3" not in text and
             "\\xF4" not in text and "\\xFD" not in text and
             "^F" not in text, "the window never shows a command byte "
             "(no \\xFF, \\xF3, \\xF4, \\xFD or ^F)", text[-600:])
    finally:
        tmux.kill()


def send_then_mark(c, w, data, mark):
    """Sends data and " MARK-a", then, once that shows, "MARK-b" on its
    own: when that shows, the relay has sent every reply to data."""
    c.send(data + b" " + mark + b"-a\n")
    if not w.wait_text(mark.decode() + "-a\r\n"):
        return False
    c.send(mark + b"-b\n")
    return w.wait_text(mark.decode() + "-b\r\n")


def operator_mark(c, w, mark):
    """The operator sends mark; returns what the client got before it,
    or None if mark never came."""
    w.type(mark + "\r")
    if not c.wait_data(mark + "\n"):
        return None
    return c.buf[:c.buf.index((mark + "\n").encode())]


def negotiation(srv):
    c = srv.connect()
    w = srv.window(1)
    offers = IAC + DO + ECHO + IAC + WILL + NAWS + IAC + WILL + TTYPE
    t.ok(send_then_mark(c, w, offers + b"one", b"m1"), "options offered: "
         "the text between them shows")
    t.ok(send_then_mark(c, w, offers + IAC + DONT + ECHO + IAC + WONT +
                        NAWS + b"two", b"m2"), "the same offers again, "
         "and DONT, WONT")
    got = operator_mark(c, w, "mark one")
    t.eq(got, IAC + WONT + ECHO + IAC + DONT + NAWS + IAC + DONT + TTYPE,
         "DO is refused with WONT, WILL with DONT, each option once; "
         "DONT and WONT get no answer")
    c.buf = b""

    for n in range(3):
        t.ok(send_then_mark(c, w, IAC + DO + TM, b"tm%d" % n),
             "DO TIMING-MARK %d sent" % (n + 1))
    t.eq(operator_mark(c, w, "mark two"), (IAC + WILL + TM) * 3,
         "each DO TIMING-MARK is answered with WILL TIMING-MARK")
    c.buf = b""

    t.ok(send_then_mark(c, w, b"x" + IAC + IAC + b"y" + IAC + AYT,
                        b"m3"), "IAC IAC and AYT sent")
    text = w.text()
    t.ok("x\\xFFy m3-a\r\n" in text and "\\xFF\\xFF" not in text and
         "\\xF6" not in text, "IAC IAC shows as one 0xFF byte (\\xFF), "
         "and AYT not at all", text[-500:])
    t.ok("*** the client sent are you there? (telnet AYT; answered) ***"
         in text, "AYT shows as a notice", text[-300:])
    t.eq(operator_mark(c, w, "mark three"), HERE, "AYT is answered with "
         "a visible line")
    c.buf = b""

    t.ok(send_then_mark(c, w, IAC + SB + NAWS + b"\x00\x50\x00\x18" + IAC +
                        SE + b"after sb", b"m4"), "a subnegotiation is "
         "skipped", w.text()[-300:])
    text = w.text()
    t.ok("after sb m4-a\r\n" in text and "^@" not in text and
         "^X" not in text and "^_" not in text, "only the text after it "
         "shows", text[-300:])


def transcript(srv):
    c = srv.connect()
    w = srv.window(1)
    t.ok(send_then_mark(c, w, b"before" + IAC + IP + IAC + DO + TM +
                        b"after" + IAC + IAC + b"\r\n", b"done"),
         "an interrupt between two words")
    t.ok(w.wait_text(INTERRUPT), "shows as a notice")
    t.ok(c.wait_data(IAC + WILL + TM), "and its timing mark is answered",
         c.buf)
    logs = os.listdir(os.path.join(srv.tmp, "logs"))
    log = read_text(os.path.join(srv.tmp, "logs", logs[0])) if logs else ""
    t.ok("before" in log and "after\\xFF" in log and "the client sent an "
         "interrupt" in log, "the transcript keeps the text and the "
         "event", log)
    t.ok("\\xF4" not in log and "\\xFD" not in log and "^F" not in log
         and "\ufffd" not in log, "and no command byte", log)


def binary(srv):
    c = srv.connect()
    w = srv.window(1)
    t.ok(send_then_mark(c, w, b"raw " + IAC + IP + IAC + DO + TM + b" end",
                        b"m1"), "--binary: bytes that would be telnet "
         "commands are sent")
    t.ok("raw \\xFF\\xF4\\xFF\\xFD^F end m1-a" in w.text(), "--binary: they "
         "show as text, 0xFF as \\xFF", w.text()[-300:])
    t.ok(INTERRUPT not in w.text(), "--binary: no notice")
    t.eq(operator_mark(c, w, "mark"), b"", "--binary: no reply is sent")


sections.run("real telnet", real_telnet)
sections.with_server("negotiation", [], negotiation)
sections.run("transcript", lambda tmp: transcript(sections.server(
    tmp, args=["--log-dir", os.path.join(tmp, "logs")])))
sections.with_server("--binary", ["--binary"], binary)
t.done()
