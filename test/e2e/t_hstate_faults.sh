#!/usr/bin/env bash
# The health state file changed by someone other than the probe, through DNS:
# pdns_server (caches OFF: every query reaches geosteerd) + geosteerd +
# geosteer-probe + local HTTP targets, endpoint e1 DOWN, e2 UP, a failover
# name that must answer e2 while e1 is DOWN.
#  - truncated in place: queries keep being answered (no SIGBUS in geosteerd's
#    lookup threads), the probe survives, notices and renames a whole new
#    file into place, and e1 is avoided again;
#  - deleted: the probe writes a new file; a geosteerd restarted afterwards
#    still avoids the DOWN endpoint;
#  - replaced by an old copy (e1 UP in it): the probe writes its own again;
#  - plan.json deleted: geosteerd writes it again for a restarted probe.
. "$(dirname "$0")/lib.sh"
gs_require pdns_server pdnsutil kdig python3
: "${GEOSTEER_PROBE:?}"

gs_start_targets "$GS_TMP/targets"
RUN=$GS_TMP/run
PDNS=$GS_TMP/pdns
CFG=$GS_TMP/geosteer.json
python3 - "$CFG" "$RUN" "$(gs_port http.toggle1)" "$(gs_port http.toggle2)" <<'PY'
import json, sys
cfg, run, p1, p2 = sys.argv[1:]
mon = lambda port: {"type": "http", "port": int(port), "path": "/health", "interval": 1,
                    "timeout": 0.5, "fall": 3, "rise": 3}
json.dump({
    "settings": {"runtime_dir": run,
                 "health": {"stale_after": 3, "grace": 3, "stale_rule": "ignore-health"}},
    "monitors": {"web1": mon(p1), "web2": mon(p2)},
    "endpoints": {
        "e1": {"a": ["192.0.2.1"], "monitor": "web1", "probe_address": "127.0.0.1"},
        "e2": {"a": ["192.0.2.2"], "monitor": "web2", "probe_address": "127.0.0.1"}},
    "pools": {"p1": {"endpoints": ["e1"]}, "p2": {"endpoints": ["e2"]}},
    "policies": {"fo": {"type": "failover", "pools": ["p1", "p2"], "ttl": 60}},
}, open(cfg, "w"), indent=1)
PY

GSDIR=$GS_TMP/gs
gs_start_geosteerd "$GSDIR" -c "$CFG"
gs_cli zone create faults.test --ns ns1.faults.test --soa-serial 1 >/dev/null
port=$(gs_free_port)
gs_pdns_conf "$PDNS" "$GS_SOCK" "$port" cache-ttl=0 query-cache-ttl=0 negquery-cache-ttl=0
gs_pdnsutil "$PDNS" add-record faults.test www LUA "A \"steer('fo')\"" >/dev/null
gs_start_pdns "$PDNS" "$port"
# e1's server fails from the start: its first result makes it DOWN.
gs_target_mode toggle1 fail
gs_start_probe "$RUN"
GSLOG=$GSDIR/geosteerd.log
PLOG=$RUN/probe.log
STATE=$RUN/health.state
NEW_RE="probe: wrote a new state file"

# q NAME: "RCODE ANSWERS" from pdns.
q() {
    local out rcode ans
    out=$(kdig @127.0.0.1 -p "$port" +timeout=2 +retry=0 "$1" A 2>&1 || true)
    rcode=$(echo "$out" | sed -n 's/.*status: \([A-Z]*\).*/\1/p' | head -n 1)
    ans=$(echo "$out" | awk '$4 == "A" && $1 !~ /^;/ {print $5}' | sort | tr '\n' ' ' | sed 's/ $//')
    echo "${rcode:-NONE} $ans"
}
# wait_answer NAME WANT MAX: polls until q NAME prints WANT; prints seconds.
wait_answer() {
    local t0
    t0=$(date +%s)
    while [ "$(q "$1")" != "$2" ]; do
        [ $(($(date +%s) - t0)) -le "$3" ] || gs_fail "$1 did not answer '$2' within $3 s (got '$(q "$1")')"
        sleep 0.2
    done
    echo $(($(date +%s) - t0))
}
count() { grep -Ec -- "$2" "$1" 2>/dev/null || true; }
# wait_more FILE PATTERN BEFORE MAX: until FILE has more than BEFORE matching lines.
wait_more() {
    local t0
    t0=$(date +%s)
    while [ "$(count "$1" "$2")" -le "$3" ]; do
        [ $(($(date +%s) - t0)) -le "$4" ] || gs_fail "no new line matching '$2' in $1 after $4 s"
        sleep 0.1
    done
}
alive() {
    kill -0 "$GS_DAEMON_PID" 2>/dev/null || gs_fail "geosteerd died ($1); log: $(tail -n 5 "$GSLOG")"
    kill -0 "$GS_PROBE_PID" 2>/dev/null || gs_fail "geosteer-probe died ($1); log: $(tail -n 5 "$PLOG")"
}

gs_wait_log "$PLOG" "'e1/web1 .*UNKNOWN -> DOWN" 15 >/dev/null
gs_wait_log "$PLOG" "'e2/web2 .*UNKNOWN -> UP" 15 >/dev/null
gs_wait_log "$GSLOG" "health: probe \(pid [0-9]+\) is publishing" 15 >/dev/null
wait_answer www.faults.test "NOERROR 192.0.2.2" 15 >/dev/null
echo "ok: e1 DOWN, www answers e2"
cp "$STATE" "$GS_TMP/state.copy" # e1 DOWN in it; made UP below

