#!/usr/bin/env python3
"""A tiny HTTP/1.1 server for loadgen's tests (loadgen/test-loadgen.sh).

It answers GET requests with 200, `X-Pid: <pid>` and keep-alive, and in other
modes misbehaves in one precise way. It listens on 127.0.0.1 (or --host, or a
Unix socket with --unix) on a free port and writes the port to --port-file
once it accepts connections. One thread per connection; stop it with SIGTERM.

Modes (--every N: one request in N misbehaves, counted over the whole server):
  good        200, Content-Length, keep-alive (Connection: close if asked)
  close       every response says Connection: close, then the server closes
  chunked     Transfer-Encoding: chunked body with a trailer, keep-alive
  eof-body    no Content-Length: the body ends when the server closes
  interim     a 100 Continue before each 200
  reset       one request in N: read it, then close with RST (SO_LINGER 0)
  short       one request in N: Content-Length 100, 10 bytes, then close
  bad         one request in N: 500
  hang        read the request, never answer
  slow        answer after --delay-ms
  idle-close  answer (keep-alive, no Connection: close), then close at once;
              TCP_CORK makes the FIN ride on the response's last segment, so
              the client sees EOF before it could send the next request
  idle-race   the same without TCP_CORK: the client may send first (racy)
"""
import argparse
import os
import signal
import socket
import struct
import sys
import threading
import time

MODES = ["good", "close", "chunked", "eof-body", "interim", "reset", "short",
         "bad", "hang", "slow", "idle-close", "idle-race"]


class Server:
    def __init__(self, args):
        self.args = args
        self.count = 0
        self.lock = threading.Lock()
        self.start = time.monotonic()

    def next_count(self):
        with self.lock:
            self.count += 1
            return self.count

    def pid(self):
        # --gen-ms: pretend to be a new generation every gen-ms milliseconds.
        if self.args.gen_ms:
            gen = int((time.monotonic() - self.start) * 1000 / self.args.gen_ms)
            return 100000 + gen
        return os.getpid()

    def response(self, close, extra=b"", status=b"200 OK"):
        body = b"ok pid=%d\n" % self.pid()
        head = b"HTTP/1.1 " + status + b"\r\nX-Pid: %d\r\nContent-Length: %d\r\n" % (
            self.pid(), len(body))
        if close:
            head += b"Connection: close\r\n"
        return head + extra + b"\r\n" + body

    def handle(self, conn):
        a = self.args
        buf = b""
        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buf += data
                head, buf = buf.split(b"\r\n\r\n", 1)
                lines = head.lower().split(b"\r\n")
                close = any(l.startswith(b"connection:") and b"close" in l for l in lines[1:])
                n = self.next_count()
                broken = n % a.every == 0
                mode = a.mode
                if mode == "hang":
                    while conn.recv(65536):
                        pass
                    return
                if mode == "slow":
                    time.sleep(a.delay_ms / 1000.0)
                if mode == "reset" and broken:
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    return
                if mode == "short" and broken:
                    conn.sendall(b"HTTP/1.1 200 OK\r\nX-Pid: %d\r\nContent-Length: 100\r\n\r\n0123456789"
                                 % self.pid())
                    return
                if mode == "bad" and broken:
                    conn.sendall(self.response(close, status=b"500 Internal Server Error"))
                elif mode == "close":
                    conn.sendall(self.response(True))
                    return
                elif mode == "chunked":
                    body = b"ok pid=%d\n" % self.pid()
                    out = b"HTTP/1.1 200 OK\r\nX-Pid: %d\r\nTransfer-Encoding: chunked\r\n" % self.pid()
                    if close:
                        out += b"Connection: close\r\n"
                    out += b"\r\n"
                    for i in range(0, len(body), 4):
                        piece = body[i:i + 4]
                        out += b"%x;ext=1\r\n%s\r\n" % (len(piece), piece)
                    out += b"0\r\nX-Trailer: yes\r\n\r\n"
                    conn.sendall(out)
                elif mode == "eof-body":
                    conn.sendall(b"HTTP/1.1 200 OK\r\nX-Pid: %d\r\n\r\nok until EOF\n" % self.pid())
                    return
                elif mode == "interim":
                    conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n" + self.response(close))
                elif mode == "idle-close" and conn.family != socket.AF_UNIX:
                    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
                    conn.sendall(self.response(close))
                    return  # close() sends the corked data with the FIN
                else:
                    conn.sendall(self.response(close))
                if close or mode in ("idle-close", "idle-race"):
                    return
        except OSError:
            return
        finally:
            conn.close()

    def serve(self, lsock):
        while True:
            conn, _ = lsock.accept()
            threading.Thread(target=self.handle, args=(conn,), daemon=True).start()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mode", default="good", choices=MODES)
    ap.add_argument("--port-file", required=True, help="written (atomically) once listening")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--unix", help="listen on this Unix socket path instead")
    ap.add_argument("--every", type=int, default=5)
    ap.add_argument("--delay-ms", type=int, default=200)
    ap.add_argument("--gen-ms", type=int, default=0)
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))

    if args.unix:
        lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        lsock.bind(args.unix)
        port = 0
    else:
        family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
        lsock = socket.socket(family, socket.SOCK_STREAM)
        lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lsock.bind((args.host, 0))
        port = lsock.getsockname()[1]
    lsock.listen(1024)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
    os.rename(tmp, args.port_file)
    Server(args).serve(lsock)


if __name__ == "__main__":
    sys.exit(main())
