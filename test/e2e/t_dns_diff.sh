#!/usr/bin/env bash
# Differential DNS test: the same zone file is served by
#   (1) pdns_server + remote backend + geosteerd (zone created with the CLI,
#       contents loaded with `pdnsutil load-zone`; with GS_DIFF_SECONDARY=1,
#       loaded on a primary node and received by (1), a secondary, by AXFR),
#       and
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
gs_port=$(gs_free_port)
nrec=$(grep -cvE '^[[:space:]]*($|;|\$)' "$ZONEFILE")
if [ "${GS_DIFF_SECONDARY:-0}" = 1 ]; then
    # (1) is a secondary (doc/replication.md): the file is loaded on a
    # primary node, and reaches (1) by NOTIFY and AXFR.
    prim_port=$(gs_free_port)
    [ "$prim_port" != "$gs_port" ] || prim_port=$(gs_free_port)
    gs_start_geosteerd "$GS_TMP/prim"
    gs_cli zone create "$ZONE" --ns "ns1.$ZONE" --kind primary >/dev/null
    gs_pdns_conf "$GS_TMP/pdns-prim" "$GS_SOCK" "$prim_port" primary=yes xfr-cycle-interval=1 \
        only-notify= "also-notify=127.0.0.1:$gs_port" allow-axfr-ips=127.0.0.0/8
    gs_pdnsutil "$GS_TMP/pdns-prim" load-zone "$ZONE" "$ZONEFILE" >"$GS_TMP/load-zone.log" 2>&1 ||
        gs_fail "pdnsutil load-zone failed: $(cat "$GS_TMP/load-zone.log")"
    gs_start_pdns "$GS_TMP/pdns-prim" "$prim_port"
    gs_start_geosteerd "$GS_TMP/gs"
    out=$(gs_cli zone create "$ZONE" --secondary --primary "127.0.0.1:$prim_port")
    gs_expect_contains "secondary zone create" "OK zone $ZONE. created" "$out"
    gs_pdns_conf "$GS_TMP/pdns-gs" "$GS_SOCK" "$gs_port" secondary=yes xfr-cycle-interval=1 \
        "${NOCACHE[@]}"
    gs_start_pdns "$GS_TMP/pdns-gs" "$gs_port"
    for _ in $(seq 100); do
        gs_cli zone list | grep -q "^$ZONE. id=1 serial=2024010101 " && break
        sleep 0.1
    done
    gs_expect_contains "the secondary received the zone" \
        "$ZONE. id=1 serial=2024010101 records=$nrec kind=secondary" "$(gs_cli zone list)"
else
    gs_start_geosteerd "$GS_TMP/gs"
    out=$(gs_cli zone create "$ZONE" --ns "ns1.$ZONE")
    gs_expect_contains "zone create" "OK zone $ZONE. created" "$out"
    gs_pdns_conf "$GS_TMP/pdns-gs" "$GS_SOCK" "$gs_port" "${NOCACHE[@]}"
    gs_pdnsutil "$GS_TMP/pdns-gs" load-zone "$ZONE" "$ZONEFILE" >"$GS_TMP/pdns-gs/load-zone.log" 2>&1 ||
        gs_fail "pdnsutil load-zone failed: $(cat "$GS_TMP/pdns-gs/load-zone.log")"
    out=$(gs_cli zone list)
    gs_expect_contains "load-zone replaced the zone" "$ZONE. id=1 serial=2024010101 records=$nrec" "$out"
    gs_start_pdns "$GS_TMP/pdns-gs" "$gs_port"
fi

# --- (2) reference: pdns_server with the BIND backend ----------------------
bind_dir=$GS_TMP/pdns-bind
bind_port=$(gs_free_port)
[ "$bind_port" != "$gs_port" ] || bind_port=$(gs_free_port)
gs_pdns_bind_conf "$bind_dir" "$bind_port" "$ZONE" "$ZONEFILE" "${NOCACHE[@]}"
gs_start_pdns "$bind_dir" "$bind_port"

