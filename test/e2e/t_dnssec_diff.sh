#!/usr/bin/env bash
# Differential DNSSEC test: one static zone (no LUA records), signed live by
# two pdns_servers with the same keys:
#   (A) launch=remote + geosteerd, remote-dnssec=yes: the zone loaded with
#       `pdnsutil load-zone`, secured with `pdnsutil secure-zone` (keys
#       stored in geosteerd), plus an active ZSK, a pre-published ZSK and an
#       unpublished one;
#   (B) launch=bind with bind-dnssec-db (the reference): the same zone file,
#       every key of (A) exported (`export-zone-key`) and imported with its
#       role and state.
# Under NSEC, NSEC3 '1 0 1 ab' and NSEC3 '1 0 0 -' narrow, the same queries
# (kdig +dnssec +norec) go to both servers; per query the rcode, header flags
# and every record of the answer, authority and additional sections must be
# identical, RRSIGs compared without their signature bytes and validity
# dates (ECDSA signatures are randomised), TTLs as served. One allowance:
# NSEC owner and next names are compared in lower case, as geosteerd keeps
# names lower-cased while the bind backend keeps the zone file's case (DNS
# names compare case-insensitively; a note counts such replies). Every
# RRset of the answer and authority sections (but a delegation's NS) must
# carry an RRSIG, and a few absolute checks (no SERVFAIL, denial of the
# mode's kind, the chain's wrap-around, the key set) keep two equally broken
# servers from passing. A negative control gives (B) another NSEC3 salt and
# requires the comparison to fail.
# shellcheck source=test/e2e/lib.sh
. "$(dirname "$0")/lib.sh"
gs_require pdns_server pdnsutil pdns_control kdig python3
# DNSSEC goes through the remote backend (as in t_dnssec_keys.sh).
GS_PDNS_MODE=remote
T0=$(date +%s)

Z=dd.test
ZONEFILE=$GS_TMP/dd.zone
# The shapes a denial has to prove: apex data, plain names, a CNAME, a
# wildcard with a real name beside it, an empty non-terminal chain, an
# insecure delegation with glue, a secure one (DS) with an out-of-zone NS,
# and the canonical-order example of RFC 4034 section 6.1 (upper case,
# escaped octets, a second wildcard) below a and z.
cat >"$ZONEFILE" <<'ZONE'
$ORIGIN dd.test.
$TTL 300
@            IN SOA   ns1 hostmaster 2024010101 10800 3600 604800 300
@            IN NS    ns1
@            IN NS    ns2.example.net.
@            IN A     192.0.2.1
@            IN MX    10 mail
@            IN TXT   "v=spf1 mx -all"
ns1          IN A     192.0.2.53
mail         IN A     192.0.2.25
mail         IN AAAA  2001:db8::25
www      60  IN A     192.0.2.80
www      60  IN A     192.0.2.81
www          IN AAAA  2001:db8::80
www          IN TXT   "web"
alias        IN CNAME www
MiXeD        IN A     192.0.2.5
*.wild       IN A     192.0.2.99
*.wild       IN TXT   "wildcard"
exists.wild  IN A     192.0.2.98
a.b.ent      IN A     192.0.2.70
sub          IN NS    ns.sub
sub          IN NS    ns.example.net.
ns.sub       IN A     192.0.2.153
ns.sub       IN AAAA  2001:db8::153
sec          IN NS    ns1.example.net.
sec          IN DS    12345 13 2 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
a            IN TXT   "a"
yljkjljk.a   IN TXT   "yljkjljk"
Z.a          IN TXT   "Z"
zABC.a       IN TXT   "zABC"
z            IN TXT   "z"
\001.z       IN TXT   "001"
*.z          IN TXT   "star"
\200.z       IN TXT   "200"
ZONE
# Every cache off on both sides, and 8bit-dns so that pdns answers queries
# for the escaped names (it SERVFAILs a qname with octets outside
# [A-Za-z0-9-_*./@ \\:] otherwise, whatever the backend).
CONF=(cache-ttl=0 query-cache-ttl=0 negquery-cache-ttl=0 dnssec-key-cache-ttl=0
    zone-metadata-cache-ttl=0 8bit-dns=yes)

pu() { gs_pdnsutil_q "$@"; }

