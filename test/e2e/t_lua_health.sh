#!/usr/bin/env bash
# LUA ifportup through pdns_server + geosteerd + geosteer-probe: the record's
# addresses become checks in the probe plan at commit (before any query),
# answers follow their health (the selector over the live addresses, the
# backupSelector when none is), and deleting the record drops its checks.
. "$(dirname "$0")/lib.sh"
gs_require pdns_server pdnsutil kdig python3
: "${GEOSTEER_PROBE:?}"

RUN=$GS_TMP/run
CFG=$GS_TMP/geosteer.json
# pdns2 keeps its caches on (10 minutes); geosteerd purges the name through
# its control socket when an address's health changes.
CTL=$(gs_pdns_ctl_socket "$GS_TMP/pdns2")
echo "{\"settings\": {\"runtime_dir\": \"$RUN\", \"pdns_control_socket\": \"$CTL\"}}" >"$CFG"
gs_start_geosteerd "$GS_TMP/gs" -c "$CFG"
GSLOG=$GS_TMP/gs/geosteerd.log
gs_cli zone create lua.test --ns ns1.lua.test --soa-serial 1 >/dev/null
port=$(gs_free_port)
tport=$(gs_free_port)
# caches off: these answers are client-independent (scope 0) and the test
# follows each change at once
gs_pdns_conf "$GS_TMP/pdns" "$GS_SOCK" "$port" cache-ttl=0 query-cache-ttl=0 negquery-cache-ttl=0
gs_start_pdns "$GS_TMP/pdns" "$port"
port2=$(gs_free_port)
while [ "$port2" = "$port" ]; do port2=$(gs_free_port); done
gs_pdns_conf "$GS_TMP/pdns2" "$GS_SOCK" "$port2" cache-ttl=600 query-cache-ttl=600
gs_start_pdns "$GS_TMP/pdns2" "$port2"

# listen ADDR: a TCP server on ADDR:$tport that accepts and closes. Sets LPID.
listen() {
    "$GS_PY" -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(64)
while True:
    c, _ = s.accept(); c.close()' "$1" "$tport" >>"$GS_TMP/listen.log" 2>&1 &
    LPID=$!
    gs_register "$LPID"
}
listen 127.0.0.2
L2=$LPID
listen 127.0.0.3
L3=$LPID

gs_start_probe "$RUN"
gs_wait_log "$RUN/probe.log" "plan generation 1 applied: 0 checks" 10 >/dev/null
gs_pdnsutil "$GS_TMP/pdns" add-record lua.test www LUA \
    "A \"ifportup($tport, {'127.0.0.2', '127.0.0.3'}, {selector='all', interval=1, timeout=0.5})\"" >/dev/null
gs_expect_contains "the record's addresses are planned at commit" \
    "check plan generation 2: 2 checks (2 addresses of LUA records)" "$(cat "$GSLOG")"
gs_wait_log "$RUN/probe.log" "plan generation 2 applied: 2 checks" 5 >/dev/null
gs_wait_log "$RUN/probe.log" "'www.lua.test. LUA tcp 127.0.0.3:$tport': UNKNOWN -> UP" 5 >/dev/null
echo "ok: checked from the commit on, before any query"

q() { kdig @127.0.0.1 -p "${2:-$port}" +timeout=2 +retry=0 +short www.lua.test A | sort | tr '\n' ' ' | sed 's/ $//'; }
wait_answer() { # WANT MAX_SECONDS [PORT]
    for _ in $(seq $(($2 * 5))); do
        [ "$(q "" "${3:-$port}")" = "$1" ] && return 0
        sleep 0.2
    done
    gs_fail "www.lua.test did not answer '$1' within $2 s on port ${3:-$port} (answers '$(q "" "${3:-$port}")')"
}
gs_expect_eq "both up: selector all" "127.0.0.2 127.0.0.3" "$(q)"
gs_expect_eq "both up, through pdns's caches" "127.0.0.2 127.0.0.3" "$(q "" "$port2")"
gs_stop "$L3"
wait_answer "127.0.0.2" 5
echo "ok: a dead address leaves the answer (minimumFailures 1, interval 1 s)"
wait_answer "127.0.0.2" 3 "$port2"
gs_expect_contains "the name was purged from pdns's caches" "Cache clear request" "$(cat "$GS_TMP/pdns2/pdns.log")"
echo "ok: and leaves pdns's cached answer at once (purged through the control socket)"
out=$(gs_cli health)
gs_expect_contains "health lists the LUA record's checks" \
    "www.lua.test. A check " "$out"
case "$out" in
*"tcp 127.0.0.3 port $tport: DOWN since "*", last error: connect: Connection refused"*) echo "ok: health: the dead address is DOWN with its error" ;;
*) gs_fail "health: expected 127.0.0.3 DOWN with its error, got: $out" ;;
esac
out=$(gs_cli explain www.lua.test 192.0.2.1 A)
gs_expect_contains "explain: the function" "function: ifportup" "$out"
gs_expect_contains "explain: each address with its health" \
    "candidate: 127.0.0.2 set 1 health UP
