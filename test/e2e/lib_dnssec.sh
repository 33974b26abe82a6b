# shellcheck shell=bash
# DNSSEC validation helpers for the end-to-end tests. Source after lib.sh:
#   . "$(dirname "$0")/lib.sh"
#   . "$(dirname "$0")/lib_dnssec.sh"
# A zone served by pdns_server on loopback is checked by two independent
# validators: unbound (a validating resolver with a stub-zone to pdns, and
# EDNS Client Subnet passed through) and delv (BIND's validating lookup
# tool, asking pdns directly). Both trust only the zone's own DS records
# (gsd_anchor); there is no root trust anchor.
#
#   gsd_require_validators
#   gsd_anchor ZONE CONFDIR OUT
#   gsd_anchor_delv ANCHOR
#   gsd_start_unbound DIR ZONE PDNS_PORT ANCHOR_FILE [server-line...]
#   gsd_restart_unbound
#   gsd_query NAME TYPE [SUBNET|-] [udp|tcp] [cd]
#   gsd_validate NAME TYPE [SUBNET|-] [udp|tcp]
#   gsd_expect_secure LABEL NAME TYPE RCODE [SUBNET|-] [tcp]
#   gsd_expect_insecure LABEL NAME TYPE RCODE [SUBNET|-] [tcp]
#   gsd_expect_bogus LABEL NAME TYPE [SUBNET|-] [tcp]
#   gsd_delv_secure NAME TYPE PDNS_PORT ANCHOR [any|answer|nxdomain|nodata] [tcp]
#   gsd_delv_insecure NAME TYPE PDNS_PORT ANCHOR [tcp]
#
# RCODE is NOERROR (an answer of TYPE, or a CNAME chain, is present), NODATA
# (NOERROR, no record of TYPE in the answer), NXDOMAIN, or any other rcode
# kdig prints (then only the rcode is compared).
#
# Caching: unbound caps every TTL at 0 (cache-max-ttl, cache-max-negative-ttl,
# val-bogus-ttl), so a repeated question reaches pdns again once the current
# second is over; within the same second unbound may still answer from its
# cache. Use distinct names where every query must reach pdns, and
# gsd_restart_unbound after changing the zone's keys or NSEC mode.

# gsd_require_validators: skip (exit 77) unless unbound, delv and kdig exist.
gsd_require_validators() {
    command -v unbound >/dev/null 2>&1 || PATH=$PATH:/usr/sbin:/sbin
    command -v unbound >/dev/null 2>&1 ||
        gs_skip "'unbound' is not installed (Debian package unbound; scripts/setup.sh must install it)"
    command -v unbound-checkconf >/dev/null 2>&1 ||
        gs_skip "'unbound-checkconf' is not installed (Debian package unbound)"
    command -v delv >/dev/null 2>&1 ||
        gs_skip "'delv' is not installed (Debian package bind9-dnsutils)"
    gs_require kdig pdnsutil
}

# gsd_anchor ZONE CONFDIR OUT: writes the DS records of the secured ZONE
# (pdnsutil --config-dir=CONFDIR export-zone-ds) to OUT, one zone-file line
# each (unbound's trust-anchor-file), and the same DS as a delv/named
# trust-anchors clause (static-ds) to OUT.delv.
# Every digest type pdnsutil exports (SHA-256 and SHA-384) is kept. Both
# validators use the strongest digest and ignore the others, so a corrupted
# SHA-256 DS next to a good SHA-384 one still validates.
gsd_anchor() {
    local zone=${1%.}. confdir=$2 out=$3 ds
    ds=$(pdnsutil --config-dir="$confdir" export-zone-ds "$zone" 2>"$out.err") ||
        gs_fail "pdnsutil export-zone-ds $zone failed: $(cat "$out.err")"
    ds=$(printf '%s\n' "$ds" | sed 's/;.*//' | awk '$2 == "IN" && $3 == "DS"')
    [ -n "$ds" ] || gs_fail "zone $zone has no DS records (not secured?): $(cat "$out.err")"
    printf '%s\n' "$ds" | awk '{ $1 = tolower($1); print }' >"$out"
    rm -f "$out.err"
    gsd_anchor_delv "$out"
}

