#!/usr/bin/env python3
"""Sends malformed and hostile NBD traffic to a server, then exits.

Usage: nbd_hostile.py (unix:PATH | tcp:HOST:PORT) EXPORT SEED

Every case opens its own connection and must only ever cost that connection: the caller
checks afterwards that the server still serves a normal client. Bounded in count and time.
"""
import random
import socket
import struct
import sys

NBDMAGIC = 0x4E42444D41474943
IHAVEOPT = 0x49484156454F5054
OPT_GO = 7
REQUEST_MAGIC = 0x25609513


def connect(target):
    if target.startswith("unix:"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(target[5:])
    else:
        host, port = target[4:].rsplit(":", 1)
        s = socket.create_connection((host, int(port)))
    s.settimeout(2.0)
    return s


def read_exact(s, n):
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def greeting(s):
    magic, opt, flags = struct.unpack(">QQH", read_exact(s, 18))
    assert magic == NBDMAGIC and opt == IHAVEOPT, "bad greeting"
    return flags


def go(s, export):
    """Negotiates NBD_OPT_GO; returns once in transmission."""
    greeting(s)
    s.sendall(struct.pack(">I", 3))  # FIXED_NEWSTYLE | NO_ZEROES
    name = export.encode()
    data = struct.pack(">I", len(name)) + name + struct.pack(">H", 0)
    s.sendall(struct.pack(">QII", IHAVEOPT, OPT_GO, len(data)) + data)
    while True:
        magic, opt, rtype, length = struct.unpack(">QIII", read_exact(s, 20))
        read_exact(s, length)
        if rtype == 1:  # ACK
            return
        if rtype & 0x80000000:
            raise RuntimeError("GO refused")


def attempt(name, target, action):
    try:
        s = connect(target)
    except OSError as e:
        print(f"  {name}: cannot connect: {e}")
        raise
    try:
        action(s)
    except (OSError, EOFError, AssertionError, RuntimeError, struct.error):
        pass  # the server closing on us is the expected outcome
    finally:
        s.close()


def main():
    target, export, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
    rng = random.Random(seed)
    cases = {
        "garbage before the handshake": lambda s: s.sendall(rng.randbytes(4096)),
        "truncated client flags": lambda s: (greeting(s), s.sendall(b"\x00\x00")),
        "unknown client flags": lambda s: (greeting(s), s.sendall(struct.pack(">I", 0xFFFF)), s.recv(64)),
        "huge option length": lambda s: (
            greeting(s), s.sendall(struct.pack(">I", 3) + struct.pack(">QII", IHAVEOPT, OPT_GO, 0xFFFFFFFF)), s.recv(64)),
        "bad option magic": lambda s: (greeting(s), s.sendall(struct.pack(">I", 3) + rng.randbytes(64)), s.recv(64)),
        "GO name longer than the option": lambda s: (
            greeting(s),
            s.sendall(struct.pack(">I", 3) + struct.pack(">QII", IHAVEOPT, OPT_GO, 8) + struct.pack(">I", 1000) + b"abcd"),
            s.recv(64)),
        "truncated option": lambda s: (greeting(s), s.sendall(struct.pack(">I", 3) + struct.pack(">QII", IHAVEOPT, OPT_GO, 100) + b"x")),
        "bad request magic": lambda s: (go(s, export), s.sendall(rng.randbytes(28)), s.recv(64)),
        "write of 4 GiB announced": lambda s: (
            go(s, export), s.sendall(struct.pack(">IHHQQI", REQUEST_MAGIC, 0, 1, 7, 0, 0xFFFFFFFF) + rng.randbytes(1000)), s.recv(64)),
        "read far past the end": lambda s: (
            go(s, export), s.sendall(struct.pack(">IHHQQI", REQUEST_MAGIC, 0, 0, 8, 2**63, 4096)), s.recv(64)),
        "unknown command with flags": lambda s: (
            go(s, export), s.sendall(struct.pack(">IHHQQI", REQUEST_MAGIC, 0xFFFF, 99, 9, 0, 0)), s.recv(64)),
        "truncated request": lambda s: (go(s, export), s.sendall(struct.pack(">IHH", REQUEST_MAGIC, 0, 1))),
        "random bytes after GO": lambda s: (go(s, export), s.sendall(rng.randbytes(65536))),
    }
    for name, action in cases.items():
        attempt(name, target, action)
    for _ in range(50):
        n = rng.randrange(1, 200)
        attempt("random prefix", target, lambda s: (s.recv(18), s.sendall(rng.randbytes(n))))
    print(f"sent {len(cases) + 50} hostile connections to {target}")


if __name__ == "__main__":
    main()
