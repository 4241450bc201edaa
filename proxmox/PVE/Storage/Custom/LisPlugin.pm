# This file is part of Lis, a geo-distributed block store.
#
# The Proxmox VE storage plugin for Lis: VM disks are Lis volumes, and QEMU reaches each one as
# an NBD export on the local Lis node's unix socket. Install it as
# /usr/share/perl5/PVE/Storage/Custom/LisPlugin.pm and restart pvedaemon, pveproxy and pvestatd.
#
# The plugin keeps no state and speaks no protocol of its own: every call runs the `lis` CLI
# against the local node's HTTP API (`lis … --api URL --json`) and turns Lis's answer, or Lis's
# own error message, into what pve-storage expects. Signatures follow pve-storage 9.x
# (storage API 15; see src/PVE/Storage/Plugin.pm and ApiChangeLog in proxmox/pve-storage).
#
# Units: alloc_image gets its size in KiB, volume_resize in bytes; Lis sizes are bytes and must
# be a multiple of 4 KiB, so both are rounded up to the next 4 KiB.

package PVE::Storage::Custom::LisPlugin;

use strict;
use warnings;

use IO::Select;
use IPC::Open3;
use JSON::PP;
use POSIX ();
use Symbol qw(gensym);
use Time::HiRes ();

# PVE::Storage loads this file while it is itself being loaded, so this `use` finds it already
# in %INC and does nothing there; it matters for `perl -c` and for the tests, which load the
# plugin on its own.
use PVE::Storage;

use base qw(PVE::Storage::Plugin);

# The CLI. The tests point it elsewhere (by this variable, or LIS_BIN in the environment).
our $LIS_BIN = $ENV{LIS_BIN} || '/usr/bin/lis';

# Seconds a CLI call may take before it is killed. status() is polled by pvestatd every few
# seconds and must not hold it up for long when the node hangs, so it has a shorter limit.
our $TIMEOUT = 120;
our $STATUS_TIMEOUT = 10;

my $DEFAULT_API = 'http://127.0.0.1:7780';
my $DEFAULT_SOCKET = '/run/lis/nbd.sock';

# Lis volume sizes are multiples of 4 KiB (the NBD block size Lis advertises).
my $SIZE_UNIT = 4096;

# QEMU's NBD client waits this many seconds for the Lis node to come back (a restart, a package
# upgrade) before it fails guest I/O; without it a node restart gives the guest EIO at once.
my $RECONNECT_DELAY = 30;

# --- storage API version -----------------------------------------------------------------------

# The newest pve-storage API this plugin was written and tested against (PVE 9.1: APIVER 15),
# and the oldest it supports (PVE 8.4: APIVER 11). Nothing here depends on a version in between:
# the plugin implements the 9.x signatures, whose extra trailing arguments older versions simply
# do not pass, and qemu_blockdev_options (12) is not called before PVE 9.
my $TESTED_APIVER = 15;
my $OLDEST_APIVER = 11;

# PVE loads a custom plugin only when APIVER - APIAGE <= api() <= APIVER, and warns ("implementing
# an older storage API") when api() != APIVER. So:
# - a host between 11 and 15 gets its own APIVER back: it loads without a warning;
# - a newer host gets 15, the version we tested: it loads with the warning while 15 is inside its
#   age window, and PVE refuses the plugin with its own message once 15 falls out of it;
# - an older host (PVE 8.3 and before) gets 11, which is newer than it knows, so PVE refuses the
#   plugin with "implements an API version newer than current" instead of loading a plugin that
#   claims a version it was never tested against.
sub api {
    my $apiver = PVE::Storage::APIVER();
    return $OLDEST_APIVER if $apiver < $OLDEST_APIVER;
    return $TESTED_APIVER if $apiver > $TESTED_APIVER;
    return $apiver;
}

# --- configuration -----------------------------------------------------------------------------

sub type {
    return 'lis';
}

sub plugindata {
    return {
        content => [{ images => 1 }, { images => 1 }],
        format => [{ raw => 1 }, 'raw'],
    };
}

# Property names are global across every storage plugin on a PVE host (PVE::SectionConfig dies
# on a duplicate), hence the lis- prefix.
sub properties {
    return {
        'lis-api' => {
            description => "The local Lis node's HTTP API (lis serve --http-address).",
            type => 'string',
            default => $DEFAULT_API,
        },
        'lis-socket' => {
            description => "The local Lis node's NBD unix socket (lis serve --nbd-socket), which"
                . " QEMU connects to.",
            type => 'string',
            format => 'pve-storage-path',
            default => $DEFAULT_SOCKET,
        },
        'lis-token-file' => {
            description => "A file holding the Lis cluster's API token (lis cluster init writes"
                . " it), needed when lis-api is outside loopback.",
            type => 'string',
            format => 'pve-storage-path',
        },
    };
}

