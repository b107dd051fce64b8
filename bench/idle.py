#!/usr/bin/env python3
"""Opens N keep-alive connections to HOST:PORT, sends one request on each,
reads its answer, then holds them all idle for SECONDS; prints how many are
still open at the end."""
import socket
import sys
import time

host, port, count, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
body = b'{"username":"bench_idle","email":"bench_idle@example.com"}'
request = (
    b"POST /check_accountexists HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
    b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
)
sockets = []
for _ in range(count):
    s = socket.create_connection((host, port))
    s.sendall(request)
    sockets.append(s)
for s in sockets:
    s.settimeout(30)
    answer = s.recv(4096)
    if not answer.startswith(b"HTTP/1.1 200"):
        sys.exit(f"unexpected answer: {answer[:80]!r}")
print(f"holding {len(sockets)} idle keep-alive connections", flush=True)
time.sleep(seconds)
for s in sockets:
    s.setblocking(False)
open_ = 0
for s in sockets:
    try:
        open_ += 0 if s.recv(1) == b"" else 1
    except BlockingIOError:
        open_ += 1
    except OSError:
        pass
print(f"{open_} still open", flush=True)
