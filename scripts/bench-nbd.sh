#!/usr/bin/env bash
# Benchmarks `lis serve` against `nbdkit file` on the same machine with the same fio jobs
# (ioengine=nbd over a unix socket), run alternately, and prints the medians side by side.
#
#   scripts/bench-nbd.sh [RUNS]      (default 3 runs of every job on each server)
#
# Two working sets, each on fresh disks of both servers:
#   cached     4 KiB jobs in the first 256 MiB of a fresh 1 GiB volume: once written, the data
#              lives in the page cache and the servers' own costs are what is measured;
#   prefilled  the whole 1 GiB, written once before the jobs: reads read data, not holes,
#              and writes wait on writeback as they would on a full disk.
# Jobs: 4 KiB random writes and reads at QD1 (p50/p99 latency) and QD32 (IOPS), 1 MiB
# sequential writes and reads at QD8 (MiB/s), and a mixed job (70 % reads, QD8) with a FLUSH
# every 64 writes, whose p99 write and flush latencies show what a flush costs other I/O.
# BENCH_RUNTIME (seconds, default 6) sets each job's length; BENCH_ONLY (a bash regular
# expression, such as 'mixed' or 'QD32') runs only the jobs whose names match. Both servers keep
# their data in one temporary directory on the same file system. After the table it prints each
# server's CPU use per job (cores) and, for QD32, CPU time per I/O: on a machine whose cores the
# client shares, a server that spends less CPU per I/O leaves more to the client. Each run
# starts after a `sync` and a second's pause.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-3}
runtime=${BENCH_RUNTIME:-6}
only=${BENCH_ONLY:-}
"$root/scripts/install-deps.sh"
(cd "$root" && swift build -c release --static-swift-stdlib --product lis 2>&1 | tail -n 1)
lis="$root/.build/release/lis"

work=$(mktemp -d /tmp/lis-bench.XXXXXX)
lis_pid=
kit_pid=
stop_servers() {
    [ -n "$lis_pid" ] && kill "$lis_pid" 2>/dev/null && wait "$lis_pid" 2>/dev/null
    [ -n "$kit_pid" ] && kill "$kit_pid" 2>/dev/null && wait "$kit_pid" 2>/dev/null
    lis_pid=
    kit_pid=
    true
}
trap 'stop_servers; rm -rf "$work"' EXIT
cd "$work"

size=1G
# shellcheck source=lib/bench-servers.sh
. "$root/scripts/lib/bench-servers.sh"
declare -A uri=([lis]=$(lis_uri "$work/lis") [nbdkit]=$(nbdkit_uri "$work/nbdkit.sock"))
start_servers() {  # fresh disks on both servers
    stop_servers
    rm -rf "$work/lis" "$work/nbdkit.img"
    start_lis "$lis" "$work/lis" 7790
    lis_pid=$server_pid
    start_nbdkit "$work/nbdkit.img" "$work/nbdkit.sock"
    kit_pid=$server_pid
}

# name | fio arguments | metric
jobs=(
    "4k randwrite QD1|--rw=randwrite --bs=4k --iodepth=1|lat"
    "4k randread QD1|--rw=randread --bs=4k --iodepth=1|lat"
    "4k randwrite QD32|--rw=randwrite --bs=4k --iodepth=32|iops"
    "4k randread QD32|--rw=randread --bs=4k --iodepth=32|iops"
    "1M seq write QD8|--rw=write --bs=1M --iodepth=8|mibs"
    "1M seq read QD8|--rw=read --bs=1M --iodepth=8|mibs"
    "mixed 4k, flush/64|--rw=randrw --rwmixread=70 --bs=4k --iodepth=8 --fsync=64|mixed"
)

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

