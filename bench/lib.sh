#!/usr/bin/env bash
# Shared helpers of the benchmark scripts, sourced after they set BENCH_DIR:
#   bench_init NAME BUILD_ARG BINARY...
#       sets BUILD (BUILD_ARG, default build/ beside bench/), exports
#       GEOSTEERD and GEOSTEER (test/e2e/lib.sh wants them), exits 1 naming
#       the first BINARY (a path relative to BUILD) not built, then sources
#       test/e2e/lib.sh: the temp dir ($GS_TMP), the PID registry and EXIT
#       trap, and the start/stop helpers of the end-to-end tests;
#   cpu_ticks / sys_ticks PID, status_kb PID KEY, rss_kb PID, HZ;
#   bench_median FMT VALUES... (FMT a printf format for the mean of the two
#       middle values of an even count; an odd count prints the middle one);
#   verdict A OP B ("ok" or "MISSED"; OP ">=" or "<");
#   pin PID / run_client CMD... (servers on CPU 1, the client on CPU 0 when
#       PIN is not 0).

# bench_init NAME BUILD_ARG BINARY...
bench_init() {
    local name=$1 b
    BUILD=$(cd "${2:-$BENCH_DIR/../build}" && pwd)
    shift 2
    export GEOSTEERD=$BUILD/geosteerd GEOSTEER=$BUILD/geosteer
    for b in "$@"; do
        [ -x "$BUILD/$b" ] || { echo "$name: $BUILD/$b not built (cmake --build $BUILD)" >&2; exit 1; }
    done
    # shellcheck source=SCRIPTDIR/../test/e2e/lib.sh
    . "$BENCH_DIR/../test/e2e/lib.sh"
}

# cpu_ticks PID: utime + stime of the whole process (all threads).
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
# sys_ticks PID: stime alone.
sys_ticks() { awk '{ sub(/^.*\) /, ""); print $13 }' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)
status_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
rss_kb() { status_kb "$1" VmRSS; }

bench_median() {
    local fmt=$1
    shift
    printf '%s\n' "$@" | sort -g |
        awk -v fmt="$fmt" '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf fmt "\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

verdict() { if awk -v a="$1" -v op="$2" -v b="$3" 'BEGIN { exit !(op == ">=" ? a >= b : a < b) }'; then echo ok; else echo MISSED; fi; }

# pin PID: moves every thread of PID to CPU 1 (threads created later inherit).
pin() { [ "${PIN:-0}" = 0 ] || taskset -a -p -c 1 "$1" >/dev/null; }
run_client() { if [ "${PIN:-0}" = 0 ]; then "$@"; else taskset -c 0 "$@"; fi; }
