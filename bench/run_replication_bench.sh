#!/usr/bin/env bash
# Replication timings (doc/replication.md): one primary and two secondaries,
# each a pdns_server with its own geosteerd, on loopback (127.0.54.1-3; the
# primary on port 53, so root is needed, as pdns asks autoprimaries there):
#   S1  secondary=yes, zones created with `geosteer zone create --secondary`
#   S2  secondary=yes, autosecondary=yes, `geosteer autoprimary add`
# The primary's pdns reaches geosteerd through `geosteer relay` (the pipe
# connector): AXFR of a big zone through the unix connector is quadratic in
# its size (doc/pipe.md).
# Prints, for CHANGES (default 20) changes made with pdnsutil on the primary
# (add-record and replace-rrset in turn), the seconds from the end of the
# pdnsutil command to the first answer of the new serial on each secondary
# (median, p90, max), and for a zone of BIG (default 20,000) records loaded
# with `geosteer zone load` on the primary: the time to the first answer of
# its serial on each secondary and each secondary's commit time of the
# transfer (from its log).
# pdns: xfr-cycle-interval=1 on every node (the default 60 s makes a NOTIFY
# wait up to a minute to be sent).
#
# usage: bench/run_replication_bench.sh [BUILD_DIR]
# knobs: CHANGES=20 BIG=20000
set -eu
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/lib.sh
. "$BENCH_DIR/lib.sh"
bench_init run_replication_bench "${1:-}" geosteerd geosteer
gs_require pdns_server pdnsutil kdig
[ "$(id -u)" -eq 0 ] || gs_skip "needs root: the primary listens on port 53"
CHANGES=${CHANGES:-20}
BIG=${BIG:-20000}
PA=127.0.54.1 S1A=127.0.54.2 S2A=127.0.54.3
P1=$(gs_free_port) P2=$(gs_free_port)

start_node() { # start_node NAME: geosteerd NAME; sets SOCK_NAME
    gs_start_geosteerd "$GS_TMP/$1"
    eval "SOCK_$1=\$GS_SOCK"
}
cli() { local s; eval "s=\$SOCK_$1"; shift; "$GEOSTEER" -s "$s" "$@"; }
start_node P
start_node S1
start_node S2
gs_pdns_conf "$GS_TMP/pP" "$SOCK_P" 53 "local-address=$PA" "query-local-address=$PA" \
    primary=yes xfr-cycle-interval=1 only-notify= "also-notify=$S1A:$P1,$S2A:$P2" \
    allow-axfr-ips=127.0.0.0/8 loglevel=4 \
    "remote-connection-string=pipe:command=$GEOSTEER -s $SOCK_P relay,timeout=0"
gs_pdns_conf "$GS_TMP/pS1" "$SOCK_S1" "$P1" "local-address=$S1A" secondary=yes \
    xfr-cycle-interval=1 loglevel=4
gs_pdns_conf "$GS_TMP/pS2" "$SOCK_S2" "$P2" "local-address=$S2A" secondary=yes \
    autosecondary=yes xfr-cycle-interval=1 loglevel=4
cli S2 autoprimary add "$PA" ns1.rep.test >/dev/null
cli S2 autoprimary add "$PA" ns1.big.test >/dev/null
for z in rep.test big.test; do
    cli P zone create "$z" --ns "ns1.$z" --soa-serial 1 --soa-refresh 60 --kind primary >/dev/null
    cli S1 zone create "$z" --secondary --primary "$PA" >/dev/null
done
gs_start_pdns "$GS_TMP/pS1" "$P1" "$S1A"
gs_start_pdns "$GS_TMP/pS2" "$P2" "$S2A"
gs_start_pdns "$GS_TMP/pP" 53 "$PA"
# After pdns started: a serial pending at its start is not NOTIFYed to
# also-notify targets (doc/replication.md), and S2 needs a NOTIFY.
gs_pdnsutil "$GS_TMP/pP" add-record rep.test ns1 A 300 "$PA" >/dev/null 2>&1
gs_pdnsutil "$GS_TMP/pP" add-record big.test ns1 A 300 "$PA" >/dev/null 2>&1

