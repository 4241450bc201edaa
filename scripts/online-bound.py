#!/usr/bin/env python3
"""The least mean write latency any online policy can reach on `sydney-student` and
`follow-the-sun`, per seed, next to the oracle's and adaptive's measured means (docs/POLICY.md,
"How close an online policy can get").

    scripts/online-bound.py [--lis .build/release/lis] [--seeds 1-5] [--jobs 2]

An online policy decides from the operations it has seen. Facts of the generators (src:
Sources/LisSim/BuiltInScenarios*.swift) and of the protocol (docs/PROTOCOL.md) bound what it
can reach. Everything is read from the exported scenario (its topology, Hive's region, the
volume's home, the trace), so the seed's draws are the run's:

* sydney-student: before the student's first write (t0 = 60 s) only the volume's home region
  has used the volume; the seed draws the student's region S and the 16 document blocks, so
  nothing seen before t0 names S or the blocks. Until t0 every block is where no evidence of S
  put it: with its home node. A block can be held in S only after a node in S steals it, and
  a steal needs two round trips between the stealer and Hive (the claim, then the
  activation), started no earlier than t0: no block is in S before t0 + 2 RTT(S, Hive). A
  write the student issues at t before then is served outside S, or waits for the steal: it
  costs at least min(RTT(S, h), t0 + 2 RTT(S, Hive) - t), where h is the cheapest region that
  can hold the block at t: the home at any time, another region r (not S) only from
  t0 + 2 RTT(r, Hive) on (it too must steal, and it can have learnt of S no earlier than t0).
* follow-the-sun: while London and New York both work (14:00-17:00 UTC each day) their
  operations are two Poisson processes of equal rate, each on a uniformly random block. On any
  one block, each next operation comes from either region with probability 1/2 whatever came
  before, so wherever an online policy left the block, half of those writes (in expectation)
  come from the other region and cost at least RTT(london, nyc).

Every other write costs at least the fastest write the simulator served in the oracle's run
(the local floor). The sydney-student bound holds for each trace; the follow-the-sun bound is
an expectation over the generator's draws (one seed's trace can fall a little either side).

The bound charges every crossing of a link its topology RTT. The simulator delays each message
by RTT/2 x (1 + JITTER x u), u uniform in [0, 1) and drawn after the policy decided
(Sources/LisSim/Simulation.swift, SimParameters.jitterFraction): no policy can avoid it, so a
crossing costs RTT x (1 + JITTER / 2) in expectation. The last two columns are the bound with
that (an expectation for both scenarios) and adaptive against it.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import tomllib
from concurrent.futures import ThreadPoolExecutor

HOUR_MS = 3_600_000
JITTER = 0.05  # SimParameters.jitterFraction
SCENARIOS = ["sydney-student", "follow-the-sun"]


def run(args):
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


def latencies(trace_path):
    """Per trace operation index: its latency in ms, from a `lis sim run --trace` file."""
    issued, replied = {}, {}
    with open(trace_path) as f:
        for line in f:
            parts = line.split(" ", 3)
            if parts[1] == "op":
                issued[int(parts[2])] = int(parts[0])
            elif parts[1] == "reply":
                replied[int(parts[2]) - 1] = int(parts[0])
    return {i: (replied[i] - issued[i]) / 1000 for i in issued if i in replied}


def rtt(topology, a, b):
    if a == b:
        return topology["intra_region_rtt_ms"]
    for link in topology["link"]:
        if {link["a"], link["b"]} == {a, b}:
            return link["rtt_ms"] * topology.get("jitter_factor", 1.0)
    sys.exit(f"no link {a}-{b} in the topology")


def both_offices_open(t_ms):
    """London works 09-17 UTC, New York 14-22 UTC (BuiltInScenarios+FollowTheSun.swift)."""
    hour = (t_ms % (24 * HOUR_MS)) / HOUR_MS
    return 14 <= hour < 17


def student_bound(topology, scenario, ops, floor):
    """The sydney-student bound's total (ms over all writes) and what it is made of."""
    student = [op for op in ops if op["client"] == "student"]
    region = student[0]["region"]
    home = scenario["volume"][0]["home"]
    hive = scenario["hive_region"]
    t0 = student[0]["t_ms"]
    first_local = t0 + 2 * rtt(topology, region, hive)
    holders = [(home, 0.0)] + [(r, t0 + 2 * rtt(topology, r, hive)) for r in scenario["regions"]
                                 if r not in (region, home)]
    waiting = [op for op in student if op["op"] == "write" and op["t_ms"] < first_local]
    total = 0.0
    for op in waiting:
        outside = min(rtt(topology, region, r) for r, since in holders if since <= op["t_ms"])
        total += max(floor, min(outside, first_local - op["t_ms"]))
    writes = sum(1 for op in ops if op["op"] == "write")
    total += floor * (writes - len(waiting))
    blocks = sorted({op["offset"] >> 20 for op in student if op["op"] == "write"})
    detail = (f"student in {region}, blocks {blocks[0]}-{blocks[-1]}, Hive in {hive}: no block in {region} before "
              f"{first_local / 1000:.3f} s; {len(waiting)} writes wait, {total - floor * (writes - len(waiting)):.1f} ms")
    return total, detail


