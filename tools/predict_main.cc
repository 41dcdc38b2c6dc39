// Answers a question or classifies a text with a saved model directory (what a recipe stage
// or SavePretrained writes; dense, pruned or INT8), on the deploy kernels: the directory is
// loaded as the recipes' report loads it (recipes::LoadDeployModel: INT8 layers rebuilt from
// model.int8.safetensors, every Linear on dense oneDNN or our sparse kernel, chosen per
// layer) and run through the recipes' own QA / classification code.
//
//   bazel run //tools:predict -- --model_dir=DIR --question="Who?" --context="Ann did."
//   bazel run //tools:predict -- --model_dir=DIR --text="A passage." [--text_pair=...]
//   bazel run //tools:predict -- --model_dir=DIR --input=dev-v1.1.json --output=preds.json
//   bazel run //tools:predict -- --model_dir=DIR --input=dev.tsv --output=preds.json
//
// One question or text: prints a line saying which kernels run, then one JSON object
// {"answer" | "label", "score", "latency_ms"} (QA score: the n-best probability of the
// answer; classification: the softmax probability of the label; latency: tokenizing,
// forward and post-processing, after one untimed warm-up pass). --input: a SQuAD JSON file
// for a question-answering model (--output gets predictions.json's form, id -> answer, what
// //datasets:squad_evaluate reads; EM / F1 are printed when every question has answers), or
// a TSV / JSONL file with `text` [, `text_pair`, `label`] for a classification model
// (--output gets [{"label", "score"}] per row; accuracy printed when labelled). Bad input is
// one line on stderr naming the file, field or flag and the value, and exit status 1.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/atomic_file.h"
#include "base/cli.h"
#include "base/status_macros.h"
#include "compressor/deploy/latency.h"
#include "datasets/squad/squad_data.h"
#include "datasets/squad/squad_metrics.h"
#include "models/tokenizers/tokenizer_json.h"
#include "recipes/stage_model.h"
#include "recipes/tasks/classification.h"
#include "recipes/tasks/question_answering.h"

ABSL_FLAG(std::string, model_dir, "", "A saved model directory (config.json + weights).");
ABSL_FLAG(std::string, question, "", "Question answering: the question (needs --context).");
ABSL_FLAG(std::string, context, "", "Question answering: the passage to answer from.");
ABSL_FLAG(std::string, text, "", "Classification: the text.");
ABSL_FLAG(std::string, text_pair, "", "Classification: the second text of a pair task.");
ABSL_FLAG(std::string, input, "", "A SQuAD JSON file (QA) or TSV / JSONL file (classification).");
ABSL_FLAG(std::string, output, "", "With --input: the predictions JSON file to write.");
ABSL_FLAG(std::string, kernel, "auto", "Linear kernels: auto (timed per layer), dense or sparse.");
ABSL_FLAG(int64_t, max_seq_length, 384, "Tokens per window (capped at the model's positions).");
ABSL_FLAG(int64_t, doc_stride, 128, "QA: context tokens between window starts.");
ABSL_FLAG(int64_t, max_query_length, 64, "QA: question tokens kept.");
ABSL_FLAG(int64_t, max_answer_length, 30, "QA: longest answer, in tokens.");
ABSL_FLAG(int64_t, n_best_size, 20, "QA: start and end candidates per window.");
ABSL_FLAG(bool, version_2_with_negative, false, "QA: SQuAD 2.0, \"\" (no answer) allowed.");
ABSL_FLAG(int64_t, batch_size, 32, "Windows or rows per forward pass.");

