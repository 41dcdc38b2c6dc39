#!/bin/bash
# model_latency on a random bert-tiny: the JSON line carries the documented fields, the
# pruned INT8 model is converted and smaller than fp32, and bad flags fail with one line.
set -u
tool="$1"
out="$("$tool" --preset=bert-tiny --seq=16 --batch=2 --iters=3 --warmup=1 --prune=0.9 \
  --precision=int8 --kernel=sparse --convert_filter=encoder 2>&1)" || { echo "$out"; exit 1; }
json="$(echo "$out" | grep '^{')"
for key in p50_ms p90_ms p99_ms mean_ms sequences_per_s tokens_per_s threads cpu layers \
    linear_weight_bytes dense_fp32_linear_bytes '"batch":2' '"seq":16' '"sparse_int8":12'; do
  echo "$json" | grep -q "$key" || { echo "missing $key in: $json"; exit 1; }
done
bytes=$(echo "$json" | sed 's/.*"linear_weight_bytes":\([0-9]*\).*/\1/')
dense=$(echo "$json" | sed 's/.*"dense_fp32_linear_bytes":\([0-9]*\).*/\1/')
[ $((bytes * 15)) -lt "$dense" ] || { echo "not 15x smaller: $bytes vs $dense"; exit 1; }
if err="$("$tool" --preset=bert-tiny --seq=0 2>&1)"; then echo "--seq=0 accepted"; exit 1; fi
echo "$err" | grep -q "seq" || { echo "unclear error: $err"; exit 1; }
if err="$("$tool" --model_dir=/nonexistent 2>&1)"; then echo "missing dir accepted"; exit 1; fi
[ "$(echo "$err" | wc -l)" -le 2 ] || { echo "not a one-line error: $err"; exit 1; }
echo PASS
