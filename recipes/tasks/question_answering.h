// Extractive question answering (SQuAD v1.1 / v2.0) as a task for compressor::Trainer:
// SQuAD JSON -> doc-stride features -> batches; the loss of a QA head on start/end
// positions; and evaluation as the reference run_squad.py does it (n-best spans over all
// windows, then the official evaluate-v1.1.py / v2.0 metrics, as percentages).
//
//   datasets::SquadFeatureConfig features;  // max_seq_length 384, doc_stride 128, ...
//   features.is_training = true;
//   ASSIGN_OR_RETURN(auto train, LoadSquadSplit("train-v1.1.json", *tokenizer, features));
//   features.is_training = false;
//   ASSIGN_OR_RETURN(auto dev, LoadSquadSplit("dev-v1.1.json", *tokenizer, features));
//   ASSIGN_OR_RETURN(auto batches, SquadTrainBatches(train, loader_options));
//   compressor::Trainer trainer(trainer_config, QuestionAnsweringTask(dev, {}), batches.get());
//   // trainer evaluations report {"exact_match": 81.2, "f1": 88.5}
#ifndef RECIPES_TASKS_QUESTION_ANSWERING_H_
#define RECIPES_TASKS_QUESTION_ANSWERING_H_

#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "compressor/train/trainer.h"
#include "datasets/data_loader.h"
#include "datasets/squad/squad_data.h"
#include "datasets/squad/squad_features.h"
#include "datasets/squad/squad_metrics.h"
#include "datasets/squad/squad_postprocess.h"
#include "models/tokenizers/tokenizer.h"
#include "recipes/tasks/example_scores.h"
#include "recipes/tasks/loader_batch_source.h"

namespace recipes {

// One SQuAD file and its model inputs; features[i].example_index points into data.examples.
struct SquadSplit {
  std::string source;        // The file it was loaded from.
  datasets::SquadData data;  // The questions, in file order.
  std::shared_ptr<const std::vector<datasets::SquadFeature>> features;
  datasets::SquadConversionStats stats;  // Examples, features, unmappable training answers.
};

// Loads `path` and converts it with `config`. config.is_training: every answerable question
// must have a valid answer span (checked against the context), and questions whose answer
// covers no token are dropped, as Hugging Face does. Otherwise (evaluation) spans are not
// checked, as the official scripts read only the answer texts, and every question keeps
// its features. Errors name the file.
absl::StatusOr<std::shared_ptr<const SquadSplit>> LoadSquadSplit(
    const std::string& path, const tokenizers::Tokenizer& tokenizer,
    const datasets::SquadFeatureConfig& config);

// The same for questions already in memory (a question typed on a command line); `source`
// names them in errors.
absl::StatusOr<std::shared_ptr<const SquadSplit>> MakeSquadSplit(
    datasets::SquadData data, const std::string& source, const tokenizers::Tokenizer& tokenizer,
    const datasets::SquadFeatureConfig& config);

// Training batches over `split`'s features: input_ids, token_type_ids, attention_mask
// [batch, max_seq_length]; start_positions, end_positions, feature_index [batch].
absl::StatusOr<std::unique_ptr<LoaderBatchSource>> SquadTrainBatches(
    std::shared_ptr<const SquadSplit> split, datasets::DataLoaderOptions options);

struct QuestionAnsweringConfig {
  // n-best size, max answer length; set version_2_with_negative for SQuAD 2.0 data, or no
  // question is ever answered "".
  datasets::SquadPostprocessConfig postprocess;
  int64_t eval_batch_size = 32;  // Features per forward pass when evaluating.
  // Where each evaluation writes predictions.json, nbest_predictions.json (and with
  // postprocess.version_2_with_negative null_odds.json), overwriting the last; "" writes
  // nothing. Created when missing.
  std::string output_dir;
};

// The QA head's loss (models::QuestionAnsweringLoss) from outputs "start_logits" /
// "end_logits" and the batch's "start_positions" / "end_positions". Throws c10::Error
// naming the missing key.
at::Tensor QuestionAnsweringLoss(const compressor::TensorMap& outputs,
                                 const compressor::TensorMap& batch);

struct QuestionAnsweringEvaluation {
  std::vector<datasets::SquadPrediction> predictions;  // One per question, in file order.
  datasets::SquadMetrics metrics;                      // The official script's numbers.
};

// Runs `model` over every feature of `eval` (eval mode, no gradients; the model's training
// mode is restored afterwards) and post-processes the logits into one answer per question,
// in file order; the questions need no gold answers. Nothing is written. Model errors come
// back as InvalidArgument naming the file.
absl::StatusOr<std::vector<datasets::SquadPrediction>> PredictQuestionAnswering(
    torch::nn::Module& model, const SquadSplit& eval, const QuestionAnsweringConfig& config);

// PredictQuestionAnswering, then scores the answers with datasets::EvaluateSquad. Writes
// the prediction files when config.output_dir is set. Model errors (not a QA model, wrong
// shapes) come back as InvalidArgument naming the file.
absl::StatusOr<QuestionAnsweringEvaluation> EvaluateQuestionAnswering(
    torch::nn::Module& model, const SquadSplit& eval, const QuestionAnsweringConfig& config);

// {"exact_match", "f1"} in percent (v2.0's "exact" is reported as "exact_match" too), and
// for SQuAD 2.0 data "HasAns_exact", "HasAns_f1", "NoAns_exact", "NoAns_f1" for the groups
// that have questions.
std::map<std::string, double> SquadMetricsToMap(const datasets::SquadMetrics& metrics);

// Per question (keyed by id, file order): "exact_match" and "f1" in 0..100 as the official
// script scores them before averaging, so their means are SquadMetricsToMap's figures.
ExampleScores QuestionAnsweringExampleScores(const datasets::SquadMetrics& metrics);

// QuestionAnsweringTask's evaluate (the same metrics) plus the per-question scores.
ScoredEvaluateFunction QuestionAnsweringScoredEvaluate(std::shared_ptr<const SquadSplit> eval,
                                                       QuestionAnsweringConfig config);

// forward = ForwardBertClass, loss = QuestionAnsweringLoss, evaluate =
// EvaluateQuestionAnswering on `eval` reported by SquadMetricsToMap (no evaluate when `eval`
// is null).
compressor::TaskFunctions QuestionAnsweringTask(std::shared_ptr<const SquadSplit> eval,
                                                QuestionAnsweringConfig config);

}  // namespace recipes

#endif  // RECIPES_TASKS_QUESTION_ANSWERING_H_
