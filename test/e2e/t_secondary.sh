#!/usr/bin/env bash
# Replication between three nodes (doc/replication.md), each a real
# pdns_server with its own geosteerd and config directory, on loopback:
#   P  127.0.53.1:53   primary=yes, the zone of kind primary, edited with pdnsutil
#   S1 127.0.53.2      secondary=yes, the zone created with
#                      `geosteer zone create --secondary --primary 127.0.53.1`
#   S2 127.0.53.3      secondary=yes, autosecondary=yes, `geosteer autoprimary
#                      add 127.0.53.1 ns1.rep.test`: no per-zone step
# P listens on port 53 because pdns asks an autoprimary for the zone's SOA
# and NS there (so the test needs root). Checked:
# - both secondaries serve the zone (static, steer() and LUA records) within
#   5 s of its last commit on P, and 300 queries with ECS from many countries get the
#   same answers and scopes from all three nodes;
# - pdnsutil add-record on P reaches both (time printed);
# - S2's geosteer.json lacks policy 'extra': a transfer using it is refused
#   whole, S2 keeps serving the old serial and says why, by policy name, in
#   `zone list`; logged once for that serial; S1 takes it. With the policy
#   added (reload), S2 catches up by itself;
# - a NOTIFY from an address that is not a primary is refused (pdns), and a
#   NOTIFY for an unknown zone from a non-autoprimary creates nothing;
# - P down: the secondaries keep serving until SOA expire, then answer
#   nothing for the zone (REFUSED) and say "expired"; P back: served again.
# shellcheck source=test/e2e/lib.sh
. "$(dirname "$0")/lib.sh"
gs_require pdns_server pdnsutil kdig python3
GS_PDNS_MODE=remote
[ "$(id -u)" -eq 0 ] || gs_skip "needs root: the primary listens on 127.0.53.1 port 53 (pdns asks autoprimaries there)"
V4=${GS_TOR_GEOIP:-/usr/share/tor/geoip}
V6=${GS_TOR_GEOIP6:-/usr/share/tor/geoip6}
[ -r "$V4" ] && [ -r "$V6" ] || gs_skip "tor-geoipdb is not installed ($V4, $V6)"
SRC=$(cd "$(dirname "$0")/../.." && pwd)
PA=127.0.53.1 S1A=127.0.53.2 S2A=127.0.53.3
kdig -4 @"$PA" -p 53 +timeout=1 +retry=0 id.server CH TXT >/dev/null 2>&1 &&
    gs_skip "something already answers on $PA port 53"

"$GEOSTEER" geoip build --v4 "$V4" --v6 "$V6" -o "$GS_TMP/geoip.mmdb" >"$GS_TMP/build.log" ||
    gs_fail "geoip build failed: $(cat "$GS_TMP/build.log")"
# P and S1: the test's geo policy plus 'extra'; S2 lacks 'extra' at first.
python3 - "$SRC/test/e2e/data/steer_geo/geosteer.json" "$GS_TMP" <<'PY'
import json, sys
cfg = json.load(open(sys.argv[1]))
cfg["settings"]["geoip"]["database"] = sys.argv[2] + "/geoip.mmdb"
json.dump(cfg, open(sys.argv[2] + "/lacking.json", "w"), indent=1)
cfg["policies"]["extra"] = {"type": "all", "pool": "eu", "ttl": 30}
json.dump(cfg, open(sys.argv[2] + "/full.json", "w"), indent=1)
PY

node() { # node NAME CONFIG: starts geosteerd NAME; sets SOCK_NAME, GSPID_NAME
    gs_start_geosteerd "$GS_TMP/$1" -c "$2"
    eval "SOCK_$1=\$GS_SOCK GSPID_$1=\$GS_DAEMON_PID"
}
cli() { # cli NAME ARGS...
    local s
    eval "s=\$SOCK_$1"
    shift
    "$GEOSTEER" -s "$s" "$@"
}
node P "$GS_TMP/full.json"
node S1 "$GS_TMP/full.json"
cp "$GS_TMP/lacking.json" "$GS_TMP/s2.json"
node S2 "$GS_TMP/s2.json"

P1=$(gs_free_port) P2=$(gs_free_port)
gs_pdns_conf "$GS_TMP/pP" "$SOCK_P" 53 "local-address=$PA" "query-local-address=$PA" \
    primary=yes xfr-cycle-interval=1 only-notify= "also-notify=$S1A:$P1,$S2A:$P2" \
    allow-axfr-ips=127.0.0.0/8
