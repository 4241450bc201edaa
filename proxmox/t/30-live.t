# This file is part of Lis.
#
# Every LisPlugin method against a running Lis node, through the real lis CLI: run by
# scripts/test-proxmox.sh, which starts the node and sets
#   LIS_TEST_API     the node's API URL (http://127.0.0.1:7880)
#   LIS_TEST_SOCKET  its NBD unix socket
#   LIS_BIN          the lis binary.
# The volumes belong to VM ids derived from this process's id, so a rerun on the same node does
# not collide with leftovers; they are deleted at the end.

use strict;
use warnings;

use IO::Socket::INET;
use Test::More;

use PVE::Storage;
use PVE::Storage::Custom::LisPlugin;

if (!$ENV{LIS_TEST_API}) {
    plan(skip_all => 'LIS_TEST_API is not set: no Lis node to test against (scripts/test-proxmox.sh starts one)');
}
my $socket = $ENV{LIS_TEST_SOCKET} or BAIL_OUT('LIS_TEST_SOCKET is not set');
my $lis = $ENV{LIS_BIN} or BAIL_OUT('LIS_BIN is not set');
$PVE::Storage::Custom::LisPlugin::LIS_BIN = $lis;

my $plugin = 'PVE::Storage::Custom::LisPlugin';
my $storeid = 'lis-test';
my $scfg = { type => 'lis', 'lis-api' => $ENV{LIS_TEST_API}, 'lis-socket' => $socket };

my $vmid = 100000 + ($$ % 100000) * 10;    # VM A
my $vmid_b = $vmid + 1;                    # VM B
my @created;

sub lis_cli {    # runs the real CLI; returns (exit status, stdout and stderr)
    my @args = @_;
    my $out = qx{'$lis' @args --api '$ENV{LIS_TEST_API}' 2>&1};
    return ($? >> 8, $out);
}

sub error_of(&) {    # the error a block dies with ('' if it does not)
    my ($code) = @_;
    eval { $code->() };
    return $@;
}

# --- the storage -------------------------------------------------------------------------------

is(error_of { $plugin->activate_storage($storeid, $scfg) }, '', 'activate_storage: the node answers');
is(error_of { $plugin->deactivate_storage($storeid, $scfg) }, '', 'deactivate_storage');

my ($total, $avail, $used, $active) = $plugin->status($storeid, $scfg);
is($active, 1, 'status: active');
ok($total > 0 && $avail > 0 && $used > 0, "status: total $total, available $avail, used $used bytes");
ok($used <= $total && $avail <= $total, 'status: used and available are within total');

