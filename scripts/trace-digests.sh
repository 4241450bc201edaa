#!/usr/bin/env bash
# Prints the trace digests a refactoring must keep: every built-in scenario under the given
# policies (`lis sim run --json`'s `digest`), and the event traces of sampled swarm seeds with
# faults (sha256 of `lis sim swarm --trace`). Run it before and after a change that is meant
# to keep behaviour, and diff the two outputs:
#
#   scripts/trace-digests.sh > /tmp/before.txt    (on the old commit)
#   scripts/trace-digests.sh > /tmp/after.txt     (on the new one)
#   diff /tmp/before.txt /tmp/after.txt
#
#   LIS=path/to/lis        the binary to use (default: .build/release/lis, built if missing)
#   POLICIES="tiers adaptive"   policies for the built-in scenarios
#   SEEDS="1 7 42 99 150"  swarm seeds to trace
set -euo pipefail
cd "$(dirname "$0")/.."
LIS=${LIS:-.build/release/lis}
[ -x "$LIS" ] || swift build -c release --static-swift-stdlib --product lis >/dev/null
POLICIES=${POLICIES:-"tiers adaptive"}
SEEDS=${SEEDS:-"1 7 42 99 150"}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

for scenario in $("$LIS" sim list); do
    for policy in $POLICIES; do
        digest=$("$LIS" sim run --scenario "$scenario" --policy "$policy" --json | python3 -c 'import json, sys; print(json.load(sys.stdin)["digest"])')
        echo "scenario $scenario $policy $digest"
    done
done
for seed in $SEEDS; do
    for policy in $POLICIES; do
        "$LIS" sim swarm --start "$seed" --seeds 1 --policy "$policy" --trace "$work/trace" >/dev/null 2>&1 || true
        echo "swarm $seed $policy $(sha256sum < "$work/trace" | cut -c1-16)"
    done
done
