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

# ---- shared by lua_dnsperf.sh, run_compare.sh and run_pdns_tuning.sh ----------------------
#   bench_geoip_build DB: `geosteer geoip build -o DB` (tor-geoipdb), fails
#       with the tool's output; prints its "wrote" line;
#   bench_subnet CC: a /24 from the middle of the first tor-geoipdb IPv4
#       range of country CC holding at least 65,536 addresses;
#   bench_subnets N: N /24s, one from the middle of every k-th IPv4 range
#       of tor-geoipdb (k = ranges / N): a spread over countries weighted by
#       how many ranges each has, the same list every run;
#   bench_ecs_hex NET: dnsperf's -E value (8:HEX) for the /24 NET: family 1,
#       source 24, scope 0, the three network bytes;
#   bench_ecs_queries OUT QNAME QTYPE NETS: a dnsperf -B file (2-byte
#       length + DNS message, TCP-stream framing, which dnsperf also sends
#       over UDP) with one query of QNAME QTYPE (A or AAAA) per /24 of NETS,
#       each with its own ECS option (source /24): dnsperf cycles through
#       them, so every query of a run carries a different subnet until the
#       list wraps (NETS: a file of /24s, one a line);
#   bench_tcp_listen ADDR PORT: a background TCP listener (accept, close)
#       for ifportup; registered for cleanup; sets LISTEN_PID;
#   bench_new_port: a free loopback port not handed out before by this
#       function (nor 5399, pdnsutil's); sets NEW_PORT;
#   bench_perf PORT DNSPERF_ARGS -- PID...: a 1 s warm-up, then DURATION s
#       of `dnsperf -c 8 -T 1 -q 256 -t 2 -v` (the client pinned by
#       run_client) with CPU ticks of every PID read around it; sets QPS,
#       LOST (% of queries), RCODES (non-NOERROR counts, empty when none),
#       P99 (ms, from -v's per-query latencies; timed-out queries not
#       counted), CPUQ (one CPU us/query per PID, space-separated) and
#       PERF_OUT (dnsperf's summary); calls bench_perf_started, when the
#       caller defines it, between the warm-up and the run. dnsperf runs closed-loop with up to
#       256 queries outstanding, so latency there is mostly queueing.

bench_geoip_build() {
    "$GEOSTEER" geoip build -o "$1" >"$1.log" 2>&1 || { cat "$1.log" >&2; gs_fail "geoip build failed"; }
    grep '^wrote' "$1.log" | cut -c1-160
}

bench_subnet() {
    awk -F, -v cc="$1" '$3 == cc && $2 - $1 >= 65535 {
        m = int(($1 + $2) / 2 / 256) * 256
        printf "%d.%d.%d.0/24\n", int(m / 16777216), int(m / 65536) % 256, int(m / 256) % 256; exit }' \
        /usr/share/tor/geoip
}

bench_subnets() {
    local total
    total=$(grep -vc '^#' /usr/share/tor/geoip)
    awk -F, -v k=$((total / $1)) -v n="$1" '/^#/ { next } { i++ } i % k == 0 && c < n {
        m = int(($1 + $2) / 2 / 256) * 256; c++
        printf "%d.%d.%d.0/24\n", int(m / 16777216), int(m / 65536) % 256, int(m / 256) % 256 }' \
        /usr/share/tor/geoip
}

bench_ecs_hex() { echo "${1%/*}" | awk -F. '{ printf "8:00011800%02x%02x%02x", $1, $2, $3 }'; }

bench_ecs_queries() {
    "$GS_PY" - "$@" <<'PY'
import struct, sys
out, qname, qtype, nets = sys.argv[1], sys.argv[2], {"A": 1, "AAAA": 28}[sys.argv[3]], sys.argv[4]
wire = b"".join(bytes([len(p)]) + p.encode() for p in qname.rstrip(".").split(".")) + b"\0"
with open(out, "wb") as f:
    for line in open(nets):
        net = [int(x) for x in line.split("/")[0].split(".")[:3]]
        ecs = struct.pack("!HBB3B", 1, 24, 0, *net)
        opt = b"\0" + struct.pack("!HHIH", 41, 1232, 0, 4 + len(ecs)) + struct.pack("!HH", 8, len(ecs)) + ecs
        msg = struct.pack("!6H", 0, 0, 1, 0, 0, 1) + wire + struct.pack("!HH", qtype, 1) + opt
        f.write(struct.pack("!H", len(msg)) + msg)
PY
}

bench_tcp_listen() {
    "$GS_PY" -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(64)
while True:
    c, _ = s.accept(); c.close()' "$1" "$2" >>"$GS_TMP/listen.log" 2>&1 &
    LISTEN_PID=$!
    gs_register "$LISTEN_PID"
}

BENCH_PORTS=" 5399 "
bench_new_port() {
    local p
    p=$(gs_free_port)
    while [[ "$BENCH_PORTS" == *" $p "* ]]; do p=$(gs_free_port); done
    BENCH_PORTS+="$p "
    NEW_PORT=$p
}

