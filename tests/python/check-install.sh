#!/bin/bash
# `pip install bindings/python` works offline (Debian's setuptools, no
# build isolation) and the installed package finds the library through
# PPS_LIBRARY.  Works on a copy, so the source tree gets no build/ or
# egg-info.  Exit 77 (skip) without pip.
set -euo pipefail
python=$1 src=$2
"$python" -m pip --version >/dev/null 2>&1 || { echo "no pip: skipped"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp -r "$src" "$tmp/src"
"$python" -m pip install -q --no-build-isolation --no-deps --no-index \
    --target "$tmp/site" "$tmp/src" 2>&1 | grep -v "as the 'root' user" || true
test -f "$tmp/site/pps/__init__.py" && test -f "$tmp/site/pps/py.typed"
cd "$tmp"
got=$(PYTHONPATH="$tmp/site" "$python" -c 'import pps; print(pps.__file__, pps.version())')
echo "$got"
case "$got" in "$tmp/site/pps/__init__.py "[0-9]*.[0-9]*.[0-9]*) ;; *) echo "FAIL: $got"; exit 1;; esac
echo "ok: installed and imported"