# shared: set it when every PVE node runs a node of the same Lis cluster; each PVE node then
# reaches every volume through its own Lis node, and migration copies no disk.
sub options {
    return {
        shared => { optional => 1 },
        content => { optional => 1 },
        nodes => { optional => 1 },
        disable => { optional => 1 },
        'lis-api' => { optional => 1 },
        'lis-socket' => { optional => 1 },
        'lis-token-file' => { optional => 1 },
    };
}

# --- running the CLI ---------------------------------------------------------------------------

# The message of a failed CLI call: Lis prints "error: MESSAGE" (or the argument parser's
# "Error: MESSAGE" followed by a usage summary) on stderr.
sub lis_error_message {
    my ($stderr) = @_;

    my $msg = $stderr // '';
    $msg =~ s/\n\s*Usage:.*//s;    # the usage summary says nothing about what went wrong
    $msg =~ s/^\s+|\s+$//g;
    $msg =~ s/^error:\s*//i;
    return $msg;
}

# Runs `lis ARGS… --api URL [--token-file FILE]` without a shell and returns its stdout. Dies
# with "lis: MESSAGE" when it fails, MESSAGE being Lis's own.
#
# The timeout is kept with select() rather than alarm(): PVE wraps some storage calls in its own
# alarm-based timeouts, which an alarm here would clobber.
sub run_lis {
    my ($scfg, $timeout, @args) = @_;

    my @cmd = ($LIS_BIN, @args, '--api', $scfg->{'lis-api'} // $DEFAULT_API);
    push @cmd, '--token-file', $scfg->{'lis-token-file'} if defined($scfg->{'lis-token-file'});
    my $what = join(' ', 'lis', @args);

    # The storage configuration is the only source of the API and its token: the CLI would
    # otherwise also read these from the environment.
    delete local @ENV{qw(LIS_API LIS_API_TOKEN LIS_API_TOKEN_FILE)};

    die "lis: cannot run $LIS_BIN: no such executable (is Lis installed?)\n" if !-x $LIS_BIN;
    my ($in, $out, $err) = (undef, undef, gensym);
    my $pid = eval { open3($in, $out, $err, @cmd) };
    if (!$pid) {
        my $why = $@ || $!;
        $why =~ s/ at \S+ line \d+.*//s;
        die "lis: cannot run $LIS_BIN: $why\n";
    }
    close($in);

    my ($stdout, $stderr) = ('', '');
    my $select = IO::Select->new($out, $err);
    my $deadline = Time::HiRes::time() + $timeout;
    while ($select->count()) {
        my $left = $deadline - Time::HiRes::time();
        if ($left <= 0) {
            kill('KILL', $pid);
            waitpid($pid, 0);
            die "lis: `$what` did not answer within $timeout s\n";
        }
        for my $fh ($select->can_read($left)) {
            my $n = sysread($fh, my $chunk, 65536);
            next if !defined($n) && $!{EINTR};
            if (!$n) {    # end of output (or a read error, which ends it too)
                $select->remove($fh);
                next;
            }
            if ($fh == $out) {
                $stdout .= $chunk;
            } else {
                $stderr .= $chunk;
            }
        }
    }
    waitpid($pid, 0);
    my $status = $?;

    if ($status != 0) {
        my $msg = lis_error_message($stderr);
        if ($msg eq '') {
            $msg = $status & 127
                ? "`$what` was killed by signal " . ($status & 127)
                : "`$what` failed with exit status " . ($status >> 8);
        }
        die "lis: $msg\n";
    }
    return $stdout;
}

# Runs a CLI command that prints JSON (--json) and returns the decoded value.
sub run_lis_json {
    my ($scfg, $timeout, @args) = @_;

    my $stdout = run_lis($scfg, $timeout, @args, '--json');
    my $value = eval { JSON::PP->new->decode($stdout) };
    if (!defined($value)) {
        my $why = $@;
        $why =~ s/ at \S+ line \d+.*//s;
        die "lis: unexpected answer from `lis @args --json`: $why\n";
    }
    return $value;
}

sub lis_volumes {
    my ($scfg) = @_;
    return run_lis_json($scfg, $TIMEOUT, 'volume', 'list');
}

sub lis_volume {
    my ($scfg, $name, $timeout) = @_;
    return run_lis_json($scfg, $timeout // $TIMEOUT, 'volume', 'show', $name);
}

# --- names, sizes and paths --------------------------------------------------------------------

# What Lis accepts in a volume name.
my $LIS_NAME_CHARS = qr/[A-Za-z0-9_.\-]/;

# The volume name is the Lis volume's name as it is, and also its NBD export name.
sub parse_volname {
    my ($class, $volname) = @_;

    if (defined($volname) && $volname =~ m/^((vm|base)-(\d+)-$LIS_NAME_CHARS+)\z/) {
        my ($name, $kind, $vmid) = ($1, $2, $3);
        return ('images', $name, $vmid, undef, undef, $kind eq 'base' ? 1 : 0, 'raw');
    }
    die "unable to parse lis volume name '" . ($volname // '') . "'\n";
}

# Rounds a byte count up to a whole number of 4 KiB units (at least one: Lis has no empty
# volumes).
sub round_up_size {
    my ($bytes) = @_;

    die "invalid size '" . ($bytes // '') . "'\n" if !defined($bytes) || $bytes !~ m/^\d+\z/;
    my $units = POSIX::ceil($bytes / $SIZE_UNIT);
    $units = 1 if $units < 1;
    return $units * $SIZE_UNIT;
}

# alloc_image's sizes are KiB (pve-storage creates files with `qemu-img create … ${size}K`).
sub kib_to_bytes {
    my ($kib) = @_;

    die "invalid size '" . ($kib // '') . "' KiB\n" if !defined($kib) || $kib !~ m/^\d+\z/;
    return round_up_size($kib * 1024);
}

sub lis_socket {
    my ($scfg) = @_;

    my $socket = $scfg->{'lis-socket'} // $DEFAULT_SOCKET;
    # QEMU runs in another working directory, and PVE 9's blockdev mapping of the URI accepts no
    # white space; '?', '&', '#' and '%' would change the URI's meaning.
    die "lis-socket '$socket' must be an absolute path without white space or any of ?&#%\n"
        if $socket !~ m{^/[^\s?&#%]+\z};
    return $socket;
}

# PVE 8 hands this string to QEMU's -drive file=; PVE 9's base qemu_blockdev_options maps exactly
# this form (and nbd://) to the nbd blockdev driver, so the form matters.
sub path {
    my ($class, $scfg, $volname, $storeid, $snapname) = @_;

    die "lis volumes have no snapshots\n" if defined($snapname) && $snapname ne '';
    my (undef, $name, $vmid) = $class->parse_volname($volname);
    my $path = "nbd+unix:///$name?socket=" . lis_socket($scfg);
    return wantarray ? ($path, $vmid, 'images') : $path;
}

# PVE 9: the base class turns path() into { driver => 'nbd', server => …, export => … }; add the
# reconnect delay so a Lis restart under a running VM stalls I/O instead of failing it.
sub qemu_blockdev_options {
    my ($class, $scfg, $storeid, $volname, $machine_version, $options) = @_;

    my $blockdev = $class->SUPER::qemu_blockdev_options(
        $scfg, $storeid, $volname, $machine_version, $options,
    );
    if (($blockdev->{driver} // '') eq 'nbd') {
        $blockdev->{'reconnect-delay'} = int($RECONNECT_DELAY);
    }
    return $blockdev;
}

# --- volumes -----------------------------------------------------------------------------------

# The first vm-VMID-disk-N not taken (a base-VMID-disk-N takes its N too, as in PVE's own
# naming). PVE holds the storage lock around alloc_image, so two allocations do not race here.
sub free_disk_name {
    my ($scfg, $storeid, $vmid) = @_;

    my %taken;
    for my $volume (@{ lis_volumes($scfg) }) {
        $taken{$1} = 1 if $volume->{name} =~ m/^(?:vm|base)-\Q$vmid\E-disk-(\d+)\z/;
    }
    for my $n (0 .. 1023) {
        return "vm-$vmid-disk-$n" if !$taken{$n};
    }
    die "unable to allocate an image name for VM $vmid in storage '$storeid'\n";
}

sub alloc_image {
    my ($class, $storeid, $scfg, $vmid, $fmt, $name, $size) = @_;

    die "unsupported format '" . ($fmt // '') . "': lis volumes are raw\n"
        if defined($fmt) && $fmt ne 'raw';

    $name = free_disk_name($scfg, $storeid, $vmid) if !defined($name) || $name eq '';
    die "illegal name '$name' - should be 'vm-$vmid-*'\n"
        if $name !~ m/^vm-\Q$vmid\E-/ || !eval { $class->parse_volname($name); 1 };

    my $bytes = kib_to_bytes($size);
    run_lis_json($scfg, $TIMEOUT, 'volume', 'create', $name, '--size', ($bytes / 1024) . 'K');
    return $name;
}

sub free_image {
    my ($class, $storeid, $scfg, $volname, $isBase, $format) = @_;

    my (undef, $name) = $class->parse_volname($volname);
    run_lis($scfg, $TIMEOUT, 'volume', 'delete', $name);
    return undef;
}

# `used` is the volume's size: Lis reports no per-volume allocation, and a Lis volume's blocks
# are all the guest's to fill. Lis knows no creation time, so there is no ctime.
sub list_images {
    my ($class, $storeid, $scfg, $vmid, $vollist, $cache) = @_;

    my %wanted = map { $_ => 1 } @{ $vollist // [] };
    my $res = [];
    for my $volume (@{ lis_volumes($scfg) }) {
        my ($vtype, $name, $owner) = eval { $class->parse_volname($volume->{name}) };
        next if !defined($vtype);    # not a PVE disk: another user of the same Lis cluster

        my $volid = "$storeid:$name";
        if ($vollist) {
            # As in PVE's own plugins, a volume list takes the place of the vmid filter.
            next if !$wanted{$volid};
        } elsif (defined($vmid)) {
            next if $owner ne $vmid;
        }

        push @$res, {
            volid => $volid,
            format => 'raw',
            size => $volume->{size_bytes},
            used => $volume->{size_bytes},
            vmid => $owner,
        };
    }
    return $res;
}

sub volume_size_info {
    my ($class, $scfg, $storeid, $volname, $timeout) = @_;

    my (undef, $name) = $class->parse_volname($volname);
    my $size = lis_volume($scfg, $name, $timeout)->{size_bytes};
    return wantarray ? ($size, 'raw', $size, undef) : $size;
}

# QEMU cannot grow a disk it reaches over NBD: its nbd driver refuses any truncate past the size
# the server announced when it connected ("Cannot grow NBD nodes", block/nbd.c
# nbd_co_truncate), so PVE's block_resize of a running VM's disk would fail after Lis had grown
# the volume. Refuse before growing anything.
sub volume_resize {
    my ($class, $scfg, $storeid, $volname, $size, $running, $snapname) = @_;

    die "lis volumes have no snapshots\n" if defined($snapname) && $snapname ne '';
    my (undef, $name) = $class->parse_volname($volname);
    die "cannot grow $volname while its VM is running: QEMU cannot grow a disk attached over"
        . " NBD; shut the VM down (or detach the disk) and resize again\n" if $running;

    my $bytes = round_up_size($size);
    my $volume = run_lis_json($scfg, $TIMEOUT, 'volume', 'resize', $name, '--size', $bytes);
    return $volume->{size_bytes};
}

# Only full copies (qemu-img convert into a new volume) work; snapshots, linked clones,
# templates, renames and zero-initialised allocation are not offered.
sub volume_has_feature {
    my ($class, $scfg, $feature, $storeid, $volname, $snapname, $running, $opts) = @_;

    return 1 if $feature eq 'copy' && !(defined($snapname) && $snapname ne '');
    return undef;
}

sub volume_snapshot {
    die "lis volumes do not support snapshots yet\n";
}

sub volume_snapshot_rollback {
    die "lis volumes do not support snapshots yet\n";
}

sub volume_snapshot_delete {
    die "lis volumes do not support snapshots yet\n";
}

sub clone_image {
    die "lis volumes do not support linked clones yet\n";
}

sub create_base {
    die "lis volumes do not support templates yet\n";
}

sub rename_volume {
    die "lis volumes do not support renaming yet\n";
}

# --- storage and volume activation -------------------------------------------------------------

# PVE polls status often: an unreachable node makes the storage inactive, not an error.
sub status {
    my ($class, $storeid, $scfg, $cache) = @_;

    my $status = eval { run_lis_json($scfg, $STATUS_TIMEOUT, 'status') };
    return (0, 0, 0, 0) if !$status || ref($status->{disk}) ne 'HASH';

    my $disk = $status->{disk};
    return ($disk->{total_bytes}, $disk->{available_bytes}, $disk->{used_bytes}, 1);
}

# Dies with Lis's message when the node does not answer, and when the socket QEMU would be given
# is not there (a lis-socket that does not match `lis serve --nbd-socket`).
sub activate_storage {
    my ($class, $storeid, $scfg, $cache) = @_;

    run_lis_json($scfg, $TIMEOUT, 'status');
    my $socket = lis_socket($scfg);
    die "lis: no NBD socket at $socket (lis-socket of storage '$storeid'): is `lis serve`"
        . " running with --nbd-socket $socket?\n" if !-S $socket;
    return 1;
}

sub deactivate_storage {
    my ($class, $storeid, $scfg, $cache) = @_;
    return 1;
}

sub activate_volume {
    my ($class, $storeid, $scfg, $volname, $snapname, $cache, $hints) = @_;

    die "lis volumes have no snapshots\n" if defined($snapname) && $snapname ne '';
    my (undef, $name) = $class->parse_volname($volname);
    lis_volume($scfg, $name);
    return 1;
}

sub deactivate_volume {
    my ($class, $storeid, $scfg, $volname, $snapname, $cache) = @_;
    return 1;
}

1;
