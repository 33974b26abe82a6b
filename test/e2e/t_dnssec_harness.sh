#!/usr/bin/env bash
# Self-test of lib_dnssec.sh, the DNSSEC validation harness, against pdns's
# own live signing (bind backend + bind-dnssec-db): a zone with the usual
# shapes (apex, A/AAAA, CNAME, wildcard, empty non-terminal, MX/TXT, a LUA
# record echoing the ECS subnet, a signed child with a DS and an unsigned
# child without one) must validate through unbound (UDP and TCP, two ECS
# subnets) and delv under NSEC, NSEC3 and NSEC3 narrow. Negative controls
# prove the harness fails on a wrong trust anchor and on an unsigned zone.
# geosteerd is not used.
export GEOSTEERD=${GEOSTEERD:-/nonexistent/geosteerd} GEOSTEER=${GEOSTEER:-/nonexistent/geosteer}
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_dnssec.sh"
gs_require pdns_server pdnsutil kdig python3
gsd_require_validators

T0=$(date +%s)
ZONE=dnssec.test
PD=$GS_TMP/pdns
mkdir -p "$PD"

# --- zones ---------------------------------------------------------------------
cat >"$GS_TMP/parent.zone" <<'EOF'
$ORIGIN dnssec.test.
$TTL 300
@         IN SOA   ns1 hostmaster 2024010101 10800 3600 604800 300
@         IN NS    ns1
@         IN A     192.0.2.1
@         IN MX    10 mail
@         IN TXT   "v=spf1 -all"
ns1       IN A     192.0.2.53
mail      IN A     192.0.2.25
www       IN A     192.0.2.80
www       IN AAAA  2001:db8::80
www       IN TXT   "web"
alias     IN CNAME www
*.wild    IN A     192.0.2.99
a.b.ent   IN A     192.0.2.70
; echoes the ECS subnet pdns received ("none" without one)
ecs       IN LUA   TXT ";if ecswho then return ecswho:toString() else return 'none' end"
; signed child (DS appended below) and unsigned child (no DS)
sub       IN NS    ns1.sub
ns1.sub   IN A     192.0.2.153
insec     IN NS    ns1.insec
ns1.insec IN A     192.0.2.154
EOF
for c in sub insec; do
    cat >"$GS_TMP/$c.zone" <<EOF
\$ORIGIN $c.$ZONE.
\$TTL 300
@    IN SOA ns1 hostmaster 1 10800 3600 604800 300
@    IN NS  ns1
ns1  IN A   192.0.2.153
host IN A   192.0.2.160
EOF
done

# --- pdns: bind backend, live signing from bind-dnssec-db --------------------------
PORT=$(gs_free_port)
gs_pdns_bind_conf "$PD" "$PORT" "$ZONE" "$GS_TMP/parent.zone" \
    "bind-dnssec-db=$PD/dnssec.db" enable-lua-records=yes log-dns-queries=yes \
    cache-ttl=0 query-cache-ttl=0 negquery-cache-ttl=0
for c in sub insec; do
    echo "zone \"$c.$ZONE\" { type master; file \"$GS_TMP/$c.zone\"; };" >>"$PD/named.conf"
done
pu() { gs_pdnsutil "$PD" "$@" >>"$PD/pdnsutil.log" 2>&1 || gs_fail "pdnsutil $* failed; see $PD/pdnsutil.log"; }
pu create-bind-db "$PD/dnssec.db"
pu secure-zone "$ZONE"
pu secure-zone "sub.$ZONE"
gs_pdnsutil "$PD" export-zone-ds "sub.$ZONE" 2>/dev/null | sed 's/;.*//' |
    awk '$3 == "DS" && $6 == 2' >>"$GS_TMP/parent.zone"
grep -q "^sub.$ZONE. IN DS " "$GS_TMP/parent.zone" || gs_fail "no DS for sub.$ZONE"
gsd_anchor "$ZONE" "$PD" "$GS_TMP/anchor"
gs_start_pdns "$PD" "$PORT"

