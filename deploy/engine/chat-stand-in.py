#!/usr/bin/env python3
"""A chat server for scripts/engine-check.sh, in a container beside the
balance service. It listens on 0.0.0.0:PORT, accepting and closing
connections (the balance service's probe is a TCP connect), and registers
itself with RegisterChattingServerInstance (proto/message.proto) at
BALANCE (host:port), announcing this container's address (or $CHAT_HOST)
and PORT, with `authorization: Bearer $GRPC_AUTH_TOKEN`. With a token, it
first checks that the same call without it is refused (UNAUTHENTICATED),
retrying for a minute while the balance service starts. The messages are
encoded by hand: three strings in one nested message.

    chat-stand-in BALANCE NAME PORT
"""
import os
import signal
import socket
import sys
import threading
import time

import grpc

METHOD = "/message.BalancerService/RegisterChattingServerInstance"


def varint(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def field(number, payload):
    """A length-delimited field (string or message)."""
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def register_request(name, host, port):
    # GrpcRegisterRequest { ServerInfo info = 1 } ; ServerInfo { name = 1, host = 2, port = 3 }
    info = field(1, name.encode()) + field(2, host.encode()) + field(3, port.encode())
    return field(1, info)


def status_error(response):
    """GrpcStatusResponse.error (field 1, varint); absent means 0."""
    i, value = 0, 0
    while i < len(response):
        key = response[i]
        i += 1
        if key == 0x08:
            shift = 0
            while True:
                byte = response[i]
                i += 1
                value |= (byte & 0x7F) << shift
                shift += 7
                if not byte & 0x80:
                    break
            return value
        return -1  # not the message we expect
    return 0


def serve(listener):
    while True:
        connection, _ = listener.accept()
        connection.close()


def main():
    # PID 1 of its container: without a handler SIGTERM would be ignored.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    balance, name, port = sys.argv[1], sys.argv[2], sys.argv[3]
    token = os.environ.get("GRPC_AUTH_TOKEN", "")
    host = os.environ.get("CHAT_HOST") or socket.gethostbyname(socket.gethostname())

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("0.0.0.0", int(port)))
    listener.listen(128)
    threading.Thread(target=serve, args=(listener,), daemon=True).start()
    print(f"listening on {host}:{port}", flush=True)

    channel = grpc.insecure_channel(balance)
    call = channel.unary_unary(METHOD)  # bytes in, bytes out
    request = register_request(name, host, port)
    # The balance service may still be starting: retry what did not reach it.
    deadline = time.monotonic() + 60

    def register(metadata):
        while True:
            try:
                return call(request, timeout=5, metadata=metadata)
            except grpc.RpcError as error:
                if error.code() != grpc.StatusCode.UNAVAILABLE or time.monotonic() > deadline:
                    raise
                time.sleep(1)

    if token:
        try:
            register(None)
            print("registered WITHOUT the token: the balance service should have refused", flush=True)
            sys.exit(1)
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.UNAUTHENTICATED:
                print(f"without the token: {error.code()} (UNAUTHENTICATED expected)", flush=True)
                sys.exit(1)
            print("without the token: refused (UNAUTHENTICATED)", flush=True)
    error = status_error(register([("authorization", f"Bearer {token}")] if token else None))
    if error != 0:
        print(f"registration answered error {error}", flush=True)
        sys.exit(1)
    print(f"registered as {name} at {host}:{port}", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
