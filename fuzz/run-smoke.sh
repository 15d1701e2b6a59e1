#!/usr/bin/env bash
# run-smoke.sh FUZZER CORPUS DICT SECONDS
# A short libFuzzer run seeded from the corpus, writing new inputs and any
# crash only to a scratch folder (printed on failure).
set -eu
fuzzer=$1 corpus=$2 dict=$3 seconds=$4
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
dict_arg=()
[ -f "$dict" ] && dict_arg=(-dict="$dict")
if ! "$fuzzer" -max_total_time="$seconds" -seed=1 -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$scratch/" "${dict_arg[@]}" \
        "$scratch" "$corpus" 2>"$scratch/log"; then
    tail -n 40 "$scratch/log"
    for f in "$scratch"/crash-* "$scratch"/leak-* "$scratch"/timeout-*; do
        [ -f "$f" ] && { echo "== $f"; od -c "$f" | head -n 20; }
    done
    exit 1
fi
grep -E 'stat::number_of_executed_units|Done' "$scratch/log" || true
