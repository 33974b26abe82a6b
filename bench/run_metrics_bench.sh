#!/usr/bin/env bash
# What metrics cost on the lookup path, on and off in one run:
#   1. builds the default GeoIP database and steer_bench's embedded config
#      (steer_bench -P), in two versions: metrics on (settings.metrics true,
#      an HTTP listener on loopback, scraped once a second during the runs,
#      far more often than Prometheus would) and metrics off
#      (settings.metrics false, no listener);
#   2. loads a zone of ~7,000 static and 7,000 steered names (`steer('geo')`)
#      with pdnsutil load-zone;
#   3. runs rb_bench over the steered names, then the static names, with
#      real-remote drawn from real client subnets, alternating on and off
#      (switched by `geosteer reload` of the other config) RUNS times;
#   4. prints lookups/s and geosteerd CPU per lookup for each, the cost
#      (median of the per-pair ratios; target <= 3%), geosteerd's RSS with
#      metrics on, and the size of one scrape.
#
# usage: bench/run_metrics_bench.sh [BUILD_DIR]   (default: build/ beside bench/)
# knobs (defaults): CONNS=3 DURATION=8 WARMUP=1 RUNS=6 SCRAPE_EVERY=5
#   PERF=0   1: perf record geosteerd during each run and print its top symbols
#   PIN=1    geosteerd on CPU 1, rb_bench on CPU 0 (0: let the scheduler place
#            them; the run-to-run noise is then larger)
# Exit status: 0 when every run completed without protocol errors (a missed
# target is reported, not failed), 1 otherwise, 77 if a tool is missing.
set -eu

BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/lib.sh
. "$BENCH_DIR/lib.sh"
CONNS=${CONNS:-3}
DURATION=${DURATION:-8}
WARMUP=${WARMUP:-1}
RUNS=${RUNS:-6}
SCRAPE_EVERY=${SCRAPE_EVERY:-5}
PERF=${PERF:-0}
export PIN=${PIN:-1}
ZONE=bench.test
NSTEERED=7000

bench_init run_metrics_bench "${1:-}" geosteerd geosteer bench/rb_bench bench/steer_bench
RB_BENCH=$BUILD/bench/rb_bench
STEER_BENCH=$BUILD/bench/steer_bench
gs_require pdnsutil python3 awk curl
if [ ! -r /usr/share/tor/geoip ] || [ ! -r /usr/share/tor/geoip6 ]; then
    gs_skip "tor-geoipdb is not installed (/usr/share/tor/geoip, geoip6)"
fi

DB=$GS_TMP/geoip.mmdb
"$GEOSTEER" geoip build -o "$DB" >"$GS_TMP/geoip-build.log" 2>&1 ||
    { cat "$GS_TMP/geoip-build.log" >&2; gs_fail "geoip build failed"; }
SAMPLE=$GS_TMP/clients.txt
"$STEER_BENCH" -g "$DB" -d 0.05 -o "$SAMPLE" >/dev/null
MPORT=$(gs_free_port)
"$STEER_BENCH" -g "$DB" -P >"$GS_TMP/base.json"
python3 - "$GS_TMP" "$MPORT" <<'PY'
import json, sys
tmp, port = sys.argv[1:3]
cfg = json.load(open(tmp + "/base.json"))
on = json.loads(json.dumps(cfg))
on["settings"]["metrics"] = True
on["settings"]["metrics_listen"] = "127.0.0.1:" + port
cfg["settings"]["metrics"] = False
json.dump(on, open(tmp + "/on.json", "w"))
json.dump(cfg, open(tmp + "/off.json", "w"))
PY
CFG=$GS_TMP/geosteer.json
cp "$GS_TMP/on.json" "$CFG"
"$GEOSTEERD" -c "$CFG" --check >/dev/null || gs_fail "geosteerd --check refused $CFG"
gs_start_geosteerd "$GS_TMP/gs" -c "$CFG"
pin "$GS_DAEMON_PID"

