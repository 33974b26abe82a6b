#!/usr/bin/env bash
# Protocol benchmark of compiled LUA records against static names (issue 5,
# point 7: "lookups of compiled LUA records run within 80% of static
# lookups"), without pdns_server:
#   1. builds the default GeoIP database (geosteer geoip build, from Debian's
#      tor-geoipdb) and draws 10,000 distinct real client subnets from the
#      same ranges (steer_bench -o: 75 % IPv4 /24, 25 % IPv6 /56),
#   2. starts local TCP listeners on 127.0.0.11-13 (one port), geosteerd with
#      settings.geoip.database and a runtime_dir, and geosteer-probe on it,
#   3. loads one zone with `pdnsutil load-zone` (launch=remote, as in
#      production): bench/gen_zone.sh's 10,000 static records plus NLUA
#      names of each LUA kind below, all compiled on write,
#   4. waits until the probe has every ifportup address UP, then checks one
#      name of each kind over 400 sampled clients (values, spread, scope),
#   5. runs rb_bench (pdns's request line, qtype ANY as pdns sends with
#      consistent-backends, real-remote drawn per request from the sample)
#      over each name set, RUNS rounds in alternating order, and prints
#      lookups/s and the ratio to static per kind with PASS/MISS against
#      the 0.80 target (the median of the per-round ratios decides).
#
# Kinds (NLUA names each, identical content, so checks are shared):
#   static      h0..h1999 A (1-2 records each; gen_zone.sh)
#   pickwrandom wN  LUA A "pickwrandom({{1, a}, {3, b}, {2, c}})"       scope 0
#   ifportup    pN  LUA A "ifportup(PORT, {3 live addresses})"          scope 0
#   country     cN  LUA A ";if country('DE') ... elseif continent(...) ... else ... end"
#                   (5 arms, country and continent conditions; GeoIP scope)
#   pickhashed  hN  LUA A "pickhashed({5 values})"                      scope /24, /56
#   view        vN  LUA A "view({4 rules, 11 networks of both families})" deciding prefix
#
# usage: bench/run_lua_bench.sh [BUILD_DIR]      (default: build/ beside bench/)
# environment knobs (defaults):
#   CONNS=3 DURATION=10 WARMUP=1   rb_bench, as bench/run_bench.sh
#   RUNS=3                         rounds over all kinds; odd rounds forwards,
#                                  even rounds backwards
#   NLUA=1000                      names per LUA kind
#   KINDS="static pickwrandom ifportup country pickhashed view"
#                                  (static is always measured: it is the base)
#   PERF=0                         1: perf record -g geosteerd during each run
#                                  of the last round, print its top symbols,
#                                  keep the data in PERF_DIR (/tmp/lua-bench-perf)
#   CALLGRIND=0                    1: run geosteerd under callgrind (one round)
#                                  and print user-space instructions per lookup
#                                  per kind and the top functions, instead of
#                                  rates; dumps in CG_DIR (/tmp/lua-bench-callgrind)
# Exit status: 0 when everything ran without protocol errors and the sanity
# checks passed (a missed target is reported, not failed), 1 otherwise, 77
# if a tool is missing. Everything lives in a temp dir under /tmp; every
# process is stopped by PID on exit.
set -eu

BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/lib.sh
. "$BENCH_DIR/lib.sh"
CONNS=${CONNS:-3}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-1}
RUNS=${RUNS:-3}
NLUA=${NLUA:-1000}
KINDS=${KINDS:-static pickwrandom ifportup country pickhashed view}
PERF=${PERF:-0}
PERF_DIR=${PERF_DIR:-/tmp/lua-bench-perf}
CALLGRIND=${CALLGRIND:-0}
CG_DIR=${CG_DIR:-/tmp/lua-bench-callgrind}
TARGET=0.80
ZONE=bench.test

