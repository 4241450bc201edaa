#!/usr/bin/env python3
"""Writes scenarios the policies were not designed on, in the documented scenario format
(docs/SIMULATION.md), for `lis sim compare --scenario-file`:

    python3 scenarios/unseen/make.py DIR     # DIR/<name>/scenario.toml, trace.jsonl

Deterministic (seeded). The traces are generated rather than kept in the repository (a few
megabytes each). The topology is the repository's `topology/regions.toml`."""
import json, os, random, shutil, sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MIB = 1 << 20
PAGE = 4096
HOUR = 3_600_000.0


def write(name, regions, hive, volumes, ops):
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    ops.sort(key=lambda o: o["t_ms"])
    with open(os.path.join(d, "trace.jsonl"), "w") as f:
        for o in ops:
            f.write(json.dumps(o) + "\n")
    lines = [f'name = "{name}"', 'topology = "../topology.toml"', f"regions = {json.dumps(regions)}",
             "nodes_per_region = 1", f'hive_region = "{hive}"', 'trace = "trace.jsonl"', ""]
    for v in volumes:
        lines += ["[[volume]]", f'name = "{v["name"]}"', f'size = "{v["blocks"]}MiB"', 'block_size = "1MiB"',
                  f'home = "{v["home"]}"', 'survive = "node"', ""]
    lines += ["[policy]", 'name = "adaptive"', ""]
    with open(os.path.join(d, "scenario.toml"), "w") as f:
        f.write("\n".join(lines))
    print(f"{name}: {len(ops)} operations, last at {ops[-1]['t_ms'] / 1000:.1f} s")


