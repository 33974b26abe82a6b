#!/usr/bin/env bash
# Metrics end to end: geosteerd with settings.metrics_listen behind a real
# pdns_server, a geo policy over a country database built by `geosteer geoip
# build`, geosteer-probe checking a real local TCP target, queries sent with
# kdig +subnet from a German and a US subnet.
#
# Every scrape (HTTP and `geosteer metrics`) is parsed with the Python
# prometheus_client parser and held to the conventions doc/metrics.md lists
# (HELP and TYPE for every family, counters named _total, histogram buckets
# cumulative and ending in +Inf with _count equal to it). Counters must move
# exactly where the queries went: decisions for the EU client count under
# continent EU and pool eu and not under NA, and the other way round; lookups
# with ECS, the scope histogram, the answered endpoint, the health check's
# transitions when the target goes down and up, a commit, a reload. Then
# settings.metrics false stops the counting, a new listen address moves the
# listener, /other is 404, POST is 405.
. "$(dirname "$0")/lib.sh"
gs_require pdns_server pdnsutil kdig python3 curl
# The parser comes from Debian's python3-prometheus-client, which a Python
# other than the system's (a pyenv shim) does not see.
PYP=
for p in "$GS_PY" /usr/bin/python3; do
    if "$p" -c 'import prometheus_client.parser' 2>/dev/null; then PYP=$p; break; fi
done
[ -n "$PYP" ] ||
    gs_skip "the Python prometheus_client parser is not installed (python3-prometheus-client)"
V4=${GS_TOR_GEOIP:-/usr/share/tor/geoip}
V6=${GS_TOR_GEOIP6:-/usr/share/tor/geoip6}
[ -r "$V4" ] && [ -r "$V6" ] || gs_skip "tor-geoipdb is not installed ($V4, $V6)"

"$GEOSTEER" geoip build --v4 "$V4" --v6 "$V6" -o "$GS_TMP/geoip.mmdb" >"$GS_TMP/build.log" ||
    gs_fail "geoip build failed: $(cat "$GS_TMP/build.log")"
gs_start_targets "$GS_TMP/targets"
TPORT=$(gs_port tcp.toggle)
MPORT=$(gs_free_port)
RUN=$GS_TMP/run
CFG=$GS_TMP/geosteer.json
write_cfg() { # write_cfg LISTEN METRICS(true|false)
    cat >"$CFG" <<JSON
{
  "settings": {"geoip": {"database": "$GS_TMP/geoip.mmdb", "max_age_days": 3650},
               "runtime_dir": "$RUN", "probe": {"heartbeat_interval": 1},
               "metrics": $2, "metrics_listen": "$1"},
  "monitors": {"tcp": {"type": "tcp", "port": $TPORT, "interval": 1, "timeout": 0.5,
                       "rise": 1, "fall": 1}},
  "endpoints": {
    "eu1": {"a": ["192.0.2.11"], "probe_address": "127.0.0.1", "monitor": "tcp"},
    "eu2": {"a": ["192.0.2.12"]},
    "na1": {"a": ["192.0.2.21"]},
    "def1": {"a": ["192.0.2.31"]}
  },
  "pools": {"eu": {"endpoints": ["eu1", "eu2"]}, "na": {"endpoints": ["na1"]},
            "def": {"endpoints": ["def1"]}},
  "policies": {"geo": {"type": "geo", "ttl": 30, "default": "def",
                       "rules": [{"continent": "EU", "pool": "eu"},
                                 {"continent": "NA", "pool": "na"}]}}
}
JSON
}
write_cfg "127.0.0.1:$MPORT" true
"$GEOSTEERD" --check -c "$CFG" >/dev/null || gs_fail "config does not pass --check"
gs_start_geosteerd "$GS_TMP/gs" -c "$CFG"
gs_start_probe "$RUN"
gs_cli zone create m.test --ns ns1.m.test --soa-serial 7 >/dev/null
port=$(gs_free_port)
PDNS=$GS_TMP/pdns
gs_pdns_conf "$PDNS" "$GS_SOCK" "$port"
gs_pdnsutil "$PDNS" add-record m.test www LUA "A \"steer('geo')\"" >/dev/null
gs_start_pdns "$PDNS" "$port"

