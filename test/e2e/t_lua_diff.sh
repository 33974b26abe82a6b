#!/usr/bin/env bash
# Differential test against PowerDNS itself (issue 5, point 6). One zone file
# of LUA records is served twice, from the same GeoIP data:
#   pdns_server launch=bind,geoip with enable-lua-records=yes (pdns runs the
#     Lua; its geoip backend gives country()/continent()/region()/asnum() the
#     mmdb files), and
#   pdns_server launch=remote + geosteerd + geosteer-probe, the zone loaded
#     with pdnsutil load-zone (geosteer compiles the records).
# Both are asked the same questions with kdig +subnet over hundreds of ECS
# sources of both families (test/e2e/luadiff.py): the deterministic
# constructs give identical answers, the random ones the same answers in the
# right proportions, with every health target up and again with local HTTP
# servers stopped. The documented differences (doc/lua-records.md, "Moving from LUA
# records") are asserted as such: ECS scope, pickwhashed's walking order,
# hashing of sources longer than /24, and checks from the commit on instead
# of from the first query.
. "$(dirname "$0")/lib.sh"
gs_require pdns_server pdnsutil kdig python3
: "${GEOSTEER_PROBE:?}" "${GS_MKMMDB:?GS_MKMMDB must point to the gs_mkmmdb binary}"
[ -f /usr/lib/x86_64-linux-gnu/pdns/libgeoipbackend.so ] || ls /usr/lib/*/pdns/libgeoipbackend.so >/dev/null 2>&1 ||
    gs_skip "pdns-backend-geoip is not installed (CI installs it; see scripts/setup.sh)"
HERE=$(cd "$(dirname "$0")" && pwd)
diffpy() { python3 "$HERE/luadiff.py" "$@"; }

# ---- GeoIP data, written by our own tool from a generated description ----------
diffpy geo "$GS_TMP"
"$GS_MKMMDB" "$GS_TMP/geo.mmdb" <"$GS_TMP/geo.txt"
"$GS_MKMMDB" "$GS_TMP/asn.mmdb" <"$GS_TMP/asn.txt"

# ---- health targets: one HTTP server per loopback address, all on one port --------
hport=$(gs_free_port)
mkdir -p "$GS_TMP/www"
echo "geosteer-ok" >"$GS_TMP/www/health"
declare -A WEB
web() { # ADDR: starts (again) the HTTP server on ADDR:$hport
    "$GS_PY" -m http.server --bind "$1" --directory "$GS_TMP/www" "$hport" >>"$GS_TMP/web-$1.log" 2>&1 &
    WEB[$1]=$!
    gs_register "$!"
    for _ in $(seq 50); do
        python3 -c 'import socket,sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), 1)' "$1" "$hport" \
            2>/dev/null && return 0
        sleep 0.1
    done
    gs_fail "HTTP server on $1:$hport did not come up"
}
for a in 127.0.1.1 127.0.1.2 127.0.1.3 127.0.1.4; do web "$a"; done

# ---- the zone -------------------------------------------------------------------------
H="interval=2, timeout=1"
ZF=$GS_TMP/d.test.zone
cat >"$ZF" <<ZONE
\$ORIGIN d.test.
\$TTL 300
@      IN SOA ns1 hostmaster 1 3600 600 86400 300
       IN NS  ns1
ns1    IN A   192.0.2.53
eu     IN A   192.0.2.101
world  IN A   192.0.2.102
geo    IN LUA A ";if country('DE') then return '192.0.2.1' elseif continent('AS') then return '192.0.2.2' elseif country({'US', 'BR'}) then return '192.0.2.3' else return '192.0.2.4' end"
geo6   IN LUA AAAA ";if continent({'EU', 'AF'}) then return '2001:db8:ffff::e' elseif continent('NA') then return '2001:db8:ffff::a' else return '2001:db8:ffff::f' end"
reg    IN LUA A ";if region('BY') or region('CA') then return '192.0.2.5' elseif region({'NY', 'TX', 'SP'}) then return '192.0.2.6' else return '192.0.2.7' end"
asn    IN LUA A ";if asnum(64501) then return '192.0.2.8' elseif asnum({64502, 64503}) then return '192.0.2.9' else return '192.0.2.10' end"
nm     IN LUA A ";if netmask({'10.1.0.0/16', '10.20.128.0/17', '2001:db8:100::/40'}) then return '192.0.2.11' else return '192.0.2.12' end"
mix    IN LUA A ";if (country('FR') or netmask({'10.5.0.0/16'})) and not asnum(64500) then return '192.0.2.13' elseif not (continent('EU') or continent('NA')) then return '192.0.2.14' else return '192.0.2.15' end"
view   IN LUA A "view({{{'10.0.0.0/12'}, {'192.0.2.16'}}, {{'10.16.0.0/12', '2001:db8::/36'}, {'192.0.2.17'}}, {{'0.0.0.0/0', '::/0'}, {'192.0.2.18'}}})"
allv   IN LUA A "all({'192.0.2.19', '192.0.2.20'})"
ph     IN LUA A "pickhashed({'192.0.2.21', '192.0.2.22', '192.0.2.23', '192.0.2.24', '192.0.2.25'})"
pw     IN LUA A "pickwhashed({{1, '192.0.2.26'}, {3, '192.0.2.27'}, {2, '192.0.2.28'}})"
pwrev  IN LUA A "pickwhashed({{2, '192.0.2.28'}, {3, '192.0.2.27'}, {1, '192.0.2.26'}})"
cn     IN LUA CNAME ";if continent('EU') then return 'eu.d.test.' else return 'world.d.test.' end"
txt    IN LUA TXT ";if country('JP') then return 'konnichiwa' else return 'hello' end"
lit    IN LUA A ";return '192.0.2.29'"
rnd    IN LUA A "pickrandom({'192.0.2.31', '192.0.2.32', '192.0.2.33'})"
rnd6   IN LUA AAAA "pickrandom({'2001:db8:ffff::1', '2001:db8:ffff::2'})"
wr     IN LUA A "pickwrandom({{1, '192.0.2.41'}, {3, '192.0.2.42'}})"
rs     IN LUA A "pickrandomsample(2, {'192.0.2.51', '192.0.2.52', '192.0.2.53'})"
vr     IN LUA A "view({{{'10.32.0.0/11'}, {'192.0.2.61', '192.0.2.62'}}, {{'0.0.0.0/0'}, {'192.0.2.63'}}})"
hp     IN LUA A "ifportup($hport, {'127.0.1.1', '127.0.1.2', '127.0.1.3'}, {selector='all', $H})"
hu     IN LUA A "ifurlup('http://svc.d.test:$hport/health', {{'127.0.1.1', '127.0.1.2'}, {'127.0.1.3', '127.0.1.4'}}, {selector='all', stringmatch='geosteer-ok', $H})"
hh     IN LUA A "ifportup($hport, {'127.0.1.1', '127.0.1.2', '127.0.1.3'}, {selector='hashed', $H})"
hs     IN LUA A "ifportup($hport, {'127.0.1.2', '127.0.1.9'}, {$H})"
hr     IN LUA A "ifportup($hport, {'127.0.1.1', '127.0.1.2', '127.0.1.3'}, {$H})"
ZONE
CACHE_OFF=(cache-ttl=0 query-cache-ttl=0 negquery-cache-ttl=0)

# ---- pdns with its own LUA records ------------------------------------------------------
lport=$(gs_free_port)
gs_pdns_lua_conf "$GS_TMP/lua" "$lport" d.test "$ZF" "$GS_TMP/geo.mmdb $GS_TMP/asn.mmdb" \
    lua-health-checks-interval=1
gs_start_pdns "$GS_TMP/lua" "$lport"

# ---- pdns + geosteerd + geosteer-probe -----------------------------------------------------
RUN=$GS_TMP/run
cat >"$GS_TMP/geosteer.json" <<JSON
{"settings": {"runtime_dir": "$RUN",
  "geoip": {"database": "$GS_TMP/geo.mmdb", "asn_database": "$GS_TMP/asn.mmdb"}}}
JSON
gs_start_geosteerd "$GS_TMP/gs" -c "$GS_TMP/geosteer.json"
gs_start_probe "$RUN"
gs_cli zone create d.test --ns ns1.d.test --soa-serial 1 >/dev/null
gport=$(gs_free_port)
while [ "$gport" = "$lport" ]; do gport=$(gs_free_port); done
gs_pdns_conf "$GS_TMP/pdns" "$GS_SOCK" "$gport" "${CACHE_OFF[@]}"
gs_pdnsutil "$GS_TMP/pdns" load-zone d.test "$ZF" >"$GS_TMP/load.log" 2>&1 ||
    gs_fail "load-zone into geosteer failed: $(cat "$GS_TMP/load.log")"
gs_start_pdns "$GS_TMP/pdns" "$gport"

# short NAME PORT: the sorted plain answer (no ECS)
short() { kdig @127.0.0.1 -p "$2" +timeout=2 +retry=1 +short "$1.d.test" A | sort | tr '\n' ' ' | sed 's/ $//'; }
# converge WANT NAME...: waits until both servers answer WANT for every NAME.
converge() {
    local want=$1 n ok
    shift
    for _ in $(seq 100); do
        ok=1
        for n in "$@"; do
            [ "$(short "$n" "$lport")" = "$want" ] && [ "$(short "$n" "$gport")" = "$want" ] || { ok=0; break; }
        done
        [ "$ok" = 1 ] && return 0
        sleep 0.2
    done
    gs_fail "no convergence on '$want' for $*: pdns LUA '$(short "$n" "$lport")', geosteer '$(short "$n" "$gport")'"
}

# ---- documented difference: checked from the commit, not from the first query -------------
for _ in $(seq 50); do
    [ "$(short hp "$gport")" = "127.0.1.1 127.0.1.2 127.0.1.3" ] && break
    sleep 0.1
done
gs_expect_eq "geosteer: hp answered from health checked since the commit, before any query" \
    "127.0.1.1 127.0.1.2 127.0.1.3" "$(short hp "$gport")"
first=$(short hp "$lport")
case "$first" in
127.0.1.[123]) echo "ok: pdns LUA: the first query of hp starts its checks and gets the backupSelector's one address ($first)" ;;
*) gs_fail "pdns LUA: expected one address from the backupSelector on the first query, got '$first'" ;;
esac
# Warm pdns's checks (each record's options are a check of their own there).
for n in hp hu hh hs hr; do short "$n" "$lport" >/dev/null; done
converge "127.0.1.1 127.0.1.2 127.0.1.3" hp
converge "127.0.1.1 127.0.1.2" hu
converge "127.0.1.2" hs
sleep 2 # one more check round for the rest

# ---- all targets up ----------------------------------------------------------------------
diffpy phase "$lport" "$gport" static "$GS_TMP"
third=0.3333333333
diffpy phase "$lport" "$gport" health "$GS_TMP" "{\"det\": [\"hp\", \"hu\", \"hh\", \"hs\"], \"depends\": [\"hh\"],
  \"random\": {\"hr\": {\"127.0.1.1\": $third, \"127.0.1.2\": $third, \"127.0.1.3\": $third}}}"
echo "ok: phase 1 (every target up) done"

# ---- 127.0.1.2 stopped ---------------------------------------------------------------------
gs_stop "${WEB[127.0.1.2]}"
converge "127.0.1.1 127.0.1.3" hp
converge "127.0.1.1" hu
sleep 2
diffpy phase "$lport" "$gport" health "$GS_TMP" '{"det": ["hp", "hu", "hh"], "depends": ["hh"],
  "random": {"hr": {"127.0.1.1": 0.5, "127.0.1.3": 0.5}, "hs": {"127.0.1.2": 0.5, "127.0.1.9": 0.5}}}'
echo "ok: phase 2 (127.0.1.2 down) done"

# ---- 127.0.1.1 stopped too: ifurlup moves to its second address set --------------------------
gs_stop "${WEB[127.0.1.1]}"
converge "127.0.1.3" hp
converge "127.0.1.3 127.0.1.4" hu
sleep 2
diffpy phase "$lport" "$gport" health "$GS_TMP" '{"det": ["hp", "hu", "hh", "hr"],
  "random": {"hs": {"127.0.1.2": 0.5, "127.0.1.9": 0.5}}}'
echo "ok: phase 3 (127.0.1.1 and .2 down) done"

# ---- both back ------------------------------------------------------------------------------
web 127.0.1.1
web 127.0.1.2
converge "127.0.1.1 127.0.1.2 127.0.1.3" hp
converge "127.0.1.1 127.0.1.2" hu
sleep 2
diffpy phase "$lport" "$gport" health "$GS_TMP" '{"det": ["hp", "hu", "hh", "hs"], "depends": ["hh"]}'
echo "ok: phase 4 (all back) done"

for f in "$GS_TMP/gs/geosteerd.log" "$RUN/probe.log"; do
    if grep -Eq 'AddressSanitizer|runtime error' "$f"; then gs_fail "sanitizer report in $f"; fi
done
echo "PASS"
