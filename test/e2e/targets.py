"""Controllable health-check targets for the geosteer-probe end-to-end tests.

Usage:
    python3 targets.py --dir DIR [--address 127.0.0.1 | ::1] [-v]

One process serves every target below, each on its own OS-chosen port.  Once
all listeners are bound it writes DIR/targets.json (atomically, tmp + rename;
a stale one is removed at startup):

    {"pid": N, "address": "127.0.0.1", "ca": "DIR/ca.pem",
     "http": {"ok": P, "fail": P, "hang": P, "trickle": P, "big": P,
              "redirect": P, "redirect_file": P, "body": P,
              "toggle1": P, "toggle2": P, "toggle3": P},
     "tls":  {"selfsigned": P, "good": P, "wrongname": P},
     "tcp":  {"accept": P, "refused": P, "toggle": P}}

HTTP targets (HTTP/1.1, any path, one request per connection, Connection: close):
    ok            200 "geosteer-ok\\n"
    fail          500
    hang          reads the request, never answers (socket kept open)
    trickle       Content-Length 100000, then 1 body byte per second
    big           200, Content-Length 104857600, streamed in 64 KiB chunks
    redirect      302 Location: http://127.0.0.1:1/
    redirect_file 302 Location: file:///etc/passwd
    body          "/" -> 8000*"a" + "MARKER-LATE"; "/early" -> "MARKER-EARLY" + 8000*"a"
    toggleN       behaviour from DIR/toggleN.mode, re-read per request:
                  ok (default, also when missing/unknown) | fail | hang |
                  refuse (request read, then connection closed, no answer)
Control paths, answered 200 on every HTTP and TLS port whatever the mode:
    /__count  number of non-control requests received so far, "N\\n"
    /__last   JSON of the last non-control request: {"method", "path", "host",
              "user_agent", "x_headers": {lower-cased X-* name: value},
              "sni" (name sent by a TLS client, else null)}; {} before any
              request.  Hung and refused requests are counted and recorded.
TLS targets (certificates made with the openssl CLI into DIR at startup):
    selfsigned  self-signed, SAN DNS:localhost, IP:127.0.0.1, IP:::1
    good        signed by DIR/ca.pem, SAN DNS:good.test, IP:127.0.0.1, IP:::1
    wrongname   signed by DIR/ca.pem, SAN DNS:other.test only
    All answer like "ok" (200 "geosteer-ok\\n").
TCP targets:
    accept   accepts and immediately closes connections
    refused  a port bound but never listened on: connect() -> ECONNREFUSED
    toggle   DIR/tcp_toggle.mode polled every 100 ms: "down" stops listening
             on the same port (connects refused), anything else (default: up)
             listens again.  Write control files atomically (tmp + mv).

SIGTERM/SIGINT: listeners closed, exit status 0 within about 0.5 s.
Client disconnects are silent; -v logs one line per connection error.
"""
import argparse
import json
import os
import random
import select
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections import namedtuple
from urllib.parse import urlsplit

STOP = threading.Event()
VERBOSE = False
OK_BODY = b"geosteer-ok\n"
MAX_HEAD = 65536          # request head larger than this: connection dropped
MAX_BODY = 1 << 20        # request body read and discarded up to this size
REQ_TIMEOUT = 10          # seconds for TLS handshake + reading the request
REASONS = {200: "OK", 302: "Found", 500: "Internal Server Error"}


def log(msg):
    print("targets.py: " + msg, file=sys.stderr, flush=True)


def new_socket(address):
    fam = socket.AF_INET6 if ":" in address else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    return s


def listen_socket(address, port=0):
    s = new_socket(address)
    s.bind((address, port))
    s.listen(64)
    return s


def read_mode(path, default):
    """Stripped content of a control file, or default when missing/empty."""
    try:
        with open(path) as f:
            return f.read().strip() or default
    except OSError:
        return default


# ---------------------------------------------------------------- HTTP -----

Request = namedtuple("Request", "method path headers")  # headers: lower-cased names


