# Starting the servers the NBD benchmarks compare; sourced by scripts/bench-*.sh,
# count-instructions.sh and profile-nbd.sh. Each function leaves the started process's pid in
# `server_pid`.

# start_lis BINARY DATA_DIR PORT [WRAPPER ...]: `lis serve` with its data in DATA_DIR (NBD on
# the unix socket DATA_DIR/nbd.sock, no TCP) and its API on 127.0.0.1:PORT, started under
# WRAPPER if given (e.g. valgrind). Waits for the API, then creates the 1 GiB volume `bench`
# unless DATA_DIR has it already. Its log goes to DATA_DIR.log.
start_lis() {
    local bin=$1 dir=$2 port=$3
    shift 3
    "$@" "$bin" serve --data-dir "$dir" --nbd-address none --http-address "127.0.0.1:$port" --log-level warning \
        2>>"$dir.log" &
    server_pid=$!
    local tries=0
    until curl -sf "http://127.0.0.1:$port/v1/status" >/dev/null; do
        kill -0 "$server_pid" 2>/dev/null || { echo "lis serve exited; its log:" >&2; tail -n 20 "$dir.log" >&2; return 1; }
        tries=$((tries + 1))
        [ $tries -lt 1200 ] || { echo "lis serve on port $port did not answer in 120 s" >&2; return 1; }
        sleep 0.1
    done
    curl -sf "http://127.0.0.1:$port/v1/volumes/bench" >/dev/null ||
        "$bin" volume create bench --size 1G --api "http://127.0.0.1:$port" >/dev/null
}

# start_nbdkit IMAGE SOCKET: `nbdkit file` serving IMAGE (made a sparse 1 GiB file unless it
# exists) on the unix socket SOCKET.
start_nbdkit() {
    local image=$1 socket=$2
    [ -e "$image" ] || truncate -s 1G "$image"
    rm -f "$socket"
    nbdkit --exit-with-parent -U "$socket" file file="$image" &
    server_pid=$!
    local tries=0
    until [ -S "$socket" ]; do
        tries=$((tries + 1))
        [ $tries -lt 100 ] || { echo "nbdkit did not open $socket in 10 s" >&2; return 1; }
        sleep 0.1
    done
}

# lis_uri DATA_DIR, nbdkit_uri SOCKET: the NBD URI fio and the other clients take.
lis_uri() { echo "nbd+unix:///bench?socket=$1/nbd.sock"; }
nbdkit_uri() { echo "nbd+unix:///?socket=$1"; }

# fill URI SIZE: writes the first SIZE of the disk once (1 MiB sequential writes), so reads
# read data and later writes overwrite allocated blocks.
fill() { fio --name=fill --ioengine=nbd --uri="$1" --rw=write --bs=1M --iodepth=8 --size="$2" --output=/dev/null; }
