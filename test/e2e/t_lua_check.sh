#!/usr/bin/env bash
# `geosteer lua-check FILE` (no daemon): records in parentheses over several
# lines (the pdns docs' style) are read like pdnsutil load-zone reads them;
# each construct outside the subset is named (local variables, loops,
# include(), string building, Lua long strings, library calls) with a
# fitting suggestion; a missing file is EX_NOINPUT (66), not "cannot reach
# geosteerd"; a malformed record is EX_DATAERR (65) with its line.
. "$(dirname "$0")/lib.sh"

# run FILE [ARGS...]: sets OUT (stdout and stderr) and RC.
run() {
    set +e
    OUT=$("$GEOSTEER" -s "$GS_TMP/no.sock" lua-check "$@" 2>&1)
    RC=$?
    set -e
}

# ---- supported records, one of them over two lines -------------------------------
cat >"$GS_TMP/ok.zone" <<'ZONE'
$ORIGIN ok.test.
$TTL 300
@     IN SOA ns1 hostmaster ( 1 3600 600
                              86400 300 )
      IN NS  ns1
www   IN LUA A ( ";if country('US') then return '192.0.2.1' "
                 "else return '192.0.2.2' end" )
multi IN LUA A ( "pickrandom({'192.0.2.1',"   ; a comment inside
                 "            '192.0.2.2'})" )
semi  IN LUA TXT "pickrandom({'a;b', 'c)d'})"
ZONE
run "$GS_TMP/ok.zone"
echo "$OUT"
gs_expect_eq "multi-line records are supported: exit 0" 0 "$RC"
gs_expect_contains "summary" "OK lua-check $GS_TMP/ok.zone: 3 LUA records, 3 supported, 0 not" "$OUT"
gs_expect_contains "the docs' multi-line record, with its line, joined as pdns joins it" \
    "$GS_TMP/ok.zone:6: www.ok.test. LUA A \";if country('US') then return '192.0.2.1' \" \"else return '192.0.2.2' end\": supported (values in a conditional chain)" "$OUT"
gs_expect_contains "a comment inside the parentheses" \
    "$GS_TMP/ok.zone:8: multi.ok.test. LUA A \"pickrandom({'192.0.2.1',\" \"            '192.0.2.2'})\": supported (pickrandom); as a policy: a random policy" "$OUT"
gs_expect_contains "';' and ')' inside quotes are data" "semi.ok.test. LUA TXT \"pickrandom({'a;b', 'c)d'})\": supported" "$OUT"

# ---- constructs outside the subset: named, with a suggestion ----------------------------
cat >"$GS_TMP/bad.zone" <<'ZONE'
$ORIGIN bad.test.
loc   IN LUA A ";local a = '192.0.2.1' return a"
forl  IN LUA A ";for i = 1, 2 do end return '192.0.2.1'"
whl   IN LUA A ";while true do end"
inc   IN LUA A ";include('cfg') return ifportup(443, {'192.0.2.1'})"
cat   IN LUA TXT ";return 'a' .. 'b'"
cat2  IN LUA TXT ";if country('US') then return 'x' .. 'y' else return 'z' end"
lib   IN LUA TXT ";return os.date('%c')"
filt  IN LUA A "filterForward(createForward(), newNMG({'192.0.2.0/24'}))"
fwd   IN LUA A "createForward()"
ZONE
run "$GS_TMP/bad.zone"
echo "$OUT"
gs_expect_eq "unsupported records: exit 1" 1 "$RC"
gs_expect_contains "summary" "ERR lua-check $GS_TMP/bad.zone: 9 LUA records, 0 supported, 9 not" "$OUT"
gs_expect_contains "local" \
    "loc.bad.test. LUA A \";local a = '192.0.2.1' return a\": NOT supported: LUA: column 2: local variables are not in the supported subset" "$OUT"
gs_expect_contains "for loop" "forl.bad.test. LUA A \";for i = 1, 2 do end return '192.0.2.1'\": NOT supported: LUA: column 2: loops (for/while/repeat) are not in the supported subset" "$OUT"
gs_expect_contains "while loop" "whl.bad.test. LUA A \";while true do end\": NOT supported: LUA: column 2: loops (for/while/repeat)" "$OUT"
gs_expect_contains "include, and the policy of the selection it wraps" \
    "NOT supported: LUA: column 2: include() of shared code is not in the supported subset: shared addresses become endpoints and pools in geosteer.json; instead: a failover policy, one pool per address set, endpoints with a tcp monitor" "$OUT"
