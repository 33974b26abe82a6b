#!/usr/bin/env bash
# Steered answers signed live, checked by independent validators
# (doc/dnssec.md). A real pdns_server (launch=remote, remote-dnssec=yes, its
# caches at their defaults) serves a geosteer zone signed with
# `pdnsutil secure-zone`; unbound (a validating resolver whose only trust
# anchor is the zone's DS, passing the client's ECS option on to pdns) and
# delv (asking pdns directly) must find every answer secure:
#   static names, every policy type, compiled LUA records (a country and
#   continent chain, a view), a CNAME into a steered name, a wildcard,
#   NXDOMAIN, NODATA (static, steered, an `all_down: empty` policy with its
#   endpoint forced down, a view without an arm for the client), an empty
#   non-terminal, a signed delegation (child zone with its DS in the parent)
#   and an unsigned one (proven insecure)
# for clients in Germany, the US and Japan (IPv4) and Germany (IPv6) by ECS,
# over UDP and TCP (unbound to pdns), under NSEC, NSEC3 and NSEC3 narrow.
# The geo answers are checked against the client's country: what validates
# is the steered answer, not one answer for everybody.
# shellcheck source=test/e2e/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=test/e2e/lib_dnssec.sh
. "$(dirname "$0")/lib_dnssec.sh"
gs_require pdns_server pdnsutil pdns_control kdig
gsd_require_validators
Z=sig.test

cat >"$GS_TMP/geo.txt" <<'GEO'
10.1.0.0/16 country=DE continent=EU lat=50.1 lon=8.7
10.2.0.0/16 country=US continent=NA lat=40.7 lon=-74.0
10.3.0.0/16 country=JP continent=AS lat=35.7 lon=139.7
2001:db8:1::/48 country=DE continent=EU lat=50.1 lon=8.7
GEO
"$GS_MKMMDB" "$GS_TMP/geo.mmdb" <"$GS_TMP/geo.txt" || gs_fail "gs_mkmmdb"
cat >"$GS_TMP/geosteer.json" <<JSON
{
  "settings": {"geoip": {"database": "$GS_TMP/geo.mmdb", "max_age_days": 3650},
               "pdns_control_socket": "$(gs_pdns_ctl_socket "$GS_TMP/p")"},
  "endpoints": {
    "eu1": {"a": ["192.0.2.10"], "aaaa": ["2001:db8:10::1"], "location": [50.1, 8.7], "weight": 2},
    "us1": {"a": ["198.51.100.10"], "aaaa": ["2001:db8:20::1"], "location": [40.7, -74.0], "weight": 1},
    "as1": {"a": ["203.0.113.10"], "aaaa": ["2001:db8:30::1"], "location": [35.7, 139.7], "weight": 1},
    "gone": {"a": ["192.0.2.66"]}
  },
  "pools": {
    "eu": {"endpoints": ["eu1"]}, "us": {"endpoints": ["us1"]}, "as": {"endpoints": ["as1"]},
    "world": {"endpoints": ["eu1", "us1", "as1"]}, "gone": {"endpoints": ["gone"]}
  },
  "policies": {
    "geo": {"type": "geo", "ttl": 30, "default": "as",
            "rules": [{"country": "DE", "pool": "eu"}, {"continent": "NA", "pool": "us"}]},
    "prox": {"type": "proximity", "pools": ["world"]},
    "all": {"type": "all", "pool": "world"},
    "rnd": {"type": "random", "pool": "world"},
    "wtd": {"type": "weighted", "pool": "world"},
    "hsh": {"type": "hashed", "pool": "world"},
    "ch": {"type": "consistent-hash", "pool": "world"},
    "fo": {"type": "failover", "pools": ["eu", "us"]},
    "mv": {"type": "multivalue", "pool": "world", "max": 2},
    "empty": {"type": "all", "pool": "gone", "all_down": "empty"}
  }
}
JSON
gs_start_geosteerd "$GS_TMP/gs" -c "$GS_TMP/geosteer.json"
PORT=$(gs_free_port)
gs_pdns_conf "$GS_TMP/p" "$GS_SOCK" "$PORT" remote-dnssec=yes
pu() { gs_pdnsutil_q "$GS_TMP/p" "$@"; }
for zone in $Z sec.$Z insec.$Z; do gs_cli zone create $zone >/dev/null; done
cat >"$GS_TMP/child.zone" <<'ZONE'
@    300 IN SOA ns1 hostmaster 1 3600 600 86400 60
@    300 IN NS  ns1
ns1  300 IN A   192.0.2.53
www  300 IN A   192.0.2.200
ZONE
for child in sec insec; do
    sed "1i \$ORIGIN $child.$Z." "$GS_TMP/child.zone" >"$GS_TMP/$child.zone"
    pu load-zone "$child.$Z" "$GS_TMP/$child.zone" >/dev/null || gs_fail "load-zone $child.$Z"