bench_init run_lua_bench "${1:-}" geosteerd geosteer geosteer-probe bench/rb_bench bench/steer_bench
export GEOSTEER_PROBE=$BUILD/geosteer-probe
RB_BENCH=$BUILD/bench/rb_bench
STEER_BENCH=$BUILD/bench/steer_bench
gs_require pdnsutil python3 awk
[ "$PERF" = 1 ] && { gs_require perf; mkdir -p "$PERF_DIR"; }
[ "$CALLGRIND" = 1 ] && { gs_require valgrind callgrind_control callgrind_annotate; RUNS=1; }
if [ ! -r /usr/share/tor/geoip ] || [ ! -r /usr/share/tor/geoip6 ]; then
    gs_skip "tor-geoipdb is not installed (/usr/share/tor/geoip, geoip6)"
fi
case " $KINDS " in *" static "*) ;; *) KINDS="static $KINDS" ;; esac
for k in $KINDS; do
    case $k in static | pickwrandom | ifportup | country | pickhashed | view) ;;
    *) gs_fail "unknown kind '$k' in KINDS" ;;
    esac
done
if [ "$NLUA" -lt 1 ] || [ "$NLUA" -gt 100000 ]; then gs_fail "NLUA must be 1..100000"; fi

median() { bench_median %.6g "$@"; }

# ---- 1. GeoIP database and client sample ----------------------------------------------------
DB=$GS_TMP/geoip.mmdb
"$GEOSTEER" geoip build -o "$DB" >"$GS_TMP/geoip-build.log" 2>&1 ||
    { cat "$GS_TMP/geoip-build.log" >&2; gs_fail "geoip build failed"; }
echo "== geoip build: $(tail -1 "$GS_TMP/geoip-build.log")"
SAMPLE=$GS_TMP/clients.txt
"$STEER_BENCH" -g "$DB" -d 0.05 -o "$SAMPLE" >"$GS_TMP/steer_bench.log" 2>&1 ||
    { cat "$GS_TMP/steer_bench.log" >&2; gs_fail "steer_bench (client sample) failed"; }
echo "== client sample: $(wc -l <"$SAMPLE") subnets ($(grep -c ':' "$SAMPLE") IPv6)"

# ---- 2. health targets, geosteerd, geosteer-probe ----------------------------------------------
TPORT=$(gs_free_port)
LIVE=(127.0.0.11 127.0.0.12 127.0.0.13)
for a in "${LIVE[@]}"; do
    "$GS_PY" -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(64)
while True:
    c, _ = s.accept(); c.close()' "$a" "$TPORT" >>"$GS_TMP/listen.log" 2>&1 &
    gs_register "$!"
done
RUN=$GS_TMP/run
CFG=$GS_TMP/geosteer.json
cat >"$CFG" <<JSON
{"settings": {"runtime_dir": "$RUN", "geoip": {"database": "$DB", "max_age_days": 3650}}}
JSON
if [ "$CALLGRIND" = 1 ]; then
    # geosteerd under callgrind; instructions are counted from the first
    # rb_bench run on (callgrind_control -z / -d around each run).
    mkdir -p "$GS_TMP/gs" "$CG_DIR"
    GS_SOCK=$GS_TMP/gs/backend.sock
    valgrind --tool=callgrind --callgrind-out-file="$CG_DIR/callgrind.out.%p" \
        "$GEOSTEERD" -s "$GS_SOCK" -d "$GS_TMP/gs/zones.db" -c "$CFG" >>"$GS_TMP/gs/geosteerd.log" 2>&1 &
    GS_DAEMON_PID=$!
    gs_register "$GS_DAEMON_PID"
    for _ in $(seq 600); do [ -S "$GS_SOCK" ] && break; sleep 0.1; done
    gs_wait_socket "$GS_SOCK"
else
    gs_start_geosteerd "$GS_TMP/gs" -c "$CFG"
fi
gs_start_probe "$RUN"
echo "== geosteerd pid $GS_DAEMON_PID ($GEOSTEERD), geosteer-probe pid $GS_PROBE_PID"

