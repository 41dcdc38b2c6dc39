#!/usr/bin/env bash
# Runs the squad_evaluate binary (path in $1) on the fixtures and checks its exact output,
# which must equal what the official evaluate-v1.1.py / evaluate-v2.0.py print.
set -uo pipefail

readonly BIN="$1"
readonly FIXTURES="tests/fixtures/squad"
failures=0

fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

# expect_output NAME EXPECTED_STDOUT EXPECTED_STDERR ARGS...
expect_output() {
  local name="$1" expected_out="$2" expected_err="$3"
  shift 3
  local out err rc
  out="$("$BIN" "$@" 2>"${TEST_TMPDIR}/stderr")"
  rc=$?
  err="$(cat "${TEST_TMPDIR}/stderr")"
  [[ $rc -eq 0 ]] || fail "$name: exit status $rc, stderr: $err"
  [[ "$out" == "$expected_out" ]] || fail "$name: stdout was <$out>, expected <$expected_out>"
  [[ "$err" == "$expected_err" ]] || fail "$name: stderr was <$err>, expected <$expected_err>"
}

# expect_failure NAME STDERR_SUBSTRING ARGS...: non-zero exit, one stderr line, no stdout.
expect_failure() {
  local name="$1" expected_err="$2"
  shift 2
  local out err rc
  out="$("$BIN" "$@" 2>"${TEST_TMPDIR}/stderr")"
  rc=$?
  err="$(cat "${TEST_TMPDIR}/stderr")"
  [[ $rc -ne 0 ]] || fail "$name: exit status 0, expected non-zero"
  [[ -z "$out" ]] || fail "$name: unexpected stdout <$out>"
  [[ "$(wc -l < "${TEST_TMPDIR}/stderr")" -eq 1 ]] || fail "$name: stderr is not one line: <$err>"
  [[ "$err" == *"$expected_err"* ]] || fail "$name: stderr <$err> lacks <$expected_err>"
}

expect_output "v1.1" '{"exact_match": 50.0, "f1": 79.16666666666666}' "" \
  "$FIXTURES/v1_small.json" "$FIXTURES/predictions_v1.json"

expect_output "v1.1 missing prediction" '{"exact_match": 50.0, "f1": 62.5}' \
  "Unanswered question q4 will receive score 0." \
  "$FIXTURES/v1_small.json" "$FIXTURES/predictions_v1_missing.json"

expect_output "v2.0" '{
  "exact": 50.0,
  "f1": 62.5,
  "total": 4,
  "HasAns_exact": 50.0,
  "HasAns_f1": 75.0,
  "HasAns_total": 2,
  "NoAns_exact": 50.0,
  "NoAns_f1": 50.0,
  "NoAns_total": 2
}' "" "$FIXTURES/v2_small.json" "$FIXTURES/predictions_v2.json"

expect_failure "missing dataset" "$FIXTURES/no_such_file.json" \
  "$FIXTURES/no_such_file.json" "$FIXTURES/predictions_v1.json"
expect_failure "missing predictions" "$FIXTURES/no_such_predictions.json" \
  "$FIXTURES/v1_small.json" "$FIXTURES/no_such_predictions.json"
expect_failure "bad JSON" "$FIXTURES/bad_json.json: not valid JSON" \
  "$FIXTURES/bad_json.json" "$FIXTURES/predictions_v1.json"
expect_failure "predictions are not a map" "must be a string" \
  "$FIXTURES/v1_small.json" "$FIXTURES/v1_small.json"
expect_failure "one argument" "usage: squad_evaluate DATASET_JSON PREDICTIONS_JSON" \
  "$FIXTURES/v1_small.json"

if [[ $failures -ne 0 ]]; then
  echo "$failures check(s) failed" >&2
  exit 1
fi
echo "all squad_evaluate checks passed"