# --- (A) geosteerd behind pdns_server ------------------------------------------
A=$GS_TMP/pdns-gs
A_PORT=$(gs_free_port)
gs_start_geosteerd "$GS_TMP/gs"
gs_cli zone create $Z >/dev/null
gs_pdns_conf "$A" "$GS_SOCK" "$A_PORT" remote-dnssec=yes "${CONF[@]}"
out=$(pu "$A" load-zone $Z "$ZONEFILE") || gs_fail "load-zone: $out"
nrec=$(grep -cvE '^[[:space:]]*($|;|\$)' "$ZONEFILE")
gs_expect_contains "load-zone" "$Z. id=1 serial=2024010101 records=$nrec" "$(gs_cli zone list)"
out=$(pu "$A" secure-zone $Z) || gs_fail "secure-zone: $out"
gs_expect_contains "secure-zone" "Zone $Z secured" "$out"
# More than one key, in every state pdnsutil can give: the DNSKEY set and
# which keys sign must come out the same on both sides.
for k in "active published" "inactive published" "inactive unpublished"; do
    # shellcheck disable=SC2086
    id=$(pu "$A" add-zone-key $Z zsk $k ecdsa256 | tail -n 1)
    [[ $id =~ ^[0-9]+$ ]] || gs_fail "add-zone-key zsk $k: $id"
done
gs_start_pdns "$A" "$A_PORT"

# --- (B) the bind backend with the same keys ----------------------------------
B=$GS_TMP/pdns-bind
B_PORT=$(gs_free_port)
[ "$B_PORT" != "$A_PORT" ] || B_PORT=$(gs_free_port)
gs_pdns_bind_conf "$B" "$B_PORT" "$Z" "$ZONEFILE" "bind-dnssec-db=$B/dnssec.db" "${CONF[@]}"
out=$(pu "$B" create-bind-db "$B/dnssec.db") || gs_fail "create-bind-db: $out"
# key_list DIR: one line per key of the zone from show-zone, "id flags tag
# Active|Inactive Published|Unpublished".
key_list() {
    local re='^ID = \([0-9]*\) ([A-Z]*), flags = \([0-9]*\), tag = \([0-9]*\),'
    re+='.*\t *\([A-Za-z]*\)\t *\([A-Za-z]*\) .*'
    pu "$1" show-zone $Z | sed -n "s/$re/\1 \2 \3 \4 \5/p"
}
# keys DIR: the same without the ids (they differ between the two sides),
# tag first, sorted.
keys() { key_list "$1" | awk '{ print $3, $2, $4, $5 }' | sort; }
nkeys=0
list=$(key_list "$A")
while read -r id flags _ state pub; do
    case $flags in 257) role=ksk ;; 256) role=zsk ;; *) gs_fail "key $id: flags $flags" ;; esac
    pu "$A" export-zone-key $Z "$id" >"$GS_TMP/key$id.private" || gs_fail "export-zone-key $id"
    out=$(pu "$B" import-zone-key $Z "$GS_TMP/key$id.private" $role "${state,,}" "${pub,,}") ||
        gs_fail "import-zone-key $id ($role $state $pub): $out"
    nkeys=$((nkeys + 1))
done <<<"$list"
gs_expect_eq "4 keys in (A)" 4 "$nkeys"
gs_expect_eq "(B) holds the same keys, roles and states as (A)" "$(keys "$A")" "$(keys "$B")"
keys "$A" | sed 's/^/  key: /'
gs_start_pdns "$B" "$B_PORT"

