#!/usr/bin/env bash
# dnsperf through pdns_server: geosteer's compiled LUA records against pdns's
# own LUA records, same machine, same run (issue 5, point 7: "through
# pdns_server with caches off, a pickwrandom, ifportup or country chain name
# is served at least 4x faster than pdns's own LUA records; with pdns's
# default caches, report both too").
#
# One zone file (lua.test) is served by four pdns_servers on loopback ports:
#   gs-off   launch=remote + geosteerd (+ geosteer-probe), caches off
#   gs-on    the same, pdns's default caches
#   lua-off  launch=bind,geoip, enable-lua-records=yes, geoip-database-files=
#            mmdb:<the same mmdb>, an empty geoip-zones-file ("domains: []"),
#            lua-health-checks-interval=1, caches off
#   lua-on   the same, pdns's default caches
# "caches off" is cache-ttl=0 query-cache-ttl=0 negquery-cache-ttl=0; "default"
# leaves pdns 4.7's defaults (cache-ttl=20, query-cache-ttl=20,
# negquery-cache-ttl=60). The GeoIP database is built with `geosteer geoip
# build` from tor-geoipdb; geosteerd reads it as settings.geoip.database.
#
# Names (the same records in both):
#   wr  LUA A "pickwrandom({{1, a}, {3, b}, {2, c}})"
#   pu  LUA A "ifportup(PORT, {127.0.0.21, .22, .23})"  (local TCP listeners, all up)
#   co  LUA A ";if country('DE') ... elseif country({'US', 'CA'}) ... elseif
#             continent('EU') ... elseif continent({'AS', 'OC'}) ... else ... end"
#   static  A 192.0.2.100  (KINDS=static: a reference row)
# Workloads: plain (no EDNS, client 127.0.0.1: no country, the chain's last
# arm) and ecs (dnsperf -E 8:<ECS option>: family 1, source /24, scope 0, a
# /24 from a $ECS_CC range of tor-geoipdb, the same option in every query).
#
# Before timing, every server is checked with kdig: static, wr and pu give
# their values; co gives the DE, US, FR, JP and no-country arms for /24s from
# those countries' ranges (+subnet) and for a plain query, identically from
# geosteer and from pdns's Lua, so pdns's country() demonstrably sees the
# countries. pdns's ifportup checks start with the first query and count as
# down until checked, so each pdns Lua server is asked for pu first and the
# script waits until its log says "Lua record monitoring declaring TCP/IP
# <addr>:<port> UP!" for all three addresses (geosteer: `geosteer health`).
#
# The setup is the project's fixed one (doc/design.md §10): servers
# (every pdns_server, geosteerd, geosteer-probe, the TCP listeners) pinned to
# CPU 1, dnsperf to CPU 0, `dnsperf -c 8 -T 1 -q 256 -t 2` after a 1 s
# warm-up; reps alternate the order (odd reps forwards, even reps backwards).
# Server CPU % is from /proc over the measured period (100 = one core;
# pdns+geosteerd for geosteer).
#
# usage: bench/lua_dnsperf.sh [BUILD_DIR]        (default: build/ beside bench/)
# environment knobs (defaults):
#   DURATION=10  seconds per dnsperf run        REPS=3  alternating-order reps
#   PIN=1        taskset servers to CPU 1, dnsperf to CPU 0 (PIN=0: no pinning)
#   KINDS="pickwrandom ifportup country"        (also: static)
#   CACHES="off on"   WORKLOADS="plain ecs"     ECS_CC=DE (country of the ECS /24)
# Exit status: 0 when every server answered correctly and dnsperf lost < 1 %
# of the queries of every run (a missed target is reported, not failed), 1
# otherwise, 77 if a tool is missing. Everything lives in a temp dir under
# /tmp; every process is stopped by PID on exit.
set -eu

BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/lib.sh
. "$BENCH_DIR/lib.sh"
DURATION=${DURATION:-10}
REPS=${REPS:-3}
PIN=${PIN:-1}
KINDS=${KINDS:-pickwrandom ifportup country}
CACHES=${CACHES:-off on}
WORKLOADS=${WORKLOADS:-plain ecs}
ECS_CC=${ECS_CC:-DE}
TARGET=4
ZONE=lua.test
CACHE_OFF=("cache-ttl=0" "query-cache-ttl=0" "negquery-cache-ttl=0")

bench_init lua_dnsperf.sh "${1:-}" geosteerd geosteer geosteer-probe
export GEOSTEER_PROBE=$BUILD/geosteer-probe
gs_require pdns_server pdnsutil dnsperf kdig python3 awk
[ "$PIN" = 0 ] || gs_require taskset
ls /usr/lib/*/pdns/libgeoipbackend.so >/dev/null 2>&1 ||
    gs_skip "pdns-backend-geoip is not installed (libgeoipbackend.so)"
ls /usr/lib/*/pdns/libbindbackend.so >/dev/null 2>&1 ||
    gs_skip "pdns-backend-bind is not installed (libbindbackend.so)"
if [ ! -r /usr/share/tor/geoip ] || [ ! -r /usr/share/tor/geoip6 ]; then
    gs_skip "tor-geoipdb is not installed (/usr/share/tor/geoip, geoip6)"
fi
declare -A QNAME=([static]=static [pickwrandom]=wr [ifportup]=pu [country]=co)
for k in $KINDS; do [ -n "${QNAME[$k]:-}" ] || gs_fail "unknown kind '$k' in KINDS"; done
for c in $CACHES; do case $c in off | on) ;; *) gs_fail "CACHES: 'off' and/or 'on', got '$c'" ;; esac; done
for w in $WORKLOADS; do case $w in plain | ecs) ;; *) gs_fail "WORKLOADS: 'plain' and/or 'ecs', got '$w'" ;; esac; done

median() { bench_median %.6g "$@"; }

# ---- GeoIP database and client subnets ---------------------------------------------------------
DB=$GS_TMP/geoip.mmdb
echo "== geoip build: $(bench_geoip_build "$DB")"
declare -A NET
for cc in DE US FR JP "$ECS_CC"; do
    NET[$cc]=$(bench_subnet "$cc")
    [ -n "${NET[$cc]}" ] || gs_fail "no /24 of country $cc in /usr/share/tor/geoip"
