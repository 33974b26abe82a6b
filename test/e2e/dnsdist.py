#!/usr/bin/env python3
"""The leak test of test/e2e/t_dnsdist.sh: every answer through dnsdist must
equal the answer of the same query sent directly to a node, and the ECS
answers must match the pool computed here from mmdblookup and the policy's
rules.

Clients: ECS subnets of many countries (IPv4 and IPv6, sent from
127.0.0.1), two resolvers without ECS (127.0.2.2 and 127.0.3.3, which the
policy's CIDR rules send to pools gb and jpkr), 127.0.0.1 without ECS, and
a static name. Each round shuffles all queries into small batches (one kdig
each, one source address per batch) and runs 4 batches at a time, so
clients interleave; the rounds follow each other within the answers' TTL,
so later rounds are answered from dnsdist's cache.

Exit 0 when nothing was wrong, 1 otherwise; the last line is
"<n> wrong answers of <m>".
"""
import argparse
import json
import random
import re
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

from kdig_batch import kdig_blocks

ap = argparse.ArgumentParser()
ap.add_argument("--mode", choices=["clean", "leaky"], default="clean")
ap.add_argument("--rounds", type=int, default=4)
ap.add_argument("--seed", type=int, default=1)
ap.add_argument("--dnsdist", required=True, help="dnsdist's port on 127.0.0.1")
ap.add_argument("--nodes", required=True, help="the nodes' ports, comma-separated")
ap.add_argument("--mmdb", required=True)
ap.add_argument("--config", required=True)
ap.add_argument("--v4", required=True)
ap.add_argument("--v6", required=True)
args = ap.parse_args()
rnd = random.Random(args.seed)
nodes = args.nodes.split(",")
QNAME = "www.geo.test"
RESOLVERS = {"127.0.2.2": "gb", "127.0.3.3": "jpkr"}

# --- the policy, applied here ------------------------------------------------
cfg = json.load(open(args.config))
pol = cfg["policies"]["geo"]
rules = {"country": {}, "continent": {}}
for r in pol["rules"]:
    for key in ("country", "continent"):
        if key in r:
            for v in (r[key] if isinstance(r[key], list) else [r[key]]):
                rules[key][v] = r["pool"]
answers = {}
for name, p in cfg["pools"].items():
    answers[name] = {"A": set(), "AAAA": set()}
    for e in p["endpoints"]:
        answers[name]["A"] |= set(cfg["endpoints"][e]["a"])
        answers[name]["AAAA"] |= set(cfg["endpoints"][e]["aaaa"])


def mmdb_pool(addr):
    """The pool of addr from mmdblookup's record (country beats continent)."""
    t = subprocess.run(["mmdblookup", "--file", args.mmdb, "--ip", addr],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True).stdout
    cc = re.search(r'"iso_code":\s*"(\w+)"', t)
    co = re.search(r'"continent":\s*\{\s*"code":\s*"(\w+)"', t)
    if cc and cc.group(1) in rules["country"]:
        return rules["country"][cc.group(1)]
    if co and co.group(1) in rules["continent"]:
        return rules["continent"][co.group(1)]
    return pol["default"]


# --- the clients ---------------------------------------------------------------
def ranges(path, fam):
    out = []
    for line in open(path):
        if line.startswith("#") or not line.strip():
            continue
        lo, hi, cc = line.strip().split(",")
        if fam == 6:
            lo = int.from_bytes(socket.inet_pton(socket.AF_INET6, lo), "big")
            hi = int.from_bytes(socket.inet_pton(socket.AF_INET6, hi), "big")
        out.append((int(lo), int(hi), cc))
    return out


