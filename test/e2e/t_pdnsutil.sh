#!/usr/bin/env bash
# pdnsutil end to end: a real pdnsutil 4.7 edits the zones of a running
# geosteerd through the remote backend, and a real pdns_server (caches off)
# must serve every committed change at once. Each pdnsutil run is checked for
# its exact stdout and exit status (stderr carries pdns log noise and is only
# searched for the documented messages); each change is then checked with kdig.
#
# Checks are soft: a failed check is reported and counted, the test goes on so
# that one run shows every failure, and the test fails at the end.
# shellcheck source=test/e2e/lib.sh
. "$(dirname "$0")/lib.sh"
gs_require pdns_server pdnsutil pdns_control kdig python3 sed diff cmp od truncate timeout

DATA=$(cd "$(dirname "$0")" && pwd)/data/pdnsutil
FAILS=0

# soft CMD...: runs a gs_expect_* (or any check that exits non-zero) in a
# subshell and counts a failure instead of stopping the test.
soft() { ("$@") || FAILS=$((FAILS + 1)); }

# pu [ARGS...]: runs pdnsutil with stdin from $PU_STDIN (default /dev/null),
# capturing the exact stdout bytes in $GS_TMP/pu.out, stderr in
# $GS_TMP/pu.err and the status in PU_RC; PU_ERR holds the stderr text.
pu() {
    PU_RC=0
    timeout 30 pdnsutil --config-dir="$P" "$@" <"${PU_STDIN:-/dev/null}" \
        >"$GS_TMP/pu.out" 2>"$GS_TMP/pu.err" || PU_RC=$?
    PU_ERR=$(cat "$GS_TMP/pu.err")
}

# expect_run WHAT RC [LINE...]: the last pu run exited RC and its stdout is
# exactly the given lines, each ended by "\n" (no lines: empty stdout). With
# PU_NOEOL=1 the last line has no "\n" (output that ends in a prompt).
expect_run() {
    local what=$1 rc=$2 ok=1
    shift 2
    if [ "$#" -gt 0 ]; then printf '%s\n' "$@" >"$GS_TMP/pu.exp"; else : >"$GS_TMP/pu.exp"; fi
    if [ "${PU_NOEOL:-0}" = 1 ] && [ -s "$GS_TMP/pu.exp" ]; then truncate -s -1 "$GS_TMP/pu.exp"; fi
    if [ "$PU_RC" != "$rc" ]; then
        printf 'FAIL: %s: exit status %s, expected %s\n' "$what" "$PU_RC" "$rc" >&2
        ok=0
    fi
    if ! cmp -s "$GS_TMP/pu.exp" "$GS_TMP/pu.out"; then
        printf 'FAIL: %s: stdout differs (--- expected, +++ got):\n' "$what" >&2
        diff -u "$GS_TMP/pu.exp" "$GS_TMP/pu.out" | tail -n +3 | cat -A >&2 || true
        ok=0
    fi
    if [ "$ok" = 1 ]; then
        echo "ok: $what"
    else
        printf -- '--- stderr of %s:\n%s\n' "$what" "$PU_ERR" >&2
        FAILS=$((FAILS + 1))
    fi
}

# expect_bytes WHAT RC FORMAT: like expect_run, the stdout being the exact
# bytes printf FORMAT makes (for backend-cmd, which adds no newline).
expect_bytes() {
    # shellcheck disable=SC2059 # the format is the expected text
    printf "$3" >"$GS_TMP/pu.bytes"
    local exp got
    exp=$(od -An -c "$GS_TMP/pu.bytes")
    got=$(od -An -c "$GS_TMP/pu.out")
    soft gs_expect_eq "$1: exit status" "$2" "$PU_RC"
    soft gs_expect_eq "$1: stdout bytes" "$exp" "$got"
}

# q NAME TYPE: the sorted short answer from pdns_server.
q() { kdig @127.0.0.1 -p "$port" +timeout=2 +retry=0 +short "$1" "$2" | sort; }

