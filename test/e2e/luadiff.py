"""Query and compare helpers for t_lua_diff.sh: two pdns_server instances
(pdns's own LUA records, and geosteer) asked the same questions with real
kdig +subnet, in batches (one kdig process runs many queries, each with its
own ECS option).

  luadiff.py geo DIR          writes DIR/geo.txt, DIR/asn.txt (gs_mkmmdb
                              input) and DIR/clients.txt (the ECS corpus)
  luadiff.py phase NAME ARGS  runs one comparison phase (see main)

Every check prints "ok: ..." or raises; the exit status is 0 only when all
of them held."""

import ipaddress
import json
import math
import random
import re
import subprocess
import sys

ZONE = "d.test."

# ---- fixture data --------------------------------------------------------------

COUNTRIES = [  # (country, continent, regions)
    ("DE", "EU", ["BY", "BE", "HH"]),
    ("FR", "EU", ["IDF"]),
    ("US", "NA", ["CA", "NY", "TX"]),
    ("JP", "AS", []),
    ("BR", "SA", ["SP"]),
    ("AU", "OC", []),
    ("ZA", "AF", []),
    ("GB", "EU", []),
]


def write_geo(d):
    """A synthetic GeoIP map of 10.0.0.0/8 and 2001:db8::/32 (documentation
    and private space only): one country per /16 (/40), a region for some
    /20s (/44s) inside them, holes without data, and a separate ASN map with
    its own boundaries (/17, /41), so that conditions cut the space in
    different places."""
    rnd = random.Random(5)
    geo, asn = [], []
    for i in range(64):
        if i % 9 == 8:
            continue  # no data: country() and continent() are false there
        cc, cont, regions = COUNTRIES[rnd.randrange(len(COUNTRIES))]
        geo.append("10.%d.0.0/16 country=%s continent=%s" % (i, cc, cont))
        geo.append("2001:db8:%x::/40 country=%s continent=%s" % (i << 8, cc, cont))
        for j in range(0, 16, 5):
            if regions and rnd.random() < 0.6:
                r = regions[rnd.randrange(len(regions))]
                geo.append("10.%d.%d.0/20 country=%s continent=%s region=%s" % (i, j << 4, cc, cont, r))
                geo.append("2001:db8:%x::/44 country=%s continent=%s region=%s" % ((i << 8) | (j << 4), cc, cont, r))
        for h in range(2):
            if rnd.random() < 0.7:
                a = 64500 + rnd.randrange(5)
                asn.append("10.%d.%d.0/17 asn=%d" % (i, h << 7, a))
                asn.append("2001:db8:%x::/41 asn=%d" % ((i << 8) | (h << 7), a))
    open(d + "/geo.txt", "w").write("\n".join(geo) + "\n")
    open(d + "/asn.txt", "w").write("\n".join(asn) + "\n")
    # The ECS corpus: /24 and /56 sources over the whole map (and beyond it),
    # a few wider ones, and /32 sources for the hashed difference.
    clients = []
    for _ in range(260):
        clients.append("10.%d.%d.0/24" % (rnd.randrange(70), rnd.randrange(256)))
    for _ in range(20):
        clients.append("10.%d.%d.0/20" % (rnd.randrange(64), rnd.randrange(16) << 4))
    for _ in range(10):
        clients.append("172.%d.%d.0/24" % (16 + rnd.randrange(16), rnd.randrange(256)))
    for _ in range(180):
        clients.append("2001:db8:%x:%x00::/56" % (rnd.randrange(70 << 8), rnd.randrange(256)))
    for _ in range(10):
        clients.append("2001:db9:%x::/48" % rnd.randrange(1 << 16))
    open(d + "/clients.txt", "w").write("\n".join(clients) + "\n")


# ---- querying -------------------------------------------------------------------

ANS_RE = re.compile(r"^(\S+)\s+\d+\s+IN\s+(\S+)\s+(.*)$")


def query(port, qs, batch=150):
    """Answers to [(name, qtype, subnet)]: a list of dicts with rcode,
    records (sorted "TYPE rdata" strings of the answer section) and scope."""
    out = []
    for i in range(0, len(qs), batch):
        chunk = qs[i:i + batch]
        args = ["kdig", "@127.0.0.1", "-p", str(port), "+timeout=3", "+retry=2",
                "+noall", "+header", "+opt", "+question", "+answer"]
        for name, qt, sub in chunk:
            args += [name, qt, "+subnet=" + sub]
        text = subprocess.run(args, capture_output=True, text=True, check=False).stdout
        res = []
        for line in text.splitlines():
            if "->>HEADER<<-" in line:
                m = re.search(r"status: (\w+)", line)
                res.append({"rcode": m.group(1) if m else "?", "records": [], "scope": None})
            elif line.startswith(";; CLIENT-SUBNET:") and res:
                res[-1]["scope"] = int(line.rsplit("/", 1)[1])
            elif line and not line.startswith(";") and res:
                m = ANS_RE.match(line)
                if m:
                    res[-1]["records"].append(m.group(2) + " " + m.group(3).strip())
        if len(res) != len(chunk):
            raise SystemExit("FAIL: %d answers for %d queries from port %s:\n%s"
                             % (len(res), len(chunk), port, text[-2000:]))
        for r in res:
            r["records"].sort()
        out += res
    return out


