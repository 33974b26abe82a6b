#!/usr/bin/env bash
# End-to-end remote-backend benchmark of geosteerd, without pdns_server:
#   1. starts geosteerd on a fresh store in a temp dir,
#   2. generates a 10,000-record zone (A/AAAA/TXT/MX/CNAME over 7,000 names),
#      creates it with the CLI and loads it with `pdnsutil load-zone`
#      (pdnsutil talks to geosteerd through launch=remote, as in production),
#   3. prints geosteerd's VmRSS/VmHWM after loading, and again after a restart
#      that reads the zone back from the store,
#   4. runs rb_bench (3 connections, static names, pdns's request format),
#   5. prints VmRSS/VmHWM after the run and a summary against the targets.
#
# usage: bench/run_bench.sh [BUILD_DIR]          (default: build/ beside bench/)
# environment knobs (defaults): CONNS=3 DURATION=10 WARMUP=1 MISS=0 RUNS=1
#   MISS  fraction of lookups for non-existent names (rb_bench -m)
#   RUNS  rb_bench runs back to back; the summary shows the median
# Exit status: 0 when every run completed without protocol errors (a missed
# performance target is reported, not failed), 1 otherwise, 77 if a tool is
# missing. Everything lives in a temp dir under /tmp; every process is
# stopped by PID on exit.
set -eu

BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/lib.sh
. "$BENCH_DIR/lib.sh"
CONNS=${CONNS:-3}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-1}
MISS=${MISS:-0}
RUNS=${RUNS:-1}
ZONE=bench.test

bench_init run_bench "${1:-}" geosteerd geosteer bench/rb_bench
RB_BENCH=$BUILD/bench/rb_bench
gs_require pdnsutil python3 awk

# rss_line PID: "VmRSS 12345 kB (12.1 MiB)  VmHWM ..."
rss_line() {
    awk '/^VmRSS:/ { r = $2 } /^VmHWM:/ { h = $2 } END { printf "VmRSS %d kB (%.1f MiB)  VmHWM %d kB (%.1f MiB)\n", r, r / 1024, h, h / 1024 }' "/proc/$1/status"
}

# ---- zone: exactly 10,000 records over 7,001 names (see gen_zone.sh) ---------------
zonefile=$GS_TMP/$ZONE.zone
names=$GS_TMP/names.txt
"$BENCH_DIR/gen_zone.sh" "$ZONE" "$zonefile" "$names"
nrec=$(grep -vc '^\$' "$zonefile")

# ---- geosteerd + load ---------------------------------------------------------------
gs_start_geosteerd "$GS_TMP/gs"
echo "== geosteerd pid $GS_DAEMON_PID ($GEOSTEERD)"
echo "idle, empty store:        $(rss_line "$GS_DAEMON_PID")"
gs_cli zone create "$ZONE" --ns "ns1.$ZONE" --soa-serial 1 >/dev/null
# pdnsutil only; pdns_server is not needed here. A 10k-record list or load
# can exceed pdns's default 2 s remote timeout, so use 20 s.
GS_PDNS_TIMEOUT=20000 gs_pdns_conf "$GS_TMP/pdnsutil" "$GS_SOCK" 5399
t0=$(date +%s.%N)
gs_pdnsutil "$GS_TMP/pdnsutil" load-zone "$ZONE" "$zonefile" >"$GS_TMP/load-zone.log" 2>&1 ||
    { cat "$GS_TMP/load-zone.log" >&2; gs_fail "pdnsutil load-zone failed"; }
t1=$(date +%s.%N)
awk -v n="$nrec" -v a="$t0" -v b="$t1" 'BEGIN { printf "load-zone:                %d records in %.2f s\n", n, b - a }'
zl=$(gs_cli zone list)
echo "zone list:                $(echo "$zl" | grep -F "$ZONE" | tr -s ' ')"
zone_id=$(echo "$zl" | grep -F "$ZONE." | grep -o 'id=[0-9]*' | head -1 | cut -d= -f2)
rss_loaded_line=$(rss_line "$GS_DAEMON_PID")
rss_loaded=$(rss_kb "$GS_DAEMON_PID")
echo "after load-zone (live):   $rss_loaded_line"