done
ECS_NET=${NET[$ECS_CC]}
# dnsperf -E 8:HEX: family 0001, source 24, scope 0, the three network bytes.
ECS_HEX=$(bench_ecs_hex "$ECS_NET")
ECS_HEX=${ECS_HEX#8:}
echo "== ECS workload: $ECS_NET ($ECS_CC), dnsperf -E 8:$ECS_HEX"

# ---- health targets -------------------------------------------------------------------------------
TPORT=$(gs_free_port)
LIVE=(127.0.0.21 127.0.0.22 127.0.0.23)
LISTEN_PIDS=()
for a in "${LIVE[@]}"; do
    bench_tcp_listen "$a" "$TPORT"
    LISTEN_PIDS+=("$LISTEN_PID")
done

# ---- the zone ----------------------------------------------------------------------------------------
ZF=$GS_TMP/$ZONE.zone
cat >"$ZF" <<ZONE
\$ORIGIN $ZONE.
\$TTL 300
@      IN SOA ns1 hostmaster 1 10800 3600 604800 300
       IN NS  ns1
ns1    IN A   192.0.2.53
static IN A   192.0.2.100
wr     IN LUA A "pickwrandom({{1, '192.0.2.41'}, {3, '192.0.2.42'}, {2, '192.0.2.43'}})"
pu     IN LUA A "ifportup($TPORT, {'${LIVE[0]}', '${LIVE[1]}', '${LIVE[2]}'})"
co     IN LUA A ";if country('DE') then return '192.0.2.1' elseif country({'US', 'CA'}) then return '192.0.2.2' elseif continent('EU') then return '192.0.2.3' elseif continent({'AS', 'OC'}) then return '192.0.2.4' else return '192.0.2.5' end"
ZONE

# ---- geosteerd + geosteer-probe, two pdns_servers with the remote backend -------------------------
RUN=$GS_TMP/run
cat >"$GS_TMP/geosteer.json" <<JSON
{"settings": {"runtime_dir": "$RUN", "geoip": {"database": "$DB", "max_age_days": 3650}}}
JSON
gs_start_geosteerd "$GS_TMP/gs" -c "$GS_TMP/geosteer.json"
GS_PID=$GS_DAEMON_PID
gs_start_probe "$RUN"
gs_cli zone create "$ZONE" --ns "ns1.$ZONE" --soa-serial 1 >/dev/null
gs_pdns_conf "$GS_TMP/pdnsutil" "$GS_SOCK" 5399
gs_pdnsutil "$GS_TMP/pdnsutil" load-zone "$ZONE" "$ZF" >"$GS_TMP/load-zone.log" 2>&1 ||
    { cat "$GS_TMP/load-zone.log" >&2; gs_fail "pdnsutil load-zone failed"; }
nrec=$(grep -c ' IN ' "$ZF")
gs_cli zone list | grep -F "$ZONE." | grep -q "records=$nrec" ||
    { gs_cli zone list >&2; tail -5 "$GS_TMP/load-zone.log" >&2; gs_fail "geosteerd does not hold the $nrec records"; }

declare -A PORT PIDS
new_port() { bench_new_port; }
for c in $CACHES; do
    new_port
    PORT[gs-$c]=$NEW_PORT
    extra=("loglevel=4")
    [ "$c" = off ] && extra+=("${CACHE_OFF[@]}")
    gs_pdns_conf "$GS_TMP/gs-$c" "$GS_SOCK" "$NEW_PORT" "${extra[@]}"
    gs_start_pdns "$GS_TMP/gs-$c" "$NEW_PORT"
    PIDS[gs-$c]="$GS_PDNS_PID $GS_PID"
done

# ---- two pdns_servers with pdns's own LUA records -----------------------------------------------------
for c in $CACHES; do
    new_port
    PORT[lua-$c]=$NEW_PORT
    d=$GS_TMP/lua-$c
    mkdir -p "$d"
    echo "zone \"$ZONE\" { type master; file \"$ZF\"; };" >"$d/named.conf"
    # The geoip backend is here only to give Lua's country()/continent() the
    # database; an empty sequence of domains is accepted (so are an empty
    # file and "domains:"; a missing file is fatal).
    echo "domains: []" >"$d/geo.yaml"
    {
        echo "launch=bind,geoip"
        echo "bind-config=$d/named.conf"
        echo "geoip-database-files=mmdb:$DB"
        echo "geoip-zones-file=$d/geo.yaml"
        echo "enable-lua-records=yes"
        echo "lua-health-checks-interval=1"
        echo "edns-subnet-processing=yes"
        echo "loglevel=6" # 4.7.3 logs health transitions at Info
        gs_pdns_local "$d" "$NEW_PORT"
        [ "$c" = off ] && printf '%s\n' "${CACHE_OFF[@]}"
    } >"$d/pdns.conf"
    gs_start_pdns "$d" "$NEW_PORT"
    PIDS[lua-$c]=$GS_PDNS_PID
done
SERVERS=()
for c in $CACHES; do SERVERS+=("gs-$c" "lua-$c"); done

for s in "${SERVERS[@]}"; do for p in ${PIDS[$s]}; do pin "$p"; done; done
pin "$GS_PROBE_PID"
for p in "${LISTEN_PIDS[@]}"; do pin "$p"; done

# ---- health: every ifportup address UP in both ---------------------------------------------------------
# q SERVER NAME [kdig options]: the sorted answer
q() {
    local s=$1 n=$2
    shift 2
    kdig @127.0.0.1 -p "${PORT[$s]}" +timeout=2 +retry=1 +short "$@" "$n.$ZONE." A | sort | tr '\n' ' ' | sed 's/ $//'
}
for s in "${SERVERS[@]}"; do
    [ "${s%%-*}" = lua ] && q "$s" pu >/dev/null # pdns starts checking on the first query
done
for s in "${SERVERS[@]}"; do
    [ "${s%%-*}" = lua ] || continue
    for a in "${LIVE[@]}"; do
        gs_wait_log "$GS_TMP/$s/pdns.log" "Lua record monitoring declaring TCP/IP $a:$TPORT UP" 20 >/dev/null
    done
    echo "== $s: pdns's Lua health checks declare ${LIVE[*]} port $TPORT UP"
done
up=0
for _ in $(seq 100); do
    health=$(gs_cli health)
    up=0
    for a in "${LIVE[@]}"; do
        echo "$health" | grep -q "tcp $a port $TPORT: UP" && up=$((up + 1))
    done
    [ "$up" = "${#LIVE[@]}" ] && break
    sleep 0.1
done
[ "$up" = "${#LIVE[@]}" ] || { echo "$health" >&2; gs_fail "geosteer health does not show ${LIVE[*]} UP"; }
echo "== geosteer: health shows ${LIVE[*]} port $TPORT UP"

# ---- sanity: the right answers, the same from both ---------------------------------------------------------
# expect_one SERVER NAME WANT_SET [kdig options]: 20 queries, each one value of WANT_SET;
# prints the distinct values seen.
expect_one() {
    local s=$1 n=$2 want=" $3 " a seen=""
    shift 3
    for _ in $(seq 20); do
        a=$(q "$s" "$n" "$@")
        [[ -n "$a" && "$a" != *" "* && "$want" == *" $a "* ]] ||
            gs_fail "$s: $n.$ZONE. $* answered '$a', expected one of:$want"
        [[ " $seen " == *" $a "* ]] || seen+=" $a"
    done
    echo "$seen" | tr ' ' '\n' | sed '/^$/d' | sort | tr '\n' ' ' | sed 's/ $//'
}
for s in "${SERVERS[@]}"; do
    out="static=$(expect_one "$s" static 192.0.2.100)"
    out+="  wr=[$(expect_one "$s" wr "192.0.2.41 192.0.2.42 192.0.2.43")]"
    out+="  pu=[$(expect_one "$s" pu "${LIVE[*]}")]"
    out+="  co: plain=$(expect_one "$s" co 192.0.2.5)"
    out+=" DE=$(expect_one "$s" co 192.0.2.1 "+subnet=${NET[DE]}")"
    out+=" US=$(expect_one "$s" co 192.0.2.2 "+subnet=${NET[US]}")"
    out+=" FR=$(expect_one "$s" co 192.0.2.3 "+subnet=${NET[FR]}")"
    out+=" JP=$(expect_one "$s" co 192.0.2.4 "+subnet=${NET[JP]}")"
    echo "check $s: $out"
done
echo "   (co subnets: DE ${NET[DE]} US ${NET[US]} FR ${NET[FR]} JP ${NET[JP]})"
for s in "${SERVERS[@]}"; do
    sc=$(kdig @127.0.0.1 -p "${PORT[$s]}" +timeout=2 +retry=1 "+subnet=$ECS_NET" "co.$ZONE." A |
        grep -o 'CLIENT-SUBNET: [^ ]*' | head -1)
    echo "   $s: co +subnet=$ECS_NET -> ${sc:-no ECS option in the reply}"
done

# ---- dnsperf ---------------------------------------------------------------------------------------------------
# run_perf SERVER KIND WORKLOAD: one warm-up second, then DURATION seconds;
# sets QPS and prints one line.
run_perf() {
    local s=$1 kind=$2 wl=$3 qf=$GS_TMP/q-$2.txt args=()
    [ "$wl" = ecs ] && args=(-E "8:$ECS_HEX")
    run_client dnsperf -s 127.0.0.1 -p "${PORT[$s]}" -d "$qf" "${args[@]}" -c 8 -T 1 -q 256 -t 2 -l 1 \
        >/dev/null 2>&1 || true
    local t0=() p pids
    read -r -a pids <<<"${PIDS[$s]}"
    for p in "${pids[@]}"; do t0+=("$(cpu_ticks "$p")"); done
    local s0 s1 out
    s0=$(date +%s%N)
    out=$(run_client dnsperf -s 127.0.0.1 -p "${PORT[$s]}" -d "$qf" "${args[@]}" -c 8 -T 1 -q 256 -t 2 \
        -l "$DURATION" 2>&1) || { echo "$out" >&2; gs_fail "dnsperf against $s ($kind, $wl) failed"; }
    s1=$(date +%s%N)
    echo "$out" >>"$GS_TMP/dnsperf-$s-$kind-$wl.log"
    QPS=$(echo "$out" | awk '/Queries per second:/ { printf "%.0f", $4 }')
    local lost sent lat cpu="" i=0 d
    lost=$(echo "$out" | awk '/Queries lost:/ { gsub(/[()%]/, "", $4); print $4 }')
    sent=$(echo "$out" | awk '/Queries sent:/ { print $3 }')
    lat=$(echo "$out" | awk '/Average Latency/ { print $4 * 1000 }')
    for p in "${pids[@]}"; do
        d=$(($(cpu_ticks "$p") - t0[i]))
        cpu+="${cpu:++}$(awk -v d="$d" -v hz="$HZ" -v ns=$((s1 - s0)) 'BEGIN { printf "%.0f", 100 * d / hz / (ns / 1e9) }')"
        i=$((i + 1))
    done
    printf '  %-8s %-12s %-6s qps %8s   sent %9s   lost %6s%%   avg latency %8.2f ms   server CPU %% %s\n' \
        "$s" "$kind" "$wl" "$QPS" "$sent" "$lost" "$lat" "$cpu"
    awk -v l="$lost" 'BEGIN { exit !(l < 1) }' || gs_fail "$s ($kind, $wl) lost $lost% of the queries"
    if echo "$out" | grep -q 'SERVFAIL\|REFUSED\|NXDOMAIN'; then
        echo "$out" | grep -A8 'Response codes' >&2
        gs_fail "$s ($kind, $wl): answers other than NOERROR"
    fi
}
for k in $KINDS; do echo "${QNAME[$k]}.$ZONE. A" >"$GS_TMP/q-$k.txt"; done

# What dnsperf -E puts on the wire: one query to a local sink that decodes
# the ECS option of its OPT record.
case " $WORKLOADS " in *" ecs "*)
    new_port
    sink_out=$GS_TMP/ecs-sink.txt
    "$GS_PY" - "$NEW_PORT" >"$sink_out" 2>&1 <<'PY' &
import socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", int(sys.argv[1]))); s.settimeout(10)
m, _ = s.recvfrom(4096)
qd, an, ns, ar = struct.unpack("!4H", m[4:12])
p = 12
def skip_name(p):
    while m[p]:
        p += 1 + m[p]
    return p + 1
for _ in range(qd):
    p = skip_name(p) + 4
for _ in range(an + ns + ar):
    p = skip_name(p)
    t, _, _, rdlen = struct.unpack("!HHIH", m[p:p + 10]); p += 10
    if t == 41:
        q, end = p, p + rdlen
        while q < end:
            code, olen = struct.unpack("!HH", m[q:q + 4]); d = m[q + 4:q + 4 + olen]; q += 4 + olen
            if code == 8:
                fam, src, scope = struct.unpack("!HBB", d[:4])
                a = bytes(d[4:]) + bytes(4 - len(d[4:]))
                print("ECS family %d source /%d scope /%d address %s" % (fam, src, scope, socket.inet_ntoa(a)))
                sys.exit(0)
    p += rdlen
print("no ECS option in the query")
sys.exit(1)
PY
    sink_pid=$!
    gs_register "$sink_pid"
    sleep 0.3
    dnsperf -s 127.0.0.1 -p "$NEW_PORT" -d "$GS_TMP/q-${KINDS%% *}.txt" -E "8:$ECS_HEX" -n 1 -t 1 >/dev/null 2>&1 || true
    wait "$sink_pid" || { cat "$sink_out" >&2; gs_fail "dnsperf -E 8:$ECS_HEX does not send the ECS option"; }
    GS_PIDS=$(echo "$GS_PIDS" | tr ' ' '\n' | grep -vx "$sink_pid" | tr '\n' ' ')
    want="ECS family 1 source /24 scope /0 address ${ECS_NET%/24}"
    [ "$(cat "$sink_out")" = "$want" ] || gs_fail "dnsperf -E sends '$(cat "$sink_out")', expected '$want'"
    echo "check dnsperf -E 8:$ECS_HEX on the wire: $want"
    ;;
