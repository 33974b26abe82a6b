#!/usr/bin/env bash
# Smoke test of examples/pdns-geosteer-pipe.conf: the shipped pipe-path
# config (socket paths and port changed) drives a real pdns_server with
# launch=pipe,remote; examples/demo.zone (loaded with pdnsutil through a
# remote-only config, as the example says) answers as in t_smoke, and the
# answers demonstrably came through the pipe: geosteerd's pipe lookups grow.
. "$(dirname "$0")/lib.sh"
gs_require pdns_server pdnsutil kdig python3
ls /usr/lib/*/pdns/libpipebackend.so >/dev/null 2>&1 || gs_skip "pdns-backend-pipe is not installed"
ex=$GS_SOURCE_DIR/examples

gs_start_geosteerd "$GS_TMP/gs" -c "$ex/geosteer.json" -p "$GS_TMP/gs/pipe.sock"
gs_wait_socket "$GS_TMP/gs/pipe.sock"
gs_cli zone create demo.test --ns ns1.demo.test >/dev/null
gs_pdns_conf "$GS_TMP/pdnsutil" "$GS_SOCK" 5399
gs_pdnsutil "$GS_TMP/pdnsutil" load-zone demo.test "$ex/demo.zone" 2>/dev/null

port=$(gs_free_port)
mkdir -p "$GS_TMP/pdns"
sed -e "s|/run/geosteer/backend.sock|$GS_SOCK|" -e "s|/run/geosteer/pipe.sock|$GS_TMP/gs/pipe.sock|" \
    "$ex/pdns-geosteer-pipe.conf" >"$GS_TMP/pdns/pdns.conf"
# pdns asks its backends in launch order: the pipe must come first.
grep -q "^launch=pipe,remote$" "$GS_TMP/pdns/pdns.conf" || gs_fail "the example does not launch pipe,remote"
gs_pdns_local "$GS_TMP/pdns" "$port" >>"$GS_TMP/pdns/pdns.conf"
gs_start_pdns "$GS_TMP/pdns" "$port"

# lookups IFACE: geosteerd's lookups on interface IFACE (pipe, remote) so far.
lookups() {
    gs_cli metrics | awk -v i="$1" '$0 ~ "^geosteer_requests_total\\{interface=\"" i "\",method=\"lookup\"" { n += $NF }
        END { print n + 0 }'
}
before=$(lookups pipe) rbefore=$(lookups remote)
q() { kdig @127.0.0.1 -p "$port" +short "$@"; }
gs_expect_eq "SOA" "ns1.demo.test. hostmaster.demo.test. 2026112401 10800 3600 604800 300" "$(q demo.test SOA)"
gs_expect_eq "A" "192.0.2.80" "$(q www.demo.test A)"
gs_expect_eq "AAAA" "2001:db8::80" "$(q www.demo.test AAAA)"
gs_expect_eq "CNAME chain" "$(printf 'www.demo.test.\n192.0.2.80')" "$(q api.demo.test A)"
gs_expect_eq "wildcard" "192.0.2.81" "$(q x.apps.demo.test A)"
status=$(kdig @127.0.0.1 -p "$port" deep.ent.demo.test A | grep -o 'status: [A-Z]*')
gs_expect_eq "empty non-terminal is NODATA" "status: NOERROR" "$status"
status=$(kdig @127.0.0.1 -p "$port" mail.demo.test AAAA | grep -o 'status: [A-Z]*')
gs_expect_eq "no AAAA is NODATA" "status: NOERROR" "$status"
status=$(kdig @127.0.0.1 -p "$port" nx.demo.test A | grep -o 'status: [A-Z]*')
gs_expect_eq "NXDOMAIN" "status: NXDOMAIN" "$status"
ecs=$(kdig @127.0.0.1 -p "$port" www.demo.test A +subnet=203.0.113.0/24 | grep 'CLIENT-SUBNET')
gs_expect_contains "static answers carry ECS scope 0" "203.0.113.0/24/0" "$ecs"
after=$(lookups pipe) rafter=$(lookups remote)
[ "$after" -gt "$before" ] || gs_fail "no lookup came through the pipe ($before -> $after)"
echo "ok: $((after - before)) lookups through the pipe, $((rafter - rbefore)) through the remote backend"
