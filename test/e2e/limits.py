"""Client side of t_limits.sh: drives a running geosteerd over its socket
and checks its resource bounds. Usage: limits.py CHECK SOCKET PID [ASAN]
(ASAN=1: memory figures are printed, not asserted; the sanitizer's own
allocator and quarantine make RSS meaningless)."""
import json
import random
import socket
import sys
import threading
import time

CHECK, SOCK, PID = sys.argv[1], sys.argv[2], int(sys.argv[3])
ASAN = len(sys.argv) > 4 and sys.argv[4] == "1"
MAX_LINE = 1024 * 1024


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def ok(msg):
    print("ok: " + msg)


def rss_kib():
    with open("/proc/%d/status" % PID) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    fail("no VmRSS for pid %d" % PID)


def expect_mem(what, grown_kib, limit_mib):
    msg = "%s: RSS grew %.1f MiB (bound %d MiB)" % (what, grown_kib / 1024.0, limit_mib)
    if ASAN:
        print("info: " + msg + " [ASan build: not asserted]")
    elif grown_kib > limit_mib * 1024:
        fail(msg)
    else:
        ok(msg)


class Peak:
    """Samples the daemon's RSS every few ms in a thread; .stop() -> peak KiB."""

    def __init__(self):
        self.peak, self.run = rss_kib(), True
        self.t = threading.Thread(target=self.loop, daemon=True)
        self.t.start()

    def loop(self):
        while self.run:
            self.peak = max(self.peak, rss_kib())
            time.sleep(0.003)

    def stop(self):
        self.run = False
        self.t.join()
        return max(self.peak, rss_kib())


class Conn:
    def __init__(self, timeout=60):
        self.s = socket.socket(socket.AF_UNIX)
        self.s.settimeout(timeout)
        self.s.connect(SOCK)
        self.buf = b""

    def send(self, data):
        self.s.sendall(data)

    def reply(self):
        """One reply line as JSON, or None at EOF."""
        while b"\n" not in self.buf:
            try:
                chunk = self.s.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def call(self, method, **params):
        self.send((json.dumps({"method": method, "parameters": params}) + "\n").encode())
        return self.reply()

    def close(self):
        self.s.close()


def padded(n):
    """A request line of exactly n bytes (no newline): initialize + padding."""
    head, tail = b'{"method":"initialize","parameters":{"pad":"', b'"}}'
    return head + b"x" * (n - len(head) - len(tail)) + tail


def send_split(c, data, cuts):
    """Sends data in pieces ending at the offsets in cuts, pausing between
    them so that the daemon reads each piece on its own."""
    last = 0
    for cut in list(cuts) + [len(data)]:
        if cut > last:
            try:
                c.send(data[last:cut])
            except (BrokenPipeError, ConnectionResetError):
                return
            time.sleep(0.05)
            last = cut


