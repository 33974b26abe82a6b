#!/usr/bin/env bash
# `geosteer geoip update` (issue 12, point 8b) against a local HTTP server
# (test/e2e/geoip_http.py) while geosteerd serves the database it replaces:
#   - a good database replaces the installed one (content hash) and geosteerd
#     answers from it without a reload (`geosteer explain`);
#   - a second run sends If-None-Match, gets 304 and leaves the file alone
#     (inode and mtime unchanged);
#   - truncated, corrupt (random bytes, gzip of garbage, truncated gzip),
#     empty, wrong-kind (an ASN database), incomplete (no country for
#     8.8.8.8) and missing (404) files, and one over --max-size, are refused
#     with exit status and message; the installed database stays
#     byte-identical, geosteerd keeps its answer, no temporary file is left;
#   - a gzip'd file behind a redirect is installed;
#   - a %Y-%m URL whose month is not published (404) falls back to last
#     month's file;
#   - a database replaced by something else since (as `geoip build` does)
#     makes the next request unconditional.
. "$(dirname "$0")/lib.sh"
gs_require python3 gzip sha256sum
: "${GS_MKMMDB:?GS_MKMMDB must point to the gs_mkmmdb binary}"

# Databases. Every complete one knows the well-known addresses the command
# checks; old and new disagree about 198.51.100.0/24 (DE, then US).
mk() { # mk NAME CC-of-198.51.100.0/24
    cat >"$GS_TMP/$1.txt" <<EOF
8.8.8.0/24 country=US continent=NA
9.9.9.0/24 country=US continent=NA
1.1.1.0/24 country=AU continent=OC
2001:4860::/32 country=US continent=NA
198.51.100.0/24 country=$2 continent=$([ "$2" = DE ] && echo EU || echo NA)
EOF
    "$GS_MKMMDB" "$GS_TMP/$1.mmdb" <"$GS_TMP/$1.txt"
}
www=$GS_TMP/www
mkdir -p "$www/files" "$GS_TMP/var"
files=$www/files
mk old DE
mk new US
cp "$GS_TMP/new.mmdb" "$files/new.mmdb"
gzip -c "$GS_TMP/old.mmdb" >"$files/old.mmdb.gz"
head -c $(($(stat -c %s "$GS_TMP/new.mmdb") / 2)) "$GS_TMP/new.mmdb" >"$files/truncated.mmdb"
head -c 20000 /dev/urandom >"$files/random.mmdb"
head -c 20000 /dev/urandom | gzip -c >"$files/garbage.mmdb.gz"
gzip -c "$GS_TMP/new.mmdb" >"$GS_TMP/new.mmdb.gz"
head -c $(($(stat -c %s "$GS_TMP/new.mmdb.gz") / 2)) "$GS_TMP/new.mmdb.gz" >"$files/truncated.mmdb.gz"
: >"$files/empty.mmdb"
printf '8.8.8.0/24 asn=15169\n9.9.9.0/24 asn=19281\n1.1.1.0/24 asn=13335\n' |
    "$GS_MKMMDB" "$files/asn.mmdb"
printf '198.51.100.0/24 country=FR continent=EU\n' | "$GS_MKMMDB" "$files/partial.mmdb"
head -c $((2 * 1024 * 1024 + 1)) /dev/zero >"$files/big.mmdb"
last_month=$(python3 -c 'import time; t=time.gmtime(); m=t.tm_year*12+t.tm_mon-2; print("%04d-%02d" % (m//12, m%12+1))')
cp "$GS_TMP/new.mmdb.gz" "$files/dated-$last_month.mmdb.gz"

"$GS_PY" "$(dirname "$0")/geoip_http.py" --dir "$www" >"$www/server.log" 2>&1 &
gs_register $!
for _ in $(seq 200); do [ -f "$www/port" ] && break; sleep 0.05; done
[ -f "$www/port" ] || gs_fail "geoip_http.py did not start; see $www/server.log"
base=http://127.0.0.1:$(cat "$www/port")

