#!/usr/bin/env bash
# How much of a QD1 write's latency is where the scheduler runs the server: 4 KiB random writes
# at QD1 (fio ioengine=nbd, unix socket, 4 s, first 256 MiB of a fresh 1 GiB volume written
# once) against `lis serve` and `nbdkit file`, each in three placements:
#   free  — no pinning (what scripts/bench-nbd.sh measures);
#   apart — fio on CPU 0, every thread of the server on CPU 1: each command wakes the other CPU;
#   same  — fio and the server both on CPU 0: a wake-up is a switch on the same CPU.
#
#   scripts/bench-placement.sh [ROUNDS]      (default 2; needs 2 or more CPUs and taskset)
#
# Prints IOPS and p50/p99 completion latency per server, placement and round.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
rounds=${1:-2}
[ "$(nproc)" -ge 2 ] || { echo "bench-placement: needs at least 2 CPUs" >&2; exit 2; }
"$root/scripts/install-deps.sh"
(cd "$root" && swift build -c release --static-swift-stdlib --product lis 2>&1 | tail -n 1)
lis="$root/.build/release/lis"

work=$(mktemp -d /tmp/lis-bench-placement.XXXXXX)
declare -A pid
trap 'for p in "${pid[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$work"' EXIT
cd "$work"
# shellcheck source=lib/bench-servers.sh
. "$root/scripts/lib/bench-servers.sh"
start_lis "$lis" "$work/lis" 7796
pid[lis]=$server_pid
start_nbdkit "$work/nbdkit.img" "$work/nbdkit.sock"
pid[nbdkit]=$server_pid
declare -A uri=([lis]=$(lis_uri "$work/lis") [nbdkit]=$(nbdkit_uri "$work/nbdkit.sock"))
for v in lis nbdkit; do fill "${uri[$v]}" 256M; done

printf '%-5s %-6s %-6s %8s %8s %8s\n' round server place IOPS 'p50 µs' 'p99 µs'
for round in $(seq "$rounds"); do
    for place in free apart same; do
        for v in lis nbdkit; do
            case $place in
            free) cpus=0-$(($(nproc) - 1)); client=() ;;
            apart) cpus=1; client=(--cpus_allowed=0) ;;
            same) cpus=0; client=(--cpus_allowed=0) ;;
            esac
            taskset -a -p -c "$cpus" "${pid[$v]}" >/dev/null
            fio --name=b --ioengine=nbd --uri="${uri[$v]}" --rw=randwrite --bs=4k --iodepth=1 --size=256M \
                --time_based --runtime=4 "${client[@]}" --output-format=json --output=out.json >/dev/null
            python3 - "$round" "$v" "$place" <<'PY'
import json, sys
w = json.load(open("out.json"))["jobs"][0]["write"]
p = w["clat_ns"]["percentile"]
print(f"{sys.argv[1]:<5} {sys.argv[2]:<6} {sys.argv[3]:<6} {w['iops']:>8.0f} {p['50.000000'] / 1000:>8.1f} {p['99.000000'] / 1000:>8.1f}")
PY
        done
    done
done