# restart_pdns: pdns re-reads keys and NSEC3 settings only at start-up.
restart_pdns() {
    gs_stop "$GS_PDNS_PID"
    gs_start_pdns "$PD" "$PORT"
}

# Two resolvers: U forwards to pdns over UDP, T over TCP (tcp-upstream), so
# that both pdns transports are validated.
gsd_start_unbound "$GS_TMP/unbound-udp" "$ZONE" "$PORT" "$GS_TMP/anchor"
U_PORT=$GSD_UNBOUND_PORT U_PID=$GSD_UNBOUND_PID
gsd_start_unbound "$GS_TMP/unbound-tcp" "$ZONE" "$PORT" "$GS_TMP/anchor" "tcp-upstream: yes"
T_PORT=$GSD_UNBOUND_PORT T_PID=$GSD_UNBOUND_PID
use_unbound() { # use_unbound udp|tcp
    if [ "$1" = udp ]; then
        GSD_UNBOUND_PORT=$U_PORT GSD_UNBOUND_PID=$U_PID GSD_UNBOUND_DIR=$GS_TMP/unbound-udp
    else
        GSD_UNBOUND_PORT=$T_PORT GSD_UNBOUND_PID=$T_PID GSD_UNBOUND_DIR=$GS_TMP/unbound-tcp
    fi
}
restart_unbounds() {
    use_unbound udp && gsd_restart_unbound && U_PID=$GSD_UNBOUND_PID
    use_unbound tcp && gsd_restart_unbound && T_PID=$GSD_UNBOUND_PID
}

# answer_has LABEL REGEX: the last reply's answer section has a matching record.
answer_has() {
    local line
    while IFS= read -r line; do [[ ! $line =~ $2 ]] || return 0; done <<<"$GSD_ANSWER"
    gs_fail "$1: no answer record matching /$2/
$(gsd_report)"
}

