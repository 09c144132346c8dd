#!/usr/bin/env bash
# Benchmark (f): psync-node against redis-server, each with one replica attached, under
# `redis-benchmark -t set -P 16 -n 200000`, measured side by side in one run; prints the
# ratio. Loopback only; every process is stopped by its own PID.
# Usage: bash ci/bench-node.sh [requests] [rounds] [other psync-node binary...]
#   Extra binaries (e.g. a build of another commit) are measured in the same rounds, so
#   an optimisation can be judged as a ratio on a noisy machine.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q --release -p psync-node
n="${1:-200000}"
rounds="${2:-3}"
bins=(target/release/psync-node "${@:3}")
dir=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; rm -rf "$dir"; }
trap cleanup EXIT
port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
wait_up() { for _ in $(seq 100); do redis-cli -p "$1" ping >/dev/null 2>&1 && return 0; sleep 0.05; done; return 1; }
wait_link() { for _ in $(seq 200); do redis-cli -p "$1" info replication | grep -q master_link_status:up && return 0; sleep 0.05; done; return 1; }
rps() { redis-benchmark -p "$1" -t set -P 16 -n "$n" --csv | awk -F'"' '$2=="SET"{print $4}'; }

# Masters: index 0 is redis-server, then one per psync-node binary; each has a replica.
masters=()
m=$(port); r=$(port)
redis-server --bind 127.0.0.1 --port "$m" --save '' --appendonly no --dir "$dir" >/dev/null 2>&1 & pids+=($!)
redis-server --bind 127.0.0.1 --port "$r" --save '' --appendonly no --dir "$dir" --replicaof 127.0.0.1 "$m" >/dev/null 2>&1 & pids+=($!)
masters+=("$m"); replicas=("$r")
for b in "${bins[@]}"; do
  m=$(port); r=$(port); mkdir -p "$dir/$m" "$dir/$r"
  "$b" --port "$m" --dir "$dir/$m" --repl-diskless-sync-delay 0 >/dev/null 2>&1 & pids+=($!)
  "$b" --port "$r" --dir "$dir/$r" --replicaof 127.0.0.1 "$m" >/dev/null 2>&1 & pids+=($!)
  masters+=("$m"); replicas+=("$r")
done
for p in "${masters[@]}" "${replicas[@]}"; do wait_up "$p"; done
for p in "${replicas[@]}"; do wait_link "$p"; done
declare -A sum
for _ in $(seq "$rounds"); do
  for i in "${!masters[@]}"; do
    v=$(rps "${masters[$i]}"); sum[$i]="${sum[$i]:-} $v"
  done
done
echo "redis-server SET rps:${sum[0]}"
for i in "${!bins[@]}"; do
  echo "${bins[$i]} SET rps:${sum[$((i + 1))]}"
  python3 -c "import sys;r=sum(map(float,'${sum[0]}'.split()));p=sum(map(float,'${sum[$((i + 1))]}'.split()));print(f'  {sys.argv[1]} / redis-server = {p/r:.2f}x')" "${bins[$i]}"
done
