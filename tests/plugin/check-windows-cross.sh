#!/bin/bash
# The Windows subset cross-builds with mingw-w64 (cross/mingw-w64-x86_64.txt):
# the plug-in DLL links, exports exactly the pps_plugin_* ABI, and needs
# no DLL but Windows' own.  Skipped (77) when mingw-w64 is not installed.
# There is no Windows here to run it on (no wine): this proves it builds.
set -euo pipefail
meson=$1 src=$2
command -v x86_64-w64-mingw32-gcc >/dev/null || { echo "mingw-w64 not installed: skipped"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$meson" setup "$tmp/b" "$src" --cross-file "$src/cross/mingw-w64-x86_64.txt" \
    -Dwindows_subset=true -Dtests=false >"$tmp/setup.log" 2>&1 || { cat "$tmp/setup.log"; exit 1; }
ninja -C "$tmp/b" -j2 >"$tmp/build.log" 2>&1 || { cat "$tmp/build.log"; exit 1; }
dll="$tmp/b/hosts/plugin/pps-plugin.dll"
test -f "$dll" && test -f "$tmp/b/libpps/libpps_internal.a"
echo "ok: $(basename "$dll") and the library subset built"
exports=$(x86_64-w64-mingw32-objdump -p "$dll" |
    sed -n '/\[Ordinal\/Name Pointer\] Table/,/^$/p' | awk '/\[/ && !/Table/ {print $3}' | sort)
want=$(grep -o 'PPS_PLUGIN_API [a-z ]*\**pps_plugin_[a-z_]*' "$src/hosts/plugin/pps-plugin.h" |
    grep -o 'pps_plugin_[a-z_]*' | sort)
if [ "$exports" != "$want" ]; then
    echo "FAIL: exports differ from pps-plugin.h"; diff <(echo "$want") <(echo "$exports"); exit 1
fi
echo "ok: exports are exactly the $(echo "$want" | wc -l) functions of pps-plugin.h"
imports=$(x86_64-w64-mingw32-objdump -p "$dll" | awk '/DLL Name:/ {print tolower($3)}' | sort | tr '\n' ' ')
for d in $imports; do
    case "$d" in kernel32.dll|msvcrt.dll|ws2_32.dll|advapi32.dll) ;; *) echo "FAIL: imports $d"; exit 1;; esac
done
echo "ok: imports only Windows' own DLLs: $imports"