esac

echo
echo "== dnsperf -c 8 -T 1 -q 256 -t 2 -l $DURATION (after 1 s warm-up), one name per kind," \
    "$([ "$PIN" = 0 ] && echo "no pinning" || echo "servers on CPU 1, dnsperf on CPU 0")"
echo "   (server CPU %: pdns+geosteerd for gs-*, pdns for lua-*; 100 = one core)"
declare -A QPSL RATIOS
combos=()
for c in $CACHES; do for w in $WORKLOADS; do for k in $KINDS; do combos+=("$c:$w:$k"); done; done; done
for rep in $(seq "$REPS"); do
    echo "rep $rep/$REPS:"
    order=("${combos[@]}")
    if [ $((rep % 2)) -eq 0 ]; then
        order=()
        for ((i = ${#combos[@]} - 1; i >= 0; i--)); do order+=("${combos[i]}"); done
    fi
    for combo in "${order[@]}"; do
        IFS=: read -r c w k <<<"$combo"
        pair=("gs-$c" "lua-$c")
        [ $((rep % 2)) -eq 0 ] && pair=("lua-$c" "gs-$c")
        declare -A got=()
        for s in "${pair[@]}"; do
            run_perf "$s" "$k" "$w"
            QPSL[$s:$w:$k]+=" $QPS"
            got[${s%%-*}]=$QPS
        done
        RATIOS[$c:$w:$k]+=" $(awk -v g="${got[gs]}" -v l="${got[lua]}" 'BEGIN { printf "%.2f", l ? g / l : 0 }')"
    done
done

# Every server must still answer after the load.
for s in "${SERVERS[@]}"; do
    expect_one "$s" co 192.0.2.1 "+subnet=${NET[DE]}" >/dev/null
    expect_one "$s" pu "${LIVE[*]}" >/dev/null
done

echo
echo "== summary ($REPS rep(s) of $DURATION s; median qps; ratio = median of the per-rep geosteer/pdns-Lua ratios;"
echo "   shared machine: +-15% noise on absolute qps; target: >= ${TARGET}x with caches off, reported only with caches on)"
printf '  %-6s %-6s %-12s %10s %10s %8s   %-8s %s\n' cache query name "geosteer" "pdns Lua" ratio target verdict
for c in $CACHES; do for w in $WORKLOADS; do for k in $KINDS; do
    # shellcheck disable=SC2086
    {
        g=$(printf '%.0f' "$(median ${QPSL[gs-$c:$w:$k]})")
        l=$(printf '%.0f' "$(median ${QPSL[lua-$c:$w:$k]})")
        r=$(printf '%.2f' "$(median ${RATIOS[$c:$w:$k]})")
    }
    if [ "$c" = off ] && [ "$k" != static ]; then
        t=">= ${TARGET}x" v=$(awk -v r="$r" -v t="$TARGET" 'BEGIN { print (r >= t ? "PASS" : "MISS") }')
    else
        t="(report)" v=""
    fi
    printf '  %-6s %-6s %-12s %10s %10s %7sx   %-8s %s\n' "$c" "$w" "$k" "$g" "$l" "$r" "$t" "$v"
done; done; done
echo "  per-rep qps (geosteer | pdns Lua) and ratios:"
for c in $CACHES; do for w in $WORKLOADS; do for k in $KINDS; do
    printf '    %-3s %-5s %-12s %s | %s   ratios %s\n' "$c" "$w" "$k" "${QPSL[gs-$c:$w:$k]# }" \
        "${QPSL[lua-$c:$w:$k]# }" "${RATIOS[$c:$w:$k]# }"
done; done; done
