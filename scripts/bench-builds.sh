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
# run starts after a `sync` and a second's pause. The builds swap data directories every round,
# so both must read the same storage format (any two builds of one format version).
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
# shellcheck source=lib/bench-servers.sh
. "$root/scripts/lib/bench-servers.sh"
declare -A binary=([this]="$this" [other]="$other") port=([this]=7797 [other]=7798) uri
# The two builds swap data directories (and which starts first) every round: with each build
# on a directory of its own, the same binary on both sides ran 4 KiB writes a fifth slower on
# the first directory in every round, which was the directory's doing, not the build's.
serve_builds() {  # serve_builds ROUND
    local first=this second=other
    [ $(($1 % 2)) -eq 0 ] && first=other second=this
    for v in this other; do
        if [ -n "${pid[$v]:-}" ]; then kill "${pid[$v]}" 2>/dev/null; wait "${pid[$v]}" 2>/dev/null || true; fi
    done
    start_lis "${binary[$first]}" "$work/a" "${port[$first]}"
    pid[$first]=$server_pid
    uri[$first]=$(lis_uri "$work/a")
    start_lis "${binary[$second]}" "$work/b" "${port[$second]}"
    pid[$second]=$server_pid
    uri[$second]=$(lis_uri "$work/b")
}
serve_builds 1
start_nbdkit "$work/nbdkit.img" "$work/nbdkit.sock"
pid[nbdkit]=$server_pid
uri[nbdkit]=$(nbdkit_uri "$work/nbdkit.sock")
for v in this other nbdkit; do fill "${uri[$v]}" 256M; done

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
    [ "$round" -gt 1 ] && serve_builds "$round"
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
