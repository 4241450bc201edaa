#!/usr/bin/env python3
"""Concurrent NBD clients that record a Lis client history for `lis check history`.

Usage: history_client.py [--durable] OUT SECONDS EXPORT BLOCK_SIZE BLOCKS SOCKET [SOCKET…]

Two clients per socket (each its own libnbd connection), for SECONDS, pick one of BLOCKS
blocks at random and either write a new version or read it. A block's register is the first
8 bytes of its first 4 KiB page: a write stores its version (unique per block) there, a read
decodes what it finds (0: never written). Every invoke and completion is appended to OUT, under
one lock, in the order they happen, as LisHistory's JSON lines: a write that fails has an
unknown outcome (`info`), a read that fails did not happen (`fail`). Prints a summary.

A client whose connection fails (its node was killed) connects again, every 0.2 s until
SECONDS are up, and goes on. With --durable every write is sent with FUA, so that an
acknowledged write must survive a crash of any node: the history stays linearizable across
`kill -9` only if none is lost. Without it a crash may lose acknowledged, unflushed writes,
as a disk's cache would.
"""
import json
import random
import struct
import sys
import threading
import time

import nbd

args = sys.argv[1:]
durable = args[0] == "--durable"
if durable:
    args = args[1:]
out_path, seconds, export, block_size, blocks = args[0], float(args[1]), args[2], int(args[3]), int(args[4])
sockets = args[5:]
write_flags = nbd.CMD_FLAG_FUA if durable else 0
lock = threading.Lock()
out = open(out_path, "w")
versions = [0] * blocks
counts = {"ok": 0, "fail": 0, "info": 0, "reconnects": 0}


def event(**fields):
    out.write(json.dumps(fields) + "\n")


def connect(sock, deadline):
    """A new connection to the export, or None if none could be made before the deadline."""
    while True:
        try:
            h = nbd.NBD()
            h.set_export_name(export)
            h.connect_unix(sock)
            return h
        except nbd.Error:
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.2)


def client(name, sock, seed):
    rng = random.Random(seed)
    deadline = time.monotonic() + seconds
    h = connect(sock, deadline)
    while h is not None and time.monotonic() < deadline:
        if h.aio_is_dead() or h.aio_is_closed():
            with lock:
                counts["reconnects"] += 1
            h = connect(sock, deadline)
            continue
        block = rng.randrange(blocks)
        base = {"process": name, "volume": export, "block": block}
        if rng.random() < 0.5:
            with lock:
                versions[block] += 1
                value = versions[block]
                event(type="invoke", op="write", value=value, **base)
            error = None
            try:
                h.pwrite(struct.pack(">Q", value) + bytes(4088), block * block_size, write_flags)
                kind = "ok"
            except nbd.Error as e:
                kind, error = "info", str(e)
            with lock:
                event(type=kind, op="write", value=value, **base, **({"error": error} if error else {}))
                counts[kind] += 1
        else:
            with lock:
                event(type="invoke", op="read", **base)
            try:
                data = h.pread(4096, block * block_size)[:8]
                seen = struct.unpack(">Q", data)[0]
                with lock:
                    event(type="ok", op="read", value=seen, **base)
                    counts["ok"] += 1
            except nbd.Error as e:
                with lock:
                    event(type="fail", op="read", error=str(e), **base)
                    counts["fail"] += 1
        time.sleep(rng.random() * 0.01)
    try:
        if h is not None:
            h.shutdown()
    except nbd.Error:
        pass  # the connection is gone already; the history says what happened before


threads = []
for i, sock in enumerate(sockets):
    for j in range(2):
        t = threading.Thread(target=client, args=(f"c{i}{j}", sock, i * 10 + j))
        t.start()
        threads.append(t)
for t in threads:
    t.join()
out.close()
print(f"history: {counts['ok']} ok, {counts['info']} writes of unknown outcome, {counts['fail']} failed reads, "
      f"{sum(versions)} writes invoked on {blocks} blocks, {counts['reconnects']} reconnects")
