#!/usr/bin/env bash
# Smoke test: a zone created with the CLI is served by a real pdns_server.
. "$(dirname "$0")/lib.sh"
gs_require pdns_server pdnsutil kdig python3

gs_start_geosteerd "$GS_TMP/gs"
out=$(gs_cli zone create smoke.test --ns ns1.smoke.test --soa-serial 7)
gs_expect_contains "zone create" "OK zone smoke.test. created" "$out"

port=$(gs_free_port)
gs_pdns_conf "$GS_TMP/pdns" "$GS_SOCK" "$port"
gs_start_pdns "$GS_TMP/pdns" "$port"

ans=$(kdig @127.0.0.1 -p "$port" smoke.test SOA +short)
gs_expect_eq "SOA served" "ns1.smoke.test. hostmaster.smoke.test. 7 10800 3600 604800 300" "$ans"
