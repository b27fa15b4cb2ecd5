#!/usr/bin/env python3
# The console on ptychatd's own terminal (run in a tmux pane): list, say,
# all, kick, help, quit; log lines printed above the command line never
# break a half-typed command.
import os
import re
import socket
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from ptytest import (PTYCHATD, STANDIN, TAP, Client, Sections,  # noqa
                     need_tools, process_alive, read_text, wait_for)

t = TAP()
need_tools(t, "tmux")
sections = Sections(t)
# Each section's private tmux server lives in its TMUX_TMPDIR.
env = dict(os.environ)
env.pop("TMUX", None)


def tmux(*args):
    return subprocess.run(["tmux"] + list(args), env=env,
                          capture_output=True, timeout=10).stdout.decode()


def screen(target="con"):
    return tmux("capture-pane", "-p", "-t", target)


def last_line():
    lines = [ln for ln in screen().splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def command(text, line=None):
    """Types a command (the rest of line, when part of it is typed
    already); returns the screen once the command line and a new prompt
    below it, which comes after the command's answer, are there."""
    tmux("send-keys", "-t", "con", text, "Enter")
    done = re.compile(re.escape("ptychatd> " + (line or text)) +
                      r"\n(.*\n)*ptychatd>")
    wait_for(lambda: done.search(screen()))
    return screen()


def private_tmux(tmp):
    """Points tmux at a server of the section's own, killed at its end;
    returns the directory for the windows."""
    env["TMUX_TMPDIR"] = tmp
    sections.defer(tmux, "kill-server")
    windows = os.path.join(tmp, "windows")
    os.makedirs(windows)
    return windows


def console(tmp):
    windows = private_tmux(tmp)
    # stdin, stdout and stderr on the pane: the console, with the log
    # lines coming through it.
    tmux("new-session", "-d", "-s", "con", "-x", "110", "-y", "40",
         "%s -p 0 -b 127.0.0.1 -t '%s --dir %s --name %%n'; echo status $?;"
         " sleep 30" % (PTYCHATD, STANDIN, windows))
    m = wait_for(lambda: re.search(r"listening on \S+ port (\d+)",
                                   screen()), 10)
    t.ok(m, "ptychatd starts in the pane", screen())
    port = int(m.group(1))
    t.ok(wait_for(lambda: "type help for the commands" in screen()),
         "the console greets the operator", screen())
    a = Client(socket.create_connection(("127.0.0.1", port), 5))
    b = Client(socket.create_connection(("127.0.0.1", port), 5))
    t.ok(wait_for(lambda: screen().count("window open") == 2),
         "two sessions open", screen())
    a.send("hello from a\n")
    wait_for(lambda: os.path.exists(os.path.join(windows, "1.out")) and
             "hello from a" in read_text(os.path.join(windows, "1.out")))

    # A log line arrives while a command is half typed.
    tmux("send-keys", "-t", "con", "lis")
    wait_for(lambda: last_line().endswith("ptychatd> lis"))
    c = Client(socket.create_connection(("127.0.0.1", port), 5))
    t.ok(wait_for(lambda: re.search(r"session 3 \S+: window open", screen())),
         "a third client "
         "connects, and its log line shows", screen())
    t.ok(wait_for(lambda: last_line() == "ptychatd> lis"),
         "the half-typed command is still whole on the last line",
         screen())
    s = command("t", "list")
    rows = re.findall(r"^\s*(\d+)\*?\s+127\.0\.0\.1:\d+\s+\S+\s+(\S+)\s+(\S+)"
                      r"\s+\d+\s+(.+?)\s\s+(\S.*?)\s*$", s, re.M)
    t.eq([(r[0], r[1], r[3], r[4]) for r in rows[-3:]],
         [("1", "13", "open", "plain"), ("2", "0", "open", "plain"),
          ("3", "0", "open", "plain")],
         "list: number, client, age, bytes in and out, state, key")

    command("say 2 just for b")
    command("say 1 just for a")
    t.ok(b.wait_data("just for b\n") and a.wait_data("just for a\n") and
         b"just for b" not in a.buf and b"just for a" not in b.buf,
         "say N TEXT reaches that client only", (a.buf, b.buf))
    t.ok(wait_for(lambda: "sent from the console: just for b" in
                  read_text(os.path.join(windows, "2.out"))),
         "and its window shows it was sent from the console")
    command("all to everyone")
    t.ok(all(x.wait_data("to everyone\n") for x in (a, b, c)),
         "all TEXT reaches every client")
    t.ok("sent to 3 clients" in screen(), "and says how many", screen())
    command("kick 3")
    t.ok(c.wait_eof(), "kick N hangs up on that client")
    pid3 = int(read_text(os.path.join(windows, "3.pid")))
    t.ok(wait_for(lambda: not os.path.exists("/proc/%d" % pid3) or
                  process_alive(pid3) is False),
         "and closes its window")
    t.ok(wait_for(lambda: "hung up from the console" in screen()),
         "and logs it", screen())
    command("all still here")
    t.ok(a.wait_data("still here\n") and b.wait_data("still here\n") and
         not a.eof and not b.eof, "the others stay connected")
    s = command("say 9 nobody")
    t.ok("no session #9" in s, "say to a missing session says so")
    s = command("frobnicate")
    t.ok("unknown command 'frobnicate'; type help" in s,
         "an unknown command says so")
    s = command("help")
    t.ok(all(w in s for w in ("list", "say N TEXT", "all TEXT", "kick N",
                              "quit")), "help lists the commands")
    tmux("send-keys", "-t", "con", "quit", "Enter")
    t.ok(a.wait_eof() and b.wait_eof(), "quit closes every session")
    t.ok(wait_for(lambda: "status 0" in screen()),
         "and ptychatd exits 0", screen())


def background(tmp):
    """Started in the background from a shell, ptychatd takes no console
    (a tcsetattr there would stop it with SIGTTOU) and goes on serving."""
    windows = private_tmux(tmp)
    tmux("new-session", "-d", "-s", "bg", "-x", "110", "-y", "40",
         "bash --norc --noprofile")
    wait_for(lambda: "$" in screen("bg") or "#" in screen("bg"))
    tmux("send-keys", "-t", "bg", "%s -p 0 -b 127.0.0.1 -t '%s --dir %s "
         "--name %%n' 2>%s/bg.log &" % (PTYCHATD, STANDIN, windows, tmp),
         "Enter")
    m = wait_for(lambda: re.search(r"listening on \S+ port (\d+)",
                                   read_text(os.path.join(tmp, "bg.log"))))
    d = Client(socket.create_connection(("127.0.0.1", int(m.group(1))), 5))
    d.send("from the background\n")
    t.ok(wait_for(lambda: "from the background" in
                  read_text(os.path.join(windows, "1.out"))),
         "in the background it serves a client")
    # It has passed the point where it would take a console.
    tmux("send-keys", "-t", "bg", "jobs -l", "Enter")
    t.ok(wait_for(lambda: "Running" in screen("bg")) and
         "Stopped" not in screen("bg"), "and keeps running", screen("bg"))
    tmux("send-keys", "-t", "bg", "kill %1", "Enter")
    t.ok(d.wait_eof(), "until it is killed")


sections.run("console", console)
sections.run("background", background)
t.done()
