#!/usr/bin/env bash
# Installs the real NBD clients, etcd and the tools the node tests and benchmarks use
# (promtool, from Debian's prometheus, checks the node's /metrics; Debian's headless chromium
# with its driver, and selenium from PyPI, load the dashboard in a real browser; lintian checks
# the Debian package, perl's prove runs the Proxmox plugin's tests).
set -euo pipefail
need=()
command -v qemu-io >/dev/null || need+=(qemu-utils)
command -v nbdkit >/dev/null || need+=(nbdkit)
command -v nbdinfo >/dev/null || need+=(libnbd-bin)
command -v fio >/dev/null || need+=(fio)
command -v curl >/dev/null || need+=(curl)
command -v etcd >/dev/null || need+=(etcd-server)
command -v etcdctl >/dev/null || need+=(etcd-client)
/usr/bin/python3 -c 'import nbd' 2>/dev/null || need+=(python3-libnbd)
command -v chromium >/dev/null || need+=(chromium)
command -v chromedriver >/dev/null || need+=(chromium-driver)
/usr/bin/python3 -m pip --version >/dev/null 2>&1 || need+=(python3-pip)
command -v lintian >/dev/null || need+=(lintian)  # checks the Debian package (scripts/build-deb.sh)
command -v prove >/dev/null || need+=(perl)       # the Proxmox plugin's tests
if [ ${#need[@]} -gt 0 ]; then
    echo "installing: ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${need[@]}" >/dev/null
fi
if ! command -v promtool >/dev/null; then
    echo "installing: prometheus (for promtool)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi
if ! /usr/bin/python3 -c 'import selenium' 2>/dev/null; then
    echo "installing: selenium (PyPI, for the dashboard's browser test)"
    /usr/bin/python3 -m pip install -q --break-system-packages selenium
fi