def subnets(fam, n, lens):
    """n subnets of distinct countries where possible, each a prefix of a
    random address of a random range of that country."""
    by_cc = {}
    for r in ranges(args.v4 if fam == 4 else args.v6, fam):
        if r[2] != "??":
            by_cc.setdefault(r[2], []).append(r)
    ccs = rnd.sample(sorted(by_cc), min(n, len(by_cc)))
    while len(ccs) < n:
        ccs.append(rnd.choice(sorted(by_cc)))
    bits = 32 if fam == 4 else 128
    out = []
    for cc in ccs:
        lo, hi, _ = rnd.choice(by_cc[cc])
        a = rnd.randint(lo, hi)
        plen = rnd.choice(lens)
        net = a & ~((1 << (bits - plen)) - 1)
        af = socket.AF_INET if fam == 4 else socket.AF_INET6
        out.append((socket.inet_ntop(af, net.to_bytes(bits // 8, "big")), plen))
    return out


# a query: (source address, qname, qtype, ECS "net/len" or None, expected
# answer set or None)
queries = []
n_ecs = 0
for fam, n, lens in ((4, 60, [16, 20, 24, 24, 24, 28, 32]), (6, 30, [40, 48, 48, 56, 64])):
    for net, plen in subnets(fam, n, lens):
        pool = mmdb_pool(net)
        n_ecs += 1
        for qt in ("A", "AAAA"):
            queries.append(("127.0.0.1", QNAME, qt, f"{net}/{plen}", frozenset(answers[pool][qt])))
for src, pool in RESOLVERS.items():
    for qt in ("A", "AAAA"):
        for _ in range(3):
            queries.append((src, QNAME, qt, None, frozenset(answers[pool][qt])))
for qt in ("A", "AAAA"):
    queries.append(("127.0.0.1", QNAME, qt, None, frozenset(answers[pol["default"]][qt])))
for src in ("127.0.0.1", "127.0.2.2", "127.0.3.3"):
    queries.append((src, "static.geo.test", "A", None, frozenset(["192.0.2.200"])))
    queries.append((src, "static.geo.test", "A", "198.51.100.0/24", frozenset(["192.0.2.200"])))


# --- kdig ----------------------------------------------------------------------
def parse(q, t):
    m = re.search(r"status: (\w+)", t)
    recs = frozenset(l.split()[-1] for l in t.splitlines()
                     if re.match(r"^\S+\s+\d+\s+IN\s+%s\s" % q[2], l))
    e = re.search(r"CLIENT-SUBNET: (\S+)", t)
    return (m.group(1) if m else "no reply", recs, e.group(1) if e else None)


def ask(port, qs):
    """One kdig from the batch's source address for all of qs."""
    argv = ["kdig", "@127.0.0.1", "-p", port, "-b", qs[0][0], "+timeout=3", "+retry=2", "+ignore"]
    for q in qs:
        argv += [q[1], q[2]] + (["+subnet=" + q[3]] if q[3] else [])
    blocks, t = kdig_blocks(argv, len(qs))
    if blocks is None:
        return [("unparsable kdig output: " + t[-300:], frozenset(), None)] * len(qs)
    return [parse(q, b) for q, b in zip(qs, blocks)]


wrong, total = [], 0


def run_batch(i_qs):
    i, qs = i_qs
    via = ask(args.dnsdist, qs)
    direct = ask(nodes[i % len(nodes)], qs)
    return qs, via, direct, nodes[i % len(nodes)]


def check(q, via, direct, node):
    global total
    total += 1
    src, qname, qt, ecs, want = q
    what = f"{qname} {qt} from {src}" + (f" ECS {ecs}" if ecs else " without ECS")
    if via != direct:
        wrong.append(f"{what}: through dnsdist {via[0]} {sorted(via[1])} ECS {via[2]}; "
                     f"node :{node} {direct[0]} {sorted(direct[1])} ECS {direct[2]}")
    elif via[0] != "NOERROR" or via[1] != want:
        wrong.append(f"{what}: {via[0]} {sorted(via[1])}, expected {sorted(want)} (both agree)")
    elif ecs is None and via[2] is not None:
        wrong.append(f"{what}: the reply carries ECS {via[2]}")
    elif ecs is not None and (via[2] is None or not via[2].startswith(ecs + "/")):
        wrong.append(f"{what}: the reply's ECS is {via[2]}")


ex = ThreadPoolExecutor(max_workers=4)
for rd in range(args.rounds):
    order = queries[:]
    rnd.shuffle(order)
    batches, i = [], 0
    while i < len(order):
        # up to 6 consecutive queries of one source address
        j = i + 1
        while j < len(order) and j - i < 6 and order[j][0] == order[i][0]:
            j += 1
        batches.append(order[i:j])
        i = j
    for qs, via, direct, node in ex.map(run_batch, enumerate(batches)):
        for q, v, d in zip(qs, via, direct):
            check(q, v, d, node)

print(f"{total} queries over {args.rounds} rounds: {n_ecs} ECS subnets (A and AAAA each), "
      f"2 resolvers without ECS, 127.0.0.1 without ECS, a static name; {len(nodes)} node(s) as reference")
if args.mode == "clean":
    for w in wrong[:40]:
        print("WRONG: " + w)
else:
    for w in wrong[:3]:
        print("e.g. " + w)
print(f"{len(wrong)} wrong answers of {total}")
sys.exit(1 if wrong else 0)
