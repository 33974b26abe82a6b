#!/usr/bin/env bash
# Steering end to end, without GeoIP data: CIDR-driven geo, hashed and
# all-policies behind a real pdns_server with its caches ON, queried with
# kdig +subnet. Checks answers, the ECS scope, that pdns's caches never hand
# one client's answer to another, write-time validation of steer records,
# reload (good, broken, orphaning) and explain.
. "$(dirname "$0")/lib.sh"
gs_require pdns_server pdnsutil kdig python3
DATA=$(cd "$(dirname "$0")" && pwd)/data/steer
cp "$DATA/geosteer.json" "$GS_TMP/geosteer.json"
CFG=$GS_TMP/geosteer.json

gs_start_geosteerd "$GS_TMP/gs" -c "$CFG"
gs_cli zone create steer.test --ns ns1.steer.test --soa-serial 1 >/dev/null
port=$(gs_free_port)
gs_pdns_conf "$GS_TMP/pdns" "$GS_SOCK" "$port" # pdns defaults: packet and query caches on

pu() { gs_pdnsutil "$GS_TMP/pdns" "$@" 2>&1; }
pu add-record steer.test www LUA "A \"steer('web')\"" >/dev/null
pu add-record steer.test www LUA "AAAA \"steer('web')\"" >/dev/null
pu add-record steer.test www TXT '"static-text-beside-steered-types"' >/dev/null
pu add-record steer.test sticky LUA "A \"steer('sticky')\"" >/dev/null
pu add-record steer.test v4 LUA "A \"steer('v4')\"" >/dev/null
pu add-record steer.test cdn LUA "CNAME \"steer('cdn')\"" >/dev/null
pu add-record steer.test luav LUA "A \";if netmask({'203.0.113.0/24'}) then return '192.0.2.77' else return all({'192.0.2.78', '192.0.2.79'}) end\"" >/dev/null
pu add-record steer.test luar LUA "A \"pickrandom({'192.0.2.81'})\"" >/dev/null

# Write-time validation: unknown policy, a type the policy cannot always
# answer, a static record of a steered type.
set +e
out=$(pu add-record steer.test bad LUA "A \"steer('nope')\""); rc1=$?
out2=$(pu add-record steer.test v4 LUA "AAAA \"steer('v4')\""); rc2=$?
out3=$(pu add-record steer.test www A 60 192.0.2.99); rc3=$?
set -e
gs_expect_eq "unknown policy refused" 1 "$rc1"
gs_expect_eq "AAAA from a policy with an A-only endpoint refused" 1 "$rc2"
gs_expect_eq "static A beside a steered A refused" 1 "$rc3"
# LUA records are compiled on write: code outside the subset is refused with
# the column and the reason, which pdnsutil prints.
set +e
out4=$(pu add-record steer.test lua1 LUA "A \"os.execute('reboot')\""); rc4=$?
out5=$(pu add-record steer.test lua2 LUA "A \"pickrandom({'192.0.2.1', '2001:db8::1'})\""); rc5=$?
set -e
gs_expect_eq "free-form Lua refused" 1 "$rc4"
gs_expect_contains "free-form Lua: column and reason" \
    "LUA: column 1: variables are not supported (got 'os')" "$out4"
gs_expect_eq "wrong address family refused" 1 "$rc5"
gs_expect_contains "wrong address family: column and reason" \
    "LUA: column 26: '2001:db8::1' is not an IPv4 address" "$out5"
# steer() inside a conditional chain names a policy as well; a static
# record of a type a compiled LUA record answers is refused, by add-record
# at once and by load-zone at the commit (the whole zone stays as it was).
set +e
out6=$(pu add-record steer.test lua3 LUA "A \";if netmask({'10.0.0.0/8'}) then return steer('nope') else return '192.0.2.1' end\""); rc6=$?
out7=$(pu add-record steer.test luav A 60 192.0.2.99); rc7=$?
cat >"$GS_TMP/clash.zone" <<'ZONE'
steer.test. 3600 IN SOA ns1.steer.test. hostmaster.steer.test. 2 3600 600 86400 300
steer.test. 3600 IN NS ns1.steer.test.
c.steer.test. 60 IN LUA A "pickrandom({'192.0.2.1'})"
c.steer.test. 60 IN A 192.0.2.2
ZONE
out8=$(pu load-zone steer.test "$GS_TMP/clash.zone"); rc8=$?
set -e
gs_expect_eq "steer('nope') inside a chain refused" 1 "$rc6"
gs_expect_contains "steer('nope') inside a chain: the reason" \
    "LUA A: steer('nope'): no such policy in the loaded config" "$out6"