def op(t, region, client, kind, volume, block, rnd, length=PAGE):
    page = rnd.randrange(MIB // PAGE)
    return {"t_ms": round(t, 3), "region": region, "client": client, "op": kind, "volume": volume,
            "offset": block * MIB + page * PAGE, "length": length}


def two_offices(rnd):
    """Tokyo (UTC+9) and Frankfurt (UTC+1) teams share a repository, 09:00-18:00 local on three
    days (overlapping 08:00-09:00 UTC); a batch job in New York rewrites blocks 0-7 every night
    02:00-02:30 local (07:00-07:30 UTC)."""
    ops = []
    for day in range(3):
        for region, offset in (("tokyo", 9), ("frankfurt", 1)):
            start = ((9 - offset) % 24 + 24 * day) * HOUR
            t = start + rnd.expovariate(1 / 2500)
            while t < start + 9 * HOUR:
                kind = "write" if rnd.random() < 0.6 else "read"
                ops.append(op(t, region, f"{region}-team", kind, "repo", rnd.randrange(48), rnd))
                t += rnd.expovariate(1 / 2500)
        start = (7 + 24 * day) * HOUR
        t = start
        while t < start + 0.5 * HOUR:
            ops.append(op(t, "nyc", "nyc-batch", "write", "repo", rnd.randrange(8), rnd))
            t += 500
    write("two-offices", ["tokyo", "frankfurt", "nyc"], "frankfurt", [{"name": "repo", "blocks": 48, "home": "frankfurt"}], ops)


def traveller(rnd):
    """A laptop's disk: its user works in London for 30 min, in Singapore for the next 30, then
    in London again; 5 operations/s on 32 hot blocks (70 % writes), plus a cold read every 2 s."""
    ops = []
    for phase, region in enumerate(("london", "singapore", "london")):
        t = phase * 1_800_000.0
        while t < (phase + 1) * 1_800_000.0:
            kind = "write" if rnd.random() < 0.7 else "read"
            ops.append(op(t, region, "user", kind, "laptop", rnd.randrange(32), rnd))
            if rnd.random() < 0.1:
                ops.append(op(t + 1, region, "user", "read", "laptop", 32 + rnd.randrange(224), rnd, 65536))
            t += 200
    write("traveller", ["london", "singapore"], "london", [{"name": "laptop", "blocks": 256, "home": "london"}], ops)


def shared_log(rnd):
    """Three regions append to one log: the head moves one block every 5 s; New York makes half
    the appends, London 30 %, Sao Paulo 20 % (10 appends/s in all); London also reads older
    blocks for analytics, one every second."""
    ops = []
    t = 0.0
    while t < 1_200_000:
        head = int(t // 5000) % 200
        x = rnd.random()
        region = "nyc" if x < 0.5 else "london" if x < 0.8 else "saopaulo"
        ops.append(op(t, region, f"{region}-app", "write", "log", head, rnd))
        t += 100
    t = 500.0
    while t < 1_200_000:
        head = int(t // 5000) % 200
        ops.append(op(t, "london", "london-analytics", "read", "log", max(0, head - 1 - rnd.randrange(20)), rnd))
        t += 1000
    write("shared-log", ["nyc", "london", "saopaulo"], "nyc", [{"name": "log", "blocks": 200, "home": "nyc"}], ops)


def field_notes(rnd):
    """A VM in Frankfurt has used the first 300 of its 2,048 blocks (a boot, then a steady
    trickle of writes there all along); from 120 s on a researcher in Sao Paulo works on it for
    15 minutes: a write every 150 ms to one of two new files (20 blocks from a place drawn in
    600-1,400, and 6 blocks 40 blocks after them, two files with never-used blocks between),
    two thirds to the first, and a read of the system's blocks every 500 ms."""
    ops = []
    t = 0.0
    while t < 120_000:
        ops.append(op(t, "frankfurt", "vm", "read", "disk", int(t // 400) % 300, rnd, 65536))
        t += 400
    t = 0.0
    while t < 1_020_000:
        ops.append(op(t, "frankfurt", "vm", "write", "disk", rnd.randrange(300), rnd))
        t += rnd.expovariate(1 / 1000)
    first = 600 + rnd.randrange(800)
    second = first + 20 + 40
    t = 120_000.0
    while t < 1_020_000:
        block = first + rnd.randrange(20) if rnd.random() < 2 / 3 else second + rnd.randrange(6)
        ops.append(op(t, "saopaulo", "researcher", "write", "disk", block, rnd))
        t += 150
    t = 120_000.0
    while t < 1_020_000:
        ops.append(op(t, "saopaulo", "researcher", "read", "disk", rnd.randrange(300), rnd, 65536))
        t += 500
    write("field-notes", ["frankfurt", "saopaulo", "london"], "frankfurt", [{"name": "disk", "blocks": 2048, "home": "frankfurt"}], ops)


def scattered(rnd):
    """New York's database writes its 64 hot blocks of a 4,096-block volume 4 times a second
    for an hour; a London job writes once to a never-used block every 2 s, each time somewhere
    else in blocks 64-4,095 (a hash-placed store), and New York's compaction writes 80 % of the
    blocks London wrote, a minute after London did. Nothing here is a run of one region's
    blocks: the never-used-neighbours rule must not move any."""
    ops = []
    t = 0.0
    while t < HOUR:
        ops.append(op(t, "nyc", "db", "write", "store", rnd.randrange(64), rnd))
        t += 250
    blocks = rnd.sample(range(64, 4096), 1800)
    for i, block in enumerate(blocks):
        t = 1000.0 + 2000 * i
        ops.append(op(t, "london", "job", "write", "store", block, rnd))
        if rnd.random() < 0.8 and t + 60_000 < HOUR:
            ops.append(op(t + 60_000, "nyc", "compaction", "write", "store", block, rnd))
    write("scattered", ["nyc", "london"], "nyc", [{"name": "store", "blocks": 4096, "home": "nyc"}], ops)


def audit(rnd):
    """An archive in Frankfurt: its ingest writes all 3,000 blocks once in the first 5 minutes,
    and its application rewrites the 32 hot blocks (0-31) 8 times a second for 45 minutes,
    which a Tokyo dashboard reads every 2 s. From 10 minutes on, an auditor in Sao Paulo reads
    64 KiB of 2,400 of the other blocks, each once, in random order, one every 0.75 s; Frankfurt's
    retention job rewrites 60 % of the audited blocks 30 s after the audit read them. Every
    block the auditor reads was used before (not never-used, unlike `scattered`), the auditor
    reads rather than writes, at a higher rate, from other regions: no block is the auditor's
    to take."""
    ops = []
    for i in range(3000):
        ops.append(op(i * 100.0, "frankfurt", "ingest", "write", "archive", i, rnd))
    t = 0.0
    while t < 2_700_000:
        ops.append(op(t, "frankfurt", "app", "write", "archive", rnd.randrange(32), rnd))
        t += 125
    t = 500.0
    while t < 2_700_000:
        ops.append(op(t, "tokyo", "dashboard", "read", "archive", rnd.randrange(32), rnd, 65536))
        t += 2000
    for i, block in enumerate(rnd.sample(range(32, 3000), 2400)):
        t = 600_000.0 + 750 * i
        ops.append(op(t, "saopaulo", "auditor", "read", "archive", block, rnd, 65536))
        if rnd.random() < 0.6:
            ops.append(op(t + 30_000, "frankfurt", "retention", "write", "archive", block, rnd))
    write("audit", ["frankfurt", "saopaulo", "tokyo"], "frankfurt", [{"name": "archive", "blocks": 3000, "home": "frankfurt"}], ops)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: make.py DIR")
    OUT = sys.argv[1]
    os.makedirs(OUT, exist_ok=True)
    shutil.copy(os.path.join(REPO, "topology", "regions.toml"), os.path.join(OUT, "topology.toml"))
    two_offices(random.Random(1))
    traveller(random.Random(2))
    shared_log(random.Random(3))
    field_notes(random.Random(4))
    scattered(random.Random(5))
    audit(random.Random(6))
