#!/usr/bin/env bash
# pdns tuning for geosteer, measured (issue 13, point 4): pdns_server with
# geosteerd behind it, one setting changed at a time from pdns 4.7's
# defaults, on the remote-only path and on the pipe path (launch=pipe,remote;
# skipped with a line when geosteerd has no pipe listener).
#
# Settings (each row is the defaults plus that one line; "defaults" first):
#   cache-ttl=0,query-cache-ttl=0,negquery-cache-ttl=0   (all caches off: a
#                                       reference row, as in run_compare.sh)
#   query-cache-ttl=0 / 60              (default 20)
#   cache-ttl=0                         (the packet cache off; default 20)
#   zone-cache-refresh-interval=0       (default 300; the pipe path always
#                                       runs with 0: pdns exits at start-up
#                                       with the zone cache on and the pipe
#                                       backend, which cannot list zones)
#   consistent-backends=no              (default yes)
#   distributor-threads=1 / 2 / 4       (default 3)
#   receiver-threads=2 + reuseport=yes  (default 1, no)
# Workloads (A queries, no EDNS unless said):
#   static    NQ distinct static names of bench/gen_zone.sh's zone
#   geo-ecsN  one steered name (steer('geo'), the geo policy of
#             bench_gs_config) with ECS from NSUB /24s spread over
#             tor-geoipdb's ranges (a dnsperf -B query file, one subnet per
#             query, cycled)
# Each row prints qps, CPU us per query of pdns_server and of geosteerd, p99,
# and the backend calls per query: geosteerd's geosteer_requests_total by
# method over the run (`geosteer metrics`; doc/metrics.md), divided by the
# queries dnsperf completed (warm-up excluded). Each setting gets a fresh
# pdns_server (started, warmed 1 s, measured, stopped).
#
# Setup as bench/dnsperf.sh: servers on CPU 1 (pdns and geosteerd share it),
# dnsperf on CPU 0, `dnsperf -c 8 -T 1 -q 256 -t 2`; reps alternate the
# order of the settings.
#
# usage: bench/run_pdns_tuning.sh [BUILD_DIR]     (default: build/ beside bench/)
# environment knobs (defaults):
#   DURATION=5  REPS=1  PIN=1  NQ=2000  NSUB=1000
#   MODES="remote pipe"  WORKLOADS="static geo-ecsN"
#   SETTINGS: the list above, '|'-separated, "defaults" for none; lines of
#             one setting joined by ','
# About 6 minutes with the defaults and both modes. Exit status: 0 when every
# run answered NOERROR only and lost < 1 % (a run that did not is listed at the
# end, the others still run), 1 otherwise, 77 if a tool is missing.
set -eu

BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
LOSSY=()
# shellcheck source=SCRIPTDIR/lib.sh
. "$BENCH_DIR/lib.sh"
DURATION=${DURATION:-5}
REPS=${REPS:-1}
PIN=${PIN:-1}
NQ=${NQ:-2000}
NSUB=${NSUB:-1000}
MODES=${MODES:-remote pipe}
WORKLOADS=${WORKLOADS:-static geo-ecsN}
SETTINGS=${SETTINGS:-defaults|cache-ttl=0,query-cache-ttl=0,negquery-cache-ttl=0|query-cache-ttl=0|query-cache-ttl=60|cache-ttl=0|zone-cache-refresh-interval=0|consistent-backends=no|distributor-threads=1|distributor-threads=2|distributor-threads=4|receiver-threads=2,reuseport=yes}
ZONE=bench.test

bench_init run_pdns_tuning.sh "${1:-}" geosteerd geosteer
gs_require pdns_server pdnsutil dnsperf kdig python3 awk
[ "$PIN" = 0 ] || gs_require taskset
if [ ! -r /usr/share/tor/geoip ] || [ ! -r /usr/share/tor/geoip6 ]; then
    gs_skip "tor-geoipdb is not installed (/usr/share/tor/geoip, geoip6)"
