#!/usr/bin/env bash
# The project's main job (README, first command). Until the Prune Once for All recipe
# lands, it creates a BERT-mini question-answering model with the bert-base-uncased
# vocabulary size, saves it as a Hugging Face directory, describes it, and runs a forward
# pass through the same tool outside checks use.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${OUT_DIR:-$ROOT/out/main_job}"
MODEL="$OUT/bert-mini-qa"
cd "$ROOT"

bazel build //models:create_model //models:inspect_model //models:bert_forward
bazel-bin/models/create_model --preset=bert-mini --architecture=BertForQuestionAnswering \
  --seed=0 --output_dir="$MODEL"
bazel-bin/models/inspect_model --model_dir="$MODEL"
# "[CLS] who wrote moby dick ? [SEP] herman melville wrote it . [SEP]" in bert-base-uncased ids.
bazel-bin/models/bert_forward --model_dir="$MODEL" \
  --input_ids=101,2040,2626,9587,3762,9129,1029,102,11458,12081,2626,2009,1012,102 \
  --token_type_ids=0,0,0,0,0,0,0,0,1,1,1,1,1,1 > "$OUT/forward.json"
echo "main_job: outputs of $MODEL written to $OUT/forward.json ($(wc -c < "$OUT/forward.json") bytes)"
