#!/usr/bin/env bash
# Start `zk-server dev` as the README does, wait for one leader, stop it with Ctrl-C (SIGINT).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$(mktemp -d)
trap 'kill -INT $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
cargo build -q -p zk-server
target/debug/zk-server dev --dir "$dir" --client-port 22181 --quorum-port 22888 --election-port 23888 --tick-time 200 >"$dir/dev.out" 2>&1 &
pid=$!
for _ in $(seq 1 150); do
    # A node not listening yet is no error here: poll again.
    modes=$(for p in 22181 22182 22183; do { echo srvr | nc -q 1 127.0.0.1 $p 2>/dev/null || true; } | sed -n 's/^Mode: //p'; done | sort | tr '\n' ' ')
    if [ "$modes" = "follower follower leader " ]; then
        echo "dev ensemble serving: $modes"
        kill -INT $pid
        wait $pid
        grep -q "connect string: 127.0.0.1:22181,127.0.0.1:22182,127.0.0.1:22183" "$dir/dev.out"
        echo "1 passed, 0 failed"
        exit 0
    fi
    sleep 0.2
done
echo "dev ensemble did not elect one leader within 30 s; modes: $modes"
cat "$dir/dev.out"; tail -n 30 "$dir"/node-*/zk-server.log
echo "0 passed, 1 failed"
exit 1
