#!/usr/bin/env bash
# Side by side in one run (issue 13, point 6): every way of serving the same
# names through pdns_server 4.7, one table.
#
# Servers, each a pdns_server on its own loopback port (CACHES "off": cache-ttl=0
# query-cache-ttl=0 negquery-cache-ttl=0; "on": pdns 4.7's defaults, 20/20/60 s):
#   bind        launch=bind, the zone file (static names only)
#   geoip       launch=geoip: pdns's geoip backend, a geoip-zones-file steering
#               geo.cmp.test by country (%cc: de, us/ca, anything else the
#               default) from the .mmdb `geosteer geoip build` writes
#   lua         launch=bind,geoip + enable-lua-records=yes (the LUA records of
#               the zone file; the geoip backend gives country() the database)
#   lua-shared  n/a: pdns 4.7.3 has no shared Lua state (`enable-lua-records=shared`
#               arrived in a later release; 4.7.3 reads any value but "no"/"off"
#               as yes, so it would be the `lua` row again)
#   gs-remote   launch=remote + geosteerd (+ geosteer-probe for ifportup)
#   gs-pipe     launch=pipe,remote: geosteerd's pipe socket (pipe-abi-version=5)
#               for lookups, remote for the rest; "n/a (pipe not built)" when
#               geosteerd has no pipe listener
#   dnsdist     dnsdist 1.7 in front of gs-pipe (gs-remote without the pipe),
#               useClientSubnet; its packet cache follows CACHES: on with
#               "on", none with "off" (otherwise "caches off" would measure it)
# Workloads (one name each, A queries):
#   static    static.cmp.test, no EDNS
#   geo-ecs1  geo.cmp.test (geosteer: steer('geo'), a geo policy DE -> eu,
#             US/CA -> us, default global; geoip backend: the same by %cc), the
#             same ECS /24 of ECS_CC in every query (dnsperf -E)
#   geo-ecsN  geo.cmp.test with ECS drawn from NSUB /24s spread over the
#             tor-geoipdb ranges: dnsperf cannot vary -E per query, so the
#             queries are a binary query file (dnsperf -B, one wire-format
#             query per subnet with its own ECS option; dnsperf cycles it)
#   co-ecsN   co.cmp.test, the country chain of bench/lua_dnsperf.sh (geosteer
#             compiles it; pdns runs it in Lua), ECS as geo-ecsN
#   pu        pu.cmp.test, ifportup over three local TCP listeners (all up)
# "n/a" where a server cannot serve a workload.
# Columns: qps; CPU per query (us) of pdns_server, geosteerd and dnsdist, from
# /proc over the measured period divided by the completed queries; p99 latency
# (ms) from dnsperf 2.10's -v per-query lines (it has no histogram option;
# dnsperf is closed-loop with 256 queries outstanding, so this is mostly
# queueing in front of the slowest stage, comparable between rows only).
# Ratios and targets (PASS/MISS): pipe/remote qps for geo-ecsN with caches off
# (>= 1.2); geosteer static / bind static, caches off (>= 0.2, both paths);
# geosteerd's share of the CPU of a scoped query (geo-ecsN, caches off:
# geosteerd / (geosteerd + pdns); <= 15 %). The recommended path is the faster
# of pipe and remote on geo-ecsN with caches off.
#
# The setup is the project's fixed one (doc/design.md §10): every server
# process pinned to CPU 1, dnsperf to CPU 0, `dnsperf -c 8 -T 1 -q 256 -t 2`
# after a 1 s warm-up; reps alternate the order (odd reps forwards, even reps
# backwards). PERF=1 adds, after the table, `perf record -e cpu-clock -g` of
# pdns_server and geosteerd during a geo-ecsN run (caches off) on each
# geosteer path, and prints the shares by object and the top symbols (data
# kept in PERF_DIR; this VM has no hardware counters, and its paravirtual
# kernel charges most kernel samples to pvm_irq_enable, where interrupts
# come back on: read those as "system calls and scheduling").
#
# usage: bench/run_compare.sh [BUILD_DIR]        (default: build/ beside bench/)
# environment knobs (defaults):
#   DURATION=5  seconds per dnsperf run          REPS=2  alternating-order reps
#   PIN=1       servers on CPU 1, dnsperf on CPU 0 (PIN=0: no pinning)
#   CACHES="off on"  WORKLOADS="static geo-ecs1 geo-ecsN co-ecsN pu"
#   SERVERS="bind geoip lua lua-shared gs-remote gs-pipe dnsdist"
#   NSUB=1000   subnets of the -ecsN workloads   ECS_CC=DE  country of geo-ecs1
#   GS_TUNE="consistent-backends=no"  pdns settings added for gs-remote and
#               gs-pipe (and so dnsdist): the recommended set of the example
#               configs (doc/operations.md, "pdns tuning"); GS_TUNE="" runs
#               them at pdns's defaults like the other servers
#   PERF=0      PERF_DIR=/tmp/run-compare-perf
# A default run takes about 12 minutes. Exit status: 0 when every server
# answered correctly and every run lost < 1 % of its queries and answered
# NOERROR only (a run that did not is listed at the end, the others still
# run; a missed target is reported, not failed), 1 otherwise, 77 if a tool is
# missing. Everything
# lives in a temp dir under /tmp; every process is stopped by PID on exit.
set -eu

BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
LOSSY=()
# shellcheck source=SCRIPTDIR/lib.sh
. "$BENCH_DIR/lib.sh"
DURATION=${DURATION:-5}
REPS=${REPS:-2}
PIN=${PIN:-1}
CACHES=${CACHES:-off on}
WORKLOADS=${WORKLOADS:-static geo-ecs1 geo-ecsN co-ecsN pu}
SERVERS=${SERVERS:-bind geoip lua lua-shared gs-remote gs-pipe dnsdist}
NSUB=${NSUB:-1000}
ECS_CC=${ECS_CC:-DE}
GS_TUNE=${GS_TUNE-consistent-backends=no}
read -r -a GS_TUNE_LINES <<<"$GS_TUNE"
PERF=${PERF:-0}
PERF_DIR=${PERF_DIR:-/tmp/run-compare-perf}
ZONE=cmp.test
CACHE_OFF=("cache-ttl=0" "query-cache-ttl=0" "negquery-cache-ttl=0")

bench_init run_compare.sh "${1:-}" geosteerd geosteer geosteer-probe
export GEOSTEER_PROBE=$BUILD/geosteer-probe
gs_require pdns_server pdnsutil dnsperf kdig python3 awk
[ "$PIN" = 0 ] || gs_require taskset
[ "$PERF" = 0 ] || gs_require perf
for b in bind geoip remote; do
    ls /usr/lib/*/pdns/lib${b}backend.so >/dev/null 2>&1 || gs_skip "pdns-backend-$b is not installed"
done
if [ ! -r /usr/share/tor/geoip ] || [ ! -r /usr/share/tor/geoip6 ]; then
    gs_skip "tor-geoipdb is not installed (/usr/share/tor/geoip, geoip6)"
fi
for c in $CACHES; do case $c in off | on) ;; *) gs_fail "CACHES: 'off' and/or 'on', got '$c'" ;; esac; done
for w in $WORKLOADS; do
    case $w in static | geo-ecs1 | geo-ecsN | co-ecsN | pu) ;; *) gs_fail "unknown workload '$w'" ;; esac
done
has() { [[ " $1 " == *" $2 "* ]]; }

# What serves what; NA[server] says why a whole server is n/a.
declare -A NA SERVES=(
    [bind]="static" [geoip]="static geo-ecs1 geo-ecsN" [lua]="static co-ecsN pu"
    [lua-shared]="" [gs-remote]="static geo-ecs1 geo-ecsN co-ecsN pu"
    [gs-pipe]="static geo-ecs1 geo-ecsN co-ecsN pu" [dnsdist]="static geo-ecs1 geo-ecsN co-ecsN pu")
NA[lua-shared]="pdns 4.7.3 has no shared Lua state"
# The pipe path: geosteerd with a pipe listener (-p) and pdns's pipe backend.
PIPE=0
if bench_pipe_supported; then PIPE=1; else NA[gs-pipe]="pipe not built"; fi
if ! command -v dnsdist >/dev/null 2>&1; then NA[dnsdist]="dnsdist not installed"; fi
for s in $SERVERS; do [ -n "${SERVES[$s]+x}" ] || gs_fail "unknown server '$s'"; done

# ---- GeoIP database, subnets, query files -------------------------------------------------------
DB=$GS_TMP/geoip.mmdb
echo "== geoip build: $(bench_geoip_build "$DB")"
declare -A NET
for cc in DE US JP "$ECS_CC"; do
    NET[$cc]=$(bench_subnet "$cc")
    [ -n "${NET[$cc]}" ] || gs_fail "no /24 of country $cc in /usr/share/tor/geoip"
done
bench_subnets "$NSUB" >"$GS_TMP/nets.txt"
[ "$(wc -l <"$GS_TMP/nets.txt")" -ge $((NSUB * 9 / 10)) ] || gs_fail "too few subnets sampled"
for n in geo co; do bench_ecs_queries "$GS_TMP/q-$n.bin" "$n.$ZONE." A "$GS_TMP/nets.txt"; done
[ -s "$GS_TMP/q-geo.bin" ] || gs_fail "no ECS query file"
for n in static pu geo; do echo "$n.$ZONE. A" >"$GS_TMP/q-$n.txt"; done
declare -A WARGS=(
    [static]="-d $GS_TMP/q-static.txt" [pu]="-d $GS_TMP/q-pu.txt"
    [geo-ecs1]="-d $GS_TMP/q-geo.txt -E $(bench_ecs_hex "${NET[$ECS_CC]}")"
    [geo-ecsN]="-B -d $GS_TMP/q-geo.bin" [co-ecsN]="-B -d $GS_TMP/q-co.bin")
echo "== geo-ecs1: ${NET[$ECS_CC]} ($ECS_CC); geo-ecsN/co-ecsN: $(wc -l <"$GS_TMP/nets.txt") /24s," \
    "$(cut -d. -f1 "$GS_TMP/nets.txt" | sort -u | wc -l) distinct first octets"

# ---- ifportup targets ---------------------------------------------------------------------------
bench_new_port
TPORT=$NEW_PORT
LIVE=(127.0.0.21 127.0.0.22 127.0.0.23)
SRV_PIDS=()
for a in "${LIVE[@]}"; do
    bench_tcp_listen "$a" "$TPORT"
    SRV_PIDS+=("$LISTEN_PID")
done

# ---- zone files -------------------------------------------------------------------------------------
ZF=$GS_TMP/$ZONE.zone
cat >"$ZF" <<ZONE
\$ORIGIN $ZONE.
\$TTL 300
@      IN SOA ns1 hostmaster 1 10800 3600 604800 300
       IN NS  ns1
ns1    IN A   192.0.2.53
static IN A   192.0.2.100
pu     IN LUA A "ifportup($TPORT, {'${LIVE[0]}', '${LIVE[1]}', '${LIVE[2]}'})"
co     IN LUA A ";if country('DE') then return '192.0.2.1' elseif country({'US', 'CA'}) then return '192.0.2.2' elseif continent('EU') then return '192.0.2.3' elseif continent({'AS', 'OC'}) then return '192.0.2.4' else return '192.0.2.5' end"
ZONE
# geosteer's copy adds the steered name (pdns's Lua has no steer()).
GZF=$GS_TMP/$ZONE.gs.zone
{ cat "$ZF"; echo "geo    60 IN LUA A \"steer('geo')\""; } >"$GZF"
# pdns's geoip backend: the same static names and geo.cmp.test steered by %cc.
GEO_YAML=$GS_TMP/geo-zones.yaml
cat >"$GEO_YAML" <<YAML
domains:
- domain: $ZONE
  ttl: 60
  records:
    $ZONE:
      - soa: ns1.$ZONE hostmaster.$ZONE 1 10800 3600 604800 300
      - ns: ns1.$ZONE
    ns1.$ZONE:
      - a: 192.0.2.53
    static.$ZONE:
      - a: 192.0.2.100
    de.geo.$ZONE:
      - a: 192.0.2.1
    us.geo.$ZONE:
      - a: 192.0.2.2
    ca.geo.$ZONE:
      - a: 192.0.2.2
    default.geo.$ZONE:
      - a: 192.0.2.5
  services:
    geo.$ZONE: ['%cc.geo.$ZONE', 'default.geo.$ZONE']
YAML

# ---- geosteerd + geosteer-probe -----------------------------------------------------------------------
RUN=$GS_TMP/run
bench_gs_config "$GS_TMP/geosteer.json" "$DB" "$RUN"
gs_args=(-c "$GS_TMP/geosteer.json")
GS_PIPE_SOCK=$GS_TMP/gs/pipe.sock
[ "$PIPE" = 1 ] && gs_args+=(-p "$GS_PIPE_SOCK")
gs_start_geosteerd "$GS_TMP/gs" "${gs_args[@]}"
GSD_PID=$GS_DAEMON_PID
[ "$PIPE" = 1 ] && gs_wait_socket "$GS_PIPE_SOCK"
gs_start_probe "$RUN"
SRV_PIDS+=("$GSD_PID" "$GS_PROBE_PID")
gs_cli zone create "$ZONE" --ns "ns1.$ZONE" --soa-serial 1 >/dev/null
gs_pdns_conf "$GS_TMP/pdnsutil" "$GS_SOCK" 5399
gs_pdnsutil "$GS_TMP/pdnsutil" load-zone "$ZONE" "$GZF" >"$GS_TMP/load-zone.log" 2>&1 ||
    { cat "$GS_TMP/load-zone.log" >&2; gs_fail "pdnsutil load-zone failed"; }

# ---- the pdns_servers ------------------------------------------------------------------------------------
declare -A PORT PDNS_PID
# start_server NAME CACHE: writes its pdns.conf (or dnsdist.conf) and starts it.
start_server() {
    local s=$1 c=$2 d=$GS_TMP/$1-$2 extra=("loglevel=4")
    [ "$c" = off ] && extra+=("${CACHE_OFF[@]}")
    bench_new_port
    PORT[$s-$c]=$NEW_PORT
    mkdir -p "$d"
    case $s in
    bind) gs_pdns_bind_conf "$d" "$NEW_PORT" "$ZONE" "$ZF" "${extra[@]}" ;;
    geoip | lua)
        if [ "$s" = lua ]; then
            echo "zone \"$ZONE\" { type master; file \"$ZF\"; };" >"$d/named.conf"
            echo "domains: []" >"$d/geo.yaml"
            extra+=("launch=bind,geoip" "bind-config=$d/named.conf" "geoip-zones-file=$d/geo.yaml"
                "enable-lua-records=yes" "lua-health-checks-interval=1" "loglevel=6")
        else
            extra+=("launch=geoip" "geoip-zones-file=$GEO_YAML")
        fi
        {
            echo "geoip-database-files=mmdb:$DB"
            echo "edns-subnet-processing=yes"
            gs_pdns_local "$d" "$NEW_PORT"
            printf '%s\n' "${extra[@]}"
        } >"$d/pdns.conf"
        ;;
    gs-remote) bench_gs_pdns_conf "$d" "$NEW_PORT" remote "${extra[@]}" ${GS_TUNE_LINES[@]+"${GS_TUNE_LINES[@]}"} ;;
    gs-pipe) bench_gs_pdns_conf "$d" "$NEW_PORT" pipe "${extra[@]}" ${GS_TUNE_LINES[@]+"${GS_TUNE_LINES[@]}"} ;;
    dnsdist)
        local back=gs-remote
        [ "$PIPE" = 1 ] && back=gs-pipe
        {
            echo "setLocal('127.0.0.1:$NEW_PORT')"
            echo "setSecurityPollSuffix('')"
            echo "newServer({address='127.0.0.1:${PORT[$back-$c]}', useClientSubnet=true," \
                "checkName='$ZONE.', checkType='SOA', checkInterval=1})"
            [ "$c" = on ] && echo "getPool(''):setCache(newPacketCache(100000))"
        } >"$d/dnsdist.conf"
        dnsdist --supervised --disable-syslog -C "$d/dnsdist.conf" >>"$d/dnsdist.log" 2>&1 &
        PDNS_PID[$s-$c]=$!
        gs_register "$!"
        for _ in $(seq 100); do
            kdig @127.0.0.1 -p "$NEW_PORT" +timeout=1 +retry=0 "static.$ZONE." A +short 2>/dev/null |
                grep -q 192.0.2.100 && return 0
            kill -0 "${PDNS_PID[$s-$c]}" 2>/dev/null || gs_fail "dnsdist exited; see $d/dnsdist.log"
            sleep 0.1
        done
        gs_fail "dnsdist does not answer on port $NEW_PORT; see $d/dnsdist.log"
        ;;
    esac
    gs_start_pdns "$d" "$NEW_PORT"
    PDNS_PID[$s-$c]=$GS_PDNS_PID
}
ACTIVE=()
for c in $CACHES; do
    for s in $SERVERS; do
        [ -z "${NA[$s]:-}" ] || continue
        start_server "$s" "$c"
        ACTIVE+=("$s-$c")
    done
done
for k in "${!PDNS_PID[@]}"; do SRV_PIDS+=("${PDNS_PID[$k]}"); done
for p in "${SRV_PIDS[@]}"; do pin "$p"; done

# ---- health: every ifportup address UP in pdns's Lua and in geosteer --------------------------------------
for k in "${ACTIVE[@]}"; do
    [ "${k%-*}" = lua ] && kdig @127.0.0.1 -p "${PORT[$k]}" +timeout=2 +retry=1 "pu.$ZONE." A >/dev/null
done
for k in "${ACTIVE[@]}"; do
    [ "${k%-*}" = lua ] || continue
    for a in "${LIVE[@]}"; do
        gs_wait_log "$GS_TMP/$k/pdns.log" "Lua record monitoring declaring TCP/IP $a:$TPORT UP" 20 >/dev/null
    done
done
for _ in $(seq 100); do
    [ "$(gs_cli health | grep -c "port $TPORT: UP")" = "${#LIVE[@]}" ] && break
    sleep 0.1
done
[ "$(gs_cli health | grep -c "port $TPORT: UP")" = "${#LIVE[@]}" ] || gs_fail "geosteer health: not all UP"

# ---- sanity: each server gives the expected answers --------------------------------------------------------
# ask KEY NAME [kdig options]: the sorted answer.
ask() {
    local k=$1 n=$2
    shift 2
    kdig @127.0.0.1 -p "${PORT[$k]}" +timeout=2 +retry=1 +short "$@" "$n.$ZONE." A | sort | paste -sd' '
}
expect() {
    local k=$1 want=$2 got
    shift 2
    got=$(ask "$k" "$@")
    [[ " $want " == *" $got "* && -n "$got" ]] || gs_fail "$k: $* answered '$got', expected one of: $want"
}
for k in "${ACTIVE[@]}"; do
    s=${k%-*}
    has "${SERVES[$s]}" static && expect "$k" 192.0.2.100 static
    if has "${SERVES[$s]}" geo-ecs1; then
        expect "$k" 192.0.2.1 geo "+subnet=${NET[DE]}"
        expect "$k" 192.0.2.2 geo "+subnet=${NET[US]}"
        expect "$k" 192.0.2.5 geo "+subnet=${NET[JP]}"
    fi
    if has "${SERVES[$s]}" co-ecsN; then
        expect "$k" 192.0.2.1 co "+subnet=${NET[DE]}"
        expect "$k" 192.0.2.4 co "+subnet=${NET[JP]}"
    fi
    has "${SERVES[$s]}" pu && expect "$k" "${LIVE[*]}" pu
    echo "check $k (port ${PORT[$k]}): ${SERVES[$s]} answer as expected"
done

# ---- the runs ------------------------------------------------------------------------------------------------
# pids_of KEY: the processes whose CPU a row reports: pdns_server, geosteerd, dnsdist ("-" for none).
pids_of() {
    local s=${1%-*} c=${1##*-}
    case $s in
    gs-*) PIDS=("${PDNS_PID[$1]}" "$GSD_PID" -) ;;
    dnsdist) if [ "$PIPE" = 1 ]; then PIDS=("${PDNS_PID[gs-pipe-$c]}" "$GSD_PID" "${PDNS_PID[$1]}"); else
        PIDS=("${PDNS_PID[gs-remote-$c]}" "$GSD_PID" "${PDNS_PID[$1]}"); fi ;;
    *) PIDS=("${PDNS_PID[$1]}" - -) ;;
    esac
}
declare -A R_QPS R_PDNS R_GSD R_DD R_P99
combos=()
for c in $CACHES; do for w in $WORKLOADS; do for s in $SERVERS; do
    [ -z "${NA[$s]:-}" ] && has "${SERVES[$s]}" "$w" && combos+=("$s-$c:$w")
done; done; done
echo
echo "== geosteer rows: pdns settings ${GS_TUNE:-(pdns defaults)} on top of the cache column"
echo "== dnsperf -c 8 -T 1 -q 256 -t 2 -l $DURATION (after 1 s warm-up), ${#combos[@]} runs per rep," \
    "$([ "$PIN" = 0 ] && echo "no pinning" || echo "servers on CPU 1, dnsperf on CPU 0")"
for rep in $(seq "$REPS"); do
    order=("${combos[@]}")
    if [ $((rep % 2)) -eq 0 ]; then
        order=()
        for ((i = ${#combos[@]} - 1; i >= 0; i--)); do order+=("${combos[i]}"); done
    fi
    echo "rep $rep/$REPS:"
    for combo in "${order[@]}"; do
        k=${combo%%:*} w=${combo#*:}
        pids_of "$k"
        real=()
        for p in "${PIDS[@]}"; do [ "$p" = - ] || real+=("$p"); done
        # shellcheck disable=SC2086
        bench_perf "${PORT[$k]}" ${WARGS[$w]} -- "${real[@]}"
        read -r -a cq <<<"$CPUQ"
        i=0 vals=()
        for p in "${PIDS[@]}"; do
            if [ "$p" = - ]; then vals+=(-); else vals+=("${cq[i]}"); i=$((i + 1)); fi
        done
        R_QPS[$combo]+=" $QPS" R_PDNS[$combo]+=" ${vals[0]}" R_GSD[$combo]+=" ${vals[1]}"
        R_DD[$combo]+=" ${vals[2]}" R_P99[$combo]+=" $P99"
        printf '  %-16s %-9s qps %7s  lost %5s%%  p99 %7s ms  CPU us/q pdns %6s gsd %6s dnsdist %6s\n' \
            "$k" "$w" "$QPS" "$LOST" "$P99" "${vals[0]}" "${vals[1]}" "${vals[2]}"
        awk -v l="$LOST" 'BEGIN { exit !(l < 1) }' || LOSSY+=("$k $w lost $LOST%")
        [ -z "$RCODES" ] || LOSSY+=("$k $w answered $RCODES")
    done
done

# The servers must still answer after the load.
for k in "${ACTIVE[@]}"; do has "${SERVES[${k%-*}]}" static && expect "$k" 192.0.2.100 static; done

# ---- the table ------------------------------------------------------------------------------------------------
med() {
    local v
    v=$(echo "$1" | tr ' ' '\n' | grep -v '^-\?$' || true)
    if [ -z "$v" ]; then echo -; else
        # shellcheck disable=SC2086
        printf "$2" "$(bench_median %.6g $v)"
    fi
}
echo
echo "== summary: median of $REPS rep(s) of $DURATION s (2 reps: their mean); CPU in us per completed query;"
echo "   shared 2-core machine: +-15 % noise on absolute figures"
printf '  %-6s %-9s %-11s %9s %9s %9s %9s %9s   %s\n' cache workload server qps "pdns us" "gsd us" \
    "dnsdist us" "p99 ms" "per-rep qps"
for c in $CACHES; do for w in $WORKLOADS; do for s in $SERVERS; do
    combo=$s-$c:$w
    if [ -n "${NA[$s]:-}" ]; then
        printf '  %-6s %-9s %-11s %9s   (%s)\n' "$c" "$w" "$s" n/a "${NA[$s]}"
    elif ! has "${SERVES[$s]}" "$w"; then
        printf '  %-6s %-9s %-11s %9s\n' "$c" "$w" "$s" n/a
    else
        printf '  %-6s %-9s %-11s %9s %9s %9s %9s %9s   %s\n' "$c" "$w" "$s" "$(med "${R_QPS[$combo]}" %.0f)" \
            "$(med "${R_PDNS[$combo]}" %.1f)" "$(med "${R_GSD[$combo]}" %.1f)" "$(med "${R_DD[$combo]}" %.1f)" \
            "$(med "${R_P99[$combo]}" %.2f)" "${R_QPS[$combo]# }"
    fi
done; done; done

# ---- ratios and targets ------------------------------------------------------------------------------------------
# pair_ratio A B: median of the per-rep ratios A/B of two combos' qps ("-" if either is missing).
pair_ratio() {
    local a b r=() i
    read -r -a a <<<"${R_QPS[$1]:-}"
    read -r -a b <<<"${R_QPS[$2]:-}"
    [ "${#a[@]}" -gt 0 ] && [ "${#b[@]}" -gt 0 ] || { echo -; return; }
    for i in "${!a[@]}"; do r+=("$(awk -v x="${a[i]}" -v y="${b[i]}" 'BEGIN { printf "%.4f", y ? x / y : 0 }')"); done
    printf '%.3f' "$(bench_median %.6g "${r[@]}")"
}
# share COMBO: geosteerd's share of pdns + geosteerd CPU per query, from the medians.
share() {
    local p g
    p=$(med "${R_PDNS[$1]:-}" %.6g) g=$(med "${R_GSD[$1]:-}" %.6g)
    [ "$p" != - ] && [ "$g" != - ] || { echo -; return; }
    awk -v p="$p" -v g="$g" 'BEGIN { printf "%.1f", 100 * g / (p + g) }'
}
pv() { # pv VALUE OP TARGET
    [ "$1" = - ] && { echo "n/a"; return; }
    if awk -v a="$1" -v op="$2" -v b="$3" 'BEGIN { exit !(op == ">=" ? a >= b : a <= b) }'; then echo PASS; else echo MISS; fi
}
echo
echo "== ratios (median of per-rep ratios) and targets"
rec=gs-remote
if [ "$PIPE" = 1 ] && has "$CACHES" off; then
    r=$(pair_ratio gs-pipe-off:geo-ecsN gs-remote-off:geo-ecsN)
    awk -v r="$r" 'BEGIN { exit !(r > 1) }' && rec=gs-pipe
fi
r=$(pair_ratio gs-pipe-off:geo-ecsN gs-remote-off:geo-ecsN)
printf '  %-64s %7s   >= 1.2   %s\n' "pipe / remote, steered geo-ecsN, caches off" "$r" "$(pv "$r" ">=" 1.2)"
for x in "geo-ecs1 off" "geo-ecsN on" "geo-ecs1 on" "co-ecsN off" "static off"; do
    set -- $x
    printf '  %-64s %7s   (report)\n' "pipe / remote, $1, caches $2" "$(pair_ratio "gs-pipe-$2:$1" "gs-remote-$2:$1")"
done
for p in gs-remote gs-pipe dnsdist; do
    r=$(pair_ratio "$p-off:static" bind-off:static)
    printf '  %-64s %7s   >= 0.2   %s\n' "$p static / bind static, caches off" "$r" "$(pv "$r" ">=" 0.2)"
done
for p in gs-remote gs-pipe; do
    r=$(share "$p-off:geo-ecsN")
    printf '  %-64s %6s%%   <= 15 %%  %s\n' "geosteerd share of a scoped query's CPU, $p (geo-ecsN, off)" "$r" \
        "$(pv "$r" "<=" 15)"
done
for p in gs-remote gs-pipe; do
    r=$(pair_ratio "$p-off:geo-ecsN" geoip-off:geo-ecsN)
    printf '  %-64s %7s   (report)\n' "$p / pdns geoip backend, geo-ecsN, caches off" "$r"
    r=$(pair_ratio "$p-off:co-ecsN" lua-off:co-ecsN)
    printf '  %-64s %7s   (report)\n' "$p / pdns LUA, co-ecsN, caches off" "$r"
done
echo "  recommended geosteer path on this run: $rec (faster on steered ECS, caches off)"
[ "$PIPE" = 1 ] || echo "  gs-pipe: n/a (pipe not built)"

# ---- where the CPU goes ------------------------------------------------------------------------------------------
if [ "$PERF" = 1 ] && has "$CACHES" off; then
    mkdir -p "$PERF_DIR"
    for p in gs-remote gs-pipe; do
        [ -n "${PDNS_PID[$p-off]:-}" ] || continue
        for proc in pdns:${PDNS_PID[$p-off]} geosteerd:$GSD_PID; do
            out=$PERF_DIR/$p-${proc%%:*}.data
            perf record -e cpu-clock -g -o "$out" -p "${proc#*:}" -- sleep "$((DURATION + 1))" \
                >"$out.log" 2>&1 &
            perf_pid=$!
            gs_register "$perf_pid"
            sleep 0.5
            # shellcheck disable=SC2086
            bench_perf "${PORT[$p-off]}" ${WARGS[geo-ecsN]} -- "${PDNS_PID[$p-off]}" "$GSD_PID"
            wait "$perf_pid" || true
            GS_PIDS=$(echo "$GS_PIDS" | tr ' ' '\n' | grep -vx "$perf_pid" | tr '\n' ' ')
            echo
            echo "== perf $p geo-ecsN caches off, ${proc%%:*} (qps $QPS under perf): shares by object, top symbols"
            perf report -i "$out" --no-children --sort dso -g none --stdio 2>/dev/null |
                grep -E '^ +[0-9]' | head -8
            perf report -i "$out" --no-children --sort dso,sym -g none --stdio 2>/dev/null |
                grep -E '^ +[0-9]' | head -25
        done
    done
    echo "   (perf data in $PERF_DIR)"
fi
if [ "${#LOSSY[@]}" -gt 0 ]; then
    echo "FAIL: runs that lost >= 1 % of their queries or answered other than NOERROR (suspect figures):" >&2
    printf '  %s\n' "${LOSSY[@]}" >&2
    exit 1
fi
