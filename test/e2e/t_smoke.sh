#!/usr/bin/env bash
# Smoke test over the shipped examples: examples/pdns-geosteer.conf (with the
# socket path and port changed) drives a real pdns_server, examples/demo.zone
# is loaded with pdnsutil into a zone made by the CLI, and answers come back.
. "$(dirname "$0")/lib.sh"
gs_require pdns_server pdnsutil kdig python3
ex=$GS_SOURCE_DIR/examples

gs_start_geosteerd "$GS_TMP/gs" -c "$ex/geosteer.json"
out=$(gs_cli zone create demo.test --ns ns1.demo.test)
gs_expect_contains "zone create" "OK zone demo.test. created" "$out"

port=$(gs_free_port)
mkdir -p "$GS_TMP/pdns"
sed "s|/run/geosteer/backend.sock|$GS_SOCK|" "$ex/pdns-geosteer.conf" >"$GS_TMP/pdns/pdns.conf"
gs_pdns_local "$GS_TMP/pdns" "$port" >>"$GS_TMP/pdns/pdns.conf"
gs_pdnsutil "$GS_TMP/pdns" load-zone demo.test "$ex/demo.zone" 2>/dev/null
gs_start_pdns "$GS_TMP/pdns" "$port"

q() { kdig @127.0.0.1 -p "$port" +short "$@"; }
gs_expect_eq "SOA" "ns1.demo.test. hostmaster.demo.test. 2026112401 10800 3600 604800 300" "$(q demo.test SOA)"
gs_expect_eq "A" "192.0.2.80" "$(q www.demo.test A)"
gs_expect_eq "CNAME chain" "$(printf 'www.demo.test.\n192.0.2.80')" "$(q api.demo.test A)"
gs_expect_eq "wildcard" "192.0.2.81" "$(q x.apps.demo.test A)"
status=$(kdig @127.0.0.1 -p "$port" deep.ent.demo.test A | grep -o 'status: [A-Z]*')
gs_expect_eq "empty non-terminal is NODATA" "status: NOERROR" "$status"
ecs=$(kdig @127.0.0.1 -p "$port" www.demo.test A +subnet=203.0.113.0/24 | grep 'CLIENT-SUBNET')
gs_expect_contains "static answers carry ECS scope 0" "203.0.113.0/24/0" "$ecs"
