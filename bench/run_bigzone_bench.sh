#!/usr/bin/env bash
# Big zones through pdns (issue 13, point 3): how long `pdnsutil list-zone`,
# `pdnsutil check-zone` and an AXFR through pdns_server take for zones of
# 10k to 100k records, in each way pdns can reach geosteerd:
#   unix     remote backend, unix connector (remote-connection-string=unix:)
#            the default; pdns re-parses the whole reply after every
#            1,500-byte read, so a list costs time quadratic in its size;
#   relay    remote backend, pipe connector through `geosteer relay`
#            (remote-connection-string=pipe:command=geosteer -s SOCK relay,
#            timeout=0): one parse per reply line;
#   pipe     pdns_server with launch=pipe,remote (doc/pipe.md): AXFR is the
#            pipe backend's line protocol; pdnsutil keeps a remote config;
#   unix2s   list-zone through the unix connector with pdns's default reply
#            timeout (2000 ms): "fail" when pdns gives up.
# Each result is checked: list-zone prints every record, check-zone says
# "Checked N records", the AXFR holds every record; a step that ran but
# printed less says so ("short").
# Zones: A records h0..hN-1 plus SOA and NS, loaded with `geosteer zone
# load` (geosteerd reads the file). Every step runs under `timeout CAP`
# (default 120 s); a step that does not finish prints ">CAP". pdns's own
# per-reply timeout is set to CAP too, so the figures show the cost, not
# the default 2 s limit (doc/pipe.md gives the timeout each size needs).
#
# usage: bench/run_bigzone_bench.sh [BUILD_DIR]
# knobs: SIZES="5000 10000 20000 50000 100000" CAP=120
set -eu
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/lib.sh
. "$BENCH_DIR/lib.sh"
bench_init run_bigzone_bench "${1:-}" geosteerd geosteer
gs_require pdns_server pdnsutil kdig timeout
SIZES=${SIZES:-5000 10000 20000 50000 100000}
CAP=${CAP:-120}
ZONE=big.test

gs_start_geosteerd "$GS_TMP/gs" -p "$GS_TMP/gs/pipe.sock"
P=$GS_TMP/pdns
port=$(gs_free_port)
port2=$(gs_free_port)
[ "$port2" != "$port" ] || port2=$(gs_free_port)
mkdir -p "$P"
common() {
    echo "loglevel=4"
    echo "allow-axfr-ips=127.0.0.0/8"
    gs_pdns_local "$P" "$1"
}
{
    echo "launch=remote"
    echo "remote-connection-string=unix:path=$GS_SOCK,timeout=$((CAP * 1000))"
    common "$port"
} >"$P/pdns.conf"
{
    echo "launch=remote"
    echo "remote-connection-string=pipe:command=$GEOSTEER -s $GS_SOCK relay,timeout=0"
    common "$port"
} >"$P/pdns-relay.conf"
{
    echo "launch=remote"
    echo "remote-connection-string=unix:path=$GS_SOCK" # pdns's default timeout: 2000 ms
    common "$port"
} >"$P/pdns-unix2s.conf"
{
    echo "launch=pipe,remote"
    echo "pipe-command=$GS_TMP/gs/pipe.sock"
    echo "pipe-abi-version=5"
    echo "zone-cache-refresh-interval=0"
    echo "remote-connection-string=unix:path=$GS_SOCK,timeout=$((CAP * 1000))"
    common "$port2"
} >"$P/pdns-pipe.conf"
pdns_server --config-dir="$P" >>"$P/pdns.log" 2>&1 &
PDNS_UNIX=$!
gs_register "$PDNS_UNIX"
pdns_server --config-dir="$P" --config-name=pipe >>"$P/pdns-pipe.log" 2>&1 &
PDNS_PIPE=$!
gs_register "$PDNS_PIPE"

# secs CMD...: runs CMD under the cap, prints its wall time (s), >CAP when
# the cap stopped it, or "err@" and the time when it failed by itself; the
# output goes to $GS_TMP/out, its line count to $GS_TMP/lines.
secs() {
    local t0 t1 rc=0
    t0=$(date +%s.%N)
    timeout "$CAP" "$@" >"$GS_TMP/out" 2>"$GS_TMP/err" </dev/null || rc=$?
    t1=$(date +%s.%N)
    if [ "$rc" = 124 ]; then
        printf ">%s" "$CAP"
    else
        [ "$rc" = 0 ] || printf "err@"
        awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }'
    fi
    grep -c . "$GS_TMP/out" >"$GS_TMP/lines" || true
}

printf '%-8s %-7s %12s %12s %12s\n' records path list-zone check-zone AXFR
for n in $SIZES; do
    zf=$GS_TMP/big-$n.zone
    awk -v n="$n" -v z="$ZONE" 'BEGIN {
        printf "%s. 3600 IN SOA ns1.%s. hostmaster.%s. 1 10800 3600 604800 300\n", z, z, z
        printf "%s. 3600 IN NS ns1.%s.\n", z, z
        for (i = 0; i < n - 2; i++)
            printf "h%d.%s. 300 IN A 10.%d.%d.%d\n", i, z, int(i / 65536) % 256, int(i / 256) % 256, i % 256
    }' >"$zf"
    gs_cli zone delete "$ZONE" >/dev/null 2>&1 || true
    gs_cli zone create "$ZONE" --ns "ns1.$ZONE" >/dev/null
    gs_cli zone load "$ZONE" "$zf" >/dev/null || gs_fail "zone load of $n records"
    for path in unix relay pipe unix2s; do
        name=()
        [ "$path" = relay ] && name=(--config-name=relay)
        [ "$path" = unix2s ] && name=(--config-name=unix2s)
        lz=$(secs pdnsutil --config-dir="$P" "${name[@]}" list-zone "$ZONE")
        [ "$(cat "$GS_TMP/lines")" -gt "$n" ] || lz="short:$lz"
        cz="-" ax="-"
        case $path in
        pipe)
            lz="(remote)" # pdnsutil never reads the pipe config (doc/pipe.md)
            ax=$(secs kdig @127.0.0.1 -p "$port2" +retry=0 +timeout="$CAP" AXFR "$ZONE")
            [ "$(grep -c "	IN	" "$GS_TMP/out")" -gt "$n" ] || ax="short:$ax"
            ;;
        unix2s)
            case $lz in short:*) lz="fail (${lz#short:} s)" ;; esac
            ;;
        *)
            cz=$(secs pdnsutil --config-dir="$P" "${name[@]}" check-zone "$ZONE")
            grep -q "Checked $n records" "$GS_TMP/out" || cz="short:$cz"
            if [ "$path" = unix ]; then
                ax=$(secs kdig @127.0.0.1 -p "$port" +retry=0 +timeout="$CAP" AXFR "$ZONE")
                [ "$(grep -c "	IN	" "$GS_TMP/out")" -gt "$n" ] || ax="short:$ax"
            fi
            ;;
        esac
        printf '%-8s %-7s %12s %12s %12s\n' "$n" "$path" "$lz" "$cz" "$ax"
    done
done
echo "(list-zone and check-zone are pdnsutil's; AXFR is kdig through pdns_server; CAP=$CAP s)"