# ---- 3. the zone ---------------------------------------------------------------------------------
zonefile=$GS_TMP/$ZONE.zone
"$BENCH_DIR/gen_zone.sh" "$ZONE" "$zonefile" "$GS_TMP/gen-names.txt"
head -2000 "$GS_TMP/gen-names.txt" >"$GS_TMP/names-static.txt"
# kind -> owner prefix and content (the values are what the sanity check expects)
declare -A PFX CONTENT VALUES
PFX=([pickwrandom]=w [ifportup]=p [country]=c [pickhashed]=hs [view]=v)
CONTENT[pickwrandom]="A \"pickwrandom({{1, '192.0.2.41'}, {3, '192.0.2.42'}, {2, '192.0.2.43'}})\""
VALUES[pickwrandom]="192.0.2.41 192.0.2.42 192.0.2.43"
CONTENT[ifportup]="A \"ifportup($TPORT, {'${LIVE[0]}', '${LIVE[1]}', '${LIVE[2]}'})\""
VALUES[ifportup]="${LIVE[*]}"
CONTENT[country]="A \";if country('DE') then return '192.0.2.1' elseif country({'US', 'CA'}) then return '192.0.2.2' elseif continent('EU') then return '192.0.2.3' elseif continent({'AS', 'OC'}) then return '192.0.2.4' else return '192.0.2.5' end\""
VALUES[country]="192.0.2.1 192.0.2.2 192.0.2.3 192.0.2.4 192.0.2.5"
CONTENT[pickhashed]="A \"pickhashed({'192.0.2.21', '192.0.2.22', '192.0.2.23', '192.0.2.24', '192.0.2.25'})\""
VALUES[pickhashed]="192.0.2.21 192.0.2.22 192.0.2.23 192.0.2.24 192.0.2.25"
CONTENT[view]="A \"view({{{'10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16'}, {'192.0.2.60'}}, {{'0.0.0.0/2', '64.0.0.0/2', '2a00::/12'}, {'192.0.2.61'}}, {{'128.0.0.0/1', '2001::/16'}, {'192.0.2.62'}}, {{'0.0.0.0/0', '::/0'}, {'192.0.2.63'}}})\""
VALUES[view]="192.0.2.60 192.0.2.61 192.0.2.62 192.0.2.63"
for k in pickwrandom ifportup country pickhashed view; do
    awk -v n="$NLUA" -v p="${PFX[$k]}" -v c="${CONTENT[$k]}" -v zone="$ZONE" \
        -v zf="$zonefile" -v nf="$GS_TMP/names-$k.txt" 'BEGIN {
        printf "" > nf
        for (i = 0; i < n; i++) {
            printf "%s%d 60 IN LUA %s\n", p, i, c >> zf
            printf "%s%d.%s.\n", p, i, zone > nf
        }
    }'
done
nrec=$(grep -vc '^\$' "$zonefile")
gs_cli zone create "$ZONE" --ns "ns1.$ZONE" --soa-serial 1 >/dev/null
GS_PDNS_TIMEOUT=20000 gs_pdns_conf "$GS_TMP/pdnsutil" "$GS_SOCK" 5399
t0=$(date +%s.%N)
gs_pdnsutil "$GS_TMP/pdnsutil" load-zone "$ZONE" "$zonefile" >"$GS_TMP/load-zone.log" 2>&1 ||
    { cat "$GS_TMP/load-zone.log" >&2; gs_fail "pdnsutil load-zone failed"; }
t1=$(date +%s.%N)
zl=$(gs_cli zone list)
echo "$zl" | grep -F "$ZONE" | grep -q "records=$nrec" ||
    { echo "$zl" >&2; grep -v -e Reconnecting -e 'closing socket' "$GS_TMP/load-zone.log" | tail -5 >&2;
      gs_fail "the zone does not hold the $nrec records loaded (a refused LUA record?)"; }
awk -v n="$nrec" -v l=$((5 * NLUA)) -v a="$t0" -v b="$t1" \
    'BEGIN { printf "== load-zone: %d records (%d LUA, compiled on write) in %.2f s\n", n, l, b - a }'
zone_id=$(echo "$zl" | grep -F "$ZONE." | grep -o 'id=[0-9]*' | head -1 | cut -d= -f2)
case "${zone_id:-}" in '' | *[!0-9]*) zone_id=1 ;; esac

# ---- 4. health up, sanity of the answers -----------------------------------------------------------
for a in "${LIVE[@]}"; do
    gs_wait_log "$RUN/probe.log" "LUA tcp $a:$TPORT': UNKNOWN -> UP" 20 >/dev/null
