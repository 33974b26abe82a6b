"""Client side of t_server.sh: drives a running geosteerd over its socket."""
import json
import socket
import sys
import threading
import time

SOCK = sys.argv[1]
LOOKUP = ('{"method": "lookup", "parameters": {"local": "127.0.0.1", "qname": "%s", '
          '"qtype": "ANY", "real-remote": "198.51.100.0/24", "remote": "127.0.0.1", '
          '"zone-id": 1}}\n')


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def ok(msg):
    print("ok: " + msg)


class Conn:
    def __init__(self):
        self.s = socket.socket(socket.AF_UNIX)
        self.s.settimeout(10)
        self.s.connect(SOCK)
        self.buf = b""

    def call(self, line):
        self.s.sendall(line.encode() if isinstance(line, str) else line)
        return self.reply()

    def reply(self):
        while b"\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def close(self):
        self.s.close()


def req(method, **params):
    return json.dumps({"method": method, "parameters": params}) + "\n"


# Fill big.test with 30,000 records in one transaction.
c = Conn()
assert c.call(req("startTransaction", domain="big.test.", domain_id=1, trxid=1))["result"]
assert c.call(req("feedRecord", trxid=1, rr={"qname": "big.test.", "qtype": "SOA",
              "content": "ns1.big.test hostmaster.big.test 2 1 2 3 4", "ttl": 60}))["result"]
batch = []
for i in range(30000):
    batch.append(req("feedRecord", trxid=1, rr={"qname": "n%d.big.test." % i, "qtype": "TXT",
                                                 "content": '"%s"' % ("x" * 100), "ttl": 60}))
# pipelined lines are answered in order, one reply each (send from a thread:
# the replies fill the socket while we are still sending)
sender = threading.Thread(target=c.s.sendall, args=("".join(batch).encode(),))
sender.start()
for i in range(30000):
    if c.reply() != {"result": True}:
        fail("feedRecord %d" % i)
sender.join()
assert c.call(req("commitTransaction", trxid=1))["result"] is True
ok("30,000 pipelined feedRecords answered in order and committed")

# 1. Many concurrent connections, each doing lookups.
errors = []


def worker(n):
    try:
        w = Conn()
        for i in range(200):
            r = w.call(LOOKUP % ("N%d.BIG.test." % (n * 200 + i)))
            if not r["result"] or r["result"][0]["content"] != '"%s"' % ("x" * 100):
                errors.append("conn %d lookup %d: %r" % (n, i, r))
                return
        w.close()
    except Exception as e:  # noqa: BLE001
        errors.append("conn %d: %s" % (n, e))


threads = [threading.Thread(target=worker, args=(n,)) for n in range(100)]
for t in threads:
    t.start()
for t in threads:
    t.join()
if errors:
    fail("; ".join(errors[:5]))
ok("100 concurrent connections x 200 lookups")

# 2. A stalled reader: a list of the big zone that the client never reads
# blocks that connection's thread in write; lookups and commits elsewhere go on.
stalled = Conn()
stalled.s.sendall(req("list", zonename="big.test.", domain_id=1).encode())
time.sleep(0.3)
other = Conn()
t0 = time.monotonic()
for i in range(1000):
    r = other.call(LOOKUP % "n1.big.test.")
    if not r["result"]:
        fail("lookup during stalled list: %r" % r)
elapsed = time.monotonic() - t0
ok("1000 lookups in %.3f s while another connection's 3 MB list reply is stalled" % elapsed)
assert other.call(req("startTransaction", domain="big.test.", domain_id=-1, trxid=2))["result"]
assert other.call(req("replaceRRSet", domain_id=1, qname="during.big.test.", qtype="A", trxid=2,
                      rrset=[{"qname": "during.big.test.", "qtype": "A",
                              "content": "192.0.2.1", "ttl": 5}]))["result"]
assert other.call(req("commitTransaction", trxid=2))["result"] is True
r = other.call(LOOKUP % "during.big.test.")
if not r["result"] or r["result"][0]["content"] != "192.0.2.1":
    fail("commit during stalled list not served: %r" % r)
ok("commit applied and served while the stalled list pins the old snapshot")
# The stalled client now reads its reply: the complete, old zone.
stalled.s.settimeout(30)
lst = stalled.reply()
if len(lst["result"]) != 30001:
    fail("stalled list returned %d records" % len(lst["result"]))
ok("stalled list completes with the snapshot it started on (30,001 records)")
stalled.close()

# 3. An over-long line: error reply, connection closed, others unaffected.
big = Conn()
big.s.sendall(b'{"method":"lookup","parameters":{"qname":"' + b"a" * (1024 * 1024 + 10))
r = big.reply()
if r is None or r["result"] is not False or "longer than" not in r["log"][0]:
    fail("over-long line reply: %r" % r)
if big.reply() is not None:
    fail("connection not closed after an over-long line")
ok("over-long line refused with a reason and the connection closed")
r = other.call(LOOKUP % "n2.big.test.")
if not r["result"]:
    fail("other connection disturbed by the over-long line")
ok("other connections unaffected")

# 4. Malformed input on one connection never disturbs another.
bad = Conn()
for junk in [b"\x00\xff\xfe garbage\n", b"{\"method\":\n", b"[]\n", b"{}\n", b"\n"]:
    r = bad.call(junk)
    if r is None or r["result"] is not False:
        fail("malformed %r -> %r" % (junk, r))
if other.call(LOOKUP % "n3.big.test.")["result"] is False:
    fail("lookup after malformed input elsewhere")
ok("malformed lines get false with a reason; others unaffected")

# 5. Idle connections are never closed by geosteerd.
idle = Conn()
idle.call(req("initialize"))
time.sleep(3)
if idle.call(LOOKUP % "n4.big.test.")["result"] is False:
    fail("idle connection")
ok("connection idle for 3 s still served")

# 6. EOF in the middle of a transaction aborts it.
t = Conn()
assert t.call(req("startTransaction", domain="big.test.", domain_id=-1, trxid=3))["result"]
assert t.call(req("replaceRRSet", domain_id=1, qname="n5.big.test.", qtype="TXT", trxid=3,
                  rrset=[]))["result"]
t.close()
time.sleep(0.2)
if other.call(LOOKUP % "n5.big.test.")["result"] is False:
    fail("EOF with an open transaction applied it")
ok("EOF with an open transaction aborts it")
