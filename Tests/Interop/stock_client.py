#!/usr/bin/env python3
"""An independent protobuf-c-rpc client: Python's own protobuf runtime and a raw socket,
speaking the framing documented in PROTOCOL.md. Usage: stock_client.py PY_OUT_DIR PORT API_KEY"""
import socket
import struct
import sys
import threading

sys.path.insert(0, sys.argv[1])
from nexa.rpc.v1 import echo_pb2, health_pb2, reflection_pb2, status_pb2  # noqa: E402

PORT, KEY = int(sys.argv[2]), sys.argv[3]
results = []


def check(name, condition, detail=""):
    results.append(condition)
    print(("PASS " if condition else "FAIL ") + name + ("" if condition else f": {detail}"))


def frame(method, request_id, body):
    return struct.pack("<III", method, len(body), request_id) + body


def read_response(sock):
    header = b""
    while len(header) < 16:
        chunk = sock.recv(16 - len(header))
        if not chunk:
            raise EOFError("connection closed")
        header += chunk
    status, method, length, request_id = struct.unpack("<IIII", header)
    body = b""
    while len(body) < length:
        chunk = sock.recv(length - len(body))
        if not chunk:
            raise EOFError("connection closed inside a frame")
        body += chunk
    return status, method, request_id, body


sock = socket.create_connection(("127.0.0.1", PORT), timeout=5)

# 0 Check: public, no key.
sock.sendall(frame(0, 1, health_pb2.HealthCheckRequest().SerializeToString()))
status, method, rid, body = read_response(sock)
check("health is SERVING", status == 0 and rid == 1 and health_pb2.HealthCheckResponse.FromString(body).status == health_pb2.SERVING,
      (status, rid, body))

# 2 Echo with a key and an opaque request id.
req = echo_pb2.EchoRequest(text="hi", n=41)
req.context.api_key = KEY
sock.sendall(frame(2, 0xDEADBEEF, req.SerializeToString()))
status, method, rid, body = read_response(sock)
reply = echo_pb2.EchoResponse.FromString(body)
check("echo answers n+1 and echoes the request id", status == 0 and method == 2 and rid == 0xDEADBEEF and reply.text == "hi" and reply.n == 42,
      (status, method, hex(rid), reply))

# Pipelined: reflection and echo in one write.
lm = reflection_pb2.ListMethodsRequest()
lm.context.api_key = KEY
sock.sendall(frame(1, 7, lm.SerializeToString()) + frame(2, 8, req.SerializeToString()))
answers = {}
for _ in range(2):
    status, method, rid, body = read_response(sock)
    answers[rid] = (status, body)
names = [m.name for m in reflection_pb2.ListMethodsResponse.FromString(answers[7][1]).methods]
check("reflection lists methods in wire order", answers[7][0] == 0 and names[:3] == ["Check", "ListMethods", "Echo"], names)
check("pipelined echo answered", answers[8][0] == 0)

# A failure never carries a body for a stock client (no rich_errors).
sock.sendall(frame(2, 9, echo_pb2.EchoRequest(text="no key").SerializeToString()))
status, method, rid, body = read_response(sock)
check("missing key: UNAUTHENTICATED word, empty body", status == 0x100 + 16 and body == b"" and rid == 9, (hex(status), body))

# Rich errors when asked.
rich = echo_pb2.EchoRequest(text="no key")
rich.context.rich_errors = True
sock.sendall(frame(2, 10, rich.SerializeToString()))
status, method, rid, body = read_response(sock)
detail = status_pb2.Status.FromString(body)
check("rich error carries a Status", status == 0x110 and detail.code == 16 and "API key" in detail.message, (hex(status), detail))

# Unknown method and undecodable body: failure frames, connection kept.
sock.sendall(frame(57, 11, b""))
status, method, rid, body = read_response(sock)
check("unknown method: UNIMPLEMENTED", status == 0x100 + 12 and method == 57 and rid == 11 and body == b"", hex(status))
sock.sendall(frame(2, 12, b"\x0a\xff\xff"))
status, method, rid, body = read_response(sock)
check("bad protobuf: INVALID_ARGUMENT", status == 0x100 + 3 and rid == 12, hex(status))
sock.sendall(frame(0, 13, b""))
status, method, rid, body = read_response(sock)
check("connection still serves after failures", status == 0 and rid == 13, hex(status))

# 1,000 calls pipelined in one write, 1 KB each, while another thread reads: the server holds
# back (TCP flow control) instead of refusing, so every call is answered with SUCCESS.
big = echo_pb2.EchoRequest(text="x" * 1024, n=1)
big.context.api_key = KEY
burst = b"".join(frame(2, 1000 + i, big.SerializeToString()) for i in range(1000))
writer = threading.Thread(target=sock.sendall, args=(burst,))
writer.start()
statuses = {}
for _ in range(1000):
    status, method, rid, body = read_response(sock)
    statuses[rid] = status if status != 0 else (0 if echo_pb2.EchoResponse.FromString(body).n == 2 else "bad body")
writer.join()
refused = sum(1 for s in statuses.values() if s != 0)
check("1,000 pipelined calls all answered SUCCESS", len(statuses) == 1000 and refused == 0,
      f"{len(statuses)} answered, {refused} not SUCCESS")
sock.close()

passed = sum(results)
print(f"stock client: {passed} of {len(results)} checks passed")
sys.exit(0 if passed == len(results) else 1)
