#!/usr/bin/env bash
# Refused and failed writes are visible, and bulk loads have an honest exit
# status:
#  - a write pdnsutil sends that geosteerd refuses (add-record, load-zone
#    with one unsupported LUA record) is logged at warning with the zone,
#    the record and the reason, and `status` shows the zone's last failed
#    write; a commit the store cannot take (file size limit: the disk full
#    case) is logged at error and shown the same way, and changes nothing;
#  - `geosteer zone load <zone> <file>` (and through `pdnsutil backend-cmd
#    remote`) replaces a zone atomically, or exits 1 with every refused
#    record as FILE:LINE: reason and changes nothing;
#  - LUA records whose GeoIP functions the loaded config has no database
#    for (country/continent/region, pickclosest: settings.geoip.database;
#    asnum: settings.geoip.asn_database) are refused at write time, in a
#    zone load, and a reload that would leave a served one without its
#    database is refused.
. "$(dirname "$0")/lib.sh"
gs_require pdnsutil python3

LOG=$GS_TMP/gs/geosteerd.log
pu() { gs_pdnsutil "$GS_TMP/pdns" "$@" 2>&1; }
records() { gs_cli zone list | sed -n 's/^w\.test\. .*records=\([0-9]*\).*/\1/p'; }
# Refusals are logged rate-limited (5 a second per message site): a test
# that waits for one line starts a new second first.
new_second() { sleep 1.1; }

# A small country database (DE) for the configs that have one.
python3 -c 'import ipaddress as i; print("%d,%d,DE" % (int(i.IPv4Address("198.51.100.0")), int(i.IPv4Address("198.51.100.255"))))' >"$GS_TMP/de.v4"
echo '2001:db8::,2001:db8::ffff,DE' >"$GS_TMP/de.v6"
"$GEOSTEER" geoip build --v4 "$GS_TMP/de.v4" --v6 "$GS_TMP/de.v6" -o "$GS_TMP/geoip.mmdb" >/dev/null
write_cfg() { # write_cfg SETTINGS_JSON
    cat >"$GS_TMP/geosteer.json" <<JSON
{
  "settings": $1,
  "endpoints": {"e1": {"a": ["192.0.2.10"]}},
  "pools": {"p": {"endpoints": ["e1"]}},
  "policies": {"web": {"type": "all", "pool": "p"}}
}
JSON
}
write_cfg '{}'
gs_start_geosteerd "$GS_TMP/gs" -c "$GS_TMP/geosteer.json"
gs_cli zone create w.test --ns ns1.w.test --soa-serial 1 >/dev/null
gs_pdns_conf "$GS_TMP/pdns" "$GS_SOCK" "$(gs_free_port)"

# ---- refused writes through pdnsutil ------------------------------------------------
pu add-record w.test www LUA "A \"local x = '192.0.2.3' return x\"" >/dev/null || true
gs_wait_log "$LOG" "warning: state: w\.test\.: write refused, nothing changed: .*www\.w\.test\.: LUA: column 1" 10 >/dev/null
echo "ok: refused add-record logged at warning with the zone, the record and the reason"
out=$(gs_cli status)
gs_expect_contains "status shows the last failed write" "last failed write w.test. (write) at " "$out"
gs_expect_contains "status shows its reason" "www.w.test.: LUA: column 1" "$out"

cat >"$GS_TMP/lua-bad.zone" <<'ZONE'
$TTL 300
@ IN SOA ns1.w.test. hostmaster.w.test. 2 3600 600 86400 300
@ IN NS ns1.w.test.
ns1 IN A 192.0.2.1
good IN A 192.0.2.2
bad IN LUA A "local x = '192.0.2.3' return x"
ZONE
before=$(records)
pu load-zone w.test "$GS_TMP/lua-bad.zone" >/dev/null || true
gs_expect_eq "a refused load-zone changes nothing" "$before" "$(records)"
gs_wait_log "$LOG" "warning: state: w\.test\.: zone load refused, nothing changed: .*bad\.w\.test\..*LUA" 10 >/dev/null
echo "ok: refused load-zone logged at warning with the zone, the record and the reason"
gs_expect_contains "status shows the refused load-zone" "bad.w.test.: LUA" "$(gs_cli status)"

# ---- geosteer zone load ---------------------------------------------------------------
cat >"$GS_TMP/good.zone" <<'ZONE'
$TTL 300
@ IN SOA ns1.w.test. hostmaster.w.test. (
        3      ; serial
        3600 600 86400 300 )