# qstatus NAME TYPE: "RCODE answers=N" from pdns_server.
qstatus() {
    kdig @127.0.0.1 -p "$port" +timeout=2 +retry=0 "$1" "$2" | python3 -c '
import re, sys
t = sys.stdin.read()
rcode = re.search(r"status: (\w+)", t)
ans = re.search(r"ANSWER: (\d+)", t)
print("%s answers=%s" % (rcode.group(1) if rcode else "?", ans.group(1) if ans else "?"))'
}

# zone_text ZONE: list-zone stdout (trailing newline stripped), for
# comparisons of "nothing changed".
zone_text() {
    pdnsutil --config-dir="$P" list-zone "$1" 2>/dev/null </dev/null
}

# ---------------------------------------------------------------- setup ---
gs_start_geosteerd "$GS_TMP/gs"
out=$(gs_cli zone create pu.test --ns ns1.pu.test --ns ns2.pu.test --soa-serial 100)
gs_expect_contains "zone create pu.test" "OK zone pu.test. created with id 1" "$out"
out=$(gs_cli zone create load.test --ns ns1.load.test --soa-serial 1)
gs_expect_contains "zone create load.test" "OK zone load.test. created with id 2" "$out"

port=$(gs_free_port)
P=$GS_TMP/pdns
gs_pdns_conf "$P" "$GS_SOCK" "$port" cache-ttl=0 query-cache-ttl=0 negquery-cache-ttl=0
gs_start_pdns "$P" "$port"

SOA100="ns1.pu.test. hostmaster.pu.test. 100 10800 3600 604800 300"
soft gs_expect_eq "kdig: pu.test SOA" "$SOA100" "$(q pu.test SOA)"
soft gs_expect_eq "kdig: pu.test NS" "$(printf '%s\n' ns1.pu.test. ns2.pu.test.)" "$(q pu.test NS)"

# ------------------------------------------------------- read commands ---
pu list-all-zones
expect_run "list-all-zones" 0 pu.test load.test

T=$'\t'
# shellcheck disable=SC2016 # a literal zone-file directive
ORIGIN='$ORIGIN .'
pu list-zone pu.test
expect_run "list-zone pu.test (fresh)" 0 \
    "$ORIGIN" \
    "pu.test${T}3600${T}IN${T}NS${T}ns1.pu.test." \
    "pu.test${T}3600${T}IN${T}NS${T}ns2.pu.test." \
    "pu.test${T}3600${T}IN${T}SOA${T}ns1.pu.test hostmaster.pu.test 100 10800 3600 604800 300"

pu check-zone pu.test
expect_run "check-zone pu.test" 0 "Checked 3 records of 'pu.test', 0 errors, 0 warnings."

pu check-all-zones
expect_run "check-all-zones" 0 \
    "Checked 3 records of 'pu.test', 0 errors, 0 warnings." \
    "Checked 2 records of 'load.test', 0 errors, 0 warnings." \
    "Checked 2 zones, 0 had errors."

pu show-zone pu.test
expect_run "show-zone pu.test (no metadata)" 0 \
    "This is a Native zone" "Zone is not actively secured" "Metadata items: None"
soft gs_expect_contains "show-zone: keys line on stderr" "No keys for zone 'pu.test'." "$PU_ERR"

pu list-zone nozone.test
expect_run "list-zone of an unknown zone" 1
soft gs_expect_contains "list-zone unknown zone: message" "Zone 'nozone.test' not found!" "$PU_ERR"

# ------------------------------------------- add / replace / delete ---
pu add-record pu.test www A 120 192.0.2.1
expect_run "add-record www A (new name)" 0 "New rrset:" "www.pu.test. 120 IN A 192.0.2.1"
soft gs_expect_eq "kdig: www A after first add" "192.0.2.1" "$(q www.pu.test A)"

pu add-record pu.test www A 120 192.0.2.2
expect_run "add-record www A (second value)" 0 "New rrset:" \
    "www.pu.test. 120 IN A 192.0.2.1" "www.pu.test. 120 IN A 192.0.2.2"
soft gs_expect_eq "kdig: www A serves both" "$(printf '%s\n' 192.0.2.1 192.0.2.2)" \
    "$(q www.pu.test A)"