gs_expect_contains "string building" \
    "cat.bad.test. LUA TXT \";return 'a' .. 'b'\": NOT supported: LUA: column 13: string building with '..' is not in the supported subset" "$OUT"
gs_expect_contains "string building in a chain: a geo policy" \
    "string building with '..' is not in the supported subset: write the whole value as one string; instead: a geo policy with country rules" "$OUT"
gs_expect_contains "library calls" "Lua library calls and methods ('os.date') are not in the supported subset" "$OUT"
gs_expect_contains "filterForward has its own hint" \
    "filt.bad.test. LUA A \"filterForward(createForward(), newNMG({'192.0.2.0/24'}))\": NOT supported: LUA: column 1: function filterForward() is not in geosteer's LUA subset; instead: static A/AAAA records for the names whose addresses the netmasks allow" "$OUT"
gs_expect_contains "createForward keeps its hint" \
    "fwd.bad.test. LUA A \"createForward()\": NOT supported: LUA: column 1: function createForward() is not in geosteer's LUA subset; instead: static A/AAAA records (generate them with a script)" "$OUT"
# Lua long strings ([[...]], [=[...]=]) are strings, as in pdns and in Lua
cat >"$GS_TMP/long.zone" <<'ZONE'
$ORIGIN long.test.
long  IN LUA A "ifurlup('https://x.example/', {'192.0.2.1'}, {stringmatch=[[OK]]})"
long2 IN LUA TXT "[==[say 'hi']==]"
ZONE
run "$GS_TMP/long.zone"
gs_expect_eq "long strings: supported, exit 0" 0 "$RC"
gs_expect_contains "long strings: summary" "2 LUA records, 2 supported, 0 not" "$OUT"

# ---- files that cannot be read: 66, whatever the name looks like --------------------
run "$GS_TMP/missing.zone"
gs_expect_eq "missing file (a path): exit 66" 66 "$RC"
gs_expect_contains "missing file named" "$GS_TMP/missing.zone: No such file or directory" "$OUT"
case "$OUT" in *"cannot reach"*) gs_fail "a missing file was sent to the daemon: $OUT" ;; esac
(cd "$GS_TMP" && run missing.zone && [ "$RC" = 66 ]) || gs_fail "missing.zone (no path): expected exit 66"
echo "ok: missing.zone (no directory part): exit 66"
run "$GS_TMP/missing" --origin missing.test
gs_expect_eq "missing file with --origin: exit 66" 66 "$RC"
run "$GS_TMP"
gs_expect_eq "a directory: exit 66" 66 "$RC"
gs_expect_contains "a directory named" "$GS_TMP: Is a directory" "$OUT"
run missing.test.
gs_expect_eq "a zone name (final dot) still goes to the daemon" 69 "$RC"

# ---- malformed records: 65, with their lines, the rest still checked --------------------
cat >"$GS_TMP/broken.zone" <<'ZONE'
$ORIGIN br.test.
$INCLUDE common.zone
ok    IN LUA A "pickrandom({'192.0.2.1'})"
open  IN LUA A ( "pickrandom({'192.0.2.1'})"
ZONE
run "$GS_TMP/broken.zone"
echo "$OUT"
gs_expect_eq "malformed records: exit 65" 65 "$RC"
gs_expect_contains "malformed: summary" "ERR $GS_TMP/broken.zone: 2 malformed records or directives, not checked (below)" "$OUT"
gs_expect_contains "malformed: \$INCLUDE" "$GS_TMP/broken.zone:2: error: \$INCLUDE is not supported" "$OUT"
gs_expect_contains "malformed: unclosed parenthesis" "$GS_TMP/broken.zone:4: error: a '(' is never closed" "$OUT"
gs_expect_contains "the rest is checked" "$GS_TMP/broken.zone:3: ok.br.test. LUA A \"pickrandom({'192.0.2.1'})\": supported" "$OUT"
echo "PASS"
