#!/usr/bin/env bash
# The cluster benchmarks (docs/BENCHMARKS.md): builds lis (release), then runs
# scripts/bench-cluster.py with the system python3 that has libnbd. LIS_BENCH_ONLY=write-path
# or transfers runs one part.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
(cd "$root" && swift build -c release --static-swift-stdlib --product lis 2>&1 | tail -n 1) >&2
exec /usr/bin/python3 "$root/scripts/bench-cluster.py" "$@"
