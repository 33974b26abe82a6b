#!/usr/bin/env python3
"""A file server on 127.0.0.1 for t_geoip_update.sh.

    geoip_http.py --dir DIR

Serves DIR/files/NAME at /NAME with an ETag (a hash of the content) and a
Last-Modified (the file's mtime), and answers a conditional GET whose
If-None-Match names that ETag (or, without one, whose If-Modified-Since is
not older than the file) with 304. /redirect/NAME answers 302 to /NAME;
anything missing is 404. Every request is appended to DIR/requests.log as
one JSON line {"path", "headers", "status"}, so the test can check what
the client sent. Writes the port to DIR/port once listening.
"""
import argparse
import email.utils
import hashlib
import http.server
import json
import os


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # the request log below replaces it
        pass

    def record(self, status):
        with open(os.path.join(self.server.dir, "requests.log"), "a") as f:
            f.write(json.dumps({"path": self.path, "status": status,
                                "headers": {k.lower(): v for k, v in self.headers.items()}}) + "\n")

    def reply(self, status, body=b"", headers=()):
        self.record(status)
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        name = self.path.lstrip("/")
        if name.startswith("redirect/"):
            return self.reply(302, headers=[("Location", "/" + name[len("redirect/"):])])
        path = os.path.join(self.server.dir, "files", name)
        if "/" in name or not os.path.isfile(path):
            return self.reply(404, b"not found\n")
        with open(path, "rb") as f:
            body = f.read()
        mtime = int(os.stat(path).st_mtime)
        etag = '"%s"' % hashlib.sha256(body).hexdigest()[:20]
        validators = [("ETag", etag), ("Last-Modified", email.utils.formatdate(mtime, usegmt=True))]
        inm = self.headers.get("If-None-Match")
        ims = self.headers.get("If-Modified-Since")
        if inm is not None:
            fresh = etag in [t.strip() for t in inm.split(",")]
        elif ims is not None:
            since = email.utils.parsedate_to_datetime(ims).timestamp()
            fresh = mtime <= since
        else:
            fresh = False
        if fresh:
            return self.reply(304, headers=validators)
        self.reply(200, body, validators + [("Content-Type", "application/octet-stream")])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    args = ap.parse_args()
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.dir = args.dir
    with open(os.path.join(args.dir, "port.tmp"), "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(os.path.join(args.dir, "port.tmp"), os.path.join(args.dir, "port"))
    srv.serve_forever()


if __name__ == "__main__":
    main()