gs_pdns_conf "$GS_TMP/pS1" "$SOCK_S1" "$P1" "local-address=$S1A" secondary=yes \
    xfr-cycle-interval=1
gs_pdns_conf "$GS_TMP/pS2" "$SOCK_S2" "$P2" "local-address=$S2A" secondary=yes \
    autosecondary=yes xfr-cycle-interval=1

# The zone on P: static, steer() and LUA records. refresh 2 s, expire 20 s.
cli P zone create rep.test --ns ns1.rep.test --soa-serial 1 --soa-refresh 2 --soa-retry 1 \
    --soa-expire 20 --kind primary >/dev/null
pu() { gs_pdnsutil "$GS_TMP/pP" "$@" >/dev/null 2>&1 || gs_fail "pdnsutil $*"; }
pu add-record rep.test ns1 A 300 "$PA"
pu add-record rep.test static A 300 192.0.2.200
pu add-record rep.test www LUA "A \"steer('geo')\""
pu add-record rep.test www LUA "AAAA \"steer('geo')\""
gs_expect_contains "S1: secondary created" "secondary of 127.0.53.1" \
    "$(cli S1 zone create rep.test --secondary --primary "$PA")"
gs_expect_contains "S2: autoprimary added" "OK autoprimary 127.0.53.1 ns1.rep.test. added" \
    "$(cli S2 autoprimary add "$PA" ns1.rep.test)"
gs_expect_contains "autoprimary with a port refused" "is not an IP address" \
    "$(cli S2 autoprimary add "$PA:5300" ns1.rep.test 2>&1 || true)"
gs_expect_contains "bad primary refused" "is not an IP address" \
    "$(cli S1 zone create bad.test --secondary --primary ns1.example 2>&1 || true)"

gs_start_pdns "$GS_TMP/pS1" "$P1" "$S1A"
gs_start_pdns "$GS_TMP/pS2" "$P2" "$S2A"
gs_start_pdns "$GS_TMP/pP" 53 "$PA"
# The zone's last record goes in now that P runs: pdns 4.7 reads also-notify
# after its communicator's first pass, so a serial pending at its start is
# not NOTIFYed to also-notify targets (doc/replication.md), and S2 learns of
# the zone only from a NOTIFY.
pu add-record rep.test lua LUA "A \";if country('DE') then return '192.0.2.1' elseif continent('AS') then return '192.0.2.2' elseif country({'US', 'BR'}) then return '192.0.2.3' else return '192.0.2.4' end\""
t0=$(date +%s.%N)
serial_at() { kdig @"$1" -p "$2" +timeout=1 +retry=0 +short rep.test SOA 2>/dev/null | awk '{print $3}'; }
# wait_serial ADDR PORT SERIAL [SECONDS]: prints the seconds since $t0 at
# which ADDR:PORT first answered SERIAL.
wait_serial() {
    local lim=$((${4:-10} * 20))
    for _ in $(seq "$lim"); do
        if [ "$(serial_at "$1" "$2")" = "$3" ]; then
            echo "$(date +%s.%N) - $t0" | bc
            return 0
        fi
        sleep 0.05
    done
    gs_fail "$1:$2 does not serve serial $3 within $((lim / 20)) s (serves '$(serial_at "$1" "$2")')"
}
# (P's own answer may still be its cached SOA: ask its geosteerd)
serial=$(cli P zone list | sed -n 's/^rep\.test\. id=[0-9]* serial=\([0-9]*\) .*/\1/p')
[ -n "$serial" ] || gs_fail "P has no serial for rep.test"
d1=$(wait_serial "$S1A" "$P1" "$serial" 5)
d2=$(wait_serial "$S2A" "$P2" "$serial" 5)
echo "ok: first transfer: S1 serves serial $serial ${d1}s after the commit, S2 (autosecondary) after ${d2}s"
gs_expect_contains "S2 created the zone as a secondary of P" "kind=secondary primaries=127.0.53.1" \
    "$(cli S2 zone list)"

