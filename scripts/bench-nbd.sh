#!/usr/bin/env bash
# Benchmarks `lis serve` against `nbdkit file` on the same machine with the same fio jobs
# (ioengine=nbd over a unix socket), run alternately, and prints the medians side by side.
#
#   scripts/bench-nbd.sh [RUNS]      (default 3 runs of every job on each server)
#
# Both servers keep their data in files in one temporary directory on the same file system.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-3}
runtime=${BENCH_RUNTIME:-6}
"$root/scripts/install-deps.sh"
(cd "$root" && swift build -c release --product lis 2>&1 | tail -n 1)
lis="$root/.build/release/lis"

work=$(mktemp -d /tmp/lis-bench.XXXXXX)
lis_pid=
kit_pid=
cleanup() {
    [ -n "$lis_pid" ] && kill "$lis_pid" 2>/dev/null && wait "$lis_pid" 2>/dev/null
    [ -n "$kit_pid" ] && kill "$kit_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
cd "$work"

size=1G
"$lis" serve --data-dir "$work/lis" --nbd-address none --http-address 127.0.0.1:7790 --log-level warning 2>lis.log &
lis_pid=$!
for _ in $(seq 300); do curl -sf http://127.0.0.1:7790/v1/status >/dev/null && break; sleep 0.1; done
"$lis" volume create bench --size $size --api http://127.0.0.1:7790 >/dev/null
truncate -s $size "$work/nbdkit.img"
nbdkit --exit-with-parent -U "$work/nbdkit.sock" file file="$work/nbdkit.img" &
kit_pid=$!
for _ in $(seq 100); do [ -S "$work/nbdkit.sock" ] && break; sleep 0.1; done

declare -A uri=(
    [lis]="nbd+unix:///bench?socket=$work/lis/nbd.sock"
    [nbdkit]="nbd+unix:///?socket=$work/nbdkit.sock"
)
# Fill both disks once so reads read data, not holes.
for s in lis nbdkit; do
    fio --name=fill --ioengine=nbd --uri="${uri[$s]}" --rw=write --bs=1M --iodepth=8 --size=$size --output=/dev/null
done

# name | fio arguments | metric
jobs=(
    "4k randwrite QD1|--rw=randwrite --bs=4k --iodepth=1|lat"
    "4k randwrite QD32|--rw=randwrite --bs=4k --iodepth=32|iops"
    "4k randread QD32|--rw=randread --bs=4k --iodepth=32|iops"
    "1M seq write QD8|--rw=write --bs=1M --iodepth=8|mibs"
    "1M seq read QD8|--rw=read --bs=1M --iodepth=8|mibs"
)

declare -A results
for run in $(seq "$runs"); do
    for job in "${jobs[@]}"; do
        IFS='|' read -r name args metric <<<"$job"
        for s in lis nbdkit; do
            # shellcheck disable=SC2086
            fio --name=b --ioengine=nbd --uri="${uri[$s]}" $args --size=$size --time_based --runtime="$runtime" \
                --ramp_time=1 --output-format=json --output=out.json >/dev/null
            value=$(python3 - "$metric" <<'PY'
import json, sys
j = json.load(open("out.json"))["jobs"][0]
side = j["write"] if j["write"]["io_bytes"] > 0 else j["read"]
m = sys.argv[1]
if m == "lat":
    p = side["clat_ns"]["percentile"]
    print(f'{p["50.000000"]/1000:.1f} {p["99.000000"]/1000:.1f}')
elif m == "iops":
    print(f'{side["iops"]:.0f}')
else:
    print(f'{side["bw_bytes"]/1048576:.0f}')
PY
)
            results["$name|$s"]+="$value;"
            echo "run $run  $name  $s: $value" >&2
        done
    done
done

python3 - "$runs" <<PY
import statistics
rows = """$(for k in "${!results[@]}"; do echo "$k=${results[$k]}"; done)"""
data = {}
for line in rows.strip().splitlines():
    key, values = line.split("=", 1)
    name, server = key.split("|")
    data.setdefault(name, {})[server] = [v for v in values.split(";") if v]
order = ["4k randwrite QD1", "4k randwrite QD32", "4k randread QD32", "1M seq write QD8", "1M seq read QD8"]
print(f"\nmedians of $runs runs each, fio ioengine=nbd, unix socket, runtime ${runtime}s")
print(f"{'job':<22} {'metric':<14} {'lis':>10} {'nbdkit file':>12} {'lis/nbdkit':>11}")
def med(vals, i=0):
    return statistics.median(float(v.split()[i]) for v in vals)
for name in order:
    d = data[name]
    if name.endswith("QD1"):
        for i, label in enumerate(["p50 lat µs", "p99 lat µs"]):
            a, b = med(d["lis"], i), med(d["nbdkit"], i)
            print(f"{name:<22} {label:<14} {a:>10.1f} {b:>12.1f} {a/b:>10.2f}×")
    else:
        label = "IOPS" if "4k" in name else "MiB/s"
        a, b = med(d["lis"]), med(d["nbdkit"])
        print(f"{name:<22} {label:<14} {a:>10.0f} {b:>12.0f} {a/b:>10.2f}×")
PY
