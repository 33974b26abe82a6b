#!/usr/bin/env bash
# DNSSEC keys held by geosteerd and managed with pdnsutil (doc/dnssec.md):
# a real pdns_server with launch=remote and remote-dnssec=yes signs live;
# every answer checked is validated by delv (BIND's validator), with the
# zone's DS (from `pdnsutil export-zone-ds`) as its only trust anchor.
#   - secure-zone, show-zone, export-zone-dnskey, export-zone-ds, rectify-zone
#   - a ZSK pre-publish rollover and a KSK double-signature rollover with
#     add-zone-key, activate/deactivate/publish/unpublish/remove-zone-key:
#     every step validates; the old DS stops validating once its KSK is gone
#   - set-nsec3 (and narrow), unset-nsec3: denials validate in each mode
#   - bad input: a malformed key file, steps out of order (pdnsutil fails
#     with geosteerd's reason; nothing stored; serving goes on)
#   - private keys never in geosteerd's log, `status` or `explain`; the
#     store is 0600; keys survive SIGKILL of geosteerd
#   - disable-dnssec: keys gone, answers unsigned
# pdns's key and metadata caches are off here (dnssec-key-cache-ttl=0,
# zone-metadata-cache-ttl=0) and so is its packet cache, so each step is
# served at once; operators purge instead (doc/dnssec.md).
# shellcheck source=test/e2e/lib.sh
. "$(dirname "$0")/lib.sh"
gs_require pdns_server pdnsutil kdig delv sqlite3
GS_PDNS_MODE=remote

cat >"$GS_TMP/geosteer.json" <<'JSON'
{"endpoints": {"e1": {"a": ["192.0.2.1"]}, "e2": {"a": ["192.0.2.2"]}},
 "pools": {"both": {"endpoints": ["e1", "e2"]}},
 "policies": {"all": {"type": "all", "pool": "both", "ttl": 30}}}
JSON
gs_start_geosteerd "$GS_TMP/gs" -c "$GS_TMP/geosteer.json"
DAEMON_ARGS=(-c "$GS_TMP/geosteer.json")
PORT=$(gs_free_port)
gs_pdns_conf "$GS_TMP/p" "$GS_SOCK" "$PORT" remote-dnssec=yes dnssec-key-cache-ttl=0 \
    zone-metadata-cache-ttl=0 cache-ttl=0 query-cache-ttl=0 negquery-cache-ttl=0
pu() { gs_pdnsutil_q "$GS_TMP/p" "$@"; }
Z=k.test
gs_cli zone create $Z >/dev/null
cat >"$GS_TMP/zone" <<'ZONE'
$ORIGIN k.test.
@        300 IN SOA ns1 hostmaster 1 3600 600 86400 60
@        300 IN NS  ns1
ns1      300 IN A   192.0.2.53
www      300 IN A   192.0.2.10
txt      300 IN TXT "hello"
a.b.ent  300 IN TXT "deep"
*.wild   300 IN A   192.0.2.99
sub      300 IN NS  ns.sub
ns.sub   300 IN A   192.0.2.54
st       30  IN LUA A "steer('all')"
co       60  IN LUA A ";if netmask({'10.0.0.0/8'}) then return '192.0.2.7' else return '192.0.2.8' end"
ZONE
pu load-zone $Z "$GS_TMP/zone" >/dev/null || gs_fail "load-zone"
gs_expect_eq "the zone loaded" 11 "$(gs_cli zone list | sed -n "s/^$Z\. .*records=\([0-9]*\).*/\1/p")"
out=$(pu secure-zone $Z) || gs_fail "secure-zone: $out"
gs_expect_contains "secure-zone" "Zone $Z secured" "$out"
gs_start_pdns "$GS_TMP/p" "$PORT"