def sun_bound(topology, ops, floor):
    writes = [op for op in ops if op["op"] == "write"]
    shared = [op for op in writes if op["volume"] == "workspace" and both_offices_open(op["t_ms"])]
    total = floor * len(writes) + len(shared) * 0.5 * (rtt(topology, "london", "nyc") - floor)
    return total, f"{len(shared)} workspace writes while London and New York both work"


def measure(lis, tmp, scenario, seed):
    directory = os.path.join(tmp, f"{scenario}-{seed}")
    run([lis, "sim", "export", scenario, directory, "--seed", str(seed)])
    with open(os.path.join(directory, "topology.toml"), "rb") as f:
        topology = tomllib.load(f)
    with open(os.path.join(directory, "scenario.toml"), "rb") as f:
        spec = tomllib.load(f)
    with open(os.path.join(directory, "trace.jsonl")) as f:
        ops = [json.loads(line) for line in f]
    means, floor = {}, None
    for policy in ["oracle", "adaptive"]:
        trace = os.path.join(tmp, f"{scenario}-{seed}-{policy}.trace")
        run([lis, "sim", "run", "--scenario", scenario, "--seed", str(seed), "--policy", policy, "--trace", trace, "--json"])
        latency = latencies(trace)
        os.remove(trace)
        writes = [latency[i] for i, op in enumerate(ops) if op["op"] == "write"]
        means[policy] = sum(writes) / len(writes)
        if policy == "oracle":
            floor = min(writes)
    bound = student_bound if scenario == "sydney-student" else lambda t, s, o, f: sun_bound(t, o, f)
    total, detail = bound(topology, spec, ops, floor)
    jittered, _ = bound(dict(topology, jitter_factor=1 + JITTER / 2), spec, ops, floor)
    writes = sum(1 for op in ops if op["op"] == "write")
    print(f"{scenario} seed {seed}: {detail}; local floor {floor} ms", file=sys.stderr)
    return dict(seed=seed, writes=writes, oracle=means["oracle"], adaptive=means["adaptive"], bound=total / writes,
                jittered=jittered / writes)


def seeds(text):
    if "-" in text:
        first, last = text.split("-")
        return list(range(int(first), int(last) + 1))
    return [int(s) for s in text.split(",")]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lis", default=".build/release/lis")
    parser.add_argument("--seeds", type=seeds, default=seeds("1-5"), help="e.g. 1-5 or 1,3")
    parser.add_argument("--jobs", type=int, default=2, help="simulations run side by side")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(args.jobs) as pool:
        jobs = {(s, seed): pool.submit(measure, args.lis, tmp, s, seed)
                for s in args.scenarios.split(",") for seed in args.seeds}
        print("| scenario | seed | writes | oracle (measured) | online bound | bound ÷ oracle | adaptive (measured) | adaptive ÷ bound "
              "| bound with expected jitter | adaptive ÷ that |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for scenario in args.scenarios.split(","):
            rows = [jobs[(scenario, seed)].result() for seed in args.seeds]
            for r in rows:
                print(f"| {scenario} | {r['seed']} | {r['writes']} | {r['oracle']:.4f} ms | {r['bound']:.4f} ms | "
                      f"{r['bound'] / r['oracle']:.2f} | {r['adaptive']:.4f} ms | {r['adaptive'] / r['bound']:.2f} | "
                      f"{r['jittered']:.4f} ms | {r['adaptive'] / r['jittered']:.2f} |")
            mean = sum(r["adaptive"] / r["bound"] for r in rows) / len(rows)
            jittered = sum(r["adaptive"] / r["jittered"] for r in rows) / len(rows)
            print(f"| {scenario} | mean of {len(rows)} | | | | | | **{mean:.2f}** | | **{jittered:.2f}** |")


if __name__ == "__main__":
    main()