# gsd_anchor_delv ANCHOR: writes ANCHOR.delv, the DS lines of ANCHOR as the
# trust-anchors clause (static-ds entries) that delv -a reads.
gsd_anchor_delv() {
    awk 'BEGIN { print "trust-anchors {" }
         $3 == "DS" { printf "    \"%s\" static-ds %s %s %s \"%s\";\n", $1, $4, $5, $6, $7 }
         END { print "};" }' "$1" >"$1.delv"
}

# gsd_anchor_zone ANCHOR: the zone name (with a final dot) an anchor file
# written by gsd_anchor is for.
gsd_anchor_zone() {
    local z _
    read -r z _ <"$1"
    echo "$z"
}

# gsd_start_unbound DIR ZONE PDNS_PORT ANCHOR_FILE [server-line...]: writes
# DIR/unbound.conf and starts unbound in the foreground (-d) on a free
# loopback port, validating ZONE (and any zone below it that pdns serves)
# from 127.0.0.1@PDNS_PORT with ANCHOR_FILE as its only trust anchor. Extra
# arguments are added to the server: clause (e.g. "tcp-upstream: yes").
# Logs to DIR/unbound.log. Registers the PID; sets and exports
# GSD_UNBOUND_PORT, GSD_UNBOUND_PID and GSD_UNBOUND_DIR.
gsd_start_unbound() {
    local dir=$1 zone=${2%.}. pdns_port=$3 anchor=$4 line
    shift 4
    mkdir -p "$dir"
    [ -s "$anchor" ] || gs_fail "trust anchor file $anchor is missing or empty"
    GSD_UNBOUND_PORT=$(gs_free_port)
    {
        echo "server:"
        echo "    interface: 127.0.0.1"
        echo "    port: $GSD_UNBOUND_PORT"
        echo "    do-ip6: no"
        echo "    do-daemonize: no"
        echo "    chroot: \"\""
        echo "    username: \"\""
        echo "    directory: \"$dir\""
        echo "    pidfile: \"$dir/unbound.pid\""
        echo "    use-syslog: no"
        echo "    logfile: \"\""
        echo "    verbosity: 1"
        # One line per bogus answer and per SERVFAIL, with the reason.
        echo "    val-log-level: 2"
        echo "    log-servfail: yes"
        echo "    access-control: 127.0.0.0/8 allow"
        # pdns is on 127.0.0.1, which unbound refuses to query by default.
        echo "    do-not-query-localhost: no"
        echo "    num-threads: 1"
        # ECS: subnetcache must come first; ECS is sent to 127.0.0.1 only;
        # a client's own ECS option is forwarded (else unbound sends the
        # client address), cut to /24 and /56.
        echo "    module-config: \"subnetcache validator iterator\""
        echo "    send-client-subnet: 127.0.0.1"
        echo "    client-subnet-always-forward: yes"
        echo "    max-client-subnet-ipv4: 24"
        echo "    max-client-subnet-ipv6: 56"
        # The zone's DS is the only anchor; no root key, no 5011 probing.
        echo "    trust-anchor-file: \"$anchor\""
        echo "    trust-anchor-signaling: no"
        echo "    root-key-sentinel: no"
        # Every question to pdns as asked: no QNAME minimisation, no answers
        # synthesised from cached NSEC/NSEC3 (aggressive-nsec), no prefetch
        # or stale answers, and nothing cached past the current second, so
        # each negative answer is pdns's own and is validated again.
        echo "    qname-minimisation: no"
        echo "    aggressive-nsec: no"
        echo "    prefetch: no"
        echo "    serve-expired: no"
        echo "    cache-max-ttl: 0"
        echo "    cache-max-negative-ttl: 0"
        echo "    val-bogus-ttl: 0"
        # A restarted pdns is probed again at once rather than held down.
        echo "    infra-keep-probing: yes"
        echo "    infra-host-ttl: 10"
        # unbound serves some names itself (test., invalid., localhost.,
        # onion., private reverse zones...): ZONE must be resolved instead.
        echo "    local-zone: \"$zone\" transparent"
        for line in "$@"; do echo "    $line"; done
        echo "remote-control:"
        echo "    control-enable: no"
        echo "stub-zone:"
        echo "    name: \"$zone\""
        echo "    stub-addr: 127.0.0.1@$pdns_port"
    } >"$dir/unbound.conf"
    unbound-checkconf "$dir/unbound.conf" >"$dir/checkconf.log" 2>&1 ||
        gs_fail "unbound-checkconf rejects $dir/unbound.conf: $(cat "$dir/checkconf.log")"
    GSD_UNBOUND_DIR=$dir
    gsd_run_unbound
}

