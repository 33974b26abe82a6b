#!/usr/bin/env bash
# DNSSEC on two nodes (doc/dnssec.md, "Several nodes"): every signer holds
# the same keys and signs live. P (primary) and S (secondary), each a real
# pdns_server with its own geosteerd, remote-dnssec=yes:
#   - the zone (static, steer() and LUA records) is secured on P; its keys
#     are exported from P and imported on S with pdnsutil
#   - S transfers the zone from P: P's AXFR is signed (RRSIG, NSEC, DNSKEY),
#     S's geosteerd stores none of that and refuses PRESIGNED, so S's pdns
#     signs live with the shared keys
#   - the same questions get the same validated answers from both nodes
#     (delv, P's DS as the only trust anchor, UDP and TCP)
#   - NSEC3 set on P reaches S through the transfer's NSEC3PARAM; a change
#     on P reaches S and validates there
# shellcheck source=test/e2e/lib.sh
. "$(dirname "$0")/lib.sh"
gs_require pdns_server pdnsutil pdns_control kdig delv
GS_PDNS_MODE=remote
Z=n.test

cat >"$GS_TMP/geosteer.json" <<'JSON'
{"endpoints": {"e1": {"a": ["192.0.2.1"]}, "e2": {"a": ["192.0.2.2"]}},
 "pools": {"both": {"endpoints": ["e1", "e2"]}},
 "policies": {"all": {"type": "all", "pool": "both", "ttl": 30}}}
JSON
gs_start_geosteerd "$GS_TMP/P" -c "$GS_TMP/geosteer.json"
SOCK_P=$GS_SOCK
gs_start_geosteerd "$GS_TMP/S" -c "$GS_TMP/geosteer.json"
SOCK_S=$GS_SOCK
PP=$(gs_free_port) SP=$(gs_free_port)
"$GEOSTEER" -s "$SOCK_P" zone create $Z --kind primary >/dev/null
"$GEOSTEER" -s "$SOCK_S" zone create $Z --secondary --primary "127.0.0.1:$PP" >/dev/null
gs_pdns_conf "$GS_TMP/pP" "$SOCK_P" "$PP" primary=yes remote-dnssec=yes xfr-cycle-interval=1 \
    only-notify= "also-notify=127.0.0.2:$SP" allow-axfr-ips=127.0.0.0/8
gs_pdns_conf "$GS_TMP/pS" "$SOCK_S" "$SP" secondary=yes remote-dnssec=yes xfr-cycle-interval=1 \
    local-address=127.0.0.2
pu() {
    local dir=$1
    shift
    gs_pdnsutil_q "$GS_TMP/$dir" "$@"
}
cat >"$GS_TMP/zone" <<'ZONE'
$ORIGIN n.test.
@        300 IN SOA ns1 hostmaster 1 2 1 60 60
@        300 IN NS  ns1
ns1      300 IN A   192.0.2.53
www      300 IN A   192.0.2.10
a.b.ent  300 IN TXT "deep"
*.wild   300 IN A   192.0.2.99
st       30  IN LUA A "steer('all')"
lv       60  IN LUA A "view({{{'127.0.0.0/8'}, {'192.0.2.77'}}})"
ZONE
pu pP load-zone $Z "$GS_TMP/zone" >/dev/null || gs_fail "load-zone on P"
pu pP secure-zone $Z >/dev/null || gs_fail "secure-zone on P"
pu pP add-zone-key $Z zsk active published ecdsa256 >/dev/null || gs_fail "add-zone-key on P"
# The keys, from P to S, each with its role and state.
pu pP show-zone $Z | sed -n 's/^ID = \([0-9]*\) (\([A-Z]*\)).*\t *\(Active\|Inactive\)\t *\(Published\|Unpublished\).*/\1 \2 \3 \4/p' \
    >"$GS_TMP/keys"
[ "$(wc -l <"$GS_TMP/keys")" = 2 ] || gs_fail "P should hold two keys: $(pu pP show-zone $Z)"
while read -r id role act pub; do
    pu pP export-zone-key $Z "$id" >"$GS_TMP/key.$id" || gs_fail "export-zone-key $id"
    [ "$role" = CSK ] && role=ksk
    pu pS import-zone-key $Z "$GS_TMP/key.$id" "${role,,}" "${act,,}" "${pub,,}" >/dev/null ||
        gs_fail "import-zone-key $id on S: $(cat "$GS_TMP/pu.out")"
