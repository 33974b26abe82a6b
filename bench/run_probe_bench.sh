#!/usr/bin/env bash
# geosteer-probe benchmark: CPU and memory of the probe running 1,000 HTTP
# checks at a 1 s interval against local targets (target: < 20% of one core,
# < 50 MiB RSS), and the lookup path's cost of reading health.
#   1. starts WORKERS bench/probe_targets.py processes sharing one loopback
#      port (SO_REUSEPORT; each answers 200 "ok" and closes),
#   2. writes RUNDIR/plan.json with plan_gen: CHECKS HTTP checks with
#      distinct paths /c/<i> (so distinct ids, computed by common/plan.c),
#      interval INTERVAL ms, timeout TIMEOUT ms (no geosteerd: the probe only
#      reads RUNDIR/plan.json),
#   3. RUNS times: starts a fresh `geosteer-probe -r RUNDIR` (no previous
#      health.state), lets it warm up WARMUP s, then over DURATION s measures
#      its CPU (utime+stime from /proc/PID/stat, % of one core), VmRSS and
#      VmHWM, the checks completed (the sum of `results` in health.state, read
#      with health_bench -s) and the checks UP; then stops it,
#   4. runs health_bench (hstate_read ns/read: 1 and 2 readers, with a writer
#      at 1,000 writes/s) and, when strace works here, shows that the read
#      loop makes no system call whatever its length,
#   5. prints a summary against the targets.
#
# usage: bench/run_probe_bench.sh [BUILD_DIR]      (default: build/ beside bench/)
# environment knobs (defaults):
#   CHECKS=1000 INTERVAL=1000 TIMEOUT=500 IN_FLIGHT=256   the plan
#   WARMUP=5 DURATION=30 RUNS=3                           the measurement
#   WORKERS=2                                             target processes
#   HB_SECS=2                                             health_bench seconds per phase
#   PERF=0       1: perf record -g the probe during each window, print its top
#                symbols, keep the data in PERF_DIR (default /tmp/probe-bench-perf)
# Exit status: 0 when every run completed with every check UP (a missed
# performance target is reported, not failed), 1 otherwise, 77 if a tool is
# missing. Everything lives in a temp dir under /tmp; every process is stopped
# by PID on exit. Loopback only.
set -eu

BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/lib.sh
. "$BENCH_DIR/lib.sh"
CHECKS=${CHECKS:-1000}
INTERVAL=${INTERVAL:-1000}
TIMEOUT=${TIMEOUT:-500}
IN_FLIGHT=${IN_FLIGHT:-256}
WARMUP=${WARMUP:-5}
DURATION=${DURATION:-30}
RUNS=${RUNS:-3}
WORKERS=${WORKERS:-2}
HB_SECS=${HB_SECS:-2}
PERF=${PERF:-0}
PERF_DIR=${PERF_DIR:-/tmp/probe-bench-perf}

bench_init run_probe_bench "${1:-}" geosteer-probe bench/plan_gen bench/health_bench
PROBE=$BUILD/geosteer-probe
PLAN_GEN=$BUILD/bench/plan_gen
HEALTH_BENCH=$BUILD/bench/health_bench
gs_require python3 awk
[ "$PERF" = 1 ] && { gs_require perf; mkdir -p "$PERF_DIR"; }

# (sys_ticks, from lib.sh: on loopback the kernel's TCP work for both ends of
# each connection largely runs in the probe's context.)
now() { date +%s.%N; }
median() { bench_median %.1f "$@"; }
# field SUMMARY NAME: the value after NAME in health_bench -s's first line.
field() { echo "$1" | head -1 | awk -v k="$2" '{ for (i = 1; i < NF; i++) if ($i == k) { print $(i + 1); exit } }'; }

# ---- 1. targets --------------------------------------------------------------------------
PORT=$(gs_free_port)
TDIR=$GS_TMP/targets
mkdir -p "$TDIR"
target_pids=""
for w in $(seq "$WORKERS"); do
    "$GS_PY" "$BENCH_DIR/probe_targets.py" --port "$PORT" --ready "$TDIR/ready.$w" \
        >>"$TDIR/target.$w.log" 2>&1 &
    gs_register $!
    target_pids="$target_pids $!"
done
for w in $(seq "$WORKERS"); do
    for _ in $(seq 200); do [ -f "$TDIR/ready.$w" ] && break; sleep 0.05; done
    [ -f "$TDIR/ready.$w" ] || gs_fail "target $w never came up; see $TDIR/target.$w.log"
