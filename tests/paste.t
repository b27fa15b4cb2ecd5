#!/usr/bin/env python3
# A paste in a window: many lines in one burst, far more than one read
# of the pty, reach the client whole, in order and once each, and each
# is echoed in the window as the operator's own, with the prompt drawn
# again after them.  A burst cut inside a UTF-8 character or an escape
# sequence, and a burst with editing keys inside, give the lines they
# would give typed slowly.  Over TLS too, with the ptychat client.
import os
import select
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from ptytest import PTYCHAT, PTYCHATD, SLOW, TAP, Sections  # noqa: E402

t = TAP()
sections = Sections(t)
LINES = 3000


def paste_lines():
    """Lines of 20 to 90 bytes, some with UTF-8, each with its number."""
    out = []
    for i in range(LINES):
        word = "caf\u00e9 \u6f22" if i % 7 == 0 else "word"
        out.append("paste %04d %s" % (i, " ".join([word] * (2 + i % 12))))
    return out


def big_paste(srv):
    c = srv.connect()
    w = srv.window(1)
    lines = paste_lines()
    w.type("".join(line + "\r" for line in lines).encode())
    want = "".join(line + "\n" for line in lines).encode()
    last = lines[-1]
    t.ok(c.wait_data(last + "\n", 20), "the client receives the last of "
         "%d pasted lines" % LINES, repr(c.buf[-200:]))
    # A marker after the paste: nothing more of it comes later.
    w.type("after the paste\r")
    t.ok(c.wait_data("after the paste\n"), "then a line typed after it")
    got = c.buf
    t.eq(got, want + b"after the paste\n", "every pasted line, whole, in "
         "order and once (%d bytes)" % len(want))
    t.ok(w.wait_text("you: after the paste"), "the window echoes the line "
         "typed after it")
    text = w.text()
    shown = [line for line in lines if "you: " + line in text]
    t.eq(len(shown), LINES, "the window echoes every pasted line as ours")
    tail = text.split("you: after the paste")[-1]
    t.ok("> " in tail, "and draws the prompt again after them",
         repr(tail[-80:]))


def cut_bursts(srv):
    c = srv.connect()
    w = srv.window(1)
    # One line's keys in three bursts: cut inside the two bytes of an
    # e-acute and inside the escape of Left; a ^U and a DEL inside.
    w.type(b"gone\x15caf\xc3")
    w.type(b"\xa9 x\x7fend\x1b[")
    w.type(b"D!\r")
    t.ok(c.wait_data("caf\u00e9 en!d\n".encode()), "a line cut mid-UTF-8 "
         "and mid-escape, with ^U and DEL inside, is the line typed",
         repr(c.buf))
    # Many lines, the last cut mid-character; then the rest of it.
    w.type(("".join("line %d\r" % i for i in range(500)) +
            "half \u20ac").encode()[:-1])
    w.type(b"\xac done\r")
    t.ok(c.wait_data("half \u20ac done\n".encode()), "a burst of lines "
         "that ends mid-character: the character is whole in the next "
         "line", repr(c.buf[-80:]))
    want = ("caf\u00e9 en!d\n" + "".join("line %d\n" % i for i in range(500))
            + "half \u20ac done\n").encode()
    t.eq(c.buf, want, "every line once, in order")


def tls_paste(tmp):
    srv = sections.server(tmp, tls=True)
    fp = subprocess.run([PTYCHATD, "--fingerprint"], capture_output=True,
                        text=True, timeout=10 * SLOW).stdout.strip()
    client = subprocess.Popen([PTYCHAT, "-q", "--fingerprint", fp,
                               "127.0.0.1", str(srv.port)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)
    sections.defer(lambda: client.poll() is None and client.kill())
    w = srv.window(1)
    lines = paste_lines()
    w.type("".join(line + "\r" for line in lines).encode())
    w.type("@@end@@\r")
    want = "".join(line + "\n" for line in lines) + "@@end@@\n"
    out, fd = b"", client.stdout.fileno()
    deadline = time.monotonic() + 20 * SLOW
    while not out.endswith(b"@@end@@\n") and time.monotonic() < deadline:
        if not select.select([fd], [], [], 0.2)[0]:
            continue
        data = os.read(fd, 65536)
        if not data:
            break
        out += data
    t.eq(out, want.encode(), "over TLS, ptychat prints every pasted line, "
         "whole, in order and once (%d bytes)" % len(out))
    client.stdin.close()
    w.close()
    client.wait(10 * SLOW)


sections.with_server("a paste of %d lines" % LINES, (), big_paste)
sections.with_server("bursts cut anywhere", (), cut_bursts)
sections.run("a paste over TLS", tls_paste)
t.done()