done <"$GS_TMP/keys"
gs_start_pdns "$GS_TMP/pP" "$PP"
gs_start_pdns "$GS_TMP/pS" "$SP" 127.0.0.2

# on_s NAME ADDRESS: waits up to 15 s for S to answer NAME with ADDRESS.
on_s() {
    for _ in $(seq 150); do
        [ "$(kdig @127.0.0.2 -p "$SP" +short "$1" A)" = "$2" ] && return 0
        sleep 0.1
    done
    gs_fail "S does not answer $1 with $2: $(kdig @127.0.0.2 -p "$SP" "$1" A)"
}
on_s "www.$Z" 192.0.2.10
echo "ok: S transferred the signed zone"
dnskeys() { kdig @"$1" -p "$2" +dnssec $Z DNSKEY | awk '$4 == "DNSKEY" { print $5, $6, $7, $8 }' | sort; }
gs_expect_eq "S publishes the same DNSKEY set as P" "$(dnskeys 127.0.0.1 "$PP")" "$(dnskeys 127.0.0.2 "$SP")"
gs_expect_contains "S left P's signatures out" "pdns signs geosteer zones live" "$(cat "$GS_TMP/S/geosteerd.log")"
gs_expect_eq "S is not presigned" "" "$(pu pS get-meta $Z PRESIGNED | sed -n 's/^PRESIGNED = //p')"

pu pP export-zone-ds $Z | awk '$3 == "DS" && $6 == 2 {
    printf "trust-anchors { n.test. static-ds %s %s %s \"%s\"; };\n", $4, $5, $6, $7; exit }' \
    >"$GS_TMP/anchor"
# both_secure LABEL: the same questions validated on both nodes, UDP and
# TCP, with the same answers.
both_secure() {
    local q name type want n=0 out answer ref
    for tcp in "" +tcp; do
        for q in "www A" "st A" "lv A" "x.wild A" "nope A" "www AAAA" "b.ent TXT" "st AAAA" \
            "a.b.ent TXT" "${EXTRA:-www A}"; do
            read -r name type <<<"$q"
            ref=""
            for node in 127.0.0.1:$PP 127.0.0.2:$SP; do
                out=$(delv @"${node%:*}" -p "${node#*:}" -a "$GS_TMP/anchor" +root=$Z $tcp \
                    "$name.$Z" "$type" 2>&1)
                echo "$out" | grep -q "fully validated" ||
                    gs_fail "$1: $name $type from $node not validated: $out"
                answer=$(echo "$out" | grep -v '^;' | awk '$4 != "RRSIG" { print $1, $4, $5 }' | sort)
                [ -z "$ref" ] && ref="x$answer"
                [ "x$answer" = "$ref" ] || gs_fail "$1: $name $type differs between the nodes: ${ref#x} / $answer"
                n=$((n + 1))
            done
        done
    done
    echo "ok: $1: $n answers validated, the same on both nodes"
}
both_secure "NSEC"

# NSEC3 on P travels in the transfer (NSEC3PARAM); a change follows.
pu pP set-nsec3 $Z "1 0 1 ab" >/dev/null || gs_fail "set-nsec3 on P"
pu pP rectify-zone $Z >/dev/null
pu pP add-record $Z new A 300 192.0.2.123 >/dev/null || gs_fail "add-record on P"
gs_pdns_control "$GS_TMP/pP" purge "$Z\$" >/dev/null
on_s "new.$Z" 192.0.2.123
for _ in $(seq 50); do
    [ -n "$(pu pS get-meta $Z NSEC3PARAM | sed -n 's/^NSEC3PARAM = //p')" ] && break
    sleep 0.1
done
gs_expect_eq "NSEC3PARAM reached S" "1 0 1 ab" "$(pu pS get-meta $Z NSEC3PARAM | sed -n 's/^NSEC3PARAM = //p')"
gs_pdns_control "$GS_TMP/pS" purge "$Z\$" >/dev/null
kdig @127.0.0.2 -p "$SP" +dnssec "nope.$Z" A | grep -q "NSEC3" || gs_fail "S does not deny with NSEC3"
EXTRA="new A" both_secure "NSEC3, after a change on P"
echo "PASS: two signers with the same keys"