zonefile=$GS_TMP/$ZONE.zone
static_names=$GS_TMP/static-names.txt
steer_names=$GS_TMP/steer-names.txt
"$BENCH_DIR/gen_zone.sh" "$ZONE" "$zonefile" "$static_names"
awk -v zone="$ZONE" -v n="$NSTEERED" -v zf="$zonefile" -v nf="$steer_names" 'BEGIN {
    printf "" > nf
    for (i = 0; i < n; i++) {
        printf "g%d 60 IN LUA A \"steer('\''geo'\'')\"\n", i >> zf
        printf "g%d.%s.\n", i, zone > nf
    }
}'
gs_cli zone create "$ZONE" --ns "ns1.$ZONE" --soa-serial 1 >/dev/null
GS_PDNS_TIMEOUT=20000 gs_pdns_conf "$GS_TMP/pdnsutil" "$GS_SOCK" 5399
gs_pdnsutil "$GS_TMP/pdnsutil" load-zone "$ZONE" "$zonefile" >"$GS_TMP/load-zone.log" 2>&1 ||
    { cat "$GS_TMP/load-zone.log" >&2; gs_fail "pdnsutil load-zone failed"; }
zone_id=$(gs_cli zone list | grep -F "$ZONE." | grep -o 'id=[0-9]*' | head -1 | cut -d= -f2)

use() { # use on|off: installs that config with a reload
    cp "$GS_TMP/$1.json" "$CFG"
    out=$(gs_cli reload 2>&1) || gs_fail "reload to metrics $1 refused: $out"
}

declare -A qps us cpu_ratio
cpu_ratio[steered]="" cpu_ratio[static]=""
rc=0
one() { # MODE KIND NAMES
    local mode=$1 kind=$2 names=$3 c0 c1 out q scr=""
    if [ "$mode" = on ]; then
        (while :; do curl -s -o /dev/null "http://127.0.0.1:$MPORT/metrics"; sleep "$SCRAPE_EVERY"; done) &
        scr=$!
    fi
    local perf_pid=""
    if [ "$PERF" = 1 ]; then
        perf record -q -g -p "$GS_DAEMON_PID" -o "$GS_TMP/perf.data" >/dev/null 2>&1 &
        perf_pid=$!
        sleep 0.3
    fi
    c0=$(cpu_ticks "$GS_DAEMON_PID")
    set +e
    out=$(run_client "$RB_BENCH" -s "$GS_SOCK" -c "$CONNS" -d "$DURATION" -w "$WARMUP" -n "$names" \
        -z "$zone_id" -R "$SAMPLE" -S 2>&1)
    local brc=$?
    set -e
    c1=$(cpu_ticks "$GS_DAEMON_PID")
    [ -n "$scr" ] && { kill "$scr"; wait "$scr" 2>/dev/null || true; }
    if [ -n "$perf_pid" ]; then
        kill -INT "$perf_pid" 2>/dev/null || true
        wait "$perf_pid" 2>/dev/null || true
        perf report -i "$GS_TMP/perf.data" --no-children --sort dso,sym -g none 2>/dev/null |
            grep '%' | head -15
    fi
    [ "$brc" -eq 0 ] || { echo "rb_bench exited $brc: $out" >&2; rc=1; }
    q=$(echo "$out" | awk '$1 == "lookups_per_s:" { print $2 }')
    local u
    u=$(awk -v d=$((c1 - c0)) -v hz="$HZ" -v t="$(awk -v a="$DURATION" -v b="$WARMUP" 'BEGIN { print a + b }')" -v q="${q:-0}" \
        'BEGIN { printf "%.2f", q ? 1e6 * d / hz / (q * t) : 0 }')
    printf '  %-8s %-4s lookups/s %8.0f   geosteerd CPU %6s us per lookup\n' "$kind" "$mode" "${q:-0}" "$u"
    qps[$kind.$mode]+=" ${q:-0}"
    us[$kind.$mode]+=" $u"
}
echo "== rb_bench: $CONNS connections, ${DURATION} s (+${WARMUP} s warm-up) per run, real-remote from $(wc -l <"$SAMPLE") subnets"
ratios_steered="" ratios_static=""
for run in $(seq "$RUNS"); do
    echo "-- pair $run"
    for kind in steered static; do
        names=$steer_names
        [ "$kind" = static ] && names=$static_names
        # alternate which goes first, so that drift favours neither
        if [ $((run % 2)) = 1 ]; then order="on off"; else order="off on"; fi
        for mode in $order; do
            use "$mode"
            one "$mode" "$kind" "$names"
        done
        on=$(echo "${qps[$kind.on]}" | awk '{ print $NF }')
        off=$(echo "${qps[$kind.off]}" | awk '{ print $NF }')
        r=$(awk -v a="$on" -v b="$off" 'BEGIN { printf "%.4f", b ? a / b : 0 }')
        if [ "$kind" = steered ]; then ratios_steered+=" $r"; else ratios_static+=" $r"; fi
        uon=$(echo "${us[$kind.on]}" | awk '{ print $NF }')
        uoff=$(echo "${us[$kind.off]}" | awk '{ print $NF }')
        cpu_ratio[$kind]+=" $(awk -v a="$uon" -v b="$uoff" 'BEGIN { printf "%.4f", b ? a / b : 0 }')"
    done
