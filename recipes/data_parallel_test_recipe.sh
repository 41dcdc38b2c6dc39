# Sourced by the data-parallel end-to-end tests (data_parallel_fault_test.sh,
# multi_host_test.sh): `write_data_parallel_recipe DIR` writes DIR/recipe.yaml, a tiny
# two-stage recipe (dense fine-tuning, 8 steps; then gradual pruning + distillation + QAT to
# INT8, 48 steps with a checkpoint every 8) and its data: a two-label task a tiny BERT
# learns a little of in a few dozen steps (vocab.txt, train.tsv, dev.tsv, config.json).
write_data_parallel_recipe() {
  local T="$1" s x
  local words=(the a cat dog bird ship sun rain man child sat ran sang sailed shone fell read
               played on in by with mat park tree sea sky town book ball red old hot quiet)
  {
    printf '[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n'
    printf '%s\n' "${words[@]}"
  } > "$T/vocab.txt"
  sentence() {  # $1: seed; label = whether the sentence has an animal
    local s=$1 out=() i
    for i in 0 1 2 3 4 5; do out+=("${words[$(((s * 7 + i * 13 + s * i) % ${#words[@]}))]}"); done
    echo "${out[*]}"
  }
  label() { [[ "$1" == *cat* || "$1" == *dog* || "$1" == *bird* ]] && echo animal || echo other; }
  { printf 'text\tlabel\n'; for s in $(seq 1 64); do x=$(sentence "$s"); printf '%s\t%s\n' "$x" "$(label "$x")"; done; } > "$T/train.tsv"
  { printf 'text\tlabel\n'; for s in $(seq 100 115); do x=$(sentence "$s"); printf '%s\t%s\n' "$x" "$(label "$x")"; done; } > "$T/dev.tsv"
  cat > "$T/config.json" <<EOF
{"vocab_size": $((5 + ${#words[@]})), "hidden_size": 32, "num_hidden_layers": 2,
 "num_attention_heads": 4, "intermediate_size": 64, "max_position_embeddings": 32}
EOF
  cat > "$T/recipe.yaml" <<EOF
name: fault_test
output_dir: $T/unused
defaults:
  tokenizer: {vocab: "$T/vocab.txt"}
  task:
    type: classification
    train_files: ["$T/train.tsv"]
    eval_files: ["$T/dev.tsv"]
    classification: {max_seq_length: 16}
    loader: {batch_size: 4, shuffle: true}
stages:
  - name: dense
    model:
      config_file: "$T/config.json"
      architecture: BertForSequenceClassification
      config_overrides: {num_labels: 2}
    training: {learning_rate: 1.0e-3, max_steps: 8, logging_steps: 4}
  - name: pruned
    model: {from_stage: dense}
    teacher: {from_stage: dense}
    training: {learning_rate: 1.0e-3, max_steps: 48, save_steps: 8, logging_steps: 8,
               save_total_limit: 10}
    shots:
      - combine:
          - pruning: {target_sparsity: 0.5, start_step: 0, end_step: 32, pruning_frequency: 8}
          - distillation: {logit_names: [logits], loss_types: [KL]}
          - quantization: {activation_observer: minmax, convert_to_int8: true}
EOF
}

# `same_final_state A B`: exits the test unless runs A and B (output directories) end with
# the same final checkpoint (weights, masks, observers) and the same stage models, byte for
# byte. Needs fail() from the test.
same_final_state() {
  local a="$1" b="$2" f stage
  for f in model.safetensors components.safetensors; do
    cmp "$a/pruned/checkpoints/checkpoint-48/$f" "$b/pruned/checkpoints/checkpoint-48/$f" \
      || fail "final checkpoint $f differs between $a and $b"
  done
  for stage in dense pruned; do
    [[ -f "$a/$stage/result.json" && -f "$b/$stage/result.json" ]] || fail "no result.json for $stage"
    for f in $(cd "$a/$stage/model" && ls); do
      cmp "$a/$stage/model/$f" "$b/$stage/model/$f" || fail "$stage model file $f differs between $a and $b"
    done
  done
}

# `stop_rank1_at_first_checkpoint OUT FIND ALIVE`: polls (60 s at most) until FIND (a
# command printing rank 1's pid) has found it and run OUT's pruning stage has written its
# first checkpoint, as long as ALIVE (a command) succeeds; then stops rank 1 (SIGSTOP), so
# the job cannot get past its next all-reduce and a fault injected now lands mid-stage
# however fast the machine is. Sets rank1; returns 1 when it never got there. Needs fail().
stop_rank1_at_first_checkpoint() {
  local out="$1" find="$2" alive="$3" i
  rank1=""
  for i in $(seq 1 1200); do
    [[ -n "$rank1" ]] || rank1=$($find)
    [[ -n "$rank1" && -d "$out/pruned/checkpoints/checkpoint-8" ]] && break
    $alive 2>/dev/null || break
    sleep 0.05
  done
  [[ -n "$rank1" && -d "$out/pruned/checkpoints/checkpoint-8" ]] || return 1
  kill -STOP "$rank1"
  [[ ! -f "$out/pruned/result.json" ]] || fail "the pruning stage finished before the fault"
}
