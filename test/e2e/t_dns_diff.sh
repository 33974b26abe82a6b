#!/usr/bin/env bash
# Differential DNS test: the same zone file is served by
#   (1) pdns_server + remote backend + geosteerd (zone created with the CLI,
#       contents loaded with `pdnsutil load-zone`), and
#   (2) pdns_server + BIND backend (the reference),
# both with every cache off. Each query in data/diff/queries.txt is sent to
# both servers with kdig; rcode, header flags and the answer, authority and
# additional sections (records sorted within each section) must be identical.
# A few absolute expectations are also asserted so that two equally broken
# servers cannot pass.
. "$(dirname "$0")/lib.sh"
gs_require pdns_server pdnsutil kdig python3

DATA=$(cd "$(dirname "$0")" && pwd)/data/diff
ZONE=diff.test
ZONEFILE=$DATA/diff.zone
QUERIES=$DATA/queries.txt
NOCACHE=(cache-ttl=0 query-cache-ttl=0 negquery-cache-ttl=0)

# --- (1) geosteerd behind pdns_server (remote backend) ---------------------
gs_start_geosteerd "$GS_TMP/gs"
out=$(gs_cli zone create "$ZONE" --ns "ns1.$ZONE")
gs_expect_contains "zone create" "OK zone $ZONE. created" "$out"

gs_port=$(gs_free_port)
gs_pdns_conf "$GS_TMP/pdns-gs" "$GS_SOCK" "$gs_port" "${NOCACHE[@]}"
gs_pdnsutil "$GS_TMP/pdns-gs" load-zone "$ZONE" "$ZONEFILE" >"$GS_TMP/pdns-gs/load-zone.log" 2>&1 ||
    gs_fail "pdnsutil load-zone failed: $(cat "$GS_TMP/pdns-gs/load-zone.log")"
gs_start_pdns "$GS_TMP/pdns-gs" "$gs_port"

# --- (2) reference: pdns_server with the BIND backend ----------------------
bind_dir=$GS_TMP/pdns-bind
mkdir -p "$bind_dir"
cat >"$bind_dir/named.conf" <<CONF
zone "$ZONE" { type master; file "$ZONEFILE"; };
CONF
bind_port=$(gs_free_port)
[ "$bind_port" != "$gs_port" ] || bind_port=$(gs_free_port)
cat >"$bind_dir/pdns.conf" <<CONF
launch=bind
bind-config=$bind_dir/named.conf
local-address=127.0.0.1
local-port=$bind_port
socket-dir=$bind_dir
guardian=no
daemon=no
disable-syslog=yes
write-pid=no
security-poll-suffix=
loglevel=6
CONF
printf '%s\n' "${NOCACHE[@]}" >>"$bind_dir/pdns.conf"
gs_start_pdns "$bind_dir" "$bind_port"

# --- normaliser --------------------------------------------------------------
# Reads kdig output on stdin and prints a canonical form: rcode, header flags,
# then each of the answer/authority/additional sections with its records
# sorted and whitespace collapsed. Query id, timing, server and size lines and
# the question section are dropped.
NORM=$GS_TMP/norm.py
cat >"$NORM" <<'PY'
import re, sys
status, flags, sect = "?", "?", None
out = {"ANSWER": [], "AUTHORITY": [], "ADDITIONAL": []}
err = []
for line in sys.stdin.read().splitlines():
    m = re.search(r"status: (\w+)", line)
    if line.startswith(";; ->>HEADER<<-") and m:
        status = m.group(1)
        continue
    if line.startswith(";; Flags:"):
        flags = " ".join(sorted(line[len(";; Flags:"):].split(";")[0].split()))
        continue
    m = re.match(r";; (\w+) SECTION:", line)
    if m:
        sect = m.group(1) if m.group(1) in out else None
        continue
    if line.startswith(";; WARNING") or line.startswith(";; ERROR"):
        err.append(line)
        continue
    if line.startswith(";") or not line.strip():
        if not line.strip():
            sect = None
        continue
    if sect:
        out[sect].append(" ".join(line.split()))
print("status:", status)
print("flags:", flags)
for k in ("ANSWER", "AUTHORITY", "ADDITIONAL"):
    for r in sorted(out[k]):
        print(k.lower() + ":", r)
for e in err:
    print("error:", e)
PY

# dnsq PORT NAME TYPE [flags...]: kdig against 127.0.0.1:PORT, normalised.
dnsq() {
    local port=$1 name=$2 type=$3
    shift 3
    kdig @127.0.0.1 -p "$port" +timeout=2 +retry=0 +ignore "$@" "$name" "$type" 2>&1 |
        python3 "$NORM"
}