# A port nothing listens on.
my $probe = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 1) or die;
my $dead_port = $probe->sockport();
close($probe);
my $unreachable = { %$scfg, 'lis-api' => "http://127.0.0.1:$dead_port" };
like(error_of { $plugin->activate_storage($storeid, $unreachable) },
    qr{^lis: cannot reach the Lis node at http://127\.0\.0\.1:$dead_port\b.*\n\z},
    "activate_storage with a wrong lis-api port dies with Lis's message");
is_deeply([$plugin->status($storeid, $unreachable)], [0, 0, 0, 0], '… and status says inactive');

my $no_socket = { %$scfg, 'lis-socket' => "$socket.missing" };
like(error_of { $plugin->activate_storage($storeid, $no_socket) },
    qr{^lis: no NBD socket at \Q$socket\E\.missing \(lis-socket of storage 'lis-test'\)},
    'activate_storage with a lis-socket the node does not serve dies, naming it');

# --- allocation --------------------------------------------------------------------------------

sub alloc {
    my ($vm, $name, $kib) = @_;
    my $volname = $plugin->alloc_image($storeid, $scfg, $vm, 'raw', $name, $kib);
    push @created, $volname;
    return $volname;
}

is(alloc($vmid, "vm-$vmid-disk-1", 1), "vm-$vmid-disk-1", 'alloc_image with a name, 1 KiB');
is(scalar($plugin->volume_size_info($scfg, $storeid, "vm-$vmid-disk-1")), 4096, '… is 4 KiB in Lis');
is(alloc($vmid, "vm-$vmid-disk-3", 528), "vm-$vmid-disk-3", 'alloc_image of an EFI vars disk, 528 KiB');
is(scalar($plugin->volume_size_info($scfg, $storeid, "vm-$vmid-disk-3")), 540672, '… is 528 KiB in Lis');
is(alloc($vmid, undef, 64 * 1024), "vm-$vmid-disk-0", 'alloc_image without a name: disk-0 was free');
is(alloc($vmid, '', 1024), "vm-$vmid-disk-2", '… then disk-2 (disk-1 is taken)');
is(alloc($vmid_b, undef, 1024), "vm-$vmid_b-disk-0", "another VM's first disk: disk-0");
is(alloc($vmid_b, undef, 1024), "vm-$vmid_b-disk-1", '… its second: disk-1');

like(error_of { $plugin->alloc_image($storeid, $scfg, $vmid, 'raw', "vm-$vmid-disk-1", 1024) },
    qr/^lis: volume vm-$vmid-disk-1 already exists\n\z/, "a taken name: Lis's message");
like(error_of { $plugin->alloc_image($storeid, $scfg, $vmid, 'raw', "vm-$vmid_b-disk-5", 1024) },
    qr/^illegal name 'vm-$vmid_b-disk-5' - should be 'vm-$vmid-\*'/, "another VM's name is refused");
my ($status) = lis_cli('volume', 'show', "vm-$vmid_b-disk-5");
isnt($status, 0, '… and was not created');

# A volume someone else made in the same Lis cluster, not a PVE disk.
my $other = "lis-test-other-$$";
my ($created_other, $out) = lis_cli('volume', 'create', $other, '--size', '4K');
is($created_other, 0, "a volume PVE did not make ($other)") or diag($out);

# --- listing and sizes -------------------------------------------------------------------------

my @a_volids = map { "$storeid:vm-$vmid-disk-$_" } 0 .. 3;
my @b_volids = map { "$storeid:vm-$vmid_b-disk-$_" } 0 .. 1;
my $all = $plugin->list_images($storeid, $scfg);
my %listed = map { $_->{volid} => $_ } @$all;
ok(!(grep { !$listed{$_} } @a_volids, @b_volids), 'list_images: every disk allocated here');
ok(!(grep { $_->{volid} =~ /\Q$other\E/ } @$all), '… and not the volume PVE did not make');

my $a_list = $plugin->list_images($storeid, $scfg, $vmid);
is_deeply([sort map { $_->{volid} } @$a_list], [sort @a_volids], 'list_images of VM A: its four disks');
my ($efi) = grep { $_->{volid} eq "$storeid:vm-$vmid-disk-3" } @$a_list;
is_deeply($efi, { volid => "$storeid:vm-$vmid-disk-3", format => 'raw', size => 540672,
    used => 540672, vmid => $vmid }, '… an entry: volid, format, size, used, vmid');
is_deeply([sort map { $_->{volid} } @{ $plugin->list_images($storeid, $scfg, $vmid_b) }],
    [sort @b_volids], 'list_images of VM B: its two disks');
is_deeply([map { $_->{volid} } @{ $plugin->list_images($storeid, $scfg, undef, [$b_volids[1], "other:vm-$vmid-disk-0"]) }],
    [$b_volids[1]], 'list_images of a volume list');

is_deeply([$plugin->volume_size_info($scfg, $storeid, "vm-$vmid-disk-0")], [64 * 1024 * 1024, 'raw',
    64 * 1024 * 1024, undef], 'volume_size_info in list context: size, format, used, no parent');

# --- resize ------------------------------------------------------------------------------------

is($plugin->volume_resize($scfg, $storeid, "vm-$vmid-disk-1", 1048577, 0), 1052672,
    'volume_resize grows (bytes, rounded up to 4 KiB) and returns the new size');
is(scalar($plugin->volume_size_info($scfg, $storeid, "vm-$vmid-disk-1")), 1052672, '… which Lis reports');
is($plugin->volume_resize($scfg, $storeid, "vm-$vmid-disk-1", 1052672, 0), 1052672, 'resizing to the same size is fine');
like(error_of { $plugin->volume_resize($scfg, $storeid, "vm-$vmid-disk-1", 4096, 0) },
    qr/^lis: volumes only grow: vm-$vmid-disk-1 is .*\n\z/, "a shrink is refused with Lis's message");
like(error_of { $plugin->volume_resize($scfg, $storeid, "vm-$vmid-disk-1", 4 * 1048576, 1) },
    qr/^cannot grow vm-$vmid-disk-1 while its VM is running/, 'growing a running VM\'s disk is refused');
is(scalar($plugin->volume_size_info($scfg, $storeid, "vm-$vmid-disk-1")), 1052672, '… and nothing grew');

# --- volumes -----------------------------------------------------------------------------------

is(error_of { $plugin->activate_volume($storeid, $scfg, "vm-$vmid-disk-0") }, '', 'activate_volume of a disk');
is(error_of { $plugin->deactivate_volume($storeid, $scfg, "vm-$vmid-disk-0") }, '', 'deactivate_volume');
my $missing = error_of { $plugin->activate_volume($storeid, $scfg, "vm-$vmid-disk-99") };
like($missing, qr/^lis: no volume named vm-$vmid-disk-99\b.*\n\z/, "activate_volume of a missing disk: Lis's message");
unlike($missing, qr/error:/, "… without the CLI's 'error: ' prefix");
like(error_of { $plugin->activate_volume($storeid, $scfg, "vm-$vmid-disk-0", 'snap1') },
    qr/^lis volumes have no snapshots/, 'activate_volume of a snapshot is refused');

my ($path) = $plugin->path($scfg, "vm-$vmid-disk-0", $storeid);
is($path, "nbd+unix:///vm-$vmid-disk-0?socket=$socket", 'path points at the node\'s socket');
ok(-S $socket, '… which is a unix socket');

# --- freeing -----------------------------------------------------------------------------------

for my $volname (@created) {
    is($plugin->free_image($storeid, $scfg, $volname, 0, 'raw'), undef, "free_image $volname");
    my ($shown, $message) = lis_cli('volume', 'show', $volname);
    ok($shown != 0 && $message =~ /no volume named \Q$volname\E/, "… lis volume show $volname fails");
}
@created = ();
like(error_of { $plugin->free_image($storeid, $scfg, "vm-$vmid-disk-0", 0, 'raw') },
    qr/^lis: no volume named vm-$vmid-disk-0\b/, "freeing it again: Lis's message");
is_deeply($plugin->list_images($storeid, $scfg, $vmid), [], 'VM A has no disks left');

END {
    # A failed run leaves nothing behind on the node.
    for my $volname (@created) {
        eval { $plugin->free_image($storeid, $scfg, $volname, 0, 'raw') };
    }
    lis_cli('volume', 'delete', $other) if $other;
}

done_testing();
