# This file is part of Lis.
#
# How LisPlugin runs the lis CLI, against a fake `lis` (a small Perl script written here) that
# records its arguments and answers as each test asks: the arguments and options passed, Lis's
# error messages carried through, timeouts, a missing binary, output that is not JSON, large
# output on both streams, and the calls that must not reach Lis at all.

use strict;
use warnings;

use File::Temp qw(tempdir);
use JSON::PP;
use Test::More;
use Time::HiRes ();

use PVE::Storage;
use PVE::Storage::Custom::LisPlugin;

my $plugin = 'PVE::Storage::Custom::LisPlugin';
my $dir = tempdir(CLEANUP => 1);
my $log = "$dir/calls";

# The fake lis: FAKE_LIS_MODE says how it answers; every call is logged as one JSON line.
my $fake = "$dir/lis";
open(my $fh, '>', $fake) or die "cannot write $fake: $!";
print $fh <<"EOF";
#!$^X
use strict;
use warnings;
use JSON::PP;
open(my \$log, '>>', \$ENV{FAKE_LIS_LOG}) or die;
print \$log encode_json({ argv => [\@ARGV], env_api => \$ENV{LIS_API} // '', env_token => \$ENV{LIS_API_TOKEN} // '' }), "\\n";
close(\$log);
my \$mode = \$ENV{FAKE_LIS_MODE} // 'json';
if (\$mode eq 'error') {
    print STDERR "error: no volume named vm-100-disk-9; `GET /v1/volumes` lists them\\n";
    exit 1;
} elsif (\$mode eq 'usage') {
    print STDERR "Error: --size \\"1K\\" (1024 bytes) is not a multiple of 4KiB\\n";
    print STDERR "Usage: lis volume create [--api <api>] <name> --size <size>\\n";
    print STDERR "  See 'lis volume create --help' for more information.\\n";
    exit 64;
} elsif (\$mode eq 'silent') {
    exit 3;
} elsif (\$mode eq 'garbage') {
    print "this is not JSON\\n";
    exit 0;
} elsif (\$mode eq 'sleep') {
    sleep 30;
    exit 0;
} elsif (\$mode eq 'noisy') {
    print STDERR 'x' x 100 . "\\n" for 1 .. 3000;    # more than a pipe holds, on both streams
}
if (\$ARGV[0] eq 'volume' && \$ARGV[1] eq 'list') {
    if (\$ENV{FAKE_LIS_LIST_FILE}) {    # too large for the environment
        open(my \$in, '<', \$ENV{FAKE_LIS_LIST_FILE}) or die;
        print <\$in>;
    } else {
        print \$ENV{FAKE_LIS_LIST} // '[]';
    }
} elsif (\$ARGV[0] eq 'volume' && \$ARGV[1] =~ m/^(create|resize)\$/) {
    my (\$size) = join(' ', \@ARGV) =~ m/--size (\\d+)/;
    print encode_json({ name => \$ARGV[2], size_bytes => (\$size // 0) + 0 });
} else {
    print \$ENV{FAKE_LIS_OUT} // '{}';
}
EOF
close($fh);
chmod(0755, $fake) or die "chmod $fake: $!";

$PVE::Storage::Custom::LisPlugin::LIS_BIN = $fake;
$ENV{FAKE_LIS_LOG} = $log;

sub calls {    # the calls logged since the last time
    my @calls;
    if (open(my $in, '<', $log)) {
        @calls = map { decode_json($_) } <$in>;
        close($in);
    }
    unlink($log);
    return @calls;
}

sub volumes_json {
    return encode_json([map { { name => $_, size_bytes => 4096, block_size_bytes => 1048576 } } @_]);
}

my $scfg = { type => 'lis' };

# --- arguments ---------------------------------------------------------------------------------

{
    local $ENV{FAKE_LIS_OUT} = '{"name":"vm-100-disk-0","size_bytes":540672}';
    local $ENV{LIS_API} = 'http://elsewhere.example:1';
    local $ENV{LIS_API_TOKEN} = 'from-the-environment';
    is(scalar($plugin->volume_size_info($scfg, 'lis1', 'vm-100-disk-0')), 540672, 'volume_size_info');
    my @calls = calls();
    is_deeply($calls[0]->{argv}, ['volume', 'show', 'vm-100-disk-0', '--json', '--api', 'http://127.0.0.1:7780'],
        'lis volume show NAME --json --api DEFAULT, without a shell');
    is($calls[0]->{env_api} . $calls[0]->{env_token}, '',
        'LIS_API and LIS_API_TOKEN from the environment are not passed on (storage.cfg decides)');
    is($ENV{LIS_API}, 'http://elsewhere.example:1', '… and the caller\'s environment is left as it was');

    my $configured = { 'lis-api' => 'http://10.0.0.5:7780', 'lis-token-file' => '/etc/lis/api.token' };
    $plugin->activate_volume('lis1', $configured, 'vm-100-disk-0');
    is_deeply((calls())[0]->{argv},
        ['volume', 'show', 'vm-100-disk-0', '--json', '--api', 'http://10.0.0.5:7780',
            '--token-file', '/etc/lis/api.token'],
        'lis-api and lis-token-file become --api and --token-file');
}

# --- Lis's errors ------------------------------------------------------------------------------

{
    local $ENV{FAKE_LIS_MODE} = 'error';
    eval { $plugin->activate_volume('lis1', $scfg, 'vm-100-disk-9') };
    is($@, "lis: no volume named vm-100-disk-9; `GET /v1/volumes` lists them\n",
        "a failure dies with Lis's message, 'error: ' replaced by 'lis: '");
}
{
    local $ENV{FAKE_LIS_MODE} = 'usage';
    eval { $plugin->volume_size_info($scfg, 'lis1', 'vm-100-disk-0') };
    is($@, "lis: --size \"1K\" (1024 bytes) is not a multiple of 4KiB\n",
        "the argument parser's 'Error: ' is stripped too, and its usage summary left out");
}
{
    local $ENV{FAKE_LIS_MODE} = 'silent';
    eval { $plugin->activate_storage('lis1', $scfg) };
    is($@, "lis: `lis status --json` failed with exit status 3\n", 'a failure without a message names the command');
}
{
    local $ENV{FAKE_LIS_MODE} = 'garbage';
    eval { $plugin->volume_size_info($scfg, 'lis1', 'vm-100-disk-0') };
    like($@, qr/^lis: unexpected answer from `lis volume show vm-100-disk-0 --json`: .+\n\z/,
        'output that is not JSON is an error that says so');
}
{
    local $ENV{FAKE_LIS_MODE} = 'sleep';
    local $PVE::Storage::Custom::LisPlugin::TIMEOUT = 1;
    my $started = Time::HiRes::time();
    eval { $plugin->activate_volume('lis1', $scfg, 'vm-100-disk-0') };
    my $took = Time::HiRes::time() - $started;
    is($@, "lis: `lis volume show vm-100-disk-0 --json` did not answer within 1 s\n", 'a hung CLI times out');
    ok($took < 5, sprintf('… after about the timeout (%.1f s), killing it', $took));
}
{
    local $ENV{FAKE_LIS_MODE} = 'sleep';
    local $PVE::Storage::Custom::LisPlugin::STATUS_TIMEOUT = 1;
    my $started = Time::HiRes::time();
    is_deeply([$plugin->status('lis1', $scfg)], [0, 0, 0, 0], 'status of a hung node: inactive');
    ok(Time::HiRes::time() - $started < 5, '… within its own short timeout');
}
{
    local $PVE::Storage::Custom::LisPlugin::LIS_BIN = "$dir/no-such-lis";
    eval { $plugin->activate_storage('lis1', $scfg) };
    like($@, qr{^lis: cannot run \Q$dir\E/no-such-lis: }, 'a missing CLI: activate_storage says so');
    is_deeply([$plugin->status('lis1', $scfg)], [0, 0, 0, 0], '… and status is inactive');
}

# --- status ------------------------------------------------------------------------------------

calls();
{
    local $ENV{FAKE_LIS_OUT} = encode_json({ node_id => 'n1',
        disk => { total_bytes => 1000, available_bytes => 300, used_bytes => 700 } });
    is_deeply([$plugin->status('lis1', $scfg)], [1000, 300, 700, 1], 'status: total, available, used, active');
    is_deeply((calls())[0]->{argv}, ['status', '--json', '--api', 'http://127.0.0.1:7780'], '… from lis status --json');
}
{
    local $ENV{FAKE_LIS_OUT} = '{"node_id":"n1"}';
    is_deeply([$plugin->status('lis1', $scfg)], [0, 0, 0, 0], 'status without disk figures: inactive');
}

# --- alloc_image -------------------------------------------------------------------------------

calls();
is($plugin->alloc_image('lis1', $scfg, 100, 'raw', 'vm-100-disk-5', 1), 'vm-100-disk-5',
    'alloc_image with a name returns it');
is_deeply([map { $_->{argv} } calls()],
    [['volume', 'create', 'vm-100-disk-5', '--size', '4K', '--json', '--api', 'http://127.0.0.1:7780']],
    '… creating it with 1 KiB rounded up to 4K, without listing');
$plugin->alloc_image('lis1', $scfg, 100, 'raw', 'vm-100-disk-6', 528);
is((calls())[0]->{argv}->[4], '528K', 'an EFI vars disk (528 KiB) keeps its size');
$plugin->alloc_image('lis1', $scfg, 100, 'raw', 'vm-100-disk-7', 20 * 1024 * 1024);
is((calls())[0]->{argv}->[4], '20971520K', 'a 20 GiB disk');

{
    local $ENV{FAKE_LIS_LIST} = volumes_json(qw(vm-100-disk-0 base-100-disk-1 vm-1000-disk-2 vm-10-disk-2
        vm-100-disk-3 vm-100-disk-2x other));
    is($plugin->alloc_image('lis1', $scfg, 100, 'raw', undef, 1024), 'vm-100-disk-2',
        'alloc_image without a name: the first free vm-100-disk-N (base- takes its N too)');
    my @calls = calls();
    is_deeply([map { "$_->{argv}->[0] $_->{argv}->[1]" } @calls], ['volume list', 'volume create'],
        '… listed, then created');
    is($calls[1]->{argv}->[2], 'vm-100-disk-2', '… under that name');
    is($plugin->alloc_image('lis1', $scfg, 100, 'raw', '', 1024), 'vm-100-disk-2', 'an empty name too');
}
{
    local $ENV{FAKE_LIS_LIST} = volumes_json(map { "vm-5-disk-$_" } 0 .. 1023);
    eval { $plugin->alloc_image('lis1', $scfg, 5, 'raw', undef, 1024) };
    is($@, "unable to allocate an image name for VM 5 in storage 'lis1'\n", 'no free name left');
}
calls();
for my $case (['vm-101-disk-0', "illegal name 'vm-101-disk-0' - should be 'vm-100-*'\n"],
    ['base-100-disk-0', "illegal name 'base-100-disk-0' - should be 'vm-100-*'\n"],
    ['vm-100-a/b', "illegal name 'vm-100-a/b' - should be 'vm-100-*'\n"])
{
    my ($name, $error) = @$case;
    eval { $plugin->alloc_image('lis1', $scfg, 100, 'raw', $name, 1024) };
    is($@, $error, "alloc_image refuses the name $name");
}
eval { $plugin->alloc_image('lis1', $scfg, 100, 'qcow2', 'vm-100-disk-0', 1024) };
is($@, "unsupported format 'qcow2': lis volumes are raw\n", 'alloc_image refuses qcow2');
eval { $plugin->alloc_image('lis1', $scfg, 100, 'raw', 'vm-100-disk-0', 'lots') };
like($@, qr/^invalid size 'lots'/, 'alloc_image refuses a size that is not a number');
is(scalar(calls()), 0, '… none of which reached Lis');

# --- volume_resize -----------------------------------------------------------------------------

is($plugin->volume_resize($scfg, 'lis1', 'vm-100-disk-0', 1048577, 0), 1052672,
    'volume_resize takes bytes, rounds them up to 4 KiB and returns the new size');
is_deeply((calls())[0]->{argv},
    ['volume', 'resize', 'vm-100-disk-0', '--size', '1052672', '--json', '--api', 'http://127.0.0.1:7780'],
    '… with lis volume resize NAME --size BYTES');
eval { $plugin->volume_resize($scfg, 'lis1', 'vm-100-disk-0', 2 * 1048576, 1) };
like($@, qr/^cannot grow vm-100-disk-0 while its VM is running: QEMU cannot grow a disk attached over NBD; shut the VM down \(or detach the disk\)/,
    'volume_resize of a running VM\'s disk is refused, saying why and what to do');
eval { $plugin->volume_resize($scfg, 'lis1', 'vm-100-disk-0', 2 * 1048576, 0, 'snap1') };
is($@, "lis volumes have no snapshots\n", 'volume_resize of a snapshot is refused');
is(scalar(calls()), 0, '… neither reached Lis');

# --- list_images and large output --------------------------------------------------------------

{
    my @names = ((map { "vm-100-disk-$_" } 0 .. 2999), (map { "base-200-disk-$_" } 0 .. 1999),
        'pool-scratch', 'vm-x-disk-0', 'vm-300-a/b');
    open(my $list, '>', "$dir/list.json") or die "cannot write $dir/list.json: $!";
    print $list volumes_json(@names);
    close($list);
    local $ENV{FAKE_LIS_LIST_FILE} = "$dir/list.json";
    local $ENV{FAKE_LIS_MODE} = 'noisy';
    my $all = $plugin->list_images('lis1', $scfg);
    is(scalar(@$all), 5000, 'list_images: 5,000 volumes and 300 KB on stderr, no deadlock; '
        . 'names PVE did not make are left out');
    is_deeply($all->[0], { volid => 'lis1:vm-100-disk-0', format => 'raw', size => 4096, used => 4096,
        vmid => 100 }, '… an entry: volid, format, size, used (the size), vmid');
    is(scalar(@{ $plugin->list_images('lis1', $scfg, 200) }), 2000, '… filtered by vmid');
    my $some = $plugin->list_images('lis1', $scfg, 100, ['lis1:base-200-disk-7', 'lis1:vm-100-disk-9',
        'other:vm-100-disk-1', 'lis1:pool-scratch']);
    is_deeply([map { $_->{volid} } @$some], ['lis1:vm-100-disk-9', 'lis1:base-200-disk-7'],
        '… filtered by a volume list (which takes the place of the vmid)');
}

done_testing();