pu add-record pu.test multi A 60 192.0.2.9
expect_run "add-record multi A" 0 "New rrset:" "multi.pu.test. 60 IN A 192.0.2.9"
pu add-record pu.test multi TXT 60 '"keep"'
expect_run "add-record multi TXT" 0 "New rrset:" 'multi.pu.test. 60 IN TXT "keep"'

pu replace-rrset pu.test multi A 60 192.0.2.10 192.0.2.11
expect_run "replace-rrset multi A (two values)" 0 \
    "Current records for multi.pu.test IN A will be replaced" "New rrset:" \
    "multi.pu.test. 60 IN A 192.0.2.10" "multi.pu.test. 60 IN A 192.0.2.11"
soft gs_expect_eq "kdig: multi A replaced" "$(printf '%s\n' 192.0.2.10 192.0.2.11)" \
    "$(q multi.pu.test A)"
soft gs_expect_eq "kdig: multi TXT untouched" '"keep"' "$(q multi.pu.test TXT)"

pu delete-rrset pu.test multi A
expect_run "delete-rrset multi A" 0
soft gs_expect_eq "kdig: multi A is NODATA (TXT left)" "NOERROR answers=0" \
    "$(qstatus multi.pu.test A)"
soft gs_expect_eq "kdig: multi TXT still served" '"keep"' "$(q multi.pu.test TXT)"

pu delete-rrset pu.test multi TXT
expect_run "delete-rrset multi TXT" 0
soft gs_expect_eq "kdig: multi is NXDOMAIN" "NXDOMAIN answers=0" "$(qstatus multi.pu.test TXT)"

# ------------------------------------------------- refused add-record ---
before=$(zone_text pu.test) || true
pu add-record pu.test bad A 120 not-an-ip
expect_run "add-record A not-an-ip is refused" 1
soft gs_expect_contains "add-record not-an-ip: message" "while parsing IP address" "$PU_ERR"
soft gs_expect_eq "kdig: bad is NXDOMAIN" "NXDOMAIN answers=0" "$(qstatus bad.pu.test A)"

pu add-record pu.test www CNAME 120 multi.pu.test
expect_run "add-record CNAME next to A is refused" 1
soft gs_expect_contains "add-record CNAME: message" \
    "Attempting to add CNAME to www.pu.test which already had existing records" "$PU_ERR"
soft gs_expect_eq "kdig: www CNAME is NODATA" "NOERROR answers=0" "$(qstatus www.pu.test CNAME)"
soft gs_expect_eq "kdig: www A unchanged" "$(printf '%s\n' 192.0.2.1 192.0.2.2)" \
    "$(q www.pu.test A)"
soft gs_expect_eq "list-zone unchanged after refused add-records" "$before" "$(zone_text pu.test)"

# Deleting the apex SOA: pdnsutil sends it and ignores the refusal (exit 0),
# geosteerd must refuse it so the zone keeps its SOA.
pu delete-rrset pu.test @ SOA
expect_run "delete-rrset of the apex SOA (pdnsutil ignores the refusal)" 0
soft gs_expect_contains "delete-rrset SOA: geosteerd's reason is logged" \
    "the zone apex must have exactly one SOA record" "$PU_ERR"
soft gs_expect_eq "kdig: SOA kept" "$SOA100" "$(q pu.test SOA)"
soft gs_expect_eq "list-zone unchanged after the refused SOA delete" "$before" \
    "$(zone_text pu.test)"

# ------------------------------------------------------------ edit-zone ---
# The editor changes www's 192.0.2.1 to 192.0.2.111 and appends one record.
cat >"$GS_TMP/editor.sh" <<'ED'
#!/bin/sh
sed -i -e 's/\t192\.0\.2\.1$/\t192.0.2.111/' \
    -e '$a edited.pu.test\t300\tIN\tA\t192.0.2.124' "$1"
