#!/usr/bin/env bash
# Benchmark (f): psync-node against redis-server, each with one replica attached, under
# `redis-benchmark -t set -P 16 -n 200000`, measured side by side in one run; prints the
# ratio. Loopback only; every process is stopped by its own PID.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q --release -p psync-node
bin=target/release/psync-node
n="${1:-200000}"
dir=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; rm -rf "$dir"; }
trap cleanup EXIT
port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
wait_up() { for _ in $(seq 100); do redis-cli -p "$1" ping >/dev/null 2>&1 && return 0; sleep 0.05; done; return 1; }
wait_link() { for _ in $(seq 200); do redis-cli -p "$1" info replication | grep -q master_link_status:up && return 0; sleep 0.05; done; return 1; }
rps() { redis-benchmark -p "$1" -t set -P 16 -n "$n" --csv | awk -F'"' '$2=="SET"{print $4}'; }

rm_=$(port); rr=$(port); pm=$(port); pr=$(port)
redis-server --bind 127.0.0.1 --port "$rm_" --save '' --appendonly no --dir "$dir" >/dev/null 2>&1 & pids+=($!)
redis-server --bind 127.0.0.1 --port "$rr" --save '' --appendonly no --dir "$dir" --replicaof 127.0.0.1 "$rm_" >/dev/null 2>&1 & pids+=($!)
"$bin" --port "$pm" --dir "$dir" --repl-diskless-sync-delay 0 >/dev/null 2>&1 & pids+=($!)
"$bin" --port "$pr" --dir "$dir" --replicaof 127.0.0.1 "$pm" >/dev/null 2>&1 & pids+=($!)
for p in "$rm_" "$rr" "$pm" "$pr"; do wait_up "$p"; done
wait_link "$rr"; wait_link "$pr"
r1=$(rps "$rm_"); p1=$(rps "$pm"); r2=$(rps "$rm_"); p2=$(rps "$pm")
echo "redis-server SET rps: $r1 $r2"
echo "psync-node   SET rps: $p1 $p2"
python3 -c "r=($r1+$r2)/2;p=($p1+$p2)/2;print(f'psync-node / redis-server = {p/r:.2f}x')"
