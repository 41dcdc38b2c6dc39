#!/bin/bash
# The runner's command line: repeated and comma-listed --set (brackets kept together), one-line
# errors with a non-zero exit, --list_keys. Errors stop before any data is read, so no data
# files are needed.
set -u
RUN="$1"
RECIPE="recipes/combinations/prune_then_ptq.yaml"
fail() { echo "FAIL: $*"; exit 1; }

# Both --set flags are kept (abseil alone keeps only the last): the first one's error shows.
out=$("$RUN" --recipe="$RECIPE" --set stages.dense.training.max_steps=abc --set seed=3 2>&1)
[[ $? -ne 0 ]] || fail "bad --set value accepted"
[[ $(echo "$out" | wc -l) -eq 1 ]] || fail "error is not one line: $out"
[[ "$out" == *"stages[dense].training.max_steps: expected an integer, got \"abc\" (set by --set stages.dense.training.max_steps=abc)"* ]] \
  || fail "unexpected error: $out"

# A comma list splits at key=value boundaries only, not inside [a, b].
out=$("$RUN" --recipe="$RECIPE" "--set=seed=3,stages.dense.training.no_decayy=[bias, LayerNorm.weight]" 2>&1)
[[ $? -ne 0 ]] || fail "unknown key accepted"
[[ "$out" == *"stages[dense].training.no_decayy: unknown key"*"(set by --set stages.dense.training.no_decayy=[bias, LayerNorm.weight])"* ]] \
  || fail "unexpected error: $out"

# A stage name that does not exist.
out=$("$RUN" --recipe="$RECIPE" --set=stages.nope.training.max_steps=1 2>&1)
[[ "$out" == *"stages has no element named \"nope\" (names: dense, pruned_ptq)"* ]] || fail "$out"

# A bad profile, a missing recipe, --quick with another profile.
out=$("$RUN" --recipe="$RECIPE" --profile=fast 2>&1)
[[ "$out" == *"no profile \"fast\" (profiles: quick)"* ]] || fail "$out"
out=$("$RUN" --recipe=recipes/none.yaml 2>&1)
[[ $? -ne 0 && "$out" == *"recipes/none.yaml: recipe file does not exist"* ]] || fail "$out"
out=$("$RUN" --recipe="$RECIPE" --quick --profile=other 2>&1)
[[ $? -ne 0 && "$out" == *"--quick means --profile=quick"* ]] || fail "$out"
out=$("$RUN" 2>&1)
[[ $? -ne 0 && "$out" == *"--recipe is required"* ]] || fail "$out"

keys=$("$RUN" --list_keys) || fail "--list_keys failed"
[[ "$keys" == *"stages[].shots[].combine[].pruning.target_sparsity"* ]] || fail "keys: $keys"
echo PASS
