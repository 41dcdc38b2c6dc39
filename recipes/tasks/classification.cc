#include "recipes/tasks/classification.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"
#include "datasets/classification_metrics.h"
#include "models/losses.h"
#include "recipes/tasks/model_io.h"

namespace recipes {
namespace {

constexpr char kTask[] = "classification";
constexpr char kNeedsHead[] =
    "; a sequence-classification head (BertForSequenceClassification) is needed";

absl::Status Prefixed(const absl::Status& status, const std::string& source) {
  return absl::Status(status.code(), absl::StrCat(source, ": ", status.message()));
}

absl::Status CheckHasLabels(const ClassificationSplit& split) {
  if (split.data().has_labels) return absl::OkStatus();
  return absl::FailedPreconditionError(
      absl::StrCat(split.source, ": the file has no label column; it cannot be trained or scored"));
}

// GLUE's metric names with the accuracy variants renamed "accuracy".
absl::StatusOr<std::map<std::string, double>> ClassificationMetrics(
    const std::string& task_name, const std::vector<int64_t>& predictions,
    const std::vector<int64_t>& labels) {
  std::map<std::string, double> metrics;
  ASSIGN_OR_RETURN(metrics["accuracy"], datasets::Accuracy(predictions, labels));
  if (task_name.empty()) return metrics;
  ASSIGN_OR_RETURN(datasets::Metrics glue,
                   datasets::GlueComputeMetrics(task_name, predictions, labels));
  for (const auto& [name, value] : glue) {
    if (name == "acc" || name == "mnli/acc" || name == "mnli-mm/acc") continue;
    metrics[name] = value;
  }
  return metrics;
}

absl::StatusOr<std::map<std::string, double>> RegressionMetrics(
    const std::string& task_name, const std::vector<float>& predictions,
    const std::vector<float>& labels) {
  std::map<std::string, double> metrics;
  if (task_name.empty()) {
    ASSIGN_OR_RETURN(metrics, datasets::PearsonAndSpearman(predictions, labels));
  } else {
    ASSIGN_OR_RETURN(metrics,
                     datasets::GlueComputeRegressionMetrics(task_name, predictions, labels));
  }
  double squared_error = 0.0;
  for (size_t i = 0; i < predictions.size(); ++i) {
    const double diff = double(predictions[i]) - double(labels[i]);
    squared_error += diff * diff;
  }
  metrics["mse"] = predictions.empty() ? 0.0 : squared_error / double(predictions.size());
  return metrics;
}

template <typename T>
void Append(const at::Tensor& values, std::vector<T>* out) {
  const at::Tensor flat = values.reshape({-1}).contiguous();
  const T* data = flat.data_ptr<T>();
  out->insert(out->end(), data, data + flat.numel());
}

}  // namespace

absl::StatusOr<std::shared_ptr<const ClassificationSplit>> LoadClassificationSplit(
    const std::string& path, const tokenizers::Tokenizer* tokenizer,
    const ClassificationDataConfig& config) {
  if (tokenizer == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": tokenizer is null"));
  }
  datasets::TextClassificationData data;
  if (config.task_name.empty()) {
    ASSIGN_OR_RETURN(data, datasets::LoadTextClassificationFile(path, config.file_options));
  } else {
    ASSIGN_OR_RETURN(data, datasets::LoadGlueTsv(config.task_name, path));
  }
  return MakeClassificationSplit(std::move(data), path, tokenizer, config);
}

absl::StatusOr<std::shared_ptr<const ClassificationSplit>> MakeClassificationSplit(
    datasets::TextClassificationData data, const std::string& source,
    const tokenizers::Tokenizer* tokenizer, const ClassificationDataConfig& config) {
  if (tokenizer == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": tokenizer is null"));
  }
  auto dataset = datasets::TextClassificationDataset::Create(std::move(data), tokenizer,
                                                             config.max_seq_length);
  if (!dataset.ok()) return Prefixed(dataset.status(), source);
  if ((*dataset)->size() == 0) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": the file has no rows"));
  }
  auto split = std::make_shared<ClassificationSplit>();
  split->source = source;
  split->task_name = config.task_name;
  split->pad_token_id = tokenizer->pad_id();
  split->dataset = *std::move(dataset);
  return std::shared_ptr<const ClassificationSplit>(std::move(split));
}