# check_phase MODE: the whole matrix. MODE (nsec|nsec3|narrow) only makes
# names distinct, so that negative answers come from pdns, not a cache.
check_phase() {
    local mode=$1 tr net tag i=0
    for tr in udp tcp; do
        use_unbound "$tr"
        for net in 198.51.100.0/24 203.0.113.0/24; do
            i=$((i + 1))
            tag="$mode $tr $net"
            gsd_expect_secure "$tag: apex SOA" "$ZONE" SOA NOERROR "$net" "$tr"
            gsd_expect_secure "$tag: apex MX" "$ZONE" MX NOERROR "$net" "$tr"
            answer_has "$tag: apex MX" "IN MX 10 mail\.$ZONE\.$"
            gsd_expect_secure "$tag: apex TXT" "$ZONE" TXT NOERROR "$net" "$tr"
            gsd_expect_secure "$tag: A" "www.$ZONE" A NOERROR "$net" "$tr"
            answer_has "$tag: A" "^www\.$ZONE\. [0-9]+ IN A 192\.0\.2\.80$"
            gsd_expect_secure "$tag: AAAA" "www.$ZONE" AAAA NOERROR "$net" "$tr"
            answer_has "$tag: AAAA" "IN AAAA 2001:db8::80$"
            gsd_expect_secure "$tag: CNAME" "alias.$ZONE" A NOERROR "$net" "$tr"
            answer_has "$tag: CNAME" "^alias\.$ZONE\. [0-9]+ IN CNAME www\.$ZONE\.$"
            answer_has "$tag: CNAME target" "^www\.$ZONE\. [0-9]+ IN A 192\.0\.2\.80$"
            gsd_expect_secure "$tag: wildcard" "w$i-$mode.wild.$ZONE" A NOERROR "$net" "$tr"
            answer_has "$tag: wildcard" "^w$i-$mode\.wild\.$ZONE\. [0-9]+ IN A 192\.0\.2\.99$"
            gsd_expect_secure "$tag: wildcard NODATA" "w$i-$mode.wild.$ZONE" AAAA NODATA "$net" "$tr"
            gsd_expect_secure "$tag: NXDOMAIN" "nx$i-$mode.$ZONE" A NXDOMAIN "$net" "$tr"
            gsd_expect_secure "$tag: NXDOMAIN below a name" "nx$i.www.$ZONE" A NXDOMAIN "$net" "$tr"
            gsd_expect_secure "$tag: NODATA" "www.$ZONE" MX NODATA "$net" "$tr"
            gsd_expect_secure "$tag: ENT b.ent" "b.ent.$ZONE" A NODATA "$net" "$tr"
            gsd_expect_secure "$tag: ENT ent" "ent.$ZONE" TXT NODATA "$net" "$tr"
            gsd_expect_secure "$tag: below ENT" "a.b.ent.$ZONE" A NOERROR "$net" "$tr"
            gsd_expect_secure "$tag: DS of signed child" "sub.$ZONE" DS NOERROR "$net" "$tr"
            gsd_expect_secure "$tag: in signed child" "host.sub.$ZONE" A NOERROR "$net" "$tr"
            gsd_expect_secure "$tag: NXDOMAIN in signed child" "nx$i-$mode.sub.$ZONE" A NXDOMAIN "$net" "$tr"
            gsd_expect_secure "$tag: no DS for unsigned child" "insec.$ZONE" DS NODATA "$net" "$tr"
            gsd_expect_insecure "$tag: in unsigned child" "host.insec.$ZONE" A NOERROR "$net" "$tr"
            gsd_expect_insecure "$tag: NXDOMAIN in unsigned child" "nx$i-$mode.insec.$ZONE" A NXDOMAIN "$net" "$tr"
            gsd_expect_secure "$tag: ECS echo" "ecs.$ZONE" TXT NOERROR "$net" "$tr"
            answer_has "$tag: ECS reached pdns" "IN TXT \"${net//./\\.}\"$"
        done
    done
    # delv asks pdns itself, no ECS.
    for tr in "" tcp; do
        gsd_delv_secure "$ZONE" SOA "$PORT" "$GS_TMP/anchor" answer $tr
        gsd_delv_secure "www.$ZONE" A "$PORT" "$GS_TMP/anchor" answer $tr
        gsd_delv_secure "www.$ZONE" AAAA "$PORT" "$GS_TMP/anchor" answer $tr
        gsd_delv_secure "alias.$ZONE" A "$PORT" "$GS_TMP/anchor" answer $tr
        gsd_delv_secure "d-$mode$tr.wild.$ZONE" A "$PORT" "$GS_TMP/anchor" answer $tr
        gsd_delv_secure "d-$mode$tr.wild.$ZONE" MX "$PORT" "$GS_TMP/anchor" nodata $tr
        gsd_delv_secure "dnx-$mode$tr.$ZONE" A "$PORT" "$GS_TMP/anchor" nxdomain $tr
        gsd_delv_secure "www.$ZONE" MX "$PORT" "$GS_TMP/anchor" nodata $tr
        gsd_delv_secure "b.ent.$ZONE" A "$PORT" "$GS_TMP/anchor" nodata $tr
        gsd_delv_secure "a.b.ent.$ZONE" A "$PORT" "$GS_TMP/anchor" answer $tr
        gsd_delv_secure "ecs.$ZONE" TXT "$PORT" "$GS_TMP/anchor" answer $tr
        gsd_delv_secure "sub.$ZONE" DS "$PORT" "$GS_TMP/anchor" answer $tr
        gsd_delv_secure "host.sub.$ZONE" A "$PORT" "$GS_TMP/anchor" answer $tr
        gsd_delv_secure "insec.$ZONE" DS "$PORT" "$GS_TMP/anchor" nodata $tr
        gsd_delv_insecure "host.insec.$ZONE" A "$PORT" "$GS_TMP/anchor" $tr
        gsd_delv_insecure "nx.insec.$ZONE" A "$PORT" "$GS_TMP/anchor" $tr
    done
}