# gsd_run_unbound: starts unbound with GSD_UNBOUND_DIR/unbound.conf and waits
# until it answers on GSD_UNBOUND_PORT (version.server CH TXT, answered by
# unbound itself, so pdns need not be up).
gsd_run_unbound() {
    unbound -d -c "$GSD_UNBOUND_DIR/unbound.conf" >>"$GSD_UNBOUND_DIR/unbound.log" 2>&1 &
    GSD_UNBOUND_PID=$!
    gs_register "$GSD_UNBOUND_PID"
    export GSD_UNBOUND_PORT GSD_UNBOUND_PID GSD_UNBOUND_DIR
    for _ in $(seq 100); do
        if kdig @127.0.0.1 -p "$GSD_UNBOUND_PORT" +timeout=1 +retry=0 version.server CH TXT >/dev/null 2>&1; then
            return 0
        fi
        kill -0 "$GSD_UNBOUND_PID" 2>/dev/null || gs_fail "unbound exited; see $GSD_UNBOUND_DIR/unbound.log"
        sleep 0.1
    done
    gs_fail "unbound did not answer on port $GSD_UNBOUND_PORT"
}

# gsd_restart_unbound: stops the current unbound (GSD_UNBOUND_PID) and starts
# it again with the same config and port: an empty cache (unbound-control is
# off).
gsd_restart_unbound() {
    gs_stop "$GSD_UNBOUND_PID"
    gsd_run_unbound
}

# gsd_query NAME TYPE [SUBNET|-] [udp|tcp] [cd]: asks unbound
# (GSD_UNBOUND_PORT) with DO set, and the ECS option SUBNET, over TCP, with
# CD set, as given (udp, the default, may be named).
# Sets GSD_OUT (kdig's output), GSD_RCODE, GSD_FLAGS (header flags, space
# separated) and GSD_ANSWER (answer records, one per line). Returns non-zero
# when kdig got no reply.
gsd_query() {
    local name=$1 type=$2 subnet=${3:--} opt args=()
    shift 2
    [ $# -eq 0 ] || shift
    [ "$subnet" = - ] || args+=("+subnet=$subnet")
    for opt in "$@"; do
        case "$opt" in
        udp | "") ;;
        tcp | +tcp) args+=(+tcp) ;;
        cd | +cd) args+=(+cdflag) ;;
        *) gs_fail "gsd_query: unknown option '$opt'" ;;
        esac
    done
    : "${GSD_UNBOUND_PORT:?gsd_start_unbound first}"
    GSD_OUT=$(kdig @127.0.0.1 -p "$GSD_UNBOUND_PORT" +timeout=5 +retry=0 +dnssec \
        "${args[@]}" "$name" "$type" 2>&1) || true
    # Parsed with builtins only: a fork costs ~10 ms on a busy CI machine.
    GSD_RCODE="" GSD_FLAGS="" GSD_ANSWER=""
    local line sect="" w
    while IFS= read -r line; do
        case "$line" in
        ";; ->>HEADER<<-"*)
            [ -n "$GSD_RCODE" ] || [[ ! $line =~ status:\ ([A-Z0-9]+) ]] || GSD_RCODE=${BASH_REMATCH[1]} ;;
        ";; Flags: "*)
            [ -n "$GSD_FLAGS" ] || { line=${line#;; Flags: } && GSD_FLAGS=${line%%;*}; } ;;
        ";; ANSWER SECTION:") sect=1 ;;
        "" | ";"*) sect="" ;;
        *) [ -z "$sect" ] || { read -ra w <<<"$line" && GSD_ANSWER+="${w[*]}"$'\n'; } ;;
        esac
    done <<<"$GSD_OUT"
    GSD_ANSWER=${GSD_ANSWER%$'\n'}
    [ -n "$GSD_RCODE" ]
}

