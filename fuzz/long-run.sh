#!/usr/bin/env bash
# long-run.sh BUILD TARGET SECONDS WORKDIR
#
# One long libFuzzer run of fuzz/TARGET (see fuzz/README.md).  The corpus
# grows in WORKDIR/corpus (seeded from fuzz/TARGET/corpus, which is never
# written), crashes land in WORKDIR/artifacts, the log in WORKDIR/log.
# At the end it prints one table row for docs/reliability.md:
#   target | commit | wall s | CPU s | runs | cov / ft | result
# and exits 1 when libFuzzer found anything.
set -u
build=$1 target=$2 seconds=$3 work=$4
src=$(cd "$(dirname "$0")/.." && pwd)
fuzzer=$build/fuzz/fuzz-$target
[ -x "$fuzzer" ] || { echo "long-run: $fuzzer not built (needs -Dfuzzing=true)" >&2; exit 2; }
mkdir -p "$work/corpus" "$work/artifacts"
dict_arg=()
[ -f "$src/fuzz/$target/dict" ] && dict_arg=(-dict="$src/fuzz/$target/dict")
commit=$(git -C "$src" rev-parse --short HEAD 2>/dev/null || echo unknown)

# halt_on_error: without it UBSan prints a report and the run goes on.
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export ASAN_OPTIONS=detect_leaks=1
start=$(date +%s)
/usr/bin/time -f '%U %S' -o "$work/cpu" \
    "$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 "${dict_arg[@]}" -artifact_prefix="$work/artifacts/" \
    "$work/corpus" "$src/fuzz/$target/corpus" >"$work/log" 2>&1
status=$?
wall=$(($(date +%s) - start))
cpu=$(tail -n 1 "$work/cpu" | awk '{printf "%d", $1 + $2}' 2>/dev/null || echo '?')
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log")
cov=$(grep -E '^#[0-9]+' "$work/log" | tail -n 1 | sed -n 's/.*cov: \([0-9]*\) ft: \([0-9]*\).*/\1 \/ \2/p')
if [ "$status" -eq 0 ] && [ -z "$(ls -A "$work/artifacts")" ]; then
    result="no crash, leak, timeout or sanitizer report"
else
    result="FOUND: $(ls "$work/artifacts" | head -n 3 | tr '\n' ' ')(exit $status, see $work/log)"
fi
printf '| %s | %s | %s s | %s s | %s | %s | %s |\n' \
    "$target" "$commit" "$wall" "$cpu" "${runs:-?}" "${cov:-?}" "$result"
[ "$status" -eq 0 ]