show() { pu show-zone $Z; }
# key_ids ROLE: ids of the zone's keys of role CSK, KSK or ZSK, per show-zone.
key_ids() { show | sed -n "s/^ID = \([0-9]*\) ($1).*/\1/p" | tr '\n' ' '; }
# anchor FILE [TAG]: a delv trust anchor for the zone from its SHA-256 DS
# (the one of key tag TAG when given).
anchor() {
    local ds
    ds=$(pu export-zone-ds $Z | awk -v t="${2:-}" '$3 == "DS" && $6 == 2 && (t == "" || $4 == t) {
        printf "%s %s %s \"%s\"", $4, $5, $6, $7; exit }')
    [ -n "$ds" ] || gs_fail "no DS for $Z ${2:+(tag $2)}: $(pu export-zone-ds $Z)"
    echo "trust-anchors { $Z. static-ds $ds; };" >"$1"
}
tag_of() { show | sed -n "s/^ID = $1 (.*tag = \([0-9]*\),.*/\1/p"; }
# secure LABEL ANCHOR NAME TYPE WANT [delv options]: delv must report the
# answer as fully validated and as WANT: "data" (a record of TYPE at NAME),
# "nxdomain" or "nodata" (a validated denial of that kind).
secure() {
    local label=$1 a=$2 name=$3 type=$4 want=$5 out ok
    shift 5
    out=$(delv @127.0.0.1 -p "$PORT" -a "$a" +root=$Z "$@" "$name.$Z" "$type" 2>&1)
    case $want in
    data) echo "$out" | grep -q "^; fully validated" &&
        echo "$out" | grep -Eq "^$name\.$Z\.[[:space:]]+[0-9]+[[:space:]]+IN[[:space:]]+$type[[:space:]]" && ok=1 ;;
    nxdomain) echo "$out" | grep -q "^; negative response, fully validated" &&
        echo "$out" | grep -q "NXDOMAIN" && ok=1 ;;
    nodata) echo "$out" | grep -q "^; negative response, fully validated" &&
        echo "$out" | grep -q "NXRRSET" && ok=1 ;;
    esac
    [ -n "${ok:-}" ] || gs_fail "$label: $name $type: not a validated $want: $out"
}
# all_secure LABEL ANCHOR: the names every step checks, UDP and TCP.
all_secure() {
    local q
    for tcp in "" +tcp; do
        for q in "www A data" "nope A nxdomain" "www AAAA nodata" "b.ent TXT nodata" \
            "x.wild A data" "x.wild AAAA nodata" "st A data" "st AAAA nodata" "co A data" \
            "txt TXT data" "ns1 A data" "a.b.ent TXT data"; do
            # shellcheck disable=SC2086
            secure "$1" "$2" $q $tcp
        done
    done
    echo "ok: $1: 24 answers and denials validated (UDP and TCP)"
}

# ---- secure-zone, show-zone, exports --------------------------------------
csk=$(key_ids CSK)
csk=${csk%% *}
[ -n "$csk" ] || gs_fail "secure-zone made no CSK: $(show)"
gs_expect_contains "show-zone: NSEC by default" "Zone has NSEC semantics" "$(show)"
gs_expect_contains "zone list shows the signed zone" "dnssec=nsec keys=1/1" "$(gs_cli zone list)"
gs_expect_contains "export-zone-dnskey" "DNSKEY 257 3 13" "$(pu export-zone-dnskey $Z "$csk")"
anchor "$GS_TMP/a1"
all_secure "secure-zone (NSEC)" "$GS_TMP/a1"
out=$(pu rectify-zone $Z) || gs_fail "rectify-zone: $out"
echo "ok: rectify-zone"

# ---- ZSK pre-publish rollover ----------------------------------------------
zsk1=$(pu add-zone-key $Z zsk active published ecdsa256 | tail -n 1)
[[ $zsk1 =~ ^[0-9]+$ ]] || gs_fail "add-zone-key zsk: $zsk1"
all_secure "first ZSK active" "$GS_TMP/a1"
zsk2=$(pu add-zone-key $Z zsk inactive published ecdsa256 | tail -n 1)
[[ $zsk2 =~ ^[0-9]+$ ]] || gs_fail "add-zone-key zsk inactive: $zsk2"
gs_expect_contains "show-zone lists the pre-published ZSK" "ID = $zsk2 (ZSK)" "$(show)"
all_secure "ZSK pre-published" "$GS_TMP/a1"
pu activate-zone-key $Z "$zsk2" >/dev/null || gs_fail "activate-zone-key $zsk2"
all_secure "both ZSKs active" "$GS_TMP/a1"
pu deactivate-zone-key $Z "$zsk1" >/dev/null || gs_fail "deactivate-zone-key $zsk1"
all_secure "old ZSK inactive, still published" "$GS_TMP/a1"
pu unpublish-zone-key $Z "$zsk1" >/dev/null || gs_fail "unpublish-zone-key $zsk1"
all_secure "old ZSK unpublished" "$GS_TMP/a1"
pu publish-zone-key $Z "$zsk1" >/dev/null || gs_fail "publish-zone-key $zsk1"
pu unpublish-zone-key $Z "$zsk1" >/dev/null || gs_fail "unpublish-zone-key $zsk1 again"
pu remove-zone-key $Z "$zsk1" >/dev/null || gs_fail "remove-zone-key $zsk1"
gs_expect_eq "the old ZSK is gone" "" "$(show | grep "^ID = $zsk1 ")"
all_secure "ZSK rollover done" "$GS_TMP/a1"

