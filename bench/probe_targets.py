"""A fast local HTTP target for bench/run_probe_bench.sh.

Usage:
    python3 probe_targets.py --port P [--address 127.0.0.1] --ready FILE

Answers every request on ADDRESS:P, whatever the path, with
"200 ok" (Content-Length 3, Connection: close) and closes the connection:
one request per connection, as geosteer-probe makes them.  The socket uses
SO_REUSEPORT, so several of these processes on the same port share the load
(the kernel spreads connections); start one per core.  Writes FILE once
listening.  SIGTERM/SIGINT: prints "served N" on stdout and exits 0.

asyncio protocol callbacks, no streams: about 10-20 us of CPU per
connection, so one process sustains several thousand checks/s.
"""
import argparse
import asyncio
import os
import signal
import socket

RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n"
            b"Connection: close\r\n\r\nok\n")
served = 0


class Target(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport
        self.buf = b""

    def data_received(self, data):
        global served
        self.buf += data
        if b"\r\n\r\n" in self.buf:
            served += 1
            self.transport.write(RESPONSE)
            self.transport.close()
        elif len(self.buf) > 65536:
            self.transport.abort()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--address", default="127.0.0.1")
    ap.add_argument("--ready", required=True)
    args = ap.parse_args()

    family = socket.AF_INET6 if ":" in args.address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((args.address, args.port))
    sock.listen(4096)
    sock.setblocking(False)

    loop = asyncio.new_event_loop()
    done = loop.create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: done.done() or done.set_result(None))

    async def serve():
        server = await loop.create_server(Target, sock=sock, backlog=4096)
        tmp = args.ready + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % os.getpid())
        os.rename(tmp, args.ready)
        await done
        server.close()

    loop.run_until_complete(serve())
    print("served %d" % served, flush=True)


if __name__ == "__main__":
    main()