bench_perf() {
    local port=$1 args=() pids=() p t0=() i=0 d sent
    shift
    while [ "$1" != -- ]; do args+=("$1"); shift; done
    shift
    pids=("$@")
    local cmd=(dnsperf -s 127.0.0.1 -p "$port" "${args[@]}" -c 8 -T 1 -q 256 -t 2)
    run_client "${cmd[@]}" -l 1 >/dev/null 2>&1 || true
    if declare -F bench_perf_started >/dev/null; then bench_perf_started; fi
    for p in "${pids[@]}"; do t0+=("$(cpu_ticks "$p")"); done
    run_client "${cmd[@]}" -v -l "$DURATION" >"$GS_TMP/perf.out" 2>&1 ||
        { tail -20 "$GS_TMP/perf.out" >&2; gs_fail "dnsperf ${args[*]} on port $port failed"; }
    PERF_OUT=$(sed -n '/^Statistics:/,$p' "$GS_TMP/perf.out")
    QPS=$(echo "$PERF_OUT" | awk '/Queries per second:/ { printf "%.0f", $4 }')
    LOST=$(echo "$PERF_OUT" | awk '/Queries lost:/ { gsub(/[()%]/, "", $4); print $4 }')
    sent=$(echo "$PERF_OUT" | awk '/Queries completed:/ { print $3 }')
    RCODES=$(echo "$PERF_OUT" | awk '/Response codes:/ { sub(/.*codes: */, ""); print }' |
        tr ',' '\n' | grep -v NOERROR | paste -sd, || true)
    P99=$(awk '$1 == ">" && $2 != "T" { print $NF }' "$GS_TMP/perf.out" | sort -g |
        awk '{ v[NR] = $1 } END { i = int(NR * 0.99); if (i < 1) i = 1; printf "%.2f", NR ? v[i] * 1000 : 0 }')
    CPUQ=""
    for p in "${pids[@]}"; do
        d=$(($(cpu_ticks "$p") - t0[i]))
        CPUQ+="${CPUQ:+ }$(awk -v d="$d" -v hz="$HZ" -v n="${sent:-0}" 'BEGIN { printf "%.1f", n ? d / hz * 1e6 / n : 0 }')"
        i=$((i + 1))
    done
}

# geosteer behind pdns, shared by run_compare.sh and run_pdns_tuning.sh:
#   bench_gs_config FILE DB RUNDIR: writes a geosteer.json with DB as the
#       country database and one geo policy "geo" (DE -> eu 192.0.2.1, US/CA
#       -> us 192.0.2.2, default global 192.0.2.5);
#   bench_pipe_supported: true when geosteerd has a pipe listener (-p) and
#       pdns's pipe backend is installed;
#   bench_gs_pdns_conf DIR PORT MODE [lines...]: pdns.conf for geosteer,
#       MODE remote (launch=remote) or pipe (launch=pipe,remote,
#       pipe-command=$GS_PIPE_SOCK, pipe-abi-version=5 and
#       zone-cache-refresh-interval=0: pdns exits at start-up with the zone
#       cache on, since the pipe backend cannot list zones);
#   bench_requests: geosteerd's requests from pdns so far, one
#       "INTERFACE/METHOD COUNT" line per interface (remote, pipe) and method,
#       all results summed, from `geosteer metrics`.
bench_gs_config() {
    cat >"$1" <<JSON
{"settings": {"runtime_dir": "$3", "geoip": {"database": "$2", "max_age_days": 3650}},
 "endpoints": {"eu1": {"a": ["192.0.2.1"]}, "us1": {"a": ["192.0.2.2"]}, "gl1": {"a": ["192.0.2.5"]}},
 "pools": {"eu": {"endpoints": ["eu1"]}, "us": {"endpoints": ["us1"]}, "global": {"endpoints": ["gl1"]}},
 "policies": {"geo": {"type": "geo", "ttl": 60, "default": "global",
   "rules": [{"country": "DE", "pool": "eu"}, {"country": ["US", "CA"], "pool": "us"}]}}}
JSON
}

bench_pipe_supported() {
    "$GEOSTEERD" --help 2>&1 | grep -q -- '--pipe\|-p,' &&
        ls /usr/lib/*/pdns/libpipebackend.so >/dev/null 2>&1
}

bench_gs_pdns_conf() {
    local dir=$1 port=$2 mode=$3
    shift 3
    if [ "$mode" = pipe ]; then
        gs_pdns_conf "$dir" "$GS_SOCK" "$port" "$@" "pipe-command=$GS_PIPE_SOCK" "pipe-abi-version=5" \
            "zone-cache-refresh-interval=0"
        sed -i 's/^launch=remote$/launch=pipe,remote/' "$dir/pdns.conf"
    else
        gs_pdns_conf "$dir" "$GS_SOCK" "$port" "$@"
    fi
}

bench_requests() {
    gs_cli metrics | awk '/^geosteer_requests_total\{/ {
        i = "remote"; if (match($0, /interface="[^"]*"/)) i = substr($0, RSTART + 11, RLENGTH - 12)
        match($0, /method="[^"]*"/); n[i "/" substr($0, RSTART + 8, RLENGTH - 9)] += $NF }
        END { for (m in n) print m, n[m] }' | sort
}