ED
chmod +x "$GS_TMP/editor.sh"
# pdnsutil 4.7 asks first whether to increase the serial (y), then whether to
# apply (a). It reads single characters, so a newline would count as an
# invalid answer and repeat the prompt; with stdin at EOF it would prompt
# forever (pu has a timeout).
printf 'ya' >"$GS_TMP/edit.in"
EDITOR=$GS_TMP/editor.sh PU_STDIN=$GS_TMP/edit.in pu edit-zone pu.test
G=$'\e[0;32m' R=$'\e[0;31m' N=$'\e[0m'
PU_NOEOL=1 expect_run "edit-zone (change one A, add one A, increase serial, apply)" 0 \
    "Checked 6 records of 'pu.test', 0 errors, 0 warnings." \
    "Detected the following changes:" \
    "${G}+edited.pu.test 300 IN A 192.0.2.124${N}" \
    "${R}-www.pu.test 120 IN A 192.0.2.1${N}" \
    "${G}+www.pu.test 120 IN A 192.0.2.111${N}" \
    "" \
    "You have not updated the SOA record! Would you like to increase-serial?" \
    "(y)es - increase serial, (n)o - leave SOA record as is, (e)dit your changes, (q)uit: " \
    "(a)pply these changes, (e)dit again, (r)etry with original zone, (q)uit: "
soft gs_expect_eq "kdig: www A after edit-zone" "$(printf '%s\n' 192.0.2.111 192.0.2.2)" \
    "$(q www.pu.test A)"
soft gs_expect_eq "kdig: edited A after edit-zone" "192.0.2.124" "$(q edited.pu.test A)"
soft gs_expect_eq "kdig: SOA serial 101 after edit-zone" \
    "ns1.pu.test. hostmaster.pu.test. 101 10800 3600 604800 300" "$(q pu.test SOA)"

# ------------------------------------------------------ increase-serial ---
pu increase-serial pu.test
expect_run "increase-serial" 0 "SOA serial for zone pu.test set to 102"
soft gs_expect_eq "kdig: SOA serial 102" \
    "ns1.pu.test. hostmaster.pu.test. 102 10800 3600 604800 300" "$(q pu.test SOA)"

# ----------------------------------------------------- case-insensitivity ---
pu add-record pu.test MiXeD A 120 192.0.2.50
expect_run "add-record mixed-case name" 0 "New rrset:" "mixed.pu.test. 120 IN A 192.0.2.50"
soft gs_expect_eq "kdig: mIxEd.PU.TEST A" "192.0.2.50" "$(q mIxEd.PU.TEST A)"
soft gs_expect_eq "kdig: mixed.pu.test A" "192.0.2.50" "$(q mixed.pu.test A)"
# Another case of the same name must replace the same rrset, not add one.
pu replace-rrset pu.test MIXED A 120 192.0.2.51
expect_run "replace-rrset in another case" 0 \
    "Current records for MIXED.pu.test IN A will be replaced" "New rrset:" \
    "mixed.pu.test. 120 IN A 192.0.2.51"
soft gs_expect_eq "kdig: MiXeD.pu.test A replaced" "192.0.2.51" "$(q MiXeD.pu.test A)"

pu list-zone pu.test
expect_run "list-zone pu.test (after all edits)" 0 \
    "$ORIGIN" \
    "edited.pu.test${T}300${T}IN${T}A${T}192.0.2.124" \
    "mixed.pu.test${T}120${T}IN${T}A${T}192.0.2.51" \
    "pu.test${T}3600${T}IN${T}NS${T}ns1.pu.test." \
    "pu.test${T}3600${T}IN${T}NS${T}ns2.pu.test." \
    "pu.test${T}3600${T}IN${T}SOA${T}ns1.pu.test hostmaster.pu.test 102 10800 3600 604800 300" \
    "www.pu.test${T}120${T}IN${T}A${T}192.0.2.111" \
    "www.pu.test${T}120${T}IN${T}A${T}192.0.2.2"

pu check-zone pu.test
expect_run "check-zone pu.test (after all edits)" 0 \
    "Checked 7 records of 'pu.test', 0 errors, 0 warnings."

# ------------------------------------------------------------ load-zone ---
pu add-record load.test old A 300 192.0.2.200
expect_run "add-record load.test old A" 0 "New rrset:" "old.load.test. 300 IN A 192.0.2.200"
soft gs_expect_eq "kdig: old.load.test before load-zone" "192.0.2.200" "$(q old.load.test A)"

