"""A DNS primary that misbehaves on purpose, for the transfer fault tests
(t_xfr_faults.sh): it answers SOA queries over UDP and TCP and AXFR over
TCP for one zone described by a JSON file, re-read at every query:

  {"zone": "f.test.", "serial": 2, "truncate": false,
   "records": [["a", "A", 300, "192.0.2.1"], ["x", "AFSDB", 300, "1 afs"],
               ["l", "LUA", 300, "A os.execute('true')"]]}

Record names are relative to the zone (@ for the apex); the SOA is made
from the serial. With "truncate" the AXFR stops after the records, without
the closing SOA, and the connection is closed: a transfer cut half way.
usage: fake_primary.py ADDR PORT ZONEFILE.json"""
import json, socket, struct, sys, threading

TYPES = {"A": 1, "NS": 2, "SOA": 6, "AFSDB": 18, "LUA": 65402}


def wire_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def rdata(zone, rtype, text):
    if rtype == "A":
        return socket.inet_aton(text)
    if rtype == "NS":
        return wire_name(absolute(zone, text))
    if rtype == "AFSDB":
        pref, host = text.split()
        return struct.pack("!H", int(pref)) + wire_name(absolute(zone, host))
    if rtype == "LUA":
        qtype, code = text.split(" ", 1)
        return struct.pack("!HB", TYPES[qtype], len(code)) + code.encode()
    raise ValueError(rtype)


def absolute(zone, name):
    return zone if name == "@" else name + "." + zone


def soa(zone, serial):
    data = wire_name("ns1." + zone) + wire_name("hostmaster." + zone)
    data += struct.pack("!IIIII", serial, 2, 1, 604800, 300)
    return wire_name(zone) + struct.pack("!HHIH", 6, 1, 300, len(data)) + data


def rr(zone, name, rtype, ttl, text):
    data = rdata(zone, rtype, text)
    return wire_name(absolute(zone, name)) + struct.pack("!HHIH", TYPES[rtype], 1, ttl, len(data)) + data


def parse_query(msg):
    qid, flags = struct.unpack("!HH", msg[:4])
    i, labels = 12, []
    while msg[i]:
        labels.append(msg[i + 1:i + 1 + msg[i]].decode().lower())
        i += 1 + msg[i]
    qtype, = struct.unpack("!H", msg[i + 1:i + 3])
    return qid, flags, ".".join(labels) + ".", qtype, msg[12:i + 5]


def reply(qid, question, answers, rcode=0):
    head = struct.pack("!HHHHHH", qid, 0x8400 | rcode, 1, len(answers), 0, 0)
    return head + question + b"".join(answers)


def answer(msg, spec):
    qid, flags, qname, qtype, question = parse_query(msg)
    zone = spec["zone"]
    if (flags >> 11) & 0xF == 4:  # NOTIFY: acknowledge
        return [struct.pack("!HHHHHH", qid, 0x8000 | (4 << 11) | 0x0400, 1, 0, 0, 0) + question]
    if qname != zone:
        return [reply(qid, question, [], 5)]
    the_soa = soa(zone, spec["serial"])
    if qtype == 6:
        return [reply(qid, question, [the_soa])]
    if qtype == 2:
        return [reply(qid, question, [rr(zone, "@", "NS", 300, "ns1")])]
    if qtype == 252:
        body = [the_soa, rr(zone, "@", "NS", 300, "ns1")]
        body += [rr(zone, *r) for r in spec["records"]]
        if not spec.get("truncate"):
            body.append(the_soa)
        return [reply(qid, question, body)]
    return [reply(qid, question, [])]


def load(path):
    with open(path) as f:
        return json.load(f)


def serve_udp(sock, path):
    while True:
        msg, peer = sock.recvfrom(4096)
        try:
            for r in answer(msg, load(path)):
                sock.sendto(r, peer)
        except Exception as e:  # a bad query: ignore it
            print("udp:", e, file=sys.stderr)


def serve_tcp_conn(conn, path):
    with conn:
        while True:
            head = conn.recv(2)
            if len(head) < 2:
                return
            n, = struct.unpack("!H", head)
            msg = b""
            while len(msg) < n:
                chunk = conn.recv(n - len(msg))
                if not chunk:
                    return
                msg += chunk
            spec = load(path)
            for r in answer(msg, spec):
                conn.sendall(struct.pack("!H", len(r)) + r)
            if spec.get("truncate") and parse_query(msg)[3] == 252:
                return  # cut: no closing SOA, connection closed


def main():
    addr, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind((addr, port))
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    t.bind((addr, port))
    t.listen(8)
    threading.Thread(target=serve_udp, args=(u, path), daemon=True).start()
    while True:
        conn, _ = t.accept()
        threading.Thread(target=serve_tcp_conn, args=(conn, path), daemon=True).start()


if __name__ == "__main__":
    main()
