#!/usr/bin/env bash
# Long fuzzing campaign: 1 M inputs per target (the normal test run uses 10 k).
# Usage: bash ci/fuzz.sh [cases]
set -euo pipefail
cd "$(dirname "$0")/.."
export FUZZ_CASES="${1:-1000000}"
cargo test --release -p psync-tests --test fuzz -- --test-threads 2
cargo test --release -p psync-proto -- --test-threads 2 garbage never_panics
