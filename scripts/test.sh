#!/usr/bin/env bash
# The README's test command: builds Lis and runs every test suite, then the node's end-to-end
# tests with real NBD clients. It installs what the tests need (apt packages: qemu-utils,
# nbdkit, libnbd-bin, fio, python3-libnbd), so it works on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh

log=$(mktemp)
sim=$(mktemp)
trap 'rm -f "$log" "$sim"' EXIT

echo "== build"
swift build --build-tests 2>&1 | tail -n 3

echo "== unit, scenario and simulation tests"
swift test 2>&1 | tee "$log" | grep -E '✘|error:|Test run with' || true
if ! grep -q 'Test run with .* passed' "$log"; then
    echo "swift test failed; the failures:"
    grep -E '✘|error:' "$log" | head -n 60
    exit 1
fi

echo "== the seed's scenario from the command line"
swift run -c debug lis sim run --scenario sydney-student --json > "$sim"
python3 - "$sim" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
moved = sorted(m["block"] for m in d["moves"])
ok = (moved == list(range(900, 916)) and d["safety"]["violations"] == 0
      and d["regions"]["sydney"]["local_write_fraction"] >= 0.95)
print(f"sydney-student: {len(moved)} moves, slow writes before move {d['slow_writes_before_move']}, "
      f"sydney p50 {d['regions']['sydney']['p50_write_ms']} ms, violations {d['safety']['violations']}")
sys.exit(0 if ok else 1)
PY

echo "== the node with real NBD clients"
scripts/test-node.sh

total=$(grep -oE 'Test run with [0-9]+ tests' "$log" | grep -oE '[0-9]+' | head -n 1)
echo "swift test: $total passed, 0 failed"
