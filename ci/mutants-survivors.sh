#!/usr/bin/env bash
# Re-tests the mutants a package-local cargo-mutants run missed against the workspace's
# integration suites. cargo-mutants 27 runs only the mutated package's own tests for a
# `-p`/`--file` selection (it ignored --test-package/--test-workspace here), while most of
# the master core is exercised by tests/ (captured bytes, offset pumps, scenarios).
# Usage: bash ci/mutants-survivors.sh <cargo-mutants output dir | listing.json> [workers]
#   A listing (`cargo mutants -p <pkg> --list --json > listing.json`) re-tests every mutant
#   of it: use it for a crate with no tests of its own (psync-replica), where a quick run
#   would only spend a build per mutant to learn that nothing catches it.
#   MUTANT_TESTS="a b c" names the tests/ suites to run (default: the master-side ones);
#   package/target names another package's test target (e.g. psync-replica/handshake).
#   MUTANT_PKG=psync-proto also runs that package's own tests (ones added after the run).
#   MUTANT_SKIP=<regex> leaves out mutants whose name matches (e.g. a file edited since).
# Prints one line per mutant (caught/missed/unviable) and a summary. Never touches the real tree.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: ci/mutants-survivors.sh <mutants.out dir | listing.json> [workers]}
workers=${2:-2}
root=$(pwd)
tmp=$(mktemp -d)
tests=()
others=()
for t in ${MUTANT_TESTS:-master_captured pump_offsets scenarios corruption oracles}; do
  if [[ $t == */* ]]; then others+=("$t"); else tests+=(--test "$t"); fi
done
if [ -d "$out" ]; then json="$(cd "$out" && pwd)/outcomes.json"; else json="$(cd "$(dirname "$out")" && pwd)/$(basename "$out")"; fi

# One line per survivor: outcome index, then its name. The mutated source is rebuilt from
# the mutant's span and replacement: the saved diffs collide when mutants share a position.
python3 "$root/ci/mutants_edit.py" list "$json" | { if [ -n "${MUTANT_SKIP:-}" ]; then grep -Ev "$MUTANT_SKIP" || true; else cat; fi; } >"$tmp/list"
# run_tests [--no-run]; `limit` bounds each cargo call (a mutant may loop forever).
# The mutated package's own tests go first: they build in seconds, the suites do not.
run_tests() {
  { [ -z "${MUTANT_PKG:-}" ] || timeout "${limit:-0}" cargo test -q "$@" -p "$MUTANT_PKG" >/dev/null 2>&1; } || return 1
  for t in "${others[@]}"; do
    timeout "${limit:-0}" cargo test -q "$@" -p "${t%%/*}" --test "${t#*/}" >/dev/null 2>&1 || return 1
  done
  [ ${#tests[@]} -eq 0 ] || timeout "${limit:-0}" cargo test -q "$@" -p psync-tests "${tests[@]}" >/dev/null 2>&1
}

cleanup() {
  for w in $(seq 0 $((workers - 1))); do git worktree remove --force "$tmp/w$w" >/dev/null 2>&1 || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
run_worker() {
  local w=$1 wt="$tmp/w$1"
  git worktree add -q --detach "$wt" HEAD
  export CARGO_TARGET_DIR="$root/target/mutants-survivors-$w"
  if ! (cd "$wt" && run_tests); then
    echo "worker $w: the unmutated tree fails these tests; aborting" >&2
    return 1
  fi
  awk -v w="$w" -v n="$workers" 'NR % n == w' "$tmp/list" | while IFS=$'\t' read -r idx name; do
    python3 "$root/ci/mutants_edit.py" apply "$json" "$idx" "$wt"
    if ! (cd "$wt" && cargo build -q --tests -p "${MUTANT_PKG:-psync-tests}" >/dev/null 2>&1); then
      echo "unviable  $name" # does not build: not a mutant any test could catch
    elif (cd "$wt" && limit=300 run_tests); then
      echo "missed    $name"
    else
      echo "caught    $name"
    fi
    (cd "$wt" && git checkout -q -- .)
  done
}
for w in $(seq 0 $((workers - 1))); do run_worker "$w" >"$tmp/r$w" & done
wait
cat "$tmp"/r* | sort -k2
echo "summary: $(cat "$tmp"/r* | awk '{print $1}' | sort | uniq -c | tr '\n' ' ')"
