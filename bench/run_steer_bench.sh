#!/usr/bin/env bash
# Steering benchmarks:
#   1. builds the default GeoIP database (geosteer geoip build, from Debian's
#      tor-geoipdb) into a temp dir,
#   2. runs steer_bench: the engine in-process (parse + decide per policy
#      type over 10,000 distinct real client subnets, build time, mean ECS
#      scope vs the database netmask); it also writes the client sample,
#   3. starts geosteerd with steer_bench's embedded config (steer_bench -P)
#      and the database, records its VmRSS/VmHWM with the database loaded,
#   4. loads one zone with ~7,000 static names (bench/gen_zone.sh: 10,000
#      records) and 7,000 steered names (`gN 60 IN LUA A "steer('geo')"`)
#      with `pdnsutil load-zone`,
#      (also after a restart that reads the zone back from the store),
#   5. runs rb_bench over the static names and then over the steered names,
#      both with real-remote drawn from the client sample (rb_bench -R), and
#      prints lookups/s, p50/p99 and the steered/static ratio, then
#      geosteerd's VmRSS/VmHWM.
#
# usage: bench/run_steer_bench.sh [BUILD_DIR]     (default: build/ beside bench/)
# environment knobs (defaults):
#   CONNS=3 DURATION=10 WARMUP=1 RUNS=2   rb_bench (RUNS alternating static/steered pairs)
#   SB_SECS=2                              steer_bench seconds per figure
#   SB_CPU=                                 pin steer_bench to this CPU
#   POLICY=geo                             policy of the steered names (geo, near, ...)
#   STEER_AAAA=0                           1: steered names also get LUA AAAA
#   SKIP_STEER_BENCH=0                     1: socket comparison only
#   RELOADS=3                              `geosteer reload`s after the runs (RSS after each)
#   PERF=0                                 1: perf record -g geosteerd during each rb_bench
#                                          run, print its top symbols, keep the data in
#                                          PERF_DIR (default /tmp/steer-bench-perf)
# Exit status: 0 when everything ran without protocol errors (missed targets
# are reported, not failed), 1 otherwise, 77 if a tool is missing.
set -eu

BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/lib.sh
. "$BENCH_DIR/lib.sh"
CONNS=${CONNS:-3}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-1}
RUNS=${RUNS:-2}
SB_SECS=${SB_SECS:-2}
SB_CPU=${SB_CPU:-}
POLICY=${POLICY:-geo}
STEER_AAAA=${STEER_AAAA:-0}
SKIP_STEER_BENCH=${SKIP_STEER_BENCH:-0}
PERF=${PERF:-0}
RELOADS=${RELOADS:-3}
PERF_DIR=${PERF_DIR:-/tmp/steer-bench-perf}
ZONE=bench.test
NSTEERED=7000

bench_init run_steer_bench "${1:-}" geosteerd geosteer bench/rb_bench bench/steer_bench
RB_BENCH=$BUILD/bench/rb_bench
STEER_BENCH=$BUILD/bench/steer_bench
gs_require pdnsutil python3 awk
[ "$PERF" = 1 ] && { gs_require perf; mkdir -p "$PERF_DIR"; }
if [ ! -r /usr/share/tor/geoip ] || [ ! -r /usr/share/tor/geoip6 ]; then
    gs_skip "tor-geoipdb is not installed (/usr/share/tor/geoip, geoip6)"
fi

rss_line() {
    awk '/^VmRSS:/ { r = $2 } /^VmHWM:/ { h = $2 } /^RssAnon:/ { a = $2 } /^RssFile:/ { f = $2 }
         END { printf "VmRSS %d kB (%.1f MiB; anon %.1f, file %.1f)  VmHWM %d kB (%.1f MiB)\n", r, r / 1024, a / 1024, f / 1024, h, h / 1024 }' "/proc/$1/status"
}
ratio_median() { printf '%.3f\n' "$(bench_median %.6g "$@")"; }
median() { bench_median %.1f "$@"; }

# ---- 1. database -------------------------------------------------------------------------
DB=$GS_TMP/geoip.mmdb
t0=$(date +%s.%N)
"$GEOSTEER" geoip build -o "$DB" >"$GS_TMP/geoip-build.log" 2>&1 ||
    { cat "$GS_TMP/geoip-build.log" >&2; gs_fail "geoip build failed"; }