# --- differential run --------------------------------------------------------
# One python process runs kdig for every query against both servers (the two
# servers and a few queries in parallel), normalises each reply to: rcode,
# header flags, then the answer/authority/additional records, sorted within
# each section with whitespace collapsed (query id, timing, server, size and
# question lines dropped), prints one line per query and writes the
# normalised replies to OUT/{gs,bind}/<query key> for the assertions below.
OUT=$GS_TMP/out
DIFF=$GS_TMP/diff.py
cat >"$DIFF" <<'PY'
import os, re, subprocess, sys
from concurrent.futures import ThreadPoolExecutor

queries_file, out_dir, gs_port, bind_port = sys.argv[1:5]

def norm(text):
    status, flags, sect = "?", "?", None
    secs = {"ANSWER": [], "AUTHORITY": [], "ADDITIONAL": []}
    err = []
    for line in text.splitlines():
        m = re.search(r"status: (\w+)", line)
        if line.startswith(";; ->>HEADER<<-") and m:
            status = m.group(1)
        elif line.startswith(";; Flags:"):
            flags = " ".join(sorted(line[len(";; Flags:"):].split(";")[0].split()))
        elif re.match(r";; (\w+) SECTION:", line):
            name = re.match(r";; (\w+) SECTION:", line).group(1)
            sect = name if name in secs else None
        elif line.startswith(";; WARNING") or line.startswith(";; ERROR"):
            err.append(line)
        elif not line.strip():
            sect = None
        elif sect and not line.startswith(";"):
            secs[sect].append(" ".join(line.split()))
    res = ["status: " + status, "flags: " + flags]
    for k in ("ANSWER", "AUTHORITY", "ADDITIONAL"):
        res += [k.lower() + ": " + r for r in sorted(secs[k])]
    res += ["error: " + e for e in err]
    return "\n".join(res) + "\n"

def kdig(port, args):
    name, qtype, flags = args[0], args[1], args[2:]
    p = subprocess.run(["kdig", "@127.0.0.1", "-p", port, "+timeout=2", "+retry=0",
                        "+ignore"] + flags + [name, qtype],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return norm(p.stdout)

def key(args):
    return re.sub(r"[^A-Za-z0-9_.+-]", "_", " ".join(args).replace("*", "STAR"))

queries = []
with open(queries_file) as f:
    for line in f:
        args = line.split("#", 1)[0].split()
        if len(args) >= 2:
            queries.append(args)

pool = ThreadPoolExecutor(max_workers=6)
jobs = [(q, pool.submit(kdig, gs_port, q), pool.submit(kdig, bind_port, q)) for q in queries]
ndiff = 0
for d in ("gs", "bind"):
    os.makedirs(os.path.join(out_dir, d), exist_ok=True)
for q, ja, jb in jobs:
    a, b = ja.result(), jb.result()
    for d, text in (("gs", a), ("bind", b)):
        with open(os.path.join(out_dir, d, key(q)), "w") as f:
            f.write(text)
    status = a.splitlines()[0].split(": ", 1)[1]
    if a == b:
        print("same: %s -> %s" % (" ".join(q), status))
    else:
        ndiff += 1
        print("DIFF: %s" % " ".join(q))
        print("--- geosteerd (remote backend):\n" + a + "--- bind backend:\n" + b + "---")
print("%d queries, %d differences" % (len(queries), ndiff))
if len(queries) < 40:
    print("FAIL: only %d queries read from %s" % (len(queries), queries_file))
    sys.exit(2)
sys.exit(1 if ndiff else 0)
PY
diff_rc=0
python3 "$DIFF" "$QUERIES" "$OUT" "$gs_port" "$bind_port" || diff_rc=$?
[ "$diff_rc" -le 1 ] || gs_fail "differential run failed (rc $diff_rc)"

# --- absolute expectations (against geosteerd) --------------------------------
# q QUERY...: geosteerd's normalised reply to a query of the list (same key
# as diff.py: '*' -> STAR, blanks -> '_').
q() {
    local k="$*"
    k=${k//\*/STAR}
    k=${k// /_}
    [ -f "$OUT/gs/$k" ] || gs_fail "query '$*' is not in $QUERIES"
    cat "$OUT/gs/$k"
}
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

[ "$diff_rc" -eq 0 ] || gs_fail "geosteerd and the bind backend answered differently (DIFF lines above)"