def show(r):
    return "%s %s scope %s" % (r["rcode"], r["records"], r["scope"])


def net_of(sub):
    return ipaddress.ip_network(sub, strict=False)


def same_24(sub):
    """The /24 (/56) an ECS source lies in, as an ECS source."""
    n = net_of(sub)
    return str(n.supernet(new_prefix=24 if n.version == 4 else 56))


def inside(sub, scope, rnd):
    """A /24 (/56) source inside the first `scope` bits of `sub` other than
    `sub` itself where the scope allows: the client a scope claims to cover."""
    n = net_of(sub)
    full = 32 if n.version == 4 else 128
    base = int(n.network_address) >> (full - scope) << (full - scope) if scope else 0
    span = full - scope
    host = rnd.getrandbits(span) if span else 0
    addr = ipaddress.ip_address(base | host) if n.version == 4 else ipaddress.IPv6Address(base | host)
    return str(ipaddress.ip_network("%s/%d" % (addr, 24 if n.version == 4 else 56), strict=False))


class Checker:
    def __init__(self, lua_port, gs_port):
        self.lua, self.gs = lua_port, gs_port
        self.count = 0

    def fail(self, what, detail):
        raise SystemExit("FAIL: %s\n%s" % (what, detail))

    def ok(self, what):
        print("ok: " + what)
        sys.stdout.flush()

    def identical(self, names, clients, depends):
        """Every (name, client): the same rcode and records from both
        servers. pdns gives every LUA answer the source prefix as scope
        (documented difference); geosteer gives 0 where the answer does not
        depend on the client (names not in `depends`), and otherwise a scope
        whose every client pdns itself answers the same way (checked on a
        sample: the scope is never too wide)."""
        qs = [(n + "." + ZONE, t, c) for n, t in names for c in clients]
        a = query(self.lua, qs)
        b = query(self.gs, qs)
        rnd = random.Random(7)
        probes = []
        for q, x, y in zip(qs, a, b):
            if x["rcode"] != y["rcode"] or x["records"] != y["records"]:
                self.fail("answers differ for %s %s +subnet=%s" % q,
                          "pdns LUA: %s\ngeosteer: %s" % (show(x), show(y)))
            if not x["records"]:
                self.fail("empty answer for %s %s +subnet=%s" % q, show(x))
            src = net_of(q[2]).prefixlen
            if x["scope"] != src:
                self.fail("pdns's LUA scope is not the source for %s %s +subnet=%s" % q, show(x))
            name = q[0].split(".")[0]
            cap = 24 if net_of(q[2]).version == 4 else 56
            if name not in depends:
                if y["scope"] != 0:
                    self.fail("geosteer scope not 0 for client-independent %s %s +subnet=%s" % q, show(y))
            elif not 0 <= y["scope"] <= cap:
                self.fail("geosteer scope out of range for %s %s +subnet=%s" % q, show(y))
            elif y["scope"] < src and len(probes) < 400 and rnd.random() < 0.25:
                probes.append((q, y))
        self.ok("%d queries (%d names x %d ECS sources): identical answers from pdns LUA and geosteer"
                % (len(qs), len(names), len(clients)))
        # Scope soundness, judged by pdns itself: another client inside
        # geosteer's scope gets the same answer from pdns.
        pq = [(q[0], q[1], inside(q[2], y["scope"], rnd)) for q, y in probes]
        pa = query(self.lua, pq)
        for (q, y), p, r in zip(probes, pq, pa):
            if r["records"] != y["records"]:
                self.fail("geosteer's scope /%d for %s %s +subnet=%s is too wide" % ((y["scope"],) + q),
                          "pdns for %s: %s\ngeosteer: %s" % (p[2], show(r), show(y)))
        self.ok("%d clients inside geosteer's narrower scopes: pdns gives them the same answer"
                % len(pq))
        return a, b

    def proportions(self, name, qt, sub, expected, n=400):
        """`n` queries of a random construct to each server: answers only
        from `expected` (answer -> probability), each within 5 standard
        deviations of its expected count."""
        qs = [(name + "." + ZONE, qt, sub)] * n
        for label, port in (("pdns LUA", self.lua), ("geosteer", self.gs)):
            counts = {}
            for r in query(port, qs):
                key = " ".join(v.split(" ", 1)[1] for v in r["records"])
                counts[key] = counts.get(key, 0) + 1
            for k in counts:
                if k not in expected:
                    self.fail("%s: %s gave %r, not one of %s" % (label, name, k, sorted(expected)),
                              json.dumps(counts))
            for k, p in expected.items():
                c = counts.get(k, 0)
                sd = math.sqrt(n * p * (1 - p)) or 1
                if abs(c - n * p) > 5 * sd:
                    self.fail("%s: %s answered %r %d times of %d, expected %.0f" % (label, name, k, c, n, n * p),
                              json.dumps(counts))
            self.ok("%s %s: %s" % (label, name, " ".join("%s=%d" % kv for kv in sorted(counts.items()))))


