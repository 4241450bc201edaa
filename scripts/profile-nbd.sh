#!/usr/bin/env bash
# Profiles `lis serve` under fio's 4 KiB random writes (QD32 unless QD says) into the first 256 MiB of a fresh
# 1 GiB volume (bench-nbd.sh's cached working set) with perf, and prints where the node's time
# goes: the share of samples per thread, per library and per function (demangled).
#
#   scripts/profile-nbd.sh [SECONDS]     (default 8 s of samples at 999 Hz)
#
# QD=1 profiles at another queue depth; KEEP_PERF=FILE keeps perf's data there (for
# `perf report -i FILE` with other sort keys or call graphs).
#
# Needs perf (Debian: linux-perf) and root or kernel.perf_event_paranoid <= 1.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-8}
"$root/scripts/install-deps.sh"
command -v perf >/dev/null || { apt-get install -y -qq linux-perf >/dev/null; }
(cd "$root" && swift build -c release --static-swift-stdlib --product lis 2>&1 | tail -n 1)
lis="$root/.build/release/lis"

work=$(mktemp -d /tmp/lis-profile.XXXXXX)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; [ -n "${KEEP_PERF:-}" ] && cp "$work/perf.data" "$KEEP_PERF"; rm -rf "$work"' EXIT
cd "$work"
# shellcheck source=lib/bench-servers.sh
. "$root/scripts/lib/bench-servers.sh"
start_lis "$lis" "$work/lis" 7792
pid=$server_pid
uri=$(lis_uri "$work/lis")
fio --name=p --ioengine=nbd --uri="$uri" --rw=randwrite --bs=4k --iodepth="${QD:-32}" --size=256M --time_based \
    --runtime=$((seconds + 4)) --output-format=json --output=fio.json >/dev/null &
fio_pid=$!
sleep 2
perf record -q -F 999 -g -p "$pid" -o perf.data -- sleep "$seconds" 2>/dev/null
wait "$fio_pid"
iops=$(python3 -c 'import json; print(round(json.load(open("fio.json"))["jobs"][0]["write"]["iops"]))')
echo "4 KiB randwrite QD${QD:-32}, cached working set: $iops IOPS while profiled ($seconds s at 999 Hz)"
echo
echo "== by thread"
perf report -i perf.data --stdio --no-children --sort comm 2>/dev/null | grep -E '^ +[0-9]' | head -n 8
echo
echo "== by library"
perf report -i perf.data --stdio --no-children --sort dso 2>/dev/null | grep -E '^ +[0-9]' | head -n 8
echo
echo "== by function (self time, top 40)"
perf report -i perf.data --stdio --no-children --sort symbol -g none 2>/dev/null | grep -E '^ +[0-9]' | head -n 40 |
    swift demangle --simplified | cut -c1-160
