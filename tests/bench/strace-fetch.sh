#!/bin/bash
# strace-fetch.sh N - system calls of one `pps fetch` of N messages into a
# Maildir (issue #8, docs/performance.md "Where the time goes").  Run it
# inside the test bed, with PPS naming the pps binary:
#
#   tests/testbed/testbed.py run -- \
#       env PPS=$PWD/build-release/hosts/cli/pps tests/bench/strace-fetch.sh 2000
#
# Seeds user1@remote.test with N 3 KB messages, fetches them over implicit
# TLS under `strace -f -c`, checks that all arrived and the mailbox is
# empty, and prints the syscall table.
set -eu
N=${1:-2000}
W=$(mktemp -d /var/tmp/pps-strace-XXXXXX)
chmod 755 "$W"
trap 'rm -rf "$W"' EXIT
mkdir -p "$W"/md/new "$W"/md/cur "$W"/md/tmp "$W"/conf/profiles "$W"/msgs
chmod 700 "$W"/conf
body=$(head -c 3000 /dev/zero | tr '\0' x)
for i in $(seq 1 "$N"); do
    printf 'From: a@remote.test\nTo: user1@remote.test\nSubject: m %d\nMessage-ID: <%d@strace>\n\n%s\n' \
        "$i" "$i" "$body" > "$W/msgs/m$i.eml"
done
python3 "$PPS_TB_TESTBED" seed user1@remote.test "$W"/msgs/*.eml
printf '[delivery]\nmethod = maildir\npath = %s\n[service]\nlog_level = warn\n' \
    "$W/md" > "$W/conf/pps.conf"
echo "$PPS_TB_PASSWORD" | "$PPS" -c "$W/conf" profile add b \
    --server "127.0.0.1 ${PPS_TB_POP3S_PORT}s" --user user1@remote.test \
    --password-stdin --local-user b --local-domain local.test \
    --tls-ca-file "$PPS_TB_CA_FILE" >/dev/null
strace -f -c -o "$W/strace.txt" "$PPS" -c "$W/conf" fetch b
echo "delivered: $(ls "$W/md/new" | wc -l) of $N," \
     "left on the server: $(python3 "$PPS_TB_TESTBED" count user1@remote.test)"
cat "$W/strace.txt"