done
# geosteerd maps the probe's new state file within a second of its rename.
for _ in $(seq 100); do
    health=$(gs_cli health)
    up=0
    for a in "${LIVE[@]}"; do
        if echo "$health" | grep -q "tcp $a port $TPORT: UP" &&
            ! echo "$health" | grep -q "tcp $a port $TPORT: [^U]"; then up=$((up + 1)); fi
    done
    [ "$up" = "${#LIVE[@]}" ] && break
    sleep 0.1
done
[ "$up" = "${#LIVE[@]}" ] || { echo "$health" | head -20 >&2; gs_fail "geosteer health does not show every ifportup address UP"; }
echo "== ifportup targets UP (probe log and geosteer health): ${LIVE[*]} port $TPORT"

for k in $KINDS; do
    [ "$k" = static ] && continue
    python3 - "$GS_SOCK" "$zone_id" "$SAMPLE" "$k" "$(head -1 "$GS_TMP/names-$k.txt")" "${VALUES[$k]}" <<'PY' ||
import json, socket, sys
sock, zid, sample, kind, qname, values = sys.argv[1:]
want = set(values.split())
clients = [l.strip() for l in open(sample) if l.strip()][:400]
s = socket.socket(socket.AF_UNIX); s.connect(sock); f = s.makefile("rwb")
def rq(line):
    f.write(line.encode() + b"\n"); f.flush(); return f.readline().decode()
rq('{"method": "initialize", "parameters": {"path": "x", "timeout": "2000"}}')
seen, scopes, first = {}, {}, None
for c in clients:
    line = rq('{"method": "lookup", "parameters": {"local": "127.0.0.1", "qname": "%s", "qtype": "ANY", '
              '"real-remote": "%s", "remote": "127.0.0.1", "zone-id": %s}}' % (qname, c, zid))
    first = first or line.strip()
    res = json.loads(line)["result"]
    if not isinstance(res, list) or len(res) != 1 or res[0]["qtype"] != "A":
        sys.exit("%s: %s for %s: expected one A record, got %s" % (kind, qname, c, line.strip()))
    v, sc = res[0]["content"], res[0]["scopeMask"]
    if v not in want:
        sys.exit("%s: %s for %s: %s is not one of %s" % (kind, qname, c, v, sorted(want)))
    seen[v] = seen.get(v, 0) + 1
    fam = "v6" if ":" in c else "v4"
    scopes.setdefault(fam, []).append(sc)
# every value should come up over 400 clients, except where the data decides
need = {"pickwrandom": 3, "ifportup": 3, "country": 4, "pickhashed": 5, "view": 3}[kind]
if len(seen) < need:
    sys.exit("%s: only %d distinct answers over %d clients: %s" % (kind, len(seen), len(clients), seen))
if kind in ("pickwrandom", "ifportup") and any(sc for l in scopes.values() for sc in l):
    sys.exit("%s: a client-independent answer carries a scope" % kind)
if kind in ("country", "pickhashed", "view") and not all(sc for l in scopes.values() for sc in l):
    sys.exit("%s: a client-dependent answer carries scope 0" % kind)
sc = " ".join("%s mean /%.1f" % (k, sum(v) / len(v)) for k, v in sorted(scopes.items()))
print("check %-11s %s over %d clients: %s; scope %s" % (kind, qname, len(clients),
      " ".join("%s x%d" % kv for kv in sorted(seen.items())), sc))
print("      e.g. %s" % first[:200])
PY
        gs_fail "sanity check of $k failed"
done