# auth_nsec MODE: pdns's own NXDOMAIN proof is of the kind MODE says.
auth_nsec() {
    local out
    out=$(kdig @127.0.0.1 -p "$PORT" +dnssec +norec "nx-probe.$ZONE" A 2>&1)
    python3 - "$1" "$out" <<'PY' || gs_fail "pdns is not in $1 mode:
$out"
import sys
mode, out = sys.argv[1], sys.argv[2]
b32 = "0123456789abcdefghijklmnopqrstuv"
def num(h):  # base32hex -> integer
    n = 0
    for c in h: n = n * 32 + b32.index(c)
    return n
nsec, nsec3 = [], []
for l in out.splitlines():
    f = l.split()
    if len(f) > 4 and f[3] == "NSEC": nsec.append(f)
    if len(f) > 8 and f[3] == "NSEC3": nsec3.append((f[0].split(".")[0].lower(), f[8].lower()))
# narrow (white lies): next hash = owner + 1 (a match) or + 2 (a cover)
narrow = bool(nsec3) and all(num(n) - num(o) in (1, 2) for o, n in nsec3)
ok = {"nsec": bool(nsec) and not nsec3,
      "nsec3": bool(nsec3) and not nsec and not narrow,
      "narrow": narrow and not nsec}[mode]
sys.exit(0 if ok else 1)
PY
    echo "ok: pdns serves $1 proofs"
}

# --- NSEC, NSEC3, NSEC3 narrow --------------------------------------------------
auth_nsec nsec
check_phase nsec
echo "phase nsec done at $(($(date +%s) - T0)) s"

gs_stop "$GS_PDNS_PID"
pu set-nsec3 "$ZONE" '1 0 0 -'
pu rectify-zone "$ZONE"
gs_start_pdns "$PD" "$PORT"
restart_unbounds
auth_nsec nsec3
check_phase nsec3
echo "phase nsec3 done at $(($(date +%s) - T0)) s"

gs_stop "$GS_PDNS_PID"
pu set-nsec3 "$ZONE" '1 0 0 -' narrow
pu rectify-zone "$ZONE"
gs_start_pdns "$PD" "$PORT"
restart_unbounds
auth_nsec narrow
check_phase narrow
echo "phase narrow done at $(($(date +%s) - T0)) s"

# --- ECS reached pdns through unbound, over UDP and TCP -------------------------
grep -q "^.* Remote 127\.0\.0\.1<-203\.0\.113\.0/24 wants 'ecs\.$ZONE|TXT'" "$PD/pdns.log" ||
    gs_fail "pdns never logged a UDP query with ECS 203.0.113.0/24"
grep -q "TCP Remote 127\.0\.0\.1<-198\.51\.100\.0/24 wants 'ecs\.$ZONE|TXT'" "$PD/pdns.log" ||
    gs_fail "pdns never logged a TCP query with ECS 198.51.100.0/24"
echo "ok: pdns logged the ECS subnets over UDP and TCP"
# A longer client prefix is cut to /24; no client ECS: unbound sends its
# client's address (127.0.0.0/24).
use_unbound udp
gsd_expect_secure "ECS /32 cut to /24" "ecs.$ZONE" TXT NOERROR 192.0.2.77/32
answer_has "ECS /32 cut to /24" 'IN TXT "192\.0\.2\.0/24"$'
gsd_expect_secure "no client ECS" "ecs.$ZONE" TXT NOERROR
answer_has "no client ECS" 'IN TXT "127\.0\.0\.0/24"$'