# The same 300 questions to all three nodes: same answers, same scopes.
cat >"$GS_TMP/same.py" <<'PY'
import random, sys
sys.path.insert(0, sys.argv[1])
from kdig_batch import kdig_blocks
nodes = [(sys.argv[2], sys.argv[3]), (sys.argv[4], sys.argv[5]), (sys.argv[6], sys.argv[7])]
rnd = random.Random(int(sys.argv[8]))
qs = []
for i in range(300):
    k = i % 6
    if k in (0, 1, 2):
        a = ".".join(str(rnd.randrange(1, 224)) for _ in range(3)) + ".0/24"
        qs.append(("www.rep.test", "A", a))
    elif k == 3:
        a = "2%03x:%x::/48" % (rnd.randrange(0x1, 0xfff), rnd.randrange(0, 0xffff))
        qs.append(("www.rep.test", "AAAA", a))
    elif k == 4:
        a = ".".join(str(rnd.randrange(1, 224)) for _ in range(3)) + ".0/24"
        qs.append(("lua.rep.test", "A", a))
    else:
        qs.append(("static.rep.test", "A", "198.51.100.0/24"))
def ask(addr, port):
    out = []
    for i in range(0, len(qs), 50):
        batch = qs[i:i + 50]
        argv = ["kdig", "@" + addr, "-p", port, "+timeout=2", "+retry=1"]
        for n, t, s in batch:
            argv += [n, t, "+subnet=" + s]
        blocks, text = kdig_blocks(argv, len(batch))
        if blocks is None:
            sys.exit("kdig output did not split: " + text[-500:])
        for b in blocks:
            rcode = scope = ""
            ans = []
            for line in b.splitlines():
                if "status:" in line:
                    rcode = line.split("status:")[1].split(";")[0].split(",")[0].strip()
                if line.startswith(";; CLIENT-SUBNET:") or "CLIENT-SUBNET" in line:
                    scope = line.strip().split("/")[-1]
                if line and not line.startswith(";") and "\tIN\t" in line.replace(" ", "\t"):
                    f = line.split()
                    if len(f) >= 5 and f[3] in ("A", "AAAA", "CNAME"):
                        ans.append(f[3] + " " + f[4])
            out.append((rcode, scope, tuple(sorted(ans))))
    return out
res = [ask(a, p) for a, p in nodes]
bad = 0
for i, q in enumerate(qs):
    if not (res[0][i] == res[1][i] == res[2][i]):
        bad += 1
        if bad <= 5:
            print("DIFF", q, res[0][i], res[1][i], res[2][i])
empty = sum(1 for r in res[0] if r[0] != "NOERROR" or not r[2])
answers = len(set(r[2] for r in res[0]))
print("compared %d queries x 3 nodes: %d differ; %d distinct answers; %d empty or not NOERROR"
      % (len(qs), bad, answers, empty))
sys.exit(1 if bad or empty or answers < 5 else 0)
PY
out=$(python3 "$GS_TMP/same.py" "$SRC/test/e2e" "$PA" 53 "$S1A" "$P1" "$S2A" "$P2" "${GS_SEED:-$RANDOM}") ||
    gs_fail "nodes disagree: $out"
echo "ok: $out"

# A change on P reaches both secondaries.
t0=$(date +%s.%N)
pu add-record rep.test new A 300 192.0.2.55
serial=$((serial + 1))
d1=$(wait_serial "$S1A" "$P1" "$serial")
d2=$(wait_serial "$S2A" "$P2" "$serial")
gs_expect_eq "S1 answers the new record" 192.0.2.55 "$(kdig @"$S1A" -p "$P1" +short new.rep.test A)"
gs_expect_eq "S2 answers the new record" 192.0.2.55 "$(kdig @"$S2A" -p "$P2" +short new.rep.test A)"
echo "ok: add-record: commit to serial $serial on S1 ${d1}s, on S2 ${d2}s"

