#!/usr/bin/env bash
# Proximity steering over a small GeoIP database built with `geosteer geoip
# build` (country coordinates come from geo/data/countries.tsv): the nearest
# endpoint by great-circle distance, nearest-N, a per-pool bias, and the
# scope following the database's networks. Read with `geosteer explain`.
. "$(dirname "$0")/lib.sh"
gs_require python3

ip2int() { python3 -c 'import ipaddress,sys;print(int(ipaddress.IPv4Address(sys.argv[1])))' "$1"; }
{
    echo "$(ip2int 198.51.100.0),$(ip2int 198.51.100.255),DE"
    echo "$(ip2int 203.0.113.0),$(ip2int 203.0.113.255),JP"
    echo "$(ip2int 192.0.2.0),$(ip2int 192.0.2.255),US"
} >"$GS_TMP/r.v4"
echo "2001:db8::,2001:db8::ffff,BR" >"$GS_TMP/r.v6"
"$GEOSTEER" geoip build --v4 "$GS_TMP/r.v4" --v6 "$GS_TMP/r.v6" -o "$GS_TMP/geo.mmdb" >/dev/null

cfg() { # cfg BIAS_EUROPE_KM
    cat >"$GS_TMP/geosteer.json" <<JSON
{
  "settings": {"geoip": {"database": "$GS_TMP/geo.mmdb", "max_age_days": 3650}},
  "endpoints": {
    "fra": {"a": ["192.0.2.10"], "location": [50.11, 8.68]},
    "nyc": {"a": ["192.0.2.20"], "location": [40.71, -74.01]},
    "tyo": {"a": ["192.0.2.30"], "location": [35.68, 139.69]},
    "gru": {"a": ["192.0.2.40"], "location": [-23.55, -46.63]}
  },
  "pools": {"europe": {"endpoints": ["fra"]}, "america": {"endpoints": ["nyc", "gru"]},
            "asia": {"endpoints": ["tyo"]}},
  "policies": {
    "near": {"type": "proximity", "pools": ["europe", "america", "asia"],
             "bias": {"europe": $1}, "ttl": 20},
    "near2": {"type": "proximity", "pools": ["europe", "america", "asia"], "nearest": 2}
  }
}
JSON
}
cfg 0
gs_start_geosteerd "$GS_TMP/gs" -c "$GS_TMP/geosteer.json"
gs_cli zone create p.test --ns ns1.p.test --soa-serial 1 >/dev/null
python3 - "$GS_SOCK" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); f = s.makefile()
def call(m, **p):
    s.sendall((json.dumps({"method": m, "parameters": p}) + "\n").encode())
    return json.loads(f.readline())
assert call("startTransaction", domain="p.test.", domain_id=-1, trxid=1)["result"]
for name, pol in (("www", "near"), ("two", "near2")):
    r = call("replaceRRSet", domain_id=1, qname=name + ".p.test.", qtype="LUA", trxid=1,
             rrset=[{"qname": name + ".p.test.", "qtype": "LUA",
                     "content": "A \"steer('%s')\"" % pol, "ttl": 60}])
    assert r["result"], r
assert call("commitTransaction", trxid=1)["result"]
PY
picks() { gs_cli explain "$1" "$2" A | sed -n 's/^pick: \([a-z]*\).*/\1/p' | tr '\n' ' '; }
scope() { gs_cli explain "$1" "$2" A | sed -n 's/^scope: \/\([0-9]*\).*/\1/p'; }

gs_expect_eq "German client: Frankfurt" "fra " "$(picks www.p.test 198.51.100.7)"
gs_expect_eq "Japanese client: Tokyo" "tyo " "$(picks www.p.test 203.0.113.7)"
gs_expect_eq "US client: New York" "nyc " "$(picks www.p.test 192.0.2.7)"
gs_expect_eq "Brazilian client (IPv6): Sao Paulo" "gru " "$(picks www.p.test 2001:db8::7)"
gs_expect_eq "nearest 2 for Germany: Frankfurt, then New York" "fra nyc " "$(picks two.p.test 198.51.100.7)"
gs_expect_eq "unknown location: pools in listed order" "fra " "$(picks www.p.test 10.0.0.1)"
s=$(scope www.p.test 198.51.100.7)
[ "$s" -ge 1 ] && [ "$s" -le 24 ] || gs_fail "scope $s out of 1..24"
echo "ok: scope /$s for the German client"

# A bias of +7000 km on Europe sends German clients across the Atlantic.
cfg 7000
gs_expect_contains "reload with a bias" "OK config reloaded" "$(gs_cli reload)"
gs_expect_eq "biased: German client to New York" "nyc " "$(picks www.p.test 198.51.100.7)"
gs_expect_eq "biased: Japanese client still Tokyo" "tyo " "$(picks www.p.test 203.0.113.7)"