done
use on
for _ in 1 2 3; do curl -s -o /dev/null "http://127.0.0.1:$MPORT/metrics"; done
scrape=$(curl -s "http://127.0.0.1:$MPORT/metrics")
series=$(echo "$scrape" | grep -vc '^#')
bytes=$(echo "$scrape" | wc -c)
t0=$(date +%s.%N)
for _ in $(seq 20); do curl -s -o /dev/null "http://127.0.0.1:$MPORT/metrics"; done
t1=$(date +%s.%N)
rss=$(status_kb "$GS_DAEMON_PID" VmRSS)
hwm=$(status_kb "$GS_DAEMON_PID" VmHWM)

# shellcheck disable=SC2086
{
    rs=$(bench_median %.4f $ratios_steered)
    rt=$(bench_median %.4f $ratios_static)
}
cost() { awk -v r="$1" 'BEGIN { printf "%.1f", (1 - r) * 100 }'; }
echo
echo "== summary ($RUNS on/off pairs per kind; median; the machine is shared)"
printf '  %-40s %12s %12s %10s\n' "" "metrics on" "metrics off" "cost"
for kind in steered static; do
    # shellcheck disable=SC2086
    printf '  %-40s %12.0f %12.0f %9s%%\n' "$kind lookups/s" "$(bench_median %.1f ${qps[$kind.on]})" "$(bench_median %.1f ${qps[$kind.off]})" \
        "$(cost "$([ "$kind" = steered ] && echo "$rs" || echo "$rt")")"
    # shellcheck disable=SC2086
    printf '  %-40s %12s %12s\n' "$kind geosteerd CPU per lookup (us)" "$(bench_median %.2f ${us[$kind.on]})" "$(bench_median %.2f ${us[$kind.off]})"
done
printf '  %-40s %12s   %-8s %s\n' "cost, steered (1 - median on/off ratio)" "$(cost "$rs")%" "<= 3%" "$(verdict "$(cost "$rs")" '<' 3.0001)"
printf '  %-40s %12s   %-8s %s\n' "cost, static" "$(cost "$rt")%" "<= 3%" "$(verdict "$(cost "$rt")" '<' 3.0001)"
printf '  %-40s %s | %s\n' "per-pair on/off ratios steered | static" "$ratios_steered" "$ratios_static"
# shellcheck disable=SC2086
printf '  %-40s %12s %12s\n' "CPU per lookup on/off (median of pairs)" "steered $(bench_median %.3f ${cpu_ratio[steered]})" "static $(bench_median %.3f ${cpu_ratio[static]})"
awk -v r="$rss" -v h="$hwm" 'BEGIN { printf "  %-40s %.1f MiB (VmHWM %.1f MiB)\n", "geosteerd VmRSS with metrics on", r / 1024, h / 1024 }'
awk -v s="$series" -v b="$bytes" -v a="$t0" -v z="$t1" 'BEGIN { printf "  %-40s %d series, %d bytes, %.1f ms per scrape (curl included)\n", "one scrape", s, b, (z - a) * 1000 / 20 }'
exit "$rc"
