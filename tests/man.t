#!/usr/bin/env python3
# The manual pages are valid mdoc, and they and --help name the same
# options as the code accepts.
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from ptytest import (PTYCHAT, PTYCHATD, TAP, TOP, Sections,  # noqa
                     need_tools, run)

t = TAP()
need_tools(t, "mandoc")
sections = Sections(t)


def manual(name, binary):
    page = os.path.join(TOP, "man", name + ".1")
    status, out, err = run(["mandoc", "-Tlint", "-W", "warning", page])
    t.ok(status == 0 and out == "" and err == "",
         "mandoc -Tlint finds nothing in %s.1" % name, out + err)
    with open(page) as f:
        text = f.read()
    t.ok(re.search(r"^\.Sh EXAMPLES$", text, re.M) is not None,
         "%s.1 has an EXAMPLES section" % name)
    # Long options as the page lists them (.It Fl x , Fl \-long ...).
    # Only the option list (.It lines), not other programs' options
    # quoted elsewhere in the page.
    items = "\n".join(re.findall(r"^\.It Fl .*$", text, re.M))
    in_page = set(o.replace("\\-", "-") for o in
                  re.findall(r"Fl \\-([a-z0-9]+(?:\\-[a-z0-9]+)*)", items))
    status, help_text, _ = run([binary, "--help"])
    in_help = set(re.findall(r"--([a-z0-9-]+)", help_text))
    t.eq(sorted(in_page), sorted(in_help),
         "%s.1 and %s --help list the same long options" % (name, name))
    # Each option is accepted: "--opt[=x] --help" parses it, then --help
    # exits before anything is done with it.
    takes_value = set(re.findall(r"--([a-z0-9-]+)[ =][A-Z]", help_text))
    sample = {"allow": "127.0.0.1", "deny": "127.0.0.1", "bind": "::1",
              "terminal": "xterm", "log-dir": "unused",
              "proxy-protocol": "127.0.0.1"}
    for opt in sorted(in_help):
        word = "--" + opt
        if opt in takes_value:
            word += "=" + sample.get(opt, "1")
        status, out, err = run([binary, word, "--help"], timeout=5)
        t.ok(status == 0 and "unrecognized option" not in err,
             "%s accepts %s, as documented" % (name, word), err)


for name, binary in (("ptychatd", PTYCHATD), ("ptychat", PTYCHAT)):
    sections.run(name + ".1", lambda tmp: manual(name, binary))
t.done()
