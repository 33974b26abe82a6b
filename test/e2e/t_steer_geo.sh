#!/usr/bin/env bash
# GeoIP steering end to end: the default country database built with
# `geosteer geoip build` from tor-geoipdb, a geo policy with continent and
# country rules (data/steer_geo/geosteer.json), geosteerd behind a real
# pdns_server (edns-subnet-processing=yes, packet and query caches ON), queried
# with kdig +subnet.
#
# For ~300 IPv4 and ~150 IPv6 client subnets drawn from the range files (many
# countries, every pool), the answer and the ECS scope are checked against
# expectations computed here, in Python, from the range files,
# geo/data/countries.tsv and the policy's rules, without calling geosteer:
#   pool(addr)  = the rule the address's range maps to (country beats
#                 continent; no data or no rule: default)
#   scope(addr) = min(cap, the shortest prefix length L such that every
#                 address of addr's /L has the same pool), cap /24 and /56 —
#                 "the widest prefix over which the decision is the same".
# Property: 2-3 other addresses inside each returned scope get the same answer
# (and scope) when the scope is below the cap; inside a capped scope whose
# block the source data says is mixed, each address gets its own pool (the
# documented cap) and those blocks are counted. Cache isolation: every query
# is replayed in a new random order within pdns's 20 s cache lifetime, next
# to /32 clients on either side of pool boundaries, and nobody may get
# another client's answer. (pdns does not cache answers that carry a scope at
# all; a static control name shows its packet cache is on.)
# ECS source /0 and no ECS are decided on the resolver (127.0.0.1: default).
# GS_SEED=N replays a run.
. "$(dirname "$0")/lib.sh"
gs_require pdns_server pdnsutil pdns_control kdig python3
V4=${GS_TOR_GEOIP:-/usr/share/tor/geoip}
V6=${GS_TOR_GEOIP6:-/usr/share/tor/geoip6}
[ -r "$V4" ] && [ -r "$V6" ] || gs_skip "tor-geoipdb is not installed ($V4, $V6)"
SRC=$(cd "$(dirname "$0")/../.." && pwd)
DATA=$SRC/test/e2e/data/steer_geo
t0=$(date +%s.%N)

"$GEOSTEER" geoip build --v4 "$V4" --v6 "$V6" -o "$GS_TMP/geoip.mmdb" >"$GS_TMP/build.log" ||
    gs_fail "geoip build failed: $(cat "$GS_TMP/build.log")"
CFG=$GS_TMP/geosteer.json
sed "s|@GEOIP_DB@|$GS_TMP/geoip.mmdb|" "$DATA/geosteer.json" >"$CFG"
"$GEOSTEERD" --check -c "$CFG" >/dev/null || gs_fail "config does not pass --check"

gs_start_geosteerd "$GS_TMP/gs" -c "$CFG"
gs_cli zone create geo.test --ns ns1.geo.test --soa-serial 1 >/dev/null
port=$(gs_free_port)
PDNS=$GS_TMP/pdns
gs_pdns_conf "$PDNS" "$GS_SOCK" "$port" # pdns defaults: packet and query caches on, 20 s
pu() { gs_pdnsutil "$PDNS" "$@" 2>&1; }
pu add-record geo.test www LUA "A \"steer('geo')\"" >/dev/null
pu add-record geo.test www LUA "AAAA \"steer('geo')\"" >/dev/null
pu add-record geo.test static A 60 192.0.2.200 >/dev/null # control: a cacheable answer
gs_start_pdns "$PDNS" "$port"

seed=${GS_SEED:-$RANDOM}
echo "sampling with GS_SEED=$seed"
cat >"$GS_TMP/steer_geo.py" <<'PY'
import bisect, json, random, re, socket, sys, time
from concurrent.futures import ThreadPoolExecutor
from kdig_batch import kdig_blocks  # test/e2e, on PYTHONPATH

cfg_path, v4_path, v6_path, tsv, seed, port = sys.argv[1:7]
rnd = random.Random(int(seed))
QNAME = "www.geo.test"
CAP = {4: 24, 6: 56}
BITS = {4: 32, 6: 128}

