#!/usr/bin/env bash
# The decision log (settings.decision_log, doc/operations.md) end to end:
# geosteerd behind a real pdns_server (caches off, one distributor thread, so
# every query is one lookup on one connection), a geo policy over a country
# and an ASN database written by our gs_mkmmdb, kdig +subnet queries from
# several subnets. Checks:
#   - every line is one JSON object with the documented fields, and its
#     answer, scope and country are what kdig got and what the database says;
#   - an operator's drain shows in the line of a German client sent to Dallas;
#   - a literal LUA record (pickrandom) logs its function and values;
#   - sample=N logs exactly ceil(decisions/N) (a counter, not a coin);
#   - max_per_second caps a burst (at most M * (1 + seconds taken) lines);
#   - rename + SIGUSR1 during a stream of queries: the later lines go to the
#     new file and old + new hold every decision (none lost, none doubled);
#   - the shipped logrotate snippet (dist/logrotate/geosteer, run by a real
#     logrotate with its paths and signal pointed at this test) rotates it;
#   - target "journal" writes the lines to the daemon's log;
#   - SIGHUP with the decision log removed from the config stops it.
. "$(dirname "$0")/lib.sh"
gs_require pdns_server pdnsutil kdig python3 logrotate
: "${GS_MKMMDB:?GS_MKMMDB must point to the gs_mkmmdb binary}"

# ---- GeoIP data, written by our own tool ----------------------------------------
cat >"$GS_TMP/geo.txt" <<'EOF'
85.214.0.0/16 country=DE continent=EU
198.51.100.0/24 country=US continent=NA
203.0.113.0/24 country=JP continent=AS
2001:db8::/32 country=FR continent=EU
EOF
cat >"$GS_TMP/asn.txt" <<'EOF'
85.214.0.0/16 asn=6724
198.51.100.0/24 asn=64500
EOF
"$GS_MKMMDB" "$GS_TMP/geo.mmdb" <"$GS_TMP/geo.txt"
"$GS_MKMMDB" "$GS_TMP/asn.mmdb" <"$GS_TMP/asn.txt"