# ---- truncated in place -------------------------------------------------------
# Queries at once: lookups touch the mapping before geosteerd's once-a-second
# tick can drop it. Each is answered (e1 reads UNKNOWN in the window: either
# endpoint is a right answer), never SERVFAIL.
news=$(count "$PLOG" "$NEW_RE")
# The first query leaves within a millisecond of the truncation (raw UDP),
# well before geosteerd's next tick: the lookup reads the truncated mapping.
first=$(python3 - "$STATE" "$port" <<'PY'
import os, socket, struct, sys
path, port = sys.argv[1], int(sys.argv[2])
q = struct.pack(">HHHHHH", 0x4711, 0x0100, 1, 0, 0, 0)
q += b"".join(bytes([len(l)]) + l for l in b"www.faults.test".split(b".")) + b"\0"
q += struct.pack(">HH", 1, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(5)
os.truncate(path, 0)
s.sendto(q, ("127.0.0.1", port))
try:
    r = s.recv(4096)
    print("rcode %d answers %d" % (r[3] & 15, struct.unpack(">H", r[6:8])[0]))
except socket.timeout:
    print("timeout")
PY
)
gs_expect_eq "first query, sent as the file was truncated" "rcode 0 answers 1" "$first"
for i in $(seq 30); do
    r=$(q www.faults.test)
    case "$r" in
    "NOERROR 192.0.2.1" | "NOERROR 192.0.2.2") ;;
    *) gs_fail "query $i after the truncation answered '$r'" ;;
    esac
done
echo "ok: 30 queries answered right after health.state was truncated in place"
gs_wait_log "$GSLOG" "changed size in place; dropping it" 10 >/dev/null
gs_wait_log "$PLOG" "was truncated under the writer|changed size in place.*writing a whole new" 10 \
    >/dev/null
wait_more "$PLOG" "$NEW_RE" "$news" 10
alive "after the truncation"
t=$(wait_answer www.faults.test "NOERROR 192.0.2.2" 10)
echo "ok: the probe wrote a new file; e1 avoided again after ${t} s"
gs_expect_contains "status: probe fresh" "probe: fresh" "$(gs_cli status)"

# ---- deleted, then geosteerd restarted ---------------------------------------
news=$(count "$PLOG" "$NEW_RE")
rm "$STATE"
gs_wait_log "$PLOG" "health.state was deleted; writing a whole new state file" 10 >/dev/null
wait_more "$PLOG" "$NEW_RE" "$news" 10
[ -f "$STATE" ] || gs_fail "no $STATE after the probe said it wrote one"
echo "ok: deleted state file written again by the probe"
MAPPED_RE="health: mapped .*writer pid $GS_PROBE_PID\$"
mapped=$(count "$GSLOG" "$MAPPED_RE")
gs_stop "$GS_DAEMON_PID"
gs_start_geosteerd "$GSDIR" -c "$CFG"
wait_more "$GSLOG" "$MAPPED_RE" "$mapped" 10
# pdns reconnects to the restarted backend on a later query.
t=$(wait_answer www.faults.test "NOERROR 192.0.2.2" 15)
echo "ok: a restarted geosteerd still avoids the DOWN endpoint (${t} s)"
gs_expect_contains "health after the restart: e1 DOWN" "endpoint e1: DOWN" "$(gs_cli health e1)"

# ---- replaced by someone else -------------------------------------------------
# An old copy with e1 UP in it (what a stray restore could put there): the
# probe puts its own file back, so e1's real state wins.
python3 - "$GS_TMP/state.copy" <<'PY'
import struct, sys
# Every entry of the copy UP in both copies of its value (layout: common/hstate.h).
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
n = struct.unpack_from("<I", b, 20)[0]
for i in range(n):
    e = 128 + i * 208
    for c in (0, 1):
        b[e + 16 + c * 96] = 1  # state UP
open(p, "wb").write(bytes(b))
PY
news=$(count "$PLOG" "$NEW_RE")
mapped=$(count "$GSLOG" "$MAPPED_RE")
mv "$GS_TMP/state.copy" "$STATE"
gs_wait_log "$PLOG" "was replaced by another file; writing a whole new state file" 10 >/dev/null
wait_more "$PLOG" "$NEW_RE" "$news" 10
wait_more "$GSLOG" "$MAPPED_RE" "$mapped" 10 # geosteerd follows the probe's new file
t=$(wait_answer www.faults.test "NOERROR 192.0.2.2" 10)
echo "ok: a replaced state file is replaced again by the probe's own (${t} s)"

# ---- the plan file deleted ----------------------------------------------------
# geosteerd writes it again (same generation); a probe restarted afterwards
# runs the plan at once instead of waiting for a config change.
rm "$RUN/plan.json"
gs_wait_log "$GSLOG" "plan.json was deleted; wrote plan generation 1 again" 10 >/dev/null
[ -f "$RUN/plan.json" ] || gs_fail "plan.json not written again"
alive "after plan.json was deleted"
APPLIED_RE="probe: plan generation 1 applied: 2 checks .*2 resumed from the state file"
applied=$(count "$PLOG" "$APPLIED_RE")
gs_stop "$GS_PROBE_PID"
gs_start_probe "$RUN"
wait_more "$PLOG" "$APPLIED_RE" "$applied" 10
t=$(wait_answer www.faults.test "NOERROR 192.0.2.2" 10)
echo "ok: plan.json written again; a restarted probe resumed the plan (${t} s)"
alive "at the end"

for f in "$GSLOG" "$PLOG"; do
    if grep -Eq 'Sanitizer|runtime error' "$f"; then
        grep -E -A5 'Sanitizer|runtime error' "$f" >&2
        gs_fail "sanitizer report in $f"
    fi
done
echo "PASS"
