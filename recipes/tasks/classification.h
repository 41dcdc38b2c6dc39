// Sentence and sentence-pair classification (GLUE TSV files, or local TSV/JSONL files with
// text / text_pair / label) as a task for compressor::Trainer: rows -> tokenized batches;
// the loss of a sequence-classification head (cross-entropy, MSE for regression); and
// evaluation with the task's GLUE metrics (or accuracy for local tasks) as fractions.
//
//   ClassificationDataConfig data_config;
//   data_config.task_name = "mrpc";
//   ASSIGN_OR_RETURN(auto train, LoadClassificationSplit(dir + "/train.tsv", tokenizer.get(),
//                                                        data_config));
//   ASSIGN_OR_RETURN(auto dev, LoadClassificationSplit(dir + "/dev.tsv", tokenizer.get(),
//                                                      data_config));
//   RETURN_IF_ERROR(CheckLabelsMatchModel(*train, model->config()));
//   ASSIGN_OR_RETURN(auto batches, ClassificationTrainBatches(train, loader_options));
//   ASSIGN_OR_RETURN(compressor::TaskFunctions task,
//                    ClassificationTask(model->config(), dev, {}));
//   // evaluations report {"accuracy": 0.86, "f1": 0.90, "acc_and_f1": 0.88}
#ifndef RECIPES_TASKS_CLASSIFICATION_H_
#define RECIPES_TASKS_CLASSIFICATION_H_

#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "compressor/train/trainer.h"
#include "datasets/data_loader.h"
#include "datasets/glue/glue.h"
#include "models/bert_config.h"
#include "models/tokenizers/tokenizer.h"
#include "recipes/tasks/example_scores.h"
#include "recipes/tasks/loader_batch_source.h"

namespace recipes {

struct ClassificationDataConfig {
  // A GLUE task name ("sst-2", "mrpc", "mnli", "sts-b", ...; see datasets::GetGlueTask): the
  // file is an official GLUE TSV and evaluation reports that task's metrics. "": a local
  // TSV/JSONL file read with file_options, evaluated by accuracy (regression: correlations).
  std::string task_name;
  // Local files only. Give a dev file the training split's label_list so the ids agree.
  datasets::TextClassificationFileOptions file_options;
  int64_t max_seq_length = 128;  // Tokens per row, specials included (truncated, not padded).
};

// One file of rows, tokenized on demand.
struct ClassificationSplit {
  std::string source;        // The file it was loaded from.
  std::string task_name;     // ClassificationDataConfig::task_name.
  int64_t pad_token_id = 0;  // The tokenizer's [PAD] id, for batching.
  std::shared_ptr<const datasets::TextClassificationDataset> dataset;

  const datasets::TextClassificationData& data() const { return dataset->data(); }
};

// Loads `path` (GLUE TSV when config.task_name is set, else a local file). `tokenizer` must
// outlive the split. Errors name the file.
absl::StatusOr<std::shared_ptr<const ClassificationSplit>> LoadClassificationSplit(
    const std::string& path, const tokenizers::Tokenizer* tokenizer,
    const ClassificationDataConfig& config);

// The same for rows already in memory (a text typed on a command line); `source` names
// them in errors.
absl::StatusOr<std::shared_ptr<const ClassificationSplit>> MakeClassificationSplit(
    datasets::TextClassificationData data, const std::string& source,
    const tokenizers::Tokenizer* tokenizer, const ClassificationDataConfig& config);

// InvalidArgument naming the file and both values unless the model's head fits the split's
// labels: num_labels equal to the number of labels (1 for regression), and a problem_type
// that is "" or the split's kind (single_label_classification / regression).
absl::Status CheckLabelsMatchModel(const ClassificationSplit& split,
                                   const models::BertConfig& model_config);

// Training batches: input_ids, token_type_ids, attention_mask [batch, longest row], labels
// [batch] (int64, or float32 for regression). options.pad_token_id is set from the split.
// FailedPrecondition when the file has no labels.
absl::StatusOr<std::unique_ptr<LoaderBatchSource>> ClassificationTrainBatches(
    std::shared_ptr<const ClassificationSplit> split, datasets::DataLoaderOptions options);

struct ClassificationConfig {
  int64_t eval_batch_size = 32;  // Rows per forward pass when evaluating.
};

struct ClassificationEvaluation {
  std::vector<int64_t> predictions;       // Argmax class per row, in file order (classification).
  std::vector<float> scores;              // Predicted value per row, in file order (regression).
  std::vector<int64_t> labels;            // Gold label id per row, in file order (classification).
  std::map<std::string, double> metrics;  // As ClassificationTask's evaluate reports them.
};

// Runs `model` over every row of `eval` (eval mode, no gradients; training mode restored;
// the rows need no labels): the head's logits, Float [rows, num_labels], in file order.
// Model errors come back as InvalidArgument naming the file.
absl::StatusOr<at::Tensor> ClassificationLogits(torch::nn::Module& model,
                                                const ClassificationSplit& eval,
                                                const ClassificationConfig& config);

// ClassificationLogits, then scores the predictions, all as fractions:
//   classification: "accuracy", plus for a GLUE task its other metrics under Hugging Face's
//     names ("f1" and "acc_and_f1" for mrpc/qqp, "mcc" for cola); GLUE's "acc",
//     "mnli/acc" and "mnli-mm/acc" are reported as "accuracy";
//   regression: "pearson", "spearmanr", "corr" and "mse".
// FailedPrecondition when the file has no labels; model errors come back as InvalidArgument
// naming the file.
absl::StatusOr<ClassificationEvaluation> EvaluateClassification(torch::nn::Module& model,
                                                                const ClassificationSplit& eval,
                                                                const ClassificationConfig& config);

// The head's loss (models::SequenceClassificationLoss with `model_config`'s num_labels and
// problem_type) from output "logits" and batch "labels". Throws c10::Error naming a missing key.
at::Tensor ClassificationLoss(const compressor::TensorMap& outputs,
                              const compressor::TensorMap& batch,
                              const models::BertConfig& model_config);

// Per row (keyed by its index in file order): "accuracy" 1 when the prediction equals the
// label, else 0 (their mean is the accuracy), and the labels. Empty for regression, whose
// metrics are not means over rows.
ExampleScores ClassificationExampleScores(const ClassificationEvaluation& evaluation);

// ClassificationTask's evaluate (the same metrics) plus the per-row scores. `eval` non-null.
ScoredEvaluateFunction ClassificationScoredEvaluate(std::shared_ptr<const ClassificationSplit> eval,
                                                    ClassificationConfig config);

// forward = ForwardBertClass, loss = ClassificationLoss, evaluate = EvaluateClassification on
// `eval` (none when `eval` is null). Fails as CheckLabelsMatchModel on `eval`.
absl::StatusOr<compressor::TaskFunctions> ClassificationTask(
    const models::BertConfig& model_config, std::shared_ptr<const ClassificationSplit> eval,
    ClassificationConfig config);

}  // namespace recipes

#endif  // RECIPES_TASKS_CLASSIFICATION_H_