absl::Status CheckLabelsMatchModel(const ClassificationSplit& split,
                                   const models::BertConfig& model_config) {
  const datasets::TextClassificationData& data = split.data();
  const int64_t expected = data.is_regression ? 1 : int64_t(data.label_list.size());
  if (model_config.num_labels != expected) {
    return absl::InvalidArgumentError(absl::StrCat(
        split.source, ": the model's num_labels is ", model_config.num_labels, " but the ",
        data.is_regression ? "regression task needs 1"
                           : absl::StrCat("file has ", expected, " labels (",
                                          absl::StrJoin(data.label_list, ", "), ")")));
  }
  const std::string kind = data.is_regression ? "regression" : "single_label_classification";
  if (!model_config.problem_type.empty() && model_config.problem_type != kind) {
    return absl::InvalidArgumentError(absl::StrCat(split.source, ": the model's problem_type is '",
                                                   model_config.problem_type, "' but the file is ",
                                                   kind));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<LoaderBatchSource>> ClassificationTrainBatches(
    std::shared_ptr<const ClassificationSplit> split, datasets::DataLoaderOptions options) {
  if (split == nullptr) {
    return absl::InvalidArgumentError("ClassificationTrainBatches: split is null");
  }
  RETURN_IF_ERROR(CheckHasLabels(*split));
  options.pad_token_id = split->pad_token_id;
  return LoaderBatchSource::Create(
      std::shared_ptr<const datasets::Dataset>(split, split->dataset.get()), std::move(options));
}

absl::StatusOr<at::Tensor> ClassificationLogits(torch::nn::Module& model,
                                                const ClassificationSplit& eval,
                                                const ClassificationConfig& config) {
  if (config.eval_batch_size < 1) {
    return absl::InvalidArgumentError(absl::StrCat("ClassificationConfig: eval_batch_size is ",
                                                   config.eval_batch_size, ", must be >= 1"));
  }
  datasets::DataLoaderOptions loader_options;
  loader_options.batch_size = config.eval_batch_size;
  loader_options.pad_token_id = eval.pad_token_id;
  ASSIGN_OR_RETURN(datasets::DataLoader loader,
                   datasets::DataLoader::Create(eval.dataset.get(), loader_options));
  std::vector<at::Tensor> batches;
  try {
    ScopedEvalMode eval_mode(model);
    datasets::Batch batch;
    while (true) {
      ASSIGN_OR_RETURN(const bool has_batch, loader.Next(&batch));
      if (!has_batch) break;
      const compressor::TensorMap outputs = ForwardBertClass(model, batch);
      const at::Tensor& logits =
          RequireTensor(outputs, "logits", kTask, "model outputs", kNeedsHead);
      const int64_t rows = batch.at("input_ids").size(0);
      TORCH_CHECK(logits.dim() == 2 && logits.size(0) == rows, "classification: logits of shape ",
                  logits.sizes(), " for a batch of ", rows, " rows");
      batches.push_back(logits.to(at::kFloat));
    }
    return at::cat(batches);
  } catch (const c10::Error& error) {
    return StatusFromTorchError(error, absl::StrCat("evaluating on ", eval.source));
  }
}

absl::StatusOr<ClassificationEvaluation> EvaluateClassification(
    torch::nn::Module& model, const ClassificationSplit& eval, const ClassificationConfig& config) {
  RETURN_IF_ERROR(CheckHasLabels(eval));
  ASSIGN_OR_RETURN(const at::Tensor logits, ClassificationLogits(model, eval, config));
  const bool regression = eval.data().is_regression;
  ClassificationEvaluation result;
  std::vector<float> float_labels;
  for (const datasets::TextExample& row : eval.data().examples) {
    if (regression) {
      float_labels.push_back(row.float_label);
    } else {
      result.labels.push_back(row.label);
    }
  }
  if (regression) {
    if (logits.size(1) != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("evaluating on ", eval.source, ": classification: a regression task ",
                       "needs one output, the model has ", logits.size(1)));
    }
    Append<float>(logits, &result.scores);
  } else {
    Append<int64_t>(logits.argmax(-1), &result.predictions);
  }
  absl::StatusOr<std::map<std::string, double>> metrics =
      regression ? RegressionMetrics(eval.task_name, result.scores, float_labels)
                 : ClassificationMetrics(eval.task_name, result.predictions, result.labels);
  if (!metrics.ok()) return Prefixed(metrics.status(), eval.source);
  result.metrics = *std::move(metrics);
  return result;
}

at::Tensor ClassificationLoss(const compressor::TensorMap& outputs,
                              const compressor::TensorMap& batch,
                              const models::BertConfig& model_config) {
  const at::Tensor& logits = RequireTensor(outputs, "logits", kTask, "model outputs", kNeedsHead);
  const at::Tensor& labels = RequireTensor(batch, "labels", kTask, "batch");
  return models::SequenceClassificationLoss(logits, labels, model_config);
}

ExampleScores ClassificationExampleScores(const ClassificationEvaluation& evaluation) {
  ExampleScores scores;
  scores.task = "classification";
  // Regression rows have no labels (and no per-row share of pearson / spearmanr).
  if (evaluation.labels.empty() || evaluation.predictions.size() != evaluation.labels.size()) {
    return scores;
  }
  std::vector<double>& correct = scores.scores["accuracy"];
  for (size_t i = 0; i < evaluation.labels.size(); ++i) {
    scores.ids.push_back(absl::StrCat(i));
    correct.push_back(evaluation.predictions[i] == evaluation.labels[i] ? 1.0 : 0.0);
  }
  scores.labels = evaluation.labels;
  return scores;
}

ScoredEvaluateFunction ClassificationScoredEvaluate(std::shared_ptr<const ClassificationSplit> eval,
                                                    ClassificationConfig config) {
  return [eval = std::move(eval), config](
             torch::nn::Module& model) -> absl::StatusOr<ScoredEvaluation> {
    ASSIGN_OR_RETURN(ClassificationEvaluation result,
                     EvaluateClassification(model, *eval, config));
    ExampleScores examples = ClassificationExampleScores(result);
    return ScoredEvaluation{std::move(result.metrics), std::move(examples)};
  };
}

absl::StatusOr<compressor::TaskFunctions> ClassificationTask(
    const models::BertConfig& model_config, std::shared_ptr<const ClassificationSplit> eval,
    ClassificationConfig config) {
  if (eval != nullptr) {
    RETURN_IF_ERROR(CheckHasLabels(*eval));
    RETURN_IF_ERROR(CheckLabelsMatchModel(*eval, model_config));
  }
  compressor::TaskFunctions task;
  task.forward = ForwardBertClass;
  task.loss = [model_config](const compressor::TensorMap& outputs,
                             const compressor::TensorMap& batch) {
    return ClassificationLoss(outputs, batch, model_config);
  };
  if (eval != nullptr) {
    task.evaluate = [eval = std::move(eval), config](
                        torch::nn::Module& model) -> absl::StatusOr<std::map<std::string, double>> {
      ASSIGN_OR_RETURN(ClassificationEvaluation result,
                       EvaluateClassification(model, *eval, config));
      return std::move(result.metrics);
    };
  }
  return task;
}

}  // namespace recipes
