#!/usr/bin/env bash
# check-format.sh SOURCE_ROOT
# Every tracked C file is formatted with the repository's .clang-format.
set -eu
cd "$1"
command -v clang-format >/dev/null || { echo "clang-format not installed"; exit 77; }
files=$(git ls-files '*.c' '*.h' 2>/dev/null) || { echo "not a git checkout"; exit 77; }
# One run over all files (fast); only when it fails, find which.
# shellcheck disable=SC2086
clang-format --dry-run --Werror $files >/dev/null 2>&1 && {
    echo "ok: $(echo "$files" | wc -w) files formatted"; exit 0; }
bad=()
for f in $files; do
    clang-format --dry-run --Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done
if [ ${#bad[@]} -gt 0 ]; then
    echo "FAIL: not formatted (run: clang-format -i ${bad[*]})"
    exit 1
fi
echo "ok: $(echo "$files" | wc -w) files formatted"
