# Sourced by the test scripts: starts a throw-away etcd (Debian's etcd-server) on free loopback
# ports with its data in a temp dir and sets ETCD_ENDPOINT; the caller's EXIT trap calls
# stop_etcd.
#   . scripts/lib/etcd.sh; trap stop_etcd EXIT; start_etcd
. "$(dirname "${BASH_SOURCE[0]}")/checks.sh"
start_etcd() {
    command -v etcd >/dev/null || { echo "etcd is missing: apt-get install etcd-server" >&2; return 1; }
    ETCD_DIR=$(mktemp -d)
    local client peer
    client=$(free_port)
    peer=$(free_port)
    ETCD_ENDPOINT="http://127.0.0.1:$client"
    etcd --name lis-test --data-dir "$ETCD_DIR/data" \
        --listen-client-urls "$ETCD_ENDPOINT" --advertise-client-urls "$ETCD_ENDPOINT" \
        --listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
        --initial-cluster "lis-test=http://127.0.0.1:$peer" > "$ETCD_DIR/etcd.log" 2>&1 &
    ETCD_PID=$!
    for _ in $(seq 1 100); do
        if curl -sf -X POST "$ETCD_ENDPOINT/v3/kv/range" -d '{"key":"AA=="}' >/dev/null 2>&1; then
            export ETCD_ENDPOINT
            return 0
        fi
        sleep 0.1
    done
    echo "etcd did not start; its log:" >&2
    cat "$ETCD_DIR/etcd.log" >&2
    return 1
}

stop_etcd() {
    if [ -n "${ETCD_PID:-}" ]; then
        kill "$ETCD_PID" 2>/dev/null || true
        wait "$ETCD_PID" 2>/dev/null || true
        ETCD_PID=
    fi
    [ -n "${ETCD_DIR:-}" ] && rm -rf "$ETCD_DIR"
}
