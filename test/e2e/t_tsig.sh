#!/usr/bin/env bash
# Transfers signed with TSIG (doc/replication.md), two real pdns_server
# nodes on loopback, each with its own geosteerd, both with
# remote-dnssec=yes (pdns sends the TSIG methods only then):
#   P  primary=yes, allow-axfr-ips empty: only a request signed with a key
#      the zone's TSIG-ALLOW-AXFR grants may transfer it
#   S  secondary=yes, the zone's AXFR-MASTER-TSIG names the key to sign with
# Keys made with pdnsutil generate-tsig-key / import-tsig-key and
# activate-tsig-key, stored by geosteerd (setTSIGKey, getTSIGKey(s)). Checked:
# an unsigned AXFR and one signed with a wrong secret are refused, the
# right key transfers; S holding the wrong secret gets nothing and keeps
# serving nothing, then with the right one takes the zone; the store is
# mode 0600 and no secret appears in any log or in `status`.
# shellcheck source=test/e2e/lib.sh
. "$(dirname "$0")/lib.sh"
gs_require pdns_server pdnsutil pdns_control kdig
GS_PDNS_MODE=remote

gs_start_geosteerd "$GS_TMP/P"
SOCK_P=$GS_SOCK
gs_start_geosteerd "$GS_TMP/S"
SOCK_S=$GS_SOCK
PP=$(gs_free_port) SP=$(gs_free_port)
"$GEOSTEER" -s "$SOCK_P" zone create t.test --ns ns1.t.test --soa-serial 1 --soa-refresh 2 \
    --soa-retry 1 --kind primary >/dev/null
"$GEOSTEER" -s "$SOCK_S" zone create t.test --secondary --primary "127.0.0.1:$PP" >/dev/null
gs_pdns_conf "$GS_TMP/pP" "$SOCK_P" "$PP" primary=yes remote-dnssec=yes xfr-cycle-interval=1 \
    only-notify= "also-notify=127.0.0.2:$SP" allow-axfr-ips=
# S on 127.0.0.2: pdns lets an address it has just notified transfer even
# unsigned, so the test's own unsigned queries (from 127.0.0.1) must not be
# from the notified address.
gs_pdns_conf "$GS_TMP/pS" "$SOCK_S" "$SP" secondary=yes remote-dnssec=yes xfr-cycle-interval=1 \
    local-address=127.0.0.2
pP() { gs_pdnsutil "$GS_TMP/pP" "$@" 2>&1; }
pS() { gs_pdnsutil "$GS_TMP/pS" "$@" 2>&1; }
pP add-record t.test www A 300 192.0.2.80 >/dev/null || gs_fail "add-record with remote-dnssec=yes"

# The key, made on P by pdnsutil and stored by geosteerd.
out=$(pP generate-tsig-key xfr hmac-sha256) || gs_fail "generate-tsig-key: $out"
secret=$(pP list-tsig-keys | awk '$1 == "xfr." { print $3 }')
[ -n "$secret" ] || gs_fail "list-tsig-keys does not show the key: $(pP list-tsig-keys)"
gs_expect_contains "the key's algorithm" "xfr. hmac-sha256." "$(pP list-tsig-keys)"
pP activate-tsig-key t.test xfr primary >/dev/null || gs_fail "activate-tsig-key primary"
gs_expect_eq "TSIG-ALLOW-AXFR set" "xfr" "$(pP get-meta t.test TSIG-ALLOW-AXFR | sed -n 's/^TSIG-ALLOW-AXFR = //p')"
gs_start_pdns "$GS_TMP/pP" "$PP"
P_PID=$GS_PDNS_PID

axfr() { kdig @127.0.0.1 -p "$PP" +timeout=3 +retry=0 "$@" t.test AXFR 2>&1 || true; }
gs_expect_contains "unsigned AXFR refused (pdns: NOTAUTH)" "NOTAUTH" "$(axfr)"
wrong=$(printf 'not-the-secret-at-all' | base64)
out=$(axfr -y "hmac-sha256:xfr:$wrong")
echo "$out" | grep -q "192.0.2.80" && gs_fail "AXFR signed with a wrong secret succeeded: $out"
echo "ok: AXFR signed with a wrong secret refused ($(echo "$out" | grep -Eo 'NOTAUTH|REFUSED|BADSIG|failed' | head -1))"
gs_expect_contains "AXFR with the right key" "192.0.2.80" "$(axfr -y "hmac-sha256:xfr:$secret")"