t1=$(date +%s.%N)
echo "== geoip build: $(tail -1 "$GS_TMP/geoip-build.log")"
awk -v a="$t0" -v b="$t1" 'BEGIN { printf "   (%.2f s wall)\n", b - a }'

# ---- 2. steer_bench ----------------------------------------------------------------------
SAMPLE=$GS_TMP/clients.txt
sb_args=(-g "$DB" -d "$SB_SECS" -o "$SAMPLE")
[ -n "$SB_CPU" ] && sb_args+=(-C "$SB_CPU")
if [ "$SKIP_STEER_BENCH" = 1 ]; then
    "$STEER_BENCH" "${sb_args[@]}" -d 0.05 >/dev/null
else
    echo
    echo "== steer_bench ${sb_args[*]}"
    "$STEER_BENCH" "${sb_args[@]}" || gs_fail "steer_bench failed"
fi

# ---- 3. geosteerd with the config and the database ---------------------------------------
CFG=$GS_TMP/geosteer.json
"$STEER_BENCH" -g "$DB" -P >"$CFG"
"$GEOSTEERD" -c "$CFG" --check >/dev/null || gs_fail "geosteerd --check refused $CFG"
gs_start_geosteerd "$GS_TMP/gs" -c "$CFG"
echo
echo "== geosteerd pid $GS_DAEMON_PID ($GEOSTEERD), config $CFG"
sleep 0.5
rss_idle_line=$(rss_line "$GS_DAEMON_PID")
rss_idle=$(status_kb "$GS_DAEMON_PID" VmRSS)
echo "database + engine loaded, empty store: $rss_idle_line"

# ---- 4. zone: ~7,000 static + 7,000 steered names ----------------------------------------
zonefile=$GS_TMP/$ZONE.zone
static_names=$GS_TMP/static-names.txt
steer_names=$GS_TMP/steer-names.txt
"$BENCH_DIR/gen_zone.sh" "$ZONE" "$zonefile" "$static_names"
awk -v zone="$ZONE" -v n="$NSTEERED" -v pol="$POLICY" -v aaaa="$STEER_AAAA" -v zf="$zonefile" -v nf="$steer_names" 'BEGIN {
    printf "" > nf
    for (i = 0; i < n; i++) {
        printf "g%d 60 IN LUA A \"steer('\''%s'\'')\"\n", i, pol >> zf
        if (aaaa == 1)
            printf "g%d 60 IN LUA AAAA \"steer('\''%s'\'')\"\n", i, pol >> zf
        printf "g%d.%s.\n", i, zone > nf
    }
}'
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
      gs_fail "the zone does not hold the $nrec records loaded (a refused steer record?)"; }
awk -v n="$nrec" -v a="$t0" -v b="$t1" -v s="$NSTEERED" -v p="$POLICY" \
    'BEGIN { printf "load-zone: %d records (%d steered names, policy %s) in %.2f s\n", n, s, p, b - a }'
zone_id=$(echo "$zl" | grep -F "$ZONE." | grep -o 'id=[0-9]*' | head -1 | cut -d= -f2)
case "${zone_id:-}" in '' | *[!0-9]*) zone_id=1 ;; esac
rss_loaded_line=$(rss_line "$GS_DAEMON_PID")
rss_loaded=$(status_kb "$GS_DAEMON_PID" VmRSS)
echo "after load-zone: $rss_loaded_line"
gs_stop "$GS_DAEMON_PID"
gs_start_geosteerd "$GS_TMP/gs" -c "$CFG"
sleep 0.5
rss_restart_line=$(rss_line "$GS_DAEMON_PID")
rss_restart=$(status_kb "$GS_DAEMON_PID" VmRSS)
echo "after a restart (zone read back from the store): $rss_restart_line"

# One steered answer, to show what is measured.
python3 - "$GS_SOCK" "$zone_id" "$(head -1 "$SAMPLE")" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); f = s.makefile("rwb")
def rq(line):
    f.write(line.encode() + b"\n"); f.flush(); return f.readline().decode().strip()
