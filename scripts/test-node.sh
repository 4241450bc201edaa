#!/usr/bin/env bash
# End-to-end tests of `lis serve` with real NBD clients (qemu-img, qemu-io, nbdinfo, nbdcopy,
# fio, libnbd), a kill -9 crash, hostile input and a clean shutdown. Run by scripts/test.sh.
# Every server runs on loopback / a unix socket in a temporary directory and is stopped here.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
scripts/install-deps.sh 2>/dev/null || "$root/scripts/install-deps.sh"

echo "== building lis (release)"
(cd "$root" && swift build -c release --static-swift-stdlib --product lis 2>&1 | tail -n 1)
lis="$root/.build/release/lis"

work=$(mktemp -d /tmp/lis-node-test.XXXXXX)
cd "$work"
passed=0
failed=0
pid=
. "$root/scripts/lib/checks.sh"
. "$root/scripts/lib/etcd.sh"
cleanup() {
    [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    stop_etcd
    cd /
    [ -n "${LIS_KEEP_TEST_DIR:-}" ] && echo "kept $work" || rm -rf "$work"
}
trap cleanup EXIT

start() {  # start NAME: runs `lis serve` in the background (sets pid) and checks it answers
    "$lis" serve >>serve.log 2>&1 &
    pid=$!
    check "$1" wait_for 30 bash -c "curl -sf http://127.0.0.1:7780/v1/status && test -S lis-data/nbd.sock"
}

if curl -s -o /dev/null http://127.0.0.1:7780/ || (exec 3<>/dev/tcp/127.0.0.1/10809) 2>/dev/null; then
    echo "ports 7780 or 10809 are taken (another lis serve?): the tests need the defaults free" >&2
    exit 1
fi

sock="lis-data/nbd.sock"
uri="nbd+unix:///vm1?socket=$sock"

echo "== the README's newcomer flow"
start "lis serve starts with no arguments"
check "it says what it listens on" grep -q "NBD on unix:.*nbd.sock and tcp:127.0.0.1:10809; API on http://127.0.0.1:7780" serve.log
check "lis volume create vm1 --size 1G" "$lis" volume create vm1 --size 1G
check "qemu-io pattern write and flush" qemu-io -f raw "$uri" -c 'write -P 0xab 0 1M' -c flush
kill -9 "$pid"; wait "$pid" 2>/dev/null; pid=
start "restart after kill -9"
check "qemu-io pattern read after the crash" qemu-io -f raw "$uri" -c 'read -P 0xab 0 1M'

echo "== volumes"
check "volume list shows vm1" bash -c "'$lis' volume list | grep -q vm1"
check "bad size is refused with what is allowed" bash -c "! '$lis' volume create bad --size 12Q 2>err && grep -qi 'unit' err"
check "size not a multiple of 4096 is refused" bash -c "! '$lis' volume create bad --size 1000 2>/dev/null"
check "bad name is refused" bash -c "! '$lis' volume create 'a/b' --size 1M 2>/dev/null"
check "duplicate name is refused" bash -c "! '$lis' volume create vm1 --size 1G 2>/dev/null"
check "create, resize (grow) and delete" bash -c "'$lis' volume create tmp1 --size 64M --block-size 256K && '$lis' volume resize tmp1 --size 128M && nbdinfo --size 'nbd+unix:///tmp1?socket=$sock' | grep -qx 134217728 && '$lis' volume delete tmp1 && ! '$lis' volume list | grep -q tmp1"
check "shrinking is refused" bash -c "! '$lis' volume resize vm1 --size 512M 2>/dev/null"

echo "== real NBD clients"
check "nbdinfo: size" bash -c "nbdinfo --size '$uri' | grep -qx 1073741824"
check "nbdinfo --list names vm1" bash -c "nbdinfo --list 'nbd+unix:///?socket=$sock' | grep -q vm1"
check "nbdinfo: block sizes and flags" bash -c "nbdinfo --json '$uri' | python3 -c 'import json,sys; e=json.load(sys.stdin)[\"exports\"][0]; assert e[\"block_size_minimum\"]==4096 and e[\"block_size_maximum\"]==33554432 and e[\"can_flush\"] and e[\"can_fua\"] and e[\"can_multi_conn\"], e'"
check "unknown export is refused" bash -c "! nbdinfo 'nbd+unix:///nope?socket=$sock' 2>/dev/null"
check "libnbd probe (options, structured replies, zero, trim, bounds)" /usr/bin/python3 "$root/scripts/lib/nbd_probe.py" "$sock" vm1 1073741824
check "qemu-img info" bash -c "qemu-img info -f raw '$uri' | grep -q '1 GiB'"
head -c 64M /dev/urandom > src.img
check "qemu-img convert into the volume" qemu-img convert -n -f raw -O raw src.img "$uri"
check "qemu-img compare" qemu-img compare -f raw -F raw src.img "$uri"
check "qemu-io over TCP" qemu-io -f raw "nbd://127.0.0.1:10809/vm1" -c 'write -P 0x5c 512M 64k' -c 'read -P 0x5c 512M 64k'
head -c 256M /dev/urandom > big.img
check "nbdcopy 256 MiB in" nbdcopy big.img "$uri"
check "nbdcopy 256 MiB out" nbdcopy "$uri" back.img
check "nbdcopy round trip is identical" bash -c "cmp <(head -c 268435456 back.img) big.img"
check "fio randwrite with crc32c verify" fio --name=verify --ioengine=nbd --uri="$uri" --rw=randwrite --bs=4k --size=64M \
    --iodepth=16 --verify=crc32c --do_verify=1 --verify_state_save=0 --output=/dev/null
check "fio sequential 1 MiB with verify" fio --name=seq --ioengine=nbd --uri="$uri" --rw=write --bs=1M --size=128M --offset=256M \
    --iodepth=8 --verify=crc32c --verify_state_save=0 --output=/dev/null
# Writes of 128 KiB and more are stored off the event loop; smaller ones, reads and flushes
# after them must still see them, in order.
check "fio random 64k-2M writes with verify" fio --name=large --ioengine=nbd --uri="$uri" --rw=randwrite --bsrange=64k-2M \
    --size=96M --offset=640M --iodepth=8 --verify=crc32c --verify_state_save=0 --output=/dev/null
check "a small write over a large one just written, then reads" qemu-io -f raw "$uri" -c 'write -P 0x11 736M 1M' \
    -c 'write -P 0x22 754432k 4k' -c 'write -P 0x33 736M 512k' -c 'read -P 0x33 736M 512k' -c 'read -P 0x11 754176k 256k' \
    -c 'read -P 0x22 754432k 4k' -c 'read -P 0x11 754436k 252k' -c flush

echo "== hostile input"
check "hostile traffic on the unix socket" /usr/bin/python3 "$root/scripts/lib/nbd_hostile.py" "unix:$sock" vm1 1
check "hostile traffic on TCP" /usr/bin/python3 "$root/scripts/lib/nbd_hostile.py" "tcp:127.0.0.1:10809" vm1 2
check "the node survived" kill -0 "$pid"
check "a normal client still works" qemu-io -f raw "$uri" -c 'write -P 0x77 900M 1M' -c flush -c 'read -P 0x77 900M 1M'

echo "== metrics (GET /metrics, Prometheus's text format)"
check "promtool check metrics accepts GET /metrics" bash -c "curl -sf http://127.0.0.1:7780/metrics > metrics.txt && promtool check metrics < metrics.txt"
for op in write read flush; do
    check "the metrics count the clients' commands ($op), with their latency" \
        grep -qE "^lis_client_request_seconds_count\{node=\"[^\"]+\",op=\"$op\",region=\"local\"\} [1-9]" metrics.txt
done
check "… the open NBD connections (none now), and that the node has not failed" \
    bash -c "grep -qE '^lis_nbd_connections\{.*\} 0$' metrics.txt && grep -qE '^lis_node_failed\{.*\} 0$' metrics.txt"

echo "== the dashboard (docs/DASHBOARD.md): the page built in, the views of what the clients did"
api=http://127.0.0.1:7780
check "GET / serves the page and its files, nothing from elsewhere" bash -c "
    curl -sf $api/ | grep -q 'dashboard.js' && curl -sf $api/dashboard.js | grep -q EventSource && curl -sf $api/dashboard.css > /dev/null &&
    ! curl -sf $api/ | grep -qE 'https?://' && curl -sfI $api/ | grep -qi \"content-security-policy: default-src 'self'\""
check "GET /v1/overview: vm1's 1,024 blocks are all held in local, Hive answers" bash -c "curl -sf $api/v1/overview | python3 -c '
import json, sys; o = json.load(sys.stdin); v = o[\"volumes\"][0]
assert o[\"kind\"] == \"node\" and o[\"hive\"][\"ok\"] and v[\"name\"] == \"vm1\" and v[\"held_by_region\"] == {\"local\": 1024}, o'"
check "GET /v1/heat: the block the clients wrote last has its row with writes; the rows cover the volume once" bash -c "curl -sf '$api/v1/heat?columns=10' | python3 -c '
import json, sys; h = json.load(sys.stdin); rows = {(r[\"first\"], r[\"last\"]): r for r in h[\"rows\"]}
assert (900, 900) in rows and sum(c[1] for c in rows[(900, 900)][\"cells\"]) >= 1, rows.get((900, 900))
assert h[\"missing\"] == []
assert sorted((r[\"first\"], r[\"last\"]) for r in h[\"rows\"])[0][0] == 0 and sum(r[\"last\"] - r[\"first\"] + 1 for r in h[\"rows\"]) == 1024'"
check "GET /v1/latency: write, read and flush percentiles of region local" bash -c "curl -sf $api/v1/latency | python3 -c '
import json, sys; l = json.load(sys.stdin)
ops = {s[\"op\"] for s in l[\"series\"] if s[\"region\"] == \"local\" and s[\"points\"] and s[\"points\"][0][\"p99_ms\"] >= s[\"points\"][0][\"p50_ms\"] > 0}
assert ops == {\"write\", \"read\", \"flush\"}, l'"
check "GET /v1/usage: vm1 is used from local only" bash -c "curl -sf $api/v1/usage | python3 -c '
import json, sys; u = json.load(sys.stdin); assert u[0][\"volume\"] == \"vm1\" and u[0][\"share\"] == {\"local\": 1}, u'"
check "GET /v1/events streams ticks (server-sent events)" bash -c "curl -sN --max-time 5 $api/v1/events | grep -q '^event: tick'"
check "headless Chromium loads the dashboard: heat map drawn, no error in its console" \
    /usr/bin/python3 "$root/scripts/lib/dashboard_browser.py" --url "$api/" --screenshot dashboard-one-node.png
check "a change from another site is refused (403), one from the page's own origin is not" bash -c "
    curl -s -o /dev/null -w '%{http_code}' -X PUT -H 'Origin: http://evil.example' -d '{\"paused\": false}' $api/v1/policy | grep -qx 403 &&
    curl -s -o /dev/null -w '%{http_code}' -X PUT -H 'Origin: $api' -d '{\"paused\": false}' $api/v1/policy | grep -qx 200"
check "a request naming another host (DNS rebinding) is refused on loopback" bash -c "
    curl -s -o /dev/null -w '%{http_code}' -H 'Host: rebound.example:7780' $api/v1/overview | grep -qx 403"

echo "== an API outside loopback needs the cluster's token"
check "lis serve on 0.0.0.0 without a join secret stops, naming lis cluster init" bash -c "
    ! timeout 20 '$lis' serve --data-dir open-data --nbd-address 127.0.0.1:10898 --http-address 0.0.0.0:7798 2>open.log; grep -q 'lis cluster init' open.log"
check "lis cluster init writes the join secret and the API token" bash -c "'$lis' cluster init --name solo --secret-file solo.secret --token-file solo.token > init.out && test -s solo.token && grep -q 'API token' init.out"
"$lis" serve --data-dir open-data --nbd-address 127.0.0.1:10898 --http-address 0.0.0.0:7798 --secret-file solo.secret >>open.log 2>&1 &
open_pid=$!
check "with the secret it serves on 0.0.0.0" wait_for 30 bash -c "curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:7798/v1/status | grep -qx 401"
check "… every route but the page needs the token (401 without, 200 with)" bash -c "
    curl -sf http://127.0.0.1:7798/ > /dev/null && curl -s http://127.0.0.1:7798/metrics -o /dev/null -w '%{http_code}' | grep -qx 401 &&
    curl -sf -H \"Authorization: Bearer \$(cat solo.token)\" http://127.0.0.1:7798/v1/overview > /dev/null"
check "lis … --token-file works, and without it the error says what is missing" bash -c "
    '$lis' volume create open1 --size 16M --api http://127.0.0.1:7798 --token-file solo.token &&
    ! '$lis' volume list --api http://127.0.0.1:7798 2>nt.err && grep -q 'API token' nt.err"
check "headless Chromium with the token in the URL's fragment loads the dashboard" \
    /usr/bin/python3 "$root/scripts/lib/dashboard_browser.py" --url "http://127.0.0.1:7798/" --token "$(cat solo.token)" --screenshot dashboard-token.png
kill -TERM "$open_pid"; wait "$open_pid" 2>/dev/null

echo "== one node per data directory, clean shutdown"
check "a second lis serve on the same directory is refused" bash -c "! timeout 20 '$lis' serve --nbd-address 127.0.0.1:10899 --http-address 127.0.0.1:7799 2>second.log; grep -q 'in use' second.log"
check "the first node is unharmed" qemu-io -f raw "$uri" -c 'read -P 0x77 900M 1M'
# A browser left open on the dashboard must not hold the shutdown up.
curl -sN --max-time 60 http://127.0.0.1:7780/v1/events > /dev/null &
events_pid=$!
sleep 1
kill -TERM "$pid"
check "SIGTERM stops the node cleanly (an open event stream ends with it)" bash -c "for i in \$(seq 100); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done; ! kill -0 $pid 2>/dev/null && grep -q 'stopped cleanly' serve.log"
wait "$pid"; status=$?; pid=
check "exit status 0 after SIGTERM" test "$status" -eq 0
kill "$events_pid" 2>/dev/null; wait "$events_pid" 2>/dev/null
start "restart after a clean stop"
check "pattern after a clean restart" qemu-io -f raw "$uri" -c 'read -P 0x77 900M 1M'

kill -TERM "$pid"; wait "$pid" 2>/dev/null; pid=

echo "== the node on etcd ([hive] engine = \"etcd\")"
start_etcd || failed=$((failed + 1))
cat > etcd.toml <<TOML
[node]
data_dir = "etcd-node"
[hive]
engine = "etcd"
endpoints = ["http://127.0.0.1:9", "$ETCD_ENDPOINT"]
prefix = "/node-test/"
TOML
esock="etcd-node/nbd.sock"
euri="nbd+unix:///vm2?socket=$esock"
start_etcd_node() {
    "$lis" serve --config etcd.toml >>etcd-serve.log 2>&1 &
    pid=$!
    check "$1" wait_for 30 bash -c "curl -sf http://127.0.0.1:7780/v1/status | grep -q '\"hive\":\"etcd\"' && test -S $esock"
}
start_etcd_node "lis serve with Hive in etcd (the first endpoint is dead)"
check "a volume created through the node is in etcd" bash -c "'$lis' volume create vm2 --size 64M && etcdctl --endpoints $ETCD_ENDPOINT get /node-test/volumes/vm2 | grep -q '\"size_bytes\":67108864'"
check "qemu-io write and flush" qemu-io -f raw "$euri" -c 'write -P 0x3c 0 1M' -c 'write -P 0x3d 9M 4k' -c flush
kill -9 "$pid"; wait "$pid" 2>/dev/null; pid=
start_etcd_node "restart after kill -9"
check "the data after the crash" qemu-io -f raw "$euri" -c 'read -P 0x3c 0 1M' -c 'read -P 0x3d 9M 4k'
check "the restarted node took new epochs through etcd" bash -c "etcdctl --endpoints $ETCD_ENDPOINT get --prefix /node-test/leases/vm2/ | grep -q '\"epoch\":1'"
kill -TERM "$pid"; wait "$pid" 2>/dev/null; pid=
stop_etcd
check "with etcd down, lis serve fails with a message naming etcd" bash -c "! timeout 20 '$lis' serve --config etcd.toml 2>down.log; grep -q 'cannot start: hive: .*etcd at' down.log"

echo "== the simulator serves the same dashboard for a run (lis sim run --serve)"
"$lis" sim run --scenario sydney-student --seed 1 --serve 127.0.0.1:7796 > served.out 2> served.err &
sim_pid=$!
sapi=http://127.0.0.1:7796
check "lis sim run --serve answers, its virtual clock pacing the run" wait_for 30 bash -c "curl -sf $sapi/v1/overview | python3 -c '
import json, sys; o = json.load(sys.stdin); c = o[\"clock\"]
assert o[\"kind\"] == \"simulation\" and c[\"end_ms\"] > 600000 and not c[\"finished\"] and o[\"now_ms\"] < c[\"end_ms\"], o'"
check "PUT /v1/clock speeds it up, and the run plays to its end" bash -c "
    curl -sf -X PUT -d '{\"speed\": 100000}' $sapi/v1/clock | grep -q '\"speed\":100000' &&
    for i in \$(seq 120); do curl -sf $sapi/v1/overview | grep -q '\"finished\":true' && exit 0; sleep 0.5; done; exit 1"
check "the run's report is the one lis sim run prints (16 moves of the student's document)" \
    wait_for 10 bash -c "grep -q 'moves: 16' served.out || grep -q '16 moves' served.out"
student=$(curl -sf "$sapi/v1/decisions?kind=moved&limit=1" | python3 -c 'import json,sys; d=json.load(sys.stdin)[0]; print(d["volume"] + ":" + str(d["block"]) + "=" + d["to"])')
check "headless Chromium on the run's dashboard: the student's newest moved block ($student) in its region's colour" \
    /usr/bin/python3 "$root/scripts/lib/dashboard_browser.py" --url "$sapi/" --expect-moved "$student" --screenshot dashboard-sim.png
check "a simulated run takes no operator moves (409) and serves on loopback only" bash -c "
    curl -s -o /dev/null -w '%{http_code}' -X POST -d '{\"volume\": \"vm-100-disk-0\", \"first\": 0, \"to\": \"nyc\"}' $sapi/v1/blocks/move | grep -qx 409 &&
    ! '$lis' sim run --scenario sydney-student --serve 0.0.0.0:7797 2>lo.err && grep -q 'loopback' lo.err"
kill -TERM "$sim_pid"; wait "$sim_pid" 2>/dev/null

echo "node tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
