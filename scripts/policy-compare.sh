#!/usr/bin/env bash
# Every policy on every built-in scenario and on the scenarios the policies were not designed
# on (scenarios/unseen/make.py), with the same seed: the table docs/POLICY.md records.
#   scripts/policy-compare.sh [OUT_DIR]      # OUT_DIR/builtin.md, unseen.md, svg/
# About 10 minutes on two cores (the two halves run side by side).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-policy-compare}"
mkdir -p "$out"
swift build -c release --static-swift-stdlib --product lis >&2
lis=.build/release/lis
python3 scenarios/unseen/make.py "$out/unseen" >&2
"$lis" sim compare --scenarios all --policies all --markdown --svg "$out/svg" > "$out/builtin.md" 2> "$out/builtin.log" &
builtin=$!
"$lis" sim compare --scenario-file "$out"/unseen/*/scenario.toml --policies all --markdown --svg "$out/svg" > "$out/unseen.md" 2> "$out/unseen.log" &
unseen=$!
status=0
wait $builtin || status=$?
wait $unseen || status=$?
cat "$out/builtin.md" "$out/unseen.md"
echo "pictures: $out/svg" >&2
exit $status
