#!/usr/bin/env bash
# tests/bench/run.sh [SECONDS] - the header reading + routing figure, from
# a release build of its own (build-bench/, git-ignored).
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
build="$root/build-bench"
[ -d "$build" ] || meson setup "$build" "$root" -Dbuildtype=release \
    -Db_sanitize=none -Dfuzzing=false >/dev/null
ninja -C "$build" tests/route/bench-route >/dev/null
"$build/tests/route/bench-route" "${1:-2}"