gs_expect_eq "static A beside a compiled LUA A refused" 1 "$rc7"
gs_expect_contains "static A beside a compiled LUA A: the reason" \
    "A is answered by a LUA record at this name" "$out7"
# pdnsutil ignores the result of commitTransaction (exit 0): the refusal
# is in the reason it prints and in the zone left as it was.
gs_expect_eq "load-zone with a static A beside a LUA A: pdnsutil exits 0" 0 "$rc8"
gs_expect_contains "load-zone clash: commitTransaction refused with the reason" \
    "commitTransaction: c.steer.test.: A is answered by a LUA record at this name and cannot also be a static record" "$out8"
zl=$(pu list-zone steer.test </dev/null)
gs_expect_contains "load-zone clash: the zone is unchanged" "luav.steer.test	" "$zl"
case "$zl" in *$'\n'c.steer.test*) gs_fail "load-zone clash: c.steer.test. was loaded" ;; esac
gs_start_pdns "$GS_TMP/pdns" "$port"

# ans SUBNET QNAME TYPE: "sorted answers | scope"
ans() {
    kdig @127.0.0.1 -p "$port" +timeout=2 +retry=0 "$2" "$3" "+subnet=$1" | python3 -c '
import re, sys
t = sys.stdin.read()
recs = sorted(l.split()[-1] for l in t.splitlines() if re.match(r"^\S+\s+\d+\s+IN\s+(A|AAAA|TXT)\s", l))
m = re.search(r"CLIENT-SUBNET: \S+/(\d+)", t)
print(" ".join(recs) + " | scope " + (m.group(1) if m else "-"))'
}

# Several rounds inside the caches' lifetime: each client keeps its own answer.
for round in 1 2 3; do
    gs_expect_eq "EU /24 (round $round)" "192.0.2.10 192.0.2.11 | scope 24" \
        "$(ans 203.0.113.0/24 www.steer.test A)"
    gs_expect_eq "the /25 carved out for the US (round $round)" "198.51.100.10 | scope 24" \
        "$(ans 203.0.113.128/25 www.steer.test A)"
    gs_expect_eq "default elsewhere (round $round)" "198.51.100.10 | scope 1" \
        "$(ans 10.1.2.0/24 www.steer.test A)"
    gs_expect_eq "IPv6 client in the EU /48 (round $round)" "2001:db8::10 2001:db8::11 | scope 48" \
        "$(ans 2001:db8:beef:1::/64 www.steer.test AAAA)"
done
gs_expect_eq "compiled LUA chain: netmask branch, scope of the rule" "192.0.2.77 | scope 24" \
    "$(ans 203.0.113.0/24 luav.steer.test A)"
gs_expect_eq "compiled LUA chain: else branch, one bit past the shared prefix" \
    "192.0.2.78 192.0.2.79 | scope 1" "$(ans 10.1.2.0/24 luav.steer.test A)"
gs_expect_eq "compiled LUA pickrandom: client-independent, scope 0" "192.0.2.81 | scope 0" \
    "$(ans 10.1.2.0/24 luar.steer.test A)"
gs_expect_eq "static TXT at a steered name is not scoped" '"static-text-beside-steered-types" | scope 0' \
    "$(ans 203.0.113.0/24 www.steer.test TXT)"
gs_expect_eq "all-policy: every endpoint, client-independent" "198.51.100.10 198.51.100.99 | scope 0" \
    "$(ans 203.0.113.0/24 v4.steer.test A)"
a1=$(ans 198.18.7.0/24 sticky.steer.test A)
a2=$(ans 198.18.7.0/24 sticky.steer.test A)
gs_expect_eq "hashed: sticky per client /24" "$a1" "$a2"
gs_expect_contains "hashed: scope is the hash prefix" "| scope 24" "$a1"

# a steered CNAME: the target follows the client, with the scope
cname() { kdig @127.0.0.1 -p "$port" +timeout=2 +retry=0 cdn.steer.test CNAME "+subnet=$1" +noall +answer +opt | grep -E 'CNAME|SUBNET' | awk '{print $NF}' | tr '\n' ' '; }
gs_expect_eq "steered CNAME, EU client" "203.0.113.0/24/24 eu.cdn.example.net. " "$(cname 203.0.113.0/24)"
gs_expect_eq "steered CNAME, other client" "10.1.2.0/24/1 us.cdn.example.net. " "$(cname 10.1.2.0/24)"

# explain
out=$(gs_cli explain www.steer.test 203.0.113.7/32 A)
gs_expect_contains "explain: policy" "policy: web (geo, ttl 30)" "$out"
gs_expect_contains "explain: pool" "-> pool eu" "$out"
gs_expect_contains "explain: scope (capped at /24)" "scope: /24" "$out"
gs_expect_contains "explain via backend-cmd" "pick: eu1 192.0.2.10" \
    "$(pu backend-cmd remote 'explain www.steer.test 203.0.113.7 A')"