# --- query list ------------------------------------------------------------------
# Names whose NSEC3 hash (salt ab, 1 iteration; no salt, 0 iterations) lies
# before the first and after the last hash of the zone: their NXDOMAIN proof
# is the chain's wrap-around record.
WRAP=$(python3 - "$ZONEFILE" $Z <<'PY'
import base64, hashlib, re, sys
zonefile, apex = sys.argv[1], sys.argv[2].lower() + "."
def wire(name):  # absolute presentation name -> lower-cased wire form
    label, labels, i = b"", [], 0
    while i < len(name):
        c = name[i]
        if c == "\\":
            if name[i+1:i+4].isdigit():
                label += bytes([int(name[i+1:i+4])]); i += 4; continue
            label += name[i+1].encode(); i += 2; continue
        if c == ".":
            labels.append(label); label = b""; i += 1; continue
        label += c.encode(); i += 1
    return b"".join(bytes([len(l)]) + l.lower() for l in labels if l) + b"\0"
def h(name, salt, it):
    d = hashlib.sha1(wire(name) + salt).digest()
    for _ in range(it): d = hashlib.sha1(d + salt).digest()
    return base64.b32hexencode(d).decode().lower()
names = set()
for line in open(zonefile):
    if not line.strip() or line[0] in " \t;$": continue
    o = line.split()[0]
    n = apex if o == "@" else o + "." + apex
    while True:  # the name and its ancestors up to the apex (ENTs)
        names.add(n)
        if n == apex: break
        n = re.split(r"(?<!\\)\.", n, maxsplit=1)[1]
res = []
for salt, it in ((b"\xab", 1), (b"", 0)):
    hs = [h(n, salt, it) for n in names]
    lo = hi = None
    for i in range(100000):
        c = "nx%d.%s" % (i, apex)
        x = h(c, salt, it)
        if lo is None and x < min(hs): lo = c
        if hi is None and x > max(hs): hi = c
        if lo and hi: break
    res += [lo, hi]
print(" ".join(res))
PY
) || gs_fail "no NSEC3 wrap-around names"
read -r WRAP_AB_LO WRAP_AB_HI WRAP_0_LO WRAP_0_HI <<<"$WRAP"
[[ "$WRAP" =~ ^nx[0-9]+\.$Z\.\ nx[0-9]+\.$Z\.\ nx[0-9]+\.$Z\.\ nx[0-9]+\.$Z\.$ ]] ||
    gs_fail "NSEC3 wrap-around names: '$WRAP'"
QUERIES=$GS_TMP/queries.txt
cat >"$QUERIES" <<Q
# existing data of every type
$Z SOA
$Z NS
$Z A
$Z MX
$Z TXT
$Z DNSKEY
$Z DNSKEY +tcp
$Z NSEC3PARAM
ns1.$Z A
mail.$Z A
mail.$Z AAAA
www.$Z A
www.$Z AAAA
www.$Z TXT
www.$Z A +tcp
alias.$Z A
alias.$Z CNAME
mixed.$Z A
MIXED.$Z A
a.$Z TXT
yljkjljk.a.$Z TXT
z.a.$Z TXT
zabc.a.$Z TXT
z.$Z TXT
\\001.z.$Z TXT
\\200.z.$Z TXT
\\002.z.$Z TXT
\\255.z.$Z TXT
# ANY: over UDP truncated, over TCP everything
$Z ANY
$Z ANY +tcp
www.$Z ANY +tcp
# NODATA
$Z AAAA
$Z DS
www.$Z MX
mail.$Z TXT
alias.$Z TXT
mixed.$Z AAAA
z.$Z A
\\001.z.$Z A
# NXDOMAIN before the first name, after the last, at several points of the
# chain, below an existing name and below the canonical-order names
0nx.$Z A
_nx.$Z A
zz.$Z A
~.$Z TXT
nope.$Z A
nope.$Z AAAA +tcp
mailx.$Z A
x.www.$Z A
y.a.$Z TXT
zz.a.$Z TXT
a.z.a.$Z TXT
x.\\001.z.$Z TXT
$WRAP_AB_LO A
$WRAP_AB_HI A
$WRAP_0_LO A
$WRAP_0_HI A
# wildcard: synthesis, deeper synthesis, NODATA through it, the literal *,
# the real name beside it, below that name (no synthesis), its parent (ENT)
foo.wild.$Z A
foo.wild.$Z TXT
a.b.c.wild.$Z A
foo.wild.$Z AAAA
*.wild.$Z A
exists.wild.$Z A
exists.wild.$Z TXT
below.exists.wild.$Z A
wild.$Z A
b.z.$Z TXT
b.z.$Z A
*.z.$Z TXT
# empty non-terminals, the name below them, names beside and below them
ent.$Z A
b.ent.$Z A
b.ent.$Z TXT +tcp
a.b.ent.$Z A
a.b.ent.$Z AAAA
c.ent.$Z A
x.b.ent.$Z A
x.a.b.ent.$Z A
# delegations: at the cut, below it, glue, DS (present and absent)
sub.$Z NS
sub.$Z A
sub.$Z DS
sub.$Z DS +tcp
host.sub.$Z A
ns.sub.$Z A
ns.sub.$Z AAAA
ns.sub.$Z DS
x.y.sub.$Z MX
sec.$Z NS
sec.$Z DS
sec.$Z A
host.sec.$Z A
host.sec.$Z DS
# not this zone
www.example.org A
Q