@ IN NS ns1.w.test.
ns1 IN A 192.0.2.1
www IN A 192.0.2.2
www IN AAAA 2001:db8::2
txt IN TXT "hello world"
lua IN LUA A "pickrandom({'192.0.2.3', '192.0.2.4'})"
st IN LUA A "steer('web')"
ZONE
cd "$GS_TMP"
out=$(gs_cli zone load w.test good.zone)
gs_expect_contains "zone load (relative path made absolute by the CLI)" "OK zone w.test. loaded from $GS_TMP/good.zone: 8 records" "$out"
gs_expect_eq "the zone holds the file's records" "8" "$(records)"
gs_expect_contains "served: the SOA serial of the file" "serial=3" "$(gs_cli zone list)"

cat >"$GS_TMP/bad.zone" <<'ZONE'
$TTL 300
@ IN SOA ns1.w.test. hostmaster.w.test. 4 3600 600 86400 300
@ IN NS ns1.w.test.
ns1 IN A 192.0.2.1
www IN A 192.0.2.300
lua IN LUA A "local x = 1"
other.example. IN A 192.0.2.7
st IN LUA A "steer('nosuch')"
fine IN A 192.0.2.8
ZONE
set +e
out=$(gs_cli zone load w.test "$GS_TMP/bad.zone"); rc=$?
set -e
gs_expect_eq "zone load with refused records: exit status" 1 "$rc"
gs_expect_contains "summary" "ERR zone load w.test.: $GS_TMP/bad.zone: 4 refused of 8 records read, nothing changed" "$out"
gs_expect_contains "line 5" "$GS_TMP/bad.zone:5: www.w.test.: A: '192.0.2.300' is not an IPv4 address" "$out"
gs_expect_contains "line 6" "$GS_TMP/bad.zone:6: lua.w.test.: LUA" "$out"
gs_expect_contains "line 7" "$GS_TMP/bad.zone:7: other.example. is not in zone w.test." "$out"
gs_expect_contains "line 8" "$GS_TMP/bad.zone:8: st.w.test.: LUA A: steer('nosuch'): no such policy" "$out"
gs_expect_eq "nothing changed" "8" "$(records)"
gs_expect_contains "still the old serial" "serial=3" "$(gs_cli zone list)"
gs_expect_contains "the refused zone load is in status" "(zone load)" "$(gs_cli status | grep 'last failed write w.test.')"

set +e
gs_cli zone load w.test "$GS_TMP/missing.zone" >/dev/null 2>&1; rc=$?
set -e
gs_expect_eq "zone load of a missing file: exit status 66" 66 "$rc"

# A conflict only the commit sees (a CNAME beside other data): refused whole.
printf '%s\n' '$TTL 300' '@ IN SOA ns1.w.test. hostmaster.w.test. 5 3600 600 86400 300' \
    '@ IN NS ns1.w.test.' 'ns1 IN A 192.0.2.1' 'www IN CNAME ns1.w.test.' 'www IN A 192.0.2.2' >"$GS_TMP/conflict.zone"
set +e
out=$(gs_cli zone load w.test "$GS_TMP/conflict.zone"); rc=$?
set -e
gs_expect_eq "zone load refused at the commit: exit status" 1 "$rc"
gs_expect_contains "zone load refused at the commit: reason" "CNAME" "$out"
gs_expect_eq "nothing changed after the refused commit" "8" "$(records)"

out=$(pu backend-cmd remote "zone load w.test $GS_TMP/good.zone")
gs_expect_contains "zone load through pdnsutil backend-cmd" "OK zone w.test. loaded from $GS_TMP/good.zone: 8 records" "$out"
gs_expect_contains "status: the failure stays listed, with the later success" \
    "; a later commit succeeded at " "$(gs_cli status | grep 'last failed write w.test.')"
out=$(pu backend-cmd remote "zone load w.test good.zone")
gs_expect_contains "through backend-cmd a relative path is refused" "is not an absolute path" "$out"

