#!/usr/bin/env python3
"""The least mean write latency any online policy can expect on `sydney-student` and
`follow-the-sun`, next to the oracle's and adaptive's measured means (docs/POLICY.md, "How
close an online policy can get").

    scripts/online-bound.py [--lis .build/release/lis] [--seed 1]

An online policy decides from the operations it has seen. Two facts of the generators
(src: Sources/LisSim/BuiltInScenarios*.swift) bound what it can reach:

* sydney-student: before the student's first write (t = 60 s) only New York has used the
  volume, and the written block is one of 16 nobody had touched. Nothing seen says "Sydney"
  or names the block, so that write goes to New York: at least one RTT(nyc, sydney).
* follow-the-sun: while London and New York both work (14:00-17:00 UTC each day) their
  operations are two Poisson processes of equal rate, each on a uniformly random block. On any
  one block, each next operation comes from either region with probability 1/2 whatever came
  before, so wherever an online policy left the block, half of those writes (in expectation)
  come from the other region and cost at least RTT(london, nyc).

Every other write costs at least the fastest write the simulator served in the oracle's run
(the local floor). The bound is an expectation over the generator's draws; one seed's trace can
fall a little either side of it.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import tomllib

HOUR_MS = 3_600_000


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
    for link in topology["link"]:
        if {link["a"], link["b"]} == {a, b}:
            return link["rtt_ms"]
    sys.exit(f"no link {a}-{b} in the topology")


def both_offices_open(t_ms):
    """London works 09-17 UTC, New York 14-22 UTC (BuiltInScenarios+FollowTheSun.swift)."""
    hour = (t_ms % (24 * HOUR_MS)) / HOUR_MS
    return 14 <= hour < 17


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lis", default=".build/release/lis")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print("| scenario | writes | oracle (measured) | online bound (expected) | bound ÷ oracle | adaptive (measured) | adaptive ÷ bound |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    with tempfile.TemporaryDirectory() as tmp:
        for scenario in ["sydney-student", "follow-the-sun"]:
            directory = os.path.join(tmp, scenario)
            run([args.lis, "sim", "export", scenario, directory, "--seed", str(args.seed)])
            with open(os.path.join(directory, "topology.toml"), "rb") as f:
                topology = tomllib.load(f)
            with open(os.path.join(directory, "trace.jsonl")) as f:
                ops = [json.loads(line) for line in f]
            means = {}
            floor = None
            for policy in ["oracle", "adaptive"]:
                trace = os.path.join(tmp, f"{scenario}-{policy}.trace")
                report = json.loads(run([args.lis, "sim", "run", "--scenario", scenario, "--seed", str(args.seed),
                                         "--policy", policy, "--trace", trace, "--json"]))
                latency = latencies(trace)
                writes = [latency[i] for i, op in enumerate(ops) if op["op"] == "write"]
                means[policy] = sum(writes) / len(writes)
                if policy == "oracle":
                    floor = min(writes)
                print(f"{scenario} × {policy}: {report['writes']} writes, mean {means[policy]:.4f} ms", file=sys.stderr)
            writes = [op for op in ops if op["op"] == "write"]
            total = floor * len(writes)
            if scenario == "sydney-student":
                total += rtt(topology, "nyc", "sydney") - floor
            else:
                shared = [op for op in writes if op["volume"] == "workspace" and both_offices_open(op["t_ms"])]
                total += len(shared) * 0.5 * (rtt(topology, "london", "nyc") - floor)
                print(f"follow-the-sun: {len(shared)} workspace writes while London and New York both work; "
                      f"local floor {floor} ms", file=sys.stderr)
            bound = total / len(writes)
            print(f"| {scenario} | {len(writes)} | {means['oracle']:.4f} ms | {bound:.4f} ms | "
                  f"{bound / means['oracle']:.2f} | {means['adaptive']:.4f} ms | {means['adaptive'] / bound:.2f} |")


if __name__ == "__main__":
    main()
