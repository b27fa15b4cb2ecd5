#!/usr/bin/env python3
# Escape-sequence injection from a client into a REAL xterm on a private
# Xvfb: titles, reports that answer into the window's input (title
# report, DECRQSS, XTGETTCAP, DA, DSR, ENQ, OSC 52/50/11 queries), the
# clipboard, fonts, 8-bit and UTF-8 C1 forms, and an OSC over 1 MB long.
# None may take effect.  Each attack gets a session (and window) of its
# own, so one that got through cannot mask or fake the next one's result,
# and each is checked three ways:
#
#  (a) the window's title and icon name (WM_NAME, WM_ICON_NAME and the
#      _NET_ forms) are what they were: "ptychat #N 127.0.0.1:PORT";
#  (b) nothing is written back to the client.  A terminal's answer goes
#      into the window's input, where it would land at the front of the
#      line being typed; so the operator types a marker line and the
#      client must get exactly that line;
#  (c) xterm's log (-l -lf) shows the sequence in visible form (^[, ^G,
#      \x9B, \u009D...), and holds no raw control byte but the chat
#      line's own cursor moves, the focus reports it turns on, and the
#      BEL of ptychatd's own that rings a window without the focus.
#
# The xterms are made as exposed as they can be, so that the sanitiser is
# what stops each attack:
#  - they run in the C locale, where xterm is in 8-bit mode and obeys C1
#    bytes (0x9B is CSI, 0x9D is OSC).  In a UTF-8 locale xterm 379
#    ignores C1 controls whatever their form, and a C1 attack would prove
#    nothing;
#  - the operator's X resources allow every op xterm guards (window,
#    title, font, colour, termcap) and set an answerback string, so ENQ
#    has an answer to give.  ptychatd's -xrm hardening overrides exactly
#    these, which the last part checks on its own, with no sanitiser in
#    the way.

import base64
import os
import re
import shutil
import subprocess
import sys
import time

sys.dont_write_bytecode = True     # no __pycache__ in the tree
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from ptytest import TAP, Sections, need_tools, read_text, wait_for  # noqa
from xdisplay import (X, cmdline_of, private_display,  # noqa
                      selection_owners, send_wm_delete, stop_process,
                      window_texts, xterms_mentioning)

# The xterm resources ptychatd turns off with -xrm (src/termcmd.c):
# allowWindowOps, allowTitleOps...
OPS = ["Window", "Title", "Font", "Color", "Tcap"]

# An operator whose resources allow everything.  ptychatd's -xrm words
# are at least as specific, and the command line comes last, so they win.
PERMISSIVE = "".join("*allow%sOps: true\n" % op for op in OPS)
PERMISSIVE += "*answerbackString: ENQ-ANSWER\n"

# The same wish as many dotfiles write it.  Xt ranks a resource by how
# specifically it names the widget, not by where it came from, so
# "XTerm*allowTitleOps" beats "*allowTitleOps" from -xrm; and
# allowWindowOps: false only forbids what disallowedWindowOps lists
# (this list is the one widely used to let tmux set the clipboard).
DOTFILE = "".join("XTerm*allow%sOps: true\n" % op for op in OPS)
DOTFILE += "XTerm*disallowedWindowOps: 20,21,SetXprop\n"

CLIP = base64.b64encode(b"x-clipboard")
MEGA = 1024 * 1024 + 17

