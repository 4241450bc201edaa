# This file is part of Lis.
#
# A stand-in for Proxmox VE's PVE::Storage, written for Lis's tests: just enough to load and
# exercise LisPlugin without a Proxmox VE host. Not a copy of pve-storage.
#
# PVE::Storage declares the storage API version (APIVER) and how many older versions it still
# loads (APIAGE); these are pve-storage 9.1's values. They are subs over package variables, not
# constants, so a test can change them with `local $PVE::Storage::APIVER = 11;`.

package PVE::Storage;

use strict;
use warnings;

our $APIVER = 15;
our $APIAGE = 6;

sub APIVER {
    return $APIVER;
}

sub APIAGE {
    return $APIAGE;
}

1;
