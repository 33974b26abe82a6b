#!/usr/bin/env bash
# Health end to end through DNS: pdns_server (caches ON, long TTLs) + geosteerd
# + geosteer-probe + local HTTP targets. An endpoint whose server fails moves
# the answer to the next healthy endpoint within fall x interval + a few
# seconds (pdns's caches purged through its control socket); it comes back
# after `rise` good checks. A probe killed with SIGKILL: answers follow the
# last known state through the grace period, then the stale rule (ignore
# health); a restarted probe resumes from the state file.
. "$(dirname "$0")/lib.sh"
gs_require pdns_server pdnsutil kdig python3
: "${GEOSTEER_PROBE:?}"

gs_start_targets "$GS_TMP/targets"
RUN=$GS_TMP/run
PDNS=$GS_TMP/pdns
CFG=$GS_TMP/geosteer.json
python3 - "$CFG" "$RUN" "$(gs_pdns_ctl_socket "$PDNS")" "$(gs_port http.toggle1)" "$(gs_port http.toggle2)" <<'PY'
import json, sys
cfg, run, ctl, p1, p2 = sys.argv[1:]
mon = lambda port: {"type": "http", "port": int(port), "path": "/health", "interval": 1,
                    "timeout": 0.5, "fall": 3, "rise": 3}
json.dump({
    "settings": {"runtime_dir": run, "pdns_control_socket": ctl,
                 "health": {"stale_after": 3, "grace": 3, "stale_rule": "ignore-health"}},
    "monitors": {"web1": mon(p1), "web2": mon(p2)},
    "endpoints": {
        "e1": {"a": ["192.0.2.1"], "monitor": "web1", "probe_address": "127.0.0.1"},
        "e2": {"a": ["192.0.2.2"], "monitor": "web2", "probe_address": "127.0.0.1"}},
    "pools": {"p1": {"endpoints": ["e1"]}, "p2": {"endpoints": ["e2"]},
              "both": {"endpoints": ["e1", "e2"]}},
    "policies": {"fo": {"type": "failover", "pools": ["p1", "p2"], "ttl": 300},
                 "all": {"type": "all", "pool": "both", "ttl": 300}},
}, open(cfg, "w"), indent=1)
PY

gs_start_geosteerd "$GS_TMP/gs" -c "$CFG"
gs_cli zone create health.test --ns ns1.health.test --soa-serial 1 >/dev/null
port=$(gs_free_port)
# pdns's caches on, for longer than the test: only a purge can move answers.
gs_pdns_conf "$PDNS" "$GS_SOCK" "$port" cache-ttl=600 query-cache-ttl=600 negquery-cache-ttl=600
gs_pdnsutil "$PDNS" add-record health.test www LUA "A \"steer('fo')\"" >/dev/null
gs_pdnsutil "$PDNS" add-record health.test pool LUA "A \"steer('all')\"" >/dev/null
# steer() inside a chain (client-independent here, so pdns caches it): its
# name is purged on transitions too
gs_pdnsutil "$PDNS" add-record health.test chain LUA "A \";if true then return steer('fo') else return '192.0.2.9' end\"" >/dev/null
gs_start_pdns "$PDNS" "$port"
gs_start_probe "$RUN"
GSLOG=$GS_TMP/gs/geosteerd.log

q() {
    kdig @127.0.0.1 -p "$port" +timeout=2 +retry=0 +short "$1" A | sort | tr '\n' ' ' | sed 's/ $//'
}
# wait_answer NAME WANT MAX: polls DNS until NAME answers WANT; prints seconds.
wait_answer() {
    local t0 now
    t0=$(date +%s.%N)
    while [ "$(q "$1")" != "$2" ]; do
        now=$(date +%s.%N)
        if python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) - float(sys.argv[2]) > float(sys.argv[3]) else 1)" "$now" "$t0" "$3"; then
            gs_fail "$1 did not answer '$2' within $3 s (answers '$(q "$1")')"
        fi
        sleep 0.2
    done
    python3 -c "import sys; print('%.1f' % (float(sys.argv[1]) - float(sys.argv[2])))" "$(date +%s.%N)" "$t0"
}
le() { python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) <= float(sys.argv[2]) else 1)" "$1" "$2"; }

gs_wait_log "$RUN/probe.log" "'e1/web1 .*UNKNOWN -> UP" 10 >/dev/null
gs_wait_log "$RUN/probe.log" "'e2/web2 .*UNKNOWN -> UP" 10 >/dev/null
gs_wait_log "$GSLOG" "health: probe \(pid [0-9]+\) is publishing" 10 >/dev/null
gs_expect_eq "both up: failover answers the first pool" "192.0.2.1" "$(q www.health.test)"
gs_expect_eq "both up: all answers both" "192.0.2.1 192.0.2.2" "$(q pool.health.test)"
gs_expect_eq "both up: steer() in a chain answers the first pool" "192.0.2.1" "$(q chain.health.test)"
scope=$(kdig @127.0.0.1 -p "$port" +timeout=2 +retry=0 www.health.test A +subnet=203.0.113.0/24 |
    grep -o 'CLIENT-SUBNET: [^ ]*' || true)