# ---- KSK double-signature rollover ----------------------------------------
ksk2=$(pu add-zone-key $Z ksk active published ecdsa256 | tail -n 1)
[[ $ksk2 =~ ^[0-9]+$ ]] || gs_fail "add-zone-key ksk: $ksk2"
anchor "$GS_TMP/a2" "$(tag_of "$ksk2")"
all_secure "two KSKs, old DS" "$GS_TMP/a1"
all_secure "two KSKs, new DS" "$GS_TMP/a2"
pu deactivate-zone-key $Z "$csk" >/dev/null || gs_fail "deactivate-zone-key $csk"
pu remove-zone-key $Z "$csk" >/dev/null || gs_fail "remove-zone-key $csk"
all_secure "KSK rollover done, new DS" "$GS_TMP/a2"
# The negative control: the DS of the removed key no longer validates.
out=$(delv @127.0.0.1 -p "$PORT" -a "$GS_TMP/a1" +root=$Z "www.$Z" A 2>&1 || true)
echo "$out" | grep -q "fully validated" && gs_fail "the removed KSK's DS still validates: $out"
echo "ok: the removed KSK's DS no longer validates"

# ---- list-keys, CDS and CDNSKEY (metadata pdns publishes from) -------------
gs_expect_contains "list-keys" "$Z" "$(pu list-keys $Z)"
pu set-publish-cds $Z >/dev/null || gs_fail "set-publish-cds"
pu set-publish-cdnskey $Z >/dev/null || gs_fail "set-publish-cdnskey"
out=$(delv @127.0.0.1 -p "$PORT" -a "$GS_TMP/a2" +root=$Z $Z CDS 2>&1)
echo "$out" | grep -q "^; fully validated" && echo "$out" | grep -q "IN	CDS	" ||
    gs_fail "CDS at the apex not validated: $out"
out=$(delv @127.0.0.1 -p "$PORT" -a "$GS_TMP/a2" +root=$Z $Z CDNSKEY 2>&1)
echo "$out" | grep -q "^; fully validated" && echo "$out" | grep -q "IN	CDNSKEY	257 " ||
    gs_fail "CDNSKEY at the apex not validated: $out"
echo "ok: set-publish-cds, set-publish-cdnskey: CDS and CDNSKEY validated"
pu unset-publish-cds $Z >/dev/null || gs_fail "unset-publish-cds"
pu unset-publish-cdnskey $Z >/dev/null || gs_fail "unset-publish-cdnskey"
out=$(delv @127.0.0.1 -p "$PORT" -a "$GS_TMP/a2" +root=$Z $Z CDS 2>&1)
echo "$out" | grep -q "negative response, fully validated" || gs_fail "CDS still published: $out"

# ---- NSEC3, narrow, back to NSEC -------------------------------------------
for mode in "1 0 1 ab" "1 0 0 - narrow" "1 0 5 -"; do
    narrow=${mode#1 0 * * }
    [ "$narrow" = narrow ] || narrow=""
    # shellcheck disable=SC2086
    out=$(pu set-nsec3 $Z "${mode% narrow}" $narrow) || gs_fail "set-nsec3 $mode: $out"
    pu rectify-zone $Z >/dev/null || gs_fail "rectify-zone after set-nsec3 $mode"
    case "$mode" in
    *narrow) want="Zone has NARROW hashed NSEC3 semantics" ;;
    *) want="Zone has hashed NSEC3 semantics" ;;
    esac
    gs_expect_contains "show-zone after set-nsec3 $mode" "$want" "$(show)"
    gs_expect_contains "status --json after set-nsec3 $mode" \
        "\"denial\": \"nsec3${narrow:+-narrow}\"" "$(gs_cli status --json)"
    kdig @127.0.0.1 -p "$PORT" +dnssec nope.$Z A | grep -q "NSEC3" ||
        gs_fail "set-nsec3 $mode: the denial has no NSEC3"
    all_secure "NSEC3 $mode" "$GS_TMP/a2"
done
pu unset-nsec3 $Z >/dev/null || gs_fail "unset-nsec3"
pu rectify-zone $Z >/dev/null || gs_fail "rectify-zone after unset-nsec3"
gs_expect_contains "show-zone after unset-nsec3" "Zone has NSEC semantics" "$(show)"
kdig @127.0.0.1 -p "$PORT" +dnssec nope.$Z A | grep -q "IN	NSEC	" ||
    gs_fail "unset-nsec3: the denial has no NSEC"
all_secure "back to NSEC" "$GS_TMP/a2"

