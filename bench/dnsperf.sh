#!/usr/bin/env bash
# dnsperf through pdns_server + geosteerd (launch=remote) next to
# pdns_server + bind backend (launch=bind), same zone file, caches off
# (cache-ttl=0 query-cache-ttl=0 negquery-cache-ttl=0; zone cache on, the
# default), each on its own loopback port. Prints both qps and their ratio.
# The setup is the project's fixed one (doc/design.md §10): servers
# pinned to CPU 1 (pdns and geosteerd share it), dnsperf to CPU 0,
# `dnsperf -c 8 -T 1 -q 256 -t 2` after a 1 s warm-up, static names, plain
# queries (no EDNS). There the minimal C responder reached 0.13-0.14x of
# pdns+bind, and nothing behind the remote backend can exceed ~0.19x
# (pdns's own cost: 3 remote lookups per query).
#
# usage: bench/dnsperf.sh [BUILD_DIR]            (default: build/ beside bench/)
# environment knobs (defaults):
#   DURATION=10  seconds per dnsperf run       REPS=1  alternating-order reps
#   PIN=1        taskset servers to CPU 1, dnsperf to CPU 0 (PIN=0: no pinning)
#   NQ=2000      distinct query names (A queries on h0..h3999)
# Exit status: 0 when both servers answered correctly and dnsperf lost < 1%
# of queries, 1 otherwise, 77 if a tool is missing. Everything lives in a
# temp dir under /tmp; every process is stopped by PID on exit.
set -eu

BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/lib.sh
. "$BENCH_DIR/lib.sh"
DURATION=${DURATION:-10}
REPS=${REPS:-1}
PIN=${PIN:-1}
NQ=${NQ:-2000}
ZONE=bench.test
CACHE_OFF=("cache-ttl=0" "query-cache-ttl=0" "negquery-cache-ttl=0")

bench_init dnsperf.sh "${1:-}" geosteerd geosteer
gs_require pdns_server pdnsutil dnsperf kdig python3 awk
[ "$PIN" = 0 ] || gs_require taskset
if [ "$NQ" -lt 1 ] || [ "$NQ" -gt 4000 ]; then gs_fail "NQ must be 1..4000"; fi


# ---- zone and query file ------------------------------------------------------------
zonefile=$GS_TMP/$ZONE.zone
"$BENCH_DIR/gen_zone.sh" "$ZONE" "$zonefile" "$GS_TMP/names.txt"
queries=$GS_TMP/queries.txt
awk -v n="$NQ" 'NR <= n { print $1, "A" }' "$GS_TMP/names.txt" >"$queries"

# ---- geosteerd + pdns_server (remote) ----------------------------------------------
gs_start_geosteerd "$GS_TMP/gs"
GS_PID=$GS_DAEMON_PID
gs_cli zone create "$ZONE" --ns "ns1.$ZONE" --soa-serial 1 >/dev/null
GS_PDNS_TIMEOUT=20000 gs_pdns_conf "$GS_TMP/pdnsutil" "$GS_SOCK" 5399
gs_pdnsutil "$GS_TMP/pdnsutil" load-zone "$ZONE" "$zonefile" >"$GS_TMP/load-zone.log" 2>&1 ||
    { cat "$GS_TMP/load-zone.log" >&2; gs_fail "pdnsutil load-zone failed"; }

port_remote=$(gs_free_port)
gs_pdns_conf "$GS_TMP/pdns-remote" "$GS_SOCK" "$port_remote" "${CACHE_OFF[@]}" "loglevel=4"
gs_start_pdns "$GS_TMP/pdns-remote" "$port_remote"
PDNS_REMOTE_PID=$GS_PDNS_PID

# ---- pdns_server (bind) ----------------------------------------------------------------
port_bind=$(gs_free_port)
while [ "$port_bind" = "$port_remote" ]; do port_bind=$(gs_free_port); done
gs_pdns_bind_conf "$GS_TMP/pdns-bind" "$port_bind" "$ZONE" "$zonefile" "${CACHE_OFF[@]}" "loglevel=4"
gs_start_pdns "$GS_TMP/pdns-bind" "$port_bind"
PDNS_BIND_PID=$GS_PDNS_PID

pin "$GS_PID"
pin "$PDNS_REMOTE_PID"
pin "$PDNS_BIND_PID"

