# This file is part of Lis.
#
# LisPlugin's own logic, without a Lis node or a Proxmox VE host (PVE::* are the stubs in t/lib):
# the storage API version it claims, names, paths, QEMU's blockdev options, sizes, the
# configuration schema and the features it offers.

use strict;
use warnings;

use Test::More;
use JSON::PP;

use PVE::Storage;
use PVE::Storage::Custom::LisPlugin;

my $plugin = 'PVE::Storage::Custom::LisPlugin';

# --- api() against the loader's rule -----------------------------------------------------------

# What PVE::Storage does when it loads a custom plugin (src/PVE/Storage.pm in pve-storage):
# refuse an api() newer than APIVER or older than APIVER - APIAGE, warn when it is not APIVER.
sub loader_verdict {
    my ($api, $apiver, $apiage) = @_;
    return 'refused: newer than current' if $api > $apiver;
    return 'refused: too old' if $api < $apiver - $apiage;
    return $api == $apiver ? 'loaded' : 'loaded with a warning';
}

# [host APIVER, APIAGE, api() expected, loader verdict expected]. 15/6 is pve-storage 9.1; the
# others are hosts before and after it (their APIAGE values only exercise the rule).
my @hosts = (
    [10, 1, 11, 'refused: newer than current'],    # PVE 8.3 and older: not supported
    [11, 2, 11, 'loaded'],                          # PVE 8.4, the oldest supported
    [13, 4, 13, 'loaded'],                          # PVE 9.0
    [15, 6, 15, 'loaded'],                          # PVE 9.1, the version tested
    [16, 7, 15, 'loaded with a warning'],           # newer: claim what was tested
    [21, 6, 15, 'loaded with a warning'],           # 15 is still inside the age window
    [22, 6, 15, 'refused: too old'],                # 15 fell out of it: PVE says so
);
for my $host (@hosts) {
    my ($apiver, $apiage, $want, $verdict) = @$host;
    local $PVE::Storage::APIVER = $apiver;
    local $PVE::Storage::APIAGE = $apiage;
    my $api = $plugin->api();
    is($api, $want, "api() on a host with APIVER $apiver is $want");
    is(loader_verdict($api, PVE::Storage::APIVER(), PVE::Storage::APIAGE()), $verdict,
        "… and PVE's loader (APIAGE $apiage): $verdict");
}
ok($plugin->isa('PVE::Storage::Plugin') && $plugin->can('api'),
    'the loader\'s other checks: a PVE::Storage::Plugin with an api() method');

# --- configuration -----------------------------------------------------------------------------

is($plugin->type(), 'lis', "type is 'lis'");
is_deeply($plugin->plugindata(),
    { content => [{ images => 1 }, { images => 1 }], format => [{ raw => 1 }, 'raw'] },
    'plugindata: VM images only, raw only, both by default');

my $properties = $plugin->properties();
is_deeply([sort keys %$properties], ['lis-api', 'lis-socket', 'lis-token-file'],
    'properties: lis-api, lis-socket, lis-token-file');