gs_stop "$GS_DAEMON_PID"
gs_start_geosteerd "$GS_TMP/gs"
sleep 0.5
rss_restart_line=$(rss_line "$GS_DAEMON_PID")
rss_restart=$(rss_kb "$GS_DAEMON_PID")
echo "after restart from store: $rss_restart_line"

# `zone list` prints the id; fall back to 1 (first zone of a fresh store).
case "${zone_id:-}" in '' | *[!0-9]*) zone_id=1 ;; esac

# ---- rb_bench -----------------------------------------------------------------------
qps_all=() p99_all=() p50_all=()
rc=0
for run in $(seq "$RUNS"); do
    echo
    echo "== rb_bench run $run/$RUNS: $CONNS connections, ${DURATION} s (+${WARMUP} s warm-up), qtype ANY, miss fraction $MISS"
    c0=$(cpu_ticks "$GS_DAEMON_PID")
    set +e
    out=$("$RB_BENCH" -s "$GS_SOCK" -c "$CONNS" -d "$DURATION" -w "$WARMUP" -n "$names" \
        -m "$MISS" -z "$zone_id" -S 2>&1)
    brc=$?
    set -e
    c1=$(cpu_ticks "$GS_DAEMON_PID")
    echo "$out"
    # Ticks cover warm-up + measured period; lookups/s x that time estimates the count.
    awk -v d=$((c1 - c0)) -v hz="$HZ" -v t="$(awk -v a="$DURATION" -v b="$WARMUP" 'BEGIN { print a + b }')" \
        -v q="$(echo "$out" | awk '$1 == "lookups_per_s:" { print $2 }')" \
        'BEGIN { s = d / hz; printf "geosteerd CPU:   %.0f%% of one core, ~%.1f us per lookup\n", 100 * s / t, q ? 1e6 * s / (q * t) : 0 }'
    [ "$brc" -eq 0 ] || { echo "run_bench: rb_bench exited $brc" >&2; rc=1; }
    qps_all+=("$(echo "$out" | awk '$1 == "lookups_per_s:" { print $2 }')")
    p50_all+=("$(echo "$out" | awk '$1 == "p50_us:" { print $2 }')")
    p99_all+=("$(echo "$out" | awk '$1 == "p99_us:" { print $2 }')")
    echo "geosteerd after run $run:   $(rss_line "$GS_DAEMON_PID")"
done
rss_after=$(rss_kb "$GS_DAEMON_PID")
hwm_after=$(awk '/^VmHWM:/ { print $2 }' "/proc/$GS_DAEMON_PID/status")

median() { bench_median %.1f "$@"; }

qps=$(printf "%.0f" "$(median "${qps_all[@]}")")
p50=$(median "${p50_all[@]}")
p99=$(median "${p99_all[@]}")
rss_max=$(printf '%s\n' "$rss_loaded" "$rss_restart" "$rss_after" | sort -g | tail -1)
rss_mib=$(awk -v k="$rss_max" 'BEGIN { printf "%.1f", k / 1024 }')
hwm_mib=$(awk -v k="$hwm_after" 'BEGIN { printf "%.1f", k / 1024 }')

echo
echo "== summary ($RUNS run(s) of ${DURATION} s, $CONNS connections; median where several; the machine is shared, so absolute figures are noisy)"
printf '  %-44s %12s   %-14s %s\n' "metric" "measured" "target" "verdict"
printf '  %-44s %12s   %-14s %s\n' "lookups/s, $CONNS conns, miss fraction $MISS" "$qps" ">= 80000" "$(verdict "$qps" '>=' 80000)"
printf '  %-44s %12s   %-14s %s\n' "p99 latency (us)" "$p99" "< 250" "$(verdict "$p99" '<' 250)"
printf '  %-44s %12s   %-14s\n' "p50 latency (us)" "$p50" "-"
printf '  %-44s %12s   %-14s %s\n' "VmRSS (MiB), max of loaded/restart/after run" "$rss_mib" "< 30" "$(verdict "$rss_mib" '<' 30)"
printf '  %-44s %12s   %-14s\n' "VmHWM (MiB) since restart" "$hwm_mib" "-"
printf '  %-44s %12s\n' "per-run lookups/s" "${qps_all[*]}"
exit "$rc"
