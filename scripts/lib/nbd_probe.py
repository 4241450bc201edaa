#!/usr/bin/env python3
"""Checks a Lis NBD export with libnbd (python3-libnbd), as a strict client would.

Usage: nbd_probe.py SOCKET EXPORT SIZE_BYTES
Prints one line per check and exits non-zero if any fails.
"""
import sys

import nbd

sock, export, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
failures = 0


def check(name, ok, detail=""):
    global failures
    print(f"  {'ok' if ok else 'FAIL'}: {name}{' — ' + detail if detail else ''}")
    if not ok:
        failures += 1


# An unknown export is refused with NBD_REP_ERR_UNKNOWN (libnbd reports it as an error).
h = nbd.NBD()
h.set_opt_mode(True)
h.connect_unix(sock)
h.set_export_name("no-such-volume")
try:
    h.opt_info()
    check("unknown export refused", False, "opt_info succeeded")
except nbd.Error as e:
    check("unknown export refused", True, str(e).splitlines()[0][:80])
listed = []
h.opt_list(lambda name, desc: listed.append(name))
check("LIST names the export", export in listed, f"{listed}")
h.opt_abort()

# Structured replies, block sizes, flags.
h = nbd.NBD()
h.set_export_name(export)
h.set_request_structured_replies(True)
h.connect_unix(sock)
check("size", h.get_size() == size, f"{h.get_size()}")
check("structured replies negotiated", h.get_structured_replies_negotiated())
check("minimum block size 4096", h.get_block_size(nbd.SIZE_MINIMUM) == 4096, f"{h.get_block_size(nbd.SIZE_MINIMUM)}")
check("maximum payload 32 MiB", h.get_block_size(nbd.SIZE_MAXIMUM) == 32 * 1024 * 1024, f"{h.get_block_size(nbd.SIZE_MAXIMUM)}")
check("flush, FUA, trim, zero advertised", h.can_flush() and h.can_fua() and h.can_trim() and h.can_zero())
check("multi-conn advertised", h.can_multi_conn())
check("writable", not h.is_read_only())
pattern = bytes(range(256)) * 16
h.pwrite(pattern, 8192, nbd.CMD_FLAG_FUA)
check("FUA write reads back", h.pread(4096, 8192) == pattern)
h.zero(4096, 8192)
check("write zeroes reads back as zeros", h.pread(4096, 8192) == bytes(4096))
h.trim(4096, 8192)
h.flush()
try:
    h.pread(4096, size)
    check("read past the end refused", False)
except nbd.Error as e:
    check("read past the end refused", True, str(e).splitlines()[0][:60])
h.shutdown()

# Without structured replies (simple replies only).
h = nbd.NBD()
h.set_export_name(export)
h.set_request_structured_replies(False)
h.connect_unix(sock)
check("simple-reply read", h.pread(4096, 0) is not None and not h.get_structured_replies_negotiated())
h.shutdown()

sys.exit(1 if failures else 0)
