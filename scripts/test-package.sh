#!/usr/bin/env bash
# Builds the Debian package (scripts/build-deb.sh, lintian included) and installs it into a
# throwaway copy of this machine booted under systemd: an overlay of / in private mount, PID,
# network and IPC namespaces, with systemd as its PID 1. There `dpkg -i` runs the maintainer
# scripts for real (the lis user, enabling and starting lis.service), the node runs as the unit
# says (Type=notify, the lis user, the hardening), the installed Proxmox plugin allocates a
# volume and qemu-io writes it through the path the plugin returns, a restart keeps the data,
# `dpkg -r` keeps the volumes and `dpkg -P` deletes them. Nothing reaches the real system: the
# overlay's upper directory is removed at the end. Run by scripts/test.sh.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"

work=$(mktemp -d /tmp/lis-package-test.XXXXXX)
passed=0
failed=0
. "$root/scripts/lib/checks.sh"
sd=
cleanup() {
    [ -n "$sd" ] && kill -KILL "$sd" 2>/dev/null
    sleep 1
    [ -n "${LIS_KEEP_TEST_DIR:-}" ] && echo "kept $work" || rm -rf "$work"
}
trap cleanup EXIT

echo "== scripts/build-deb.sh"
check "the package builds and lintian reports no error or warning" bash -c "'$root/scripts/build-deb.sh' '$work/out' > '$work/build.log' 2>&1"
tail -n 4 "$work/build.log"
deb=$(ls "$work"/out/lis_*_*.deb 2>/dev/null | head -n 1)
if [ -z "$deb" ]; then
    cat "$work/build.log"
    echo "package tests: $passed passed, $failed failed"
    exit 1
fi
version=$(dpkg-deb -f "$deb" Version)
check "the package holds the binary, its lis-cluster name, the config, the unit, the plugin and man pages" bash -c "
    dpkg-deb -c '$deb' > '$work/contents' &&
    for f in ./usr/bin/lis ./usr/bin/lis-cluster ./etc/lis/lis.toml ./lib/systemd/system/lis.service \
        ./usr/share/perl5/PVE/Storage/Custom/LisPlugin.pm ./usr/share/man/man1/lis.1.gz ./usr/share/man/man1/lis.serve.1.gz \
        ./usr/share/man/man1/lis.volume.create.1.gz ./usr/share/doc/lis/copyright ./usr/share/doc/lis/PROXMOX.md.gz; do
        grep -q \" \$f\\(\$\\| ->\\)\" '$work/contents' || { echo \"missing \$f\"; exit 1; }
    done"
check "/etc/lis/lis.toml is a conffile" bash -c "dpkg-deb --ctrl-tarfile '$deb' | tar -xO ./conffiles | grep -qx /etc/lis/lis.toml"

echo "== a copy of this machine under systemd"
merged="$work/merged"
mkdir -p "$work/upper" "$work/overlay-work" "$merged"
cat >"$work/boot.sh" <<EOF
set -e
mount -t overlay overlay -o lowerdir=/,upperdir=$work/upper,workdir=$work/overlay-work $merged
mount --rbind /dev $merged/dev
mount -t proc proc $merged/proc
mount --rbind /sys $merged/sys
mount -t tmpfs tmpfs $merged/run
mount -t tmpfs tmpfs $merged/tmp
exec chroot $merged /usr/bin/env -i container=lis-test PATH=/usr/sbin:/usr/bin:/sbin:/bin \
    /lib/systemd/systemd --unit=basic.target --log-target=console
EOF
unshare --pid --fork --mount --uts --ipc --net --propagation private bash "$work/boot.sh" >"$work/boot.log" 2>&1 &
for _ in $(seq 100); do
    sd=$(pgrep -f -n "^/lib/systemd/systemd --unit=basic.target --log-target=console") && break
    sleep 0.1
done
inside() {  # inside COMMAND...: runs a command in the copy, as root, with the copy's systemd
    nsenter -t "$sd" -m -p -u -n -i chroot "$merged" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "$@"
}
export -f inside
export sd merged
booted() { state=$(inside systemctl is-system-running 2>/dev/null); [ "$state" = running ] || [ "$state" = degraded ]; }
if [ -z "$sd" ] || ! wait_for 60 booted; then
    # Some machines do not let systemd run in a namespace (no overlayfs, no cgroups): say so.
    echo "SKIPPED: systemd did not boot in a namespace on this machine, so the package was not installed here:"
    tail -n 20 "$work/boot.log"
    echo "package tests: $passed passed, $failed failed"
    exit $((failed > 0))
fi
echo "systemd $(inside systemctl --version | head -n 1 | cut -d' ' -f2) is PID 1 of the copy ($(inside systemctl is-system-running))"
inside ip link set lo up
# Container images ship a policy-rc.d that forbids starting services during installs; a real
# host (a Proxmox node) has none, and the copy is to behave as one.
inside rm -f /usr/sbin/policy-rc.d
inside sh -c 'cat > /root/lis.deb' <"$deb"
tar -C "$root/proxmox/t" -cf - lib | inside sh -c 'mkdir -p /root/pve-stubs && tar -C /root/pve-stubs -xf -'

echo "== dpkg -i"
check "dpkg -i installs it (the maintainer scripts run)" bash -c "inside dpkg -i /root/lis.deb > '$work/dpkg-i.log' 2>&1"
check "the lis system user exists, its home the state directory" bash -c "
    inside getent passwd lis | grep -q '^lis:x:[0-9]*:[0-9]*:.*:/var/lib/lis:/usr/sbin/nologin$'"
