# Helpers of the end-to-end test scripts (source it): named checks that count their outcome in
# $passed and $failed, polling, and free loopback ports.

passed=${passed:-0}
failed=${failed:-0}

check() {  # check NAME COMMAND...: runs the command, counts and prints the outcome
    local name=$1
    shift
    if out=$("$@" 2>&1); then
        passed=$((passed + 1))
        echo "  ok: $name"
    else
        failed=$((failed + 1))
        echo "  FAIL: $name"
        echo "$out" | tail -n 15 | sed 's/^/      /'
    fi
}

wait_for() {  # wait_for SECONDS COMMAND...: polls until the command succeeds
    local deadline=$((SECONDS + $1))
    shift
    until "$@" >/dev/null 2>&1; do
        [ $SECONDS -ge $deadline ] && return 1
        sleep 0.1
    done
}

free_port() {  # a TCP port on 127.0.0.1 that nothing listens on now
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