# ---- 5. rb_bench -------------------------------------------------------------------------------------
declare -A QPS P50 P99 US RATIOS
for k in $KINDS; do QPS[$k]="" P50[$k]="" P99[$k]="" US[$k]="" RATIOS[$k]=""; done
rc=0
# cg_dump KIND RB_BENCH_OUTPUT: dumps callgrind's counts since the last -z
# (warm-up + measured period), prints instructions per lookup and the top
# functions; IR[KIND] gets the figure.
declare -A IR
CG_N=0
cg_dump() {
    local kind=$1 n f ir
    callgrind_control -d "$kind" "$GS_DAEMON_PID" >/dev/null
    CG_N=$((CG_N + 1)) # callgrind numbers its dumps 1, 2, ...
    f=$CG_DIR/callgrind.out.$GS_DAEMON_PID.$CG_N
    [ -f "$f" ] || gs_fail "no callgrind dump $f"
    # lookups in warm-up + measured period: the reply counts are for the
    # measured period only, so take lookups/s x (warm-up + duration).
    n=$(echo "$2" | awk -v t="$(awk -v a="$DURATION" -v b="$WARMUP" 'BEGIN { print a + b }')" \
        '$1 == "lookups_per_s:" { printf "%.0f", $2 * t }')
    ir=$(awk '/^(summary|totals):/ { print $2; exit }' "$f")
    IR[$kind]=$(awk -v i="$ir" -v n="$n" 'BEGIN { printf "%.0f", n ? i / n : 0 }')
    echo "callgrind: ${IR[$kind]} instructions per lookup (~$n lookups, $ir Ir; $f)"
    # Top functions by self cost, per lookup (thread entry points and
    # main carry their callees' cost in a dump taken mid-run: left out).
    callgrind_annotate --auto=no --inclusive=no --threshold=100 "$f" 2>/dev/null |
        sed -n '/file:function/,$p' | sed '1,2d' |
        grep -v -e 'clone.S:' -e 'libc-start' -e 'below main' -e 'ld-linux' -e 'libc_start_call_main' |
        awk -v n="$n" 'NF && n { ir = $1; gsub(/,/, "", ir); l = $0
            sub(/^ *[0-9,]+ +\( *[0-9.]+%\) +/, "", l); sub(/ \[.*$/, "", l)
            printf "  %7.0f  %s\n", ir / n, l }' | head -15
}
bench_one() { # KIND ROUND
    local kind=$1 round=$2 out brc c0 c1 q perf_pid=""
    echo
    echo "== rb_bench $kind, round $round/$RUNS: $CONNS connections, ${DURATION} s (+${WARMUP} s warm-up), qtype ANY, real-remote from $(wc -l <"$SAMPLE") subnets"
    if [ "$PERF" = 1 ] && [ "$round" = "$RUNS" ]; then
        perf record -q -g -p "$GS_DAEMON_PID" -o "$PERF_DIR/perf.$kind.data" >/dev/null 2>&1 &
        perf_pid=$!
        sleep 0.3
    fi
    [ "$CALLGRIND" = 1 ] && callgrind_control -z "$GS_DAEMON_PID" >/dev/null
    c0=$(cpu_ticks "$GS_DAEMON_PID")
    set +e
    out=$("$RB_BENCH" -s "$GS_SOCK" -c "$CONNS" -d "$DURATION" -w "$WARMUP" -n "$GS_TMP/names-$kind.txt" \
        -z "$zone_id" -R "$SAMPLE" -S 2>&1)
    brc=$?
    set -e
    c1=$(cpu_ticks "$GS_DAEMON_PID")
    [ "$CALLGRIND" = 1 ] && cg_dump "$kind" "$out"
    if [ -n "$perf_pid" ]; then
        kill -INT "$perf_pid" 2>/dev/null || true
        wait "$perf_pid" 2>/dev/null || true
    fi
    echo "$out" | grep -v -e '^socket:' -e '^warmup_s:' -e '^real-remote:' -e '^connections:'
    q=$(echo "$out" | awk '$1 == "lookups_per_s:" { print $2 }')
    local us
    us=$(awk -v d=$((c1 - c0)) -v hz="$HZ" -v t="$(awk -v a="$DURATION" -v b="$WARMUP" 'BEGIN { print a + b }')" -v q="${q:-0}" \
        'BEGIN { s = d / hz; printf "%.2f", q ? 1e6 * s / (q * t) : 0 }')
    awk -v d=$((c1 - c0)) -v hz="$HZ" -v t="$(awk -v a="$DURATION" -v b="$WARMUP" 'BEGIN { print a + b }')" -v u="$us" \
        'BEGIN { printf "geosteerd CPU:   %.0f%% of one core, ~%s us per lookup\n", 100 * d / hz / t, u }'
    [ "$brc" -eq 0 ] || { echo "run_lua_bench: rb_bench exited $brc" >&2; rc=1; }
    QPS[$kind]+=" ${q:-0}"
    P50[$kind]+=" $(echo "$out" | awk '$1 == "p50_us:" { print $2 }')"
    P99[$kind]+=" $(echo "$out" | awk '$1 == "p99_us:" { print $2 }')"
    US[$kind]+=" $us"
    LAST_QPS=${q:-0}
    if [ -n "$perf_pid" ]; then
        echo "perf (geosteerd, self time, top symbols; data in $PERF_DIR/perf.$kind.data):"
        perf report -i "$PERF_DIR/perf.$kind.data" --no-children --sort dso,sym -g none 2>/dev/null |
            grep '%' | head -25
    fi
}
read -r -a fwd <<<"$KINDS"
for round in $(seq "$RUNS"); do
    order=("${fwd[@]}")
    if [ $((round % 2)) -eq 0 ]; then
        order=()
        for ((i = ${#fwd[@]} - 1; i >= 0; i--)); do order+=("${fwd[i]}"); done
    fi
    declare -A this=()
    for k in "${order[@]}"; do
        bench_one "$k" "$round"
        this[$k]=$LAST_QPS
    done
    line="-- round $round:"
    for k in $KINDS; do
        [ "$k" = static ] && continue
        r=$(awk -v a="${this[$k]}" -v b="${this[static]}" 'BEGIN { printf "%.3f", b ? a / b : 0 }')
        RATIOS[$k]+=" $r"
        line+=" $k/static $r"
    done
    echo "$line"
done

# Every kind must still answer after the load, and health must be unchanged.
health=$(gs_cli health)
for a in "${LIVE[@]}"; do
    echo "$health" | grep -q "tcp $a port $TPORT: UP" || { rc=1; echo "run_lua_bench: $a no longer UP after the runs" >&2; }
done

if [ "$CALLGRIND" = 1 ]; then
    echo
    echo "== callgrind: geosteerd user-space instructions per lookup (all threads; warm-up included)"
    for k in $KINDS; do
        printf '  %-12s %8s   %s\n' "$k" "${IR[$k]}" \
            "$(awk -v a="${IR[$k]}" -v b="${IR[static]}" 'BEGIN { printf "%+.0f vs static (%.2fx)", a - b, b ? a / b : 0 }')"
    done
    echo "  (lookups/s under callgrind mean nothing; dumps in $CG_DIR)"
    exit "$rc"
fi

echo
echo "== summary: rb_bench, $CONNS connections, $DURATION s per run, $RUNS round(s), qtype ANY, real-remote from $(wc -l <"$SAMPLE") real subnets"
echo "   (median over rounds; ratio = median of the per-round ratios to static; the machine is shared)"
printf '  %-12s %12s %9s %9s %9s %8s   %-8s %s\n' kind "lookups/s" "p50 us" "p99 us" "us CPU" ratio target verdict
for k in $KINDS; do
    # shellcheck disable=SC2086
    {
        q=$(printf '%.0f' "$(median ${QPS[$k]})")
        p50=$(printf "%.1f" "$(median ${P50[$k]})") p99=$(printf "%.1f" "$(median ${P99[$k]})")
        us=$(printf "%.2f" "$(median ${US[$k]})")
    }
    if [ "$k" = static ]; then
        printf '  %-12s %12s %9s %9s %9s %8s   %-8s %s\n' "$k" "$q" "$p50" "$p99" "$us" "1.000" "(base)" ""
        continue
    fi
    # shellcheck disable=SC2086
    r=$(printf '%.3f' "$(median ${RATIOS[$k]})")
    v=$(awk -v r="$r" -v t="$TARGET" 'BEGIN { print (r >= t ? "PASS" : "MISS") }')
    printf '  %-12s %12s %9s %9s %9s %8s   %-8s %s\n' "$k" "$q" "$p50" "$p99" "$us" "$r" ">= $TARGET" "$v"
done
echo "  per-round lookups/s:"
for k in $KINDS; do printf '    %-12s %s\n' "$k" "${QPS[$k]# }"; done
echo "  per-round ratios:"
for k in $KINDS; do [ "$k" = static ] || printf '    %-12s %s\n' "$k" "${RATIOS[$k]# }"; done
exit "$rc"