# --- the harness's own checks can fail ------------------------------------------
# fails WHAT CMD...: CMD (a harness check) must fail, in a subshell.
fails() {
    local what=$1
    shift
    if ("$@") >"$GS_TMP/neg.out" 2>&1; then
        cat "$GS_TMP/neg.out" >&2
        gs_fail "negative control passed: $what"
    fi
    echo "ok: negative control fails: $what ($(grep -m1 'FAIL' "$GS_TMP/neg.out" | cut -c1-100))"
}
fails "expected NOERROR for a NXDOMAIN" gsd_expect_secure x "nope.$ZONE" A NOERROR
fails "expected NODATA for an answer" gsd_expect_secure x "www.$ZONE" A NODATA
fails "expected NXDOMAIN for NODATA" gsd_expect_secure x "www.$ZONE" MX NXDOMAIN
fails "secure answer called insecure" gsd_expect_insecure x "www.$ZONE" A NOERROR
fails "insecure answer called secure" gsd_expect_secure x "host.insec.$ZONE" A NOERROR
fails "delv: NODATA called NXDOMAIN" gsd_delv_secure "www.$ZONE" MX "$PORT" "$GS_TMP/anchor" nxdomain
fails "delv: insecure called secure" gsd_delv_secure "host.insec.$ZONE" A "$PORT" "$GS_TMP/anchor"
fails "delv: secure called insecure" gsd_delv_insecure "www.$ZONE" A "$PORT" "$GS_TMP/anchor"

# (a) a wrong trust anchor: every DS digest altered (both validators use the
# strongest digest, so altering only the SHA-256 one would not be noticed).
awk '{ d = $7; c = substr(d, length(d)); $7 = substr(d, 1, length(d) - 1) (c == "0" ? "1" : "0"); print }' \
    "$GS_TMP/anchor" >"$GS_TMP/bad-anchor"
gsd_anchor_delv "$GS_TMP/bad-anchor"
! cmp -s "$GS_TMP/anchor" "$GS_TMP/bad-anchor" || gs_fail "bad anchor equals the good one"
gsd_start_unbound "$GS_TMP/unbound-bad" "$ZONE" "$PORT" "$GS_TMP/bad-anchor"
fails "wrong anchor: A" gsd_expect_secure x "www.$ZONE" A NOERROR
fails "wrong anchor: NXDOMAIN" gsd_expect_secure x "nx-bad.$ZONE" A NXDOMAIN 203.0.113.0/24 tcp
fails "wrong anchor: gsd_validate" gsd_validate "www.$ZONE" A
gsd_expect_bogus "wrong anchor: A is bogus" "www.$ZONE" A
fails "wrong anchor: delv" gsd_delv_secure "www.$ZONE" A "$PORT" "$GS_TMP/bad-anchor"
fails "wrong anchor: delv NXDOMAIN" gsd_delv_secure "nx-bad.$ZONE" A "$PORT" "$GS_TMP/bad-anchor"
gs_stop "$GSD_UNBOUND_PID"

# (b) the zone no longer signed, with the same anchor.
gs_stop "$GS_PDNS_PID"
pu disable-dnssec "$ZONE"
gs_start_pdns "$PD" "$PORT"
out=$(kdig @127.0.0.1 -p "$PORT" +dnssec +norec "www.$ZONE" A)
case "$out" in *RRSIG*) gs_fail "pdns still signs after disable-dnssec: $out" ;; esac
restart_unbounds
use_unbound udp
fails "unsigned zone: A" gsd_expect_secure x "www.$ZONE" A NOERROR
fails "unsigned zone: A over TCP" gsd_expect_secure x "www.$ZONE" A NOERROR 198.51.100.0/24 tcp
fails "unsigned zone: NXDOMAIN" gsd_expect_secure x "nx-unsigned.$ZONE" A NXDOMAIN
fails "unsigned zone: insecure is not enough" gsd_expect_insecure x "www.$ZONE" A NOERROR
gsd_expect_bogus "unsigned zone: A is bogus" "www.$ZONE" A
fails "unsigned zone: delv" gsd_delv_secure "www.$ZONE" A "$PORT" "$GS_TMP/anchor"
fails "unsigned zone: delv NXDOMAIN" gsd_delv_secure "nx-unsigned.$ZONE" A "$PORT" "$GS_TMP/anchor"
fails "unsigned zone: delv insecure" gsd_delv_insecure "www.$ZONE" A "$PORT" "$GS_TMP/anchor"

echo "dnssec harness self-test passed in $(($(date +%s) - T0)) s"
