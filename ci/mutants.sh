#!/usr/bin/env bash
# Mutation testing of the cores and codecs with cargo-mutants, in shards.
# Usage: bash ci/mutants.sh [shard-index] [shard-count] [quick]
#   quick: each package's own tests only (minutes; a lower bound on the kill rate)
#   default: the whole workspace suite with a smaller sweep and fuzz budget per mutant
#            (hours on 2 cores; shard it across machines/sessions).
# Not part of CI. Results land in mutants.out/shard-<i>/. After a quick run, re-test its
# survivors against the tests/ suites with: bash ci/mutants-survivors.sh <output dir>/mutants.out
#
# What was run for the kill rates in the session notes (2 cores):
#   master:  quick run (-p psync-master --file crates/master/src/lib.rs), then
#            bash ci/mutants-survivors.sh <out>/mutants.out 2
#   replica: its own tests are crates/replica/tests (handshake, psync_reply, transfer,
#            stream, captures; one file replica_handshake.rs then), so a listing
#            is re-tested against them (MUTANT_PKG) and the tests/ suites:
#            cargo mutants -p psync-replica --list --json > /tmp/replica.json
#            MUTANT_PKG=psync-replica MUTANT_TESTS="scenarios pump_offsets master_captured corruption \
#              oracles vectors fuzz sweep" FUZZ_CASES=2000 bash ci/mutants-survivors.sh /tmp/replica.json 2
#            (cargo mutants -p psync-replica --check lists the unviable ones)
#   proto:   quick run (-p psync-proto --test-package psync-proto), then
#            MUTANT_PKG=psync-proto MUTANT_TESTS="vectors fuzz psync-replica/handshake psync-replica/psync_reply \
#              psync-replica/transfer psync-replica/stream psync-replica/captures \
#              master_captured keyspace_replies hostile corruption pump_offsets scenarios oracles" \
#              FUZZ_CASES=2000 bash ci/mutants-survivors.sh <out>/mutants.out 2
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo-mutants >/dev/null || cargo install --locked cargo-mutants
i="${1:-0}"; n="${2:-1}"; mode="${3:-full}"
if [ "$mode" = quick ]; then
  for p in psync-proto psync-master psync-replica; do
    cargo mutants --shard "$i/$n" -p "$p" --test-package "$p" --jobs 2 --output "mutants.out/shard-$i-$p"
  done
else
  PSYNC_SWEEP_SEEDS=20 FUZZ_CASES=500 cargo mutants --shard "$i/$n" \
    -p psync-master -p psync-replica -p psync-proto --test-workspace true --jobs 2 \
    --timeout-multiplier 3 --output "mutants.out/shard-$i"
fi
