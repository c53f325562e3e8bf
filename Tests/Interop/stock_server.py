#!/usr/bin/env python3
"""A server that behaves as protobuf-c-rpc's reference server does (SUCCESS with the output
message; SERVICE_FAILED = 1 with no body; no error text), written with Python's protobuf runtime,
so that our client is tested against a peer that is not ours. Requests that arrive together are
answered in reverse order, as a server with uneven handlers would. Usage: stock_server.py PY_OUT_DIR PORT"""
import socket
import struct
import sys

sys.path.insert(0, sys.argv[1])
from nexa.rpc.v1 import echo_pb2  # noqa: E402

listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", int(sys.argv[2])))
listener.listen(8)
print("ready", flush=True)


def serve(conn):
    buffer = b""
    while True:
        data = conn.recv(65536)
        if not data:
            return
        buffer += data
        replies = []
        while len(buffer) >= 12:
            method, length, request_id = struct.unpack("<III", buffer[:12])
            if len(buffer) < 12 + length:
                break
            body, buffer = buffer[12:12 + length], buffer[12 + length:]
            if method == 2:  # Echo
                request = echo_pb2.EchoRequest.FromString(body)
                out = echo_pb2.EchoResponse(text=request.text, n=request.n + 1).SerializeToString()
                replies.append(struct.pack("<IIII", 0, method, len(out), request_id) + out)
            else:  # the reference's only failure: SERVICE_FAILED, empty body
                replies.append(struct.pack("<IIII", 1, method, 0, request_id))
        conn.sendall(b"".join(reversed(replies)))


while True:
    conn, _ = listener.accept()
    try:
        serve(conn)
    finally:
        conn.close()