# geosteerd serving the installed database.
db=$GS_TMP/var/geoip.mmdb
cp "$GS_TMP/old.mmdb" "$db"
cat >"$GS_TMP/geosteer.json" <<JSON
{
  "settings": {"geoip": {"database": "$db", "max_age_days": 3650}},
  "endpoints": {"eu1": {"a": ["192.0.2.10"]}, "us1": {"a": ["198.51.100.10"]}},
  "pools": {"eu": {"endpoints": ["eu1"]}, "us": {"endpoints": ["us1"]}},
  "policies": {"web": {"type": "geo", "rules": [{"country": "DE", "pool": "eu"},
                                                {"country": "US", "pool": "us"}],
                       "default": "eu"}}
}
JSON
gs_start_geosteerd "$GS_TMP/gs" -c "$GS_TMP/geosteer.json"
gs_cli zone create u.test --ns ns1.u.test --soa-serial 1 >/dev/null
python3 - "$GS_SOCK" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
def call(m, **p):
    s.sendall((json.dumps({"method": m, "parameters": p}) + "\n").encode())
    return json.loads(s.makefile().readline())
assert call("startTransaction", domain="u.test.", domain_id=-1, trxid=1)["result"]
r = call("replaceRRSet", domain_id=1, qname="www.u.test.", qtype="LUA", trxid=1,
         rrset=[{"qname": "www.u.test.", "qtype": "LUA", "content": "A \"steer('web')\"", "ttl": 60}])
assert r["result"], r
assert call("commitTransaction", trxid=1)["result"]
PY
pick() { gs_cli explain www.u.test 198.51.100.7 A | sed -n 's/^pick: \([a-z0-9]*\).*/\1/p'; }
wait_pick() { # wait_pick WANT WHAT: polls up to 30 s
    for _ in $(seq 300); do
        [ "$(pick)" = "$1" ] && { echo "ok: $2"; return 0; }
        sleep 0.1
    done
    gs_fail "$2: geosteerd still picks $(pick), not $1"
}
hash() { sha256sum "$1" | cut -d' ' -f1; }
ident() { stat -c '%i %Y %s' "$1"; }
last_request() { tail -n 1 "$www/requests.log"; }
req_field() { # req_field EXPR: a field of the last request, e.g. headers.get("if-none-match")
    last_request | python3 -c "import json,sys; r=json.load(sys.stdin); print(r$1)"
}
no_temp_files() {
    local left
    left=$(find "$GS_TMP/var" -name '.*.new.*')
    [ -z "$left" ] || gs_fail "temporary files left behind: $left"
}
# update ARGS...: runs the command, sets rc and out (stdout and stderr).
update() {
    set +e
    out=$("$GEOSTEER" geoip update -o "$db" "$@" 2>&1)
    rc=$?
    set -e
}
gs_expect_eq "initial database: DE" "eu1" "$(pick)"

echo "== a good database replaces the installed one; geosteerd serves it"
update --url "$base/new.mmdb"
gs_expect_eq "good file: exit 0 ($out)" 0 "$rc"
gs_expect_contains "good file: reported" "installed $db from $base/new.mmdb" "$out"
gs_expect_eq "good file: installed byte for byte" "$(hash "$GS_TMP/new.mmdb")" "$(hash "$db")"
gs_expect_eq "first request is unconditional" "None" "$(req_field '["headers"].get("if-none-match")')"
gs_expect_contains "state file next to the database" '"etag"' "$(cat "$db.update.json")"
no_temp_files
wait_pick us1 "geosteerd answers from the new database without a reload"

echo "== a second run is conditional: 304, the file untouched"
before=$(ident "$db")
update --url "$base/new.mmdb"
gs_expect_eq "304: exit 0 ($out)" 0 "$rc"
gs_expect_contains "304: says it is current" "$db is current" "$out"
gs_expect_eq "If-None-Match sent with the ETag" "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["etag"])' "$db.update.json")" \
    "$(req_field '["headers"].get("if-none-match")')"