# gsd_answer_count TYPE...: the number of answer records of these types in
# the last gsd_query reply.
gsd_answer_count() {
    local line w t n=0
    while IFS= read -r line; do
        read -ra w <<<"$line"
        for t in "$@"; do [ "${w[3]:-}" != "$t" ] || n=$((n + 1)); done
    done <<<"$GSD_ANSWER"
    echo "$n"
}

# gsd_has_flag FLAG: true when the last gsd_query reply has header FLAG.
gsd_has_flag() {
    case " $GSD_FLAGS " in *" $1 "*) return 0 ;; esac
    return 1
}

# gsd_rcode_is RCODE TYPE: true when the last reply matches RCODE, with the
# pseudo-rcodes NOERROR (an answer of TYPE or a CNAME) and NODATA (none).
gsd_rcode_is() {
    local want=$1 type=$2
    case "$want" in
    NOERROR) [ "$GSD_RCODE" = NOERROR ] && [ "$(gsd_answer_count "$type" CNAME)" -gt 0 ] ;;
    NODATA) [ "$GSD_RCODE" = NOERROR ] && [ "$(gsd_answer_count "$type")" = 0 ] ;;
    *) [ "$GSD_RCODE" = "$want" ] ;;
    esac
}

# gsd_report: the last reply, for failure messages.
gsd_report() {
    printf 'rcode: %s\nflags: %s\n--- kdig output (unbound port %s):\n%s\n' \
        "${GSD_RCODE:-none}" "${GSD_FLAGS:-none}" "$GSD_UNBOUND_PORT" "$GSD_OUT"
}

# gsd_validate NAME TYPE [SUBNET|-] [tcp]: true when unbound's answer is
# NOERROR or NXDOMAIN with the AD flag (validated secure); else prints the
# reply on stderr and returns 1.
gsd_validate() {
    if gsd_query "$@" && gsd_has_flag ad &&
        { [ "$GSD_RCODE" = NOERROR ] || [ "$GSD_RCODE" = NXDOMAIN ]; }; then
        return 0
    fi
    printf 'not validated: %s %s\n%s\n' "$1" "$2" "$(gsd_report)" >&2
    return 1
}

# gsd_expect_secure LABEL NAME TYPE RCODE [SUBNET|-] [tcp]: gs_fail unless
# unbound validated the answer (AD) and it matches RCODE. On success, GSD_*
# describe the reply (check GSD_ANSWER for the data).
gsd_expect_secure() {
    local label=$1 name=$2 type=$3 rcode=$4
    shift 4
    gsd_query "$name" "$type" "$@" || gs_fail "$label: no reply from unbound for $name $type
$(gsd_report)"
    gsd_has_flag ad || gs_fail "$label: $name $type is not secure (no AD flag)
$(gsd_report)"
    gsd_rcode_is "$rcode" "$type" || gs_fail "$label: $name $type: expected $rcode
$(gsd_report)"
    echo "ok: $label (secure $rcode)"
}

# gsd_expect_insecure LABEL NAME TYPE RCODE [SUBNET|-] [tcp]: gs_fail unless
# the answer matches RCODE and is provably insecure: no AD flag, yet not
# SERVFAIL (a bogus answer is SERVFAIL; see gsd_expect_bogus).
gsd_expect_insecure() {
    local label=$1 name=$2 type=$3 rcode=$4
    shift 4
    gsd_query "$name" "$type" "$@" || gs_fail "$label: no reply from unbound for $name $type
$(gsd_report)"
    ! gsd_has_flag ad || gs_fail "$label: $name $type is secure (AD), expected insecure
$(gsd_report)"
    gsd_rcode_is "$rcode" "$type" || gs_fail "$label: $name $type: expected $rcode
$(gsd_report)"
    echo "ok: $label (insecure $rcode)"
}