# operator overrides: applied on the next query, shown by status and explain,
# expiring on time, persisted across a restart
gs_expect_contains "drain" "OK eu1: drain" "$(gs_cli drain eu1)"
gs_expect_eq "drained endpoint gone from the next answer" "192.0.2.11 | scope 24" \
    "$(ans 203.0.113.0/24 www.steer.test A)"
gs_expect_contains "status lists the override" "override eu1 drain" "$(gs_cli status)"
gs_expect_contains "explain shows the admin state" "candidate: eu1 weight 1 health not monitored admin drained" \
    "$(gs_cli explain www.steer.test 203.0.113.7 A)"
gs_expect_contains "force-down with expiry" "OK eu2: force-down until" "$(gs_cli force-down eu2 for 3s)"
gs_expect_eq "both EU endpoints out: all_down=all answers the policy's candidates the operator left in" \
    "198.51.100.10 | scope 24" "$(ans 203.0.113.0/24 www.steer.test A)"
sleep 3.2
gs_expect_eq "expired force-down no longer applies" "192.0.2.11 | scope 24" \
    "$(ans 203.0.113.0/24 www.steer.test A)"
out=$(gs_cli status)
gs_expect_contains "status still lists the live override" "override eu1 drain" "$out"
gs_expect_eq "status no longer lists the expired override" "" "$(echo "$out" | grep 'override eu2' || true)"
set +e
out=$(gs_cli drain nosuch); rc=$?
set -e
gs_expect_eq "drain of an unknown endpoint: exit status" 1 "$rc"
gs_expect_contains "drain of an unknown endpoint: reason" "no endpoint 'nosuch' in the loaded config" "$out"
kill -TERM "$GS_DAEMON_PID"
wait "$GS_DAEMON_PID" 2>/dev/null || true
gs_start_geosteerd "$GS_TMP/gs" -c "$CFG"
if [ "$GS_PDNS_MODE" = pipe ]; then
    # pdns 4.7's pipe backend does not reconnect (t_pipe, doc/pipe.md).
    gs_stop "$GS_PDNS_PID"
    gs_start_pdns "$GS_TMP/pdns" "$port"
fi
for _ in 1 2 3 4 5 6; do ans 203.0.113.0/24 www.steer.test A >/dev/null || true; done # reconnects
gs_expect_eq "the drain survives a restart" "192.0.2.11 | scope 24" \
    "$(ans 203.0.113.0/24 www.steer.test A)"
gs_expect_contains "undrain" "OK eu1: override removed" "$(gs_cli undrain eu1)"
gs_expect_eq "undrained endpoint back on the next query" "192.0.2.10 192.0.2.11 | scope 24" \
    "$(ans 203.0.113.0/24 www.steer.test A)"

# reload: a broken file is refused and the old config keeps serving
echo '{"policies": {' >"$CFG"
set +e
out=$(gs_cli reload); rc=$?
set -e
gs_expect_eq "broken reload exit status" 1 "$rc"
gs_expect_contains "broken reload reason" "ERR reload refused" "$out"
gs_expect_eq "still serving after a refused reload" "192.0.2.10 192.0.2.11 | scope 24" \
    "$(ans 203.0.113.0/24 www.steer.test A)"
# a config without the 'sticky' policy would orphan a record: refused
python3 - "$DATA/geosteer.json" "$CFG" <<'PY'
import json, sys
c = json.load(open(sys.argv[1])); del c["policies"]["sticky"]
json.dump(c, open(sys.argv[2], "w"))
PY
set +e
out=$(gs_cli reload); rc=$?
set -e
gs_expect_eq "orphaning reload refused" 1 "$rc"
gs_expect_contains "orphaning reload names the record" "sticky.steer.test.: LUA A record: steer('sticky')" "$out"
# a good change: EU clients now get the US pool; SIGHUP reloads too
python3 - "$DATA/geosteer.json" "$CFG" <<'PY'
import json, sys
c = json.load(open(sys.argv[1])); c["pools"]["eu"]["endpoints"] = ["eu2"]
json.dump(c, open(sys.argv[2], "w"))
PY
kill -HUP "$GS_DAEMON_PID"
for _ in $(seq 50); do
    [ "$(ans 203.0.113.0/24 www.steer.test A)" = "192.0.2.11 | scope 24" ] && break
    sleep 0.1
done
gs_expect_eq "SIGHUP reload takes effect on the next query" "192.0.2.11 | scope 24" \
    "$(ans 203.0.113.0/24 www.steer.test A)"
