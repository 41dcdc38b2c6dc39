#!/bin/bash
# //models:tokenize as outside conformance checks call it: the exact JSON line on stdout,
# and for bad input a single "error: ..." line on stderr with a non-zero exit status.
# Usage (from the BUILD rule): tokenize_main_test.sh TOKENIZE VOCAB_TXT VOCAB_JSON
set -u

readonly tokenize="$1" vocab_txt="$2" vocab_json="$3"
readonly tmp="${TEST_TMPDIR:-/tmp}"
failures=0

fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

# expect_json NAME EXPECTED_STDOUT ARGS...
expect_json() {
  local name="$1" expected="$2"
  shift 2
  local actual status
  actual="$("$tokenize" "$@" 2>"$tmp/stderr")"
  status=$?
  if [[ $status -ne 0 ]]; then
    fail "$name: exit status $status, stderr: $(cat "$tmp/stderr")"
  elif [[ "$actual" != "$expected" ]]; then
    fail "$name: got $actual, want $expected"
  fi
}

# expect_error NAME EXPECTED_SUBSTRING ARGS...
expect_error() {
  local name="$1" substring="$2"
  shift 2
  local stdout status lines
  stdout="$("$tokenize" "$@" 2>"$tmp/stderr")"
  status=$?
  lines="$(wc -l <"$tmp/stderr")"
  if [[ $status -eq 0 ]]; then
    fail "$name: exit status 0, want non-zero"
  elif [[ -n "$stdout" ]]; then
    fail "$name: wrote to stdout: $stdout"
  elif [[ "$lines" -ne 1 ]]; then
    fail "$name: want one line on stderr, got $lines: $(cat "$tmp/stderr")"
  elif ! grep -qF -- "$substring" "$tmp/stderr"; then
    fail "$name: stderr lacks '$substring': $(cat "$tmp/stderr")"
  fi
}

expect_json "pair on vocab.txt" \
  '{"tokens":["[CLS]","un","##want","##ed",",","runn","##ing","[SEP]","hello","world","[SEP]"],"ids":[2,9,6,7,12,10,11,3,17,18,3],"offsets":[[0,0],[0,2],[2,6],[6,8],[8,9],[9,13],[13,16],[0,0],[0,5],[6,11],[0,0]],"token_type_ids":[0,0,0,0,0,0,0,0,1,1,1],"attention_mask":[1,1,1,1,1,1,1,1,1,1,1]}' \
  --vocab="$vocab_txt" --text="UNwantéd,running" --text_pair="hello world"

expect_json "cased, no special tokens" \
  '{"tokens":["A",",","na","##ï","##ve","[MASK]","Allen","##NL","##P","sentence","."],"ids":[34,12,24,25,26,4,31,32,33,30,20],"offsets":[[0,1],[1,2],[3,5],[5,6],[6,8],[9,15],[16,21],[21,23],[23,24],[25,33],[33,34]],"token_type_ids":[0,0,0,0,0,0,0,0,0,0,0],"attention_mask":[1,1,1,1,1,1,1,1,1,1,1]}' \
  --vocab="$vocab_txt" --text="A, naïve [MASK] AllenNLP sentence." --lower_case=false \
  --add_special_tokens=false

expect_json "bert-tokenizer JSON list" \
  '{"tokens":["[CLS]","hello","world","##s","!","[SEP]"],"ids":[3,6,7,8,9,4],"offsets":[[0,0],[0,5],[6,11],[11,12],[12,13],[0,0]],"token_type_ids":[0,0,0,0,0,0],"attention_mask":[1,1,1,1,1,1]}' \
  --vocab="$vocab_json" --text="Hello worlds!"

expect_json "truncated" \
  '{"tokens":["[CLS]","hello","[SEP]","the","[SEP]"],"ids":[2,17,3,41,3],"offsets":[[0,0],[0,5],[0,0],[0,3],[0,0]],"token_type_ids":[0,0,0,1,1],"attention_mask":[1,1,1,1,1]}' \
  --vocab="$vocab_txt" --text="hello world" --text_pair="the" --max_length=5 \
  --truncation=only_first

expect_json "padded" \
  '{"tokens":["[CLS]","hello","[SEP]","[PAD]","[PAD]"],"ids":[2,17,3,0,0],"offsets":[[0,0],[0,5],[0,0],[0,0],[0,0]],"token_type_ids":[0,0,0,0,0],"attention_mask":[1,1,1,0,0]}' \
  --vocab="$vocab_txt" --text="hello" --max_length=5 --pad_to_max_length

expect_error "missing vocab file" "/nonexistent/vocab.txt" \
  --vocab=/nonexistent/vocab.txt --text="hello"
printf 'a\n[PAD]\na\n' >"$tmp/duplicate_vocab.txt"
expect_error "duplicate token" "duplicate_vocab.txt:3:" \
  --vocab="$tmp/duplicate_vocab.txt" --text="hello"
printf '[PAD]\n[UNK]\n[CLS]\n[SEP]\n' >"$tmp/no_mask_vocab.txt"
expect_error "missing [MASK]" '"[MASK]"' --vocab="$tmp/no_mask_vocab.txt" --text="hello"
expect_error "missing --text" "--text is required" --vocab="$vocab_txt"
expect_error "missing --vocab" "--vocab is required" --text="hello"
expect_error "bad truncation" "unknown truncation strategy" \
  --vocab="$vocab_txt" --text="hello" --max_length=8 --truncation=longest
expect_error "bad bool" "lower_case" --vocab="$vocab_txt" --text="hello" --lower_case=maybe

if [[ $failures -ne 0 ]]; then
  echo "$failures check(s) failed"
  exit 1
fi
echo "all checks passed"