namespace {

using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;

// `bazel run` starts in the runfiles tree: relative paths are the user's.
std::string UserPath(const std::string& path) {
  const char* working_directory = std::getenv("BUILD_WORKING_DIRECTORY");
  if (path.empty() || path[0] == '/' || working_directory == nullptr) return path;
  return absl::StrCat(working_directory, "/", path);
}

double MsSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

enum class Task { kQuestionAnswering, kClassification };

struct Loaded {
  recipes::BuiltModel built;
  std::unique_ptr<tokenizers::Tokenizer> tokenizer;
  Task task = Task::kQuestionAnswering;
};

// The task the model's head does, or an error naming the directory and its architecture.
absl::StatusOr<Task> TaskOf(const std::string& dir, const std::string& architecture) {
  if (absl::EndsWith(architecture, "ForQuestionAnswering")) return Task::kQuestionAnswering;
  if (absl::EndsWith(architecture, "ForSequenceClassification")) return Task::kClassification;
  return absl::InvalidArgumentError(absl::StrCat(
      dir, "/config.json: architectures ", architecture,
      " has no question-answering or sequence-classification head to predict with"));
}

// The flag that asks for the other task than the model's head does: one line naming both.
absl::Status CheckTaskFlags(const std::string& dir, const std::string& architecture, Task task,
                            bool qa_flags, bool text_flags) {
  if (task == Task::kQuestionAnswering && text_flags) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--text: ", dir, " is a ", architecture,
        " (config.json architectures); give --question and --context, or a *ForSequenceClassification model"));
  }
  if (task == Task::kClassification && qa_flags) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--question: ", dir, " is a ", architecture,
        " (config.json architectures); give --text, or a *ForQuestionAnswering model"));
  }
  return absl::OkStatus();
}

absl::StatusOr<Loaded> Load(const std::string& dir) {
  const auto start = Clock::now();
  compressor::InferenceOptions options;
  options.kernel = absl::GetFlag(FLAGS_kernel);
  if (options.kernel != "auto" && options.kernel != "dense" && options.kernel != "sparse") {
    return absl::InvalidArgumentError(
        absl::StrCat("--kernel=", options.kernel, ": expected auto, dense or sparse"));
  }
  Loaded loaded;
  ASSIGN_OR_RETURN(loaded.built, recipes::LoadDeployModel(dir, options));
  ASSIGN_OR_RETURN(loaded.task, TaskOf(dir, loaded.built.model->architecture()));
  ASSIGN_OR_RETURN(loaded.tokenizer, tokenizers::LoadBertTokenizer(dir));
  std::map<std::string, int> kernels = compressor::CountKernels(*loaded.built.model);
  if (const int64_t left = recipes::CountInt8Linears(*loaded.built.model); left > 0) {
    kernels["int8_requantizing"] = static_cast<int>(left);
  }
  std::printf("%s: %s, Linears on %s, loaded in %.0f ms\n", dir.c_str(),
              loaded.built.model->architecture().c_str(),
              compressor::KernelSummary(kernels).c_str(), MsSince(start));
  return loaded;
}

int64_t MaxSeqLength(const Loaded& loaded) {
  return std::min(absl::GetFlag(FLAGS_max_seq_length),
                  loaded.built.model->config().max_position_embeddings);
}

recipes::QuestionAnsweringConfig QaConfig() {
  recipes::QuestionAnsweringConfig config;
  config.postprocess.n_best_size = absl::GetFlag(FLAGS_n_best_size);
  config.postprocess.max_answer_length = absl::GetFlag(FLAGS_max_answer_length);
  config.postprocess.version_2_with_negative = absl::GetFlag(FLAGS_version_2_with_negative);
  config.eval_batch_size = absl::GetFlag(FLAGS_batch_size);
  return config;
}

absl::StatusOr<std::shared_ptr<const recipes::SquadSplit>> QaSplit(const Loaded& loaded,
                                                                   datasets::SquadData data,
                                                                   const std::string& source) {
  datasets::SquadFeatureConfig features;
  features.max_seq_length = MaxSeqLength(loaded);
  features.doc_stride = absl::GetFlag(FLAGS_doc_stride);
  features.max_query_length = absl::GetFlag(FLAGS_max_query_length);
  if (features.max_seq_length < 1 || features.doc_stride < 1 || features.max_query_length < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--max_seq_length=", features.max_seq_length, " --doc_stride=", features.doc_stride,
        " --max_query_length=", features.max_query_length, ": expected positive values"));
  }
  return recipes::MakeSquadSplit(std::move(data), source, *loaded.tokenizer, features);
}

