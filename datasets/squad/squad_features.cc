#include "datasets/squad/squad_features.h"

#include <algorithm>
#include <optional>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "datasets/squad/utf8_index.h"

namespace datasets {
namespace {

struct DocSpan {
  int64_t start;   // First context token.
  int64_t length;  // Number of context tokens.
};

// Reference run_squad.py windowing: each window starts doc_stride tokens after the previous
// one until a window reaches the last token.
std::vector<DocSpan> MakeDocSpans(int64_t num_tokens, int64_t max_tokens_for_doc,
                                  int64_t doc_stride) {
  std::vector<DocSpan> spans;
  int64_t start = 0;
  while (start < num_tokens) {
    const int64_t length = std::min(num_tokens - start, max_tokens_for_doc);
    spans.push_back({start, length});
    if (start + length == num_tokens) break;
    start += std::min(length, doc_stride);
  }
  return spans;
}

// Reference _check_is_max_context: the window in which `position` has the largest
// min(left, right) context, plus 0.01 * window length to break ties toward longer windows;
// the first such window wins exact ties.
bool IsMaxContext(const std::vector<DocSpan>& spans, size_t current, int64_t position) {
  std::optional<double> best_score;
  size_t best_index = 0;
  for (size_t i = 0; i < spans.size(); ++i) {
    const int64_t end = spans[i].start + spans[i].length - 1;
    if (position < spans[i].start || position > end) continue;
    const int64_t left = position - spans[i].start;
    const int64_t right = end - position;
    const double score = std::min(left, right) + 0.01 * spans[i].length;
    if (!best_score.has_value() || score > *best_score) {
      best_score = score;
      best_index = i;
    }
  }
  return best_index == current;
}

// Token span [first, last] of the character span [begin, end): the first token ending after
// `begin` and the last token starting before `end`. nullopt when no token overlaps it.
std::optional<std::pair<int64_t, int64_t>> CharSpanToTokens(
    const std::vector<std::pair<int64_t, int64_t>>& offsets, int64_t begin, int64_t end) {
  const int64_t n = static_cast<int64_t>(offsets.size());
  int64_t first = 0;
  while (first < n && offsets[first].second <= begin) ++first;
  int64_t last = n - 1;
  while (last >= 0 && offsets[last].first >= end) --last;
  if (first >= n || last < 0 || first > last) return std::nullopt;
  return std::make_pair(first, last);
}

absl::Status ValidateConfig(const SquadFeatureConfig& config) {
  if (config.max_query_length < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("SquadFeatureConfig: max_query_length must not be negative, got ",
                     config.max_query_length));
  }
  if (config.max_seq_length < 4) {
    return absl::InvalidArgumentError(absl::StrCat(
        "SquadFeatureConfig: max_seq_length must be at least 4 ([CLS], [SEP], [SEP] and one "
        "context token), got ",
        config.max_seq_length));
  }
  if (config.doc_stride < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("SquadFeatureConfig: doc_stride must be positive, got ", config.doc_stride));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<SquadFeature>> ConvertSquadExamplesToFeatures(
    const std::vector<SquadExample>& examples, const tokenizers::Tokenizer& tokenizer,
    const SquadFeatureConfig& config, SquadConversionStats* stats) {
  RETURN_IF_ERROR(ValidateConfig(config));
  SquadConversionStats local_stats;
  if (stats == nullptr) stats = &local_stats;
  *stats = SquadConversionStats();
  const int64_t seq_length = config.max_seq_length;
  std::vector<SquadFeature> features;
  tokenizers::Encoding context;
  for (size_t example_index = 0; example_index < examples.size(); ++example_index) {
    const SquadExample& example = examples[example_index];
    std::vector<int64_t> query_ids = tokenizer.Encode(example.question).ids;
    if (static_cast<int64_t>(query_ids.size()) > config.max_query_length) {
      query_ids.resize(config.max_query_length);
    }
    // Questions of one paragraph are consecutive: tokenize each context once.
    if (example_index == 0 || example.context != examples[example_index - 1].context) {
      context = tokenizer.Encode(example.context);
    }
    const int64_t num_context_tokens = static_cast<int64_t>(context.ids.size());
    if (context.offsets.size() != context.ids.size()) {
      return absl::InternalError(absl::StrCat(
          "tokenizer returned ", context.ids.size(), " ids but ", context.offsets.size(),
          " offsets for the context of question \"", example.id, "\""));
    }

    // Token span of the first answer, if it has one that the tokens cover.
    std::optional<std::pair<int64_t, int64_t>> answer_tokens;
    if (!example.is_impossible && !example.answers.empty()) {
      const SquadAnswer& answer = example.answers.front();
      const int64_t end = answer.answer_start + Utf8Index(answer.text).num_chars();
      answer_tokens = CharSpanToTokens(context.offsets, answer.answer_start, end);
      if (!answer_tokens.has_value() && config.is_training) {
        ++stats->num_unmappable_answers;
        continue;
      }
    }

    const int64_t query_length = static_cast<int64_t>(query_ids.size());
    const int64_t max_tokens_for_doc = seq_length - query_length - 3;  // [CLS], 2 x [SEP].
    if (max_tokens_for_doc < 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          "question \"", example.id, "\": max_seq_length (", seq_length,
          ") leaves no room for context tokens after ", query_length,
          " question tokens (max_query_length ", config.max_query_length, ") and 3 specials"));
    }
    const std::vector<DocSpan> spans =
        MakeDocSpans(num_context_tokens, max_tokens_for_doc, config.doc_stride);
    ++stats->num_examples;
    for (size_t span_index = 0; span_index < spans.size(); ++span_index) {
      const DocSpan& span = spans[span_index];
      SquadFeature feature;
      feature.example_index = static_cast<int64_t>(example_index);
      feature.feature_index = static_cast<int64_t>(features.size());
      feature.doc_span_index = static_cast<int64_t>(span_index);
      feature.input_ids.reserve(seq_length);
      feature.input_ids.push_back(tokenizer.cls_id());
      feature.input_ids.insert(feature.input_ids.end(), query_ids.begin(), query_ids.end());
      feature.input_ids.push_back(tokenizer.sep_id());
      feature.token_type_ids.assign(feature.input_ids.size(), 0);
      feature.token_to_orig_offsets.assign(feature.input_ids.size(), {-1, -1});
      feature.token_is_max_context.assign(feature.input_ids.size(), false);
      for (int64_t i = 0; i < span.length; ++i) {
        const int64_t token = span.start + i;
        feature.input_ids.push_back(context.ids[token]);
        feature.token_type_ids.push_back(1);
        feature.token_to_orig_offsets.push_back(context.offsets[token]);
        feature.token_is_max_context.push_back(IsMaxContext(spans, span_index, token));
      }
      feature.input_ids.push_back(tokenizer.sep_id());
      feature.token_type_ids.push_back(1);
      feature.token_to_orig_offsets.push_back({-1, -1});
      feature.token_is_max_context.push_back(false);
      feature.attention_mask.assign(feature.input_ids.size(), 1);
      feature.input_ids.resize(seq_length, tokenizer.pad_id());
      feature.token_type_ids.resize(seq_length, 0);
      feature.attention_mask.resize(seq_length, 0);
      feature.token_to_orig_offsets.resize(seq_length, {-1, -1});
      feature.token_is_max_context.resize(seq_length, false);

      if (answer_tokens.has_value() && answer_tokens->first >= span.start &&
          answer_tokens->second <= span.start + span.length - 1) {
        const int64_t doc_offset = query_length + 2;
        feature.start_position = answer_tokens->first - span.start + doc_offset;
        feature.end_position = answer_tokens->second - span.start + doc_offset;
      }
      features.push_back(std::move(feature));
    }
  }
  stats->num_features = static_cast<int64_t>(features.size());
  return features;
}

Example SquadFeatureDataset::Get(size_t index) const {
  Example example;
  if (index >= size()) return example;
  const SquadFeature& feature = (*features_)[index];
  example.ints["input_ids"] = feature.input_ids;
  example.ints["token_type_ids"] = feature.token_type_ids;
  example.ints["attention_mask"] = feature.attention_mask;
  example.ints["start_positions"] = {feature.start_position};
  example.ints["end_positions"] = {feature.end_position};
  example.ints["feature_index"] = {feature.feature_index};
  return example;
}

}  // namespace datasets
