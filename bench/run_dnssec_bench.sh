#!/usr/bin/env bash
# What live DNSSEC signing costs through pdns_server 4.7 + geosteerd
# (launch=remote, remote-dnssec=yes), pdns's caches at their defaults
# (packet cache 20 s, query cache 20 s / 60 s negative, signature cache on).
#
# One geosteerd, one pdns_server, two zones with the same records:
#   u-zone.test  unsigned
#   s-zone.test  `pdnsutil secure-zone` (pdns 4.7's default: one ECDSA P-256
#                key, NSEC), then `pdnsutil rectify-zone`
# Both zones hold:
#   static  A 192.0.2.100
#   geo     LUA A "steer('geo')"   (bench_gs_config's geo policy: DE -> eu
#           192.0.2.1, US/CA -> us 192.0.2.2, anything else 192.0.2.5; TTL 60)
#   co      the LUA country/continent chain of bench/lua_dnsperf.sh, which
#           geosteer compiles
# Workloads (A queries, each run once against each zone):
#   static    static.<zone>, one name
#   geo-ecsN  geo.<zone>, ECS from NSUB /24s spread over tor-geoipdb's ranges
#             (several countries), as run_compare.sh's geo-ecsN
#   co-ecsN   co.<zone>, ECS as geo-ecsN (run_compare.sh's co-ecsN)
#   nx        random names that do not exist (nx-<rnd>-<run>-<i>.<zone>): NXDOMAIN,
#             and in the signed zone the NSEC denial pdns builds from
#             getBeforeAndAfterNamesAbsolute; every run draws a fresh name
#             set so neither of pdns's caches has seen them
# Every query sets the DO bit, for the unsigned zone as well, so both sides
# send the same queries and differ only in what pdns adds for the signed
# zone. Text workloads use dnsperf -D. The ECS workloads are dnsperf -B
# wire-format files (bench_ecs_queries) with the DO bit set in each
# query's OPT record here: dnsperf 2.10 with -B and -D rebuilds the
# message and drops the ECS option, so -D is not passed with -B.
#
# Before timing: kdig +dnssec checks every name in both zones (the right
# address per country; RRSIG in the signed zone's answer, none in the
# unsigned one's; NXDOMAIN with NSEC + RRSIG in the signed zone, without in
# the unsigned one), and the first query of each -B file, sent as is,
# must come back signed from the signed zone. Any miss fails the script.
#
# Setup as run_compare.sh (doc/design.md §10): pdns_server and geosteerd on
# CPU 1, dnsperf on CPU 0, `dnsperf -c 8 -T 1 -q 256 -t 2` after a 1 s
# warm-up (bench_perf). Each rep runs every workload against both zones
# back to back; the order of the two zones flips every rep and the order of
# the workloads every rep (forwards, backwards), to cancel drift. Per run:
# qps, CPU us per completed query of pdns_server and of geosteerd, the share
# of CPU 1 other processes took (a noise gauge: the servers' core should be
# theirs alone; meaningful with PIN=1), backend calls per query (geosteerd's
# geosteer_requests_total over the run) and signatures pdns computed per
# query (`pdns_control show signatures`, which counts signing operations,
# not signature cache hits).
#
# usage: bench/run_dnssec_bench.sh [BUILD_DIR]   (default: build/ beside bench/)
# environment knobs (defaults):
#   DURATION=7  seconds per dnsperf run        REPS=3  alternating reps
#   PIN=1       servers on CPU 1, dnsperf on CPU 0 (PIN=0: no pinning)
#   WORKLOADS="static geo-ecsN co-ecsN nx"     NSUB=1000  subnets of -ecsN
#   NXN=200000  names in each nx query file
#   DENIAL=nsec the signed zone's denial: nsec, nsec3 ('1 0 0 -') or narrow
#               (NSEC3 narrow, doc/dnssec.md's recommendation)
# About 4 minutes with the defaults. Exit status: 0 when every check passed
# and every run lost < 1 % of its queries and answered as expected (NOERROR,
# or NXDOMAIN for nx; a run that did not is listed at the end), 1 otherwise,
# 77 if a tool is missing. Everything lives in a temp dir under /tmp; every
# process is stopped by PID on exit (test/e2e/lib.sh's trap).
set -eu

BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
LOSSY=()
# shellcheck source=SCRIPTDIR/lib.sh
. "$BENCH_DIR/lib.sh"
DURATION=${DURATION:-7}
REPS=${REPS:-3}
PIN=${PIN:-1}
WORKLOADS=${WORKLOADS:-static geo-ecsN co-ecsN nx}
NSUB=${NSUB:-1000}
NXN=${NXN:-200000}
ZU="u-zone.test"
ZS="s-zone.test"
T0=$(date +%s)

# launch=remote only, whatever the caller's environment says.
GS_PDNS_MODE=remote
bench_init run_dnssec_bench.sh "${1:-}" geosteerd geosteer
gs_require pdns_server pdnsutil pdns_control dnsperf kdig python3 awk
[ "$PIN" = 0 ] || gs_require taskset
ls /usr/lib/*/pdns/libremotebackend.so >/dev/null 2>&1 || gs_skip "pdns-backend-remote is not installed"
if [ ! -r /usr/share/tor/geoip ] || [ ! -r /usr/share/tor/geoip6 ]; then
    gs_skip "tor-geoipdb is not installed (/usr/share/tor/geoip, geoip6)"
fi
for w in $WORKLOADS; do
    case $w in static | geo-ecsN | co-ecsN | nx) ;; *) gs_fail "unknown workload '$w'" ;; esac
done
echo "== $(nproc) CPUs; load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"

# ---- GeoIP database, subnets ----------------------------------------------------------------------
DB=$GS_TMP/geoip.mmdb
echo "== geoip build: $(bench_geoip_build "$DB")"
declare -A NET
for cc in DE US JP; do
    NET[$cc]=$(bench_subnet "$cc")
    [ -n "${NET[$cc]}" ] || gs_fail "no /24 of country $cc in /usr/share/tor/geoip"
done
bench_subnets "$NSUB" >"$GS_TMP/nets.txt"
[ "$(wc -l <"$GS_TMP/nets.txt")" -ge $((NSUB * 9 / 10)) ] || gs_fail "too few subnets sampled"

# ---- the zones (same records, two names) ------------------------------------------------------------
# zone_file ZONE: the records, relative to $ORIGIN.
zone_file() {
    cat <<ZONE
\$ORIGIN $1.
\$TTL 300
@      IN SOA ns1 hostmaster 1 10800 3600 604800 300
       IN NS  ns1
ns1    IN A   192.0.2.53
static IN A   192.0.2.100
geo 60 IN LUA A "steer('geo')"
co     IN LUA A ";if country('DE') then return '192.0.2.1' elseif country({'US', 'CA'}) then return '192.0.2.2' elseif continent('EU') then return '192.0.2.3' elseif continent({'AS', 'OC'}) then return '192.0.2.4' else return '192.0.2.5' end"
ZONE
}

# ---- geosteerd, the zones, the signing key ---------------------------------------------------------
bench_gs_config "$GS_TMP/geosteer.json" "$DB" "$GS_TMP/run"
gs_start_geosteerd "$GS_TMP/gs" -c "$GS_TMP/geosteer.json"
GSD_PID=$GS_DAEMON_PID
PU=$GS_TMP/pdnsutil
gs_pdns_conf "$PU" "$GS_SOCK" 5399 remote-dnssec=yes
for z in "$ZU" "$ZS"; do
    zone_file "$z" >"$GS_TMP/$z.zone"
    gs_cli zone create "$z" --ns "ns1.$z" --soa-serial 1 >/dev/null
    gs_pdnsutil "$PU" load-zone "$z" "$GS_TMP/$z.zone" >"$GS_TMP/load-$z.log" 2>&1 ||
        { cat "$GS_TMP/load-$z.log" >&2; gs_fail "pdnsutil load-zone $z failed"; }
done
gs_pdnsutil "$PU" secure-zone "$ZS" >"$GS_TMP/secure-zone.log" 2>&1 ||
    { cat "$GS_TMP/secure-zone.log" >&2; gs_fail "pdnsutil secure-zone $ZS failed"; }
case "${DENIAL:-nsec}" in
nsec) ;;
nsec3) gs_pdnsutil "$PU" set-nsec3 "$ZS" '1 0 0 -' >/dev/null 2>&1 || gs_fail "set-nsec3" ;;
narrow) gs_pdnsutil "$PU" set-nsec3 "$ZS" '1 0 0 -' narrow >/dev/null 2>&1 || gs_fail "set-nsec3 narrow" ;;
*) gs_fail "DENIAL must be nsec, nsec3 or narrow" ;;
esac
gs_pdnsutil "$PU" rectify-zone "$ZS" >"$GS_TMP/rectify-zone.log" 2>&1 ||
    { cat "$GS_TMP/rectify-zone.log" >&2; gs_fail "pdnsutil rectify-zone $ZS failed"; }
keys=$(gs_pdnsutil "$PU" show-zone "$ZS" 2>/dev/null | grep -E '^ID = ' || true)
[ -n "$keys" ] || gs_fail "pdnsutil show-zone $ZS lists no key"
echo "== $ZS: $(gs_pdnsutil "$PU" show-zone "$ZS" 2>/dev/null | grep -o 'Zone has NSEC3\? semantics' || echo '?');" \
    "$(echo "$keys" | tr -s ' \t' ' ' | paste -sd';')"
gs_pdnsutil "$PU" show-zone "$ZU" 2>&1 | grep -q 'not actively secured' ||
    gs_fail "$ZU should be unsigned: $(gs_pdnsutil "$PU" show-zone "$ZU" 2>&1 | head -3)"

# ---- pdns_server: remote-dnssec=yes, default caches -----------------------------------------------------
bench_new_port
PORT=$NEW_PORT
PD=$GS_TMP/pdns
gs_pdns_conf "$PD" "$GS_SOCK" "$PORT" remote-dnssec=yes loglevel=4
gs_start_pdns "$PD" "$PORT"
PDNS_PID=$GS_PDNS_PID
pin "$PDNS_PID"
pin "$GSD_PID"

# ---- checks: answers, RRSIGs where expected only --------------------------------------------------------
# dig_do ZONE NAME [kdig options]: kdig +dnssec output for NAME.ZONE A.
dig_do() {
    local z=$1 n=$2
    shift 2
    kdig @127.0.0.1 -p "$PORT" +timeout=2 +retry=1 +dnssec "$@" "$n.$z." A
}
# section OUT NAME: the records of one section (ANSWER, AUTHORITY) of kdig's output.
section() {
    echo "$1" | awk -v s=";; $2 SECTION:" '$0 == s { on = 1; next } /^$/ || /^;;/ { on = 0 } on'
}
# check ZONE NAME WANT [kdig options]: the answer is WANT, signed only in $ZS;
# appends the number of RRSIGs over the A RRset to LINE.
check() {
    local z=$1 n=$2 want=$3 out ans got sigs
    shift 3
    out=$(dig_do "$z" "$n" "$@")
    ans=$(section "$out" ANSWER)
    got=$(echo "$ans" | awk '$4 == "A" { print $5 }' | sort | paste -sd' ')
    sigs=$(echo "$ans" | awk '$4 == "RRSIG" && $5 == "A"' | grep -c . || true)
    [ "$got" = "$want" ] || gs_fail "$n.$z. $* answered '$got', expected '$want'
$out"
    if [ "$z" = "$ZS" ]; then
        [ "$sigs" -ge 1 ] || gs_fail "$n.$z. $*: no RRSIG over the A RRset in the signed zone's answer
$out"
    else
        [ "$sigs" = 0 ] || gs_fail "$n.$z. $*: RRSIG in the unsigned zone's answer
$out"
    fi
    LINE+="$sigs"
}
for z in "$ZU" "$ZS"; do
    LINE="static="
    check "$z" static 192.0.2.100
    LINE+=" geo DE/US/JP="
    check "$z" geo 192.0.2.1 "+subnet=${NET[DE]}"
    LINE+="/"
    check "$z" geo 192.0.2.2 "+subnet=${NET[US]}"
    LINE+="/"
    check "$z" geo 192.0.2.5 "+subnet=${NET[JP]}"
    LINE+=" co DE/JP="
    check "$z" co 192.0.2.1 "+subnet=${NET[DE]}"
    LINE+="/"
    check "$z" co 192.0.2.4 "+subnet=${NET[JP]}"
    out=$(dig_do "$z" "nx-check")
    echo "$out" | grep -q 'status: NXDOMAIN' || gs_fail "nx-check.$z. is not NXDOMAIN
$out"
    auth=$(section "$out" AUTHORITY)
    nsec=$(echo "$auth" | awk '$4 == "NSEC" || $4 == "NSEC3"' | grep -c . || true)
    asig=$(echo "$auth" | awk '$4 == "RRSIG"' | grep -c . || true)
    if [ "$z" = "$ZS" ]; then
        [ "$nsec" -ge 1 ] && [ "$asig" -ge 2 ] || gs_fail "nx-check.$z.: no signed NSEC denial
$out"
    else
        [ "$nsec" = 0 ] && [ "$asig" = 0 ] || gs_fail "nx-check.$z.: NSEC/RRSIG in the unsigned zone
$out"
    fi
    LINE+=" nx: NXDOMAIN, NSEC $nsec, RRSIG $asig"
    echo "check $z (RRSIGs over A per answer): $LINE"
done
echo "   (subnets: DE ${NET[DE]} US ${NET[US]} JP ${NET[JP]})"

# ---- query files -------------------------------------------------------------------------------------------
# set_do FILE: sets the DO bit in the OPT record of every query of a -B file
# (one question, the OPT record the only additional record).
set_do() {
    "$GS_PY" - "$1" <<'PY'
import struct, sys
data, out, i = open(sys.argv[1], "rb").read(), bytearray(), 0
while i < len(data):
    n = struct.unpack("!H", data[i:i + 2])[0]
    m = bytearray(data[i + 2:i + 2 + n]); i += 2 + n
    p = 12
    while m[p]:
        p += 1 + m[p]
    p += 1 + 4                       # end of the question
    assert m[p] == 0 and struct.unpack("!H", m[p + 1:p + 3])[0] == 41, "no OPT record"
    m[p + 7] |= 0x80                 # TTL bytes: ext-rcode, version, flags (DO = top bit)
    out += struct.pack("!H", n) + m
open(sys.argv[1], "wb").write(out)
PY
}
# wire_sigs FILE: sends the first query of a -B file as is to pdns and
# prints how many RRSIGs its answer section holds.
wire_sigs() {
    "$GS_PY" - "$1" "$PORT" <<'PY'
import socket, struct, sys
data = open(sys.argv[1], "rb").read()
m = data[2:2 + struct.unpack("!H", data[:2])[0]]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2)
s.sendto(m, ("127.0.0.1", int(sys.argv[2]))); r = s.recv(65535)
an = struct.unpack("!H", r[6:8])[0]
def skip(p):
    while True:
        if r[p] >= 0xc0: return p + 2
        if r[p] == 0: return p + 1
        p += 1 + r[p]
p = skip(12) + 4
sigs = 0
for _ in range(an):
    p = skip(p); t, _, _, l = struct.unpack("!HHIH", r[p:p + 10]); p += 10 + l
    sigs += t == 46
print(sigs)
PY
}
declare -A WARGS
for z in "$ZU" "$ZS"; do
    echo "static.$z. A" >"$GS_TMP/q-static-$z.txt"
    WARGS[static:$z]="-D -d $GS_TMP/q-static-$z.txt"
    for n in geo co; do
        f=$GS_TMP/q-$n-$z.bin
        bench_ecs_queries "$f" "$n.$z." A "$GS_TMP/nets.txt"
        set_do "$f"
        s=$(wire_sigs "$f")
        if [ "$z" = "$ZS" ]; then [ "$s" -ge 1 ] || gs_fail "$f: first query (DO set) came back unsigned"
        else [ "$s" = 0 ] || gs_fail "$f: first query came back signed from the unsigned zone"; fi
        WARGS[$n-ecsN:$z]="-B -d $f"
    done
    WARGS[nx:$z]="-D -d $GS_TMP/q-nx-$z.txt"
done
echo "check -B files (DO set, ECS kept): first query signed from $ZS, unsigned from $ZU;" \
    "$(wc -l <"$GS_TMP/nets.txt") /24s, $(cut -d. -f1 "$GS_TMP/nets.txt" | sort -u | wc -l) distinct first octets"

# nx_file ZONE: a fresh set of NXN names that do not exist.
NXRUN=0
nx_file() {
    NXRUN=$((NXRUN + 1))
    awk -v n="$NXN" -v z="$1" -v r="$NXRUN" -v s="$RANDOM" \
        'BEGIN { for (i = 0; i < n; i++) printf "nx-%d-%d-%d.%s. A\n", s, r, i, z }' >"$GS_TMP/q-nx-$1.txt"
}

# ---- the runs ----------------------------------------------------------------------------------------------------
sigs_done() { gs_pdns_control "$PD" show signatures 2>/dev/null | tr -dc '0-9'; }
# cpu1_busy: process time on CPU 1 (user, nice, system: not the softirq
# time of our own loopback traffic) and our two servers' ticks, for the
# share of CPU 1 that other processes took.
cpu1_busy() {
    echo "$(awk '$1 == "cpu1" { print $2 + $3 + $4 }' /proc/stat)" \
        "$(($(cpu_ticks "$PDNS_PID") + $(cpu_ticks "$GSD_PID")))" "$(date +%s%N)"
}
# others_pct BEFORE: % of CPU 1 used by anything but pdns and geosteerd since BEFORE.
others_pct() {
    local a b
    read -r -a a <<<"$1"
    read -r -a b <<<"$(cpu1_busy)"
    awk -v busy=$((b[0] - a[0])) -v ours=$((b[1] - a[1])) -v ns=$((b[2] - a[2])) -v hz="$HZ" \
        'BEGIN { v = 100 * (busy - ours) / hz / (ns / 1e9); printf "%.0f", v < 0 ? 0 : v }'
}
# bench_perf calls this between the warm-up and the timed run: counters, and
# for nx a name set the warm-up has not touched.
bench_perf_started() {
    [ "$CUR_W" != nx ] || nx_file "$CUR_Z"
    BEFORE=$(bench_requests)
    SIG0=$(sigs_done)
    CPU1_0=$(cpu1_busy)
}
declare -A R_QPS R_PDNS R_GSD R_CALLS R_SIGS R_OTH RATIO
combos=()
for w in $WORKLOADS; do combos+=("$w"); done
echo
echo "== dnsperf -c 8 -T 1 -q 256 -t 2 -l $DURATION (after 1 s warm-up), DO set on every query," \
    "$([ "$PIN" = 0 ] && echo "no pinning" || echo "pdns and geosteerd on CPU 1, dnsperf on CPU 0")"
for rep in $(seq "$REPS"); do
    order=("${combos[@]}")
    if [ $((rep % 2)) -eq 0 ]; then
        order=()
        for ((i = ${#combos[@]} - 1; i >= 0; i--)); do order+=("${combos[i]}"); done
    fi
    zones=("$ZU" "$ZS")
    [ $((rep % 2)) -eq 0 ] && zones=("$ZS" "$ZU")
    echo "rep $rep/$REPS:"
    for w in "${order[@]}"; do
        declare -A got=()
        for z in "${zones[@]}"; do
            CUR_W=$w CUR_Z=$z
            [ "$w" != nx ] || nx_file "$z"
            # shellcheck disable=SC2086
            bench_perf "$PORT" ${WARGS[$w:$z]} -- "$PDNS_PID" "$GSD_PID"
            others=$(others_pct "$CPU1_0")
            after=$(bench_requests)
            sig1=$(sigs_done)
            done_q=$(echo "$PERF_OUT" | awk '/Queries completed:/ { print $3 }')
            calls=$(join <(echo "$BEFORE") <(echo "$after") | awk -v q="$done_q" '
                { t += $3 - $2 } END { printf "%.2f", q ? t / q : 0 }')
            # the same by method, those of at least 0.005 per query
            bymeth=$(join <(echo "$BEFORE") <(echo "$after") | awk -v q="$done_q" '
                { n = q ? ($3 - $2) / q : 0; if (n >= 0.005) { sub(/^remote\//, "", $1); printf "%s%s %.2f", sep, $1, n; sep = ", " } }')
            sigq=$(awk -v a="$SIG0" -v b="$sig1" -v q="$done_q" 'BEGIN { printf "%.3f", q ? (b - a) / q : 0 }')
            read -r -a cq <<<"$CPUQ"
            k=$w:$z
            R_QPS[$k]+=" $QPS" R_PDNS[$k]+=" ${cq[0]}" R_GSD[$k]+=" ${cq[1]}" R_CALLS[$k]+=" $calls"
            R_SIGS[$k]+=" $sigq" R_OTH[$w]+=" $others"
            got[$z]=$QPS
            printf '  %-9s %-12s qps %7s  lost %5s%%  CPU us/q pdns %6s gsd %6s  CPU1 others %3s%%  signatures/q %5s  calls/q %s (%s)%s\n' \
                "$w" "$z" "$QPS" "$LOST" "${cq[0]}" "${cq[1]}" "$others" "$sigq" "$calls" "$bymeth" "${RCODES:+  rcodes $RCODES}"
            awk -v l="$LOST" 'BEGIN { exit !(l < 1) }' || LOSSY+=("$w $z lost $LOST%")
            if [ "$w" = nx ]; then
                ! echo "$RCODES" | tr ',' '\n' | grep -v NXDOMAIN | grep -q . ||
                    LOSSY+=("$w $z answered $RCODES (NXDOMAIN expected)")
                echo "$RCODES" | grep -q NXDOMAIN || LOSSY+=("$w $z: no NXDOMAIN answers")
            else
                [ -z "$RCODES" ] || LOSSY+=("$w $z answered $RCODES")
            fi
        done
        RATIO[$w]+=" $(awk -v s="${got[$ZS]}" -v u="${got[$ZU]}" 'BEGIN { printf "%.4f", u ? s / u : 0 }')"
    done
done

# pdns's own DNSSEC counters over the whole script.
echo "== pdns: $(gs_pdns_control "$PD" show '*' | tr ',' '\n' |
    grep -E '^(signatures|signature-cache-size|key-cache-size|meta-cache-size|packetcache-hit|packetcache-miss)=' |
    paste -sd' ')"

# Both zones must still answer, signed where signed, after the load.
for z in "$ZU" "$ZS"; do check "$z" geo 192.0.2.1 "+subnet=${NET[DE]}"; done

# ---- the table ----------------------------------------------------------------------------------------------------
med() {
    # shellcheck disable=SC2086,SC2059
    printf "$2" "$(bench_median %.6g $1)"
}
echo
echo "== summary: median of $REPS rep(s) of $DURATION s; ratio = median of the per-rep signed/unsigned ratios;"
echo "   CPU in us per completed query; calls = geosteerd requests per query; sig/q = signatures pdns computed"
echo "   per query (signature cache misses); load average at end: $(cut -d' ' -f1-3 /proc/loadavg);" \
    "$(($(date +%s) - T0)) s in all"
printf '  %-9s %9s %9s %7s   %-15s %-15s %-13s %-6s %s\n' workload "unsig qps" "sign qps" ratio \
    "pdns us u/s" "gsd us u/s" "calls u/s" "sig/q" "CPU1 others % (all runs)"
for w in $WORKLOADS; do
    u=$w:$ZU s=$w:$ZS
    printf '  %-9s %9s %9s %7s   %-15s %-15s %-13s %-6s %s\n' "$w" "$(med "${R_QPS[$u]}" %.0f)" \
        "$(med "${R_QPS[$s]}" %.0f)" "$(med "${RATIO[$w]}" %.3f)" \
        "$(med "${R_PDNS[$u]}" %.1f) / $(med "${R_PDNS[$s]}" %.1f)" \
        "$(med "${R_GSD[$u]}" %.1f) / $(med "${R_GSD[$s]}" %.1f)" \
        "$(med "${R_CALLS[$u]}" %.2f) / $(med "${R_CALLS[$s]}" %.2f)" "$(med "${R_SIGS[$s]}" %.3f)" \
        "$(echo "${R_OTH[$w]}" | tr ' ' '\n' | sed '/^$/d' | sort -n | paste -sd' ')"
done
echo "  per-rep qps (unsigned | signed) and ratios:"
for w in $WORKLOADS; do
    printf '    %-9s %s | %s   ratios %s\n' "$w" "${R_QPS[$w:$ZU]# }" "${R_QPS[$w:$ZS]# }" "${RATIO[$w]# }"
done
if [ "${#LOSSY[@]}" -gt 0 ]; then
    echo "FAIL: runs that lost >= 1 % of their queries or answered other than expected (suspect figures):" >&2
    printf '  %s\n' "${LOSSY[@]}" >&2
    exit 1
fi