rq('{"method": "initialize", "parameters": {"path": "x", "timeout": "2000"}}')
print("sample steered reply (real-remote %s): %s" % (sys.argv[3], rq(
    '{"method": "lookup", "parameters": {"local": "127.0.0.1", "qname": "g0.bench.test.", "qtype": "ANY", '
    '"real-remote": "%s", "remote": "127.0.0.1", "zone-id": %s}}' % (sys.argv[3], sys.argv[2]))[:300]))
PY

# ---- 5. rb_bench: static vs steered ------------------------------------------------------
declare -A qps p50 p99 us
for kind in static steered; do qps[$kind]="" p50[$kind]="" p99[$kind]="" us[$kind]=""; done
rc=0
bench_one() { # KIND NAMESFILE
    local kind=$1 names=$2 out brc c0 c1 q
    echo
    echo "== rb_bench $kind names, run $run/$RUNS: $CONNS connections, ${DURATION} s (+${WARMUP} s warm-up), qtype ANY, real-remote from $(wc -l <"$SAMPLE") sampled subnets"
    local perf_pid=""
    if [ "$PERF" = 1 ]; then
        perf record -q -g -p "$GS_DAEMON_PID" -o "$PERF_DIR/perf.$kind.$run.data" >/dev/null 2>&1 &
        perf_pid=$!
        sleep 0.3
    fi
    c0=$(cpu_ticks "$GS_DAEMON_PID")
    set +e
    out=$("$RB_BENCH" -s "$GS_SOCK" -c "$CONNS" -d "$DURATION" -w "$WARMUP" -n "$names" \
        -z "$zone_id" -R "$SAMPLE" -S 2>&1)
    brc=$?
    set -e
    c1=$(cpu_ticks "$GS_DAEMON_PID")
    if [ -n "$perf_pid" ]; then
        kill -INT "$perf_pid" 2>/dev/null || true
        wait "$perf_pid" 2>/dev/null || true
    fi
    echo "$out" | grep -v -e '^socket:' -e '^warmup_s:'
    q=$(echo "$out" | awk '$1 == "lookups_per_s:" { print $2 }')
    local cpu_us
    cpu_us=$(awk -v d=$((c1 - c0)) -v hz="$HZ" -v t="$(awk -v a="$DURATION" -v b="$WARMUP" 'BEGIN { print a + b }')" -v q="${q:-0}" \
        'BEGIN { s = d / hz; printf "%.1f", q ? 1e6 * s / (q * t) : 0 }')
    awk -v d=$((c1 - c0)) -v hz="$HZ" -v t="$(awk -v a="$DURATION" -v b="$WARMUP" 'BEGIN { print a + b }')" -v u="$cpu_us" \
        'BEGIN { printf "geosteerd CPU:   %.0f%% of one core, ~%s us per lookup\n", 100 * d / hz / t, u }'
    [ "$brc" -eq 0 ] || { echo "run_steer_bench: rb_bench exited $brc" >&2; rc=1; }
    qps[$kind]+=" ${q:-0}"
    p50[$kind]+=" $(echo "$out" | awk '$1 == "p50_us:" { print $2 }')"
    p99[$kind]+=" $(echo "$out" | awk '$1 == "p99_us:" { print $2 }')"
    us[$kind]+=" $cpu_us"
    if [ -n "$perf_pid" ]; then
        echo "perf (geosteerd, self time, top symbols; data in $PERF_DIR/perf.$kind.$run.data):"
        perf report -i "$PERF_DIR/perf.$kind.$run.data" --no-children --sort dso,sym -g none 2>/dev/null |
            grep '%' | head -25
    fi
}
ratios=""
for run in $(seq "$RUNS"); do
    bench_one static "$static_names"
    bench_one steered "$steer_names"
    s=$(echo "${qps[static]}" | awk '{ print $NF }')
    g=$(echo "${qps[steered]}" | awk '{ print $NF }')
    r=$(awk -v a="$g" -v b="$s" 'BEGIN { printf "%.3f", b ? a / b : 0 }')
    ratios+=" $r"
    echo "-- run $run: steered/static = $g / $s = $r"
