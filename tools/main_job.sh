#!/usr/bin/env bash
# The project's main job (README, first command). Until the Prune Once for All recipe
# lands, it creates a BERT-mini question-answering model with the bert-base-uncased
# vocabulary size, saves it as a Hugging Face directory, describes it, tokenizes a
# question/context pair with the real vocabulary and runs a forward pass through the same
# tools outside checks use.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${OUT_DIR:-$ROOT/out/main_job}"
MODEL="$OUT/bert-mini-qa"
cd "$ROOT"

bazel build //models:create_model //models:inspect_model //models:bert_forward //models:tokenize
bazel-bin/models/create_model --preset=bert-mini --architecture=BertForQuestionAnswering \
  --seed=0 --output_dir="$MODEL"
bazel-bin/models/inspect_model --model_dir="$MODEL"
# A question/context pair through the bert-base-uncased WordPiece vocabulary fetched by
# tools/fetch_data.sh, then through the model.
VOCAB="${DATA_DIR:-$ROOT/data}/vocab/bert-base-uncased-vocab.txt"
bazel-bin/models/tokenize --vocab="$VOCAB" --text="Who wrote Moby Dick?" \
  --text_pair="Herman Melville wrote it in 1851." > "$OUT/tokens.json"
json_list() { grep -o "\"$1\":\[[^]]*\]" "$OUT/tokens.json" | sed 's/.*\[//; s/\]//'; }
ids="$(json_list ids)"
types="$(json_list token_type_ids)"
echo "main_job: input_ids $ids"
bazel-bin/models/bert_forward --model_dir="$MODEL" --input_ids="$ids" \
  --token_type_ids="$types" > "$OUT/forward.json"
echo "main_job: outputs of $MODEL written to $OUT/forward.json ($(wc -c < "$OUT/forward.json") bytes)"