# --- the policy, applied here: most specific wins (country > continent) ----
cfg = json.load(open(cfg_path))
pol = cfg["policies"]["geo"]
by_country, by_continent = {}, {}
for r in pol["rules"]:
    for key, table in (("country", by_country), ("continent", by_continent)):
        if key in r:
            for v in (r[key] if isinstance(r[key], list) else [r[key]]):
                table[v] = r["pool"]
DEFAULT = pol["default"]
answers = {}  # pool -> {"A": set, "AAAA": set}
for name, p in cfg["pools"].items():
    answers[name] = {"A": set(), "AAAA": set()}
    for e in p["endpoints"]:
        answers[name]["A"] |= set(cfg["endpoints"][e]["a"])
        answers[name]["AAAA"] |= set(cfg["endpoints"][e]["aaaa"])
seen = {}
for p, t in answers.items():
    for qt in ("A", "AAAA"):
        k = frozenset(t[qt])
        assert k not in seen, "pools must have distinct answers"
        seen[k] = p

# --- the source data -----------------------------------------------------------
continent = {}
for line in open(tsv, encoding="utf-8"):
    if line.startswith("#") or not line.strip():
        continue
    f = line.rstrip("\n").split("\t")
    continent[f[0]] = f[1]

def geo_of(cc):
    """(country, continent) of a range file code, or None (no data); the
    non-country codes as geo/data/README.md documents them."""
    if cc == "UK":
        cc = "GB"
    if cc in ("EU", "AP"):
        return (None, {"EU": "EU", "AP": "AS"}[cc])
    if cc in continent:
        return (cc, continent[cc])
    return None

def pool_of_code(cc):
    g = geo_of(cc)
    if g is None:
        return DEFAULT
    if g[0] in by_country:
        return by_country[g[0]]
    return by_continent.get(g[1], DEFAULT)

def a2i(fam, s):
    return int.from_bytes(socket.inet_pton(socket.AF_INET if fam == 4 else socket.AF_INET6, s), "big")

def i2a(fam, i):
    n = 4 if fam == 4 else 16
    return socket.inet_ntop(socket.AF_INET if fam == 4 else socket.AF_INET6, i.to_bytes(n, "big"))

def load(path, fam):
    rs = []
    for line in open(path):
        if line.startswith("#") or not line.strip():
            continue
        lo, hi, cc = line.strip().split(",")
        lo, hi = (int(lo), int(hi)) if fam == 4 else (a2i(6, lo), a2i(6, hi))
        rs.append((lo, hi, cc))
    rs.sort()
    for a, b in zip(rs, rs[1:]):
        if b[0] <= a[1]:
            sys.exit(f"FAIL: overlapping source ranges {a} {b}: the expectations are undefined")
    # Every address's pool as disjoint intervals covering the whole space,
    # gaps (no data) in the default pool, equal neighbours merged.
    iv, nxt = [], 0
    def add(lo, hi, p):
        if iv and iv[-1][2] == p and iv[-1][1] + 1 == lo:
            iv[-1] = (iv[-1][0], hi, p)
        else:
            iv.append((lo, hi, p))
    for lo, hi, cc in rs:
        if lo > nxt:
            add(nxt, lo - 1, DEFAULT)
        add(lo, hi, pool_of_code(cc))
        nxt = hi + 1
    if nxt < 2 ** BITS[fam]:
        add(nxt, 2 ** BITS[fam] - 1, DEFAULT)
    return rs, iv, [x[0] for x in iv]

DATA = {4: load(v4_path, 4), 6: load(v6_path, 6)}

def interval(fam, a):
    _, iv, starts = DATA[fam]
    return iv[bisect.bisect_right(starts, a) - 1]

def pool_at(fam, a):
    return interval(fam, a)[2]

def block(fam, a, plen):
    size = 1 << (BITS[fam] - plen)
    lo = a & ~(size - 1)
    return lo, lo + size - 1

def uniform_len(fam, a):
    """Shortest L such that the /L holding `a` lies in one pool interval."""
    s, e, _ = interval(fam, a)
    for plen in range(BITS[fam] + 1):
        lo, hi = block(fam, a, plen)
        if s <= lo and hi <= e:
            return plen

