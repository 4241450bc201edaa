#!/usr/bin/env bash
# Model-checks the lease-steal protocol (model/steal.pml) with SPIN: the model must verify
# exhaustively in every configuration, and every mutant must produce a counterexample.
# See model/README.md for what each run means.
#
#   scripts/spin-check.sh            all runs (a few minutes on 2 cores, < 2 GiB each)
#   SPIN_MEMLIM_MB=3000              memory cap per verifier run (default 2048)
#   SPIN_EXTENDED=1                  also a larger bound (about a minute more, ~2.5 GiB)
#
# Exits non-zero if a run of the protocol as built finds an error (or cannot complete), or a
# mutant (or the protocol without a rule the model found) is not caught. Leaves nothing in the repository: it works in a temporary directory.
set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
MODEL="$ROOT/model/steal.pml"
MEMLIM=${SPIN_MEMLIM_MB:-2048}
EXTENDED=${SPIN_EXTENDED:-0}
if [ "$EXTENDED" = "1" ] && [ "$MEMLIM" -lt 3000 ]; then MEMLIM=3000; fi

if ! command -v spin >/dev/null 2>&1; then
    echo "spin not found: installing the Debian package"
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get install -y spin >/dev/null 2>&1 || { $SUDO apt-get update >/dev/null 2>&1 && $SUDO apt-get install -y spin >/dev/null 2>&1; }
fi
command -v spin >/dev/null 2>&1 || { echo "spin: cannot install spin"; echo "spin: 0 passed, 1 failed"; exit 1; }
command -v gcc >/dev/null 2>&1 || { echo "spin: gcc is needed to compile the verifier"; echo "spin: 0 passed, 1 failed"; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/spin-check.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

passed=0
failed=0
total_start=$(date +%s)

# build <dir> <defines...>: generate and compile the verifier in <dir>
build() {
    local dir=$1; shift
    mkdir -p "$dir"
    cp "$MODEL" "$dir/steal.pml"
    (cd "$dir" && spin -a "$@" steal.pml >spin.out 2>&1) || { cat "$dir/spin.out"; return 1; }
    (cd "$dir" && gcc -O2 -w -DSAFETY -DCOLLAPSE -DVECTORSZ=4096 -DMEMLIM="$MEMLIM" -o pan pan.c >gcc.out 2>&1) \
        || { cat "$dir/gcc.out"; return 1; }
}

# search <dir>: run the verifier exhaustively (DFS, full state storage: no bitstate)
search() {
    local dir=$1
    local t0 t1
    t0=$(date +%s%N)
    (cd "$dir" && ./pan -m200000 -w25 >pan.out 2>&1)
    t1=$(date +%s%N)
    elapsed=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')
    errors=$(grep -o 'errors: [0-9]*' "$dir/pan.out" | awk '{ print $2 }')
    states=$(grep 'states, stored' "$dir/pan.out" | awk '{ print $1 }')
    memory=$(grep 'total actual memory usage' "$dir/pan.out" | awk '{ printf "%d", $1 }')
    violated=$(grep -m1 -o 'assertion violated [^ ]*' "$dir/pan.out" | sed 's/assertion violated //')
    incomplete=0
    grep -qE 'Search not completed|max search depth too small|out of memory|VECTORSZ too small' "$dir/pan.out" && incomplete=1
    : "${errors:=?}" "${states:=?}" "${memory:=?}"
}

# trace <dir> <defines...>: the counterexample as the model's MSC lines
trace() {
    local dir=$1; shift
    (cd "$dir" && spin -t "$@" steal.pml 2>/dev/null | grep 'MSC:' | sed 's/^ *MSC: /      /')
}

# verify <label> <defines...>: the model must verify with no error and a complete search
verify() {
    local label=$1; shift
    local dir="$WORK/run$((passed + failed))"
    if ! build "$dir" "$@"; then
        echo "$label: FAILED (the verifier did not build)"; failed=$((failed + 1)); return
    fi
    search "$dir"
    if [ "$errors" = "0" ] && [ "$incomplete" = "0" ]; then
        echo "$label: verified, $states states, 0 errors (${elapsed}s, ${memory} MB)"
        passed=$((passed + 1))
    elif [ "$errors" = "0" ]; then
        echo "$label: FAILED: search incomplete ($states states, ${memory} MB; raise SPIN_MEMLIM_MB?)"
        failed=$((failed + 1))
    else
        echo "$label: FAILED: $errors error(s), assertion violated ${violated:-?} (${elapsed}s)"
        trace "$dir" "$@"
        failed=$((failed + 1))
    fi
}

# unfixed <label> <defines...>: the protocol without one of the rules the model found
# necessary (model/README.md, "Findings"): it must still produce its counterexample, so the
# model keeps the teeth that found the bug.
unfixed() {
    local label=$1; shift
    local dir="$WORK/run$((passed + failed))"
    if ! build "$dir" "$@"; then
        echo "$label: FAILED (the verifier did not build)"; failed=$((failed + 1)); return
    fi
    search "$dir"
    if [ -n "$violated" ] && [ "$errors" != "0" ]; then
        echo "$label: counterexample found (assertion violated $violated, ${elapsed}s), as it must"
        passed=$((passed + 1))
    else
        echo "$label: NOT caught ($errors errors, $states states)"
        failed=$((failed + 1))
    fi
}

# mutant <name> <defines...>: the mutant must produce an assertion violation
mutant() {
    local name=$1; shift
    local dir="$WORK/run$((passed + failed))"
    if ! build "$dir" -DMUTANT_"$name" "$@"; then
        echo "mutant $name: FAILED (the verifier did not build)"; failed=$((failed + 1)); return
    fi
    search "$dir"
    if [ -n "$violated" ] && [ "$errors" != "0" ]; then
        echo "mutant $name: counterexample found (assertion violated $violated, $states states, ${elapsed}s)"
        passed=$((passed + 1))
    else
        echo "mutant $name: NOT caught ($errors errors, $states states)"
        failed=$((failed + 1))
    fi
}

A="-DW=3 -DMAXSTEAL=4"                                        # 2 regions x 1 node, lossy
C="-DCFG_C -DW=2 -DMAXSTEAL=2 -DQS=1"                         # 3 regions x 1 node, lossy
R3="-DCFG_R3 -DNOLOSS -DW=2 -DMAXSTEAL=1 -DQS=5"              # 1 region x 3 nodes
B="-DCFG_B -DNOLOSS -DPOLICY_GUARD -DW=1 -DMAXSTEAL=1 -DQS=5" # 3 nodes + 1 node
# 1 region x 3 nodes with a client FLUSH, one crash, lost accepts, the holder's renewal
R3F="-DCFG_R3 -DNOLOSS -DLOSE_ACCEPTS -DCRASH -DFLUSH -DSTEAL_RENEW -DW=2 -DMAXSTEAL=1 -DQS=6"
# the holder's claim for another node (PROTOCOL.md "The hand-over"), steals as well
H="-DHOLDER_CLAIMS -DW=2 -DMAXSTEAL=3"                                          # 2 regions x 1 node, lossy
HC="-DHOLDER_CLAIMS -DCRASH -DW=2 -DMAXSTEAL=2"                                 # ... crash/restart
HF="-DHOLDER_CLAIMS -DCRASH -DFLUSH -DW=2 -DMAXSTEAL=2"                         # ... and a flush
# from a block the last node already holds: the hand-over into (and out of) a 3-node region
HB="-DHOLDER_CLAIMS -DSTART_HELD -DCFG_B -DNOLOSS -DPOLICY_GUARD -DW=2 -DMAXSTEAL=1 -DQS=5"
HR3="-DHOLDER_CLAIMS -DSTART_HELD -DCFG_R3 -DNOLOSS -DW=2 -DMAXSTEAL=1 -DQS=7"

# The protocol as built includes both rules the model found (model/README.md, "Findings"):
# a restarted node takes a new epoch, and an accept names the holder's previous entry.
AS_BUILT="-DFIX_RESTART -DFIX_PREV_POSITION"

echo "== the protocol as built"
# shellcheck disable=SC2086
{
verify "steal model" $A $AS_BUILT
verify "steal model (3 regions x 1 node)" $C $AS_BUILT
verify "steal model (1 region x 3 nodes, no loss)" $R3 $AS_BUILT
verify "steal model (3+1 nodes, no loss)" $B $AS_BUILT
verify "steal model (2 regions x 1 node, crash/restart)" -DCRASH -DW=2 -DMAXSTEAL=3 $AS_BUILT
verify "steal model (1 region x 3 nodes, accepts may be lost)" $R3 -DLOSE_ACCEPTS $AS_BUILT
verify "steal model (1 region x 3 nodes, flush, crash/restart, accepts may be lost)" $R3F $AS_BUILT
verify "holder's claim (2 regions x 1 node, lossy)" $H $AS_BUILT
verify "holder's claim (2 regions x 1 node, crash/restart)" $HC $AS_BUILT
verify "holder's claim (2 regions x 1 node, flush, crash/restart)" $HF $AS_BUILT
verify "holder's claim (3+1 nodes, from a held block, no loss)" $HB $AS_BUILT
verify "holder's claim (1 region x 3 nodes, from a held block, no loss)" $HR3 $AS_BUILT
if [ "$EXTENDED" = "1" ]; then
    verify "steal model (3 regions x 1 node, 2 messages per link)" -DCFG_C -DW=2 -DMAXSTEAL=2 -DQS=2 $AS_BUILT
fi

echo "== without the rules the model found"
unfixed "without the restart rule (crash/restart)" -DCRASH -DW=2 -DMAXSTEAL=2 -DFIX_PREV_POSITION
unfixed "without log matching (accepts may be lost)" $R3 -DLOSE_ACCEPTS -DFIX_RESTART

echo "== mutants"
mutant NO_FENCE $A $AS_BUILT
mutant SKIP_TRANSFER $A $AS_BUILT
mutant ACK_BEFORE_QUORUM $R3 $AS_BUILT
mutant ACCEPT_STALE_EPOCH $R3 $AS_BUILT
mutant FLUSH_COUNTS_ANY_SYNC $R3F $AS_BUILT
mutant HANDOVER_SERVES_ON $H $AS_BUILT
mutant HANDOVER_IGNORES_FIT $HC $AS_BUILT
}

echo "spin: total time $(( $(date +%s) - total_start ))s"
echo "spin: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