declare -A results cpu
for set in cached prefilled; do
    start_servers
    if [ "$set" = cached ]; then
        range=256M
    else
        range=$size
        for s in lis nbdkit; do
            fill "${uri[$s]}" $size
        done
    fi
    for run in $(seq "$runs"); do
        for job in "${jobs[@]}"; do
            IFS='|' read -r name args metric <<<"$job"
            [[ -z "$only" || "$name" =~ $only ]] || continue
            # Sequential jobs always cover the whole volume: 256 MiB would be read from cache in a blink.
            [[ "$name" == 1M* ]] && span=$size || span=$range
            for s in lis nbdkit; do
                [ "$s" = lis ] && pid=$lis_pid || pid=$kit_pid
                # No run pays for the dirty pages of the one before: their writeback, charged
                # to whoever runs next, decided more than the servers did.
                sync
                sleep 1
                ticks0=$(cpu_ticks "$pid")
                start_ns=$(date +%s%N)
                # shellcheck disable=SC2086
                fio --name=b --ioengine=nbd --uri="${uri[$s]}" $args --size=$span --time_based --runtime="$runtime" \
                    --ramp_time=1 --output-format=json --output=out.json >/dev/null
                value=$(python3 - "$metric" <<'PY'
import json, sys
j = json.load(open("out.json"))["jobs"][0]
m = sys.argv[1]
def pct(side, p):
    return side["clat_ns"]["percentile"][p] / 1000
if m == "mixed":
    w, sync = j["write"], j["sync"]
    print(f'{pct(w, "99.000000"):.1f} {sync["lat_ns"]["percentile"]["99.000000"]/1000:.1f}')
    sys.exit()
side = j["write"] if j["write"]["io_bytes"] > 0 else j["read"]
if m == "lat":
    print(f'{pct(side, "50.000000"):.1f} {pct(side, "99.000000"):.1f}')
elif m == "iops":
    print(f'{side["iops"]:.0f}')
else:
    print(f'{side["bw_bytes"]/1048576:.0f}')
PY
)
                results["$set|$name|$s"]+="$value;"
                # The server's CPU time (user + system, every thread) over the job, in cores.
                cores=$(python3 -c "print(f'{($(cpu_ticks "$pid") - $ticks0) / $(getconf CLK_TCK) / (($(date +%s%N) - $start_ns) / 1e9):.2f}')")
                cpu["$set|$name|$s"]+="$cores;"
                echo "$set run $run  $name  $s: $value ($cores cores)" >&2
            done
        done
    done
done
stop_servers

python3 - "$runs" <<PY
import statistics
rows = """$(for k in "${!results[@]}"; do echo "$k=${results[$k]}"; done)"""
cpu_rows = """$(for k in "${!cpu[@]}"; do echo "$k=${cpu[$k]}"; done)"""
data = {}
for line in rows.strip().splitlines():
    key, values = line.split("=", 1)
    working_set, name, server = key.split("|")
    data.setdefault((working_set, name), {})[server] = [v for v in values.split(";") if v]
order = ["4k randwrite QD1", "4k randread QD1", "4k randwrite QD32", "4k randread QD32", "1M seq write QD8",
         "1M seq read QD8", "mixed 4k, flush/64"]
labels = {"QD1": ["p50 lat µs", "p99 lat µs"], "flush/64": ["write p99 µs", "flush p99 µs"]}
print(f"\nmedians of $runs runs each, fio ioengine=nbd, unix socket, runtime ${runtime}s")
print(f"{'working set':<11} {'job':<20} {'metric':<13} {'lis':>9} {'nbdkit file':>12} {'lis/nbdkit':>11}")
def med(vals, i=0):
    return statistics.median(float(v.split()[i]) for v in vals)
for working_set in ["cached", "prefilled"]:
    for name in order:
        d = data.get((working_set, name))
        if d is None:
            continue
        two = next((v for k, v in labels.items() if name.endswith(k)), None)
        if two:
            for i, label in enumerate(two):
                a, b = med(d["lis"], i), med(d["nbdkit"], i)
                print(f"{working_set:<11} {name:<20} {label:<13} {a:>9.1f} {b:>12.1f} {a/b:>10.2f}×")
        else:
            label = "IOPS" if "4k" in name else "MiB/s"
            a, b = med(d["lis"]), med(d["nbdkit"])
            print(f"{working_set:<11} {name:<20} {label:<13} {a:>9.0f} {b:>12.0f} {a/b:>10.2f}×")
cpu = {}
for line in cpu_rows.strip().splitlines():
    key, values = line.split("=", 1)
    cpu[tuple(key.split("|"))] = [float(v) for v in values.split(";") if v]
print("\nserver CPU while the job ran (user + system time of all its threads / wall time; a loaded")
print("single-threaded server shows about 1.0), medians, and for QD32 jobs the CPU time per I/O")
print(f"{'working set':<11} {'job':<20} {'lis cores':>10} {'nbdkit cores':>13} {'lis µs/IO':>10} {'nbdkit µs/IO':>13}")
for working_set in ["cached", "prefilled"]:
    for name in order:
        if (working_set, name, "lis") not in cpu:
            continue
        a, b = (statistics.median(cpu[(working_set, name, s)]) for s in ("lis", "nbdkit"))
        line = f"{working_set:<11} {name:<20} {a:>10.2f} {b:>13.2f}"
        if name.endswith("QD32"):
            ia, ib = med(data[(working_set, name)]["lis"]), med(data[(working_set, name)]["nbdkit"])
            line += f" {a * 1e6 / ia:>10.1f} {b * 1e6 / ib:>13.1f}"
        print(line)
PY