done
rss_after_line=$(rss_line "$GS_DAEMON_PID")
rss_after=$(status_kb "$GS_DAEMON_PID" VmRSS)
hwm_after=$(status_kb "$GS_DAEMON_PID" VmHWM)
echo
echo "geosteerd after the runs: $rss_after_line"
# A reload builds a second engine while the first serves (SIGHUP, `geosteer
# reload`, a replaced GeoIP file): the peak to watch.
for i in $(seq "$RELOADS"); do
    t0=$(date +%s.%N)
    out=$(gs_cli reload 2>&1) || gs_fail "reload $i refused: $out"
    t1=$(date +%s.%N)
    l=$(rss_line "$GS_DAEMON_PID")
    awk -v a="$t0" -v b="$t1" -v i="$i" -v l="$l" 'BEGIN { printf "after reload %d (%.2f s): %s\n", i, b - a, l }'
done
rss_reload=$(status_kb "$GS_DAEMON_PID" VmRSS)
hwm_reload=$(status_kb "$GS_DAEMON_PID" VmHWM)

# shellcheck disable=SC2086
{
    qs=$(median ${qps[static]}) qg=$(median ${qps[steered]})
    ps50=$(median ${p50[static]}) pg50=$(median ${p50[steered]})
    ps99=$(median ${p99[static]}) pg99=$(median ${p99[steered]})
    us_s=$(median ${us[static]}) us_g=$(median ${us[steered]})
    ratio=$(ratio_median $ratios)
}
rss_max=$(printf '%s\n' "$rss_idle" "$rss_loaded" "$rss_restart" "$rss_after" | sort -g | tail -1)
rss_mib=$(awk -v k="$rss_max" 'BEGIN { printf "%.1f", k / 1024 }')
hwm_mib=$(awk -v k="$hwm_after" 'BEGIN { printf "%.1f", k / 1024 }')

echo
echo "== summary ($RUNS static/steered pair(s) of ${DURATION} s, $CONNS connections, policy $POLICY; median where several; the machine is shared)"
printf '  %-52s %12s %12s\n' "" "static" "steered"
printf '  %-52s %12.0f %12.0f\n' "lookups/s" "$qs" "$qg"
printf '  %-52s %12s %12s\n' "p50 latency (us)" "$ps50" "$pg50"
printf '  %-52s %12s %12s\n' "p99 latency (us)" "$ps99" "$pg99"
printf '  %-52s %12s %12s\n' "geosteerd CPU per lookup (us, all threads)" "$us_s" "$us_g"
printf '  %-52s %12s   %-10s %s\n' "" "measured" "target" "verdict"
printf '  %-52s %12s   %-10s %s\n' "steered/static lookups/s (median of per-pair ratios)" "$ratio" ">= 0.80" "$(verdict "$ratio" '>=' 0.80)"
printf '  %-52s %12s   %-10s %s\n' "geosteerd VmRSS (MiB), max of idle/loaded/restart/after" "$rss_mib" "< 64" "$(verdict "$rss_mib" '<' 64)"
printf '  %-52s %12s   %-10s %s\n' "geosteerd VmHWM (MiB) since the restart" "$hwm_mib" "< 64" "$(verdict "$hwm_mib" '<' 64)"
[ "$RELOADS" -gt 0 ] && {
    printf '  %-52s %12s   %-10s %s\n' "geosteerd VmRSS (MiB) after $RELOADS reloads" "$(awk -v k="$rss_reload" 'BEGIN { printf "%.1f", k / 1024 }')" "< 64" "$(verdict "$(awk -v k="$rss_reload" 'BEGIN { printf "%.1f", k / 1024 }')" '<' 64)"
    printf '  %-52s %12s   %-10s %s\n' "geosteerd VmHWM (MiB) incl. reloads" "$(awk -v k="$hwm_reload" 'BEGIN { printf "%.1f", k / 1024 }')" "< 64" "$(verdict "$(awk -v k="$hwm_reload" 'BEGIN { printf "%.1f", k / 1024 }')" '<' 64)"
}
printf '  %-52s %s\n' "per-pair ratios" "$ratios"
printf '  %-52s %s | %s\n' "per-run lookups/s static | steered" "${qps[static]}" "${qps[steered]}"
exit "$rc"