cat >"$GS_TMP/m.py" <<'PY'
import subprocess, sys, time, urllib.error, urllib.request
from prometheus_client.parser import text_string_to_metric_families

def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)

def parse(text, where):
    """Families by name, after the checks of doc/metrics.md's conventions."""
    fams = {}
    helped, typed = set(), {}
    for line in text.splitlines():
        if line.startswith("# HELP "):
            helped.add(line.split()[2])
        elif line.startswith("# TYPE "):
            typed[line.split()[2]] = line.split()[3]
    try:
        for f in text_string_to_metric_families(text):
            fams[f.name] = f
    except Exception as e:
        fail("%s: the exposition does not parse: %s" % (where, e))
    for name, t in typed.items():
        if name not in helped:
            fail("%s: %s has no HELP" % (where, name))
        if t == "counter" and not name.endswith("_total"):
            fail("%s: counter %s does not end in _total" % (where, name))
        if not name.startswith(("geosteer_", "process_")):
            fail("%s: %s lacks the geosteer_ prefix" % (where, name))
    for f in fams.values():
        if f.type == "histogram":
            by = {}
            for s in f.samples:
                key = tuple(sorted((k, v) for k, v in s.labels.items() if k != "le"))
                by.setdefault(key, []).append(s)
            for key, ss in by.items():
                b = [s for s in ss if s.name.endswith("_bucket")]
                c = [s for s in ss if s.name.endswith("_count")]
                if not b or b[-1].labels["le"] != "+Inf":
                    fail("%s: %s does not end in le=+Inf" % (where, f.name))
                vals = [s.value for s in b]
                if vals != sorted(vals):
                    fail("%s: %s buckets are not cumulative: %s" % (where, f.name, vals))
                if not c or c[0].value != vals[-1]:
                    fail("%s: %s _count differs from the +Inf bucket" % (where, f.name))
    return fams

def value(fams, name, **labels):
    """The sample `name` with exactly these labels (0 when absent)."""
    for f in fams.values():
        for s in f.samples:
            if s.name == name and s.labels == labels:
                return s.value
    return 0.0