def check_lines():
    """The 1 MiB line limit is exact however the bytes arrive: a line of
    MAX_LINE bytes is answered, MAX_LINE + 1 and 1.5 MiB are refused and the
    connection closed, for every way of splitting them into reads."""
    rnd = random.Random(7)
    splits = [
        lambda n: [],
        lambda n: [1000000],
        lambda n: [MAX_LINE - 10],
        lambda n: [MAX_LINE],
        lambda n: [65536, 131072, 262144, 524288],
        lambda n: [n - 1],
        lambda n: sorted(rnd.sample(range(1, n), 5)),
        lambda n: sorted(rnd.sample(range(1, n), 5)),
        lambda n: sorted(rnd.sample(range(1, n), 20)),
        lambda n: [MAX_LINE // 2, n - 2],
    ]
    for i, split in enumerate(splits):
        for n, accepted in ((MAX_LINE, True), (MAX_LINE + 1, False), (MAX_LINE * 3 // 2, False)):
            line = padded(n) + b"\n"
            c = Conn()
            send_split(c, line, split(len(line)))
            r = c.reply()
            if accepted:
                if r != {"result": True}:
                    fail("split %d: a line of exactly %d bytes got %r" % (i, n, r))
                if c.call("initialize") != {"result": True}:
                    fail("split %d: connection unusable after a %d-byte line" % (i, n))
            else:
                if not r or r.get("result") is not False or "longer than 1048576" not in r["log"][0]:
                    fail("split %d: a line of %d bytes got %r, expected a refusal" % (i, n, r))
                if c.reply() is not None:
                    fail("split %d: connection left open after a %d-byte line" % (i, n))
            c.close()
    ok("line limit exact over %d ways of splitting: %d bytes answered, %d and %d refused"
       % (len(splits), MAX_LINE, MAX_LINE + 1, MAX_LINE * 3 // 2))


def check_partial():
    """250 connections each holding 1 MiB - 1 byte of an unfinished line:
    the buffers of all connections stay within the input budget (the rest
    are refused with "server busy" and closed), and the daemon keeps
    answering."""
    r0 = rss_kib()
    peak = Peak()
    part = padded(MAX_LINE)[:-1]
    conns, busy = [], 0
    for _ in range(250):
        c = Conn(timeout=30)
        try:
            c.send(part)
        except (BrokenPipeError, ConnectionResetError):
            pass
        conns.append(c)
    time.sleep(1)
    probe = Conn()
    if probe.call("initialize") != {"result": True}:
        fail("daemon not answering while partial lines are held")
    probe.close()
    for c in conns:
        c.s.settimeout(0.5)
        try:
            r = c.reply()
        except socket.timeout:
            continue  # still held: no reply yet
        if r and r.get("result") is False and "server busy" in r["log"][0]:
            busy += 1
    grown = peak.stop() - r0
    for c in conns:
        c.close()
    if busy < 150:
        fail("only %d of 250 connections holding 1 MiB partial lines were refused" % busy)
    ok("%d of 250 connections holding 1 MiB partial lines refused (server busy)" % busy)
    expect_mem("250 partial 1 MiB lines", grown, 100)
    time.sleep(0.5)
    c = Conn()
    if c.call("initialize") != {"result": True}:
        fail("daemon not answering after the partial lines")
    c.close()


def check_parse():
    """30 connections sending a 1 MiB JSON array at once: answered, and the
    memory of the parses in flight stays bounded (and is given back)."""
    n = 30
    body = b'{"method":"getDomainInfo","parameters":{"name":"x.","pad":['
    body += b",".join([b"0"] * 520000) + b"]}}"
    r0 = rss_kib()
    peak = Peak()
    conns = [Conn() for _ in range(n)]
    for c in conns:
        c.send(body)
    time.sleep(0.5)
    for c in conns:
        c.send(b"\n")
    for c in conns:
        r = c.reply()
        if not r or r.get("result") is not False:
            fail("a 1 MiB getDomainInfo got %r" % r)
    grown = peak.stop() - r0
    for c in conns:
        c.close()
    ok("%d concurrent 1 MiB array lines answered" % n)
    expect_mem("%d concurrent 1 MiB parses (peak)" % n, grown, 250)
    time.sleep(0.5)
    expect_mem("after the parses", rss_kib() - r0, 40)


def check_trx():
    """One transaction holds at most 1,000,000 records: the next one is
    refused with the reason and poisons it, its memory is freed, the commit
    is refused and nothing is applied."""
    limit = 1000000
    c = Conn(timeout=120)
    if c.call("startTransaction", domain="lim.test.", domain_id=-1, trxid=1) != {"result": True}:
        fail("startTransaction refused")
    r0 = rss_kib()
    t0 = time.time()
    # Pipelined from a thread: replies must be read while the lines go out
    # (each small reply takes a whole socket buffer slot).
    def feed():
        batch = 2000
        for i in range(0, limit, batch):
            c.send("".join('{"method":"feedRecord","parameters":{"trxid":1,"rr":{"qname":'
                           '"n%d.lim.test.","qtype":"A","content":"192.0.2.1","ttl":60}}}\n' % k
                           for k in range(i, i + batch)).encode())

    sender = threading.Thread(target=feed, daemon=True)
    sender.start()
    for k in range(limit):
        r = c.reply()
        if r != {"result": True}:
            fail("feedRecord %d of %d refused: %r" % (k + 1, limit, r))
    sender.join()
    held = rss_kib() - r0
    per = held * 1024.0 / limit
    print("info: %d records fed in %.1f s; RSS +%.1f MiB, %.0f bytes per record"
          % (limit, time.time() - t0, held / 1024.0, per))
    expect_mem("1,000,000 pending records", held, 250)
    r = c.call("feedRecord", trxid=1, rr={"qname": "over.lim.test.", "qtype": "A",
                                          "content": "192.0.2.1", "ttl": 60})
    want = "feedRecord: transaction too large: over 1000000 records (the limit per transaction)"
    if r != {"result": False, "log": [want]}:
        fail("record %d: got %r" % (limit + 1, r))
    ok("record 1,000,001 of a transaction refused: " + want)
    time.sleep(0.5)
    expect_mem("after the refusal (pending records freed)", rss_kib() - r0, 40)
    r = c.call("commitTransaction", trxid=1)
    if r != {"result": False, "log": ["commitTransaction: transaction refused: " + want]}:
        fail("commit after the limit: got %r" % r)
    ok("commit of the poisoned transaction refused")
    r = c.call("lookup", qname="n1.lim.test.", qtype="ANY")
    if r != {"result": False}:
        fail("a record of the refused transaction is served: %r" % r)
    ok("nothing of it applied")
    c.close()


def check_rrsets():
    """400,000 replaceRRSets in one transaction stay linear: each write is
    checked against the pending changes of its own name only (a scan of all
    of them made this quadratic: about 320 s). Generous bound: 150 s."""
    n, bound = 400000, 150
    c = Conn(timeout=bound)
    if c.call("startTransaction", domain="lim.test.", domain_id=-1, trxid=2) != {"result": True}:
        fail("startTransaction refused")

    def feed():
        for i in range(0, n, 1000):
            c.send("".join(
                '{"method":"replaceRRSet","parameters":{"trxid":2,"qname":"r%d.lim.test.","qtype":"A",'
                '"rrset":[{"qname":"r%d.lim.test.","qtype":"A","content":"192.0.2.1","ttl":60}]}}\n'
                % (k, k) for k in range(i, i + 1000)).encode())

    t0 = time.time()
    sender = threading.Thread(target=feed, daemon=True)
    sender.start()
    for k in range(n):
        r = c.reply()
        if r != {"result": True}:
            fail("replaceRRSet %d refused: %r" % (k + 1, r))
        if k % 1000 == 0 and time.time() - t0 > bound:
            fail("only %d of %d replaceRRSets answered in %d s" % (k, n, bound))
    ok("%d replaceRRSets in one transaction answered in %.1f s (bound %d s)"
       % (n, time.time() - t0, bound))
    if c.call("abortTransaction", trxid=2) != {"result": True}:
        fail("abortTransaction refused")
    c.close()


{"lines": check_lines, "partial": check_partial, "parse": check_parse,
 "trx": check_trx, "rrsets": check_rrsets}[CHECK]()
