#!/usr/bin/env python3
# What a terminal program writes on its stdout and stderr (xterm's
# warnings, tmux's "duplicate session") goes to ptychatd's log a line at
# a time, each line prefixed with the session and the program, and made
# safe for the operator's terminal.  A process that keeps the terminal's
# stderr after its session has ended can still write there: the pipe is
# read until the last writer is gone, so it never meets a closed pipe.
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from ptytest import (STANDIN, TAP, Sections, children_of, wait_for)  # noqa

t = TAP()
sections = Sections(t)


def noisy_terminal(tmp):
    """A stand-in whose start-up talks on stdout and stderr, and which
    leaves behind a process that writes to stderr when told to (a line
    on a FIFO), then leaves a file saying its write went through.  That
    process does not keep the pty (fd 3), so the window's close is
    seen."""
    fifo = os.path.join(tmp, "later")
    done = os.path.join(tmp, "later-done")
    os.mkfifo(fifo)
    path = os.path.join(tmp, "noisy-term")
    with open(path, "w") as f:
        f.write("""#!/bin/sh
n="$1"
shift
echo "warming up on stderr" >&2
echo "and a line on stdout"
printf 'a bell\\007 and an escape\\033[31m here\\n' >&2
( read line < "%s"; echo "late: $line" >&2 && : > "%s" ) 3>&- &
exec "%s" --dir "%s" --name "$n" "$@"
""" % (fifo, done, STANDIN, os.path.join(tmp, "windows")))
    os.chmod(path, 0o755)
    return "%s %%n" % path, fifo, done


def write_fifo(path, text):
    """Writes text to the FIFO once a reader has it open; True if so."""
    def opened():
        try:
            return os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:
            return None
    fd = wait_for(opened)
    if fd is None:
        return False
    os.write(fd, text.encode())
    os.close(fd)
    return True


def output(tmp):
    terminal, fifo, done = noisy_terminal(tmp)
    try:
        check_output(tmp, terminal, fifo, done)
    finally:
        # Frees the left-over process, whatever happened.
        try:
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass


def check_output(tmp, terminal, fifo, done):
    srv = sections.server(tmp, terminal=terminal)
    c = srv.connect()
    w = srv.window(1)
    prefix = "ptychatd: session 1: noisy-term: "
    t.ok(srv.wait_log(re.escape(prefix + "warming up on stderr")),
         "a line on the terminal's stderr is logged with the session and "
         "the program", srv.text())
    t.ok(srv.wait_log(re.escape(prefix + "and a line on stdout")),
         "and so is a line on its stdout", srv.text())
    t.ok(srv.wait_log(re.escape(prefix + "a bell^G and an escape^[[31m "
                                "here")),
         "control characters in it are shown, not obeyed", srv.text())
    t.ok(all(line.startswith(prefix) for line in srv.text().splitlines()
             if "warming up" in line or "a line on stdout" in line),
         "nothing of it reaches the log without its prefix", srv.text())

    # The window closes and the session ends; a process that still holds
    # the terminal's stderr writes to it afterwards.
    w.close()
    t.ok(c.wait_eof() and srv.wait_log(r"session 1 \S+: window closed"),
         "the window closes and the session ends")
    t.ok(wait_for(lambda: children_of(srv.pid) == []),
         "the terminal is reaped", children_of(srv.pid))
    t.ok(write_fifo(fifo, "after the session\n"),
         "the left-over process is still there")
    t.ok(srv.wait_log(re.escape(prefix + "late: after the session")),
         "its line, written after the session ended, is logged with the "
         "prefix", srv.text())
    t.ok(wait_for(lambda: os.path.exists(done)),
         "its write went through: no SIGPIPE, no EPIPE")

    # The server is unaffected: the next client gets a window.
    c2 = srv.connect()
    w2 = srv.window(2)
    w2.type("to the next client\r")
    t.ok(c2.wait_data("to the next client\n"),
         "the next client gets a window, and talks through it")


sections.run("terminal output", output)
t.done()
