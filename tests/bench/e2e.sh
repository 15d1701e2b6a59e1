#!/usr/bin/env bash
# e2e.sh BUILD_DIR [RUNS] [SCENARIOS] - end-to-end benchmark (issue #8):
# libpps (`pps fetch`) against mpop, fetchmail and getmail6, each pulling
# from the test bed's Dovecot on 127.0.0.1 into a fresh local Maildir,
# durably, and deleting on the server.  Prints median wall time, CPU,
# peak RSS and throughput ratios; never asserts timings.  Not run by
# `meson test`.  Needs root (the test bed).  See docs/performance.md.
#
#     tests/bench/e2e.sh build-release 3 S1,S2,S3
#     tests/bench/e2e.sh build-release 3 S4       # 200 accounts x 10
#
# BUILD_DIR must hold libpps/libpps.so and hosts/cli/pps (a release build:
# meson setup build-release -Dbuildtype=release -Dtests=false).
set -eu
build=$(cd "$1" && pwd); runs=${2:-3}; scen=${3:-S1,S2,S3}
src=$(cd "$(dirname "$0")/../.." && pwd)
need=""
for p in mpop fetchmail getmail:getmail6 /usr/bin/time:time; do
    command -v "${p%%:*}" >/dev/null || need="$need ${p##*:}"
done
if [ -n "$need" ]; then
    echo "e2e.sh: installing the comparison tools:$need" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y $need >/dev/null
fi
if [ -z "${PPS_TB_HOST:-}" ]; then
    users=3; case $scen in *S4*) users=200;; esac
    exec python3 "$src/tests/testbed/testbed.py" run --users "$users" -- \
        python3 "$src/tests/bench/e2e.py" "$build" "$runs" "$scen"
fi
exec python3 "$src/tests/bench/e2e.py" "$build" "$runs" "$scen"
