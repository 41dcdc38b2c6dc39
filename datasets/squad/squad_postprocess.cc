#include "datasets/squad/squad_postprocess.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <numeric>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/atomic_file.h"
#include "base/status_macros.h"
#include "datasets/squad/utf8_index.h"

namespace datasets {
namespace {

using OrderedJson = nlohmann::ordered_json;

struct Candidate {
  size_t feature;  // Index into the features of one example.
  int64_t start_index;
  int64_t end_index;
  double start_logit;
  double end_logit;
  double score() const { return start_logit + end_logit; }
};

// Positions of the `n` largest values, largest first; equal values keep position order (the
// reference sorts with Python's stable sort).
std::vector<int64_t> BestIndexes(const std::vector<float>& logits, int64_t n) {
  std::vector<int64_t> indexes(logits.size());
  std::iota(indexes.begin(), indexes.end(), 0);
  std::stable_sort(indexes.begin(), indexes.end(),
                   [&](int64_t a, int64_t b) { return logits[a] > logits[b]; });
  if (static_cast<int64_t>(indexes.size()) > n) indexes.resize(n);
  return indexes;
}

std::vector<double> Softmax(const std::vector<double>& scores) {
  if (scores.empty()) return {};
  const double max_score = *std::max_element(scores.begin(), scores.end());
  std::vector<double> probs;
  double total = 0.0;
  for (double score : scores) {
    probs.push_back(std::exp(score - max_score));
    total += probs.back();
  }
  for (double& p : probs) p /= total;
  return probs;
}

absl::Status ValidateInputs(const std::vector<SquadExample>& examples,
                            const std::vector<SquadFeature>& features,
                            const std::vector<SquadLogits>& logits,
                            const SquadPostprocessConfig& config) {
  if (config.n_best_size < 1 || config.max_answer_length < 1) {
    return absl::InvalidArgumentError(absl::StrCat("SquadPostprocessConfig: n_best_size (",
                                                   config.n_best_size, ") and max_answer_length (",
                                                   config.max_answer_length, ") must be positive"));
  }
  if (logits.size() != features.size()) {
    return absl::InvalidArgumentError(absl::StrCat("SQuAD post-processing: got ", logits.size(),
                                                   " logits for ", features.size(), " features"));
  }
  for (size_t i = 0; i < features.size(); ++i) {
    const SquadFeature& feature = features[i];
    if (feature.example_index < 0 ||
        feature.example_index >= static_cast<int64_t>(examples.size())) {
      return absl::InvalidArgumentError(
          absl::StrCat("SQuAD post-processing: feature ", i, " has example_index ",
                       feature.example_index, " but there are ", examples.size(), " examples"));
    }
    const size_t length = feature.input_ids.size();
    if (feature.token_to_orig_offsets.size() != length ||
        feature.token_is_max_context.size() != length) {
      return absl::InvalidArgumentError(absl::StrCat(
          "SQuAD post-processing: feature ", i,
          " has offset or max-context maps whose length differs from input_ids (", length, ")"));
    }
    for (const auto& [name, values] : {std::make_pair("start_logits", &logits[i].start_logits),
                                       std::make_pair("end_logits", &logits[i].end_logits)}) {
      if (values->size() != length) {
        return absl::InvalidArgumentError(
            absl::StrCat("SQuAD post-processing: feature ", i, " (question \"",
                         examples[feature.example_index].id, "\"): ", name, " has ", values->size(),
                         " values, expected ", length));
      }
      for (size_t j = 0; j < values->size(); ++j) {
        if (!std::isfinite((*values)[j])) {
          return absl::InvalidArgumentError(absl::StrCat(
              "SQuAD post-processing: feature ", i, " (question \"",
              examples[feature.example_index].id, "\"): ", name, "[", j, "] is ", (*values)[j]));
        }
      }
    }
  }
  return absl::OkStatus();
}

// write_predictions for one example; `feature_ids` index its windows in `features`.
SquadPrediction PredictExample(const SquadExample& example,
                               const std::vector<SquadFeature>& features,
                               const std::vector<SquadLogits>& logits,
                               const std::vector<size_t>& feature_ids,
                               const SquadPostprocessConfig& config) {
  SquadPrediction prediction;
  prediction.id = example.id;
  std::vector<Candidate> candidates;
  double null_score = std::numeric_limits<double>::infinity();
  double null_start_logit = 0.0;
  double null_end_logit = 0.0;
  size_t null_feature = 0;
  for (size_t f = 0; f < feature_ids.size(); ++f) {
    const SquadFeature& feature = features[feature_ids[f]];
    const SquadLogits& result = logits[feature_ids[f]];
    if (config.version_2_with_negative) {
      const double feature_null = double{result.start_logits[0]} + result.end_logits[0];
      if (feature_null < null_score) {
        null_score = feature_null;
        null_feature = f;
        null_start_logit = result.start_logits[0];
        null_end_logit = result.end_logits[0];
      }
    }
    const std::vector<int64_t> starts = BestIndexes(result.start_logits, config.n_best_size);
    const std::vector<int64_t> ends = BestIndexes(result.end_logits, config.n_best_size);
    for (int64_t start : starts) {
      for (int64_t end : ends) {
        if (!feature.IsContextToken(start) || !feature.IsContextToken(end)) continue;
        if (!feature.token_is_max_context[start]) continue;
        if (end < start || end - start + 1 > config.max_answer_length) continue;
        candidates.push_back({f, start, end, result.start_logits[start], result.end_logits[end]});
      }
    }
  }
  if (config.version_2_with_negative && !feature_ids.empty()) {
    candidates.push_back({null_feature, 0, 0, null_start_logit, null_end_logit});
  }
  std::stable_sort(candidates.begin(), candidates.end(),
                   [](const Candidate& a, const Candidate& b) { return a.score() > b.score(); });

  const Utf8Index context(example.context);
  std::set<std::string> seen;
  for (const Candidate& candidate : candidates) {
    if (static_cast<int64_t>(prediction.nbest.size()) >= config.n_best_size) break;
    std::string text;
    if (candidate.start_index > 0) {
      const SquadFeature& feature = features[feature_ids[candidate.feature]];
      text = std::string(context.Substr(feature.token_to_orig_offsets[candidate.start_index].first,
                                        feature.token_to_orig_offsets[candidate.end_index].second));
      if (seen.count(text) > 0) continue;
    }
    seen.insert(text);
    prediction.nbest.push_back({text, 0.0, candidate.start_logit, candidate.end_logit});
  }
  if (config.version_2_with_negative && seen.count("") == 0 && !feature_ids.empty()) {
    prediction.nbest.push_back({"", 0.0, null_start_logit, null_end_logit});
  }
  if (prediction.nbest.empty()) prediction.nbest.push_back({"", 0.0, 0.0, 0.0});

  std::vector<double> scores;
  const SquadNbestEntry* best_non_null = nullptr;
  for (const SquadNbestEntry& entry : prediction.nbest) {
    scores.push_back(entry.start_logit + entry.end_logit);
    if (best_non_null == nullptr && !entry.text.empty()) best_non_null = &entry;
  }
  const std::vector<double> probs = Softmax(scores);
  for (size_t i = 0; i < probs.size(); ++i) prediction.nbest[i].probability = probs[i];

  if (!config.version_2_with_negative) {
    prediction.text = prediction.nbest.front().text;
    return prediction;
  }
  if (feature_ids.empty()) return prediction;  // Nothing to score: "" with a diff of 0.
  // With no span at all, compare the null score with a placeholder span of logit 0, as the
  // reference's "empty" entry does, but still predict "".
  const double best_span_score =
      best_non_null == nullptr ? 0.0 : best_non_null->start_logit + best_non_null->end_logit;
  prediction.null_score_diff = null_score - best_span_score;
  if (best_non_null != nullptr &&
      !(prediction.null_score_diff > config.null_score_diff_threshold)) {
    prediction.text = best_non_null->text;
  }
  return prediction;
}

}  // namespace

absl::StatusOr<std::vector<SquadPrediction>> PostprocessSquadPredictions(
    const std::vector<SquadExample>& examples, const std::vector<SquadFeature>& features,
    const std::vector<SquadLogits>& logits, const SquadPostprocessConfig& config) {
  RETURN_IF_ERROR(ValidateInputs(examples, features, logits, config));
  std::vector<std::vector<size_t>> features_of_example(examples.size());
  for (size_t i = 0; i < features.size(); ++i) {
    features_of_example[features[i].example_index].push_back(i);
  }
  std::vector<SquadPrediction> predictions;
  predictions.reserve(examples.size());
  for (size_t e = 0; e < examples.size(); ++e) {
    predictions.push_back(
        PredictExample(examples[e], features, logits, features_of_example[e], config));
  }
  return predictions;
}

std::map<std::string, std::string> PredictionTexts(
    const std::vector<SquadPrediction>& predictions) {
  std::map<std::string, std::string> texts;
  for (const SquadPrediction& prediction : predictions) {
    texts[prediction.id] = prediction.text;
  }
  return texts;
}

absl::Status WriteSquadPredictions(const std::vector<SquadPrediction>& predictions,
                                   const std::string& output_dir,
                                   const SquadPostprocessConfig& config) {
  OrderedJson texts = OrderedJson::object();
  OrderedJson nbest = OrderedJson::object();
  OrderedJson null_odds = OrderedJson::object();
  for (const SquadPrediction& prediction : predictions) {
    texts[prediction.id] = prediction.text;
    OrderedJson entries = OrderedJson::array();
    for (const SquadNbestEntry& entry : prediction.nbest) {
      OrderedJson item;
      item["text"] = entry.text;
      item["probability"] = entry.probability;
      item["start_logit"] = entry.start_logit;
      item["end_logit"] = entry.end_logit;
      entries.push_back(std::move(item));
    }
    nbest[prediction.id] = std::move(entries);
    null_odds[prediction.id] = prediction.null_score_diff;
  }
  std::vector<std::pair<std::string, const OrderedJson*>> files = {
      {"predictions.json", &texts}, {"nbest_predictions.json", &nbest}};
  if (config.version_2_with_negative) files.push_back({"null_odds.json", &null_odds});
  for (const auto& [name, json] : files) {
    const std::string path = absl::StrCat(output_dir, "/", name);
    std::string text;
    try {
      text = json->dump(4) + "\n";
    } catch (const OrderedJson::exception& e) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": cannot serialise: ", e.what()));
    }
    RETURN_IF_ERROR(base::WriteStringToFileAtomically(path, text));
  }
  return absl::OkStatus();
}

}  // namespace datasets
