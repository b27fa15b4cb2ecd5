#!/usr/bin/env python3
# A chat line taller than the terminal: typed into a 40x8 tmux pane, it
# must stay within the screen, so that when the peer's text arrives and
# when Enter sends it, every row drawn is erased again.  What the pane
# keeps, scrollback included, must hold the line once, as "you: ...",
# with no stale copy of it above.  Both chat lines are tried: ptychat's on
# its terminal, and a ptychatd window opened in tmux.
import os
import re
import socket
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from ptytest import PTYCHAT, TAP, Client, Sections, need_tools, wait_for  # noqa

t = TAP()
need_tools(t, "tmux")
sections = Sections(t)

COLS, ROWS = 40, 8
# 401 characters in which every run of 12 is found once only, so any
# fragment of a stale copy is told from the line itself.
LINE = "".join("%03d," % i for i in range(100)) + "!"
PEER = "the peer says hello"
FRAGMENT = 12


class Tmux:
    """A private tmux server whose socket lives in tmp."""

    def __init__(self, tmp):
        self.env = dict(os.environ, TMUX_TMPDIR=tmp)
        self.env.pop("TMUX", None)

    def __call__(self, *args):
        p = subprocess.run(["tmux"] + list(args), env=self.env,
                           capture_output=True, timeout=10)
        return p.stdout.decode("utf-8", "replace")

    def screen(self, target):
        return self("capture-pane", "-p", "-t", target)

    def everything(self, target):
        """The scrollback and the screen, wrapped rows joined."""
        return self("capture-pane", "-p", "-J", "-S", "-", "-E", "-",
                    "-t", target)


def stale_fragments(text):
    """Runs of the line found outside its one 'you: ' copy."""
    rest = text.replace("you: " + LINE, "", 1).replace("\n", "")
    return [LINE[i:i + FRAGMENT] for i in range(len(LINE) - FRAGMENT + 1)
            if LINE[i:i + FRAGMENT] in rest]


def tall_line(name, tmux, target, peer, sent):
    """Types the line, has the peer talk, sends it; checks the pane.
    peer(text) sends as the other side; sent() is what reached it."""
    tmux("send-keys", "-t", target, "-l", LINE)
    t.ok(wait_for(lambda: LINE[-FRAGMENT:] in
                  tmux.screen(target).replace("\n", "")),
         "%s: the end of the typed line is on the screen" % name,
         tmux.screen(target))
    peer(PEER + "\n")
    t.ok(wait_for(lambda: PEER in tmux.screen(target)),
         "%s: the peer's line arrives above it" % name, tmux.screen(target))
    tmux("send-keys", "-t", target, "Enter")
    t.ok(wait_for(lambda: (LINE + "\n").encode() in sent()),
         "%s: Enter sends the line whole" % name, sent())
    done = lambda: re.search(  # noqa: E731
        r"you: %s\n> *$" % re.escape(LINE), tmux.everything(target))
    t.ok(wait_for(done), "%s: the pane ends with 'you: <line>' and the "
         "prompt" % name, tmux.everything(target))
    text = tmux.everything(target)
    stale = stale_fragments(text)
    t.ok(not stale, "%s: no stale copy of the line is left, scrollback "
         "included" % name, "%d runs of %d found outside 'you: ...', the "
         "first %r, in:\n%s" % (len(stale), FRAGMENT, stale[:1], text))
    prompts = [line for line in text.splitlines() if line.startswith(">")]
    t.eq(prompts, ["> "], "%s: the prompt shows once, at the end, not "
         "copied into the scrollback" % name)
    t.ok(text.count(PEER) == 1 and
         text.index(PEER) < text.index("you: " + LINE),
         "%s: the peer's line shows once, above ours" % name, text)


def client(tmp):
    tmux = Tmux(tmp)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(10)
    try:
        tmux("new-session", "-d", "-s", "cl", "-x", str(COLS), "-y",
             str(ROWS), "exec %s --no-tls 127.0.0.1 %d" %
             (PTYCHAT, listener.getsockname()[1]))
        conn = Client(listener.accept()[0])
        t.ok(wait_for(lambda: tmux.screen("cl").rstrip().endswith(">")),
             "ptychat: the prompt shows in a %dx%d pane" % (COLS, ROWS),
             tmux.screen("cl"))
        tall_line("ptychat", tmux, "cl", conn.send,
                  lambda: conn.wait_data(LINE + "\n", 0.2) and conn.buf)
        conn.close()
    finally:
        listener.close()
        tmux("kill-server")


def window(tmp):
    tmux = Tmux(tmp)
    # New windows take the size of the session they open in.
    tmux("new-session", "-d", "-s", "ptychat", "-x", str(COLS), "-y",
         str(ROWS))
    try:
        srv = sections.server(tmp, terminal="tmux",
                              env={"TMUX_TMPDIR": tmp, "TMUX": ""})
        c = srv.connect()
        name = lambda: next((w for w in tmux(  # noqa: E731
            "list-windows", "-t", "ptychat", "-F",
            "#{window_id} #{window_name}").splitlines()
            if w.split(" ", 1)[1].startswith("ptychat #1 ")), None)
        t.ok(wait_for(name, 10), "ptychatd: the client's window opens in "
             "tmux", tmux("list-windows", "-a"))
        wid = name().split(" ", 1)[0]
        t.ok(wait_for(lambda: "hang up." in tmux.everything(wid) and
                      tmux.screen(wid).rstrip().endswith(">"), 10),
             "ptychatd: the window shows its banner and prompt",
             tmux.screen(wid))
        tall_line("ptychatd window", tmux, wid, c.send,
                  lambda: c.wait_data(LINE + "\n", 0.2) and c.buf)
        c.close()
    finally:
        tmux("kill-server")


sections.run("ptychat in a %dx%d tmux pane" % (COLS, ROWS), client)
sections.run("a ptychatd window in %dx%d tmux" % (COLS, ROWS), window)
t.done()
