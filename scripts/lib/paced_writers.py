#!/usr/bin/env python3
"""Writers that keep a steady pace whatever each write costs, one per NBD socket.

Usage: paced_writers.py OUT SECONDS EXPORT BLOCK_SIZE BLOCKS PERIOD_MS SOCKET [SOCKET…]

Each client (one libnbd connection per socket) starts a 4 KiB write every PERIOD_MS to a random
page of one of the first BLOCKS blocks, without waiting for the writes before it (libnbd's
asynchronous commands): a region whose writes cross a slow link writes as often as one whose
writes are local, so the only thing that differs between regions is the latency they see.
Each write's socket, start (seconds since the first), block and latency in ms, or its error,
goes to OUT as a JSON line; a summary goes to stdout. Exits 1 if a write failed.
"""
import json
import os
import random
import sys
import threading
import time

import nbd

out_path, seconds, export = sys.argv[1], float(sys.argv[2]), sys.argv[3]
block_size, blocks, period = int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6]) / 1000
sockets = sys.argv[7:]
lock = threading.Lock()
records = []
t0 = time.monotonic()


def client(index, sock):
    rng = random.Random(index)
    h = nbd.NBD()
    h.set_export_name(export)
    h.connect_unix(sock)
    pending = {}  # cookie -> (started, block, buffer)
    n = 0
    deadline = t0 + seconds

    def reap():
        for cookie in list(pending):
            started, block, _ = pending[cookie]
            try:
                if not h.aio_command_completed(cookie):
                    continue
                result = {"ms": round((time.monotonic() - started) * 1000, 3)}
            except nbd.Error as e:
                result = {"error": str(e)}
            del pending[cookie]
            with lock:
                records.append({"socket": index, "t": round(started - t0, 3), "block": block, **result})

    while True:
        due = t0 + n * period
        if due >= deadline:
            break
        while (now := time.monotonic()) < due:
            h.poll(max(1, int((due - now) * 1000)))
            reap()
        block = rng.randrange(blocks)
        page = rng.randrange(block_size // 4096)
        buf = nbd.Buffer.from_bytearray(bytearray(os.urandom(4096)))
        pending[h.aio_pwrite(buf, block * block_size + page * 4096)] = (time.monotonic(), block, buf)
        n += 1
        reap()
    while pending:
        h.poll(1000)
        reap()
    h.flush()
    h.shutdown()


threads = [threading.Thread(target=client, args=(i, s)) for i, s in enumerate(sockets)]
for t in threads:
    t.start()
for t in threads:
    t.join()
records.sort(key=lambda r: r["t"])
with open(out_path, "w") as out:
    for r in records:
        out.write(json.dumps(r) + "\n")
errors = [r for r in records if "error" in r]
print(f"{len(records)} writes from {len(sockets)} clients, {len(errors)} failed")
sys.exit(1 if errors else 0)