done
pu secure-zone "sec.$Z" >/dev/null || gs_fail "secure-zone sec.$Z"
ds=$(pu export-zone-ds "sec.$Z" | awk '$3 == "DS" && $6 == 2 { print $4, $5, $6, $7; exit }')
[ -n "$ds" ] || gs_fail "no DS for sec.$Z"
cat >"$GS_TMP/zone" <<ZONE
\$ORIGIN $Z.
@        300 IN SOA ns1 hostmaster 1 3600 600 86400 60
@        300 IN NS  ns1
ns1      300 IN A   192.0.2.53
www      300 IN A   192.0.2.1
www      300 IN AAAA 2001:db8::1
txt      300 IN TXT "static"
mail     300 IN MX  10 ns1
a.b.ent  300 IN TXT "deep"
*.wild   300 IN A   192.0.2.99
alias    300 IN CNAME geo
sec      300 IN NS  ns1.sec
sec      300 IN DS  $ds
insec    300 IN NS  ns1.insec
geo      30  IN LUA A    "steer('geo')"
geo      30  IN LUA AAAA "steer('geo')"
prox     30  IN LUA A    "steer('prox')"
all      30  IN LUA A    "steer('all')"
rnd      30  IN LUA A    "steer('rnd')"
wtd      30  IN LUA A    "steer('wtd')"
hsh      30  IN LUA A    "steer('hsh')"
ch       30  IN LUA A    "steer('ch')"
fo       30  IN LUA A    "steer('fo')"
mv       30  IN LUA A    "steer('mv')"
empty    30  IN LUA A    "steer('empty')"
co       60  IN LUA A    ";if country('DE') then return '192.0.2.7' elseif continent('NA') then return '192.0.2.8' else return '192.0.2.9' end"
vw       60  IN LUA A    "view({{{'10.1.0.0/16'}, {'192.0.2.50'}}})"
ZONE
pu load-zone $Z "$GS_TMP/zone" >/dev/null || gs_fail "load-zone $Z"
gs_cli zone list | grep -q "^$Z\. .*records=26" || gs_fail "the zone did not load whole: $(gs_cli zone list)"
gs_cli force-down gone >/dev/null || gs_fail "force-down gone"
pu secure-zone $Z >/dev/null || gs_fail "secure-zone $Z"
gs_start_pdns "$GS_TMP/p" "$PORT"
gsd_anchor $Z "$GS_TMP/p" "$GS_TMP/anchor"

# Clients: label, ECS subnet, the geo pool's address, the LUA chain's.
CLIENTS=("de 10.1.2.0/24 192.0.2.10 192.0.2.7" "us 10.2.3.0/24 198.51.100.10 192.0.2.8"
    "jp 10.3.4.0/24 203.0.113.10 192.0.2.9" "de6 2001:db8:1:2::/56 192.0.2.10 192.0.2.7")
# Questions: name, type, expected rcode (gsd_expect_secure's).
QUESTIONS=(
    "www A NOERROR" "www AAAA NOERROR" "txt TXT NOERROR" "mail MX NOERROR"
    "geo A NOERROR" "geo AAAA NOERROR" "prox A NOERROR" "all A NOERROR" "rnd A NOERROR"
    "wtd A NOERROR" "hsh A NOERROR" "ch A NOERROR" "fo A NOERROR" "mv A NOERROR"
    "co A NOERROR" "alias A NOERROR" "x.wild A NOERROR" "a.b.ent TXT NOERROR"
    "www TXT NODATA" "geo TXT NODATA" "prox AAAA NODATA" "empty A NODATA" "x.wild AAAA NODATA"
    "b.ent TXT NODATA" "ent A NODATA" "nope A NXDOMAIN" "nope.b.ent A NXDOMAIN"
    "sec DS NOERROR" "www.sec A NOERROR" "insec DS NODATA"
)
# The same steered name, answered and denied per client: the view has an
# arm for 10.1.0.0/16 (the German IPv4 client) only.
view_rcode() { case $1 in de) echo NOERROR ;; *) echo NODATA ;; esac; }

