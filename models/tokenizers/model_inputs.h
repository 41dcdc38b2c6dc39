// Turns one or two encoded sequences into BERT model inputs exactly as Hugging Face's
// tokenizer(text, text_pair, max_length=..., truncation=..., padding=...) does:
// [CLS] A [SEP] or [CLS] A [SEP] B [SEP], token_type_ids 0 for [CLS] A [SEP] and 1 for
// B [SEP], truncation by HF's (slow) truncate_sequences, optional padding.
//
//   tokenizers::Encoding question = tokenizer.Encode(q), context = tokenizer.Encode(c);
//   tokenizers::ModelInputsOptions options;
//   options.max_length = 384;
//   options.truncation = tokenizers::Truncation::kOnlySecond;
//   ASSIGN_OR_RETURN(tokenizers::ModelInputs inputs,
//                    tokenizers::BuildModelInputs(tokenizer, question, &context, options));
#ifndef MODELS_TOKENIZERS_MODEL_INPUTS_H_
#define MODELS_TOKENIZERS_MODEL_INPUTS_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "models/tokenizers/tokenizer.h"

namespace tokenizers {

// HF's truncation strategies.
enum class Truncation {
  kLongestFirst,   // One token at a time from the longer sequence (ties: the second).
  kOnlyFirst,      // Only from the first sequence.
  kOnlySecond,     // Only from the second sequence.
  kDoNotTruncate,  // Never; the result may exceed max_length.
};

// "longest_first" | "only_first" | "only_second" | "do_not_truncate" (HF's spellings).
absl::StatusOr<Truncation> ParseTruncation(absl::string_view name);
const char* TruncationName(Truncation truncation);

struct ModelInputsOptions {
  // Upper bound on the length including special tokens (HF's model_max_length for BERT).
  int64_t max_length = 512;
  // How to get down to max_length.
  Truncation truncation = Truncation::kLongestFirst;
  // Pads with [PAD] up to max_length (HF's padding="max_length").
  bool pad_to_max_length = false;
  // Adds [CLS]/[SEP]; without them the sequences are concatenated, type ids all 0 (as HF).
  bool add_special_tokens = true;
};

struct ModelInputs {
  std::vector<std::string> tokens;
  std::vector<int64_t> input_ids;
  std::vector<int64_t> token_type_ids;
  std::vector<int64_t> attention_mask;
  // Character offsets into the sequence each token came from; (0, 0) for special and
  // padding tokens.
  std::vector<std::pair<int64_t, int64_t>> offsets;
  // 0 or 1: the sequence a token came from; -1 for special and padding tokens.
  std::vector<int> sequence_ids;
  // Tokens cut from the end of the first and the second sequence.
  int64_t num_truncated_first = 0;
  int64_t num_truncated_second = 0;
};

// Builds the inputs of `first` and, when not null, `second`. Fails with InvalidArgument when
// the strategy cannot reach max_length (HF logs an error and returns the input untruncated):
// only_first/only_second when that sequence would have to lose all its tokens,
// only_second without a second sequence, or max_length below the special tokens alone.
absl::StatusOr<ModelInputs> BuildModelInputs(const Tokenizer& tokenizer, const Encoding& first,
                                             const Encoding* second,
                                             const ModelInputsOptions& options);

inline absl::StatusOr<ModelInputs> BuildModelInputs(const Tokenizer& tokenizer,
                                                    const Encoding& first,
                                                    const ModelInputsOptions& options) {
  return BuildModelInputs(tokenizer, first, nullptr, options);
}

}  // namespace tokenizers

#endif  // MODELS_TOKENIZERS_MODEL_INPUTS_H_