gs_expect_eq "health-dependent, client-independent answer keeps scope 0" \
    "CLIENT-SUBNET: 203.0.113.0/24/0" "$scope"

# e1's server fails: DOWN after 3 failed checks at 1 s, the answer moves.
gs_target_mode toggle1 fail
t=$(wait_answer www.health.test 192.0.2.2 12)
echo "failover took $t s (fall 3 x interval 1 s)"
le "$t" 6 || gs_fail "failover took $t s, more than fall x interval + 3 s"
gs_expect_eq "all: the DOWN endpoint is left out" "192.0.2.2" "$(q pool.health.test)"
t=$(wait_answer chain.health.test 192.0.2.2 3)
echo "ok: steer() in a chain: purged from pdns's caches too (after $t s)"
gs_expect_contains "geosteerd logged the transition" "endpoint 'e1' is now DOWN" "$(cat "$GSLOG")"
gs_expect_contains "pdns was asked to purge the three steered names" "asked pdns to purge 3 names" \
    "$(cat "$GSLOG")"
n=$(grep -c "'e1/web1 .*UP -> DOWN after 3 failures (status 500)" "$RUN/probe.log")
gs_expect_eq "one transition line in the probe log" 1 "$n"
gs_expect_contains "health shows the cause" "last error: status 500" "$(gs_cli health e1)"
gs_expect_contains "explain shows the health of each candidate" "candidate: e1 weight 1 health DOWN" \
    "$(gs_cli explain www.health.test 203.0.113.1 A)"

# Back after `rise` good checks.
gs_target_mode toggle1 ok
t=$(wait_answer www.health.test 192.0.2.1 12)
echo "recovery took $t s (rise 3 x interval 1 s)"
le "$t" 6 || gs_fail "recovery took $t s, more than rise x interval + 3 s"
le 1.5 "$t" || gs_fail "recovery after $t s: faster than rise (3) checks allow"
gs_expect_eq "all: both again" "192.0.2.1 192.0.2.2" "$(q pool.health.test)"

# An operator override beats health: force-up keeps a DOWN endpoint in.
gs_target_mode toggle1 fail
wait_answer www.health.test 192.0.2.2 12 >/dev/null
gs_cli force-up e1 >/dev/null
gs_expect_contains "health shows the override" "override: forced up (health ignored)" \
    "$(gs_cli health e1)"
gs_expect_eq "force-up: the DOWN endpoint answers again (cache purged)" "192.0.2.1" \
    "$(q www.health.test)"
gs_cli undrain e1 >/dev/null
gs_expect_eq "override removed: health rules again" "192.0.2.2" "$(q www.health.test)"

# Probe killed while e1 is DOWN: the last known state holds through the
# grace period (stale after 3 heartbeats of 1 s, then 3 s of grace), then
# health is ignored (stale_rule ignore-health) and the failover policy goes
# back to its first pool.
kill -KILL "$GS_PROBE_PID"
wait "$GS_PROBE_PID" 2>/dev/null || true
GS_PIDS=$(echo "$GS_PIDS" | tr ' ' '\n' | grep -vx "$GS_PROBE_PID" | tr '\n' ' ')
sleep 2
gs_expect_eq "probe dead 2 s: last known state" "192.0.2.2" "$(q www.health.test)"
gs_wait_log "$GSLOG" "heartbeat is .* old: keeping the last known state" 6 >/dev/null
gs_expect_eq "grace: still the last known state" "192.0.2.2" "$(q www.health.test)"
t=$(wait_answer www.health.test 192.0.2.1 10)
gs_expect_contains "stale rule logged" "stale, ignoring health" "$(cat "$GSLOG")"
gs_expect_contains "status says stale" "probe: stale" "$(gs_cli status)"
n=$(grep -c "stale, ignoring health" "$GSLOG")
gs_expect_eq "staleness logged once" 1 "$n"

# Restarted probe: resumes the states it left (e1 DOWN) and geosteerd follows.
gs_start_probe "$RUN"
gs_wait_log "$RUN/probe.log" "resumed from the state file" 10 >/dev/null
t=$(wait_answer www.health.test 192.0.2.2 10)
echo "restarted probe picked up after $t s"
gs_expect_contains "status: fresh again" "probe: fresh" "$(gs_cli status)"
gs_expect_contains "backend-cmd health" "endpoint e1: DOWN" \
    "$(gs_pdnsutil "$PDNS" backend-cmd remote 'health e1' 2>&1)"

for f in "$GSLOG" "$RUN/probe.log"; do
    if grep -Eq 'AddressSanitizer|runtime error' "$f"; then gs_fail "sanitizer report in $f"; fi
done
echo "PASS"
