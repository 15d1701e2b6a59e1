#!/usr/bin/env bash
# check-install.sh BUILD_DIR CC
# Install libpps into a temporary prefix, then build and run a program
# against it the way a user would: only through pkg-config.
set -eu
build=$1 cc=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

meson install -C "$build" --no-rebuild --destdir "$tmp/root" --quiet >/dev/null
prefix=$(meson introspect "$build" --buildoptions |
    python3 -c 'import json,sys; print([o["value"] for o in json.load(sys.stdin) if o["name"]=="prefix"][0])')
pcdir=$(dirname "$(find "$tmp/root" -name libpps.pc | head -n 1)")
[ -f "$pcdir/libpps.pc" ] || { echo "FAIL: no libpps.pc installed"; exit 1; }

export PKG_CONFIG_PATH=$pcdir PKG_CONFIG_SYSROOT_DIR=$tmp/root
flags=$(pkg-config --cflags --libs libpps)
echo "pkg-config --cflags --libs libpps: $flags"

cat > "$tmp/use.c" <<'C'
#include <stdio.h>
#include <string.h>
#include <pps/pps.h>
int main(void)
{
    pps_server_address a = PPS_SERVER_ADDRESS_INIT;
    if (strcmp(pps_version(NULL, NULL, NULL), PPS_VERSION_STRING) != 0)
        return 1;
    if (pps_server_parse(&a, "mail.example.com 995s") != 0 || a.port != 995)
        return 2;
    if (pps_server_parse(&a, "bad host") != PPS_ECONFIG)
        return 3;
    printf("%s\n", pps_error_last()->message);
    return 0;
}
C
# Sanitizer builds need the same runtime in the test program.
san=$(meson introspect "$build" --buildoptions |
    python3 -c 'import json,sys; print([o["value"] for o in json.load(sys.stdin) if o["name"]=="b_sanitize"][0])')
extra=()
[ "$san" != none ] && extra=(-fsanitize="$san")
# shellcheck disable=SC2086
"$cc" "${extra[@]}" -o "$tmp/use" "$tmp/use.c" $flags
libdir=$(dirname "$(find "$tmp/root" -name 'libpps.so' | head -n 1)")
out=$(LD_LIBRARY_PATH=$libdir "$tmp/use")
echo "$out"
case "$out" in
    *'server "bad host"'*) echo "ok: installed libpps builds, links and runs (prefix $prefix)" ;;
    *) echo "FAIL: unexpected output"; exit 1 ;;
esac
