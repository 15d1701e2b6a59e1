#!/usr/bin/env bash
# pull.sh BUILD_DIR [N [SIZE]] - pull N messages of SIZE bytes from the
# Dovecot test bed over implicit TLS to nowhere with libpps (tests/bench/
# pull), mpop and fetchmail, and print messages/s and peak RSS of each
# (/usr/bin/time -v).  All three keep the mail and fetch every message, so
# each pulls the same mailbox.  Needs root (the test bed), mpop, fetchmail.
#
#     tests/bench/pull.sh build 2000 4096
set -eu
build=$(cd "$1" && pwd); n=${2:-2000}; size=${3:-4096}
src=$(cd "$(dirname "$0")/../.." && pwd)
if [ -z "${PPS_TB_HOST:-}" ]; then
    exec python3 "$src/tests/testbed/testbed.py" run -- "$0" "$build" "$n" "$size"
fi
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
user=user1@remote.test
# N messages: headers plus SIZE bytes of 76-character lines.
python3 - "$work/msgs" "$n" "$size" <<'PY'
import os, sys
d, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
os.makedirs(d)
line = b"x" * 75 + b"\n"
body = (line * (size // len(line) + 1))[:size]
for i in range(n):
    with open(os.path.join(d, "%06d.eml" % i), "wb") as f:
        f.write(b"From: a@remote.test\nTo: user1@remote.test\n"
                b"Subject: bench %d\nMessage-ID: <%d@bench>\n\n" % (i, i) + body)
PY
python3 "$PPS_TB_TESTBED" seed "$user" "$work"/msgs/*.eml >/dev/null
echo "mailbox: $(python3 "$PPS_TB_TESTBED" count "$user") messages of ~$size bytes"

measure() {  # NAME CMD...
    local name=$1; shift
    local t0 t1
    t0=$(date +%s.%N)
    /usr/bin/time -v -o "$work/time.$name" "$@" >"$work/out.$name" 2>&1 ||
        { echo "$name failed:"; cat "$work/out.$name"; return 1; }
    t1=$(date +%s.%N)
    local rss; rss=$(awk -F: '/Maximum resident/ {gsub(/ /,"",$2); print $2}' "$work/time.$name")
    python3 -c "import sys; t=float(sys.argv[2])-float(sys.argv[1]); print('%-12s %8.0f msg/s %8.2f s  peak RSS %6d KiB' % (sys.argv[3], int(sys.argv[4])/t, t, int(sys.argv[5])))" \
        "$t0" "$t1" "$name" "$n" "$rss"
}

export PPS_BENCH_PASSWORD=$PPS_TB_PASSWORD
measure libpps "$build/tests/bench/pull" "$PPS_TB_HOST ${PPS_TB_POP3S_PORT}s" "$user" "$PPS_TB_CA_FILE"
measure libpps-w1 "$build/tests/bench/pull" "$PPS_TB_HOST ${PPS_TB_POP3S_PORT}s" "$user" "$PPS_TB_CA_FILE" 1

if command -v mpop >/dev/null; then
    measure mpop mpop --host="$PPS_TB_HOST" --port="$PPS_TB_POP3S_PORT" \
        --tls=on --tls-starttls=off --tls-trust-file="$PPS_TB_CA_FILE" \
        --auth=user --user="$user" --passwordeval="echo $PPS_TB_PASSWORD" \
        --keep=on --only-new=off --uidls-file="$work/mpop-uidls" \
        --delivery=mbox,/dev/null --quiet
fi
if command -v fetchmail >/dev/null; then
    printf 'poll %s port %s proto pop3 user "%s" password "%s" ssl sslcertfile "%s" sslcertck sslcommonname "%s" keep fetchall\n' \
        "$PPS_TB_HOST" "$PPS_TB_POP3S_PORT" "$user" "$PPS_TB_PASSWORD" "$PPS_TB_CA_FILE" "$PPS_TB_CERT_NAME" >"$work/fetchmailrc"
    chmod 600 "$work/fetchmailrc"
    FETCHMAILHOME=$work measure fetchmail fetchmail -f "$work/fetchmailrc" \
        --bsmtp /dev/null --nosyslog --silent --pidfile "$work/fm.pid" \
        --idfile "$work/fm.ids"
fi