candidate: 127.0.0.3 set 1 health DOWN" "$out"
gs_expect_contains "explain: the pick and the scope" "pick: 127.0.0.2
scope: /0 (the answer does not depend on the client)" "$out"
gs_stop "$L2"
gs_wait_log "$RUN/probe.log" "'www.lua.test. LUA tcp 127.0.0.2:$tport': UP -> DOWN" 5 >/dev/null
sleep 1.5
a=$(q)
case "$a" in
127.0.0.2 | 127.0.0.3) echo "ok: all down: the backupSelector (random) answers one address ($a)" ;;
*) gs_fail "all down: expected one address from the backupSelector, got '$a'" ;;
esac
listen 127.0.0.2
wait_answer "127.0.0.2" 5
echo "ok: back after one good check"

# The migration check, for a served zone and for a zone file.
out=$(gs_pdnsutil "$GS_TMP/pdns" backend-cmd remote "lua-check lua.test" 2>&1)
gs_expect_contains "lua-check of a served zone: summary" \
    "OK lua-check lua.test.: 1 LUA record, 1 supported, 0 not" "$out"
gs_expect_contains "lua-check of a served zone: the record and its policy" \
    "supported (ifportup); as a policy: a failover policy" "$out"
cat >"$GS_TMP/migrate.zone" <<'ZONE'
$ORIGIN m.test.
$TTL 300
@     IN SOA ns1 hostmaster 1 3600 600 86400 300
      IN NS  ns1
geo   IN LUA A ";if continent('EU') then return '192.0.2.1' else return '192.0.2.2' end"
rev   IN LUA PTR "createReverse('%1%.example')"
calc  IN LUA A ";local a = '192.0.2.1' return a" ; free-form code
ZONE
set +e
out=$("$GEOSTEER" lua-check "$GS_TMP/migrate.zone"); rc=$?
set -e
gs_expect_eq "lua-check of a file with unsupported records: exit 1" 1 "$rc"
gs_expect_contains "lua-check file: summary" "3 LUA records, 1 supported, 2 not" "$out"
gs_expect_contains "lua-check file: a chain maps to a geo policy" \
    "geo.m.test. LUA A \";if continent('EU') then return '192.0.2.1' else return '192.0.2.2' end\": supported (values in a conditional chain); as a policy: a geo policy" "$out"
gs_expect_contains "lua-check file: the reason and the suggestion" \
    "rev.m.test. LUA PTR \"createReverse('%1%.example')\": NOT supported: LUA: content must be" "$out"
gs_expect_contains "lua-check file: free-form code, with the column and what is unsupported" \
    "calc.m.test. LUA A \";local a = '192.0.2.1' return a\": NOT supported: LUA: column 2: local variables are not in the supported subset" "$out"

# A record in parentheses over two lines (the pdns docs' style): the file
# check and the served zone (loaded by pdnsutil) read it alike.
cat >"$GS_TMP/ml.zone" <<'ZONE'
$ORIGIN ml.test.
@     IN SOA ns1 hostmaster 1 3600 600 86400 300
      IN NS  ns1
www   IN LUA A ( ";if netmask({'10.0.0.0/8'}) then return '192.0.2.1' "
                 "else return '192.0.2.2' end" )
ZONE
gs_cli zone create ml.test --ns ns1.ml.test --soa-serial 1 >/dev/null
gs_pdnsutil "$GS_TMP/pdns" load-zone ml.test "$GS_TMP/ml.zone" >"$GS_TMP/ml.log" 2>&1
served=$(gs_cli lua-check ml.test 2>&1 || true)
gs_expect_contains "multi-line record: served zone" \
    "OK lua-check ml.test.: 1 LUA record, 1 supported, 0 not" "$served"
set +e
out=$("$GEOSTEER" lua-check "$GS_TMP/ml.zone"); rc=$?
set -e
gs_expect_eq "multi-line record: the file check agrees (exit 0)" 0 "$rc"
gs_expect_contains "multi-line record: file" "www.ml.test. LUA A \";if netmask({'10.0.0.0/8'}) then return '192.0.2.1' \" \"else return '192.0.2.2' end\": supported (values in a conditional chain)" "$out"

gs_pdnsutil "$GS_TMP/pdns" delete-rrset lua.test www LUA >/dev/null
gs_wait_log "$RUN/probe.log" "plan generation 3 applied: 0 checks" 5 >/dev/null
echo "ok: deleting the record drops its checks"
for f in "$GSLOG" "$RUN/probe.log"; do
    if grep -Eq 'AddressSanitizer|runtime error' "$f"; then gs_fail "sanitizer report in $f"; fi
done
echo "PASS"