def expect(fam, a):
    return pool_at(fam, a), min(CAP[fam], uniform_len(fam, a))

def fit_len(fam, a, lo, hi, want):
    """The ECS prefix length for a subnet at `a`: `want`, or longer until the
    whole subnet lies inside [lo, hi]."""
    plen = want
    while True:
        b = block(fam, a, plen)
        if lo <= b[0] and b[1] <= hi:
            return plen
        plen += 1

# --- the clients -----------------------------------------------------------------
# A query: (family of the client, ECS network int, ECS prefix length, qtype,
# label). The expected pool and scope follow from the network address alone.
def subnet_in(fam, lo, hi):
    a = rnd.randint(lo, hi)
    want = rnd.choice([16, 20, 24, 24, 24, 28, 32]) if fam == 4 else rnd.choice([32, 40, 48, 48, 56, 64])
    plen = fit_len(fam, a, lo, hi, want)
    return block(fam, a, plen)[0], plen

def qtype_for(fam):
    # mostly the client's own family, sometimes the other record type
    if rnd.random() < 0.8:
        return "A" if fam == 4 else "AAAA"
    return "AAAA" if fam == 4 else "A"

main = []
for fam, n_uniform, n_by_country in ((4, 150, 110), (6, 70, 50)):
    rs = DATA[fam][0]
    mapped = [r for r in rs if geo_of(r[2]) is not None]
    by_cc, by_pool = {}, {}
    for r in mapped:
        by_cc.setdefault(r[2], []).append(r)
        by_pool.setdefault(pool_of_code(r[2]), []).append(r)
    picks = rnd.sample(mapped, n_uniform)                     # as the data is spread
    ccs = sorted(by_cc)
    picks += [rnd.choice(by_cc[rnd.choice(ccs)]) for _ in range(n_by_country)]  # many countries
    for p in sorted(by_pool):                                  # every pool
        picks += [rnd.choice(by_pool[p]) for _ in range(3)]
    for pseudo in ("EU", "AP", "UK"):                          # the documented non-country codes
        if pseudo in by_cc:
            picks += [rnd.choice(by_cc[pseudo]) for _ in range(2)]
    nodata = [r for r in rs if geo_of(r[2]) is None]          # ??, ZZ, ...: default
    picks += rnd.sample(nodata, min(8, len(nodata)))
    for lo, hi, cc in picks:
        net, plen = subnet_in(fam, lo, hi)
        main.append((fam, net, plen, qtype_for(fam), cc))
rnd.shuffle(main)

def kdig_subnet(fam, net, plen):
    return f"{i2a(fam, net)}/{plen}"

def ecs_arg(q):
    fam, net, plen = q[:3]
    return None if net is None else kdig_subnet(fam, net, plen)

def parse(q, t):
    m = re.search(r"status: (\w+)", t)
    recs = frozenset(l.split()[-1] for l in t.splitlines()
                     if re.match(r"^\S+\s+\d+\s+IN\s+%s\s" % q[3], l))
    e = re.search(r"CLIENT-SUBNET: (\S+)/(\d+)/(\d+)", t)
    status = m.group(1) if m else "no reply"
    if e and ecs_arg(q) and q[2] and f"{e.group(1)}/{e.group(2)}" != ecs_arg(q):
        status = f"ECS source {e.group(1)}/{e.group(2)} echoed for {ecs_arg(q)}"
    return (status, recs, int(e.group(3)) if e else None, t)

def run_many(qs):
    """One kdig for several queries (each with its own +subnet): spawning
    kdig dominates the cost. Replies are cut at each query's last line."""
    args = ["kdig", "@127.0.0.1", "-p", port, "+timeout=3", "+retry=2", "+ignore"]
    for q in qs:
        args += [QNAME, q[3]] + (["+subnet=" + ecs_arg(q)] if ecs_arg(q) else [])
    blocks, t = kdig_blocks(args, len(qs))
    if blocks is None:
        return [("unparsable kdig output", frozenset(), None, t)] * len(qs)
    return [parse(q, b) for q, b in zip(qs, blocks)]

def run(q):
    return run_many([q])[0]

