"""The manual pages render without a warning, and document what the
programs say they accept.

Usage: check-manpages.py PPS PPSD PAGE...

Each PAGE is rendered with `groff -man -Tutf8 -ww` (exit 77, skipped, when
groff is missing): any diagnostic fails.  Then every --option and every
command that `pps --help` and `ppsd --help` print must appear in pps.1 and
ppsd.8 respectively, so a new option cannot ship undocumented.
"""
import os
import re
import shutil
import subprocess
import sys


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def page_text(path):
    # Roff escapes of the characters options are made of.
    return open(path).read().replace("\\-", "-").replace("\\fB", "") \
        .replace("\\fR", "").replace("\\fI", "")


def main():
    pps, ppsd, pages = sys.argv[1], sys.argv[2], sys.argv[3:]
    if not shutil.which("groff"):
        print("SKIP: groff is not installed")
        sys.exit(77)
    for page in pages:
        r = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", page],
                           capture_output=True, text=True)
        if r.returncode != 0 or r.stderr.strip():
            fail("%s: groff says:\n%s" % (page, r.stderr))
        print("ok: %s renders without warnings" % os.path.basename(page))

    by_name = {os.path.basename(p): p for p in pages}
    for exe, page in ((pps, "pps.1"), (ppsd, "ppsd.8")):
        help_text = subprocess.run([exe, "--help"], capture_output=True,
                                   text=True, check=True).stdout
        text = page_text(by_name[page])
        options = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*|-[a-z])\b",
                                 help_text))
        missing = sorted(o for o in options if o not in text)
        if missing:
            fail("%s does not document %s" % (page, ", ".join(missing)))
        print("ok: %s documents %s" % (page, " ".join(sorted(options))))
    # Every command of pps.
    help_text = subprocess.run([pps, "--help"], capture_output=True,
                               text=True, check=True).stdout
    text = page_text(by_name["pps.1"])
    for cmd in re.findall(r"^  ((?:profile )?[a-z]+)", help_text, re.M):
        if cmd not in text:
            fail("pps.1 does not document the command %r" % cmd)
    print("ok: pps.1 documents every command of pps --help")


main()