# (name, bytes the client sends, what the window must show instead, extra
# check or None).  The visible forms are the
# sanitiser's: ESC ^[, BEL ^G, ENQ ^E, raw C1 \xNN, C1 as UTF-8 \u00NN.
ATTACKS = [
    ("OSC 0 title and icon name", b"\x1b]0;x-osc0\x07",
     b"^[]0;x-osc0^G", None),
    ("OSC 1 icon name", b"\x1b]1;x-osc1\x07",
     b"^[]1;x-osc1^G", None),
    ("OSC 2 title, ST-terminated", b"\x1b]2;x-osc2\x1b\\",
     b"^[]2;x-osc2^[\\", None),
    ("CSI 21 t title report after OSC 2",
     b"\x1b]2;x-report\x07\x1b[21t",
     b"^[]2;x-report^G^[[21t", None),
    ("CSI 20 t icon label report after OSC 2 and OSC 1",
     b"\x1b]2;x-report\x07\x1b]1;x-report\x07\x1b[20t",
     b"^[]2;x-report^G^[]1;x-report^G^[[20t", None),
    ("DECRQSS SGR", b"\x1bP$qm\x1b\\", b"^[P$qm^[\\", None),
    ("DECRQSS DECSCL", b'\x1bP$q"p\x1b\\', b'^[P$q"p^[\\', None),
    ("XTGETTCAP", b"\x1bP+q544e\x1b\\", b"^[P+q544e^[\\", None),
    ("OSC 52 clipboard set", b"\x1b]52;c;" + CLIP + b"\x07",
     b"^[]52;c;" + CLIP + b"^G", "selections"),
    ("OSC 52 primary set", b"\x1b]52;p;" + CLIP + b"\x07",
     b"^[]52;p;" + CLIP + b"^G", "selections"),
    ("OSC 52 clipboard query", b"\x1b]52;c;?\x07",
     b"^[]52;c;?^G", "selections"),
    # Xvfb has one core font ("fixed"), so a font change could not be
    # seen on this display anyway: (c) and the title are what count.
    ("OSC 50 font change", b"\x1b]50;xft:monospace:size=20\x07",
     b"^[]50;xft:monospace:size=20^G", None),
    ("OSC 50 font query", b"\x1b]50;?\x07", b"^[]50;?^G", None),
    ("OSC 11 colour query", b"\x1b]11;?\x07", b"^[]11;?^G", None),
    ("ENQ (answerback)", b"\x05", b"^E", None),
    ("DA1 CSI c", b"\x1b[c", b"^[[c", None),
    ("DA2 CSI > c", b"\x1b[>c", b"^[[>c", None),
    ("DSR CSI 6 n", b"\x1b[6n", b"^[[6n", None),
    ("DSR CSI 5 n", b"\x1b[5n", b"^[[5n", None),
    ("raw C1 CSI 0x9B 6n", b"\x9b6n", b"\\x9B6n", None),
    ("raw C1 OSC 0x9D 2;x BEL", b"\x9d2;x-c1\x07", b"\\x9D2;x-c1^G",
     None),
    ("UTF-8 C1 CSI C2 9B 6n", b"\xc2\x9b6n", b"\\u009B6n", None),
    ("UTF-8 C1 OSC C2 9D 2;x BEL", b"\xc2\x9d2;x-u-c1\x07",
     b"\\u009D2;x-u-c1^G", None),
    ("OSC 2 with %d bytes of text" % MEGA,
     b"\x1b]2;" + (b"0123456789abcdef" * (MEGA // 16 + 1))[:MEGA] + b"\x07",
     b"^[]2;" + (b"0123456789abcdef" * (MEGA // 16 + 1))[:MEGA] + b"^G",
     "timing"),
    # To an 8-bit xterm every byte of valid UTF-8 is a character of its
    # own, and a continuation byte 0x80-0x9F is a C1 control: U+00DB (Û)
    # is C3 9B, "Ã" and CSI; U+201B is E2 80 9B; U+00D0 (Ð) and U+00DC
    # (Ü) end in 0x90 (DCS) and 0x9C (ST).  These xterms run with LC_ALL=C;
    # ptychatd's -xrm locale: UTF-8 keeps them decoding UTF-8.
    ("U+00DB then 6n", "\u00db6n".encode(), None, None),
    ("U+201B then 6n", "\u201b6n".encode(), None, None),
    ("U+00D0 $qm U+00DC (DECRQSS)", "\u00d0$qm\u00dc".encode(), None, None),
]

# Bytes that may be in a window's log: printable ASCII, \t, \n, \r, and
# 0xA0-0xFF (no C1 control there, even to an 8-bit xterm).
RAW_CONTROLS = bytes(b for b in range(256)
                     if (b < 0x20 and b not in (9, 10, 13))
                     or 0x7F <= b <= 0x9F)
ALLOWED = bytes(b for b in range(256) if b not in RAW_CONTROLS)

# What ptychatd's chat line editor itself sends: cursor up, down and
# right, erase the line and below, and bold/dim/plain; DECSET 1004 (focus
# reports) once; and ptychatd's BEL, written after the chat line's
# prompt is drawn again under the client's text (a client's BEL could
# only land in that text).
CHAT_LINE = re.compile(rb"\x1b\[[0-9;]*[ABCJKm]|\x1b\[\?1004h|(?<=> )\x07")

# The probe runs inside an xterm, in place of ptychat-bridge: it writes
# raw attack bytes to the terminal, then DSR 5n, whose answer (ESC [ 0 n)
# comes after every answer to what went before it, and saves all it got.
# Then it saves the line typed into its window: xterm passes a key on
# only after it has sent the X server every request the bytes made (a
# new title, a selection claimed).
PROBE = r"""
import os, select, sys, time, tty
def save(path, data):
    with open(path + ".part", "wb") as f:
        f.write(data)
    os.rename(path + ".part", path)
def read_until(want, end):
    got = b""
    while want not in got and time.monotonic() < end:
        if select.select([0], [], [], 0.1)[0]:
            got += os.read(0, 4096)
    return got
tty.setraw(0)
os.write(1, bytes.fromhex(sys.argv[1]) + b"\x1b[5n")
end = time.monotonic() + float(sys.argv[3])
save(sys.argv[2], read_until(b"\x1b[0n", end))
save(sys.argv[2] + ".typed", read_until(b"\r", end + 10))
time.sleep(60)
"""
PROBE_BYTES = (b"\x1b]0;pwned\x07"                  # title, icon name
               b"\x1b]52;c;" + CLIP + b"\x07"       # clipboard
               b"\x1b[21t"                          # title report
               b"\x1b]50;?\x07"                     # font query
               b"\x1b]11;?\x07"                     # colour query
               b"\x1bP+q544e\x1b\\")                # termcap query


def read_bytes(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return b""


def brief(data, limit=300):
    """A repr short enough for a diagnostic."""
    if len(data) > limit:
        return "%r ... (%d bytes)" % (data[:limit], len(data))
    return repr(data)


t = TAP()
need_tools(t, "Xvfb", "xterm", "xdotool")
sections = Sections(t)
NO_OWNER = {"PRIMARY": 0, "CLIPBOARD": 0}


def write_resources(tmp, name, text):
    path = os.path.join(tmp, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def display_up(tmp):
    """A private Xvfb for the section: its display, or None (a failure)."""
    display = private_display(sections, tmp)
    t.ok(display, "a private Xvfb runs",
         read_text(os.path.join(tmp, "xvfb.log")))
    return display


def attacks(tmp):
    display = display_up(tmp)
    if not display:
        return
    x = X(display)
    permissive = write_resources(tmp, "permissive.ad", PERMISSIVE)
    terminal = ("xterm -l -lf %s/xterm-%%n.log -fn fixed -geometry 80x24"
                % tmp)
    srv = sections.server(os.path.join(tmp, "main"), terminal=terminal,
                          env={"DISPLAY": display, "HOME": tmp,
                               "XENVIRONMENT": permissive, "LC_ALL": "C"})
    clients = []
    sections.defer(lambda: [c.close() for c in clients])

    def log_of(n):
        return read_bytes(os.path.join(tmp, "xterm-%d.log" % n))

    def log_has(n, needle, timeout=5.0):
        return wait_for(lambda: needle in log_of(n), timeout)

    t.eq(selection_owners(display), NO_OWNER,
         "no one owns PRIMARY or CLIPBOARD before the attacks")

    unclosed = []
    for n, (name, payload, visible, extra) in enumerate(ATTACKS, 1):
        check_reply = t.ok

        c = srv.connect()
        clients.append(c)
        wid = x.find("^ptychat #%d " % n)
        if not t.ok(wid is not None and log_has(n, b"Close this window", 10),
                    "%s: window %d is up" % (name, n), srv.text()):
            continue
        title = "ptychat #%d 127.0.0.1:%d" % (n, c.sock.getsockname()[1])
        before = window_texts(display, wid) or {}
        end_line = b"end of attack %d" % n

        # A megabyte takes a while to draw: send it in one go, with room.
        c.sock.settimeout(60)
        sent_at = time.monotonic()
        c.send(payload + b"\n" + end_line + b"\n")
        sent = time.monotonic() - sent_at
        shown = log_has(n, end_line + b"\r\n", 30 if extra == "timing" else 5)
        seen = time.monotonic() - sent_at
        if extra == "timing":
            t.diag("%s: into the socket in %.2f s, through xterm (its log) "
                   "in %.2f s, %.1f MB/s" % (name, sent, seen,
                                            len(payload) / seen / 1e6))
            t.ok(srv.proc.poll() is None and shown,
                 "%s: the server and the window survive it" % name,
                 srv.text()[-2000:])

        # (c) What reached the window, as the window got it.
        log = log_of(n)
        if visible is not None:
            # The chat line's own moves, erases and styles are ours.
            ours = CHAT_LINE.sub(b"", log)
            raw = ours.translate(None, ALLOWED)
            # An unfinished line longer than a few rows is written out
            # a row at a time, its rest drawn again under each part: a
            # long one is checked by its head and its tail.
            whole = (visible in ours if len(visible) < 1000 else
                     visible[:500] in ours and visible[-500:] in ours)
            t.ok(shown and whole and not raw,
                 "%s: window shows %s, and no raw control byte"
                 % (name, brief(visible, 40)),
                 "raw control bytes %r; log ends %s"
                 % (sorted(set(raw)), brief(log[-300:])))

        # (b) Any answer is at the front of the line typed now.
        marker = "after-attack-%d" % n
        typed = x.type_line(wid, marker)
        c.wait_data(marker + "\n")
        check_reply(typed and c.buf == marker.encode() + b"\n",
                    "%s: the client gets only the line typed after it"
                    % name,
                    "focus %s; client got %s" % (x.focused(), brief(c.buf)))

        # (a) Checked last: xterm passed the marker's keys on, so it had
        # sent the X server any change the attack made.
        after = window_texts(display, wid) or {}
        t.ok(x.name(wid) == title and after == before and
             before.get("WM_NAME") == title.encode(),
             "%s: title and icon name stay '%s'" % (name, title),
             "before %s, after %s" % (
                 {k: v and brief(v, 60) for k, v in before.items()},
                 {k: v and brief(v, 60) for k, v in after.items()}))
        if extra == "selections":
            t.eq(selection_owners(display), NO_OWNER,
                 "%s: PRIMARY and CLIPBOARD still have no owner" % name)

        # The close button; the client must see its session end.
        if not (send_wm_delete(display, wid) and c.wait_eof()):
            unclosed.append(n)
        c.close()
    t.eq(unclosed, [], "each attack's window closes with the close button, "
         "and its client sees EOF")
    t.ok(srv.proc.poll() is None, "the server ran through every attack")
    status = srv.stop(timeout=10)
    t.eq(status, 0, "SIGTERM then stops the server with status 0")
    t.ok(wait_for(lambda: not xterms_mentioning(tmp), 5.0),
         "no xterm is left running", xterms_mentioning(tmp))


def hardening(tmp):
    """The -xrm hardening on its own.  A server with xterm named by its
    path; then that very command line is run again with a probe in place
    of ptychat-bridge, so raw bytes reach xterm directly."""
    display = display_up(tmp)
    if not display:
        return
    x = X(display)
    permissive = write_resources(tmp, "permissive.ad", PERMISSIVE)
    dotfile = write_resources(tmp, "dotfile.ad", DOTFILE)
    srv2 = sections.server(os.path.join(tmp, "second"),
                           terminal="%s -l -lf %s/hard-%%n.log -fn fixed"
                           % (shutil.which("xterm"), tmp),
                           env={"DISPLAY": display, "HOME": tmp,
                                "XENVIRONMENT": os.devnull})
    client = srv2.connect()
    sections.defer(client.close)
    pids = wait_for(lambda: xterms_mentioning(tmp + "/hard-"), 10)
    argv = cmdline_of(pids[0]) if pids and len(pids) == 1 else None
    if not t.ok(argv is not None, "the second server's xterm runs",
                srv2.text()):
        return
    cut = argv.index("-e") if "-e" in argv else len(argv)
    user_end = argv.index("fixed") + 1
    for op in OPS:
        # "*allowTitleOps: false", or a more specific name for it.
        want = re.compile(r"[\w.*?]*[.*]allow%sOps:\s*false$" % op)
        pairs = [i for i in range(user_end, cut - 1)
                 if argv[i] == "-xrm" and want.match(argv[i + 1])]
        t.ok(pairs, "xterm runs with -xrm '*allow%sOps: false', after "
             "the -t words" % op, argv)

    def probe(tag, base, resources):
        """Runs base (an xterm argv up to -e) with the probe; returns
        (title texts, selection owners, answers) or None."""
        argv = list(base)
        for opt, value in (("-T", tag), ("-n", tag),
                           ("-lf", "%s/%s.log" % (tmp, tag))):
            if opt in argv:
                argv[argv.index(opt) + 1] = value
        out = os.path.join(tmp, tag + ".answers")
        argv += ["-e", sys.executable, "-c", PROBE, PROBE_BYTES.hex(), out,
                 "5"]
        proc = subprocess.Popen(argv, env=dict(
            os.environ, DISPLAY=display, HOME=tmp, XENVIRONMENT=resources),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        sections.defer(stop_process, proc)
        try:
            if not wait_for(lambda: os.path.exists(out), 10):
                return None
            wid = wait_for(lambda: x.run("search", "--pid",
                                         str(proc.pid))[1], 5)
            if not wid or len(wid.split()) != 1:
                return None
            if not (x.type_line(wid, "done") and wait_for(
                    lambda: os.path.exists(out + ".typed"), 10)):
                return None
            texts = window_texts(display, wid)
            if texts is None:
                return None
            return texts, selection_owners(display), read_bytes(out)
        finally:
            stop_process(proc)

    def untouched(got, tag):
        texts, owners, answers = got
        return (texts["WM_NAME"] == texts["WM_ICON_NAME"] == tag.encode()
                and owners == NO_OWNER and answers == b"\x1b[0n")

    base = argv[:cut]
    bare = [a for i, a in enumerate(base)
            if a != "-xrm" and (i == 0 or base[i - 1] != "-xrm")]
    got = probe("probe-hardened", base, permissive)
    t.ok(got and untouched(got, "probe-hardened"),
         "raw OSC 0, OSC 52, CSI 21 t, OSC 50/11 and XTGETTCAP queries do "
         "nothing in xterm with those -xrm words, though the operator's "
         "resources allow every op", got)
    got = probe("probe-bare", bare, permissive)
    t.ok(got and got[0]["WM_NAME"] == b"pwned" and
         got[1]["CLIPBOARD"] != 0 and b"pwned" in got[2] and
         b"\x1bP1+r" in got[2] and b"]50;" in got[2] and b"]11;" in got[2],
         "without them, the same bytes retitle the window, take the "
         "clipboard and get answers (so the check above can fail)", got)
    got = probe("probe-dotfile", base, dotfile)
    t.ok(got and untouched(got, "probe-dotfile"),
         "the -xrm words also hold against XTerm*allowTitleOps: true "
         "and XTerm*disallowedWindowOps: 20,21,SetXprop", got)
    t.eq(srv2.stop(timeout=10), 0, "the second server stops with status 0")
    left = wait_for(lambda: not xterms_mentioning(tmp), 5.0)
    t.ok(left, "no xterm is left running", xterms_mentioning(tmp))


sections.run("attacks", attacks)
sections.run("-xrm hardening", hardening)
t.done()