# gsd_expect_bogus LABEL NAME TYPE [SUBNET|-] [tcp]: gs_fail unless unbound
# answers SERVFAIL while the same question with CD (checking disabled) gets
# an answer: the failure is validation, not a dead or broken server.
gsd_expect_bogus() {
    local label=$1 name=$2 type=$3
    shift 3
    gsd_query "$name" "$type" "$@" || gs_fail "$label: no reply from unbound for $name $type
$(gsd_report)"
    [ "$GSD_RCODE" = SERVFAIL ] || gs_fail "$label: $name $type: expected SERVFAIL (bogus)
$(gsd_report)"
    [ $# -gt 0 ] || set -- -
    gsd_query "$name" "$type" "$@" cd || gs_fail "$label: no reply with CD for $name $type
$(gsd_report)"
    if { [ "$GSD_RCODE" != NOERROR ] && [ "$GSD_RCODE" != NXDOMAIN ]; } || gsd_has_flag ad; then
        gs_fail "$label: $name $type with CD: expected an unvalidated answer
$(gsd_report)"
    fi
    echo "ok: $label (bogus: SERVFAIL, answered with CD)"
}

# gsd_delv_has LINE: the last delv output has LINE as a whole line.
gsd_delv_has() {
    [[ $'\n'$GSD_DELV$'\n' == *$'\n'"$1"$'\n'* ]]
}

# gsd_delv NAME TYPE PDNS_PORT ANCHOR [tcp]: runs delv against pdns directly
# with ANCHOR.delv as its only trust anchor (+root=the anchor's zone). Sets
# GSD_DELV (its output). delv has no ECS option: pdns sees 127.0.0.1.
gsd_delv() {
    local name=$1 type=$2 port=$3 anchor=$4 args=()
    [ "${5:-}" != tcp ] || args+=(+tcp)
    [ -s "$anchor.delv" ] || gs_fail "delv anchor $anchor.delv is missing (gsd_anchor writes it)"
    GSD_DELV=$(timeout 30 delv @127.0.0.1 -p "$port" -a "$anchor.delv" \
        +root="$(gsd_anchor_zone "$anchor")" "${args[@]}" -t "$type" -q "$name" 2>&1) || true
}

# gsd_delv_secure NAME TYPE PDNS_PORT ANCHOR [EXPECT] [tcp]: gs_fail unless
# delv validates the answer. delv prints "; fully validated" before a
# validated answer, and for a validated negative answer
# ";; resolution failed: ncache nxdomain" (or "ncache nxrrset" for NODATA)
# then "; negative response, fully validated". EXPECT is any (default: a
# validated answer or negative answer), answer, nxdomain or nodata.
gsd_delv_secure() {
    local name=$1 type=$2 want=${5:-any} ok=
    gsd_delv "$1" "$2" "$3" "$4" "${6:-}"
    case "$want" in
    answer | any)
        gsd_delv_has '; fully validated' && [[ $GSD_DELV != *';; resolution failed'* ]] && ok=answer ;;
    esac
    if [ -z "$ok" ] && [ "$want" != answer ] && gsd_delv_has '; negative response, fully validated'; then
        if gsd_delv_has ';; resolution failed: ncache nxdomain'; then
            [ "$want" = nodata ] || ok=nxdomain
        elif gsd_delv_has ';; resolution failed: ncache nxrrset'; then
            [ "$want" = nxdomain ] || ok=nodata
        fi
    fi
    [ -n "$ok" ] || gs_fail "delv: $name $type is not validated as $want
--- delv output (pdns port $3):
$GSD_DELV"
    echo "ok: delv $name $type ($ok, fully validated${6:+, $6})"
}

# gsd_delv_insecure NAME TYPE PDNS_PORT ANCHOR [tcp]: gs_fail unless delv
# proves the answer insecure: "; unsigned answer" or "; negative response,
# unsigned answer" (below a delegation with no DS, for instance).
gsd_delv_insecure() {
    gsd_delv "$@"
    gsd_delv_has '; unsigned answer' || gsd_delv_has '; negative response, unsigned answer' ||
        gs_fail "delv: $1 $2 is not proven insecure
--- delv output (pdns port $3):
$GSD_DELV"
    echo "ok: delv $1 $2 (insecure${5:+, $5})"
}