fi
if [[ " $MODES " == *" pipe "* ]] && ! bench_pipe_supported; then
    echo "== pipe mode skipped: geosteerd has no pipe listener (pipe not built)"
    MODES=${MODES//pipe/}
fi
[ -n "${MODES// /}" ] || gs_fail "no mode left to measure"
IFS='|' read -r -a SET <<<"$SETTINGS"

# ---- database, zone, queries ----------------------------------------------------------------------
DB=$GS_TMP/geoip.mmdb
echo "== geoip build: $(bench_geoip_build "$DB")"
zonefile=$GS_TMP/$ZONE.zone
"$BENCH_DIR/gen_zone.sh" "$ZONE" "$zonefile" "$GS_TMP/names.txt"
echo "geo 60 IN LUA A \"steer('geo')\"" >>"$zonefile"
awk -v n="$NQ" 'NR <= n { print $1, "A" }' "$GS_TMP/names.txt" >"$GS_TMP/q-static.txt"
bench_subnets "$NSUB" >"$GS_TMP/nets.txt"
bench_ecs_queries "$GS_TMP/q-geo.bin" "geo.$ZONE." A "$GS_TMP/nets.txt"
declare -A WARGS=([static]="-d $GS_TMP/q-static.txt" [geo-ecsN]="-B -d $GS_TMP/q-geo.bin")

# ---- geosteerd ----------------------------------------------------------------------------------------
bench_gs_config "$GS_TMP/geosteer.json" "$DB" "$GS_TMP/run"
GS_PIPE_SOCK=$GS_TMP/gs/pipe.sock
gs_args=(-c "$GS_TMP/geosteer.json")
[[ " $MODES " == *" pipe "* ]] && gs_args+=(-p "$GS_PIPE_SOCK")
gs_start_geosteerd "$GS_TMP/gs" "${gs_args[@]}"
GSD_PID=$GS_DAEMON_PID
[[ " $MODES " == *" pipe "* ]] && gs_wait_socket "$GS_PIPE_SOCK"
pin "$GSD_PID"
gs_cli zone create "$ZONE" --ns "ns1.$ZONE" --soa-serial 1 >/dev/null
GS_PDNS_TIMEOUT=20000 gs_pdns_conf "$GS_TMP/pdnsutil" "$GS_SOCK" 5399
gs_pdnsutil "$GS_TMP/pdnsutil" load-zone "$ZONE" "$zonefile" >"$GS_TMP/load-zone.log" 2>&1 ||
    { cat "$GS_TMP/load-zone.log" >&2; gs_fail "pdnsutil load-zone failed"; }
first=$(head -1 "$GS_TMP/q-static.txt" | cut -d' ' -f1)
DE=$(bench_subnet DE)

# ---- one setting ----------------------------------------------------------------------------------------
declare -A R_QPS R_PDNS R_GSD R_P99 R_CALLS
# geosteerd's request counters after the warm-up (bench_perf calls this).
bench_perf_started() { BEFORE=$(bench_requests); }
# measure MODE SETTING: a fresh pdns_server with SETTING, every workload once.
measure() {
    local mode=$1 set=$2 d=$GS_TMP/pdns-$1 lines=() w before after calls done_q key
    [ "$set" = defaults ] || IFS=',' read -r -a lines <<<"$set"
    bench_new_port
    rm -rf "$d"
    bench_gs_pdns_conf "$d" "$NEW_PORT" "$mode" "loglevel=4" "${lines[@]}"
    gs_start_pdns "$d" "$NEW_PORT"
    local pid=$GS_PDNS_PID
    pin "$pid"
    [ "$(kdig @127.0.0.1 -p "$NEW_PORT" +short +timeout=2 "$first" A)" != "" ] ||
        gs_fail "$mode/$set: no answer for $first"
    [ "$(kdig @127.0.0.1 -p "$NEW_PORT" +short +timeout=2 "+subnet=$DE" "geo.$ZONE." A)" = 192.0.2.1 ] ||
        gs_fail "$mode/$set: geo.$ZONE. from $DE is not 192.0.2.1"
    for w in $WORKLOADS; do
        key="$mode|$set|$w"
        # shellcheck disable=SC2086
        bench_perf "$NEW_PORT" ${WARGS[$w]} -- "$pid" "$GSD_PID"
        after=$(bench_requests)
        done_q=$(echo "$PERF_OUT" | awk '/Queries completed:/ { print $3 }')
        calls=$(join <(echo "$BEFORE") <(echo "$after") | awk -v q="$done_q" '
            { n = ($3 - $2) / q; if (n >= 0.005) { printf "%s%s %.2f", sep, $1, n; sep = ", " } }')
        read -r -a cq <<<"$CPUQ"
        R_QPS[$key]+=" $QPS" R_PDNS[$key]+=" ${cq[0]}" R_GSD[$key]+=" ${cq[1]}" R_P99[$key]+=" $P99"
        R_CALLS[$key]=$calls
        printf '  %-6s %-36s %-8s qps %7s  lost %5s%%  p99 %7s ms  CPU us/q pdns %6s gsd %6s  calls/q %s\n' \
            "$mode" "$set" "$w" "$QPS" "$LOST" "$P99" "${cq[0]}" "${cq[1]}" "${calls:-0}"
        awk -v l="$LOST" 'BEGIN { exit !(l < 1) }' || LOSSY+=("$mode/$set/$w lost $LOST%")
        [ -z "$RCODES" ] || LOSSY+=("$mode/$set/$w answered $RCODES")
    done
    gs_stop "$pid"
}

echo
echo "== dnsperf -c 8 -T 1 -q 256 -t 2 -l $DURATION (after 1 s warm-up); modes: $MODES;" \
    "$([ "$PIN" = 0 ] && echo "no pinning" || echo "servers on CPU 1, dnsperf on CPU 0")"
for rep in $(seq "$REPS"); do
    echo "rep $rep/$REPS:"
    order=("${SET[@]}")
    if [ $((rep % 2)) -eq 0 ]; then
        order=()
        for ((i = ${#SET[@]} - 1; i >= 0; i--)); do order+=("${SET[i]}"); done
    fi
    for set in "${order[@]}"; do for mode in $MODES; do
        # pipe mode has zone-cache-refresh-interval=0 already (bench_gs_pdns_conf)
        [ "$mode" = pipe ] && [[ "$set" == *zone-cache-refresh-interval* ]] && continue
        measure "$mode" "$set"
    done; done
done

# ---- summary ----------------------------------------------------------------------------------------------
med() {
    # shellcheck disable=SC2086
    printf "$2" "$(bench_median %.6g $1)"
}
echo
echo "== summary: median of $REPS rep(s) of $DURATION s; qps relative to the same mode's defaults;"
echo "   shared 2-core machine: +-15 % noise; calls/q = geosteerd requests per answered query, by method"
printf '  %-6s %-8s %-36s %8s %6s %8s %8s %8s   %s\n' mode workload setting qps rel "pdns us" "gsd us" "p99 ms" calls/q
for mode in $MODES; do for w in $WORKLOADS; do
    base=$(med "${R_QPS[$mode|defaults|$w]:-0}" %.0f)
    for set in "${SET[@]}"; do
        key="$mode|$set|$w"
        if [ -z "${R_QPS[$key]:-}" ]; then
            printf '  %-6s %-8s %-36s %8s   (pipe mode: always 0, the pipe backend cannot list zones)\n' \
                "$mode" "$w" "$set" n/a
            continue
        fi
        q=$(med "${R_QPS[$key]}" %.0f)
        printf '  %-6s %-8s %-36s %8s %6s %8s %8s %8s   %s\n' "$mode" "$w" "$set" "$q" \
            "$(awk -v q="$q" -v b="$base" 'BEGIN { printf "%.2f", b ? q / b : 0 }')" \
            "$(med "${R_PDNS[$key]}" %.1f)" "$(med "${R_GSD[$key]}" %.1f)" "$(med "${R_P99[$key]}" %.2f)" \
            "${R_CALLS[$key]:-0}"
    done
done; done
if [ "${#LOSSY[@]}" -gt 0 ]; then
    echo "FAIL: runs that lost >= 1 % of their queries or answered other than NOERROR (suspect figures):" >&2
    printf '  %s\n' "${LOSSY[@]}" >&2
    exit 1
fi
