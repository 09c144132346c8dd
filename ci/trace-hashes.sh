#!/usr/bin/env bash
# Prints "seed trace-hash" for swarm seeds 0..N (default 150) and every named scenario at
# seed 1, with the release psync-sim. A refactoring that promises byte-for-byte the same
# behaviour must print the same lines before and after:
#   bash ci/trace-hashes.sh > /tmp/before; <change>; bash ci/trace-hashes.sh | diff /tmp/before -
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-150}"
cargo build -q --release -p psync-sim
bin="${CARGO_TARGET_DIR:-target}/release/psync-sim"
for s in $(seq 0 $((n - 1))); do
  printf 'swarm %s %s\n' "$s" "$("$bin" run --seed "$s" 2>/dev/null | sed -n 's/^trace hash //p')"
done
for sc in $("$bin" scenarios | awk '{print $1}'); do
  printf '%s 1 %s\n' "$sc" "$("$bin" run --seed 1 --scenario "$sc" 2>/dev/null | sed -n 's/^trace hash //p')"
done
