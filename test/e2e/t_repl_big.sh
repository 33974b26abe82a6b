#!/usr/bin/env bash
# Replication of a 20,000-record zone (doc/replication.md) between three
# real pdns_server nodes on loopback, each with its own geosteerd: P
# (primary=yes; its pdns and pdnsutil reach geosteerd through `geosteer
# relay`, as big zones need) and two secondaries S1, S2 (secondary=yes).
# Printed: the seconds from each change's commit on P to its first correct
# answer on each secondary. Checked:
# - pdnsutil load-zone (20,000 records), add-record, replace-rrset,
#   delete-rrset and edit-zone on P each reach both secondaries;
# - SIGKILL of S1's geosteerd while pdns feeds it a new 20,000-record
#   version: after the restart S1 serves one version whole (old or new,
#   never a mix), then catches up by itself;
# - S2 down (pdns and geosteerd) during three changes catches up when it
#   returns.
# shellcheck source=test/e2e/lib.sh
. "$(dirname "$0")/lib.sh"
gs_require pdns_server pdnsutil kdig python3
GS_PDNS_MODE=remote
N=${GS_BIG:-20000}

start_node() { # start_node NAME: geosteerd NAME; sets SOCK_NAME, GSPID_NAME
    gs_start_geosteerd "$GS_TMP/$1"
    eval "SOCK_$1=\$GS_SOCK GSPID_$1=\$GS_DAEMON_PID"
}
cli() { local s; eval "s=\$SOCK_$1"; shift; "$GEOSTEER" -s "$s" "$@"; }
start_node P
start_node S1
start_node S2
PP=$(gs_free_port) P1=$(gs_free_port) P2=$(gs_free_port)
gs_pdns_conf "$GS_TMP/pP" "$SOCK_P" "$PP" primary=yes xfr-cycle-interval=1 only-notify= \
    "also-notify=127.0.0.1:$P1,127.0.0.1:$P2" allow-axfr-ips=127.0.0.0/8 \
    "remote-connection-string=pipe:command=$GEOSTEER -s $SOCK_P relay,timeout=0"
for n in 1 2; do
    eval "sock=\$SOCK_S$n port=\$P$n"
    gs_pdns_conf "$GS_TMP/pS$n" "$sock" "$port" secondary=yes xfr-cycle-interval=1
    cli "S$n" zone create big.test --secondary --primary "127.0.0.1:$PP" >/dev/null
done
cli P zone create big.test --ns ns1.big.test --soa-serial 1 --kind primary >/dev/null

# zonefile VERSION SERIAL: N records; every A record's address carries the
# version (10.VERSION.x.y), so a mix of versions is visible.
zonefile() {
    awk -v n="$N" -v v="$1" -v s="$2" 'BEGIN {
        print "$ORIGIN big.test.\n$TTL 300"
        printf "@ IN SOA ns1.big.test. hostmaster.big.test. %d 2 1 604800 300\n", s
        print "@ IN NS ns1.big.test.\nns1 IN A 127.0.0.1"
        for (i = 0; i < n - 3; i++) printf "h%d IN A 10.%d.%d.%d\n", i, v, int(i / 256) % 256, i % 256
    }' >"$GS_TMP/v$1.zone"
}
pu() { timeout 120 pdnsutil --config-dir="$GS_TMP/pP" "$@" >"$GS_TMP/pu.out" 2>&1 || gs_fail "pdnsutil $*: $(tail -3 "$GS_TMP/pu.out")"; }
serial_at() { kdig @127.0.0.1 -p "$1" +timeout=1 +retry=0 +short big.test SOA 2>/dev/null | awk '{print $3}'; }
# reach WHAT SERIAL NAME TYPE EXPECTED [PORTS]: waits (up to 30 s) until each
# secondary answers SERIAL and NAME TYPE as EXPECTED ("" for no answer);
# prints the seconds from $t0.
reach() {
    local what=$1 serial=$2 name=$3 type=$4 want=$5 ports=${6:-"$P1 $P2"} line="" p ok
    for p in $ports; do
        ok=""
        for _ in $(seq 1500); do
            if [ "$(serial_at "$p")" = "$serial" ] &&
                [ "$(kdig @127.0.0.1 -p "$p" +timeout=1 +retry=0 +short "$name" "$type" | sort | tr '\n' ' ')" = "$want" ]; then
                ok=$(echo "$(date +%s.%N) - $t0" | bc)
                break
            fi
            sleep 0.02
        done
        [ -n "$ok" ] || gs_fail "$what: port $p does not answer serial $serial and $name $type '$want' within 30 s"
        line="$line $(printf '%.2f' "$ok")s"
    done
    echo "ok: $what: commit to first correct answer on the secondaries:$line"
}
gs_start_pdns "$GS_TMP/pS1" "$P1"
S1_PDNS=$GS_PDNS_PID
gs_start_pdns "$GS_TMP/pS2" "$P2"
S2_PDNS=$GS_PDNS_PID
gs_start_pdns "$GS_TMP/pP" "$PP"

