#!/usr/bin/env bash
# Mutation testing of the cores and codecs with cargo-mutants, in shards.
# Usage: bash ci/mutants.sh [shard-index] [shard-count]   (default: all, in one shard)
# Not part of CI: a full run takes hours on 2 cores. Results land in mutants.out/.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo-mutants >/dev/null || cargo install --locked cargo-mutants
i="${1:-0}"; n="${2:-1}"
cargo mutants --shard "$i/$n" -p psync-master -p psync-replica -p psync-proto \
  --test-workspace true --timeout-multiplier 3 --output "mutants.out/shard-$i"