# A record S2 cannot compile (steer('extra'): S2's config lacks it): S2
# refuses the whole transfer and keeps serving the old serial; S1 takes it.
old=$serial
t0=$(date +%s.%N)
pu add-record rep.test ex LUA "A \"steer('extra')\""
serial=$((serial + 1))
wait_serial "$S1A" "$P1" "$serial" >/dev/null
gs_wait_log "$GS_TMP/S2/geosteerd.log" "transfer of serial $serial refused" 10 >/dev/null
gs_expect_eq "S2 still serves the old serial" "$old" "$(serial_at "$S2A" "$P2")"
gs_expect_eq "S2 still answers the old records" 192.0.2.55 "$(kdig @"$S2A" -p "$P2" +short new.rep.test A)"
zl=$(cli S2 zone list)
gs_expect_contains "S2 zone list: behind, and why, by policy name" "state=behind" "$zl"
gs_expect_contains "S2 zone list names the policy" "steer('extra'): no such policy" "$zl"
gs_expect_contains "S2 zone list: the refused serial" "transfer=refused transfer_serial=$serial" "$zl"
# status --json: the same kinds, serials and config digest an operator
# compares between nodes; S2's config differs (sha256sum of its file).
js() { cli "$1" status --json | python3 -c "import json,sys; d=json.load(sys.stdin); z=d['zones'][0]; print(d['config']['sha256'], z['kind'], z['serial'], (z.get('transfer') or {}).get('result'), z.get('state'))"; }
gs_expect_eq "P: status --json" "$(sha256sum <"$GS_TMP/full.json" | cut -c1-64) primary $serial None None" "$(js P)"
gs_expect_eq "S1: status --json" "$(sha256sum <"$GS_TMP/full.json" | cut -c1-64) secondary $serial ok serving" "$(js S1)"
gs_expect_eq "S2: status --json: its own config, behind" "$(sha256sum <"$GS_TMP/s2.json" | cut -c1-64) secondary $old refused behind" "$(js S2)"
gs_expect_contains "S2: status says behind, and why" "zone rep.test. secondary serial $old primaries=127.0.53.1" "$(cli S2 status)"
sleep 5 # pdns retries at every refresh (2 s): the refusal is logged once per serial
gs_expect_eq "refusal logged once for serial $serial" 1 \
    "$(grep -c "transfer of serial $serial refused" "$GS_TMP/S2/geosteerd.log")"
# With the policy added, S2 catches up by itself at its next check.
cp "$GS_TMP/full.json" "$GS_TMP/s2.json"
cli S2 reload >/dev/null || gs_fail "S2 reload"
wait_serial "$S2A" "$P2" "$serial" 15 >/dev/null
gs_expect_contains "S2 serving again" "transfer=ok transfer_serial=$serial" "$(cli S2 zone list)"
gs_expect_eq "S2: status --json: the same config as P now" "$(js P | cut -d' ' -f1) secondary $serial ok serving" "$(js S2)"
echo "ok: a refused transfer kept S2 on serial $old; after the config fix S2 took serial $serial"

# NOTIFYs from elsewhere: for a known zone from a non-primary, refused by
# pdns; for an unknown zone from a non-autoprimary, no zone is created.
kdig @"$S1A" -p "$P1" +timeout=2 +retry=0 rep.test NOTIFY >"$GS_TMP/n1" 2>&1 || true
gs_expect_contains "NOTIFY from a non-primary refused" "REFUSED" "$(cat "$GS_TMP/n1")"
kdig @"$S2A" -p "$P2" +timeout=3 +retry=0 other.test NOTIFY >"$GS_TMP/n2" 2>&1 || true
sleep 2
gs_expect_contains "no zone from a stranger's NOTIFY" "OK 1 zone" "$(cli S2 zone list)"

# P down: both keep serving until SOA expire (20 s), then stop answering.
kill "$GS_PDNS_PID"
wait "$GS_PDNS_PID" 2>/dev/null || true
gs_expect_eq "S1 serves with P down" 192.0.2.55 "$(kdig @"$S1A" -p "$P1" +short new.rep.test A)"
t_down=$(date +%s)
for i in $(seq 60); do # a new name each time: no cached answer
    rc=$(kdig @"$S1A" -p "$P1" +timeout=1 +retry=0 "n$i.rep.test" A | sed -n 's/.*status: \([A-Z]*\).*/\1/p')
    [ "$rc" = REFUSED ] && break
    sleep 1
done
gs_expect_eq "S1 expired the zone" REFUSED "$rc"
echo "ok: S1 stopped answering $(($(date +%s) - t_down)) s after P went down (SOA expire 20 s)"
gs_expect_contains "S1 zone list says expired" "state=expired" "$(cli S1 zone list)"
gs_start_pdns "$GS_TMP/pP" 53 "$PA"
# (pdns backs off its failed SOA checks: up to a failure count of seconds)
for _ in $(seq 300); do
    [ "$(kdig @"$S1A" -p "$P1" +short new.rep.test A)" = 192.0.2.55 ] && break
    sleep 0.1
done
gs_expect_eq "S1 serves again once P is back" 192.0.2.55 "$(kdig @"$S1A" -p "$P1" +short new.rep.test A)"
