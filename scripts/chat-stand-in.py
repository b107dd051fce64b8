#!/usr/bin/env python3
"""A chat-server stand-in for demos and checks: listens on 127.0.0.1 at the
port given (0: any free one, printed on stdout), accepts connections and
closes them. That is all the balance service's liveness probe (a TCP
connect) asks of a chat server; it speaks no chat protocol."""
import socket
import sys

port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", port))
listener.listen(128)
print(listener.getsockname()[1], flush=True)
while True:
    connection, _ = listener.accept()
    connection.close()
