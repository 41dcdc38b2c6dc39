#include "recipes/tasks/question_answering.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include <filesystem>
#include <system_error>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "models/losses.h"
#include "recipes/tasks/model_io.h"

namespace recipes {
namespace {

constexpr char kTask[] = "question answering";
constexpr char kNeedsHead[] = "; a question-answering head (BertForQuestionAnswering) is needed";

const at::Tensor& Output(const compressor::TensorMap& outputs, const char* key) {
  return RequireTensor(outputs, key, kTask, "model outputs", kNeedsHead);
}

std::vector<float> RowToVector(const at::Tensor& row) {
  const at::Tensor values = row.to(at::kFloat).contiguous();
  const float* data = values.data_ptr<float>();
  return std::vector<float>(data, data + values.numel());
}

}  // namespace

absl::StatusOr<std::shared_ptr<const SquadSplit>> LoadSquadSplit(
    const std::string& path, const tokenizers::Tokenizer& tokenizer,
    const datasets::SquadFeatureConfig& config) {
  datasets::SquadLoadOptions load_options;
  load_options.is_training = config.is_training;
  load_options.check_answer_spans = config.is_training;
  ASSIGN_OR_RETURN(datasets::SquadData data, datasets::LoadSquadJson(path, load_options));
  return MakeSquadSplit(std::move(data), path, tokenizer, config);
}

absl::StatusOr<std::shared_ptr<const SquadSplit>> MakeSquadSplit(
    datasets::SquadData data, const std::string& source, const tokenizers::Tokenizer& tokenizer,
    const datasets::SquadFeatureConfig& config) {
  auto split = std::make_shared<SquadSplit>();
  split->source = source;
  split->data = std::move(data);
  absl::StatusOr<std::vector<datasets::SquadFeature>> features =
      datasets::ConvertSquadExamplesToFeatures(split->data.examples, tokenizer, config,
                                               &split->stats);
  if (!features.ok()) {
    return absl::Status(features.status().code(),
                        absl::StrCat(source, ": ", features.status().message()));
  }
  if (features->empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": no features (", split->stats.num_examples, " questions, ",
                     split->stats.num_unmappable_answers, " with unmappable answers)"));
  }
  split->features =
      std::make_shared<const std::vector<datasets::SquadFeature>>(*std::move(features));
  return std::shared_ptr<const SquadSplit>(std::move(split));
}

absl::StatusOr<std::unique_ptr<LoaderBatchSource>> SquadTrainBatches(
    std::shared_ptr<const SquadSplit> split, datasets::DataLoaderOptions options) {
  if (split == nullptr) return absl::InvalidArgumentError("SquadTrainBatches: split is null");
  return LoaderBatchSource::Create(std::make_shared<datasets::SquadFeatureDataset>(split->features),
                                   std::move(options));
}

at::Tensor QuestionAnsweringLoss(const compressor::TensorMap& outputs,
                                 const compressor::TensorMap& batch) {
  // One key at a time, so the first missing one is the one reported.
  const at::Tensor& start_logits = Output(outputs, "start_logits");
  const at::Tensor& end_logits = Output(outputs, "end_logits");
  const at::Tensor& start_positions = RequireTensor(batch, "start_positions", kTask, "batch");
  const at::Tensor& end_positions = RequireTensor(batch, "end_positions", kTask, "batch");
  return models::QuestionAnsweringLoss(start_logits, end_logits, start_positions, end_positions);
}

absl::StatusOr<std::vector<datasets::SquadPrediction>> PredictQuestionAnswering(
    torch::nn::Module& model, const SquadSplit& eval, const QuestionAnsweringConfig& config) {
  if (config.eval_batch_size < 1) {
    return absl::InvalidArgumentError(absl::StrCat("QuestionAnsweringConfig: eval_batch_size is ",
                                                   config.eval_batch_size, ", must be >= 1"));
  }
  const std::vector<datasets::SquadFeature>& features = *eval.features;
  datasets::SquadFeatureDataset dataset(eval.features);
  datasets::DataLoaderOptions loader_options;
  loader_options.batch_size = config.eval_batch_size;
  ASSIGN_OR_RETURN(datasets::DataLoader loader,
                   datasets::DataLoader::Create(&dataset, loader_options));

  std::vector<datasets::SquadLogits> logits(features.size());
  try {
    ScopedEvalMode eval_mode(model);
    datasets::Batch batch;
    while (true) {
      ASSIGN_OR_RETURN(const bool has_batch, loader.Next(&batch));
      if (!has_batch) break;
      const compressor::TensorMap outputs = ForwardBertClass(model, batch);
      const at::Tensor& start = Output(outputs, "start_logits");
      const at::Tensor& end = Output(outputs, "end_logits");
      const at::Tensor index = batch.at("feature_index");
      TORCH_CHECK(
          start.dim() == 2 && start.sizes() == end.sizes() && start.size(0) == index.size(0),
          "question answering: start/end logits of shape ", start.sizes(), " / ", end.sizes(),
          " for a batch of ", index.size(0), " features");
      for (int64_t row = 0; row < index.size(0); ++row) {
        datasets::SquadLogits& out = logits.at(index[row].item<int64_t>());
        out.start_logits = RowToVector(start[row]);
        out.end_logits = RowToVector(end[row]);
      }
    }
  } catch (const c10::Error& error) {
    return StatusFromTorchError(error, absl::StrCat("evaluating on ", eval.source));
  }

  absl::StatusOr<std::vector<datasets::SquadPrediction>> predictions =
      datasets::PostprocessSquadPredictions(eval.data.examples, features, logits,
                                            config.postprocess);
  if (!predictions.ok()) {
    return absl::Status(predictions.status().code(),
                        absl::StrCat(eval.source, ": ", predictions.status().message()));
  }
  return predictions;
}