# --- the comparison ------------------------------------------------------------------
# diff.py MODE OUT A_PORT B_PORT QUERIES ZONE [WRAP...]: every query to both
# servers (a few in parallel), each reply normalised to its rcode, header
# flags and sorted records per section, RRSIGs as "covered alg labels
# origttl keytag signer" (validity dates and signature dropped). Prints each
# difference with the lines only one side has, every unsigned RRset, then
# "N queries, D differences"; writes the normalised replies to
# OUT/{a,b}/<n>_<query> (and kdig's output to <...>.raw). Then the
# absolute checks of MODE (nsec, nsec3, narrow, or "-" for none) on (A)'s
# replies (WRAP: names whose NSEC3 proof must be the wrap-around record).
# Exit 1 on any difference or failed check.
DIFF=$GS_TMP/diff.py
cat >"$DIFF" <<'PY'
import os, re, subprocess, sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

mode, out_dir, a_port, b_port, qfile, zone = sys.argv[1:7]
apex = zone.lower().rstrip(".") + "."

def norm(text, fold=True):
    """(lines, sections, rcode) of a kdig reply; with fold, the names of
    NSEC records (owner, next name) and of their RRSIGs in lower case."""
    status, flags, sect = "?", "?", None
    secs = {"answer": [], "authority": [], "additional": []}
    for line in text.splitlines():
        m = re.search(r"status: (\w+)", line)
        if line.startswith(";; ->>HEADER<<-") and m:
            status = m.group(1)
        elif line.startswith(";; Flags:"):
            flags = " ".join(sorted(line[len(";; Flags:"):].split(";")[0].split()))
        elif re.match(r";; (\w+) SECTION:", line):
            sect = re.match(r";; (\w+) SECTION:", line).group(1).lower()
            sect = sect if sect in secs else None
        elif not line.strip():
            sect = None
        elif sect and not line.startswith(";"):
            f = line.split()
            if len(f) >= 4 and f[3] == "RRSIG":
                # covered alg labels origttl [expiration inception] keytag signer [signature]
                f = f[:8] + f[10:12]
            if fold and len(f) >= 5 and (f[3] == "NSEC" or f[3:5] == ["RRSIG", "NSEC"]):
                f[0] = f[0].lower()
                if f[3] == "NSEC":
                    f[4] = f[4].lower()
            secs[sect].append(" ".join(f))
    lines = ["status: " + status, "flags: " + flags]
    for k in ("answer", "authority", "additional"):
        lines += ["%s: %s" % (k, r) for r in sorted(secs[k])]
    return lines, secs, status

def unsigned(secs):
    """RRsets of the answer and authority sections with no RRSIG covering
    them (a delegation's NS is not signed)."""
    bad = []
    for k in ("answer", "authority"):
        sets, sigs = set(), set()
        for r in secs[k]:
            f = r.split()
            if f[3] == "RRSIG":
                sigs.add((f[0].lower(), f[4]))
            else:
                sets.add((f[0].lower(), f[3]))
        for o, t in sorted(sets - sigs):
            if not (t == "NS" and o != apex):
                bad.append("%s: %s %s has no RRSIG" % (k, o, t))
    return bad

