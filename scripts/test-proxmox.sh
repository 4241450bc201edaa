#!/usr/bin/env bash
# Tests of the Proxmox VE storage plugin (proxmox/PVE/Storage/Custom/LisPlugin.pm) without a
# Proxmox VE host: the PVE::* modules it uses are stubs in proxmox/t/lib. Starts a `lis serve` in
# a temporary directory, checks the plugin compiles, runs its Test::More tests (pure ones, and
# live ones against the node), then drives a volume from the plugin through real NBD clients the
# way PVE would: allocate it, hand path() to qemu-img and qemu-io, open it with the blockdev
# options PVE 9 would give QEMU, copy an image into it as a full clone does, and free it.
# It does not build Lis: it uses $LIS, by default the release build.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
lis=${LIS:-$root/.build/release/lis}
if [ ! -x "$lis" ]; then
    echo "no lis binary at $lis: build it (swift build -c release --static-swift-stdlib --product lis) or set LIS=/path/to/lis" >&2
    exit 1
fi

api=http://127.0.0.1:7880
if curl -s -o /dev/null "$api/"; then
    echo "port 7880 is taken (another lis serve?): this test needs it free" >&2
    exit 1
fi

work=$(mktemp -d /tmp/lis-proxmox-test.XXXXXX)
sock="$work/nbd.sock"
passed=0
failed=0
pid=
. "$root/scripts/lib/checks.sh"
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    cd /
    [ -n "${LIS_KEEP_TEST_DIR:-}" ] && echo "kept $work" || rm -rf "$work"
}
trap cleanup EXIT
cd "$root"

echo "== a Lis node for the plugin ($lis)"
"$lis" serve --data-dir "$work/data" --http-address 127.0.0.1:7880 --nbd-address none --nbd-socket "$sock" \
    >>"$work/serve.log" 2>&1 &
pid=$!
check "lis serve answers on $api and serves NBD on its socket" \
    wait_for 30 bash -c "curl -sf $api/v1/status > /dev/null && test -S '$sock'"

perl_plugin=(perl -Iproxmox -Iproxmox/t/lib)
export LIS_BIN="$lis" LIS_TEST_API="$api" LIS_TEST_SOCKET="$sock"

