// Start/end logits of every window -> one answer string per question, as the reference BERT
// run_squad.py write_predictions does (n-best spans over all windows of an example, the
// max-context rule, the SQuAD 2.0 null-score threshold), except that the answer text is the
// original context substring between the tokens' character offsets rather than a
// detokenized guess.
//
//   std::vector<SquadLogits> logits(features.size());  // logits[i] belongs to features[i].
//   ... fill from the model's start/end outputs ...
//   ASSIGN_OR_RETURN(std::vector<SquadPrediction> predictions,
//                    PostprocessSquadPredictions(data.examples, features, logits, config));
//   RETURN_IF_ERROR(WriteSquadPredictions(predictions, output_dir, config));
//   ... EvaluateSquad(data, PredictionTexts(predictions)) ...
#ifndef DATASETS_SQUAD_SQUAD_POSTPROCESS_H_
#define DATASETS_SQUAD_SQUAD_POSTPROCESS_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "datasets/squad/squad_data.h"
#include "datasets/squad/squad_features.h"

namespace datasets {

struct SquadPostprocessConfig {
  int64_t n_best_size = 20;        // Start and end candidates per window; n-best entries kept.
  int64_t max_answer_length = 30;  // Longest answer span, in tokens.
  bool version_2_with_negative = false;    // SQuAD 2.0: "" (no answer) may be predicted.
  double null_score_diff_threshold = 0.0;  // Predict "" when null - best span score > this.
};

// The model's outputs for one feature, one value per input position (max_seq_length).
struct SquadLogits {
  std::vector<float> start_logits;
  std::vector<float> end_logits;
};

struct SquadNbestEntry {
  std::string text;          // Original context text of the span; "" for the null answer.
  double probability = 0.0;  // Softmax of start + end logit over the n-best list.
  double start_logit = 0.0;
  double end_logit = 0.0;
};

struct SquadPrediction {
  std::string id;                      // The question id.
  std::string text;                    // The predicted answer; "" for no answer.
  std::vector<SquadNbestEntry> nbest;  // Best first, distinct texts.
  // v2.0: min over windows of the [CLS] score, minus the best span's score (null_odds.json).
  double null_score_diff = 0.0;
};

// One prediction per example, in example order. logits[i] must belong to features[i] and
// have input_ids.size() values. Examples without features (an empty context), or without
// any valid span, predict "" (the reference would predict the placeholder "empty").
absl::StatusOr<std::vector<SquadPrediction>> PostprocessSquadPredictions(
    const std::vector<SquadExample>& examples, const std::vector<SquadFeature>& features,
    const std::vector<SquadLogits>& logits, const SquadPostprocessConfig& config);

// id -> predicted text, the form EvaluateSquad and predictions.json take.
std::map<std::string, std::string> PredictionTexts(const std::vector<SquadPrediction>& predictions);

// Writes predictions.json (id -> text), nbest_predictions.json (id -> [{text, probability,
// start_logit, end_logit}]) and, with version_2_with_negative, null_odds.json (id -> null
// score difference) into `output_dir`, keys in question order, as the reference does.
absl::Status WriteSquadPredictions(const std::vector<SquadPrediction>& predictions,
                                   const std::string& output_dir,
                                   const SquadPostprocessConfig& config);

}  // namespace datasets

#endif  // DATASETS_SQUAD_SQUAD_POSTPROCESS_H_
