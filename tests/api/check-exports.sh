#!/usr/bin/env bash
# check-exports.sh LIBPPS.so INCLUDE_DIR
# The shared library exports pps_* and nothing else, and exports every
# function the public headers mark PPS_API (the version script and the
# export macros agree).
set -eu
lib=$1 incdir=$2

exported=$(nm -D --defined-only "$lib" | awk '$2 != "A" { print $3 }' | sed 's/@.*//' | sort -u)
if [ -z "$exported" ]; then
    echo "FAIL: $lib exports nothing"; exit 1
fi
bad=$(printf '%s\n' "$exported" | grep -v '^pps_' || true)
if [ -n "$bad" ]; then
    echo "FAIL: symbols outside pps_* exported:"; printf '  %s\n' $bad; exit 1
fi

# Names declared with PPS_API in the headers (the name before '(').
declared=$(python3 - "$incdir" <<'PY' | sort -u
import glob, re, sys
for path in glob.glob(sys.argv[1] + '/*.h') + glob.glob(sys.argv[1] + '/*.h.in'):
    text = re.sub(r'/\*.*?\*/', ' ', open(path).read(), flags=re.S)
    text = re.sub(r'^\s*#.*$', ' ', text, flags=re.M)
    for m in re.finditer(r'\bPPS_API\b[^;(]*?\b([A-Za-z_]\w*)\s*\(', text):
        print(m.group(1))
PY
)
missing=$(comm -23 <(printf '%s\n' "$declared") <(printf '%s\n' "$exported"))
if [ -n "$missing" ]; then
    echo "FAIL: declared PPS_API but not exported:"; printf '  %s\n' $missing; exit 1
fi
extra=$(comm -13 <(printf '%s\n' "$declared") <(printf '%s\n' "$exported"))
if [ -n "$extra" ]; then
    echo "FAIL: exported but not declared in a public header:"; printf '  %s\n' $extra; exit 1
fi
echo "ok: $(printf '%s\n' "$exported" | wc -l) symbols, all pps_*, all declared"