LOGDIR=$GS_TMP/log
LOG=$LOGDIR/decisions.log
mkdir -p "$LOGDIR"
CFG=$GS_TMP/geosteer.json
# write_cfg DECISION_LOG_JSON: the config with settings.decision_log set to
# the given JSON (empty: no decision log).
write_cfg() {
    local dl=${1:+, \"decision_log\": $1}
    cat >"$CFG.tmp" <<EOF
{
  "settings": {"geoip": {"database": "$GS_TMP/geo.mmdb", "asn_database": "$GS_TMP/asn.mmdb"}$dl},
  "endpoints": {
    "fra": {"a": ["192.0.2.1"], "aaaa": ["2001:db8:f::1"]},
    "dal": {"a": ["192.0.2.2"], "aaaa": ["2001:db8:d::1"]},
    "tyo": {"a": ["192.0.2.3"], "aaaa": ["2001:db8:7::1"]}
  },
  "pools": {
    "eu": {"endpoints": ["fra"], "fallback": "us"},
    "us": {"endpoints": ["dal"]},
    "asia": {"endpoints": ["tyo"]}
  },
  "policies": {
    "geo": {"type": "geo", "ttl": 45, "default": "asia",
            "rules": [{"country": "DE", "pool": "eu"}, {"continent": "NA", "pool": "us"}]}
  }
}
EOF
    mv "$CFG.tmp" "$CFG"
}
write_cfg "{\"target\": \"$LOG\", \"max_per_second\": 0}"
"$GEOSTEERD" --check -c "$CFG" >/dev/null || gs_fail "config does not pass --check"

gs_start_geosteerd "$GS_TMP/gs" -c "$CFG"
GSLOG=$GS_TMP/gs/geosteerd.log
gs_cli zone create dl.test --ns ns1.dl.test --soa-serial 1 >/dev/null
port=$(gs_free_port)
PDNS=$GS_TMP/pdns
gs_pdns_conf "$PDNS" "$GS_SOCK" "$port" cache-ttl=0 query-cache-ttl=0 negquery-cache-ttl=0 \
    distributor-threads=1
pu() { gs_pdnsutil "$PDNS" "$@" 2>&1; }
pu add-record dl.test www LUA "A \"steer('geo')\"" >/dev/null
pu add-record dl.test www LUA "AAAA \"steer('geo')\"" >/dev/null
pu add-record dl.test lit LUA "A \"pickrandom({'192.0.2.81', '192.0.2.82'})\"" >/dev/null
gs_start_pdns "$PDNS" "$port"

lines() { if [ -f "$1" ]; then wc -l <"$1"; else echo 0; fi; }

# hup: SIGHUP geosteerd and wait until it says the config was reloaded.
hup() {
    local n
    n=$(grep -c "SIGHUP: config reloaded" "$GSLOG" || true)
    kill -HUP "$GS_DAEMON_PID"
    for _ in $(seq 200); do
        [ "$(grep -c "SIGHUP: config reloaded" "$GSLOG" || true)" -gt "$n" ] && return 0
        sleep 0.1
    done
    gs_fail "SIGHUP: no reload in 20 s"
}

# q SUBNET NAME TYPE: one query; prints "answers | scope".
q() {
    kdig @127.0.0.1 -p "$port" +timeout=3 +retry=0 "$2" "$3" "+subnet=$1" | python3 -c '
import re, sys
t = sys.stdin.read()
recs = sorted(l.split()[-1] for l in t.splitlines() if re.match(r"^\S+\s+\d+\s+IN\s+(A|AAAA)\s", l))
m = re.search(r"CLIENT-SUBNET: \S+/(\d+)", t)
print(" ".join(recs) + " | " + (m.group(1) if m else "-"))'
}

# ---- 1. every line parses and matches the answer kdig got ------------------------
# subnet qname type country continent asn
CASES="85.214.7.0/24 www A DE EU 6724
85.214.9.0/24 www AAAA DE EU 6724
198.51.100.0/24 www A US NA 64500
203.0.113.0/24 www A JP AS null
2001:db8:42::/48 www AAAA FR EU null
192.0.2.0/24 www A null null null
85.214.7.0/24 lit A DE EU 6724"
: >"$GS_TMP/expect.txt"
n0=$(lines "$LOG")
while read -r subnet name type cc cont asn; do
    got=$(q "$subnet" "$name.dl.test" "$type")
    echo "$subnet $name.dl.test. $type $cc $cont $asn $got" >>"$GS_TMP/expect.txt"
done <<<"$CASES"
nq=$(wc -l <"$GS_TMP/expect.txt")
n1=$(lines "$LOG")
[ $((n1 - n0)) -ge "$nq" ] || gs_fail "$nq queries gave $((n1 - n0)) decision lines"
tail -n +$((n0 + 1)) "$LOG" >"$GS_TMP/phase1.log"
python3 - "$GS_TMP/phase1.log" "$GS_TMP/expect.txt" <<'PY' || gs_fail "decision lines do not match the answers"
import json, re, sys
FIELDS = ["time", "qname", "qtype", "type", "client", "ecs", "country", "continent", "asn",
          "policy", "function", "branch", "rule", "candidates", "picks", "answer", "pool",
          "all_down", "scope", "ttl"]
recs = []
for n, line in enumerate(open(sys.argv[1], encoding="utf-8"), 1):
    d = json.loads(line)  # every line is one JSON object
    assert list(d) == FIELDS, f"line {n}: fields {list(d)}"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", d["time"]), d["time"]
    recs.append(d)
bad = 0
for line in open(sys.argv[2]):
    subnet, qname, qtype, cc, cont, asn, *rest = line.split()
    answer, scope = " ".join(rest).split(" | ")
    mine = [d for d in recs if d["client"] == subnet and d["qname"] == qname and d["type"] == qtype]
    if not mine:
        print(f"no line for {subnet} {qname} {qtype}"); bad += 1; continue
    for d in mine:
        want = {"answer": sorted(answer.split()), "scope": int(scope), "ecs": True,
                "country": None if cc == "null" else cc,
                "continent": None if cont == "null" else cont,
                "asn": None if asn == "null" else int(asn)}
        have = {"answer": sorted(d["answer"]), "scope": d["scope"], "ecs": d["ecs"],
                "country": d["country"], "continent": d["continent"], "asn": d["asn"]}
        # pdns looks a name up more than once per query, and each lookup
        # draws its own random pick: a random record's lines need only
        # hold the answer kdig got in one of them.
        if qname.startswith("lit") and want["answer"] in [sorted(x["answer"]) for x in mine]:
            have["answer"] = want["answer"]
        if want != have:
            print(f"{subnet} {qname} {qtype}: want {want}, line {have}"); bad += 1
        if qname.startswith("www"):
            ok = (d["policy"] == "geo" and d["function"] == "steer" and d["ttl"] == 45
                  and d["branch"] == 1 and d["all_down"] is False
                  and all(set(c) == {"endpoint", "pool", "health", "admin"} and
                          c["health"] == "not monitored" and c["admin"] == "none"
                          for c in d["candidates"])
                  and set(d["picks"]) <= {c["endpoint"] for c in d["candidates"]})
            pool = {"DE": "eu", "US": "us"}.get(cc, "asia")
            ok = ok and d["pool"] == pool and d["rule"] == ("default" if pool == "asia" else "geo rule")
        else:
            ok = (d["policy"] is None and d["function"] == "pickrandom" and d["pool"] is None
                  and d["picks"] == d["answer"] and d["ttl"] == 3600
                  and {c["endpoint"] for c in d["candidates"]} == {"192.0.2.81", "192.0.2.82"})
        if not ok:
            print(f"{subnet} {qname} {qtype}: unexpected line {json.dumps(d)}"); bad += 1
sys.exit(1 if bad else 0)
PY
echo "ok: $nq queries, every decision line parses and matches kdig's answer, scope and the GeoIP data"

# No ECS option: decided on the resolver (127.0.0.1), "ecs": false.
kdig @127.0.0.1 -p "$port" +timeout=3 +retry=0 www.dl.test A >/dev/null
last=$(tail -n 1 "$LOG")
python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["ecs"] is False and d["client"] == "127.0.0.1/32", d' \
    "$last" || gs_fail "a query without ECS is not logged as decided on the resolver: $last"
echo "ok: no ECS: client 127.0.0.1/32, ecs false"

# ---- 2. why was this user in Germany sent to Dallas? ----------------------------
gs_cli drain fra >/dev/null
gs_expect_eq "drained fra: a German client goes to Dallas" "192.0.2.2 | 16" \
    "$(q 85.214.7.0/24 www.dl.test A)"
why=$(python3 -c '
import json, sys
for line in open(sys.argv[1]):
    d = json.loads(line)
    if d["country"] == "DE" and "dal" in d["picks"]:
        last = d
print(json.dumps([last["rule"], last["pool"], last["candidates"]]))' "$LOG")
gs_expect_eq "the line says why: fra drained, pool eu fell back to us" \
    '["geo rule", "us", [{"endpoint": "fra", "pool": "eu", "health": "not monitored", "admin": "drain"}, {"endpoint": "dal", "pool": "us", "health": "not monitored", "admin": "none"}]]' \
    "$why"
gs_cli undrain fra >/dev/null

# Decisions per query: pdns looks the name up more than once per query, and
# each lookup (an ANY) evaluates both the A and the AAAA record.
n0=$(lines "$LOG")
kdig @127.0.0.1 -p "$port" +timeout=3 +retry=0 +subnet=198.51.100.0/24 \
    $(for _ in $(seq 10); do echo www.dl.test A; done) >/dev/null
per10=$(($(lines "$LOG") - n0))
[ $((per10 % 10)) = 0 ] && [ "$per10" -gt 0 ] || gs_fail "10 queries gave $per10 decisions"
D=$((per10 / 10))
echo "ok: $D decisions per query"

# ---- 3. sample=N ----------------------------------------------------------------
write_cfg "{\"target\": \"$LOG\", \"sample\": 7, \"max_per_second\": 0}"
hup
n0=$(lines "$LOG")
kdig @127.0.0.1 -p "$port" +timeout=3 +retry=0 +subnet=198.51.100.0/24 \
    $(for _ in $(seq 100); do echo www.dl.test A; done) >/dev/null
n1=$(lines "$LOG")
gs_expect_eq "sample 7: $((100 * D)) decisions on one connection give ceil($((100 * D))/7) lines" \
    $(((100 * D + 6) / 7)) $((n1 - n0))

# ---- 4. max_per_second caps a burst ----------------------------------------------
write_cfg "{\"target\": \"$LOG\", \"max_per_second\": 10}"
hup
n0=$(lines "$LOG")
t0=$(date +%s.%N)
kdig @127.0.0.1 -p "$port" +timeout=3 +retry=0 +subnet=198.51.100.0/24 \
    $(for _ in $(seq 300); do echo www.dl.test A; done) >/dev/null
t1=$(date +%s.%N)
n1=$(lines "$LOG")
python3 -c '
import sys
got, t, n = int(sys.argv[1]), float(sys.argv[3]) - float(sys.argv[2]), int(sys.argv[4])
cap = 10 * (1 + t) + 1
print(f"burst of {n} decisions in {t:.2f} s: {got} lines (cap {cap:.0f})")
sys.exit(0 if 10 <= got <= cap and got < n else 1)' $((n1 - n0)) "$t0" "$t1" $((300 * D)) ||
    gs_fail "max_per_second 10 did not cap the burst"
echo "ok: max_per_second caps a burst"
gs_cli status | grep -Eq '^decision log: file, [0-9]+ lines, [1-9][0-9]* over max_per_second, 0 lost' ||
    gs_fail "status does not count the capped decisions: $(gs_cli status | grep 'decision log')"
echo "ok: status counts the decisions over the cap"

# ---- 5. rename + SIGUSR1 while queries stream: nothing lost ----------------------
write_cfg "{\"target\": \"$LOG\", \"max_per_second\": 0}"
hup
n0=$(lines "$LOG")
kdig @127.0.0.1 -p "$port" +timeout=3 +retry=0 +subnet=203.0.113.0/24 \
    $(for _ in $(seq 400); do echo www.dl.test A; done) >"$GS_TMP/stream.out" &
kpid=$!
gs_register "$kpid"
# Rotate once the stream is under way, as logrotate would.
for _ in $(seq 200); do [ "$(lines "$LOG")" -gt $((n0 + 20)) ] && break; sleep 0.05; done
mv "$LOG" "$LOG.1"
kill -USR1 "$GS_DAEMON_PID"
gs_wait_log "$GSLOG" "decision log reopened: $LOG" 20 >/dev/null
wait "$kpid" || gs_fail "kdig stream failed"
GS_PIDS=$(echo "$GS_PIDS" | tr ' ' '\n' | grep -vx "$kpid" | tr '\n' ' ')
answered=$(grep -c '^www.dl.test.*IN.*A.*192.0.2.3' "$GS_TMP/stream.out" || true)
old=$(($(lines "$LOG.1") - n0))
new=$(lines "$LOG")
echo "stream: $answered answers, $old lines before the rotation, $new after"
gs_expect_eq "rename + SIGUSR1: every decision logged once, old file + new file" $((400 * D)) \
    $((old + new))
gs_expect_eq "the stream was answered" 400 "$answered"
[ "$new" -gt 0 ] || gs_fail "no line went to the new file after SIGUSR1"
[ "$old" -gt 20 ] || gs_fail "the rotation came before the stream"
python3 -c 'import json,sys
for f in sys.argv[1:]:
    for line in open(f): json.loads(line)' "$LOG" "$LOG.1" || gs_fail "a line broke across the rotation"
[ "$(stat -c %a "$LOG")" = 640 ] || gs_fail "the new log file's mode is $(stat -c %a "$LOG"), not 640"
echo "ok: rotated under load; no line lost or broken; mode 0640"

# ---- 5b. the shipped logrotate snippet, by a real logrotate ----------------------
SRC=$(cd "$(dirname "$0")/../.." && pwd)
rm -f "$LOG.1"
sed -e "s|^/var/log/geosteer/\*.log|$LOGDIR/*.log|" -e 's/^\( *create 0640\) .*/\1/' \
    -e "s|^\( *\)systemctl kill .*|\1kill -USR1 $GS_DAEMON_PID|" \
    "$SRC/dist/logrotate/geosteer" >"$GS_TMP/logrotate.conf"
grep -q "kill -USR1 $GS_DAEMON_PID" "$GS_TMP/logrotate.conf" || gs_fail "the snippet has no postrotate"
q 198.51.100.0/24 www.dl.test A >/dev/null
before=$(lines "$LOG")
reopened=$(grep -c "decision log reopened" "$GSLOG")
logrotate -f -s "$GS_TMP/logrotate.state" "$GS_TMP/logrotate.conf" ||
    gs_fail "logrotate refused the shipped snippet"
for _ in $(seq 200); do
    [ "$(grep -c "decision log reopened" "$GSLOG")" -gt "$reopened" ] && break
    sleep 0.1
done
gs_expect_eq "logrotate: the old lines are in decisions.log.1" "$before" "$(lines "$LOG.1")"
q 198.51.100.0/24 www.dl.test A >/dev/null
gs_expect_eq "logrotate: new lines go to the new file" "$D" "$(lines "$LOG")"
gs_expect_eq "logrotate: the new file is 0640" 640 "$(stat -c %a "$LOG")"

# ---- 6. target "journal": lines go to the daemon's log ---------------------------
write_cfg '{"target": "journal"}'
hup
n0=$(lines "$LOG")
q 198.51.100.0/24 www.dl.test A >/dev/null
gs_wait_log "$GSLOG" 'info: \{"time":"[^"]*","qname":"www.dl.test.","qtype":"[A-Z]+","type":"A","client":"198.51.100.0/24"' 20 >/dev/null
gs_expect_eq "journal target: nothing more in the file" "$n0" "$(lines "$LOG")"

# ---- 7. SIGHUP with the decision log removed: no more lines ----------------------
write_cfg "{\"target\": \"$LOG\"}"
hup
q 198.51.100.0/24 www.dl.test A >/dev/null
n0=$(lines "$LOG")
[ "$n0" -gt 0 ] || gs_fail "the log is not written again after the journal"
write_cfg ""
hup
for _ in 1 2 3; do q 198.51.100.0/24 www.dl.test A >/dev/null; done
gs_expect_eq "decision log removed by SIGHUP: no new lines" "$n0" "$(lines "$LOG")"
kill -0 "$GS_DAEMON_PID" || gs_fail "geosteerd died"
echo "PASS"