# --- differential run --------------------------------------------------------
nq=0 ndiff=0
while IFS= read -r line || [ -n "$line" ]; do
    line=${line%%#*}
    # shellcheck disable=SC2086
    set -- $line
    [ $# -ge 2 ] || continue
    nq=$((nq + 1))
    a=$(dnsq "$gs_port" "$@")
    b=$(dnsq "$bind_port" "$@")
    if [ "$a" = "$b" ]; then
        echo "same: $* -> $(echo "$a" | sed -n 's/^status: //p')"
    else
        ndiff=$((ndiff + 1))
        echo "DIFF: $*"
        echo "--- geosteerd (remote backend):"
        echo "$a"
        echo "--- bind backend:"
        echo "$b"
        echo "---"
    fi
done <"$QUERIES"
[ "$nq" -ge 40 ] || gs_fail "only $nq queries read from $QUERIES"

# --- absolute expectations (against geosteerd) --------------------------------
q() { dnsq "$gs_port" "$@"; }
has() { # has WHAT LINE OUTPUT: OUTPUT must contain LINE as a whole line
    if printf '%s\n' "$3" | grep -qxF -- "$2"; then echo "ok: $1"; else
        printf 'FAIL: %s\n--- expected line:\n%s\n--- got:\n%s\n' "$1" "$2" "$3" >&2
        exit 1
    fi
}
hasnt() { # hasnt WHAT REGEX OUTPUT: no line of OUTPUT matches REGEX
    if printf '%s\n' "$3" | grep -qE -- "$2"; then
        printf 'FAIL: %s\n--- unexpected /%s/ in:\n%s\n' "$1" "$2" "$3" >&2
        exit 1
    fi
    echo "ok: $1"
}

r=$(q www.$ZONE A)
has "www A: NOERROR" "status: NOERROR" "$r"
has "www A: aa set" "flags: aa qr rd" "$r"
has "www A: address" "answer: www.$ZONE. 60 IN A 192.0.2.80" "$r"
has "www A: second address" "answer: www.$ZONE. 60 IN A 192.0.2.81" "$r"

r=$(q nope.$ZONE A)
has "nope: NXDOMAIN" "status: NXDOMAIN" "$r"
has "nope: aa set" "flags: aa qr rd" "$r"
hasnt "nope: no answer" "^answer:" "$r"
has "nope: SOA in authority" \
    "authority: $ZONE. 300 IN SOA ns1.$ZONE. hostmaster.$ZONE. 2024010101 10800 3600 604800 300" "$r"

r=$(q b.ent.$ZONE A)
has "ENT: NOERROR" "status: NOERROR" "$r"
hasnt "ENT: no answer" "^answer:" "$r"
has "ENT: SOA in authority" \
    "authority: $ZONE. 300 IN SOA ns1.$ZONE. hostmaster.$ZONE. 2024010101 10800 3600 604800 300" "$r"

r=$(q www.$ZONE MX)
has "NODATA: NOERROR" "status: NOERROR" "$r"
hasnt "NODATA: no answer" "^answer:" "$r"

r=$(q deep.sub.$ZONE A)
has "delegation: NOERROR" "status: NOERROR" "$r"
has "delegation: no aa" "flags: qr rd" "$r"
hasnt "delegation: no answer" "^answer:" "$r"
has "delegation: NS in authority" "authority: sub.$ZONE. 300 IN NS ns1.sub.$ZONE." "$r"
has "delegation: 2nd NS in authority" "authority: sub.$ZONE. 300 IN NS ns.example.net." "$r"
has "delegation: glue" "additional: ns1.sub.$ZONE. 300 IN A 192.0.2.153" "$r"

r=$(q alias.$ZONE A)
has "CNAME chain: hop 1" "answer: alias.$ZONE. 300 IN CNAME alias2.$ZONE." "$r"
has "CNAME chain: hop 2" "answer: alias2.$ZONE. 300 IN CNAME www.$ZONE." "$r"
has "CNAME chain: target" "answer: www.$ZONE. 60 IN A 192.0.2.80" "$r"
has "CNAME chain: aa" "flags: aa qr rd" "$r"

r=$(q a.b.c.wild.$ZONE A)
has "deep wildcard: synthesised" "answer: a.b.c.wild.$ZONE. 300 IN A 192.0.2.99" "$r"
r=$(q exists.wild.$ZONE TXT)
hasnt "name beside wildcard: no synthesis" "^answer:" "$r"

r=$(q txt.$ZONE TXT)
has "TXT multi-string" 'answer: txt.diff.test. 300 IN TXT "first string" "second string"' "$r"
has "TXT escaped quotes" 'answer: txt.diff.test. 300 IN TXT "say \"hi\" there"' "$r"

r=$(q www.$ZONE ANY)
has "ANY over UDP: tc" "flags: aa qr rd tc" "$r"
r=$(q www.$ZONE ANY +tcp)
has "ANY over TCP: AAAA" "answer: www.$ZONE. 300 IN AAAA 2001:db8::80" "$r"
has "ANY over TCP: TXT" "answer: www.$ZONE. 300 IN TXT \"web\"" "$r"

r=$(q www.example.org A)
has "other zone: REFUSED" "status: REFUSED" "$r"

echo "$nq queries, $ndiff differences"
[ "$ndiff" -eq 0 ] || gs_fail "$ndiff of $nq queries answered differently by geosteerd and the bind backend"
