#!/usr/bin/env bash
# Resource bounds of the protocol server against a real geosteerd (the
# client logic is in limits.py):
#   - the 1 MiB line limit is exact whatever reads the bytes arrive in;
#   - partly sent long lines of many connections stay within the input
#     budget (the others: "server busy", closed);
#   - many long lines at once are parsed a few at a time, their memory given
#     back;
#   - a transaction holds at most 1,000,000 records (refused with the reason,
#     poisoned, freed; its commit refused);
#   - 400,000 replaceRRSets in one transaction take seconds, not minutes.
# Memory bounds are asserted on VmRSS, except in an ASan build.
. "$(dirname "$0")/lib.sh"
gs_require python3

asan=0
if ldd "$GEOSTEERD" 2>/dev/null | grep -q libasan; then asan=1; fi

gs_start_geosteerd "$GS_TMP/gs"
gs_cli zone create lim.test --ns ns1.lim.test >/dev/null

for check in lines partial parse trx rrsets; do
    python3 "$(dirname "$0")/limits.py" "$check" "$GS_SOCK" "$GS_DAEMON_PID" "$asan"
    kill -0 "$GS_DAEMON_PID" 2>/dev/null || gs_fail "geosteerd died during the '$check' check"
done
gs_expect_contains "daemon still serves the zone" "lim.test." "$(gs_cli zone list)"