def scrape(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        ctype = r.headers.get("Content-Type", "")
        if not ctype.startswith("text/plain; version=0.0.4"):
            fail("Content-Type is %r" % ctype)
        return parse(r.read().decode(), url)

def cli(geosteer, sock):
    out = subprocess.run([geosteer, "-s", sock, "metrics"], capture_output=True, text=True)
    if out.returncode != 0:
        fail("geosteer metrics exited %d: %s" % (out.returncode, out.stderr))
    return parse(out.stdout, "geosteer metrics")
PY

# Subnets from the range files: a German and a US /24.
read -r EU NA < <(python3 - "$V4" <<'PY'
import ipaddress, sys
got = {}
for line in open(sys.argv[1]):
    if line.startswith("#"):
        continue
    lo, hi, cc = line.strip().split(",")
    lo, hi = int(lo), int(hi)
    if cc in ("DE", "US") and cc not in got and hi - lo >= 255 and lo % 256 == 0:
        got[cc] = str(ipaddress.ip_address(lo)) + "/24"
print(got["DE"], got["US"])
PY
)
echo "EU client $EU, NA client $NA"
URL=http://127.0.0.1:$MPORT/metrics
q() { # q SUBNET COUNT
    for _ in $(seq "$2"); do
        kdig @127.0.0.1 -p "$port" +subnet="$1" +retry=0 +timeout=5 www.m.test A +short
    done
}
# the probe must have seen the target once before counting transitions
gs_wait_log "$RUN/probe.log" "." 30 >/dev/null || true
sleep 2

"$PYP" - "$GS_TMP" "$URL" "$GEOSTEER" "$GS_SOCK" "$EU" "$NA" "$port" "$TPORT" \
    "$GS_TARGETS_DIR" <<'PY' || gs_fail "metrics checks failed"
import os, subprocess, sys, time, urllib.error, urllib.request
tmp, url, geosteer, sock, eu, na, port, tport, tdir = sys.argv[1:10]
sys.path.insert(0, tmp)
from m import fail, parse, value, scrape, cli

def query(subnet, n):
    got = set()
    for _ in range(n):
        out = subprocess.run(["kdig", "@127.0.0.1", "-p", port, "+subnet=" + subnet, "+retry=0",
                              "+timeout=5", "www.m.test", "A", "+short"],
                             capture_output=True, text=True)
        got.update(out.stdout.split())
    return got

before = scrape(url)
cli_before = cli(geosteer, sock)
if set(before) != set(cli_before):
    fail("HTTP and CLI families differ: %s" % (set(before) ^ set(cli_before)))
for fam in ("geosteer_requests", "geosteer_lookup_duration_seconds",
            "geosteer_lookup_client_subnet", "geosteer_answer_scope_prefix_length",
            "geosteer_steered_answers", "geosteer_decisions", "geosteer_health_check_state",
            "geosteer_health_check_transitions", "geosteer_probe_heartbeat_age_seconds",
            "geosteer_geoip_build_timestamp_seconds", "geosteer_geoip_age_seconds",
            "geosteer_config_generation", "geosteer_config_reloads",
            "geosteer_zone_serial", "geosteer_store_commit_duration_seconds",
            "geosteer_pdns_cache_purges", "process_resident_memory_bytes"):
    if fam not in before:
        fail("family %s missing" % fam)
if value(before, "geosteer_zone_serial", zone="m.test.") != 7:
    fail("zone serial is not 7")
if value(before, "geosteer_config_generation") != 1:
    fail("config generation is not 1")
if value(before, "geosteer_store_commit_duration_seconds_count") < 1:
    fail("the add-record commit was not counted")

N = 20
ans = query(eu, N)
if not ans <= {"192.0.2.11", "192.0.2.12"} or not ans:
    fail("EU client answered %s" % ans)
mid = scrape(url)
def d(a, b, name, **l):
    return value(b, name, **l) - value(a, name, **l)
eu_dec = d(before, mid, "geosteer_decisions_total", policy="geo", continent="EU", pool="eu")
na_dec = d(before, mid, "geosteer_decisions_total", policy="geo", continent="NA", pool="na")
if eu_dec < N or na_dec != 0:
    fail("after %d EU queries: EU/eu decisions +%d, NA/na +%d" % (N, eu_dec, na_dec))
# a geo policy answers every endpoint of its pool
for e in ("eu1", "eu2"):
    picks = d(before, mid, "geosteer_steered_answers_total", policy="geo", pool="eu", endpoint=e)
    if picks != eu_dec:
        fail("%s answered +%d times in +%d decisions" % (e, picks, eu_dec))
lk = d(before, mid, "geosteer_requests_total", interface="remote", method="lookup", result="data")
if lk < N:
    fail("lookups with data +%d < %d" % (lk, N))
if d(before, mid, "geosteer_lookup_client_subnet_total", ecs="yes") < N:
    fail("lookups with ECS did not move by %d" % N)
if d(before, mid, "geosteer_lookup_duration_seconds_count") < N:
    fail("lookup duration histogram did not move")
sc = d(before, mid, "geosteer_answer_scope_prefix_length_count")
if sc < N or d(before, mid, "geosteer_answer_scope_prefix_length_bucket", le="0.0") != 0:
    fail("scope histogram: +%d answers, some with scope 0" % sc)

ans = query(na, N)
if ans != {"192.0.2.21"}:
    fail("NA client answered %s" % ans)
after = scrape(url)
na_dec = d(mid, after, "geosteer_decisions_total", policy="geo", continent="NA", pool="na")
eu_dec = d(mid, after, "geosteer_decisions_total", policy="geo", continent="EU", pool="eu")
if na_dec < N or eu_dec != 0:
    fail("after %d NA queries: NA/na +%d, EU/eu +%d" % (N, na_dec, eu_dec))
if value(after, "geosteer_steer_unlabelled_total") != 0:
    fail("decisions without a series")

# health: the check goes down and up; transitions counted, state follows
def check_labels(fams):
    for s in fams["geosteer_health_check_transitions"].samples:
        if s.labels.get("target") == "127.0.0.1:" + tport:
            return s.labels
    fail("no health check series for the TCP target")
lab = check_labels(after)
def state(fams):
    for st in ("up", "down", "unknown"):
        if value(fams, "geosteer_health_check_state", state=st, **lab) == 1:
            return st
def wait_state(want):
    for _ in range(300):
        f = scrape(url)
        if state(f) == want:
            return f
        time.sleep(0.1)
    fail("the check never became %s" % want)
up = wait_state("up")
t0 = value(up, "geosteer_health_check_transitions_total", **lab)
for mode, want in (("down", "down"), ("up", "up")):
    with open(os.path.join(tdir, "tcp_toggle.mode.tmp"), "w") as fh:
        fh.write(mode + "\n")
    os.rename(os.path.join(tdir, "tcp_toggle.mode.tmp"), os.path.join(tdir, "tcp_toggle.mode"))
    f = wait_state(want)
    if want == "down" and value(f, "geosteer_endpoint_down", endpoint="eu1") != 1:
        # steering follows the check once geosteerd's tick saw it
        time.sleep(1.5)
        if value(scrape(url), "geosteer_endpoint_down", endpoint="eu1") != 1:
            fail("eu1 not reported down")
t1 = value(f, "geosteer_health_check_transitions_total", **lab)
if t1 - t0 < 2:
    fail("transitions +%d after down and up" % (t1 - t0))
age = value(f, "geosteer_probe_heartbeat_age_seconds")
if not 0 <= age < 10:
    fail("heartbeat age %s" % age)

# a 404 and a 405, and the CLI agrees with HTTP on a counter nobody moves
for path, method, code in (("/other", "GET", 404), ("/metrics", "POST", 405)):
    try:
        urllib.request.urlopen(urllib.request.Request(url.replace("/metrics", path),
                                                      method=method, data=b"" if method == "POST" else None),
                               timeout=10)
        fail("%s %s answered 200" % (method, path))
    except urllib.error.HTTPError as e:
        if e.code != code:
            fail("%s %s: %d, not %d" % (method, path, e.code, code))
c = cli(geosteer, sock)
if value(c, "geosteer_zone_serial", zone="m.test.") != 7:
    fail("geosteer metrics disagrees on the zone serial")
print("metrics: decisions by continent and pool, answers, ECS, scope, latency, health "
      "transitions, serials, commits all move as expected")
PY

# Reload: a new listen address, counting off.
MPORT2=$(gs_free_port)
write_cfg "127.0.0.1:$MPORT2" false
kill -HUP "$GS_DAEMON_PID"
gs_wait_log "$GS_TMP/gs/geosteerd.log" "metrics on http://127.0.0.1:$MPORT2/metrics" 20 >/dev/null
curl -s -o /dev/null "http://127.0.0.1:$MPORT/metrics" &&
    gs_fail "the old metrics address still answers after the reload"
"$PYP" - "$GS_TMP" "http://127.0.0.1:$MPORT2/metrics" "$EU" "$port" <<'PY' || gs_fail "reload checks failed"
import subprocess, sys
tmp, url, eu, port = sys.argv[1:5]
sys.path.insert(0, tmp)
from m import fail, value, scrape
a = scrape(url)
if value(a, "geosteer_config_reloads_total", result="applied") < 1:
    fail("the reload was not counted")
if value(a, "geosteer_config_generation") != 2:
    fail("config generation is not 2 after one reload")
for _ in range(10):
    subprocess.run(["kdig", "@127.0.0.1", "-p", port, "+subnet=" + eu, "+retry=0", "+timeout=5",
                    "www.m.test", "A", "+short"], capture_output=True)
b = scrape(url)
moved = value(b, "geosteer_requests_total", interface="remote", method="lookup", result="data") - \
        value(a, "geosteer_requests_total", interface="remote", method="lookup", result="data")
if moved != 0:
    fail("lookups still counted with settings.metrics false (+%d)" % moved)
print("reload: listener moved, counting off")
PY
# A listen address that does not parse is a config error.
sed -i "s|\"metrics_listen\": \"127.0.0.1:$MPORT2\"|\"metrics_listen\": \"localhost:99999\"|" "$CFG"
"$GEOSTEERD" --check -c "$CFG" >"$GS_TMP/check.out" 2>&1 && gs_fail "--check passed a bad metrics_listen"
gs_expect_contains "a bad metrics_listen is named" "settings.metrics_listen" "$(cat "$GS_TMP/check.out")"
echo "PASS"