done
reply=$(python3 -c 'import sys, urllib.request; print(urllib.request.urlopen("http://127.0.0.1:%s/c/0" % sys.argv[1], timeout=2).read().decode().strip())' "$PORT")
[ "$reply" = ok ] || gs_fail "target on port $PORT answered '$reply'"
echo "== targets: $WORKERS probe_targets.py processes on 127.0.0.1:$PORT (pids$target_pids)"

# ---- 2. plan -------------------------------------------------------------------------------
RUN=$GS_TMP/run
mkdir -p "$RUN"
"$PLAN_GEN" -n "$CHECKS" -p "$PORT" -i "$INTERVAL" -t "$TIMEOUT" -m "$IN_FLIGHT" >"$RUN/plan.json.tmp"
mv "$RUN/plan.json.tmp" "$RUN/plan.json"
echo "== plan: $CHECKS HTTP checks (paths /c/0..), interval $INTERVAL ms, timeout $TIMEOUT ms, max_in_flight $IN_FLIGHT ($(wc -c <"$RUN/plan.json") bytes)"
expected_rate=$(awk -v n="$CHECKS" -v i="$INTERVAL" 'BEGIN { printf "%.1f", n * 1000 / i }')

# ---- 3. probe runs -------------------------------------------------------------------------
rate_all=() cpu_all=() rss_all=() hwm_all=() up_all=() rc=0
tticks() { local t=0 p; for p in $target_pids; do t=$((t + $(cpu_ticks "$p"))); done; echo "$t"; }
for run in $(seq "$RUNS"); do
    echo
    echo "== run $run/$RUNS: geosteer-probe, ${WARMUP} s warm-up, ${DURATION} s measured"
    rm -f "$RUN/health.state"
    "$PROBE" -r "$RUN" >>"$RUN/probe.$run.log" 2>&1 &
    PID=$!
    gs_register "$PID"
    for _ in $(seq 100); do [ -f "$RUN/health.state" ] && break; sleep 0.05; done
    [ -f "$RUN/health.state" ] || gs_fail "the probe wrote no health.state; see $RUN/probe.$run.log"
    sleep "$WARMUP"

    perf_pid=""
    if [ "$PERF" = 1 ]; then
        perf record -q -g -p "$PID" -o "$PERF_DIR/perf.$run.data" >/dev/null 2>&1 &
        perf_pid=$!
        sleep 0.3
    fi
    s0=$("$HEALTH_BENCH" -s "$RUN/health.state")
    c0=$(cpu_ticks "$PID") k0=$(sys_ticks "$PID") tc0=$(tticks) t0=$(now)
    sleep "$DURATION"
    s1=$("$HEALTH_BENCH" -s "$RUN/health.state")
    c1=$(cpu_ticks "$PID") k1=$(sys_ticks "$PID") tc1=$(tticks) t1=$(now)
    if [ -n "$perf_pid" ]; then
        kill -INT "$perf_pid" 2>/dev/null || true
        wait "$perf_pid" 2>/dev/null || true
    fi
    rss=$(status_kb "$PID" VmRSS) hwm=$(status_kb "$PID" VmHWM)
    gs_stop "$PID"

    r0=$(field "$s0" results) r1=$(field "$s1" results)
    up=$(field "$s1" up) failing=$(field "$s1" failing) entries=$(field "$s1" entries)
    rate=$(awk -v a="$r0" -v b="$r1" -v x="$t0" -v y="$t1" 'BEGIN { printf "%.1f", (b - a) / (y - x) }')
    cpu=$(awk -v d=$((c1 - c0)) -v hz="$HZ" -v x="$t0" -v y="$t1" 'BEGIN { printf "%.1f", 100 * d / hz / (y - x) }')
    syscpu=$(awk -v d=$((k1 - k0)) -v hz="$HZ" -v x="$t0" -v y="$t1" 'BEGIN { printf "%.1f", 100 * d / hz / (y - x) }')
    tcpu=$(awk -v d=$((tc1 - tc0)) -v hz="$HZ" -v x="$t0" -v y="$t1" 'BEGIN { printf "%.0f", 100 * d / hz / (y - x) }')
    rss_mib=$(awk -v k="$rss" 'BEGIN { printf "%.1f", k / 1024 }')
    hwm_mib=$(awk -v k="$hwm" 'BEGIN { printf "%.1f", k / 1024 }')
    per_check=$(awk -v d=$((c1 - c0)) -v hz="$HZ" -v a="$r0" -v b="$r1" 'BEGIN { printf "%.0f", (b > a) ? 1e6 * d / hz / (b - a) : 0 }')
    echo "checks/s $rate (expected $expected_rate), cpu $cpu% of one core (system $syscpu%; ~$per_check us per check), rss $rss_mib MiB (peak $hwm_mib), up $up/$CHECKS"
    echo "   rtt mean $(field "$s1" rtt_mean_us) us, max $(field "$s1" rtt_max_us) us (last result of each check); failing now $failing; targets' cpu $tcpu% (all workers)"
    echo "$s1" | awk '$1 == "error" { $1 = "   failure cause:"; print }'
    downs=$(grep -c -- '-> DOWN' "$RUN/probe.$run.log" || true)
    [ "$downs" -eq 0 ] || echo "   $downs DOWN transitions logged (see $RUN/probe.$run.log)"
    if [ -n "$perf_pid" ]; then
        echo "perf (geosteer-probe, self time, top symbols; data in $PERF_DIR/perf.$run.data):"
        perf report -i "$PERF_DIR/perf.$run.data" --no-children --sort dso,sym -g none 2>/dev/null |
            grep '%' | head -25
    fi
    [ "$entries" = "$CHECKS" ] && [ "$up" = "$CHECKS" ] || rc=1
    rate_all+=("$rate") cpu_all+=("$cpu") rss_all+=("$rss_mib") hwm_all+=("$hwm_mib") up_all+=("$up")
