#!/usr/bin/env bash
# Start `zk-server dev` as the README does (over classic TCP, then over QUIC with the
# certificates it writes), wait for one leader, stop it with Ctrl-C (SIGINT).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q -p zk-server
passed=0
smoke() {
    local transport=$1 offset=$2
    local c=$((22181 + offset)) q=$((22888 + offset)) e=$((23888 + offset))
    local dir
    dir=$(mktemp -d)
    target/debug/zk-server dev --transport "$transport" --dir "$dir" --client-port $c \
        --quorum-port $q --election-port $e --tick-time 200 >"$dir/dev.out" 2>&1 &
    local pid=$! modes=""
    for _ in $(seq 1 150); do
        # A node not listening yet is no error here: poll again.
        modes=$(for p in $c $((c + 1)) $((c + 2)); do { echo srvr | nc -q 1 127.0.0.1 $p 2>/dev/null || true; } | sed -n 's/^Mode: //p'; done | sort | tr '\n' ' ')
        if [ "$modes" = "follower follower leader " ]; then
            echo "dev ensemble over $transport serving: $modes"
            kill -INT $pid
            wait $pid
            grep -q "connect string: 127.0.0.1:$c,127.0.0.1:$((c + 1)),127.0.0.1:$((c + 2))" "$dir/dev.out"
            rm -rf "$dir"
            passed=$((passed + 1))
            return 0
        fi
        sleep 0.2
    done
    kill -INT $pid 2>/dev/null || true
    echo "dev ensemble over $transport did not elect one leader within 30 s; modes: $modes"
    cat "$dir/dev.out"; tail -n 30 "$dir"/node-*/zk-server.log
    echo "$passed passed, 1 failed"
    exit 1
}
smoke tcp 0
smoke quic 10
echo "$passed passed, 0 failed"
