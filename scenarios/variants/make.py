#!/usr/bin/env python3
"""Writes two variants of built-in scenarios as scenario files (docs/SIMULATION.md), for
`lis sim compare --scenario-file`:

    python3 scenarios/variants/make.py DIR [--lis .build/release/lis] [--seed 1] [--scenarios a,b]
    # DIR/<name>-3-nodes/scenario.toml       3 nodes in every region instead of 1
    # DIR/<name>-hive-<region>/scenario.toml  Hive in another region than the volumes' home

Each variant is `lis sim export <name> --seed SEED` with one line of its scenario.toml changed;
the trace, topology, volumes and settings are the built-in scenario's. The Hive variant puts
Hive in the first of the scenario's regions that is no volume's home (or, when every region is
some volume's home, the first that is not the first volume's home). A scenario file carries
its trace, so `lis sim compare --seed N` on a variant varies jitter and disk timings only: the
trace is the export seed's."""
import argparse, os, re, shutil, subprocess, tomllib

BUILT_IN = ["sydney-student", "follow-the-sun", "ping-pong", "moving-locality", "zipf-global", "one-off",
            "pinned", "region-degraded"]


def rewrite(directory, key, value, name):
    path = os.path.join(directory, "scenario.toml")
    with open(path) as f:
        text = f.read()
    text = re.sub(rf"^{key} = .*$", f"{key} = {value}", text, count=1, flags=re.M)
    text = re.sub(r"^name = .*$", f'name = "{name}"', text, count=1, flags=re.M)
    with open(path, "w") as f:
        f.write(text)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out")
    parser.add_argument("--lis", default=".build/release/lis")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--scenarios", default=",".join(BUILT_IN))
    args = parser.parse_args()
    for name in args.scenarios.split(","):
        base = os.path.join(args.out, name)
        subprocess.run([args.lis, "sim", "export", name, base, "--seed", str(args.seed)], check=True,
                       stdout=subprocess.DEVNULL)
        with open(os.path.join(base, "scenario.toml"), "rb") as f:
            spec = tomllib.load(f)
        homes = [v["home"] for v in spec["volume"]]
        others = [r for r in spec["regions"] if r not in homes] or [r for r in spec["regions"] if r != homes[0]]
        hive = others[0]

        nodes = f"{name}-3-nodes"
        shutil.copytree(base, os.path.join(args.out, nodes))
        rewrite(os.path.join(args.out, nodes), "nodes_per_region", "3", nodes)

        moved = f"{name}-hive-{hive}"
        shutil.copytree(base, os.path.join(args.out, moved))
        rewrite(os.path.join(args.out, moved), "hive_region", f'"{hive}"', moved)
        shutil.rmtree(base)
        print(f"{nodes}, {moved} (was Hive in {spec['hive_region']}, homes {sorted(set(homes))})")


if __name__ == "__main__":
    main()