done

# ---- 4. health read cost --------------------------------------------------------------------
echo
echo "== health_bench: hstate_read, the lookup path's read of one check's health"
"$HEALTH_BENCH" -n "$CHECKS" -d "$HB_SECS" -w 1000 || gs_fail "health_bench failed"
if command -v strace >/dev/null 2>&1 && strace -f -o /dev/null true >/dev/null 2>&1; then
    echo "system calls of the read loop (strace -f; lines between the two getppid markers):"
    for iters in 1000 10000000; do
        strace -f -o "$GS_TMP/strace.$iters.log" "$HEALTH_BENCH" -n "$CHECKS" -x "$iters" >/dev/null
        inside=$(awk '/getppid\(/ { m++; next } m == 1 { c++ } END { print c + 0 }' "$GS_TMP/strace.$iters.log")
        total=$(grep -vc -e 'getppid(' -e '^[0-9]* +++ exited' "$GS_TMP/strace.$iters.log" || true)
        printf '   %10d reads: %d system calls inside the loop, %d in the whole process\n' "$iters" "$inside" "$total"
    done
else
    echo "(strace missing or not permitted here: system-call check skipped)"
fi

# ---- 5. summary ---------------------------------------------------------------------------
rate_m=$(median "${rate_all[@]}")
cpu_m=$(median "${cpu_all[@]}")
cpu_max=$(printf '%s\n' "${cpu_all[@]}" | sort -g | tail -1)
rss_max=$(printf '%s\n' "${rss_all[@]}" | sort -g | tail -1)
hwm_max=$(printf '%s\n' "${hwm_all[@]}" | sort -g | tail -1)
min_rate=$(awk -v e="$expected_rate" 'BEGIN { printf "%.0f", 0.95 * e }')
echo
echo "== summary ($RUNS run(s) of ${DURATION} s, $CHECKS HTTP checks every $INTERVAL ms; the machine is shared, so figures are noisy)"
printf '  %-44s %12s   %-10s %s\n' "metric" "measured" "target" "verdict"
printf '  %-44s %12s   %-10s %s\n' "checks/s (median)" "$rate_m" ">= $min_rate" "$(verdict "$rate_m" '>=' "$min_rate")"
printf '  %-44s %12s   %-10s %s\n' "probe CPU, % of one core (median)" "$cpu_m" "< 20" "$(verdict "$cpu_m" '<' 20)"
printf '  %-44s %12s   %-10s %s\n' "probe CPU, % of one core (worst run)" "$cpu_max" "< 20" "$(verdict "$cpu_max" '<' 20)"
printf '  %-44s %12s   %-10s %s\n' "probe VmRSS (MiB), max over runs" "$rss_max" "< 50" "$(verdict "$rss_max" '<' 50)"
printf '  %-44s %12s   %-10s %s\n' "probe VmHWM (MiB), max over runs" "$hwm_max" "< 50" "$(verdict "$hwm_max" '<' 50)"
printf '  %-44s %s\n' "per-run checks/s" "${rate_all[*]}"
printf '  %-44s %s\n' "per-run cpu %" "${cpu_all[*]}"
printf '  %-44s %s\n' "per-run rss MiB (peak)" "$(for i in "${!rss_all[@]}"; do printf '%s (%s) ' "${rss_all[$i]}" "${hwm_all[$i]}"; done)"
printf '  %-44s %s\n' "per-run checks UP at the end" "${up_all[*]}"
exit "$rc"
