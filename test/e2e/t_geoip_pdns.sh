#!/usr/bin/env bash
# A database made by `geosteer geoip build` read by pdns's own geoip backend
# (libmaxminddb): LUA records using latlon() and pickclosest() answered by
# pdns_server (launch=bind,geoip, enable-lua-records) must see each
# country's coordinate, not 0,0 (pdns takes a location only with its
# accuracy_radius), and geosteer's pickclosest over the same file picks the
# same addresses.
. "$(dirname "$0")/lib.sh"
gs_require pdns_server pdnsutil kdig python3
ls /usr/lib/*/pdns/libgeoipbackend.so >/dev/null 2>&1 ||
    gs_skip "pdns-backend-geoip is not installed (CI installs it; see scripts/setup.sh)"
TSV=$GS_SOURCE_DIR/geo/data/countries.tsv

# Range files in tor-geoipdb's format, documentation/private prefixes only.
cat >"$GS_TMP/geoip" <<'R'
# Generated: Thu, 25 Jun 2026 04:33:59 GMT
3221225984,3221226239,DE
3325256704,3325256959,JP
3405803776,3405804031,FR
167837696,167903231,KR
R
printf '# Generated: Thu, 25 Jun 2026 04:33:59 GMT\n2001:db8:1::,2001:db8:1:ffff:ffff:ffff:ffff:ffff,US\n' >"$GS_TMP/geoip6"
"$GEOSTEER" geoip build --v4 "$GS_TMP/geoip" --v6 "$GS_TMP/geoip6" -o "$GS_TMP/c.mmdb" >/dev/null

ZF=$GS_TMP/g.test.zone
cat >"$ZF" <<'ZONE'
$ORIGIN g.test.
$TTL 300
@   IN SOA ns1 hostmaster 1 3600 600 86400 300
    IN NS  ns1
ns1 IN A   192.0.2.53
ll  IN LUA TXT "latlon()"
pc  IN LUA A "pickclosest({'192.0.2.1', '198.51.100.1'})"
ZONE
CACHE_OFF=(cache-ttl=0 query-cache-ttl=0 negquery-cache-ttl=0)

lport=$(gs_free_port)
gs_pdns_lua_conf "$GS_TMP/lua" "$lport" g.test "$ZF" "$GS_TMP/c.mmdb"
gs_start_pdns "$GS_TMP/lua" "$lport"

# ask PORT NAME TYPE CLIENT: the answer for an ECS client (one line).
ask() {
    kdig @127.0.0.1 -p "$1" +timeout=2 +retry=1 +short +subnet="$4/32" "$2.g.test" "$3" | tr -d '"' |
        tr '\n' ' ' | sed 's/ $//'
}
# coord CC: "LAT LON" of a country in the table the database is built from.
coord() { awk -F'\t' -v c="$1" '$1 == c { print $3, $4 }' "$TSV"; }

for c in "203.0.113.7 FR" "10.1.2.3 KR" "192.0.2.77 DE"; do
    set -- $c
    got=$(ask "$lport" ll TXT "$1")
    python3 - "$got" "$(coord "$2")" "$1 ($2)" <<'PY'
import sys
got, want, who = sys.argv[1], sys.argv[2], sys.argv[3]
try:
    g = [float(x) for x in got.split()[:2]]
except ValueError:
    sys.exit(f"FAIL: pdns latlon() for {who}: unexpected answer '{got}'")
w = [float(x) for x in want.split()]
if g == [0.0, 0.0] or abs(g[0] - w[0]) > 1e-3 or abs(g[1] - w[1]) > 1e-3:
    sys.exit(f"FAIL: pdns latlon() for {who} is '{got}', expected {w}")
print(f"ok: pdns latlon() for {who}: {got}")
PY
done

gs_expect_eq "pdns pickclosest: a client in FR gets the DE address" "192.0.2.1" "$(ask "$lport" pc A 203.0.113.7)"
gs_expect_eq "pdns pickclosest: a client in KR gets the JP address" "198.51.100.1" "$(ask "$lport" pc A 10.1.2.3)"

# geosteer over the same file: the same picks.
cat >"$GS_TMP/geosteer.json" <<JSON
{"settings": {"runtime_dir": "$GS_TMP/run", "geoip": {"database": "$GS_TMP/c.mmdb"}}}
JSON
gs_start_geosteerd "$GS_TMP/gs" -c "$GS_TMP/geosteer.json"
gs_cli zone create g.test --ns ns1.g.test --soa-serial 1 >/dev/null
grep -v latlon "$ZF" >"$GS_TMP/g2.zone" # latlon() has no geosteer equivalent
gport=$(gs_free_port)
while [ "$gport" = "$lport" ]; do gport=$(gs_free_port); done
gs_pdns_conf "$GS_TMP/pdns" "$GS_SOCK" "$gport" "${CACHE_OFF[@]}"
gs_pdnsutil "$GS_TMP/pdns" load-zone g.test "$GS_TMP/g2.zone" >"$GS_TMP/load.log" 2>&1 ||
    gs_fail "load-zone into geosteer failed: $(cat "$GS_TMP/load.log")"
gs_start_pdns "$GS_TMP/pdns" "$gport"
for client in 203.0.113.7 10.1.2.3 192.0.2.77; do
    gs_expect_eq "geosteer and pdns pick alike for $client" "$(ask "$lport" pc A $client)" "$(ask "$gport" pc A $client)"
done
if grep -Eq 'AddressSanitizer|runtime error' "$GS_TMP/gs/geosteerd.log"; then gs_fail "sanitizer report in geosteerd.log"; fi
echo "PASS"
