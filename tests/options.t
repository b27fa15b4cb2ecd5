#!/usr/bin/env python3
# ptychatd's command line: every mistake gets one clear line, a usage
# hint and status 2; a port in use gets one line and status 1.
import os
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from ptytest import PTYCHATD, TAP, Sections, run  # noqa: E402

t = TAP()
sections = Sections(t)

BAD = [
    (["--no-such-option"], "unrecognized option"),
    (["-p", "70000"], "invalid port '70000'"),
    (["-p", "-1"], "invalid port '-1'"),
    (["-p", "http"], "invalid port 'http'"),
    (["-p", ""], "invalid port ''"),
    (["-4", "-6"], "-4 and -6 cannot be used together"),
    (["-t", ""], "the terminal command is empty"),
    (["-t", "xterm -T %x"], "bad %x in terminal command word '%x'"),
    (["-t", "xterm 100%"],
     "lone % at the end of terminal command word '100%'"),
    (["-b", ""], "the bind address is empty"),
    (["extra"], "unexpected argument 'extra'"),
    (["-p"], "requires an argument"),
]


def mistakes(tmp):
    for args, message in BAD:
        status, out, err = run([PTYCHATD] + args)
        lines = err.splitlines()
        t.ok(status == 2 and len(lines) == 3 and message in lines[0]
             and lines[1].startswith("usage: ptychatd")
             and "--help" in lines[2],
             "ptychatd %s: status 2, '%s', then usage" % (" ".join(args),
                                                          message),
             "status %d, stderr %r" % (status, err))


def bind_errors(tmp):
    # A port in use: one line naming the address, status 1.
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    sections.defer(busy.close)
    port = busy.getsockname()[1]
    status, out, err = run([PTYCHATD, "-b", "127.0.0.1", "-p", str(port)])
    t.eq((status, err), (1, "ptychatd: bind 127.0.0.1 port %d: Address "
                            "already in use\n" % port),
         "a port in use: status 1 and one clear line")

    status, out, err = run([PTYCHATD, "-b", "no-such-host.invalid", "-p",
                            "0"])
    t.ok(status == 1 and err.startswith("ptychatd: no-such-host.invalid: ")
         and len(err.splitlines()) == 1,
         "an unresolvable bind address: status 1 and one line", err)


def help_and_version(tmp):
    status, out, err = run([PTYCHATD, "--help"])
    t.ok(status == 0 and out.startswith("usage: ptychatd") and err == "",
         "--help: usage on stdout, status 0")
    for opt in ("--ipv4", "--ipv6", "--bind", "--port", "--terminal",
                "--quiet", "--verbose", "--help", "--version", "%n", "%a",
                "%p"):
        t.ok(opt in out, "--help mentions %s" % opt)
    status, out, err = run([PTYCHATD, "-V"])
    t.ok(status == 0 and out.startswith("ptychatd ") and
         out.split()[1][0].isdigit(), "-V prints the version", out)


def log_level(flag, shown, hidden):
    """-q logs only errors (and the listening line); -v logs more."""
    def check(tmp):
        srv = sections.server(tmp, args=[flag])
        c = srv.connect()
        # The session is logged (or not) before its window's banner.
        srv.window(1)
        c.close()
        text = srv.text()
        t.ok(shown in text and (hidden is None or hidden not in text),
             "%s: the log %s" % (flag, "keeps only the listening line"
                                 if flag == "-q" else
                                 "also names each window's process"), text)
    return check


sections.run("mistakes", mistakes)
sections.run("bind errors", bind_errors)
sections.run("--help and -V", help_and_version)
sections.run("-q", log_level("-q", "listening on", "connected"))
sections.run("-v", log_level("-v", "is pid", None))
t.done()
