#!/usr/bin/env bash
# The project's main job (README, first command): the Prune Once for All reproduction, i.e.
# the embedded default recipe recipes/prune_once_for_all.yaml end to end on the local data
# (teacher pre-training, 85%/90% upstream pruning, sparse transfer to cloze QA and genre
# classification with pattern lock + KD, then + QAT to INT8, and the report). Results go to
# out/prune_once_for_all/ (results.md, results.json, plots/). Arguments are passed to the
# runner, e.g. --quick (a few minutes), --resume (continue an interrupted run),
# --output_dir=DIR; DATA_DIR overrides the data directory.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

args=("$@")
if [[ -n "${DATA_DIR:-}" ]]; then args+=("--data_dir=$DATA_DIR"); fi
if bazel query //recipes:prune_once_for_all >/dev/null 2>&1; then
  bazel run //recipes:prune_once_for_all -- ${args[@]+"${args[@]}"}
else
  bazel run //recipes:run -- --recipe=recipes/prune_once_for_all.yaml ${args[@]+"${args[@]}"}
fi