pool_ex = ThreadPoolExecutor(max_workers=4)
failures, nq = [], 0
stats = {"pools": {}, "countries": set(), "capped_mixed": 0, "capped_mixed_differs": 0,
         "scopes": {4: {}, 6: {}}}

def check(q, res, want_pool, want_scope, what):
    global nq
    nq += 1
    status, recs, scope, text = res
    fam, net, plen, qtype, label = q
    got_pool = seen.get(recs, "?")
    exp_recs = frozenset(answers[want_pool][qtype])
    if status != "NOERROR" or recs != exp_recs or scope != want_scope:
        failures.append(f"{what}: +subnet={kdig_subnet(fam, net, plen) if fam else net} {qtype} "
                        f"(source {label}): expected pool {want_pool} {sorted(exp_recs)} scope "
                        f"{want_scope}, got {status} pool {got_pool} {sorted(recs)} scope {scope}")
        if len(failures) <= 3:
            failures.append("   kdig output:\n" + "\n".join("   " + l for l in text.splitlines()))
        return False
    return True

def batch(qs, n=20):
    chunks = [qs[i:i + n] for i in range(0, len(qs), n)]
    return list(zip(qs, [r for rs in pool_ex.map(run_many, chunks) for r in rs]))

t_start = time.time()
# --- phase 1: the sampled subnets ---------------------------------------------
results = batch(main)
prop = []
for q, res in results:
    fam, net, plen, qtype, cc = q
    want_pool, want_scope = expect(fam, net)
    stats["pools"][want_pool] = stats["pools"].get(want_pool, 0) + 1
    stats["countries"].add(cc)
    stats["scopes"][fam][want_scope] = stats["scopes"][fam].get(want_scope, 0) + 1
    if not check(q, res, want_pool, want_scope, "subnet"):
        continue
    # --- property: other addresses inside the returned scope ---------------
    s = res[2]
    lo, hi = block(fam, net, s)
    mixed = uniform_len(fam, net) > s
    if mixed:
        stats["capped_mixed"] += 1
    for _ in range(rnd.choice([2, 3])):
        a = rnd.randint(lo, hi)
        if rnd.random() < 0.7:
            sub = (fam, a, BITS[fam], qtype, cc + " in scope")       # a single address
        else:
            l2 = rnd.randint(s, BITS[fam])                           # a longer prefix
            sub = (fam, block(fam, a, l2)[0], l2, qtype, cc + " in scope")
        prop.append((sub, want_pool, want_scope, mixed))

pres = batch([p[0] for p in prop])
for (sub, want_pool, want_scope, mixed), (_, res) in zip(prop, pres):
    if not mixed:
        # The scope promises: the same answer for everyone in it. The source
        # data says so too (the /S is one pool interval); geosteerd must agree.
        check(sub, res, want_pool, want_scope, "same answer inside the returned scope")
    else:
        # Capped: the data changes inside the /cap; each address still gets
        # the pool of its own range, with the capped scope.
        wp, ws = expect(sub[0], sub[1])
        if wp != want_pool:
            stats["capped_mixed_differs"] += 1
        check(sub, res, wp, ws, "address inside a capped (mixed) scope")

# --- boundaries: neighbouring /32s (/128s) in different pools ------------------
edges = []
for fam in (4, 6):
    iv = DATA[fam][1]
    for i in rnd.sample(range(1, len(iv)), 60 if fam == 4 else 40):
        b = iv[i][0]
        for a in (b - 1, b):
            edges.append((fam, a, BITS[fam], rnd.choice(["A", "AAAA"]), "boundary"))
        # and a prefix holding both sides: decided on its network address
        l2 = rnd.randint(CAP[fam] - 4, BITS[fam] - 1)
        while block(fam, b, l2)[0] == b:
            l2 -= 1
        edges.append((fam, block(fam, b, l2)[0], l2, rnd.choice(["A", "AAAA"]),
                      "prefix across a boundary"))
eres = batch(edges)
for q, res in eres:
    check(q, res, *expect(q[0], q[1]), what="pool boundary")
t_phase = time.time() - t_start

# --- cache isolation: everything again, a new random order, caches warm -------
again = [q for q, _ in results] + [p[0] for p in prop] + edges
rnd.shuffle(again)
for q, res in batch(again):
    check(q, res, *expect(q[0], q[1]), what="replayed within the cache lifetime")
