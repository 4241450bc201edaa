#!/usr/bin/env python3
"""Cluster benchmarks on one machine: real `lis serve` processes on loopback, Hive in a real
etcd, WAN delays emulated from topology/regions.toml (Hive taken to be in New York).

1. Steals per region pair: a volume homed in New York; a client in region S writes 8 blocks,
   6 writes of 4 KiB each, one block after the other. Per pair: the steal's duration (from
   the stealer's /v1/moves) against its floor, 2 x RTT(S, Hive) + the fence's round trip
   RTT(S, nyc) (the transfer of a 1 MiB block over loopback adds about a millisecond), and
   the client's write latency before and after each block's move.
2. The write path within one region: QD1 4 KiB writes to a region of 3 nodes (Q2 = 2 of 3,
   an emulated 0.5 ms round trip between them) against a region of 1 node.

Usage: scripts/bench-cluster.py [LIS_BINARY]   (default .build/release/lis; build it first)
Needs etcd (etcd-server) and libnbd's Python binding (python3-libnbd); run with /usr/bin/python3.
"""
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

import nbd

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIS = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, ".build/release/lis")
TOPOLOGY = os.path.join(ROOT, "topology/regions.toml")
STEALERS = ["london", "frankfurt", "sfo", "tokyo", "sydney"]
BLOCKS, WRITES_PER_BLOCK = 8, 6


def rtts():
    table, a, b = {}, None, None
    for line in open(TOPOLOGY):
        line = line.split("#")[0].strip()
        if line.startswith("a ="):
            a = line.split('"')[1]
        elif line.startswith("b ="):
            b = line.split('"')[1]
        elif line.startswith("rtt_ms") and a and b:
            table[(a, b)] = table[(b, a)] = float(line.split("=")[1])
    return table


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def http(method, url, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read() or b"null")


def wait(what, cond, seconds=60):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            if cond():
                return
        except Exception:
            pass
        time.sleep(0.1)
    raise SystemExit(f"gave up waiting for {what}")


class Cluster:
    def __init__(self, work, etcd_endpoint, prefix):
        # Each cluster its own directory: nodes with fresh data, the secret beside them.
        self.work, self.etcd, self.prefix = os.path.join(work, prefix.strip("/")), etcd_endpoint, prefix
        os.makedirs(self.work)
        shutil.copy(os.path.join(work, "secret"), os.path.join(self.work, "secret"))
        self.procs, self.api = [], {}

    def start(self, node, region, wan_extra=""):
        api, nbdp, peer = free_port(), free_port(), free_port()
        self.api[node] = api
        path = os.path.join(self.work, node + ".toml")
        with open(path, "w") as f:
            f.write(f"""[node]
id = "{node}"
region = "{region}"
data_dir = "{self.work}/{node}"
http_address = "127.0.0.1:{api}"
nbd_address = "127.0.0.1:{nbdp}"
[hive]
engine = "etcd"
endpoints = ["{self.etcd}"]
prefix = "{self.prefix}"
[cluster]
name = "bench"
peer_address = "127.0.0.1:{peer}"
secret_file = "{self.work}/secret"
[wan]
topology = "{TOPOLOGY}"
hive_region = "nyc"
{wan_extra}
""")
        log = open(os.path.join(self.work, node + ".log"), "w")
        self.procs.append(subprocess.Popen([LIS, "serve", "--config", path], stdout=log, stderr=log))
        wait(f"{node} to serve", lambda: http("GET", f"http://127.0.0.1:{api}/v1/status")
             and os.path.exists(self.socket(node)))

    def socket(self, node):
        return f"{self.work}/{node}/nbd.sock"

    def members_everywhere(self, count):
        wait("the nodes to find each other", lambda: all(
            len(http("GET", f"http://127.0.0.1:{p}/v1/cluster")["members"]) == count for p in self.api.values()))

    def stop(self):
        for p in self.procs:
            p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()


def client(sock, export):
    h = nbd.NBD()
    h.set_export_name(export)
    h.connect_unix(sock)
    return h


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))] if xs else float("nan")


