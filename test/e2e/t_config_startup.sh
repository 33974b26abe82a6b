#!/usr/bin/env bash
# `geosteerd --check`, `geosteer check` and geosteerd's start-up run the same
# validation (cfg_load_all): for configs whose GeoIP or ASN database is
# missing, corrupt or truncated, or whose geo/proximity policies have no
# database to answer them, all three refuse with exit 78 and the same error
# lines; for a good config all three accept it and the daemon serves.
. "$(dirname "$0")/lib.sh"
gs_require python3

python3 -c 'import ipaddress as i; print("%d,%d,DE" % (int(i.IPv4Address("198.51.100.0")), int(i.IPv4Address("198.51.100.255"))))' >"$GS_TMP/de.v4"
echo '2001:db8::,2001:db8::ffff,DE' >"$GS_TMP/de.v6"
"$GEOSTEER" geoip build --v4 "$GS_TMP/de.v4" --v6 "$GS_TMP/de.v6" -o "$GS_TMP/good.mmdb" >/dev/null
head -c 5000 /dev/urandom >"$GS_TMP/corrupt.mmdb"
head -c $(($(stat -c %s "$GS_TMP/good.mmdb") / 2)) "$GS_TMP/good.mmdb" >"$GS_TMP/truncated.mmdb"

# cfg NAME GEOIP_SETTINGS POLICY: writes $GS_TMP/NAME.json
cfg() {
    cat >"$GS_TMP/$1.json" <<JSON
{
  "settings": {"geoip": $2},
  "endpoints": {"e": {"a": ["192.0.2.1"], "location": [52.5, 13.4]}},
  "pools": {"p": {"endpoints": ["e"]}},
  "policies": {"pol": $3}
}
JSON
}
geo='{"type": "geo", "default": "p", "rules": [{"country": "DE", "pool": "p"}]}'
asn='{"type": "geo", "default": "p", "rules": [{"asn": 64496, "pool": "p"}]}'
near='{"type": "proximity", "pools": ["p"]}'
cfg good "{\"database\": \"$GS_TMP/good.mmdb\", \"max_age_days\": 3650}" "$geo"
cfg missing "{\"database\": \"$GS_TMP/nonexistent.mmdb\"}" "$geo"
cfg corrupt "{\"database\": \"$GS_TMP/corrupt.mmdb\"}" "$geo"
cfg truncated "{\"database\": \"$GS_TMP/truncated.mmdb\"}" "$geo"
cfg asn_corrupt "{\"database\": \"$GS_TMP/good.mmdb\", \"asn_database\": \"$GS_TMP/corrupt.mmdb\"}" "$asn"
cfg geo_no_db '{}' "$geo"
cfg proximity_no_db '{}' "$near"

# run LABEL CMD...: prints "<exit status>" and then the error lines, sorted
# (the daemon's own log lines, with timestamps, are left out).
run() {
    set +e
    timeout 20 "$@" >/dev/null 2>"$GS_TMP/err"
    local rc=$?
    set -e
    echo "$rc"
    grep ': error: ' "$GS_TMP/err" | sort || true
}

for name in missing corrupt truncated asn_corrupt geo_no_db proximity_no_db; do
    c=$GS_TMP/$name.json
    check=$(run "$GEOSTEERD" --check -c "$c")
    cli=$(run "$GEOSTEER" check -c "$c")
    start=$(run "$GEOSTEERD" -s "$GS_TMP/$name.sock" -d "$GS_TMP/$name.db" -c "$c")
    gs_expect_eq "$name: geosteerd --check refuses it (78)" "78" "$(echo "$check" | head -1)"
    [ "$(echo "$check" | wc -l)" -gt 1 ] || gs_fail "$name: --check printed no error line"
    gs_expect_eq "$name: geosteer check says the same" "$check" "$cli"
    gs_expect_eq "$name: start-up refuses it the same way" "$check" "$start"
done
gs_expect_contains "the missing file is named" "nonexistent.mmdb" "$(run "$GEOSTEERD" --check -c "$GS_TMP/missing.json")"

c=$GS_TMP/good.json
gs_expect_eq "good: geosteerd --check accepts it" "0" "$(run "$GEOSTEERD" --check -c "$c")"
gs_expect_eq "good: geosteer check accepts it" "0" "$(run "$GEOSTEER" check -c "$c")"
gs_start_geosteerd "$GS_TMP/gs" -c "$c"
gs_expect_contains "good: the daemon serves it" "country database: $GS_TMP/good.mmdb" "$(gs_cli geoip info)"