# ---- bad input ---------------------------------------------------------------
before=$(show)
# pdnsutil parses a key file itself: these never reach geosteerd (its own
# checks of what pdnsutil sends are in test/protocol/cases/dnssec).
printf 'Private-key-format: v1.2\nAlgorithm: 13 (ECDSAP256SHA256)\n' >"$GS_TMP/bad1.key"
printf 'Private-key-format: v1.2\nAlgorithm: 99 (FUTURE)\nPrivateKey: bm90IGEga2V5\n' \
    >"$GS_TMP/bad2.key"
for f in bad1 bad2; do
    out=$(pu import-zone-key $Z "$GS_TMP/$f.key" ksk) && gs_fail "$f.key was imported: $out"
    echo "ok: $f.key refused: $(echo "$out" | tail -n 1)"
done
gs_expect_eq "nothing stored after the malformed keys" "$before" "$(show)"
# Steps out of order, refused by geosteerd with the reason (pdns logs it at
# loglevel 6, which pdnsutil shows).
zsks=$(key_ids ZSK)
zsk=${zsks%% *}
out=$(pu unpublish-zone-key $Z "$zsk") && gs_fail "unpublishing an active key succeeded: $out"
gs_expect_contains "unpublish of an active key: the reason" "deactivate it first" "$out"
zsk3=$(pu add-zone-key $Z zsk inactive unpublished ecdsa256 | tail -n 1)
out=$(pu activate-zone-key $Z "$zsk3") && gs_fail "activating an unpublished key succeeded: $out"
gs_expect_contains "activation of an unpublished key: the reason" "publish it first" "$out"
pu remove-zone-key $Z "$zsk3" >/dev/null || gs_fail "remove-zone-key $zsk3"
pu deactivate-zone-key $Z "$zsk" >/dev/null || gs_fail "deactivate the ZSK"
out=$(pu deactivate-zone-key $Z "$ksk2") && gs_fail "deactivating the last active key succeeded"
gs_expect_contains "deactivation of the last active key: the reason" "last active key" "$out"
pu activate-zone-key $Z "$zsk" >/dev/null || gs_fail "activate the ZSK again"
all_secure "after the refused steps" "$GS_TMP/a2"

# ---- secrecy, store mode, durability ----------------------------------------
priv=$(gs_cli zone list >/dev/null; sqlite3 "$GS_TMP/gs/zones.db" \
    "SELECT content FROM cryptokeys" | sed -n 's/^PrivateKey: //p')
[ -n "$priv" ] || gs_fail "no private keys in the store"
seen=$(
    cat "$GS_TMP/gs/geosteerd.log"
    gs_cli status
    gs_cli status --json
    gs_cli explain "www.$Z" 192.0.2.1
    gs_cli explain "st.$Z" 192.0.2.1 A
)
for k in $priv; do
    case "$seen" in *"$k"*) gs_fail "a private key appears in the log, status or explain" ;; esac
done
echo "ok: no private key in geosteerd's log, status or explain ($(echo "$priv" | wc -l) keys)"
gs_expect_eq "store mode" 600 "$(stat -c %a "$GS_TMP/gs/zones.db")"
ksk3=$(pu add-zone-key $Z ksk active published ecdsa256 | tail -n 1)
kill -KILL "$GS_DAEMON_PID"
gs_dead "$GS_DAEMON_PID" || gs_fail "geosteerd survived SIGKILL"
wait "$GS_DAEMON_PID" 2>/dev/null || true
gs_start_geosteerd "$GS_TMP/gs" "${DAEMON_ARGS[@]}"
# Each of pdns's threads finds its old connection dead on first use (one
# SERVFAIL) and reconnects: use them all up before validating.
for _ in $(seq 20); do
    kdig @127.0.0.1 -p "$PORT" +timeout=1 +retry=0 "www.$Z" A >/dev/null 2>&1 || true
    kdig @127.0.0.1 -p "$PORT" +timeout=1 +retry=0 +tcp "www.$Z" A >/dev/null 2>&1 || true
done
gs_expect_contains "the key added before SIGKILL is there" "ID = $ksk3 (KSK)" "$(show)"
all_secure "after SIGKILL and restart" "$GS_TMP/a2"

# ---- disable-dnssec ------------------------------------------------------------
pu disable-dnssec $Z >/dev/null || gs_fail "disable-dnssec"
gs_expect_eq "no keys after disable-dnssec" "" "$(show | grep '^ID = ')"
out=$(kdig @127.0.0.1 -p "$PORT" +dnssec "www.$Z" A)
echo "$out" | grep -q RRSIG && gs_fail "answers are still signed after disable-dnssec: $out"
gs_expect_contains "unsigned answers still served" "192.0.2.10" "$out"
echo "PASS: DNSSEC keys with pdnsutil"