# S signs with the wrong secret first: nothing is transferred.
pS import-tsig-key xfr hmac-sha256 "$wrong" >/dev/null || gs_fail "import-tsig-key"
pS activate-tsig-key t.test xfr secondary >/dev/null || gs_fail "activate-tsig-key secondary"
gs_start_pdns "$GS_TMP/pS" "$SP" 127.0.0.2
S_PID=$GS_PDNS_PID
sleep 4
gs_expect_contains "S holds nothing with the wrong key" "t.test. id=1 serial=0 records=0 kind=secondary" \
    "$("$GEOSTEER" -s "$SOCK_S" zone list)"
# The right secret (replacing the key), and S catches up.
pS import-tsig-key xfr hmac-sha256 "$secret" >/dev/null || gs_fail "import-tsig-key (right)"
pdns_control --config-dir="$GS_TMP/pS" retrieve t.test >/dev/null 2>&1 || true
# on_s WHAT NAME ADDRESS: waits up to 15 s for S to answer NAME with ADDRESS.
on_s() {
    for _ in $(seq 150); do
        [ "$(kdig @127.0.0.2 -p "$SP" +short "$2" A)" = "$3" ] && break
        sleep 0.1
    done
    gs_expect_eq "$1" "$3" "$(kdig @127.0.0.2 -p "$SP" +short "$2" A)"
}
on_s "S transferred the zone with the right key" www.t.test 192.0.2.80
gs_expect_contains "P logged the signed transfer" "allowed: TSIG signed request with authorized key 'xfr'" \
    "$(cat "$GS_TMP/pP/pdns.log")"
# A change on P: its NOTIFY is signed with the zone's key (pdns's
# send-signed-notify), S checks it against AXFR-MASTER-TSIG and transfers.
pP add-record t.test www2 A 300 192.0.2.81 >/dev/null || gs_fail "add-record www2"
on_s "the change reached S" www2.t.test 192.0.2.81
gs_expect_contains "S got a signed NOTIFY" "Received secure NOTIFY for t.test from 127.0.0.1, with TSIG key 'xfr'" \
    "$(cat "$GS_TMP/pS/pdns.log")"

# Where the secret must not be.
gs_expect_eq "zone store mode" 600 "$(stat -c %a "$GS_TMP/P/zones.db")"
for f in "$GS_TMP/P/geosteerd.log" "$GS_TMP/S/geosteerd.log"; do
    grep -qF -- "$secret" "$f" && gs_fail "the secret is in $f"
    grep -qF -- "$wrong" "$f" && gs_fail "the wrong secret is in $f"
done
st=$("$GEOSTEER" -s "$SOCK_P" status; "$GEOSTEER" -s "$SOCK_P" status --json)
echo "$st" | grep -qF -- "$secret" && gs_fail "status shows the secret"
gs_expect_contains "the key is logged by name" "TSIG key xfr. (hmac-sha256.) stored" "$(cat "$GS_TMP/P/geosteerd.log")"
# A bad key is refused with its reason, and nothing is stored.
out=$(pP import-tsig-key bad hmac-sha256 'bm90IGJhc2U2NA' || true)
gs_expect_eq "no bad key stored" "" "$(pP list-tsig-keys | awk '$1 == "bad." { print $1 }')"
echo "ok: a malformed secret refused: $(echo "$out" | grep -v '^[A-Z][a-z][a-z] [0-9]' | tail -1)"
# A store made readable by others is narrowed at start.
kill "$S_PID"
wait "$S_PID" 2>/dev/null || true
kill "$GS_DAEMON_PID"
wait "$GS_DAEMON_PID" 2>/dev/null || true
chmod 644 "$GS_TMP/S/zones.db"
rm -f "$GS_TMP/S/backend.sock"
gs_start_geosteerd "$GS_TMP/S"
gs_expect_eq "store narrowed to 600 at start" 600 "$(stat -c %a "$GS_TMP/S/zones.db")"
gs_expect_contains "and said so" "mode 644 gives others access to TSIG secrets" "$(cat "$GS_TMP/S/geosteerd.log")"
kill "$P_PID" 2>/dev/null || true