check "lis --version and lis-cluster --version print $version" bash -c "
    [ \"\$(inside lis --version)\" = '$version' ] && [ \"\$(inside lis-cluster --version)\" = '$version' ]"
check "systemd-analyze verify accepts the unit" bash -c "
    out=\$(inside systemd-analyze verify /lib/systemd/system/lis.service 2>&1); echo \"\$out\"; [ -z \"\$out\" ]"
check "the man pages open: man lis.volume.create" bash -c "
    inside man -P cat lis.volume.create 2>/dev/null | grep -q 'lis volume create'"
check "lis.service is enabled and active (Type=notify: ready once NBD and the API listen)" wait_for 30 bash -c "
    [ \"\$(inside systemctl is-enabled lis)\" = enabled ] && [ \"\$(inside systemctl is-active lis)\" = active ]"
check "… its status line says where it serves" bash -c "
    inside systemctl show -p StatusText --value lis | grep -q 'NBD on /run/lis/nbd.sock; API on http://127.0.0.1:7780'"
check "… it runs as lis, its socket in /run/lis and its data in /var/lib/lis, both lis's alone" bash -c "
    pid=\$(inside systemctl show -p MainPID --value lis) && [ \"\$(inside ps -o user= -p \$pid)\" = lis ] &&
    [ \"\$(inside stat -c '%U %a' /run/lis)\" = 'lis 750' ] && [ \"\$(inside stat -c '%U %a' /var/lib/lis)\" = 'lis 750' ] &&
    inside test -S /run/lis/nbd.sock && inside test -f /var/lib/lis/node.id"
inside systemd-analyze security lis 2>/dev/null | tail -n 1 | sed 's/^/systemd-analyze security: /'
check "lis status talks to it with the packaged defaults" bash -c "
    inside lis status | grep -q '^data *\/var\/lib\/lis'"

echo "== the installed Proxmox plugin, and qemu-io through the path it returns"
plugin() {  # plugin PERL: runs Perl with the installed plugin (PVE's own modules stubbed) as $p
    inside perl -I/root/pve-stubs/lib -MPVE::Storage::Custom::LisPlugin -e \
        "my \$p = 'PVE::Storage::Custom::LisPlugin'; my \$scfg = {}; $1"
}
volname=$(plugin 'print $p->alloc_image("lis", $scfg, 100, "raw", undef, 1024 * 1024);' 2>"$work/plugin.err")
check "alloc_image (1 GiB, in KiB) creates vm-100-disk-0 on the installed node" test "$volname" = vm-100-disk-0
path=$(plugin "my (\$path) = \$p->path(\$scfg, '$volname', 'lis'); print \$path;")
check "path() is nbd+unix:///vm-100-disk-0?socket=/run/lis/nbd.sock" test "$path" = "nbd+unix:///vm-100-disk-0?socket=/run/lis/nbd.sock"
check "qemu-img info reads its size through that path" bash -c "
    inside qemu-img info --output=json '$path' | grep -q '\"virtual-size\": 1073741824'"
check "qemu-io writes 4 MiB through it and flushes" bash -c "
    inside qemu-io -f raw '$path' -c 'write -P 0x6c 0 4M' -c flush | grep -q 'wrote 4194304/4194304'"
check "systemctl restart lis is clean" bash -c "
    inside systemctl restart lis && [ \"\$(inside systemctl is-active lis)\" = active ] &&
    inside journalctl -u lis --no-pager | grep -q 'stopped cleanly'"
check "… and the data reads back" bash -c "
    out=\$(inside qemu-io -f raw '$path' -c 'read -P 0x6c 0 4M'); echo \"\$out\" | grep -q 'read 4194304/4194304' &&
    ! echo \"\$out\" | grep -q 'Pattern verification failed'"
check "status() reports the data directory's disk" bash -c "
    inside perl -I/root/pve-stubs/lib -MPVE::Storage::Custom::LisPlugin -e '
        my (\$total, \$avail, \$used, \$active) = PVE::Storage::Custom::LisPlugin->status(\"lis\", {});
        exit !(\$active && \$total > 0 && \$used <= \$total)'"

echo "== dpkg -r keeps the volumes; dpkg -P deletes them"
check "dpkg -r stops the node and says the volumes are kept" bash -c "
    inside dpkg -r lis > '$work/dpkg-r.log' 2>&1 && grep -q 'volumes in /var/lib/lis are kept' '$work/dpkg-r.log' &&
    [ \"\$(inside systemctl is-active lis)\" != active ] && ! inside test -e /usr/bin/lis && inside test -f /etc/lis/lis.toml"
check "… and /var/lib/lis still holds them" bash -c "
    inside test -f /var/lib/lis/hive.sqlite && inside test -f /var/lib/lis/node.id"
check "installed again, the node serves the same volume" bash -c "
    inside dpkg -i /root/lis.deb > '$work/dpkg-i2.log' 2>&1 &&
    for i in \$(seq 100); do inside lis volume show vm-100-disk-0 >/dev/null 2>&1 && break; sleep 0.2; done &&
    inside qemu-io -f raw '$path' -c 'read -P 0x6c 0 4M' | grep -q 'read 4194304/4194304'"
check "dpkg -P deletes /var/lib/lis, saying so" bash -c "
    inside dpkg -P lis > '$work/dpkg-p.log' 2>&1 && grep -q 'purge: deleting /var/lib/lis' '$work/dpkg-p.log' &&
    ! inside test -e /var/lib/lis && ! inside test -e /etc/lis/lis.toml"
for log in dpkg-i dpkg-r dpkg-p; do sed "s/^/  $log: /" "$work/$log.log" | grep -v -E 'Selecting|Reading database|Unpacking|Preparing' | head -n 5; done

echo "package tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