def steals(work, etcd, table):
    rows = []
    for s in STEALERS:
        c = Cluster(work, etcd, f"/steal-{s}/")
        try:
            c.start("nyc-1", "nyc")
            c.start(f"{s}-1", s)
            c.members_everywhere(2)
            http("POST", f"http://127.0.0.1:{c.api['nyc-1']}/v1/volumes",
                 {"name": "bench", "size": "64M", "home": "nyc"})
            wait("the volume", lambda: http("GET", f"http://127.0.0.1:{c.api[f'{s}-1']}/v1/volumes/bench"))
            h = client(c.socket(f"{s}-1"), "bench")
            writes = []  # (block, start wall ms, latency ms)
            for block in range(BLOCKS):
                for i in range(WRITES_PER_BLOCK):
                    start, wall = time.monotonic(), time.time() * 1000
                    h.pwrite(bytes([block * 16 + i + 1]) * 4096, block * (1 << 20) + i * 4096)
                    writes.append((block, wall, (time.monotonic() - start) * 1000))
            h.shutdown()
            moves = {m["block"]: m for m in http("GET", f"http://127.0.0.1:{c.api[f'{s}-1']}/v1/moves")}
            before = [ms for b, at, ms in writes if b in moves and at < moves[b]["at_ms"]]
            after = [ms for b, at, ms in writes if b in moves and at >= moves[b]["at_ms"]]
            steal = [m["steal_ms"] for m in moves.values()]
            rtt = table[(s, "nyc")]
            rows.append((s, len(moves), statistics.median(steal) if steal else float("nan"), rtt,
                         pct(before, 0.5), pct(before, 0.99), pct(after, 0.5), pct(after, 0.99)))
            print(f"  {s}: {len(moves)} blocks moved", file=sys.stderr)
        finally:
            c.stop()
    return rows


def transfer_steals(work, etcd, mbit, block_mib=16, blocks=4):
    """London steals `blocks` blocks of `block_mib` MiB from New York over a link paced at
    `mbit` Mbit/s per lane (None: unlimited); returns the median steal in ms (the stealer's)."""
    c = Cluster(work, etcd, f"/transfer-{mbit}/")
    extra = f"bandwidth_mbit = {mbit}" if mbit else ""
    try:
        c.start("nyc-1", "nyc", extra)
        c.start("london-1", "london", extra)
        c.members_everywhere(2)
        http("POST", f"http://127.0.0.1:{c.api['nyc-1']}/v1/volumes",
             {"name": "big", "size": f"{block_mib * blocks}M", "block_size": f"{block_mib}M", "home": "nyc"})
        wait("the volume", lambda: http("GET", f"http://127.0.0.1:{c.api['london-1']}/v1/volumes/big"))
        h = client(c.socket("london-1"), "big")
        for block in range(blocks):
            for i in range(WRITES_PER_BLOCK):
                h.pwrite(bytes([i + 1]) * 4096, block * block_mib * (1 << 20) + i * 4096)
        h.shutdown()
        moves = http("GET", f"http://127.0.0.1:{c.api['london-1']}/v1/moves")
        print(f"  {mbit or 'unlimited'} Mbit/s: {len(moves)} blocks of {block_mib} MiB moved", file=sys.stderr)
        return statistics.median(m["steal_ms"] for m in moves) if moves else float("nan"), len(moves)
    finally:
        c.stop()


def write_path(work, etcd, nodes):
    c = Cluster(work, etcd, f"/path-{nodes}/")
    try:
        for i in range(1, nodes + 1):
            c.start(f"nyc-{i}", "nyc")
        c.members_everywhere(nodes)
        http("POST", f"http://127.0.0.1:{c.api['nyc-1']}/v1/volumes", {"name": "bench", "size": "256M", "home": "nyc"})
        h = client(c.socket("nyc-1"), "bench")
        lat = []
        for i in range(3000):
            start = time.monotonic()
            h.pwrite(bytes([i % 251 + 1]) * 4096, (i * 7919 % 65536) * 4096)
            lat.append((time.monotonic() - start) * 1000)
        h.shutdown()
        return lat[500:]  # after warm-up
    finally:
        c.stop()


