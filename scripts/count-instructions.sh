#!/usr/bin/env bash
# Counts the instructions `lis serve` runs per 4 KiB random write (valgrind's callgrind): the
# node's own cost per command, without the noise of timing. The same build gives the same
# count within about 1 %, so a change of a few percent, which no timed benchmark on a shared
# machine can see, shows here. User-space instructions only: the kernel's share (the pwrite,
# the socket) is not counted, nor is how long anything waits.
#
#   scripts/count-instructions.sh [LIS_BINARY ...]     (default: this tree's release build)
#
# Each binary serves a fresh 1 GiB volume (first 256 MiB written once) under valgrind; after
# 2,000 writes to warm up, callgrind counts the whole process over the next N (default
# 20,000) fio writes at QD32 (QD, RW and N change the job: RW=randread counts reads).
# KEEP=DIR keeps each callgrind file there, for `callgrind_annotate --inclusive=yes FILE`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
n=${N:-20000}
"$root/scripts/install-deps.sh"
command -v valgrind >/dev/null || { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind >/dev/null; }
if [ $# -eq 0 ]; then
    (cd "$root" && swift build -c release --static-swift-stdlib --product lis 2>&1 | tail -n 1)
    set -- "$root/.build/release/lis"
fi

# shellcheck source=lib/bench-servers.sh
. "$root/scripts/lib/bench-servers.sh"

count() {
    local bin=$1 work pid vpid
    work=$(mktemp -d /tmp/lis-count.XXXXXX)
    # valgrind cannot read the static binary's DWARF; its symbol table is enough.
    strip --strip-debug -o "$work/lis" "$bin"
    start_lis "$work/lis" "$work/d" 7799
    pid=$server_pid
    local uri
    uri=$(lis_uri "$work/d")
    fill "$uri" 256M
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    start_lis "$work/lis" "$work/d" 7799 valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$work/cg.out" \
        --log-file="$work/valgrind.log"
    vpid=$server_pid
    fio --name=warm --ioengine=nbd --uri="$uri" --rw="${RW:-randwrite}" --bs=4k --iodepth="${QD:-32}" --size=256M \
        --number_ios=2000 --randseed=3 --output=/dev/null
    callgrind_control -i on "$vpid" >/dev/null
    fio --name=count --ioengine=nbd --uri="$uri" --rw="${RW:-randwrite}" --bs=4k --iodepth="${QD:-32}" --size=256M \
        --number_ios="$n" --randseed=7 --output=/dev/null
    callgrind_control -d "$vpid" >/dev/null
    kill -INT "$vpid"
    wait "$vpid" 2>/dev/null || true
    local total
    total=$(grep -m1 '^summary:' "$work/cg.out.1" | awk '{print $2}')
    printf '%-50s %8d instructions per I/O (%s over %d)\n' "$bin" $((total / n)) "$total" "$n"
    if [ -n "${KEEP:-}" ]; then mkdir -p "$KEEP" && cp "$work/cg.out.1" "$KEEP/$(basename "$(dirname "$bin")")-$(basename "$bin").callgrind"; fi
    rm -rf "$work"
}

for bin in "$@"; do count "$bin"; done