# ---- GeoIP functions in LUA records need their database -------------------------------
country="A \";if country('DE') then return '192.0.2.5' else return '192.0.2.6' end\""
asnum="A \";if asnum(64496) then return '192.0.2.5' else return '192.0.2.6' end\""
closest="A \"pickclosest({'192.0.2.5', '192.0.2.6'})\""
ifport="A \"ifportup(8080, {'192.0.2.5', '192.0.2.6'}, {selector='pickclosest'})\""
new_second
pu add-record w.test geo LUA "$country" >/dev/null || true
gs_wait_log "$LOG" "geo\.w\.test\.: LUA A: country\(\) needs a GeoIP database \(settings\.geoip\.database\)" 10 >/dev/null
echo "ok: country() without a GeoIP database refused at write time"
new_second
pu add-record w.test closest LUA "$closest" >/dev/null || true
gs_wait_log "$LOG" "closest\.w\.test\.: LUA A: pickclosest\(\) needs a GeoIP database" 10 >/dev/null
echo "ok: pickclosest() without a GeoIP database refused at write time"
new_second
pu add-record w.test ifport LUA "$ifport" >/dev/null || true
gs_wait_log "$LOG" "ifport\.w\.test\.: LUA A: the pickclosest selector needs a GeoIP database" 10 >/dev/null
echo "ok: a pickclosest selector without a GeoIP database refused at write time"
gs_expect_eq "none of them stored" "" "$(pu list-zone w.test | grep -E '^(geo|closest|ifport)\.' || true)"
printf '%s\n' "geo IN LUA $country" >>"$GS_TMP/good.zone"
set +e
out=$(gs_cli zone load w.test "$GS_TMP/good.zone"); rc=$?
set -e
gs_expect_eq "zone load with country() and no database: exit status" 1 "$rc"
gs_expect_contains "zone load with country() and no database: reason" \
    "good.zone:12: geo.w.test.: LUA A: country() needs a GeoIP database" "$out"

# With a country database, country() is accepted; asnum() still needs an ASN one.
write_cfg "{\"geoip\": {\"database\": \"$GS_TMP/geoip.mmdb\", \"max_age_days\": 3650}}"
gs_expect_contains "reload with a GeoIP database" "OK config reloaded" "$(gs_cli reload)"
gs_expect_contains "zone load with country() and a database" "OK zone w.test. loaded" \
    "$(gs_cli zone load w.test "$GS_TMP/good.zone")"
new_second
pu add-record w.test asn LUA "$asnum" >/dev/null || true
gs_wait_log "$LOG" "asn\.w\.test\.: LUA A: asnum\(\) needs an ASN database \(settings\.geoip\.asn_database\)" 10 >/dev/null
echo "ok: asnum() without an ASN database refused at write time"
# A reload that takes the database away from a served country() record: refused.
write_cfg '{}'
set +e
out=$(gs_cli reload); rc=$?
set -e
gs_expect_eq "reload without the database a served record needs: exit status" 1 "$rc"
gs_expect_contains "reload refused: the record and the reason" \
    "geo.w.test.: LUA A record: country() needs a GeoIP database" "$out"

# ---- a store that cannot grow: the disk-full case ---------------------------------------
# geosteerd restarted with a file size limit (SIGXFSZ ignored, so writes past
# it fail with EFBIG as on a full disk).
gs_stop "$GS_DAEMON_PID"
write_cfg "{\"geoip\": {\"database\": \"$GS_TMP/geoip.mmdb\", \"max_age_days\": 3650}}"
limit_kib=$(($(stat -c %s "$GS_TMP/gs/zones.db") / 1024 + 256))
(
    trap '' XFSZ
    ulimit -f "$limit_kib"
    exec "$GEOSTEERD" -s "$GS_SOCK" -d "$GS_TMP/gs/zones.db" -c "$GS_TMP/geosteer.json" >>"$LOG" 2>&1
) &
GS_DAEMON_PID=$!
gs_register "$GS_DAEMON_PID"
gs_wait_socket "$GS_SOCK"
cp "$GS_TMP/good.zone" "$GS_TMP/big.zone"
python3 -c '
import sys
for i in range(4000):
    print("t%d IN TXT \"%s\"" % (i, "x" * 200))' >>"$GS_TMP/big.zone"
before=$(records)
set +e
out=$(gs_cli zone load w.test "$GS_TMP/big.zone"); rc=$?
set -e
gs_expect_eq "zone load into a full store: exit status" 1 "$rc"
gs_expect_eq "zone load into a full store: nothing changed" "$before" "$(records)"
gs_wait_log "$LOG" "error: state: w\.test\.: zone load failed, nothing changed: .*(full|disk|too large|I/O)" 10 >/dev/null
echo "ok: the failed commit is logged at error with the zone and the reason"
gs_expect_contains "status shows the failed commit" "last failed write w.test." "$(gs_cli status)"
gs_expect_contains "still serving the zone" "serial=3" "$(gs_cli zone list)"
