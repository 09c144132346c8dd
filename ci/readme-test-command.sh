#!/usr/bin/env bash
# Prints the test command from README.md (the line after the "Run every test" marker);
# with --check, fails unless .ci/run runs exactly that command.
set -euo pipefail
cd "$(dirname "$0")/.."
cmd=$(awk '/<!-- test-command -->/{getline; getline; print; exit}' README.md)
[ -n "$cmd" ] || { echo "README.md has no test command marker" >&2; exit 1; }
if [ "${1:-}" = "--check" ]; then
  last=$(grep -v '^\s*#' .ci/run | grep -v '^\s*$' | tail -n 1)
  if [ "$last" != "$cmd" ]; then
    echo "README test command '$cmd' differs from .ci/run's last line '$last'" >&2
    exit 1
  fi
else
  echo "$cmd"
fi