// The model's label names (config.json id2label), LABEL_i where it has none.
std::vector<std::string> LabelNames(const Loaded& loaded) {
  const models::BertConfig& config = loaded.built.model->config();
  std::vector<std::string> names = config.id2label;
  for (int64_t i = static_cast<int64_t>(names.size()); i < config.num_labels; ++i) {
    names.push_back(absl::StrCat("LABEL_", i));
  }
  return names;
}

recipes::ClassificationDataConfig ClassificationData(const Loaded& loaded) {
  recipes::ClassificationDataConfig config;
  config.max_seq_length = MaxSeqLength(loaded);
  config.file_options.label_list = LabelNames(loaded);
  return config;
}

absl::Status AnswerOne(const Loaded& loaded) {
  datasets::SquadData data;
  datasets::SquadExample example;
  example.id = "question";
  example.question = absl::GetFlag(FLAGS_question);
  example.context = absl::GetFlag(FLAGS_context);
  if (example.context.empty()) return absl::InvalidArgumentError("--question needs --context");
  data.examples.push_back(example);
  const recipes::QuestionAnsweringConfig config = QaConfig();
  auto predict = [&]() -> absl::StatusOr<datasets::SquadPrediction> {
    ASSIGN_OR_RETURN(auto split, QaSplit(loaded, data, "--question/--context"));
    ASSIGN_OR_RETURN(auto predictions,
                     recipes::PredictQuestionAnswering(*loaded.built.model, *split, config));
    return predictions.at(0);
  };
  RETURN_IF_ERROR(predict().status());  // Warm-up: oneDNN builds its primitives.
  const auto start = Clock::now();
  ASSIGN_OR_RETURN(const datasets::SquadPrediction prediction, predict());
  const double ms = MsSince(start);
  const double score = prediction.nbest.empty() ? 0.0 : prediction.nbest.front().probability;
  std::printf("%s\n", Json({{"answer", prediction.text}, {"score", score}, {"latency_ms", ms}})
                          .dump()
                          .c_str());
  return absl::OkStatus();
}

absl::Status ClassifyOne(const Loaded& loaded) {
  datasets::TextClassificationData data;
  datasets::TextExample example;
  example.text = absl::GetFlag(FLAGS_text);
  if (!absl::GetFlag(FLAGS_text_pair).empty()) example.text_pair = absl::GetFlag(FLAGS_text_pair);
  data.examples.push_back(example);
  data.label_list = LabelNames(loaded);
  recipes::ClassificationConfig config;
  config.eval_batch_size = 1;
  auto classify = [&]() -> absl::StatusOr<at::Tensor> {
    ASSIGN_OR_RETURN(auto split, recipes::MakeClassificationSplit(data, "--text", loaded.tokenizer.get(),
                                                                  ClassificationData(loaded)));
    ASSIGN_OR_RETURN(const at::Tensor logits,
                     recipes::ClassificationLogits(*loaded.built.model, *split, config));
    return logits[0].softmax(-1);
  };
  RETURN_IF_ERROR(classify().status());  // Warm-up.
  const auto start = Clock::now();
  ASSIGN_OR_RETURN(const at::Tensor probabilities, classify());
  const double ms = MsSince(start);
  const int64_t best = probabilities.argmax().item<int64_t>();
  std::printf("%s\n", Json({{"label", data.label_list.at(best)},
                            {"score", probabilities[best].item<double>()},
                            {"latency_ms", ms}})
                          .dump()
                          .c_str());
  return absl::OkStatus();
}

absl::Status AnswerFile(const Loaded& loaded, const std::string& input, const std::string& output) {
  datasets::SquadLoadOptions options;
  options.check_answer_spans = false;  // As the official evaluation: answers are only read.
  ASSIGN_OR_RETURN(datasets::SquadData data, datasets::LoadSquadJson(input, options));
  const auto start = Clock::now();
  ASSIGN_OR_RETURN(auto split, QaSplit(loaded, data, input));
  ASSIGN_OR_RETURN(const std::vector<datasets::SquadPrediction> predictions,
                   recipes::PredictQuestionAnswering(*loaded.built.model, *split, QaConfig()));
  const double ms = MsSince(start);
  Json json = Json::object();
  for (const datasets::SquadPrediction& prediction : predictions) json[prediction.id] = prediction.text;
  RETURN_IF_ERROR(base::WriteStringToFileAtomically(output, json.dump(2) + "\n"));
  std::printf("%zu questions (%zu windows) in %.0f ms, %.2f ms per question; wrote %s\n",
              predictions.size(), split->features->size(), ms, ms / double(predictions.size()),
              output.c_str());
  // Scored only when it can be: every question answered (v1.1) or a v2.0 file.
  if (absl::StatusOr<datasets::SquadMetrics> metrics =
          datasets::EvaluateSquad(split->data, datasets::PredictionTexts(predictions));
      metrics.ok()) {
    std::printf("%s", datasets::SquadMetricsToJson(*metrics).c_str());
  }
  return absl::OkStatus();
}