def read_request(conn):
    """Read one request (head + Content-Length body); None if the client left."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        if len(buf) > MAX_HEAD:
            return None
        chunk = conn.recv(4096)
        if not chunk:
            return None
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split()
    if len(parts) != 3:
        return None
    headers = {}                      # lower-cased name -> value (last wins)
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    try:
        need = min(int(headers.get("content-length", "0")), MAX_BODY)
    except ValueError:
        need = 0
    while len(rest) < need:
        chunk = conn.recv(65536)
        if not chunk:
            break
        rest += chunk
    path = parts[1].split("?", 1)[0]
    if not path.startswith("/"):      # absolute-form target
        path = urlsplit(path).path or "/"
    return Request(parts[0].upper(), path, headers)


def send_head(conn, status, length, extra=()):
    lines = ["HTTP/1.1 %d %s" % (status, REASONS[status]),
             "Content-Length: %d" % length, "Content-Type: text/plain",
             "Connection: close", *extra]
    conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())


def respond(conn, req, status, body=b"", extra=()):
    send_head(conn, status, len(body), extra)
    if req.method != "HEAD" and body:
        conn.sendall(body)


def wait_for_close(conn, limit=None):
    """Block until the client closes, the server stops or limit seconds pass.
    Returns True when the client is gone (or the server is stopping)."""
    deadline = None if limit is None else time.monotonic() + limit
    while not STOP.is_set():
        left = 0.5 if deadline is None else min(0.5, deadline - time.monotonic())
        if left <= 0:
            return False
        if select.select([conn], [], [], left)[0]:
            if not conn.recv(4096):   # EOF; extra data is ignored
                return True
    return True


def do_hang(conn, req):
    wait_for_close(conn)


def do_trickle(conn, req):
    send_head(conn, 200, 100000)
    if req.method == "HEAD":
        return
    for _ in range(100000):
        if wait_for_close(conn, 1.0):
            return
        conn.sendall(b"x")


def do_big(conn, req):
    total = 100 * 1024 * 1024
    send_head(conn, 200, total)
    if req.method == "HEAD":
        return
    chunk = b"x" * 65536
    conn.settimeout(30)           # a client that stops reading is dropped
    for _ in range(total // len(chunk)):
        if STOP.is_set():
            return
        conn.sendall(chunk)


def do_body(conn, req):
    if req.path == "/early":
        respond(conn, req, 200, b"MARKER-EARLY" + b"a" * 8000)
    else:
        respond(conn, req, 200, b"a" * 8000 + b"MARKER-LATE")


BEHAVIOURS = {
    "ok": lambda c, r: respond(c, r, 200, OK_BODY),
    "fail": lambda c, r: respond(c, r, 500, b"geosteer-fail\n"),
    "hang": do_hang,
    "trickle": do_trickle,
    "big": do_big,
    "redirect": lambda c, r: respond(c, r, 302, b"",
                                     ["Location: http://127.0.0.1:1/"]),
    "redirect_file": lambda c, r: respond(c, r, 302, b"",
                                          ["Location: file:///etc/passwd"]),
    "body": do_body,
    "refuse": lambda c, r: None,  # request read; caller closes the socket
}


class HttpTarget:
    """One HTTP(S) port.  kind is a BEHAVIOURS key, or "toggle" (mode file)."""

    def __init__(self, name, kind, address, ctx=None, mode_path=None):
        self.name, self.kind, self.ctx, self.mode_path = name, kind, ctx, mode_path
        self.sock = listen_socket(address)
        self.port = self.sock.getsockname()[1]
        self.lock = threading.Lock()
        self.count = 0
        self.last = {}
        if ctx is not None:
            ctx.sni_callback = self._sni

    @staticmethod
    def _sni(sslsock, server_name, ctx):
        sslsock.geosteer_sni = server_name    # read back when recording /__last

    def on_conn(self, conn):
        threading.Thread(target=self.serve, args=(conn,), daemon=True).start()

    def serve(self, conn):
        try:
            conn.settimeout(REQ_TIMEOUT)
            if self.ctx is not None:
                conn = self.ctx.wrap_socket(conn, server_side=True)  # handshake
            req = read_request(conn)
            if req is not None:
                conn.settimeout(None)
                self.handle(conn, req)
        except OSError as e:              # disconnects, resets, TLS alerts, timeouts
            if VERBOSE:
                log("%s: %s" % (self.name, e))
        except Exception as e:            # a bug: still one line, no traceback
            log("%s: %s: %s" % (self.name, type(e).__name__, e))
        finally:
            conn.close()

    def handle(self, conn, req):
        if req.path == "/__count":
            with self.lock:
                n = self.count
            return respond(conn, req, 200, b"%d\n" % n)
        if req.path == "/__last":
            with self.lock:
                body = json.dumps(self.last).encode() + b"\n"
            return respond(conn, req, 200, body,
                           ["Content-Type: application/json"])
        h = req.headers
        with self.lock:
            self.count += 1
            self.last = {
                "method": req.method, "path": req.path,
                "host": h.get("host"), "user_agent": h.get("user-agent"),
                "x_headers": {k: v for k, v in h.items() if k.startswith("x-")},
                "sni": getattr(conn, "geosteer_sni", None),
            }
        kind = self.kind
        if kind == "toggle":
            kind = read_mode(self.mode_path, "ok")
            if kind not in ("ok", "fail", "hang", "refuse"):
                kind = "ok"
        BEHAVIOURS[kind](conn, req)


# ----------------------------------------------------------------- TCP -----

class TcpToggle:
    """Listens on a fixed port while mode_path says "up" (default).

    "down" closes the listener and keeps a bound, non-listening socket on the
    same port (so it stays reserved and connects get ECONNREFUSED)."""

    def __init__(self, address, mode_path):
        self.address, self.mode_path = address, mode_path
        self.sock = new_socket(address)
        self.sock.bind((address, 0))
        self.port = self.sock.getsockname()[1]
        self.listening = False
        self.sync()

    def sync(self):
        up = read_mode(self.mode_path, "up") != "down"
        if up and not self.listening:
            if self.sock is None:
                self._rebind()
            if self.sock is not None:
                self.sock.listen(64)
                self.listening = True
        elif not up and self.listening:
            self.sock.close()
            self.listening = False
            self._rebind()

    def _rebind(self):
        self.sock = new_socket(self.address)
        try:
            self.sock.bind((self.address, self.port))
        except OSError as e:              # port grabbed meanwhile: retry later
            log("tcp.toggle: rebind port %d: %s" % (self.port, e))
            self.sock.close()
            self.sock = None

    def run(self):
        while not STOP.is_set():
            self.sync()
            if not self.listening:
                STOP.wait(0.1)
                continue
            if select.select([self.sock], [], [], 0.1)[0]:
                try:
                    self.sock.accept()[0].close()
                except OSError:
                    pass
        if self.sock is not None:
            self.sock.close()


def accept_loop(sock, on_conn):
    """Accept until STOP, hand each connection to on_conn; closes sock."""
    with sock:
        while not STOP.is_set():
            if not select.select([sock], [], [], 0.2)[0]:
                continue
            try:
                conn, _ = sock.accept()
            except OSError:
                continue
            on_conn(conn)


# --------------------------------------------------------------- certs -----

def openssl(*args):
    r = subprocess.run(["openssl", *args], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("targets.py: openssl %s failed: %s" % (args[0], r.stderr.strip()))


def make_certs(d):
    """Create DIR/ca.pem and (cert, key) pairs; returns {name: (cert, key)}."""
    p = lambda n: os.path.join(d, n)
    ips = "IP:127.0.0.1,IP:::1"
    selfsigned = "req -x509 -newkey rsa:2048 -nodes -days 2".split()
    openssl(*selfsigned, "-subj", "/CN=geosteer test CA",
            "-keyout", p("ca.key"), "-out", p("ca.pem"))
    openssl(*selfsigned, "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost," + ips,
            "-keyout", p("selfsigned.key"), "-out", p("selfsigned.pem"))
    out = {"selfsigned": (p("selfsigned.pem"), p("selfsigned.key"))}
    for name, cn, san in (("good", "good.test", "DNS:good.test," + ips),
                          ("wrongname", "other.test", "DNS:other.test")):
        with open(p(name + ".ext"), "w") as f:
            f.write("subjectAltName=%s\nbasicConstraints=CA:FALSE\n"
                    "extendedKeyUsage=serverAuth\n" % san)
        openssl("req", "-new", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=" + cn,
                "-keyout", p(name + ".key"), "-out", p(name + ".csr"))
        openssl("x509", "-req", "-in", p(name + ".csr"), "-CA", p("ca.pem"),
                "-CAkey", p("ca.key"), "-set_serial", str(random.getrandbits(63)),
                "-days", "2", "-extfile", p(name + ".ext"), "-out", p(name + ".pem"))
        out[name] = (p(name + ".pem"), p(name + ".key"))
    return out


def tls_context(cert, key):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    return ctx


# ---------------------------------------------------------------- main -----

def main():
    global VERBOSE
    ap = argparse.ArgumentParser(description="geosteer-probe e2e test targets")
    ap.add_argument("--dir", required=True, help="state/control directory")
    ap.add_argument("--address", default="127.0.0.1", help="listen address")
    ap.add_argument("-v", "--verbose", action="store_true",
                    help="log one line per connection error")
    args = ap.parse_args()
    VERBOSE = args.verbose
    d, addr = os.path.abspath(args.dir), args.address
    os.makedirs(d, exist_ok=True)
    out_path = os.path.join(d, "targets.json")
    if os.path.exists(out_path):
        os.unlink(out_path)

    stopping = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.append(1))

    certs = make_certs(d)
    if stopping:                  # signalled while openssl ran
        return 0
    http = {k: HttpTarget(k, k, addr) for k in
            ("ok", "fail", "hang", "trickle", "big", "redirect", "redirect_file", "body")}
    for k in ("toggle1", "toggle2", "toggle3"):
        http[k] = HttpTarget(k, "toggle", addr, mode_path=os.path.join(d, k + ".mode"))
    tls = {k: HttpTarget("tls." + k, "ok", addr, ctx=tls_context(*certs[k]))
           for k in ("selfsigned", "good", "wrongname")}
    accept = listen_socket(addr)  # tcp.accept: every connection closed at once
    refused = new_socket(addr)    # bound, never listening: kept open so the
    refused.bind((addr, 0))       # port stays reserved and refuses connects
    toggle = TcpToggle(addr, os.path.join(d, "tcp_toggle.mode"))

    threads = [threading.Thread(target=accept_loop, args=(t.sock, t.on_conn), daemon=True)
               for t in [*http.values(), *tls.values()]]
    threads.append(threading.Thread(target=accept_loop, daemon=True,
                                    args=(accept, lambda c: c.close())))
    threads.append(threading.Thread(target=toggle.run, daemon=True))
    for t in threads:
        t.start()

    info = {"pid": os.getpid(), "address": addr, "ca": os.path.join(d, "ca.pem"),
            "http": {k: t.port for k, t in http.items()},
            "tls": {k: t.port for k, t in tls.items()},
            "tcp": {"accept": accept.getsockname()[1], "refused": refused.getsockname()[1],
                    "toggle": toggle.port}}
    with open(out_path + ".tmp", "w") as f:
        json.dump(info, f, indent=1)
        f.write("\n")
    os.rename(out_path + ".tmp", out_path)

    while not stopping:
        time.sleep(0.1)           # the signal handlers only set the flag
    STOP.set()
    for t in threads:             # each loop closes its listener within ~0.2 s
        t.join(1.0)
    refused.close()
    return 0                      # daemon connection threads die with us


if __name__ == "__main__":
    sys.exit(main())