# ---- sanity: the same answers from both ----------------------------------------------
check() {
    local name=$1 type=$2 a b
    a=$(kdig @127.0.0.1 -p "$port_remote" +timeout=2 +retry=0 "$name" "$type" +short | sort)
    b=$(kdig @127.0.0.1 -p "$port_bind" +timeout=2 +retry=0 "$name" "$type" +short | sort)
    [ -n "$a" ] || gs_fail "pdns+geosteerd: empty answer for $name $type"
    [ "$a" = "$b" ] || gs_fail "answers differ for $name $type: geosteerd [$a] bind [$b]"
    echo "check $name $type: $(echo "$a" | tr '\n' ' ')(same from both)"
}
first=$(head -1 "$queries" | cut -d' ' -f1)
check "$first" A
check "h2001.$ZONE." AAAA
check "h5501.$ZONE." A
check "$ZONE." SOA
rcode=$(kdig @127.0.0.1 -p "$port_remote" +timeout=2 +retry=0 "nx.$ZONE." A | grep -o 'status: [A-Z]*')
[ "$rcode" = "status: NXDOMAIN" ] || gs_fail "pdns+geosteerd: nx.$ZONE. gave '$rcode', expected NXDOMAIN"
echo "check nx.$ZONE. A: NXDOMAIN"

# ---- dnsperf ------------------------------------------------------------------------------
# run_perf LABEL PORT PID...: one warm-up second, then DURATION seconds; sets
# QPS, LOST_PCT and CPU (server CPU % of one core, per PID joined by +).
run_perf() {
    local label=$1 port=$2
    shift 2
    run_client dnsperf -s 127.0.0.1 -p "$port" -d "$queries" -c 8 -T 1 -q 256 -t 2 -l 1 \
        >/dev/null 2>&1 || true
    local t0=() p
    for p in "$@"; do t0+=("$(cpu_ticks "$p")"); done
    local s0 s1 out
    s0=$(date +%s%N)
    out=$(run_client dnsperf -s 127.0.0.1 -p "$port" -d "$queries" -c 8 -T 1 -q 256 -t 2 \
        -l "$DURATION" 2>&1) || { echo "$out" >&2; gs_fail "dnsperf against $label failed"; }
    s1=$(date +%s%N)
    echo "$out" >"$GS_TMP/dnsperf-$label.$RANDOM.log"
    QPS=$(echo "$out" | awk '/Queries per second:/ { printf "%.0f", $4 }')
    LOST_PCT=$(echo "$out" | awk '/Queries lost:/ { gsub(/[()%]/, "", $4); print $4 }')
    local sent lat
    sent=$(echo "$out" | awk '/Queries sent:/ { print $3 }')
    lat=$(echo "$out" | awk '/Average Latency/ { print $4 * 1000 }')
    CPU=""
    local i=0
    for p in "$@"; do
        local d=$(($(cpu_ticks "$p") - t0[i]))
        CPU+="${CPU:++}$(awk -v d="$d" -v hz="$HZ" -v ns=$((s1 - s0)) 'BEGIN { printf "%.0f", 100 * d / hz / (ns / 1e9) }')"
        i=$((i + 1))
    done
    printf '  %-16s qps %8s   sent %9s   lost %6s%%   avg latency %7.2f ms   server CPU %% %s\n' \
        "$label" "$QPS" "$sent" "$LOST_PCT" "$lat" "$CPU"
    awk -v l="$LOST_PCT" 'BEGIN { exit !(l < 1) }' || gs_fail "$label lost $LOST_PCT% of the queries"
}

echo
echo "== dnsperf -c 8 -T 1 -q 256 -t 2 -l $DURATION, $NQ static names (A), caches off," \
    "$([ "$PIN" = 0 ] && echo "no pinning" || echo "servers on CPU 1, dnsperf on CPU 0")"
echo "   (server CPU %: pdns+geosteerd for geosteerd, pdns for bind; 100 = one core)"
qg=() qb=() ratios=()
for rep in $(seq "$REPS"); do
    echo "rep $rep/$REPS:"
    if [ $((rep % 2)) -eq 1 ]; then
        run_perf geosteerd "$port_remote" "$PDNS_REMOTE_PID" "$GS_PID"; g=$QPS
        run_perf bind "$port_bind" "$PDNS_BIND_PID"; b=$QPS
    else
        run_perf bind "$port_bind" "$PDNS_BIND_PID"; b=$QPS
        run_perf geosteerd "$port_remote" "$PDNS_REMOTE_PID" "$GS_PID"; g=$QPS
    fi
    qg+=("$g") qb+=("$b")
    ratios+=("$(awk -v g="$g" -v b="$b" 'BEGIN { printf "%.3f", b ? g / b : 0 }')")
done

# The servers must still be healthy after the load.
check "$first" A

median() { bench_median %.0f "$@"; }
mg=$(median "${qg[@]}")
mb=$(median "${qb[@]}")
echo
echo "== summary ($REPS rep(s) of $DURATION s; median where several; shared machine: +-15% noise on absolute qps)"
echo "  pdns + geosteerd (remote)   qps $mg   [${qg[*]}]"
echo "  pdns + bind                 qps $mb   [${qb[*]}]"
echo "  ratio geosteerd / bind      $(awk -v g="$mg" -v b="$mb" 'BEGIN { printf "%.3f", g / b }')   (paired per rep: ${ratios[*]})"
echo "  reference (baseline doc):   minimal C responder 0.13-0.14x, pdns-side ceiling ~0.19x"
