#!/usr/bin/env python3
# --log-dir: one transcript per session, 0600 in a 0700 directory, named
# by session number, peer and start time; each line stamped with the time
# and a direction marker; the text sanitised.
import os
import re
import stat
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from ptytest import (PTYCHATD, TAP, Sections, read_text, run,  # noqa
                     wait_for)

STAMP = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"
t = TAP()
sections = Sections(t)


def transcripts(tmp):
    logs = os.path.join(tmp, "transcripts")
    srv = sections.server(tmp, args=["--log-dir", logs])
    t.eq(stat.S_IMODE(os.stat(logs).st_mode), 0o700,
         "the transcript directory is created with mode 0700")
    c = srv.connect()
    w = srv.window(1)
    c.send("hello from the client\r\n")
    w.wait_text("hello from the client")
    w.type("hi, operator here\r")
    c.wait_data("hi, operator here\n")
    c.send(b"part one, ")                   # a line in two pieces
    w.wait_text("part one, ")
    c.send(b"part two \x1b]2;x\x07\n")      # with an escape in it
    w.wait_text("part two")
    c.sock.shutdown(1)
    w.wait_text("closed its side")
    w.close()
    c.wait_eof()

    names = wait_for(lambda: os.listdir(logs))
    t.eq(len(names), 1, "one transcript for one session")
    name = names[0]
    t.ok(re.fullmatch(r"session-1-127\.0\.0\.1-%d-\d{8}-\d{6}\.log"
                      % c.sock.getsockname()[1], name) is not None,
         "it is named by session number, peer and start time", name)
    path = os.path.join(logs, name)
    t.eq(stat.S_IMODE(os.stat(path).st_mode), 0o600,
         "the transcript has mode 0600")
    wait_for(lambda: "session ended" in read_text(path))
    lines = read_text(path).splitlines()
    body = [re.sub("^" + STAMP + " ", "", line) for line in lines]
    t.ok(all(re.match(STAMP + " [<>*] ", line) for line in lines),
         "every line starts with a time stamp and a direction marker",
         "\n".join(lines))
    want = ["< hello from the client",
            "> hi, operator here",
            "< part one, part two ^[]2;x^G"]
    t.eq([b for b in body if b[0] in "<>"], want,
         "each direction's lines, in order, sanitised, a split line whole")
    events = [b[2:] for b in body if b[0] == "*"]
    t.ok(events[0].startswith("ptychat session #1: client 127.0.0.1:")
         and "client closed its side" in events
         and "window closed; client disconnected" in events
         and events[-1] == "session ended",
         "events are recorded: connect, EOF, window closed, end", events)

    # A second server refuses a --log-dir that is a file.
    bad = os.path.join(tmp, "not-a-dir")
    open(bad, "w").close()
    status, out, err = run([PTYCHATD, "-p", "0", "-b", "127.0.0.1",
                            "--log-dir", bad])
    t.eq((status, err.strip()), (1, "ptychatd: --log-dir %s: Not a "
                                    "directory" % bad),
         "a --log-dir that is not a directory: status 1, one line")


sections.run("--log-dir", transcripts)
t.done()
