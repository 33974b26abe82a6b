#!/usr/bin/env bash
# qps for a steered name through dnsdist (examples/dnsdist.conf: packet
# cache on) next to the same pdns_server + geosteerd queried directly (pdns
# defaults: its packet and query caches on, which never hold an answer with
# an ECS scope, so every direct query reaches geosteerd).
#
# Design. One node: geosteerd with data/steer_geo's geo policy (TTL 30 s)
# and the default GeoIP database, pdns_server (launch=remote). dnsdist has
# that node as its only backend. The load is "resolvers sending ECS": every
# query is `www.geo.test A` with its own ECS option (IPv4, source /24),
# which dnsdist passes through (setECSOverride(false)) and keys its cache
# on. The client subnets follow a Zipf distribution: NSUB (10,000) distinct
# /24s drawn uniformly from the address space the tor-geoipdb ranges map to
# a country, ranked in random order; the subnet of each query is rank k
# with probability proportional to 1/k^ZIPF_S (ZIPF_S 1.0: the top subnet
# sends ~10 % of the queries, the top 1 % of subnets ~53 %, and every
# subnet some). dnsperf sends one -E option per run, so the queries are
# written as wire messages, each with its own ECS option, into a file that
# dnsperf reads with -B (length-prefixed messages, sent over UDP); the file
# holds NQ queries and is sent in a loop. Before the runs, the first
# queries of the file are checked against kdig +subnet on the node.
# dnsperf: -c 8 -T 1 -q 256 -t 2 -l DURATION. Each dnsdist run starts with
# a fresh dnsdist (cold cache: the misses of the first TTL are counted).
# With PIN=1 (default) the servers share CPU 1 and dnsperf has CPU 0.
# dnsperf 2.10 reports the mean latency and its deviation, not percentiles:
# no p99 here.
#
# Prints per run: qps, dnsperf's mean latency, dnsdist's cache hit rate
# (its JSON API on loopback: cache-hits / (hits + misses) during the run),
# and the CPU of dnsdist, pdns_server and geosteerd (% of one core).
#
# usage: bench/run_dnsdist_bench.sh [BUILD_DIR]   (default: build/ beside bench/)
# knobs (defaults): DURATION=20 REPS=2 NSUB=10000 ZIPF_S=1.0 NQ=400000 PIN=1
# A full run takes about 2 minutes. Exit status: 0 when every run lost < 1 %
# of its queries, 1 otherwise, 77 if a tool is missing.
set -eu

BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/lib.sh
. "$BENCH_DIR/lib.sh"
DURATION=${DURATION:-20}
REPS=${REPS:-2}
NSUB=${NSUB:-10000}
ZIPF_S=${ZIPF_S:-1.0}
NQ=${NQ:-400000}
export PIN=${PIN:-1}

bench_init run_dnsdist_bench "${1:-}" geosteerd geosteer
gs_require pdns_server pdnsutil dnsdist dnsperf kdig python3 awk
[ "$PIN" = 0 ] || gs_require taskset
SRC=$(cd "$BENCH_DIR/.." && pwd)
V4=${GS_TOR_GEOIP:-/usr/share/tor/geoip}
V6=${GS_TOR_GEOIP6:-/usr/share/tor/geoip6}
[ -r "$V4" ] && [ -r "$V6" ] || gs_skip "tor-geoipdb is not installed ($V4, $V6)"

# ---- the node ------------------------------------------------------------------------
"$GEOSTEER" geoip build --v4 "$V4" --v6 "$V6" -o "$GS_TMP/geoip.mmdb" >/dev/null
sed "s|@GEOIP_DB@|$GS_TMP/geoip.mmdb|" "$SRC/test/e2e/data/steer_geo/geosteer.json" >"$GS_TMP/geosteer.json"
gs_start_geosteerd "$GS_TMP/gs" -c "$GS_TMP/geosteer.json"
GSD_PID=$GS_DAEMON_PID
gs_cli zone create geo.test --ns ns1.geo.test >/dev/null
PDNS_PORT=$(gs_free_port)
gs_pdns_conf "$GS_TMP/pdns" "$GS_SOCK" "$PDNS_PORT" "loglevel=4" # pdns defaults otherwise
gs_pdnsutil "$GS_TMP/pdns" load-zone geo.test "$SRC/test/e2e/data/dnsdist/geo.zone" >"$GS_TMP/load-zone.log" 2>&1 ||
    { cat "$GS_TMP/load-zone.log" >&2; gs_fail "pdnsutil load-zone failed"; }
gs_start_pdns "$GS_TMP/pdns" "$PDNS_PORT"
PDNS_PID=$GS_PDNS_PID
pin "$PDNS_PID"
pin "$GSD_PID"

# ---- the query file ------------------------------------------------------------------
QF=$GS_TMP/queries.bin
python3 - "$V4" "$NSUB" "$ZIPF_S" "$NQ" "$QF" "$GS_TMP/first.txt" <<'PY'
import bisect, itertools, random, struct, sys
v4, nsub, s, nq, out, first = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6]
rnd = random.Random(7)
rs = []
for line in open(v4):
    if line.startswith("#") or not line.strip():
        continue
    lo, hi, cc = line.strip().split(",")
    if cc != "??":
        rs.append((int(lo), int(hi)))