absl::StatusOr<QuestionAnsweringEvaluation> EvaluateQuestionAnswering(
    torch::nn::Module& model, const SquadSplit& eval, const QuestionAnsweringConfig& config) {
  QuestionAnsweringEvaluation result;
  ASSIGN_OR_RETURN(result.predictions, PredictQuestionAnswering(model, eval, config));
  absl::StatusOr<datasets::SquadMetrics> metrics =
      datasets::EvaluateSquad(eval.data, datasets::PredictionTexts(result.predictions));
  if (!metrics.ok()) {
    return absl::Status(metrics.status().code(),
                        absl::StrCat(eval.source, ": ", metrics.status().message()));
  }
  result.metrics = *std::move(metrics);
  if (!config.output_dir.empty()) {
    std::error_code error;
    std::filesystem::create_directories(config.output_dir, error);
    if (error) {
      return absl::PermissionDeniedError(absl::StrCat("QuestionAnsweringConfig.output_dir '",
                                                      config.output_dir, "': ", error.message()));
    }
    RETURN_IF_ERROR(
        datasets::WriteSquadPredictions(result.predictions, config.output_dir, config.postprocess));
  }
  return result;
}

std::map<std::string, double> SquadMetricsToMap(const datasets::SquadMetrics& metrics) {
  std::map<std::string, double> map = {{"exact_match", metrics.exact}, {"f1", metrics.f1}};
  if (metrics.version_2) {
    if (metrics.has_ans_total > 0) {
      map["HasAns_exact"] = metrics.has_ans_exact;
      map["HasAns_f1"] = metrics.has_ans_f1;
    }
    if (metrics.no_ans_total > 0) {
      map["NoAns_exact"] = metrics.no_ans_exact;
      map["NoAns_f1"] = metrics.no_ans_f1;
    }
  }
  return map;
}

ExampleScores QuestionAnsweringExampleScores(const datasets::SquadMetrics& metrics) {
  ExampleScores scores;
  scores.task = "question_answering";
  std::vector<double>& exact = scores.scores["exact_match"];
  std::vector<double>& f1 = scores.scores["f1"];
  for (const datasets::SquadQuestionScore& question : metrics.per_question) {
    scores.ids.push_back(question.id);
    exact.push_back(question.exact);
    f1.push_back(question.f1);
  }
  return scores;
}

ScoredEvaluateFunction QuestionAnsweringScoredEvaluate(std::shared_ptr<const SquadSplit> eval,
                                                       QuestionAnsweringConfig config) {
  return [eval = std::move(eval), config = std::move(config)](
             torch::nn::Module& model) -> absl::StatusOr<ScoredEvaluation> {
    ASSIGN_OR_RETURN(QuestionAnsweringEvaluation result,
                     EvaluateQuestionAnswering(model, *eval, config));
    return ScoredEvaluation{SquadMetricsToMap(result.metrics),
                            QuestionAnsweringExampleScores(result.metrics)};
  };
}

compressor::TaskFunctions QuestionAnsweringTask(std::shared_ptr<const SquadSplit> eval,
                                                QuestionAnsweringConfig config) {
  compressor::TaskFunctions task;
  task.forward = ForwardBertClass;
  task.loss = QuestionAnsweringLoss;
  if (eval != nullptr) {
    task.evaluate = [eval = std::move(eval), config = std::move(config)](
                        torch::nn::Module& model) -> absl::StatusOr<std::map<std::string, double>> {
      ASSIGN_OR_RETURN(QuestionAnsweringEvaluation result,
                       EvaluateQuestionAnswering(model, *eval, config));
      return SquadMetricsToMap(result.metrics);
    };
  }
  return task;
}

}  // namespace recipes