zonefile 1 100
t0=$(date +%s.%N)
pu load-zone big.test "$GS_TMP/v1.zone"
t0=$(date +%s.%N)
reach "load-zone of $N records" 100 h19000.big.test A "10.1.74.56 "
for n in 1 2; do
    gs_expect_contains "S$n holds every record" "big.test. id=1 serial=100 records=$N kind=secondary" "$(cli "S$n" zone list)"
done
grep -o "transfer committed: serial 100, $N records, in [0-9]* ms" "$GS_TMP/S1/geosteerd.log" |
    sed 's/^/ok: S1 /'

pu add-record big.test new A 300 192.0.2.1
t0=$(date +%s.%N)
reach add-record 101 new.big.test A "192.0.2.1 "
pu replace-rrset big.test new A 300 192.0.2.2 192.0.2.3
t0=$(date +%s.%N)
reach replace-rrset 102 new.big.test A "192.0.2.2 192.0.2.3 "
pu delete-rrset big.test new A
t0=$(date +%s.%N)
reach delete-rrset 103 new.big.test A ""
cat >"$GS_TMP/editor.sh" <<'ED'
#!/bin/sh
sed -i -e '$a edited.big.test\t300\tIN\tA\t192.0.2.124' "$1"
ED
chmod +x "$GS_TMP/editor.sh"
printf 'ya' >"$GS_TMP/edit.in" # increase the serial, apply
EDITOR=$GS_TMP/editor.sh timeout 120 pdnsutil --config-dir="$GS_TMP/pP" edit-zone big.test \
    <"$GS_TMP/edit.in" >"$GS_TMP/pu.out" 2>&1 || gs_fail "edit-zone: $(tail -3 "$GS_TMP/pu.out")"
t0=$(date +%s.%N)
reach edit-zone 104 edited.big.test A "192.0.2.124 "

# SIGKILL S1's geosteerd while pdns feeds it version 2.
zonefile 2 200
: >"$GS_TMP/pS1/mark"
before=$(grep -c "storage transaction started" "$GS_TMP/pS1/pdns.log" || true)
pu load-zone big.test "$GS_TMP/v2.zone"
for _ in $(seq 1000); do
    [ "$(grep -c "storage transaction started" "$GS_TMP/pS1/pdns.log" || true)" -gt "$before" ] && break
    sleep 0.005
done
kill -KILL "$GSPID_S1"
wait "$GSPID_S1" 2>/dev/null || true
echo "ok: S1's geosteerd killed $(grep -c "transfer committed: serial 200" "$GS_TMP/S1/geosteerd.log" || true) commits of serial 200 in"
# What the store holds now: one version whole.
versions() {
    python3 - "$GS_TMP/S1/zones.db" <<'PY'
import sqlite3, sys
db = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True)
rows = db.execute("SELECT substr(content, 1, instr(substr(content, 4), '.') + 2), count(*) FROM records "
                  "WHERE type='A' AND name LIKE 'h%' GROUP BY 1 ORDER BY 1").fetchall()
soa = db.execute("SELECT content FROM records WHERE type='SOA'").fetchone()[0].split()[2]
print("serial=%s %s" % (soa, " ".join("%s*=%d" % r for r in rows)))
PY
}
held=$(versions)
case "$held" in
"serial=104 10.1*=$((N - 3))" | "serial=200 10.2*=$((N - 3))") echo "ok: after SIGKILL S1's store holds one version whole: $held" ;;
*) gs_fail "S1's store after SIGKILL holds a mix: $held" ;;
esac
# pdns (secondary=yes) exits when its backend connection breaks, like the
# primary side (doc/replication.md); restart both, S1 catches up by itself.
for _ in $(seq 50); do kill -0 "$S1_PDNS" 2>/dev/null || break; sleep 0.1; done
kill "$S1_PDNS" 2>/dev/null || true
wait "$S1_PDNS" 2>/dev/null || true
rm -f "$SOCK_S1"
start_node S1
gs_start_pdns "$GS_TMP/pS1" "$P1"
S1_PDNS=$GS_PDNS_PID
t0=$(date +%s.%N)
reach "S1 after restart" 200 h19000.big.test A "10.2.74.56 " "$P1"
gs_expect_eq "S1 holds version 2 whole" "serial=200 10.2*=$((N - 3))" "$(versions)"

# S2 down during three changes; it catches up when it returns.
kill "$S2_PDNS"
wait "$S2_PDNS" 2>/dev/null || true
kill "$GSPID_S2"
wait "$GSPID_S2" 2>/dev/null || true
rm -f "$SOCK_S2"
pu add-record big.test d1 A 300 192.0.2.31
pu add-record big.test d2 A 300 192.0.2.32
pu replace-rrset big.test d1 A 300 192.0.2.33
t0=$(date +%s.%N)
reach "three changes, S2 up" 203 d1.big.test A "192.0.2.33 " "$P1"
start_node S2
gs_start_pdns "$GS_TMP/pS2" "$P2"
t0=$(date +%s.%N)
reach "S2 back after three changes" 203 d1.big.test A "192.0.2.33 " "$P2"
gs_expect_eq "S2 has every change" "192.0.2.32" "$(kdig @127.0.0.1 -p "$P2" +short d2.big.test A)"
