// SQuAD questions -> fixed-length model inputs, as the reference BERT run_squad.py and Hugging
// Face's squad_convert_examples_to_features do, but driven by the Tokenizer's character
// offsets so that answers map to tokens (and predictions back to text) without re-tokenizing
// whitespace-split words. Long contexts become several overlapping windows ("doc spans").
//
//   SquadFeatureConfig config;  // max_seq_length 384, doc_stride 128, max_query_length 64
//   config.is_training = true;
//   ASSIGN_OR_RETURN(std::vector<SquadFeature> features,
//                    ConvertSquadExamplesToFeatures(data.examples, tokenizer, config));
//   SquadFeatureDataset dataset(
//       std::make_shared<const std::vector<SquadFeature>>(std::move(features)));
#ifndef DATASETS_SQUAD_SQUAD_FEATURES_H_
#define DATASETS_SQUAD_SQUAD_FEATURES_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "datasets/dataset.h"
#include "datasets/example.h"
#include "datasets/squad/squad_data.h"
#include "models/tokenizers/tokenizer.h"

namespace datasets {

struct SquadFeatureConfig {
  int64_t max_seq_length = 384;   // Tokens per feature, including specials and padding.
  int64_t doc_stride = 128;       // Step, in context tokens, between window starts.
  int64_t max_query_length = 64;  // Question tokens kept; the rest are cut.
  // Training drops examples whose answer covers no token (as Hugging Face does); evaluation
  // keeps every example so that each question gets a prediction.
  bool is_training = false;
};

// One window of one example. Per-position vectors have max_seq_length entries.
struct SquadFeature {
  int64_t example_index = 0;            // Index of the SquadExample it came from.
  int64_t feature_index = 0;            // Its index in the converted list.
  int64_t doc_span_index = 0;           // Which window of its example (0 = the first).
  std::vector<int64_t> input_ids;       // [CLS] query [SEP] window [SEP], then pad ids.
  std::vector<int64_t> token_type_ids;  // 1 for the window and its [SEP], else 0.
  std::vector<int64_t> attention_mask;  // 1 for real tokens, 0 for padding.
  // [begin, end) character offsets in the context for window tokens; (-1, -1) for the
  // question, specials and padding. Maps a predicted span back to the original text.
  std::vector<std::pair<int64_t, int64_t>> token_to_orig_offsets;
  // True where this window gives the token its most context (reference
  // _check_is_max_context); a token in several windows is predicted from only one of them.
  std::vector<bool> token_is_max_context;
  // Answer (first gold answer) token span in this feature; 0 ([CLS]) for impossible
  // questions and for windows that do not contain the whole answer.
  int64_t start_position = 0;
  int64_t end_position = 0;

  bool IsContextToken(int64_t position) const {
    return position >= 0 && position < static_cast<int64_t>(token_to_orig_offsets.size()) &&
           token_to_orig_offsets[position].first >= 0;
  }
};

struct SquadConversionStats {
  int64_t num_examples = 0;  // Examples converted.
  int64_t num_features = 0;  // Features produced.
  // Training examples dropped because their answer span covers no token.
  int64_t num_unmappable_answers = 0;
};

// Converts examples in order; features of one example are consecutive. Fails on a bad
// config (max_seq_length < 4, doc_stride < 1) and on a question whose (truncated) tokens
// leave no room for context tokens. `stats` may be null.
absl::StatusOr<std::vector<SquadFeature>> ConvertSquadExamplesToFeatures(
    const std::vector<SquadExample>& examples, const tokenizers::Tokenizer& tokenizer,
    const SquadFeatureConfig& config, SquadConversionStats* stats = nullptr);

// Serves features to the DataLoader as Examples with keys input_ids, token_type_ids,
// attention_mask, start_positions, end_positions and feature_index (length-1 scalars for
// the last three). Shares the features with post-processing.
class SquadFeatureDataset : public Dataset {
 public:
  explicit SquadFeatureDataset(std::shared_ptr<const std::vector<SquadFeature>> features)
      : features_(std::move(features)) {}

  size_t size() const override { return features_ == nullptr ? 0 : features_->size(); }
  // An empty Example when `index` >= size().
  Example Get(size_t index) const override;

 private:
  std::shared_ptr<const std::vector<SquadFeature>> features_;
};

}  // namespace datasets

#endif  // DATASETS_SQUAD_SQUAD_FEATURES_H_
