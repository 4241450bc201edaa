#!/usr/bin/env python3
"""Sends hostile traffic to a Lis node's peer port, then exits.

Usage: peer_hostile.py PORT CLUSTER

Each case opens its own connection, which the node must close: bytes that are not frames, a
frame header announcing 1 GiB before the handshake, and a well-formed handshake by a node
"intruder" whose proof is not made with the join secret, followed by a message. Exits 0 when
the node closed every connection (within 10 s each), 1 otherwise.
"""
import json
import os
import socket
import struct
import sys

port, cluster = int(sys.argv[1]), sys.argv[2]


def frame(kind, body):
    return b"LW" + bytes([1, kind]) + struct.pack(">I", len(body)) + body


def closed_by_node(payloads):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        for p in payloads:
            s.sendall(p)
        while True:
            if not s.recv(65536):
                return True  # the node closed the connection
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False
    finally:
        s.close()


hello = json.dumps({"cluster": cluster, "node": "intruder", "region": "london", "nonce": list(os.urandom(32))}).encode()
cases = {
    "not frames": [b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"],
    "1 GiB before the handshake": [b"LW\x01\x01\x40\x00\x00\x00"],
    "a wrong proof, then a message": [frame(1, hello), frame(2, os.urandom(32)), frame(3, b"\x00" * 16)],
}
failed = [name for name, payloads in cases.items() if not closed_by_node(payloads)]
for name in cases:
    print(("FAIL: " if name in failed else "ok: ") + name)
sys.exit(1 if failed else 0)
