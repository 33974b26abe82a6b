#!/usr/bin/env bash
# Transfers that go wrong (doc/replication.md), into a real pdns_server
# (secondary=yes) + geosteerd, from a primary that misbehaves on purpose
# (fake_primary.py, on loopback): a transfer cut half way, a record type
# geosteer does not store, a LUA record outside the supported subset. Each
# time the secondary keeps serving the zone it had, whole, says why where
# geosteer can see it (zone list, log), and takes the next good serial by
# itself. NOTIFYs from an address that is not the zone's primary, and for a
# zone the node lacks, are refused.
# shellcheck source=test/e2e/lib.sh
. "$(dirname "$0")/lib.sh"
gs_require pdns_server kdig python3
GS_PDNS_MODE=remote

FP=$(gs_free_port) SP=$(gs_free_port)
SPEC=$GS_TMP/zone.json
spec() { # spec SERIAL TRUNCATE RECORDS-JSON
    echo "{\"zone\": \"f.test.\", \"serial\": $1, \"truncate\": $2, \"records\": $3}" >"$SPEC.new"
    mv "$SPEC.new" "$SPEC"
}
spec 1 false '[["a", "A", 300, "192.0.2.1"]]'
"$GS_PY" "$(dirname "$0")/fake_primary.py" 127.0.0.1 "$FP" "$SPEC" 2>"$GS_TMP/fake.log" &
gs_register "$!"
for _ in $(seq 50); do
    kdig @127.0.0.1 -p "$FP" +timeout=1 +retry=0 +short f.test SOA >/dev/null 2>&1 && break
    sleep 0.1
done

gs_start_geosteerd "$GS_TMP/gs"
gs_cli zone create f.test --secondary --primary "127.0.0.1:$FP" >/dev/null
gs_pdns_conf "$GS_TMP/pdns" "$GS_SOCK" "$SP" secondary=yes xfr-cycle-interval=1 \
    cache-ttl=0 query-cache-ttl=0 negquery-cache-ttl=0
gs_start_pdns "$GS_TMP/pdns" "$SP"
a() { kdig @127.0.0.1 -p "$SP" +timeout=1 +retry=0 +short a.f.test A 2>/dev/null; }
serial() { kdig @127.0.0.1 -p "$SP" +timeout=1 +retry=0 +short f.test SOA 2>/dev/null | awk '{print $3}'; }
wait_serial() {
    for _ in $(seq 150); do [ "$(serial)" = "$1" ] && return 0; sleep 0.1; done
    gs_fail "the secondary does not serve serial $1 (serves '$(serial)')"
}
notify() { kdig @127.0.0.1 -p "$SP" +timeout=2 +retry=0 "$@" f.test NOTIFY >"$GS_TMP/notify.out" 2>&1 || true; }
wait_serial 1
gs_expect_eq "first transfer" 192.0.2.1 "$(a)"

# 1. A transfer cut half way (no closing SOA): pdns never starts a
# transaction; the zone stays as it was.
spec 2 true '[["a", "A", 300, "192.0.2.2"]]'
notify
gs_wait_log "$GS_TMP/pdns/pdns.log" "unable to xfr zone|unable to feed|failed" 10 >/dev/null
gs_expect_eq "cut transfer: still serial 1" 1 "$(serial)"
gs_expect_eq "cut transfer: still the old record" 192.0.2.1 "$(a)"
gs_expect_contains "cut transfer: serving" "serial=1 records=3 kind=secondary" "$(gs_cli zone list)"
echo "ok: pdns on the cut transfer: $(grep -E "unable to xfr zone|unable to feed" "$GS_TMP/pdns/pdns.log" | tail -1 | cut -c17-)"

# 2. A record type geosteer does not store: the whole transfer is refused.
spec 3 false '[["a", "A", 300, "192.0.2.3"], ["x", "AFSDB", 300, "1 afs"]]'
notify
gs_wait_log "$GS_TMP/gs/geosteerd.log" "transfer of serial 3 refused" 15 >/dev/null
gs_expect_eq "unsupported type: still the old record" 192.0.2.1 "$(a)"
zl=$(gs_cli zone list)
gs_expect_contains "unsupported type: zone list says why" "reason=transaction refused: feedRecord: x.f.test.: record type 'AFSDB' is not supported" "$zl"
gs_expect_contains "unsupported type: behind" "state=behind" "$zl"

# 3. A LUA record outside the subset: refused whole, with the reason.
spec 4 false "[[\"a\", \"A\", 300, \"192.0.2.4\"], [\"l\", \"LUA\", 300, \"A os.execute('true')\"]]"
notify
gs_wait_log "$GS_TMP/gs/geosteerd.log" "transfer of serial 4 refused" 15 >/dev/null
gs_expect_eq "LUA outside the subset: still the old record" 192.0.2.1 "$(a)"
gs_expect_contains "LUA outside the subset: the reason" "transfer=refused transfer_serial=4" "$(gs_cli zone list)"
echo "ok: $(grep -o "transfer of serial 4 refused.*" "$GS_TMP/gs/geosteerd.log" | head -1)"

# 4. A good serial again: taken without any step on the secondary.
spec 5 false '[["a", "A", 300, "192.0.2.5"]]'
notify
wait_serial 5
gs_expect_eq "good transfer after the faults" 192.0.2.5 "$(a)"
gs_expect_contains "serving again" "transfer=ok transfer_serial=5" "$(gs_cli zone list)"

# 5. NOTIFYs the node must refuse: from an address that is not the zone's
# primary, and for a zone it does not have (no autosecondary).
notify -b 127.0.0.9
gs_expect_contains "NOTIFY from a non-primary refused" "REFUSED" "$(cat "$GS_TMP/notify.out")"
kdig @127.0.0.1 -p "$SP" +timeout=2 +retry=0 other.test NOTIFY >"$GS_TMP/notify.out" 2>&1 || true
gs_expect_contains "NOTIFY for an unknown zone refused" "REFUSED" "$(cat "$GS_TMP/notify.out")"
gs_expect_contains "no zone created" "OK 1 zone" "$(gs_cli zone list)"