def main():
    if not os.path.exists(LIS):
        raise SystemExit(f"{LIS} is missing: swift build -c release --static-swift-stdlib --product lis")
    work = tempfile.mkdtemp(prefix="lis-bench-cluster-")
    with open(os.path.join(work, "secret"), "w") as f:
        f.write(os.urandom(32).hex())
    cport, pport = free_port(), free_port()
    endpoint = f"http://127.0.0.1:{cport}"
    etcd = subprocess.Popen(
        ["etcd", "--name", "bench", "--data-dir", f"{work}/etcd", "--listen-client-urls", endpoint,
         "--advertise-client-urls", endpoint, "--listen-peer-urls", f"http://127.0.0.1:{pport}",
         "--initial-advertise-peer-urls", f"http://127.0.0.1:{pport}",
         "--initial-cluster", f"bench=http://127.0.0.1:{pport}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait("etcd", lambda: http("POST", endpoint + "/v3/kv/range", {"key": "AA=="}))
        table = rtts()
        print("steals from nyc (Hive in nyc) into each region…", file=sys.stderr)
        rows = [] if os.environ.get("LIS_BENCH_ONLY") in ("write-path", "transfers") else steals(work, etcd=endpoint, table=table)
        print("| stealer | RTT to nyc (Hive and holder) ms | blocks moved | steal ms (median) | 2 RTT(Hive) ms | steal ÷ 2 RTT(Hive) | 2 RTT(Hive) + fence RTT ms | steal ÷ that | writes before the move p50 / p99 ms | after p50 / p99 ms |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for s, moved, steal, rtt, b50, b99, a50, a99 in rows:
            print(f"| {s} | {rtt:.1f} | {moved}/{BLOCKS} | {steal:.1f} | {2 * rtt:.1f} | {steal / (2 * rtt):.2f} | "
                  f"{3 * rtt:.1f} | {steal / (3 * rtt):.2f} | {b50:.1f} / {b99:.1f} | {a50:.2f} / {a99:.2f} |")
        if os.environ.get("LIS_BENCH_ONLY") in (None, "transfers"):
            print("transfers of 16 MiB blocks from nyc to london, paced and unlimited…", file=sys.stderr)
            mbit = 100
            paced, moved = transfer_steals(work, endpoint, mbit)
            free, _ = transfer_steals(work, endpoint, None)
            image = 16 << 20
            measured = image * 8 / ((paced - free) / 1000) / 1e6
            print()
            print("| link | blocks moved | steal ms (median) | transfer ms (paced − unlimited) | expected ms (16 MiB at the rate) | measured Mbit/s | ÷ configured |")
            print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
            print(f"| unlimited | 4/4 | {free:.1f} | – | – | – | – |")
            print(f"| {mbit} Mbit/s per lane | {moved}/4 | {paced:.1f} | {paced - free:.1f} | {image * 8 / (mbit * 1e6) * 1000:.1f} | "
                  f"{measured:.1f} | {measured / mbit:.2f} |")
        if os.environ.get("LIS_BENCH_ONLY") == "transfers":
            return
        print("the write path within one region (QD1 4 KiB writes, 2,500 after warm-up)…", file=sys.stderr)
        one, three = write_path(work, endpoint, 1), write_path(work, endpoint, 3)
        print()
        print("| region | Q2 | write p50 ms | p99 ms | mean ms |")
        print("| --- | --- | ---: | ---: | ---: |")
        for name, q, lat in (("1 node", "1 of 1", one), ("3 nodes (0.5 ms RTT emulated)", "2 of 3", three)):
            print(f"| {name} | {q} | {pct(lat, 0.5):.3f} | {pct(lat, 0.99):.3f} | {statistics.mean(lat):.3f} |")
        print(f"\n3 nodes ÷ 1 node, p50: {pct(three, 0.5) / pct(one, 0.5):.2f}")
    finally:
        etcd.terminate()
        etcd.wait()
        shutil.rmtree(work, ignore_errors=True)


main()