# The fixture is written in list-zone's own format, so that after loading it
# list-zone must print it back byte for byte.
pu load-zone load.test "$DATA/load-good.zone"
expect_run "load-zone into the existing zone" 0
soft gs_expect_contains "load-zone: replacing message" \
    "Zone 'load.test' exists already, replacing contents" "$PU_ERR"
pu list-zone load.test
soft gs_expect_eq "list-zone load.test: exit status" 0 "$PU_RC"
if ! cmp -s "$DATA/load-good.zone" "$GS_TMP/pu.out"; then
    echo "FAIL: list-zone load.test differs from load-good.zone:" >&2
    diff -u "$DATA/load-good.zone" "$GS_TMP/pu.out" >&2 || true
    FAILS=$((FAILS + 1))
else
    echo "ok: list-zone load.test equals load-good.zone"
fi
good_text=$(zone_text load.test) || true
soft gs_expect_eq "kdig: old.load.test gone after load-zone" "NXDOMAIN answers=0" \
    "$(qstatus old.load.test A)"
soft gs_expect_eq "kdig: loaded A/AAAA/TXT" \
    "$(printf '%s\n' 192.0.2.77 2001:db8::77 '"from file"')" \
    "$(q loaded.load.test A; q loaded.load.test AAAA; q loaded.load.test TXT)"
soft gs_expect_eq "kdig: alias CNAME chain" "$(printf '%s\n' 192.0.2.77 loaded.load.test.)" \
    "$(q alias.load.test A)"
soft gs_expect_eq "kdig: load.test MX" "10 mail.load.test." "$(q load.test MX)"
soft gs_expect_eq "kdig: load.test SOA from the file" \
    "ns1.load.test. hostmaster.load.test. 2024020101 10800 3600 604800 300" "$(q load.test SOA)"

pu load-zone load.test "$DATA/load-bad.zone"
expect_run "load-zone of a file with a bad record" 1
soft gs_expect_contains "load-zone bad: message" \
    "Bad record content in record for bad.load.test|A" "$PU_ERR"
soft gs_expect_eq "list-zone load.test unchanged after the bad file" "$good_text" \
    "$(zone_text load.test)"
soft gs_expect_eq "kdig: good.load.test not loaded" "NXDOMAIN answers=0" \
    "$(qstatus good.load.test A)"
soft gs_expect_eq "kdig: load.test SOA unchanged" \
    "ns1.load.test. hostmaster.load.test. 2024020101 10800 3600 604800 300" "$(q load.test SOA)"

# pdnsutil does not check CNAME conflicts in a file and ignores the result of
# commitTransaction, so it exits 0; geosteerd must still refuse the commit.
pu load-zone load.test "$DATA/load-conflict.zone"
expect_run "load-zone of a file with CNAME and A at one name" 0
soft gs_expect_contains "load-zone conflict: geosteerd's reason is logged" \
    "CNAME cannot coexist with other records at the same name" "$PU_ERR"
soft gs_expect_eq "list-zone load.test unchanged after the conflicting file" "$good_text" \
    "$(zone_text load.test)"
soft gs_expect_eq "kdig: dup.load.test not loaded" "NXDOMAIN answers=0" \
    "$(qstatus dup.load.test A)"

# ------------------------------------------------------------- metadata ---
pu set-meta pu.test X-GEO-POLICY drain=pop2 weight=5
expect_run "set-meta multi-value" 0 "Set 'pu.test' meta X-GEO-POLICY = drain=pop2, weight=5"
pu get-meta pu.test X-GEO-POLICY
expect_run "get-meta one kind" 0 "Metadata for 'pu.test'" "X-GEO-POLICY = drain=pop2, weight=5"
pu set-meta pu.test X-GEO-OWNER team-a
expect_run "set-meta second kind" 0 "Set 'pu.test' meta X-GEO-OWNER = team-a"
pu get-meta pu.test
expect_run "get-meta all kinds" 0 "Metadata for 'pu.test'" \
    "X-GEO-OWNER = team-a" "X-GEO-POLICY = drain=pop2, weight=5"
pu show-zone pu.test
expect_run "show-zone lists the metadata" 0 \
    "This is a Native zone" "Zone is not actively secured" "Metadata items: " \
    "${T}X-GEO-OWNER${T}team-a" "${T}X-GEO-POLICY${T}drain=pop2" "${T}X-GEO-POLICY${T}weight=5"