# check_mode MODE: every question for every client, over UDP and TCP.
check_mode() {
    local mode=$1 c q label subnet geo_addr co_addr name type rcode n=0 up
    for up in udp tcp; do
        gsd_restart_unbound_for "$up"
        for c in "${CLIENTS[@]}"; do
            read -r label subnet geo_addr co_addr <<<"$c"
            for q in "${QUESTIONS[@]}" "vw A $(view_rcode "$label")"; do
                read -r name type rcode <<<"$q"
                gsd_expect_secure "$mode $up $label $name $type" "$name.$Z" "$type" "$rcode" \
                    "$subnet" >/dev/null
                n=$((n + 1))
                case "$name $type" in
                "geo A" | "alias A")
                    [[ $GSD_ANSWER == *"A $geo_addr"* ]] ||
                        gs_fail "$mode $up $label: $name A is not the client's pool ($geo_addr): $GSD_ANSWER" ;;
                "co A")
                    [[ $GSD_ANSWER == *"A $co_addr"* ]] ||
                        gs_fail "$mode $up $label: co A is not the chain's answer ($co_addr): $GSD_ANSWER" ;;
                esac
            done
            # Below the unsigned delegation: an answer, proven insecure.
            gsd_expect_insecure "$mode $up $label www.insec" "www.insec.$Z" A NOERROR "$subnet" >/dev/null
            n=$((n + 1))
        done
    done
    echo "ok: $mode: $n answers through unbound secure (or proven insecure), 4 clients by ECS, UDP and TCP"
    # delv asks pdns itself (no ECS: the resolver's own address decides).
    n=0
    for up in "" tcp; do
        for q in "www A answer" "geo A answer" "co A answer" "alias A answer" "empty A nodata" \
            "vw A nodata" "nope A nxdomain" "b.ent TXT nodata" "x.wild A answer" "sec DS answer"; do
            read -r name type rcode <<<"$q"
            gsd_delv_secure "$name.$Z" "$type" "$PORT" "$GS_TMP/anchor" "$rcode" "$up" >/dev/null
            n=$((n + 1))
        done
    done
    echo "ok: $mode: $n answers validated by delv, UDP and TCP"
}

# unbound to pdns over UDP, or TCP only (tcp-upstream), with an empty cache.
UNBOUND_UP=""
gsd_restart_unbound_for() {
    [ "$UNBOUND_UP" = "$1" ] && { gsd_restart_unbound && return; }
    [ -z "$UNBOUND_UP" ] || gs_stop "$GSD_UNBOUND_PID"
    UNBOUND_UP=$1
    if [ "$1" = tcp ]; then
        gsd_start_unbound "$GS_TMP/unbound-tcp" $Z "$PORT" "$GS_TMP/anchor" "tcp-upstream: yes"
    else
        gsd_start_unbound "$GS_TMP/unbound-udp" $Z "$PORT" "$GS_TMP/anchor"
    fi
}

# set_mode ARGS...: pdnsutil set-nsec3 ARGS (or unset-nsec3 with none) and
# rectify. geosteerd asks pdns (settings.pdns_control_socket) to drop its
# caches of the zone, metadata included, so the next answer uses the new
# mode at once: the checks after each set_mode ask within a second.
set_mode() {
    if [ $# -eq 0 ]; then
        pu unset-nsec3 $Z >/dev/null || gs_fail "unset-nsec3"
    else
        pu set-nsec3 $Z "$@" >/dev/null || gs_fail "set-nsec3 $*"
    fi
    pu rectify-zone $Z >/dev/null || gs_fail "rectify-zone"
}

gs_expect_contains "NSEC by default" "	NSEC	" "$(kdig @127.0.0.1 -p "$PORT" +dnssec "nope.$Z" A)"
check_mode NSEC
set_mode "1 0 1 ab"
# pdns cached the zone's (absent) NSEC3PARAM during the NSEC checks; only
# the purge geosteerd sent makes the change visible within its 60 s.
gs_expect_contains "geosteerd purged pdns's caches" "asked pdns to purge 1 name" \
    "$(cat "$GS_TMP/gs/geosteerd.log")"
gs_expect_contains "NSEC3 after set-nsec3" "NSEC3	1 0 1 AB" "$(kdig @127.0.0.1 -p "$PORT" +dnssec "nope2.$Z" A)"
check_mode NSEC3
set_mode "1 0 0 -" narrow
gs_expect_contains "NSEC3 narrow after set-nsec3 narrow" "NSEC3	1 0 0 -" "$(kdig @127.0.0.1 -p "$PORT" +dnssec "nope3.$Z" A)"
check_mode "NSEC3 narrow"
echo "PASS: signed steered answers validate"