gs_expect_contains "If-Modified-Since sent" "GMT" "$(req_field '["headers"].get("if-modified-since")')"
gs_expect_eq "server answered 304" 304 "$(req_field '["status"]')"
gs_expect_eq "304: inode, mtime and size unchanged" "$before" "$(ident "$db")"

echo "== bad files keep the installed database"
refused() { # refused FILE EXIT MESSAGE [ARGS...]
    local file=$1 want=$2 msg=$3 h
    shift 3
    h=$(hash "$db")
    update --url "$base/$file" "$@"
    gs_expect_eq "$file: exit $want ($out)" "$want" "$rc"
    gs_expect_contains "$file: message" "$msg" "$out"
    gs_expect_contains "$file: says the database is unchanged" "$db is unchanged" "$out"
    gs_expect_eq "$file: installed database byte-identical" "$h" "$(hash "$db")"
    no_temp_files
}
refused truncated.mmdb 65 "not a valid MaxMind DB file, truncated or corrupt"
refused random.mmdb 65 "not a valid MaxMind DB file"
refused garbage.mmdb.gz 65 "not a valid MaxMind DB file"
refused truncated.mmdb.gz 65 "truncated gzip data"
refused empty.mmdb 65 "empty file"
refused asn.mmdb 65 "not a country database: none of its 3 networks has a country code"
refused partial.mmdb 65 "incomplete country database: no country for 8.8.8.8"
refused missing.mmdb 69 "HTTP status 404"
refused big.mmdb 65 "larger than the limit of 1048576 bytes" --max-size 1
sleep 4 # past geosteerd's 2 s settling time: a changed file would be loaded by now
gs_expect_eq "geosteerd still answers from the good database" "us1" "$(pick)"
if grep -q "GeoIP reload refused" "$GS_TMP/gs/geosteerd.log"; then
    gs_fail "geosteerd saw a bad database: $(grep 'GeoIP reload refused' "$GS_TMP/gs/geosteerd.log")"
fi
echo "ok: geosteerd never saw a refused file"

echo "== gzip behind a redirect"
update --url "$base/redirect/old.mmdb.gz"
gs_expect_eq "gzip: exit 0 ($out)" 0 "$rc"
gs_expect_contains "gzip: detected" "(gzip)" "$out"
gs_expect_eq "gzip: the unpacked database installed" "$(hash "$GS_TMP/old.mmdb")" "$(hash "$db")"
wait_pick eu1 "geosteerd answers from the unpacked database"

echo "== a dated URL falls back to last month's file"
update --url "$base/dated-%Y-%m.mmdb.gz"
gs_expect_eq "dated: exit 0 ($out)" 0 "$rc"
gs_expect_contains "dated: this month's file is 404" "not found (404), trying last month's file" "$out"
gs_expect_contains "dated: last month's installed" "dated-$last_month.mmdb.gz" "$out"
gs_expect_eq "dated: content" "$(hash "$GS_TMP/new.mmdb")" "$(hash "$db")"
update --url "$base/dated-%Y-%m.mmdb.gz"
gs_expect_contains "dated: then current" "$db is current" "$out"
gs_expect_eq "dated: 304 for last month's file" 304 "$(req_field '["status"]')"

echo "== a database replaced since makes the request unconditional"
cp "$GS_TMP/old.mmdb" "$GS_TMP/var/other.mmdb"
mv "$GS_TMP/var/other.mmdb" "$db"
update --url "$base/dated-%Y-%m.mmdb.gz"
gs_expect_eq "replaced since: exit 0 ($out)" 0 "$rc"
gs_expect_eq "replaced since: no If-None-Match" "None" "$(req_field '["headers"].get("if-none-match")')"
gs_expect_eq "replaced since: downloaded again" "$(hash "$GS_TMP/new.mmdb")" "$(hash "$db")"
wait_pick us1 "geosteerd answers from the downloaded database again"

echo "== usage"
update
gs_expect_eq "no --url: usage error" 64 "$rc"
update --url "ftp://127.0.0.1/x"
gs_expect_eq "ftp URL: usage error" 64 "$rc"
echo "PASS: t_geoip_update"
