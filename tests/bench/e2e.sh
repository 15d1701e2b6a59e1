#!/usr/bin/env bash
# e2e.sh BUILD_DIR [RUNS] [SCENARIOS] - end-to-end benchmark (issue #8):
# libpps (`pps fetch`; `ppsd --once` for the many accounts of S4 and S5)
# against mpop, fetchmail and getmail6, each pulling
# from the test bed's Dovecot on 127.0.0.1 into a fresh local Maildir,
# durably, and deleting on the server.  Prints median wall time, CPU,
# peak RSS and throughput ratios; never asserts timings.  Not run by
# `meson test`.  Needs root (the test bed).  See docs/performance.md.
#
#     tests/bench/e2e.sh build-release 3 S1,S2,S3
#     tests/bench/e2e.sh build-release 3 S4       # 200 accounts x 10
#     tests/bench/e2e.sh build-release 3 S5       # 1,000 accounts, ppsd --once
#
# BUILD_DIR must hold libpps/libpps.so, hosts/cli/pps and hosts/service/ppsd
# (a release build:
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
    # S5 (1,000 logins): Dovecot reuses its login and pop3 processes, so
    # that the server's fork+exec per login does not dominate the figures;
    # PPS_BENCH_REUSE=0 or 1 overrides (tests/testbed/README.md).
    users=3; reuse=""
    case $scen in *S5*) users=1000; reuse=--reuse-processes;; *S4*) users=200;; esac
    case ${PPS_BENCH_REUSE:-} in 1) reuse=--reuse-processes;; 0) reuse="";; esac
    exec python3 "$src/tests/testbed/testbed.py" run --users "$users" $reuse -- \
        python3 "$src/tests/bench/e2e.py" "$build" "$runs" "$scen"
fi
exec python3 "$src/tests/bench/e2e.py" "$build" "$runs" "$scen"
