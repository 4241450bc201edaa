#!/usr/bin/env bash
# Compares this tree's `lis` with another build of it (and `nbdkit file`) on the same fio jobs,
# run in turn on the same machine, and prints medians with each server's CPU time per I/O,
# user and system apart: what a change to the data path saves, measured against the build
# before it in the same run.
#
#   scripts/bench-builds.sh OTHER_LIS [ROUNDS]      (default 3 rounds)
#
# OTHER_LIS is a `lis` binary built from another commit, e.g.
#   git worktree add /tmp/base HEAD~1 && (cd /tmp/base && swift build -c release --static-swift-stdlib --product lis)
#   scripts/bench-builds.sh /tmp/base/.build/release/lis
# Each server gets a fresh 1 GiB volume (first 256 MiB written once). Jobs (fio ioengine=nbd,
# unix socket, 4 s each): 4 KiB random writes and reads at QD32, random writes at QD1, 1 MiB
# sequential writes and reads at QD8, and 4 KiB random writes and reads on two connections at
# QD16 each (w2conn, r2conn). BENCH_ONLY (a bash regular expression over the job names wQD32
# rQD32 wQD1 seqW seqR w2conn r2conn) picks jobs. The CPU figures are the servers' user and
# system time over the job (all threads, from /proc) divided by the I/Os fio completed. Each
# run starts after a `sync` and a second's pause.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
other=${1:?usage: scripts/bench-builds.sh OTHER_LIS [ROUNDS]}
rounds=${2:-3}
only=${BENCH_ONLY:-.}
[ -x "$other" ] || { echo "bench-builds: $other is not an executable" >&2; exit 2; }
"$root/scripts/install-deps.sh"
(cd "$root" && swift build -c release --static-swift-stdlib --product lis 2>&1 | tail -n 1)
this="$root/.build/release/lis"

work=$(mktemp -d /tmp/lis-bench-builds.XXXXXX)
declare -A pid
trap 'for p in "${pid[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$work"' EXIT
cd "$work"
declare -A binary=([this]="$this" [other]="$other") port=([this]=7797 [other]=7798)
for v in this other; do
    "${binary[$v]}" serve --data-dir "$work/$v" --nbd-address none --http-address "127.0.0.1:${port[$v]}" \
        --log-level warning 2>>"$v.log" &
    pid[$v]=$!
done
for v in this other; do
    for _ in $(seq 300); do curl -sf "http://127.0.0.1:${port[$v]}/v1/status" >/dev/null && break; sleep 0.1; done
    "$this" volume create bench --size 1G --api "http://127.0.0.1:${port[$v]}" >/dev/null
done
truncate -s 1G nbdkit.img
nbdkit --exit-with-parent -U "$work/nbdkit.sock" file file="$work/nbdkit.img" &
pid[nbdkit]=$!
for _ in $(seq 100); do [ -S "$work/nbdkit.sock" ] && break; sleep 0.1; done
declare -A uri=(
    [this]="nbd+unix:///bench?socket=$work/this/nbd.sock"
    [other]="nbd+unix:///bench?socket=$work/other/nbd.sock"
    [nbdkit]="nbd+unix:///?socket=$work/nbdkit.sock"
)
for v in this other nbdkit; do
    fio --name=fill --ioengine=nbd --uri="${uri[$v]}" --rw=write --bs=1M --iodepth=8 --size=256M --output=/dev/null
done

jobs=(
    "wQD32|--rw=randwrite --bs=4k --iodepth=32 --size=256M"
    "rQD32|--rw=randread --bs=4k --iodepth=32 --size=256M"
    "wQD1|--rw=randwrite --bs=4k --iodepth=1 --size=256M"
    "seqW|--rw=write --bs=1M --iodepth=8 --size=1G"
    "seqR|--rw=read --bs=1M --iodepth=8 --size=256M"
    "w2conn|--rw=randwrite --bs=4k --iodepth=16 --numjobs=2 --group_reporting --size=256M"
    "r2conn|--rw=randread --bs=4k --iodepth=16 --numjobs=2 --group_reporting --size=256M"
)
ticks() { awk '{print $14, $15}' "/proc/$1/stat"; }
: >results.txt
for round in $(seq "$rounds"); do
    for job in "${jobs[@]}"; do
        IFS='|' read -r name args <<<"$job"
        [[ "$name" =~ $only ]] || continue
        # Alternate which build goes first, so neither always follows the other's writeback.
        order="this other nbdkit"
        [ $((round % 2)) -eq 0 ] && order="other this nbdkit"
        for v in $order; do
            # Each run starts with no dirty pages of the run before: their writeback, which the
            # next run would pay for in system time, decided more than the builds did.
            sync
            sleep 1
            read -r u0 s0 < <(ticks "${pid[$v]}")
            # shellcheck disable=SC2086
            fio --name=b --ioengine=nbd --uri="${uri[$v]}" $args --time_based --runtime=4 --output-format=json \
                --output=out.json >/dev/null
            read -r u1 s1 < <(ticks "${pid[$v]}")
            python3 - "$name" "$v" "$u0" "$s0" "$u1" "$s1" "$(getconf CLK_TCK)" >>results.txt <<'PY'
import json, sys
name, server = sys.argv[1], sys.argv[2]
u0, s0, u1, s1, hz = map(int, sys.argv[3:])
j = json.load(open("out.json"))["jobs"][0]
side = j["write"] if j["write"]["io_bytes"] > 0 else j["read"]
ios = max(side["total_ios"], 1)
print(name, server, f'{side["iops"]:.0f}', f'{side["clat_ns"]["percentile"]["50.000000"] / 1000:.1f}',
      f"{(u1 - u0) / hz * 1e6 / ios:.2f}", f"{(s1 - s0) / hz * 1e6 / ios:.2f}")
PY
            echo "round $round  $(tail -n 1 results.txt)" >&2
        done
    done
done

python3 - "$rounds" <<'PY'
import collections, statistics, sys
rows = collections.defaultdict(list)
for line in open("results.txt"):
    name, server, *values = line.split()
    rows[(name, server)].append([float(v) for v in values])
print(f"\nmedians of {sys.argv[1]} rounds, fio ioengine=nbd, unix socket, 4 s per job; CPU = server time per I/O")
print(f"{'job':<7} {'server':<7} {'IOPS':>8} {'p50 µs':>8} {'user µs/IO':>11} {'sys µs/IO':>10}")
for name in ["wQD32", "rQD32", "wQD1", "seqW", "seqR", "w2conn", "r2conn"]:
    for server in ["this", "other", "nbdkit"]:
        if (name, server) not in rows:
            continue
        m = [statistics.median(r[i] for r in rows[(name, server)]) for i in range(4)]
        print(f"{name:<7} {server:<7} {m[0]:>8.0f} {m[1]:>8.1f} {m[2]:>11.2f} {m[3]:>10.2f}")
PY