cum = list(itertools.accumulate(hi - lo + 1 for lo, hi in rs))
subs = set()
while len(subs) < nsub:                       # uniform over the mapped space
    x = rnd.randrange(cum[-1])
    i = bisect.bisect_right(cum, x)
    lo, _ = rs[i]
    subs.add((lo + x - (cum[i - 1] if i else 0)) >> 8)
subs = sorted(subs)
rnd.shuffle(subs)                             # rank k: subs[k-1]
w = [1 / (k ** s) for k in range(1, nsub + 1)]
cw = list(itertools.accumulate(w))
qname = b"\x03www\x03geo\x04test\x00"
with open(out, "wb") as f:
    picks = rnd.choices(range(nsub), cum_weights=cw, k=nq)
    for qid, k in enumerate(picks):
        n = subs[k]
        ecs = struct.pack(">HBB", 1, 24, 0) + bytes([n >> 16 & 255, n >> 8 & 255, n & 255])
        opt = struct.pack(">HH", 8, len(ecs)) + ecs
        m = (struct.pack(">HHHHHH", qid & 0xFFFF, 0, 1, 0, 0, 1) + qname + struct.pack(">HH", 1, 1)
             + b"\x00" + struct.pack(">HHIH", 41, 1232, 0, len(opt)) + opt)
        f.write(struct.pack(">H", len(m)) + m)
with open(first, "w") as f:
    for k in picks[:5]:
        n = subs[k]
        f.write(f"{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}.0/24\n")