t_all = time.time() - t_start

# --- ECS source /0 and no ECS: decided on the resolver (127.0.0.1) ------------
lo_a = a2i(4, "127.0.0.1")
dp, ds = expect(4, lo_a)
assert dp == DEFAULT
for _ in range(2):
    check((4, 0, 0, "A", "ECS /0"), run((4, 0, 0, "A", "")), DEFAULT, ds, "ECS source /0")
    # decided on the IPv4 resolver: a prefix length of that address means
    # nothing in the IPv6 option, so the scope is IPv6's cap (never 0)
    check((6, 0, 0, "AAAA", "ECS ::/0"), run((6, 0, 0, "AAAA", "")), DEFAULT, 56, "ECS source ::/0")
    status, recs, scope, _ = run((None, None, None, "A", ""))
    nq += 1
    if status != "NOERROR" or recs != frozenset(answers[DEFAULT]["A"]) or scope is not None:
        failures.append(f"no ECS: expected pool {DEFAULT} without ECS in the reply, got {status} "
                        f"{sorted(recs)} scope {scope}")

print(f"{nq} queries: {len(main)} sampled subnets ({sum(1 for q in main if q[0] == 4)} IPv4, "
      f"{sum(1 for q in main if q[0] == 6)} IPv6) from {len(stats['countries'])} source codes, "
      f"{len(prop)} inside returned scopes, {len(edges)} at pool boundaries, {len(again)} replayed, "
      f"6 without ECS / with source /0")
print("expected pools of the sampled subnets: " +
      " ".join(f"{p}={n}" for p, n in sorted(stats["pools"].items())))
for fam in (4, 6):
    print(f"IPv{fam} scopes: " + " ".join(f"/{s}={n}" for s, n in sorted(stats["scopes"][fam].items())))
print(f"capped scopes over a mixed block: {stats['capped_mixed']} "
      f"({stats['capped_mixed_differs']} sampled addresses inside them in another pool)")
print(f"ECS source /0 and no ECS: pool {DEFAULT}, scope /{ds} (127.0.0.1)")
print(f"first pass {t_phase:.1f} s; replay done {t_all:.1f} s after the first query "
      f"(pdns cache TTL 20 s)")
for f in failures[:60]:
    print(f if f.startswith("   ") else "FAIL: " + f)
if len(failures) > 60:
    print(f"FAIL: ... and {len(failures) - 60} more")
print(f"{len([f for f in failures if not f.startswith('   ')])} failures")
sys.exit(1 if failures else 0)
PY
PYTHONPATH="$SRC/test/e2e" python3 "$GS_TMP/steer_geo.py" "$CFG" "$V4" "$V6" "$SRC/geo/data/countries.tsv" "$seed" "$port" ||
    gs_fail "steering answers disagree with the source data (GS_SEED=$seed)"
echo "ok: answers, scopes, scope property and cache isolation"

# pdns's caches (on, defaults) and ECS: pdns caches nothing that carries a
# scope, so a steered answer is never served from them and the replay above
# went to geosteerd every time; a static (scope 0) answer is cached. Show
# both, so that the isolation result is read for what it is.
counter() { # counter NAME: one of pdns's statistics
    gs_pdns_control "$PDNS" show "$1" | tr -dc 0-9
}
pc0=$(counter packetcache-hit)
qc0=$(counter query-cache-hit)
for _ in 1 2 3; do
    gs_expect_eq "static name next to the steered one" "192.0.2.200" \
        "$(kdig @127.0.0.1 -p "$port" +short +subnet=203.0.113.0/24 static.geo.test A)"
done
pc1=$(counter packetcache-hit)
echo "pdns packet cache hits: $pc0 during the steering run, $((pc1 - pc0)) for 3 queries of a static name;" \
    "query cache hits: $qc0 (pdns's own SOA lookups)"
[ "$pc1" -gt "$pc0" ] || gs_fail "pdns's packet cache is not in use: the cache-isolation check proved nothing"
echo "ok: pdns's packet cache is on and caches the static answer"
python3 -c "import sys; print(f'ok: run took {$(date +%s.%N) - $t0:.1f} s')"