for my $name (sort keys %$properties) {
    like($name, qr/^lis-/, "property $name has the lis- prefix (names are global in PVE)");
    is($properties->{$name}->{type}, 'string', "property $name is a string");
    ok(length($properties->{$name}->{description} // '') > 10, "property $name is described");
}
is($properties->{'lis-api'}->{default}, 'http://127.0.0.1:7780', 'lis-api defaults to the node');
is($properties->{'lis-socket'}->{default}, '/run/lis/nbd.sock', 'lis-socket defaults to /run/lis');

my $options = $plugin->options();
is_deeply([sort keys %$options],
    [sort qw(shared content nodes disable lis-api lis-socket lis-token-file)],
    'options: shared, content, nodes, disable and the three lis- properties');
ok(!(grep { !$options->{$_}->{optional} } keys %$options), 'every option is optional');

# --- parse_volname -----------------------------------------------------------------------------

is_deeply([$plugin->parse_volname('vm-100-disk-0')],
    ['images', 'vm-100-disk-0', 100, undef, undef, 0, 'raw'], 'vm-100-disk-0');
is_deeply([$plugin->parse_volname('base-9001-disk-1')],
    ['images', 'base-9001-disk-1', 9001, undef, undef, 1, 'raw'], 'base-9001-disk-1 is a base');
is_deeply([$plugin->parse_volname('vm-100-cloudinit_A.b')],
    ['images', 'vm-100-cloudinit_A.b', 100, undef, undef, 0, 'raw'], "Lis's name characters");

for my $bad ('', 'vm-100', 'vm-100-', 'vm-abc-disk-0', 'subvol-100-disk-0', 'iso/x.iso',
    '100/vm-100-disk-0.raw', 'vm-100-disk/0', 'vm-100-disk 0', 'lis-volume', "vm-100-disk-0\n")
{
    eval { $plugin->parse_volname($bad) };
    like($@, qr/^unable to parse lis volume name '\Q$bad\E'$/, "'$bad' is refused");
}

# --- path --------------------------------------------------------------------------------------

my $scfg = { type => 'lis', 'lis-socket' => '/run/lis/test.sock' };
is_deeply([$plugin->path($scfg, 'vm-100-disk-0', 'lis1')],
    ['nbd+unix:///vm-100-disk-0?socket=/run/lis/test.sock', 100, 'images'],
    'path: the NBD URI, the vmid and the type');
is(scalar($plugin->path({}, 'vm-7-disk-2', 'lis1')), 'nbd+unix:///vm-7-disk-2?socket=/run/lis/nbd.sock',
    'path in scalar context, with the default socket');
eval { $plugin->path($scfg, 'vm-100-disk-0', 'lis1', 'snap1') };
like($@, qr/^lis volumes have no snapshots$/, 'path of a snapshot is refused');
for my $socket ('relative/nbd.sock', '/run/with space.sock', '/run/a?b.sock') {
    eval { $plugin->path({ 'lis-socket' => $socket }, 'vm-100-disk-0', 'lis1') };
    like($@, qr/lis-socket '\Q$socket\E' must be an absolute path/, "lis-socket '$socket' is refused");
}

# --- qemu_blockdev_options (PVE 9) -------------------------------------------------------------

is_deeply($plugin->qemu_blockdev_options($scfg, 'lis1', 'vm-100-disk-0', '10.0+pve0', {}),
    {
        driver => 'nbd',
        server => { type => 'unix', path => '/run/lis/test.sock' },
        export => 'vm-100-disk-0',
        'reconnect-delay' => 30,
    },
    'blockdev: the base class\'s nbd options plus reconnect-delay 30');
my $json = JSON::PP->new->canonical->encode(
    $plugin->qemu_blockdev_options($scfg, 'lis1', 'vm-100-disk-0', '10.0+pve0', {}));
like($json, qr/"reconnect-delay":30[,}]/, 'reconnect-delay is a JSON number, as QMP wants');
eval { $plugin->qemu_blockdev_options($scfg, 'lis1', 'vm-100-disk-0', '10.0+pve0',
    { 'snapshot-name' => 's1' }) };
like($@, qr/^lis volumes have no snapshots$/, 'blockdev of a snapshot is refused');
{
    # reconnect-delay is an nbd option: another driver from the base class must not get it.
    package LisPluginOverFile;
    our @ISA = ('PVE::Storage::Custom::LisPlugin');
    sub path { return '/var/lib/vz/images/100/vm-100-disk-0.raw' }
}
is_deeply(LisPluginOverFile->qemu_blockdev_options($scfg, 'lis1', 'vm-100-disk-0', '10.0', {}),
    { driver => 'file', filename => '/var/lib/vz/images/100/vm-100-disk-0.raw' },
    'no reconnect-delay unless the driver is nbd');

# --- sizes -------------------------------------------------------------------------------------

my @kib = ([1, 4096], [3, 4096], [4, 4096], [5, 8192], [528, 540672], [0, 4096],
    [4 * 1024 * 1024, 4 * 1024**3], [1048577, 1048580 * 1024]);
for my $case (@kib) {
    my ($kib, $bytes) = @$case;
    is(PVE::Storage::Custom::LisPlugin::kib_to_bytes($kib), $bytes, "$kib KiB → $bytes bytes");
}
my @bytes = ([1, 4096], [4096, 4096], [4097, 8192], [1048577, 1052672], [10 * 1024**3, 10 * 1024**3]);
for my $case (@bytes) {
    my ($in, $out) = @$case;
    is(PVE::Storage::Custom::LisPlugin::round_up_size($in), $out, "$in bytes → $out bytes");
}
for my $bad (undef, '', '-1', '1.5', '10G') {
    eval { PVE::Storage::Custom::LisPlugin::kib_to_bytes($bad) };
    like($@, qr/^invalid size/, 'size ' . ($bad // 'undef') . ' is refused');
}

# --- features and what is not supported --------------------------------------------------------

is($plugin->volume_has_feature({}, 'copy', 'lis1', 'vm-100-disk-0', undef, 0), 1,
    'copy of the current volume (a full clone) is offered');
is($plugin->volume_has_feature({}, 'copy', 'lis1', 'vm-100-disk-0', undef, 1), 1,
    '… also while the VM runs');
is($plugin->volume_has_feature({}, 'copy', 'lis1', 'vm-100-disk-0', 'snap1', 0), undef,
    'copy of a snapshot is not');
for my $feature (qw(snapshot clone template rename sparseinit)) {
    for my $volname ('vm-100-disk-0', 'base-100-disk-0') {
        is($plugin->volume_has_feature({}, $feature, 'lis1', $volname, undef, 0), undef,
            "$feature of $volname is not offered");
    }
}

my @refusals = (
    [volume_snapshot => 'snapshots', [{}, 'lis1', 'vm-100-disk-0', 'snap1']],
    [volume_snapshot_rollback => 'snapshots', [{}, 'lis1', 'vm-100-disk-0', 'snap1']],
    [volume_snapshot_delete => 'snapshots', [{}, 'lis1', 'vm-100-disk-0', 'snap1', 0]],
    [clone_image => 'linked clones', [{}, 'lis1', 'base-100-disk-0', 101, undef]],
    [create_base => 'templates', ['lis1', {}, 'vm-100-disk-0']],
    [rename_volume => 'renaming', [{}, 'lis1', 'vm-100-disk-0', 101, 'vm-101-disk-0']],
);
for my $refusal (@refusals) {
    my ($method, $what, $args) = @$refusal;
    eval { $plugin->$method(@$args) };
    is($@, "lis volumes do not support $what yet\n", "$method: lis volumes do not support $what yet");
}

done_testing();