top = sum(w[: max(1, nsub // 100)]) / cw[-1]
print(f"query file: {nq} queries, {len(set(picks))} distinct /24s of {nsub}; Zipf s={s}: "
      f"top subnet {w[0] / cw[-1] * 100:.1f} % of queries, top 1 % of subnets {top * 100:.1f} %")
PY

# The file's first queries, sent by dnsperf -B to the node, must get what
# kdig gets for the same subnet: dnsperf puts the ECS on the wire.
python3 - "$QF" "$PDNS_PORT" <<'PY' >"$GS_TMP/first-answers.txt"
import socket, struct, sys
data = open(sys.argv[1], "rb").read()
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(3)
off = 0
for _ in range(5):
    (n,) = struct.unpack(">H", data[off:off + 2])
    s.sendto(data[off + 2:off + 2 + n], ("127.0.0.1", int(sys.argv[2])))
    off += 2 + n
    r = s.recv(4096)
    # the answer's A record: the last 4 bytes before the OPT record (22 bytes with ECS /24)
    i = r.index(b"\x00\x01\x00\x01", 12 + 18) # first A/IN after the question
    rd = r[i + 10:i + 14]
    print(".".join(map(str, rd)))
PY
i=0
while read -r sub; do
    i=$((i + 1))
    want=$(kdig @127.0.0.1 -p "$PDNS_PORT" +short www.geo.test A +subnet="$sub")
    got=$(sed -n "${i}p" "$GS_TMP/first-answers.txt")
    echo "$want" | grep -qx "$got" || gs_fail "query file: the answer for $sub is $got, kdig says $want"
done <"$GS_TMP/first.txt"
echo "query file checked: its first 5 queries get kdig's answers for their subnets"

# ---- dnsdist ---------------------------------------------------------------------------
API_KEY=bench-$RANDOM$RANDOM
start_dnsdist() {
    DD_PORT=$(gs_free_port)
    DD_WEB=$(gs_free_port)
    [ "$DD_WEB" != "$DD_PORT" ] || DD_WEB=$(gs_free_port)
    sed -e "s|^local listen_addrs = .*|local listen_addrs = { \"127.0.0.1:$DD_PORT\" }|" \
        -e "s|^local backends = .*|local backends = { \"127.0.0.1:$PDNS_PORT\" }|" \
        -e "s|^local health_name = .*|local health_name = \"dnsdist-health.geo.test.\"|" \
        -e "s|^local clients = .*|local clients = { \"127.0.0.0/8\" }|" \
        "$SRC/examples/dnsdist.conf" >"$GS_TMP/dnsdist.conf"
    printf 'webserver("127.0.0.1:%s")\nsetWebserverConfig({ apiKey = "%s", password = "%s", acl = "127.0.0.1/32" })\n' \
        "$DD_WEB" "$API_KEY" "$API_KEY" >>"$GS_TMP/dnsdist.conf"
    dnsdist --check-config -C "$GS_TMP/dnsdist.conf" >/dev/null 2>&1 || gs_fail "dnsdist --check-config failed"
    dnsdist --supervised --disable-syslog -C "$GS_TMP/dnsdist.conf" >>"$GS_TMP/dnsdist.log" 2>&1 &
    DD_PID=$!
    gs_register "$DD_PID"
    pin "$DD_PID"
    for _ in $(seq 300); do
        [ "$(dd_stat servers-up 2>/dev/null)" = 1 ] && return 0
        kill -0 "$DD_PID" 2>/dev/null || gs_fail "dnsdist exited; see $GS_TMP/dnsdist.log"
        sleep 0.1
    done
    gs_fail "dnsdist never saw its backend up"
}
# dd_stat NAME: one of dnsdist's statistics ("servers-up" is computed here).
dd_stat() {
    python3 -c 'import json, sys, urllib.request
base, key, name = sys.argv[1:4]
get = lambda p: json.load(urllib.request.urlopen(urllib.request.Request(base + p, headers={"X-API-Key": key}), timeout=2))
if name == "servers-up":
    print(sum(1 for s in get("/api/v1/servers/localhost")["servers"] if s["state"].lower() == "up"))
else:
    print({s["name"]: s["value"] for s in get("/api/v1/servers/localhost/statistics")}[name])' \
        "http://127.0.0.1:$DD_WEB" "$API_KEY" "$1"
}

# ---- the runs --------------------------------------------------------------------------
fails=0
results=()
run() { # run direct|dnsdist REP
    local what=$1 port c0p c0g c0d=0 c1d=0 h0=0 m0=0 h1=0 m1=0 out qps lat sent done lost hit
    if [ "$what" = dnsdist ]; then start_dnsdist; port=$DD_PORT; else port=$PDNS_PORT; fi
    c0p=$(cpu_ticks "$PDNS_PID")
    c0g=$(cpu_ticks "$GSD_PID")
    if [ "$what" = dnsdist ]; then
        c0d=$(cpu_ticks "$DD_PID")
        h0=$(dd_stat cache-hits)
        m0=$(dd_stat cache-misses)
    fi
    out=$(run_client dnsperf -s 127.0.0.1 -p "$port" -B -d "$QF" -c 8 -T 1 -q 256 -t 2 -l "$DURATION" 2>&1) ||
        { echo "$out" >&2; gs_fail "dnsperf ($what) failed"; }
    echo "$out" >>"$GS_TMP/dnsperf-$what.log"
    local c1p c1g
    c1p=$(cpu_ticks "$PDNS_PID")
    c1g=$(cpu_ticks "$GSD_PID")
    if [ "$what" = dnsdist ]; then
        c1d=$(cpu_ticks "$DD_PID")
        h1=$(dd_stat cache-hits)
        m1=$(dd_stat cache-misses)
        gs_stop "$DD_PID"
    fi
    qps=$(echo "$out" | awk '/Queries per second/ { print $4 }')
    lat=$(echo "$out" | awk '/Average Latency/ { print $4 * 1e6 }')
    sent=$(echo "$out" | awk '/Queries sent/ { print $3 }')
    done=$(echo "$out" | awk '/Queries completed/ { print $3 }')
    lost=$(echo "$out" | awk '/Queries lost/ { print $3 }')
    noerr=$(echo "$out" | awk '/Response codes/ { for (i = 1; i < NF; i++) if ($i == "NOERROR") print $(i + 1) }')
    [ "${noerr:-0}" = "$done" ] || { echo "$out" >&2; gs_fail "dnsperf ($what): not every answer is NOERROR"; }
    if awk -v l="$lost" -v s="$sent" 'BEGIN { exit !(l * 100 >= s) }'; then fails=1; fi
    hit=$(awk -v h=$((h1 - h0)) -v m=$((m1 - m0)) 'BEGIN { if (h + m) printf "%.1f %%", 100 * h / (h + m); else print "-" }')
    cpu() { awk -v t="$1" -v hz="$HZ" -v d="$DURATION" 'BEGIN { printf "%.0f", 100 * t / hz / d }'; }
    printf '%-8s rep %s: %8.0f qps, mean latency %6.0f us, lost %s of %s, cache hits %s; CPU %%: dnsdist %s, pdns %s, geosteerd %s\n' \
        "$what" "$2" "$qps" "$lat" "$lost" "$sent" "$hit" \
        "$([ "$what" = dnsdist ] && cpu $((c1d - c0d)) || echo -)" "$(cpu $((c1p - c0p)))" "$(cpu $((c1g - c0g)))"
    results+=("$what $qps")
}
echo "dnsperf -c 8 -T 1 -q 256 -t 2 -l $DURATION -B, PIN=$PIN; ${REPS} rep(s) of each"
for rep in $(seq "$REPS"); do
    if [ $((rep % 2)) = 1 ]; then run direct "$rep"; run dnsdist "$rep"; else run dnsdist "$rep"; run direct "$rep"; fi
done
printf '%s\n' "${results[@]}" | awk '{ s[$1] += $2; n[$1]++ } END {
    printf "mean qps: direct %.0f, through dnsdist %.0f (%.1fx)\n", s["direct"] / n["direct"], s["dnsdist"] / n["dnsdist"], (s["dnsdist"] / n["dnsdist"]) / (s["direct"] / n["direct"]) }'
exit "$fails"
