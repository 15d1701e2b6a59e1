#!/usr/bin/env bash
# check-source.sh SOURCE_ROOT
# Bans functions that have no safe use in mail-parsing code (curl's
# checksrc idea): unbounded copies and formatting, strtok's hidden state,
# and exit/abort in the library (library code never exits or aborts).
set -eu
cd "$1"
status=0
banned='\b(sprintf|vsprintf|strcpy|strcat|strtok|gets|strncpy|strncat|atoi|atol)[[:space:]]*\('
if hits=$(grep -nE "$banned" $(git ls-files '*.c' '*.h' 2>/dev/null || find libpps hosts tests fuzz include -name '*.[ch]') 2>/dev/null); then
    echo "FAIL: banned functions:"; echo "$hits"; status=1
fi
lib_files=$(git ls-files 'libpps/*.c' 'libpps/*.h' 2>/dev/null || find libpps -name '*.[ch]')
if [ -n "$lib_files" ] && hits=$(grep -nE '\b(exit|_exit|abort|printf|puts|perror)[[:space:]]*\(|\b(stdout|stderr)\b' $lib_files | grep -v 'core/log.c'); then
    echo "FAIL: the library must not exit, abort or print (only core/log.c's pps_log_stderr may):"; echo "$hits"; status=1
fi
[ $status -eq 0 ] && echo "ok: no banned functions"
exit $status
