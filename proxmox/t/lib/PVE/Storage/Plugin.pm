# This file is part of Lis.
#
# A stand-in for Proxmox VE's PVE::Storage::Plugin, the base class of every storage plugin,
# written for Lis's tests. It has only what LisPlugin inherits and relies on; the real class is a
# PVE::SectionConfig with far more. Not a copy of pve-storage.

package PVE::Storage::Plugin;

use strict;
use warnings;

# PVE 9 opens a volume with QEMU's -blockdev, asking the plugin for the options;
# PVE::Storage::Plugin's default maps a path() that is an NBD URI to the nbd driver. The shape
# below is the one pve-storage 9.1 builds for `nbd+unix:///EXPORT?socket=PATH`
# (src/PVE/Storage/Plugin.pm in proxmox/pve-storage: qemu_blockdev_options and its helper
# blockdev_options_nbd_unix): export and socket are runs of non-space characters, the export may
# be empty (then the key is left out), and both values are strings.
sub qemu_blockdev_options {
    my ($class, $scfg, $storeid, $volname, $machine_version, $options) = @_;

    my ($path) = $class->path($scfg, $volname, $storeid, $options->{'snapshot-name'});

    if ($path =~ m{^nbd\+unix:///(\S*)\?socket=(\S+)$}) {
        my ($export, $socket) = ($1, $2);
        my $blockdev = { driver => 'nbd', server => { type => 'unix', path => "$socket" } };
        $blockdev->{export} = "$export" if $export ne '';
        return $blockdev;
    }
    # Files are opened with the file driver (the real class also knows host devices, iSCSI,
    # NBD over TCP and RBD, which LisPlugin never returns).
    if ($path =~ m{^/}) {
        return { driver => 'file', filename => "$path" };
    }
    die "storage plugin doesn't implement qemu_blockdev_options() method\n";
}

1;
