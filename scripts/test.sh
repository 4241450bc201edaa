#!/usr/bin/env bash
# The README's test command: builds Lis and runs every test suite, then the node's, the Proxmox
# plugin's, the Debian package's and the cluster's end-to-end tests with real NBD clients,
# real processes and systemd. It installs what the tests need (apt packages: qemu-utils,
# nbdkit, libnbd-bin, fio, python3-libnbd, etcd-server), so it works on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh

log=$(mktemp)
sim=$(mktemp)
scenario=$(mktemp -d)
. scripts/lib/etcd.sh
trap 'stop_etcd; rm -rf "$log" "$sim" "$scenario"' EXIT

echo "== build"
swift build --build-tests 2>&1 | tail -n 3

echo "== unit, scenario and simulation tests (Hive's contract against a real etcd too)"
start_etcd
LIS_TEST_ETCD=$ETCD_ENDPOINT LIS_REQUIRE_ETCD=1 swift test 2>&1 | tee "$log" | grep -E '✘|error:|Test run with' || true
if ! grep -q 'Test run with .* passed' "$log"; then
    echo "swift test failed; the failures:"
    grep -E '✘|error:' "$log" | head -n 60
    exit 1
fi
stop_etcd

echo "== the seed's scenario from the command line"
# The seed draws the student's region and document blocks; the check reads both from the
# scenario itself (its exported trace), not from a copy of the generator.
swift run -c debug lis sim export sydney-student "$scenario" --seed 1 > /dev/null
swift run -c debug lis sim run --scenario sydney-student --seed 1 --json > "$sim"
python3 - "$sim" "$scenario/trace.jsonl" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
student = [json.loads(line) for line in open(sys.argv[2])]
student = [op for op in student if op["client"] == "student"]
region = student[0]["region"]
documents = sorted({op["offset"] >> 20 for op in student if op["op"] == "write"})
moved = sorted(m["block"] for m in d["moves"])
ok = (len(documents) == 16 and documents == list(range(documents[0], documents[0] + 16))
      and all(op["region"] == region for op in student) and region != "nyc"
      and moved == documents and all(m["to"] == region for m in d["moves"])
      and d["safety"]["violations"] == 0 and d["regions"][region]["local_write_fraction"] >= 0.95)
print(f"sydney-student: student in {region}, documents {documents[0]}-{documents[-1]}: {len(moved)} moves, "
      f"slow writes before move {d['slow_writes_before_move']}, {region} p50 {d['regions'][region]['p50_write_ms']} ms, "
      f"violations {d['safety']['violations']}")
sys.exit(0 if ok else 1)
PY

echo "== the node with real NBD clients"
scripts/test-node.sh

echo "== the Proxmox VE storage plugin against a live node, with real NBD clients"
scripts/test-proxmox.sh

echo "== the Debian package: built, lintian, installed under systemd in a copy of this machine"
scripts/test-package.sh

echo "== a cluster of real processes: two regions on etcd, WAN emulated"
scripts/test-cluster.sh

echo "== the swarm: 200 seeds with faults (eager tiers, then adaptive), then each mutant must be caught"
swarm=.build/release/lis
# The least steals each run must show, so that it cannot pass by moving nothing (adaptive moves
# a block only when it pays: about 850 steals in these 200 seeds, against tiers' 4,400).
for run in tiers:1000 adaptive:400; do
    "$swarm" sim swarm --seeds 200 --json --policy "${run%%:*}" > "$sim"
    python3 - "$sim" "${run##*:}" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
least = int(sys.argv[2])
faults = ", ".join(f"{k} {v}" for k, v in d["faults"].items())
print(f"swarm ({d['policy']}): {d['seeds']} seeds, {d['violations']} violations, {d['liveness_failures']} liveness failures, "
      f"{d['steals']} steals, {d['ops_checked']} checks, {d['unknown_linearizability']} seeds with an unknown block, "
      f"{d['wall_seconds']} s\nfaults: {faults}")
missing = [k for k, v in d["faults"].items() if v == 0]
if missing: print(f"fault kinds never injected: {missing}")
sys.exit(0 if d["violations"] == 0 and d["liveness_failures"] == 0 and d["steals"] > least and not missing else 1)
PY
done
for mutant in no-fence accept-stale-epoch ack-before-quorum skip-transfer flush-counts-any-sync; do
    "$swarm" sim swarm --seeds 200 --json --mutant "$mutant" 2>/dev/null > "$sim"
    python3 - "$sim" "$mutant" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
caught = d["violations"] > 0
print(f"mutant {sys.argv[2]}: {'caught' if caught else 'NOT CAUGHT'} ({len(d['failed_seeds'])} of {d['seeds']} seeds fail)")
sys.exit(0 if caught else 1)
PY
done

echo "== the SPIN model of the steal (exhaustive), its mutants and the rules it found"
scripts/spin-check.sh | grep -v '^      '

echo "== the linearizability checker against Jepsen's reference verdicts"
.build/release/lis check jepsen testdata/jepsen-etcd/*.log > "$sim" || true
python3 - "$sim" testdata/jepsen-etcd/verdicts.txt <<'PY'
import sys
got = dict(line.split()[:2] for line in open(sys.argv[1]) if line.strip())
want = dict(line.split()[:2] for line in open(sys.argv[2]) if line.strip())
agree = sum(1 for f, v in want.items() if got.get("testdata/jepsen-etcd/" + f) == v)
print(f"lis check jepsen: {agree} of {len(want)} reference verdicts agree")
sys.exit(0 if agree == len(want) == 70 else 1)
PY

total=$(grep -oE 'Test run with [0-9]+ tests' "$log" | grep -oE '[0-9]+' | head -n 1)
echo "swift test: $total passed, 0 failed"
