#!/usr/bin/env bash
# Builds the libFuzzer targets of //fuzz with clang + ASan + UBSan (--config=fuzz, in an
# output base of its own so the default gcc build is untouched) and runs each for a bounded
# time on a corpus seeded from the test fixtures. Findings (crash-*, leak-*, timeout-*,
# oom-* inputs) land in out/fuzz/<fuzzer>/; copy one into fuzz/regressions/<fuzzer>/ with
# the fix so `bazel test //fuzz/...` replays it forever.
#
#   bash tools/fuzz.sh                         # every fuzzer, 60 s each
#   bash tools/fuzz.sh --seconds=20 squad_fuzzer vocab_fuzzer
#
# Prints one line per fuzzer (executions, rate, corpus, findings); exits 1 on findings.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
SECONDS_EACH=60
FUZZERS=()
for arg in "$@"; do
  case "$arg" in
    --seconds=*) SECONDS_EACH="${arg#--seconds=}" ;;
    -*) echo "fuzz.sh: unknown flag '$arg' (known: --seconds=N)" >&2; exit 2 ;;
    *) FUZZERS+=("$arg") ;;
  esac
done
ALL=(safetensors_fuzzer bert_config_fuzzer squad_fuzzer glue_fuzzer vocab_fuzzer
     wordpiece_fuzzer recipe_fuzzer checkpoint_fuzzer idx_fuzzer
     sentencepiece_fuzzer)
((${#FUZZERS[@]})) || FUZZERS=("${ALL[@]}")

# Seed inputs per fuzzer: the fixtures the unit tests use (small ones: libFuzzer's max_len
# follows the largest seed).
seeds() {
  case "$1" in
    safetensors_fuzzer) echo fuzz/seeds/safetensors/* ;;
    bert_config_fuzzer) echo models/testdata/*/config.json ;;
    squad_fuzzer) echo tests/fixtures/squad/*.json ;;
    glue_fuzzer) echo fuzz/seeds/glue/* ;;
    vocab_fuzzer) echo models/tokenizers/testdata/vocab.txt models/tokenizers/testdata/*.json ;;
    wordpiece_fuzzer) echo datasets/glue/testdata/*.tsv tests/fixtures/squad/v1_small.json ;;
    recipe_fuzzer) echo fuzz/seeds/recipe/* recipes/combinations/*.yaml ;;
    checkpoint_fuzzer) echo fuzz/seeds/checkpoint/* ;;
    idx_fuzzer) echo fuzz/seeds/idx/* ;;
    sentencepiece_fuzzer) echo fuzz/seeds/sentencepiece/* ;;
    *) echo "fuzz.sh: unknown fuzzer '$1' (known: ${ALL[*]})" >&2; exit 2 ;;
  esac
}

OUTPUT_BASE="${FUZZ_OUTPUT_BASE:-$HOME/.cache/bazel-fuzz-$(echo "$ROOT" | md5sum | cut -c1-8)}"
BAZEL=(bazel --output_base="$OUTPUT_BASE")
targets=()
for f in "${FUZZERS[@]}"; do seeds "$f" >/dev/null; targets+=("//fuzz:$f"); done
# --symlink_prefix=/: leave the workspace's bazel-bin link pointing at the main output base.
"${BAZEL[@]}" build --config=fuzz --symlink_prefix=/ "${targets[@]}"
BIN="$("${BAZEL[@]}" info --config=fuzz bazel-bin 2>/dev/null)"

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"
findings=0
printf "%-20s %12s %10s %8s  %s\n" fuzzer executions exec/s corpus findings
for f in "${FUZZERS[@]}"; do
  dir="out/fuzz/$f"
  mkdir -p "$dir/corpus"
  for s in $(seeds "$f"); do cp -n "$s" "$dir/corpus/seed-$(basename "$s")" 2>/dev/null || true; done
  if [[ -d "fuzz/regressions/$f" ]]; then cp -n fuzz/regressions/"$f"/* "$dir/corpus/" 2>/dev/null || true; fi
  rm -f "$dir"/crash-* "$dir"/leak-* "$dir"/timeout-* "$dir"/oom-*
  "$BIN/fuzz/$f" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=4096 \
      -malloc_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$dir/" "$dir/corpus" \
      >"$dir/log" 2>&1 || true
  execs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$dir/log" | grep -o '[0-9]*$' || echo ?)"
  rate="$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$dir/log" | grep -o '[0-9]*$' || echo ?)"
  found="$(ls "$dir" | grep -E '^(crash|leak|timeout|oom)-' || true)"
  if [[ -n "$found" ]]; then findings=$((findings + 1)); fi
  printf "%-20s %12s %10s %8s  %s\n" "$f" "$execs" "$rate" "$(ls "$dir/corpus" | wc -l)" \
      "${found:-none}"
done
if ((findings)); then
  echo "fuzz.sh: findings in $findings fuzzer(s); details in out/fuzz/<fuzzer>/log" >&2
  exit 1
fi