pu set-meta pu.test X-GEO-POLICY drain=none
expect_run "set-meta replaces the values" 0 "Set 'pu.test' meta X-GEO-POLICY = drain=none"
pu set-meta pu.test X-GEO-OWNER
expect_run "set-meta without values clears the kind" 0 "Set 'pu.test' meta X-GEO-OWNER = "
pu get-meta pu.test
expect_run "get-meta all kinds after replace and clear" 0 "Metadata for 'pu.test'" \
    "X-GEO-POLICY = drain=none"
pu get-meta load.test
expect_run "get-meta of a zone without metadata" 0 "Metadata for 'load.test'"
pu set-meta nozone.test X-GEO-POLICY x
expect_run "set-meta on an unknown zone" 1
soft gs_expect_contains "set-meta unknown zone: message" "Invalid zone 'nozone.test'" "$PU_ERR"

# ---------------------------------------------------------- backend-cmd ---
pu backend-cmd remote "zone list" "zone create other.test --ns ns1.other.test --soa-serial 5"
expect_bytes "backend-cmd zone list + zone create" 0 \
    'OK 2 zones\npu.test. id=1 serial=102 records=7 kind=native\nload.test. id=2 serial=2024020101 records=9 kind=native\nOK zone other.test. created with id 3; run '"'"'pdns_control rediscover'"'"' so pdns_server serves it now\n'
soft gs_expect_contains "backend-cmd echoes the first command on stderr" "== zone list" "$PU_ERR"
soft gs_expect_contains "backend-cmd echoes the second command on stderr" \
    "== zone create other.test --ns ns1.other.test --soa-serial 5" "$PU_ERR"
# With the zone cache (remote-only), pdns serves a new zone once told to
# rediscover; the pipe configuration has no zone cache and serves it at once.
if [ "$GS_PDNS_MODE" = pipe ]; then
    soft gs_expect_eq "kdig: other.test served at once (pipe: no zone cache)" "NOERROR answers=1" \
        "$(qstatus other.test SOA)"
else
    soft gs_expect_eq "kdig: other.test REFUSED before rediscover" "REFUSED answers=0" \
        "$(qstatus other.test SOA)"
fi
soft gs_expect_eq "pdns_control rediscover" "Ok" "$(gs_pdns_control "$P" rediscover)"
soft gs_expect_eq "kdig: other.test SOA after rediscover" \
    "ns1.other.test. hostmaster.other.test. 5 10800 3600 604800 300" "$(q other.test SOA)"
pu list-all-zones
expect_run "list-all-zones with other.test" 0 pu.test load.test other.test

pu backend-cmd remote "zone create other.test"
expect_bytes "backend-cmd zone create of an existing zone" 0 \
    "ERR zone create other.test.: zone 'other.test.' already exists (id 3)\n"
pu backend-cmd remote "frobnicate now"
expect_bytes "backend-cmd unknown command" 0 "ERR unknown command 'frobnicate'; try 'help'\n"

pu backend-cmd remote "zone delete other.test"
expect_bytes "backend-cmd zone delete" 0 'OK zone other.test. deleted\n'
soft gs_expect_eq "pdns_control rediscover after delete" "Ok" \
    "$(gs_pdns_control "$P" rediscover)"
soft gs_expect_eq "kdig: other.test REFUSED after delete" "REFUSED answers=0" \
    "$(qstatus other.test SOA)"
pu list-all-zones
expect_run "list-all-zones after zone delete" 0 pu.test load.test
pu backend-cmd remote "zone delete other.test"
expect_bytes "backend-cmd zone delete of a missing zone" 0 \
    "ERR zone delete other.test.: zone 'other.test.' does not exist\n"

# The daemon must still serve the untouched zones after all of this.
soft gs_expect_eq "kdig: www A at the end" "$(printf '%s\n' 192.0.2.111 192.0.2.2)" \
    "$(q www.pu.test A)"

if [ "$FAILS" -ne 0 ]; then
    gs_fail "$FAILS check(s) failed"
fi
echo "all checks passed"