def kdig(port, q):
    p = subprocess.run(["kdig", "@127.0.0.1", "-p", port, "+dnssec", "+norec", "+ignore",
                        "+timeout=2", "+retry=0"] + q[2:] + [q[0], q[1]],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return p.stdout

def key(i, q):
    return "%03d_" % i + re.sub(r"[^A-Za-z0-9_.+-]", "_", " ".join(q).replace("*", "STAR"))

queries = []
for line in open(qfile):
    q = line.split("#", 1)[0].split()
    if len(q) >= 2:
        queries.append(q)
pool = ThreadPoolExecutor(max_workers=8)
jobs = [(q, pool.submit(kdig, a_port, q), pool.submit(kdig, b_port, q)) for q in queries]
for d in ("a", "b"):
    os.makedirs(os.path.join(out_dir, d), exist_ok=True)
ndiff, nbad, ncase, case_eg, replies = 0, 0, 0, None, {}
for i, (q, ja, jb) in enumerate(jobs):
    ta, tb = ja.result(), jb.result()
    (la, sa, st_a), (lb, sb, st_b) = norm(ta), norm(tb)
    replies[" ".join(q)] = (la, sa, st_a)
    for d, t, l in (("a", ta, la), ("b", tb, lb)):
        with open(os.path.join(out_dir, d, key(i, q)), "w") as f:
            f.write("\n".join(l) + "\n")
        with open(os.path.join(out_dir, d, key(i, q) + ".raw"), "w") as f:
            f.write(t)
    problems = []
    if st_a == "?" or st_b == "?":
        problems.append("no reply (A: %s, B: %s)" % (st_a, st_b))
    if la == lb and norm(ta, False)[0] != norm(tb, False)[0]:
        ncase += 1
        ra, rb = norm(ta, False)[0], norm(tb, False)[0]
        case_eg = case_eg or ([r for r in ra if r not in rb][0], [r for r in rb if r not in ra][0])
    ca, cb = Counter(la), Counter(lb)
    if ca != cb:
        problems += ["only (A) geosteerd: " + r for r in la if (ca - cb)[r]]
        problems += ["only (B) bind:      " + r for r in lb if (cb - ca)[r]]
    if st_a != "REFUSED":
        problems += ["(A) " + u for u in unsigned(sa)] + ["(B) " + u for u in unsigned(sb)]
    if problems:
        ndiff += 1
        print("DIFF [%s] %s" % (mode, " ".join(q)))
        for p in dict.fromkeys(problems):
            print("    " + p)

print("[%s] %d queries, %d differences" % (mode, len(queries), ndiff))
if ncase:
    print("note: [%s] %d replies differ only in the letter case of NSEC names, e.g.\n"
          "    (A) %s\n    (B) %s" % (mode, ncase, case_eg[0], case_eg[1]))

# --- absolute checks on (A)'s replies -----------------------------------------
def check(what, ok):
    global nbad
    print(("ok: [%s] " % mode if ok else "FAIL: [%s] " % mode) + what)
    nbad += 0 if ok else 1

def rrs(q, sect, rtype):
    return [r.split() for r in replies[q][1][sect] if r.split()[3] == rtype]

b32 = "0123456789abcdefghijklmnopqrstuv"
def num(h):
    n = 0
    for c in h.lower(): n = n * 32 + b32.index(c)
    return n

if mode != "-":
    rcodes = Counter(r[2] for r in replies.values())
    check("rcodes %s, no SERVFAIL" % dict(sorted(rcodes.items())),
          set(rcodes) <= {"NOERROR", "NXDOMAIN", "REFUSED"})
    dnskeys = rrs(zone + " DNSKEY", "answer", "DNSKEY")
    sigs = rrs(zone + " DNSKEY", "answer", "RRSIG")
    check("DNSKEY: 3 published keys (1 KSK), signed", len(dnskeys) == 3 and
          sorted(k[4] for k in dnskeys) == ["256", "256", "257"] and len(sigs) >= 1)
    check("DS at the secure delegation: signed answer",
          len(rrs("sec.%s DS" % zone, "answer", "DS")) == 1 and
          len(rrs("sec.%s DS" % zone, "answer", "RRSIG")) == 1)
    ref = replies["host.sub.%s A" % zone]
    check("below the insecure delegation: referral with glue",
          ref[2] == "NOERROR" and "aa" not in ref[0][1].split() and
          len(rrs("host.sub.%s A" % zone, "authority", "NS")) == 2 and
          len(rrs("host.sub.%s A" % zone, "additional", "A")) == 1)
    nx = [q for q in replies if replies[q][2] == "NXDOMAIN"]
    check("%d NXDOMAIN replies" % len(nx), len(nx) >= 15)
    want = "NSEC" if mode == "nsec" else "NSEC3"
    other = "NSEC3" if mode == "nsec" else "NSEC"
    check("every NXDOMAIN proves with %s only" % want, all(
        rrs(q, "authority", want) and not rrs(q, "authority", other) for q in nx))
    if mode == "nsec":
        lo = rrs("0nx.%s A" % zone, "authority", "NSEC")
        hi = rrs("zz.%s A" % zone, "authority", "NSEC")
        check("before the first name: the apex's NSEC", any(r[0].lower() == apex for r in lo))
        check("after the last name: the NSEC pointing back to the apex",
              any(r[4].lower() == apex for r in hi))
    else:
        narrow = mode == "narrow"
        ps = rrs(zone + " NSEC3PARAM", "answer", "NSEC3PARAM")
        want_p = ["1", "0", "0", "-"] if narrow else ["1", "0", "1", "AB"]
        check("NSEC3PARAM %s" % " ".join(want_p),
              len(ps) == 1 and [x.upper() for x in ps[0][4:8]] == want_p)
        all3 = [r for q in nx for r in rrs(q, "authority", "NSEC3")]
        check("NSEC3 records carry the zone's parameters",
              all([x.upper() for x in r[4:8]] == want_p for r in all3))
        # narrow (white lies): next hash = owner hash + 1 or + 2
        def lie(r):
            return (num(r[8]) - num(r[0].split(".")[0])) % (32 ** 32) in (1, 2)
        check("narrow: every NSEC3 is a white lie" if narrow else "no NSEC3 is a white lie",
              all(lie(r) for r in all3) if narrow else not any(lie(r) for r in all3))
        if not narrow:
            for q in sys.argv[7:]:
                wrap = [r for r in rrs(q + " A", "authority", "NSEC3")
                        if num(r[8]) < num(r[0].split(".")[0])]
                check("%s: covered by the chain's wrap-around NSEC3" % q, len(wrap) == 1)
sys.exit(1 if ndiff or nbad else 0)
PY

# set_mode nsec|nsec3|narrow: the same NSEC settings on both sides; (A)
# rectified and purged, (B) reloaded (the bind backend reads them at load).
set_mode() {
    local p=() want=""
    case $1 in
    nsec) want="Zone has NSEC semantics" ;;
    nsec3) p=("1 0 1 ab") want="Zone has hashed NSEC3 semantics" ;;
    narrow) p=("1 0 0 -" narrow) want="Zone has NARROW hashed NSEC3 semantics" ;;
    esac
    for d in "$A" "$B"; do
        if [ ${#p[@]} -eq 0 ]; then
            out=$(pu "$d" unset-nsec3 $Z) || gs_fail "unset-nsec3: $out"
        else
            out=$(pu "$d" set-nsec3 $Z "${p[@]}") || gs_fail "set-nsec3 ${p[*]}: $out"
        fi
        gs_expect_contains "$(basename "$d"): $want" "$want" "$(pu "$d" show-zone $Z)"
    done
    out=$(pu "$A" rectify-zone $Z) || gs_fail "rectify-zone: $out"
    gs_pdns_control "$A" purge "$Z\$" >/dev/null
    gs_pdns_control "$B" bind-reload-now $Z >/dev/null
    gs_pdns_control "$B" purge "$Z\$" >/dev/null
}

rc=0
for mode in nsec nsec3 narrow; do
    [ $mode = nsec ] || set_mode $mode
    [ $mode != nsec ] ||
        gs_expect_contains "NSEC to begin with" "Zone has NSEC semantics" "$(pu "$A" show-zone $Z)"
    python3 "$DIFF" $mode "$GS_TMP/out-$mode" "$A_PORT" "$B_PORT" "$QUERIES" $Z \
        "$WRAP_AB_LO" "$WRAP_AB_HI" || rc=1
    echo "--- $mode done at $(($(date +%s) - T0)) s"
    if [ $mode = nsec3 ]; then
        # Negative control: (B) with salt cd must differ from (A) (salt ab)
        # on every denial, and still agree on plain positive answers.
        out=$(pu "$B" set-nsec3 $Z "1 0 1 cd") || gs_fail "set-nsec3 cd: $out"
        gs_pdns_control "$B" bind-reload-now $Z >/dev/null
        ctl_rc=0
        ctl=$(python3 "$DIFF" - "$GS_TMP/out-control" "$A_PORT" "$B_PORT" "$QUERIES" $Z) ||
            ctl_rc=$?
        printf '%s\n' "$ctl" >"$GS_TMP/control.txt"
        gs_expect_eq "negative control: the comparison fails" 1 "$ctl_rc"
        for q in "nope.$Z A" "b.ent.$Z A" "foo.wild.$Z A" "$Z NSEC3PARAM"; do
            grep -qxF "DIFF [-] $q" <<<"$ctl" || gs_fail "negative control: no difference for '$q':
$ctl"
        done
        for q in "www.$Z A" "$Z DNSKEY" "sec.$Z DS" "host.sec.$Z A"; do
            grep -qxF "DIFF [-] $q" <<<"$ctl" && gs_fail "negative control: '$q' differs:
$ctl"
        done
        echo "ok: negative control: $(tail -n 1 <<<"$ctl" | sed 's/^\[-\] //')" \
            "with (B)'s salt cd; e.g."
        sed -n '/^DIFF \[-\] nope/,/^DIFF/p' <<<"$ctl" | sed '$d' | head -n 6 | sed 's/^/    /'
    fi
done
[ $rc -eq 0 ] || gs_fail "geosteerd and the bind backend signed or denied differently (see above)"
echo "PASS: DNSSEC answers of geosteerd and the bind backend agree under NSEC, NSEC3 and" \
    "NSEC3 narrow ($(($(date +%s) - T0)) s)"