echo "== the plugin's Perl"
check "perl -c LisPlugin.pm (with the PVE stubs)" "${perl_plugin[@]}" -c proxmox/PVE/Storage/Custom/LisPlugin.pm
for t in proxmox/t/*.t; do
    # prove -v's whole output is kept; a failure shows its failing tests and their diagnostics.
    log="$work/$(basename "$t").log"
    check "prove $t" bash -c "prove -v -Iproxmox -Iproxmox/t/lib '$t' > '$log' 2>&1 || { grep -E '^(not ok|#)' '$log'; tail -n 3 '$log'; exit 1; }"
    echo "      $(grep -E '^(Files=|Result:)' "$log" | tr '\n' ' ')"
done

echo "== a volume from the plugin, through real NBD clients"
# plugin CODE: runs Perl with the plugin loaded, $p its class and $scfg a storage on this node.
plugin() {
    "${perl_plugin[@]}" -MPVE::Storage::Custom::LisPlugin -MJSON::PP -e '
        my $p = "PVE::Storage::Custom::LisPlugin";
        my $scfg = { type => "lis", "lis-api" => $ENV{LIS_TEST_API}, "lis-socket" => $ENV{LIS_TEST_SOCKET} };
    '"$1"
}
volname=$(plugin 'print $p->alloc_image("lis-e2e", $scfg, 4242, "raw", undef, 64 * 1024);')
check "alloc_image (64 MiB, no name) makes vm-4242-disk-0" test "$volname" = vm-4242-disk-0
path=$(plugin 'print scalar $p->path($scfg, "vm-4242-disk-0", "lis-e2e");')
check "path() is the NBD URI of the node's socket" test "$path" = "nbd+unix:///vm-4242-disk-0?socket=$sock"

check "qemu-img info on path() reports its 64 MiB" bash -c "
    qemu-img info -f raw --output=json '$path' | grep -q '\"virtual-size\": 67108864'"
check "qemu-io writes a pattern and flushes" bash -c "
    qemu-io -f raw '$path' -c 'write -P 0x5a 0 1M' -c flush 2>&1 | tee /dev/stderr | grep -q 'wrote 1048576/1048576 bytes'"
check "qemu-io reads the pattern back" bash -c "
    out=\$(qemu-io -f raw '$path' -c 'read -P 0x5a 0 1M' 2>&1); echo \"\$out\"
    ! grep -q 'Pattern verification failed' <<<\"\$out\" && grep -q 'read 1048576/1048576 bytes' <<<\"\$out\""
check "… and would notice another pattern (Pattern verification failed)" bash -c "
    qemu-io -f raw '$path' -c 'read -P 0xa5 0 1M' 2>&1 | grep -q 'Pattern verification failed'"

# A full clone (volume_has_feature copy) is PVE's qemu-img convert -p -n into the new volume
# (qemu-server, PVE::QemuServer::QemuImage::convert).
truncate -s 2M "$work/src.img"
qemu-io -f raw "$work/src.img" -c 'write -P 0x3c 0 2M' > /dev/null
check "qemu-img convert -p -n -f raw -O raw from a local file into path(), as a full clone does" \
    qemu-img convert -p -n -f raw -O raw "$work/src.img" "$path"
check "… reads back (qemu-io pattern)" bash -c "
    out=\$(qemu-io -f raw '$path' -c 'read -P 0x3c 0 2M' 2>&1); echo \"\$out\"
    ! grep -q 'Pattern verification failed' <<<\"\$out\" && grep -q 'read 2097152/2097152 bytes' <<<\"\$out\""
check "… and qemu-img compare finds it identical to the source" qemu-img compare -f raw -F raw "$work/src.img" "$path"

# PVE 9 gives QEMU -blockdev options from qemu_blockdev_options (here over the stub's base class,
# which builds the shape pve-storage 9.1 builds); QEMU must take them, reconnect-delay included.
blockdev=$(plugin 'print JSON::PP->new->canonical->encode({ driver => "raw",
    file => $p->qemu_blockdev_options($scfg, "lis-e2e", "vm-4242-disk-0", "10.0+pve0", {}) });')
check "qemu_blockdev_options has reconnect-delay 30 ($blockdev)" grep -q '"reconnect-delay":30' <<<"$blockdev"
check "qemu-io opens the volume with exactly those options and reads the pattern" bash -c "
    out=\$(qemu-io 'json:$blockdev' -c 'read -P 0x3c 0 1M' 2>&1); echo \"\$out\"
    ! grep -q 'Pattern verification failed' <<<\"\$out\" && grep -q 'read 1048576/1048576 bytes' <<<\"\$out\""

# A live migration opens the export on the target while the source still has it open: two
# clients of one volume, each seeing the other's writes.
qemu-io -f raw "$path" -c 'write -P 0x11 0 64k' -c flush -c 'sleep 3000' -c 'read -P 0x22 1M 64k' >"$work/source.out" 2>&1 &
source_pid=$!
sleep 1
check "a second client of the same volume (a migration's target) reads the first's write and writes its own" bash -c "
    out=\$(qemu-io -f raw '$path' -c 'read -P 0x11 0 64k' -c 'write -P 0x22 1M 64k' -c flush 2>&1); echo \"\$out\"
    ! grep -q 'Pattern verification failed' <<<\"\$out\" && grep -q 'wrote 65536/65536' <<<\"\$out\""
wait "$source_pid"
check "… and the first, still connected, reads the second's write" bash -c "
    cat '$work/source.out'; ! grep -q 'Pattern verification failed' '$work/source.out' && grep -q 'read 65536/65536' '$work/source.out'"

# Why volume_resize refuses a running VM: QEMU's nbd driver cannot grow a disk it has open
# (what PVE's block_resize would ask of it after the volume grew).
check "QEMU cannot grow an open NBD disk ('Cannot grow NBD nodes')" bash -c "
    qemu-io -f raw '$path' -c 'truncate 128M' 2>&1 | grep -q 'Cannot grow NBD nodes'"

check "free_image through the plugin" plugin '$p->free_image("lis-e2e", $scfg, "vm-4242-disk-0", 0, "raw");'
check "… and lis volume show fails" bash -c "
    ! '$lis' volume show vm-4242-disk-0 --api $api 2>'$work/show.err' && grep -q 'no volume named vm-4242-disk-0' '$work/show.err'"
check "… and qemu-img cannot open path() any more" bash -c "! qemu-img info -f raw '$path' 2>/dev/null"

check "the node is still up" kill -0 "$pid"

echo "proxmox tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
