#!/usr/bin/env bash
# Historic bugs (spec §7, B*) and issue 13's blind-spot classes (13a-13g): each
# ci/bugs/*.patch brings one back in a throwaway worktree;
# this script shows that its named scenario and a plain swarm sweep catch it, and how many
# seeds and wall seconds the sweep needed. Never applied to the real tree.
# Usage: bash ci/bugs.sh [max-seeds] [patch-glob]   (e.g. 300 'B9-*')
# Runs step event-driven (the default); BUGS_TICK_COLUMN=1 adds the seeds stock tick-1
# stepping (--tick-ms 1) needed to a first catch, for comparison (issue 16).
set -euo pipefail
cd "$(dirname "$0")/.."
max="${1:-400}"
glob="${2:-*}"
root=$(pwd)
wt=$(mktemp -d)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target/bugs}"
declare -A scenario=(
  [B1-proxy-as-read]=link-kills-under-load
  [B2-meaningful-offset]=trailing-pings
  [B3-same-id-drops-subreplicas]=chained-same-id-reconnect
  [B4-expired-dels-before-backlog]=master-restart-quiet
  [B5-shift-replid-off-by-one]=repeated-failovers
  [B6-ttl-keeps-replid]=backlog-ttl
  [B7-uncapped-blocks]=b7-huge-value
  [B8-no-handshake-timeout]=unresponsive-master
  [B9-range-rejects-caught-up]=caught-up-reconnect
  [B9-range-serves-trimmed-byte]=backlog-overrun
  [B9-trim-below-size]=backlog-overrun
  [B9-trim-first-byte-off-by-one]=backlog-overrun
  [B10-replid2-no-offset-check]=failover-divergent
  # Issue 13's blind-spot classes: no named scenario, the plain swarm must catch them.
  [13a-wait-stale-woff]=swarm
  [13b-replica-serves-expired]=swarm
  [13c-eof-mark-split]=swarm
  [13d-expireat-seconds-propagated]=swarm
  [13e-link-loss-forgets-master]=swarm
  [13e-restart-forgets-history]=swarm
  [13f-no-transfer-timeout]=swarm
  [13g-replica-expires-locally]=swarm
)
# A test that catches the bug where the named scenario's oracles do not: a test name in
# tests/scenarios.rs, or package/target/filter for another package's test target.
declare -A test_name=(
  [B3-same-id-drops-subreplicas]=chained_same_id_reconnect_keeps_sub_replica_connected
  [B5-shift-replid-off-by-one]=repeated_failovers_need_no_extra_full_sync
  [B8-no-handshake-timeout]=unresponsive_master_times_out_handshake
  [B9-range-serves-trimmed-byte]=psync-master/backlog_model/
  [B9-trim-below-size]=psync-master/backlog_model/
)
printf '%-30s %-26s %-12s %-12s %-12s %s\n' bug scenario caught sweep-seeds sweep-wall-s shrunk-faults
cleanup() { git worktree remove --force "$wt/tree" >/dev/null 2>&1 || true; rm -rf "$wt"; }
trap cleanup EXIT
for p in ci/bugs/$glob.patch; do
  name=$(basename "$p" .patch)
  git worktree add -q --detach "$wt/tree" HEAD
  if ! (cd "$wt/tree" && git apply "$root/$p" 2>/dev/null); then
    printf '%-30s %-24s %-10s\n' "$name" "${scenario[$name]:--}" "patch-does-not-apply-to-HEAD"
    git worktree remove --force "$wt/tree"
    continue
  fi
  (cd "$wt/tree" && cargo build -q --release -p psync-sim)
  bin="$CARGO_TARGET_DIR/release/psync-sim"
  sc=${scenario[$name]:--}
  caught=no
  # A patch with no scenario yet, or a scenario HEAD does not have, is not "caught".
  # (The list is read first: grep -q closing the pipe early would fail it under pipefail.
  # Its first column is the name; a description follows.)
  if ! grep -qx -- "$sc" <<<"$(cd "$wt/tree" && "$bin" scenarios | awk '{print $1}')"; then
    caught=no-scenario
  elif ! (cd "$wt/tree" && "$bin" run --seed 1 --scenario "$sc" >/dev/null 2>&1); then caught=oracle; fi
  if [ "$caught" = no ] && [ -n "${test_name[$name]:-}" ]; then
    t=${test_name[$name]}
    pkg=psync-tests; target=scenarios; filter=$t
    if [[ $t == */* ]]; then IFS=/ read -r pkg target filter <<<"$t"; fi
    if ! (cd "$wt/tree" && cargo test -q --release -p "$pkg" --test "$target" $filter >/dev/null 2>&1); then
      caught=test
    fi
  fi
  rm -rf "$wt/f"
  start=$(date +%s.%N)
  out=$(cd "$wt/tree" && "$bin" sweep --seeds "0..$max" --jobs 2 --until-violation --failures "$wt/f" 2>/dev/null || true)
  end=$(date +%s.%N)
  runs=$(echo "$out" | awk '/^runs/{print $2}')
  bad=$(echo "$out" | awk '/^violating runs/{print $3}')
  seeds="$runs"; [ "${bad:-0}" = 0 ] && seeds="none/$runs"
  # Shrink the first violating seed: fault events before -> after.
  shrunk=-
  first=$(ls "$wt/f" 2>/dev/null | sed -n 's/^swarm-\(0x[0-9a-f]*\)\.json$/\1/p' | head -1 || true)
  if [ -n "$first" ]; then
    shrunk=$(cd "$wt/tree" && "$bin" shrink --seed "$first" --budget 150 --out "$wt/f" 2>/dev/null |
      sed -n 's/.*faults \([0-9]*\) -> \([0-9]*\).*/\1->\2/p' | head -1 || true)
  fi
  tick=
  if [ -n "${BUGS_TICK_COLUMN:-}" ]; then
    out1=$(cd "$wt/tree" && "$bin" --tick-ms 1 sweep --seeds "0..$max" --jobs 2 --until-violation --failures "$wt/f1" 2>/dev/null || true)
    r1=$(echo "$out1" | awk '/^runs/{print $2}')
    b1=$(echo "$out1" | awk '/^violating runs/{print $3}')
    tick=" tick1-seeds=$r1"; [ "${b1:-0}" = 0 ] && tick=" tick1-seeds=none/$r1"
  fi
  printf '%-30s %-26s %-12s %-12s %-12.1f %s%s\n' "$name" "$sc" "$caught" "$seeds" "$(echo "$end - $start" | bc)" "${shrunk:--}" "$tick"
  git worktree remove --force "$wt/tree"
done