absl::Status ClassifyFile(const Loaded& loaded, const std::string& input,
                          const std::string& output) {
  const recipes::ClassificationDataConfig data_config = ClassificationData(loaded);
  ASSIGN_OR_RETURN(auto split,
                   recipes::LoadClassificationSplit(input, loaded.tokenizer.get(), data_config));
  recipes::ClassificationConfig config;
  config.eval_batch_size = absl::GetFlag(FLAGS_batch_size);
  const auto start = Clock::now();
  ASSIGN_OR_RETURN(const at::Tensor logits,
                   recipes::ClassificationLogits(*loaded.built.model, *split, config));
  const double ms = MsSince(start);
  const at::Tensor probabilities = logits.softmax(-1);
  const std::vector<std::string>& names = data_config.file_options.label_list;
  Json json = Json::array();
  int64_t correct = 0;
  for (int64_t row = 0; row < probabilities.size(0); ++row) {
    const int64_t best = probabilities[row].argmax().item<int64_t>();
    json.push_back({{"label", names.at(best)}, {"score", probabilities[row][best].item<double>()}});
    correct += split->data().examples.at(row).label == best;
  }
  RETURN_IF_ERROR(base::WriteStringToFileAtomically(output, json.dump(2) + "\n"));
  std::printf("%lld rows in %.0f ms, %.2f ms per row; wrote %s\n",
              (long long)probabilities.size(0), ms, ms / double(probabilities.size(0)),
              output.c_str());
  if (split->data().has_labels) {
    std::printf("%s\n", Json({{"accuracy", double(correct) / double(probabilities.size(0))}})
                            .dump()
                            .c_str());
  }
  return absl::OkStatus();
}

absl::Status Run() {
  const std::string dir = UserPath(absl::GetFlag(FLAGS_model_dir));
  const std::string input = UserPath(absl::GetFlag(FLAGS_input));
  const std::string output = UserPath(absl::GetFlag(FLAGS_output));
  const bool qa_flags = !absl::GetFlag(FLAGS_question).empty();
  const bool text_flags = !absl::GetFlag(FLAGS_text).empty();
  if (dir.empty()) return absl::InvalidArgumentError("--model_dir is required");
  if (qa_flags + text_flags + !input.empty() != 1) {
    return absl::InvalidArgumentError(
        "give exactly one of --question (with --context), --text, or --input");
  }
  if (!input.empty() && output.empty()) {
    return absl::InvalidArgumentError("--input needs --output (the predictions JSON file)");
  }
  if (absl::GetFlag(FLAGS_batch_size) < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("--batch_size=", absl::GetFlag(FLAGS_batch_size), ": expected >= 1"));
  }
  ASSIGN_OR_RETURN(const Loaded loaded, Load(dir));
  RETURN_IF_ERROR(CheckTaskFlags(dir, loaded.built.model->architecture(), loaded.task, qa_flags,
                                 text_flags));
  if (qa_flags) return AnswerOne(loaded);
  if (text_flags) return ClassifyOne(loaded);
  return loaded.task == Task::kQuestionAnswering ? AnswerFile(loaded, input, output)
                                                 : ClassifyFile(loaded, input, output);
}

}  // namespace

int main(int argc, char** argv) {
  base::InitMain(argc, argv,
                 "Usage: predict --model_dir=DIR (--question=Q --context=C | --text=T | "
                 "--input=FILE --output=FILE)");
  return base::RunMain(Run);
}