serial_at() { kdig @"$1" -p "$2" +timeout=1 +retry=0 +short "$3" SOA 2>/dev/null | awk '{print $3}'; }
# until_serial ZONE SERIAL T0: prints "s1 s2", the seconds from T0 to the
# first answer of SERIAL on each secondary (both polled every 20 ms).
until_serial() {
    local d1="" d2="" now
    for _ in $(seq 3000); do
        now=$(date +%s.%N)
        [ -n "$d1" ] || [ "$(serial_at "$S1A" "$P1" "$1")" != "$2" ] || d1=$(echo "$now - $3" | bc)
        [ -n "$d2" ] || [ "$(serial_at "$S2A" "$P2" "$1")" != "$2" ] || d2=$(echo "$now - $3" | bc)
        [ -z "$d1" ] || [ -z "$d2" ] || break
        sleep 0.02
    done
    echo "${d1:-timeout} ${d2:-timeout}"
}
# (P's own answer may be its cached SOA: ask its geosteerd)
serial=$(cli P zone list | sed -n 's/^rep\.test\. id=[0-9]* serial=\([0-9]*\) .*/\1/p')
until_serial rep.test "$serial" "$(date +%s.%N)" >/dev/null
: >"$GS_TMP/t1"
: >"$GS_TMP/t2"
for i in $(seq "$CHANGES"); do
    if [ $((i % 2)) = 1 ]; then
        gs_pdnsutil "$GS_TMP/pP" add-record rep.test "c$i" A 300 "192.0.2.$((i % 250))" >/dev/null 2>&1
    else
        gs_pdnsutil "$GS_TMP/pP" replace-rrset rep.test "c$((i - 1))" A 300 "198.51.100.$((i % 250))" >/dev/null 2>&1
    fi
    t0=$(date +%s.%N)
    serial=$((serial + 1))
    read -r a b <<<"$(until_serial rep.test "$serial" "$t0")"
    echo "$a" >>"$GS_TMP/t1"
    echo "$b" >>"$GS_TMP/t2"
done
stats() { sort -n "$1" | awk '{ v[NR] = $1 } END { printf "median %.2f s, p90 %.2f s, max %.2f s (n=%d)", v[int((NR + 1) / 2)], v[int(NR * 0.9 + 0.5)], v[NR], NR }'; }
echo "changes on the primary (pdnsutil add-record / replace-rrset) to the first answer of the new serial:"
echo "  S1 (per-zone secondary): $(stats "$GS_TMP/t1")"
echo "  S2 (autosecondary):      $(stats "$GS_TMP/t2")"

awk -v n="$BIG" 'BEGIN {
    print "$ORIGIN big.test.\n$TTL 300"
    print "@ IN SOA ns1.big.test. hostmaster.big.test. 100 60 30 604800 300"
    print "@ IN NS ns1.big.test.\nns1 IN A 127.0.54.1"
    for (i = 0; i < n - 3; i++) printf "h%d IN A 10.%d.%d.%d\n", i, int(i / 65536) % 256, int(i / 256) % 256, i % 256
}' >"$GS_TMP/big.zone"
t0=$(date +%s.%N)
cli P zone load big.test "$GS_TMP/big.zone" >/dev/null
tl=$(echo "$(date +%s.%N) - $t0" | bc)
t0=$(date +%s.%N)
read -r a b <<<"$(until_serial big.test 100 "$t0")"
c1=$(grep -o "big.test.: transfer committed: serial 100, [0-9]* records, in [0-9]* ms" "$GS_TMP/S1/geosteerd.log" | tail -1)
c2=$(grep -o "big.test.: transfer committed: serial 100, [0-9]* records, in [0-9]* ms" "$GS_TMP/S2/geosteerd.log" | tail -1)
echo "zone of $BIG records loaded on the primary in ${tl} s; first answer of its serial:"
echo "  S1: ${a} s (${c1#big.test.: })"
echo "  S2: ${b} s (${c2#big.test.: })"
for n in S1 S2; do
    echo "  $n holds: $(cli "$n" zone list | grep '^big.test. ' | grep -o 'serial=[0-9]* records=[0-9]*')"
done