def main():
    if sys.argv[1] == "geo":
        write_geo(sys.argv[2])
        return
    lua_port, gs_port, phase, d = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
    ck = Checker(lua_port, gs_port)
    clients = open(d + "/clients.txt").read().split()
    A = "A"
    if phase == "static":
        deterministic = [("geo", A), ("geo6", "AAAA"), ("reg", A), ("asn", A), ("nm", A), ("mix", A),
                         ("view", A), ("allv", A), ("ph", A), ("cn", A), ("txt", "TXT"),
                         ("lit", A)]
        depends = {"geo", "geo6", "reg", "asn", "nm", "mix", "view", "ph", "cn", "txt"}
        ck.identical(deterministic, clients, depends)
        # Documented difference: pdns 4.7 walks pickwhashed's list in its
        # C++ hash map's order, the reverse of the written one for three
        # entries; geosteer walks it as written. So geosteer's pw is pdns's
        # pwrev and the other way round, for every client.
        sub = clients[:200]
        qs = lambda n: [(n + "." + ZONE, A, c) for c in sub]
        pw_l, pwr_l = query(lua_port, qs("pw")), query(lua_port, qs("pwrev"))
        pw_g, pwr_g = query(gs_port, qs("pw")), query(gs_port, qs("pwrev"))
        same = sum(a["records"] == b["records"] for a, b in zip(pw_l, pw_g))
        for c, x, y, u, v in zip(sub, pw_l, pwr_l, pw_g, pwr_g):
            if u["records"] != y["records"] or v["records"] != x["records"]:
                ck.fail("pickwhashed: geosteer's pw is not pdns's pwrev for " + c,
                        "pdns pw %s pwrev %s / geosteer pw %s pwrev %s" % (show(x), show(y), show(u), show(v)))
        ck.ok("pickwhashed, documented difference: geosteer(pw) = pdns(pwrev) and geosteer(pwrev) = pdns(pw)"
              " for %d clients (pw itself agreed for %d)" % (len(sub), same))
        # Documented difference: a source longer than /24 is hashed as its
        # /24 by geosteer, as the full address by pdns.
        hosts = ["10.%d.%d.%d/32" % (i, i * 7 % 256, 1 + i * 13 % 250) for i in range(60)]
        g32 = query(gs_port, [("ph." + ZONE, A, h) for h in hosts])
        l24 = query(lua_port, [("ph." + ZONE, A, same_24(h)) for h in hosts])
        l32 = query(lua_port, [("ph." + ZONE, A, h) for h in hosts])
        for h, x, y in zip(hosts, g32, l24):
            if x["records"] != y["records"] or x["scope"] != 24:
                ck.fail("pickhashed /32: geosteer is not pdns's answer for the /24 of " + h,
                        "geosteer %s / pdns(/24) %s" % (show(x), show(y)))
        differ = sum(x["records"] != y["records"] for x, y in zip(l32, l24))
        if differ == 0:
            ck.fail("pickhashed /32: pdns hashed 60 full addresses like their /24s", "")
        ck.ok("pickhashed, documented difference: /32 sources answered as their /24 with scope 24"
              " (pdns differs for %d of 60)" % differ)
        # Random constructs: the same answers in the right proportions.
        ck.proportions("rnd", A, "10.1.1.0/24", {"192.0.2.31": 1 / 3, "192.0.2.32": 1 / 3, "192.0.2.33": 1 / 3})
        ck.proportions("wr", A, "10.1.1.0/24", {"192.0.2.41": 0.25, "192.0.2.42": 0.75})
        ck.proportions("rs", A, "10.1.1.0/24", {"192.0.2.51 192.0.2.52": 1 / 3, "192.0.2.51 192.0.2.53": 1 / 3,
                                                 "192.0.2.52 192.0.2.53": 1 / 3})
        ck.proportions("vr", A, "10.40.1.0/24", {"192.0.2.61": 0.5, "192.0.2.62": 0.5})
        ck.proportions("rnd6", "AAAA", "2001:db8:100::/56", {"2001:db8:ffff::1": 0.5, "2001:db8:ffff::2": 0.5})
        return
    # Health phases: the names whose answers follow the local servers.
    health = json.loads(sys.argv[6])
    det = [(n, A) for n in health["det"]]
    ck.identical(det, clients[:120] + clients[-60:], set(health.get("depends", [])))
    for name, exp in health.get("random", {}).items():
        ck.proportions(name, A, "10.1.1.0/24", exp, n=300)


if __name__ == "__main__":
    main()
