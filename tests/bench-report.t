#!/usr/bin/env python3
# bench/report rewrites README.md's benchmark tables from bench/run's CSV:
# only the lines between its two marker comments, the figures from the
# CSV; and with a marker missing, repeated or misplaced it fails and
# leaves the file as it was.
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from ptytest import TAP, TOP, Sections, run  # noqa

t = TAP()
sections = Sections(t)
REPORT = os.path.join(TOP, "bench", "report")

FIXTURE = """\
section,case,metric,unit,median,min,max,runs,goal,met,note
0 run,CPUs,count,,2.0,2.0,2.0,1,,,"2 CPUs, Test CPU, Linux 9.9, load 0.10 at start"
0 run,load average,at start,,0.1,0.1,0.1,1,,,
0 run,load average,at end,,0.3,0.3,0.3,1,,,
0 run,total time,wall,s,61.5,61.5,61.5,1,,,bench/run --quick
1 client->window,ptychatd (chat editor) + drain-term,throughput,MB/s,123.4,101.0,150.5,5,,,sanitised
1 client->window,ratio ptychatd/socat,ratio,x,1.234,1.234,1.234,1,> 1,yes,
3 round trip,ratio ptychatd/socat,p99 ratio,x,1.5,1.5,1.5,1,<= 1,no,
7 sanitiser,"sanitize_feed, ascii",throughput,MB/s,3702.5,3671.4,3702.5,3,,,a | in a note
"""

BEFORE = "# t\n\nText before, kept.\n<!-- bench-report: begin (x) -->\n"
OLD = "| stale | table typed by hand | 999 MB/s |\n"
AFTER = "<!-- bench-report: end -->\n\nText after, kept too.\n"


def write(path, text):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def report(tmp, readme_text, csv_text=FIXTURE):
    """Runs bench/report on a fixture README; returns (status, stderr,
    README before, README after)."""
    csv_path = os.path.join(tmp, "results.csv")
    readme = os.path.join(tmp, "README.md")
    write(csv_path, csv_text)
    write(readme, readme_text)
    status, _, err = run([REPORT, csv_path, readme])
    return status, err, readme_text, read(readme)


def rewrites(tmp):
    status, err, _, new = report(tmp, BEFORE + OLD + AFTER)
    t.ok(status == 0, "bench/report succeeds on a README with both markers",
         err)
    t.ok(new.startswith(BEFORE), "everything up to the begin marker is "
         "kept byte for byte", new)
    t.ok(new.endswith(AFTER), "everything from the end marker on is kept "
         "byte for byte", new)
    block = new[len(BEFORE):len(new) - len(AFTER)]
    t.ok("999" not in block and "stale" not in block,
         "the old text between the markers is gone", block)
    t.ok("| ptychatd (chat editor) + drain-term | throughput | 123 MB/s | "
         "101 – 150 | sanitised |" in block,
         "a measurement's row comes from the CSV: median, range, note",
         block)
    t.ok("Goals (issue 12): 1 of 2 met" in block,
         "the goals are counted from the CSV's met column", block)
    t.ok("| 3 round trip | ratio ptychatd/socat p99 ratio | 1.50× | <= 1 | "
         "**no** |" in block, "a goal not met is marked", block)
    t.ok("2 CPUs, Test CPU, Linux 9.9" in block and "61.5 s" in block and
         "load 0.10 at the start and 0.30 at the end" in block,
         "the run's machine, time and load come from the CSV", block)
    t.ok("a \\| in a note" in block, "a | in the CSV does not split a cell",
         block)
    path = os.path.join(tmp, "README.md")
    status, err = run([REPORT, os.path.join(tmp, "results.csv"), path])[::2]
    t.ok(status == 0 and read(path) == new,
         "a second run on its own output changes nothing", err)


def refuses(tmp, name, text, why, csv_text=FIXTURE):
    status, err, old, new = report(tmp, text, csv_text)
    t.ok(status == 1 and why in err, "%s: bench/report fails, saying so" %
         name, "status %r, stderr %r" % (status, err))
    t.ok(new == old, "%s: the README is left byte for byte" % name)


def bad_markers(tmp):
    refuses(tmp, "no end marker", BEFORE + OLD + "Text after.\n",
            "no '<!-- bench-report: end ...' marker")
    refuses(tmp, "no begin marker", "# t\n" + OLD + AFTER,
            "no '<!-- bench-report: begin ...' marker")
    refuses(tmp, "two begin markers", BEFORE + BEFORE + OLD + AFTER,
            "2 'begin' marker lines")
    refuses(tmp, "end before begin", AFTER + OLD + BEFORE,
            "the end marker comes before the begin marker")


def bad_csv(tmp):
    refuses(tmp, "a CSV without the goal and met columns",
            BEFORE + OLD + AFTER, "lacks the column(s) goal, met",
            "section,case,metric,unit,median,min,max,runs,note\n"
            "1 x,a,b,c,1,1,1,1,n\n")


def the_readme(tmp):
    text = read(os.path.join(TOP, "README.md"))
    lines = text.split("\n")
    begins = [i for i, s in enumerate(lines)
              if s.startswith("<!-- bench-report: begin")]
    ends = [i for i, s in enumerate(lines)
            if s.startswith("<!-- bench-report: end")]
    t.ok(len(begins) == 1 and len(ends) == 1 and begins[0] < ends[0],
         "README.md has one pair of markers, in order, for make "
         "bench-readme", "begin at %r, end at %r" % (begins, ends))
    perf = [i for i, s in enumerate(lines) if s == "## Performance"]
    nxt = [i for i, s in enumerate(lines) if s.startswith("## ") and
           perf and i > perf[0]]
    t.ok(perf and begins and nxt and perf[0] < begins[0] and
         ends[-1] < nxt[0], "the markers are in the Performance section")


sections.run("rewrites between the markers", rewrites)
sections.run("refuses bad markers", bad_markers)
sections.run("refuses an older CSV", bad_csv)
sections.run("README.md's markers", the_readme)
t.done()
