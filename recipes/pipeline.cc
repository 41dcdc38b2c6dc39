#include "recipes/pipeline.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <torch/utils.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <system_error>
#include <unistd.h>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "base/atomic_file.h"
#include "base/status_macros.h"
#include "compressor/combination.h"
#include "compressor/distillation/distillation.h"
#include "compressor/distributed/data_parallel.h"
#include "compressor/distributed/process_group.h"
#include "compressor/pruning/pruner.h"
#include "compressor/pruning/pruning.h"
#include "compressor/quantization/qat.h"
#include "compressor/quantization/quantization.h"
#include "compressor/scheduler.h"
#include "compressor/train/lr_schedule.h"
#include "compressor/train/trainer.h"
#include "datasets/glue/glue.h"
#include "datasets/squad/squad_data.h"
#include "datasets/squad/squad_features.h"
#include "models/auto_model.h"
#include "absl/strings/match.h"
#include "models/tokenizers/tokenizer_json.h"
#include "models/tokenizers/wordpiece_tokenizer.h"
#include <nlohmann/json.hpp>
#include "recipes/report.h"
#include "recipes/stage_model.h"
#include "recipes/tasks/classification.h"
#include "recipes/tasks/masked_lm.h"
#include "recipes/tasks/example_scores.h"
#include "recipes/tasks/model_io.h"
#include "recipes/tasks/question_answering.h"

namespace recipes {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;
using Metrics = std::map<std::string, double>;
using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::string LocationText(const SourceLocation& location, const std::string& fallback) {
  std::string where = location.file;
  if (location.line > 0) absl::StrAppend(&where, ":", location.line);
  if (!location.key.empty()) absl::StrAppend(&where, where.empty() ? "" : ": ", location.key);
  return where.empty() ? fallback : where;
}

absl::Status Prefixed(const absl::Status& status, const std::string& prefix) {
  if (status.ok()) return status;
  return absl::Status(status.code(), absl::StrCat(prefix, ": ", status.message()));
}

// ---------------------------------------------------------------------------------------
// Data

// Evenly spaced indices of `n` items out of `size` (all when n <= 0 or n >= size): a
// subset that samples every part of a file, not just its first articles.
std::vector<size_t> SpreadIndices(size_t size, int64_t n) {
  std::vector<size_t> indices;
  if (n <= 0 || static_cast<size_t>(n) >= size) {
    indices.resize(size);
    for (size_t i = 0; i < size; ++i) indices[i] = i;
    return indices;
  }
  indices.reserve(n);
  for (int64_t k = 0; k < n; ++k) indices.push_back(static_cast<size_t>(k * size / n));
  return indices;
}

// What a stage trains and evaluates on. Declaration order keeps the tokenizer alive
// longer than everything that reads it.
struct StageData {
  // WordPiece: the saved model directory carries its Hugging Face tokenizer files.
  std::shared_ptr<const tokenizers::BertTokenizer> tokenizer;
  std::shared_ptr<const void> keep_alive;          // Splits the lambdas below read.
  std::unique_ptr<compressor::BatchSource> train;  // Null without train files.
  compressor::TaskFunctions task;                  // forward, loss, evaluate (when eval data).
  ScoredEvaluateFunction scored_evaluate;          // evaluate + per-example scores (QA, cls.).
  std::string metric;                              // The stage's judging metric.
  std::string description;                         // For the plan and logs.
  int64_t train_examples = 0;
  int64_t eval_examples = 0;
};

// Loads and caches tokenizers and evaluation/training splits across stages (five QA
// stages share one cloze-QA split).
class DataCache {
 public:
  absl::StatusOr<std::shared_ptr<const tokenizers::BertTokenizer>> Tokenizer(
      const TokenizerSpec& spec, const std::string& where) {
    const std::string key = absl::StrCat(spec.vocab, "|", spec.do_lower_case);
    auto it = tokenizers_.find(key);
    if (it != tokenizers_.end()) return it->second;
    if (spec.vocab.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": tokenizer.vocab is not set"));
    }
    // WordPiece only: Debian's libsentencepiece embeds its own protobuf-lite and, loaded
    // next to LibTorch's libprotobuf, crashes at start-up, so the runner does not link it.
    if (absl::EndsWith(spec.vocab, ".model")) {
      return absl::UnimplementedError(absl::StrCat(
          where, ": tokenizer.vocab ", spec.vocab,
          " is a sentencepiece model; recipes take a WordPiece vocab.txt, JSON list or "
          "tokenizer.json"));
    }
    tokenizers::BertTokenizerOptions options;
    options.do_lower_case = spec.do_lower_case;
    absl::StatusOr<std::unique_ptr<tokenizers::BertTokenizer>> loaded =
        tokenizers::LoadBertTokenizer(spec.vocab, options);
    if (!loaded.ok()) return Prefixed(loaded.status(), where);
    std::shared_ptr<const tokenizers::BertTokenizer> shared(std::move(*loaded));
    tokenizers_[key] = shared;
    return shared;
  }

  absl::StatusOr<std::shared_ptr<const SquadSplit>> Squad(
      const std::vector<std::string>& files, const tokenizers::Tokenizer& tokenizer,
      const std::string& tokenizer_key, datasets::SquadFeatureConfig config, bool is_training,
      int64_t max_examples) {
    config.is_training = is_training;
    const std::string key = absl::StrCat(absl::StrJoin(files, ","), "|", tokenizer_key, "|",
                                         config.max_seq_length, "|", config.doc_stride, "|",
                                         config.max_query_length, "|", is_training, "|",
                                         max_examples);
    if (auto it = squad_.find(key); it != squad_.end()) return it->second;
    auto split = std::make_shared<SquadSplit>();
    split->source = absl::StrJoin(files, ",");
    datasets::SquadLoadOptions load_options;
    load_options.is_training = is_training;
    load_options.check_answer_spans = is_training;
    for (const std::string& file : files) {
      ASSIGN_OR_RETURN(datasets::SquadData data, datasets::LoadSquadJson(file, load_options));
      if (split->data.examples.empty()) {
        split->data.version = data.version;
        split->data.version_2 = data.version_2;
      }
      for (auto& example : data.examples) split->data.examples.push_back(std::move(example));
    }
    std::vector<datasets::SquadExample> subset;
    for (size_t i : SpreadIndices(split->data.examples.size(), max_examples)) {
      subset.push_back(std::move(split->data.examples[i]));
    }
    split->data.examples = std::move(subset);
    absl::StatusOr<std::vector<datasets::SquadFeature>> features =
        datasets::ConvertSquadExamplesToFeatures(split->data.examples, tokenizer, config,
                                                 &split->stats);
    if (!features.ok()) return Prefixed(features.status(), split->source);
    if (features->empty()) {
      return absl::InvalidArgumentError(absl::StrCat(split->source, ": no features"));
    }
    split->features =
        std::make_shared<const std::vector<datasets::SquadFeature>>(*std::move(features));
    std::shared_ptr<const SquadSplit> result = std::move(split);
    squad_[key] = result;
    return result;
  }

  absl::StatusOr<std::shared_ptr<const ClassificationSplit>> Classification(
      const std::vector<std::string>& files, const tokenizers::Tokenizer* tokenizer,
      const std::string& tokenizer_key, const ClassificationDataConfig& config,
      int64_t max_examples) {
    const std::string key =
        absl::StrCat(absl::StrJoin(files, ","), "|", tokenizer_key, "|", config.task_name, "|",
                     absl::StrJoin(config.file_options.label_list, ","), "|",
                     config.file_options.format, "|", config.max_seq_length, "|", max_examples);
    if (auto it = classification_.find(key); it != classification_.end()) return it->second;
    std::shared_ptr<const ClassificationSplit> first;
    datasets::TextClassificationData data;
    for (const std::string& file : files) {
      ASSIGN_OR_RETURN(std::shared_ptr<const ClassificationSplit> split,
                       LoadClassificationSplit(file, tokenizer, config));
      if (first == nullptr) {
        first = split;
        data.label_list = split->data().label_list;
        data.is_regression = split->data().is_regression;
        data.has_labels = split->data().has_labels;
      } else if (split->data().label_list != data.label_list) {
        return absl::InvalidArgumentError(
            absl::StrCat(file, ": labels (", absl::StrJoin(split->data().label_list, ","),
                         ") differ from ", files[0], "'s; set classification.file_options.",
                         "label_list"));
      }
      for (const auto& example : split->data().examples) data.examples.push_back(example);
    }
    std::shared_ptr<const ClassificationSplit> result = first;
    if (files.size() > 1 || (max_examples > 0 &&
                             static_cast<size_t>(max_examples) < data.examples.size())) {
      datasets::TextClassificationData subset = data;
      subset.examples.clear();
      for (size_t i : SpreadIndices(data.examples.size(), max_examples)) {
        subset.examples.push_back(data.examples[i]);
      }
      ASSIGN_OR_RETURN(std::unique_ptr<datasets::TextClassificationDataset> dataset,
                       datasets::TextClassificationDataset::Create(std::move(subset), tokenizer,
                                                                   config.max_seq_length));
      auto split = std::make_shared<ClassificationSplit>();
      split->source = absl::StrJoin(files, ",");
      split->task_name = first->task_name;
      split->pad_token_id = first->pad_token_id;
      split->dataset = std::move(dataset);
      result = std::move(split);
    }
    classification_[key] = result;
    return result;
  }

 private:
  std::map<std::string, std::shared_ptr<const tokenizers::BertTokenizer>> tokenizers_;
  std::map<std::string, std::shared_ptr<const SquadSplit>> squad_;
  std::map<std::string, std::shared_ptr<const ClassificationSplit>> classification_;
};

absl::StatusOr<StageData> BuildStageData(const StageSpec& stage, const models::BertConfig& config,
                                         DataCache& cache) {
  const std::string where = LocationText(stage.task.location, "stages[" + stage.name + "].task");
  const TaskSpec& task = stage.task;
  StageData data;
  ASSIGN_OR_RETURN(data.tokenizer,
                   cache.Tokenizer(stage.tokenizer,
                                   LocationText(stage.tokenizer.location,
                                                "stages[" + stage.name + "].tokenizer")));
  const std::string tokenizer_key =
      absl::StrCat(stage.tokenizer.vocab, "|", stage.tokenizer.do_lower_case);
  if (data.tokenizer->vocab_size() > config.vocab_size) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": the tokenizer ", stage.tokenizer.vocab, " has ", data.tokenizer->vocab_size(),
        " tokens but the model's vocab_size is ", config.vocab_size));
  }
  const bool train = stage.train && !task.train_files.empty();
  if (stage.train && task.train_files.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": train_files is empty"));
  }
  datasets::DataLoaderOptions loader = task.loader;
  if (task.type == "question_answering") {
    data.metric = task.metric.empty() ? "f1" : task.metric;
    std::shared_ptr<const SquadSplit> eval;
    if (!task.eval_files.empty()) {
      ASSIGN_OR_RETURN(eval, cache.Squad(task.eval_files, *data.tokenizer, tokenizer_key,
                                         task.squad, /*is_training=*/false,
                                         task.max_eval_examples));
      data.eval_examples = static_cast<int64_t>(eval->data.examples.size());
    }
    std::shared_ptr<const SquadSplit> train_split;
    if (train) {
      ASSIGN_OR_RETURN(train_split, cache.Squad(task.train_files, *data.tokenizer, tokenizer_key,
                                                task.squad, /*is_training=*/true,
                                                task.max_train_examples));
      ASSIGN_OR_RETURN(data.train, SquadTrainBatches(train_split, loader));
      data.train_examples = static_cast<int64_t>(train_split->data.examples.size());
    }
    data.task = QuestionAnsweringTask(eval, task.qa_eval);
    if (eval != nullptr) data.scored_evaluate = QuestionAnsweringScoredEvaluate(eval, task.qa_eval);
    data.keep_alive = std::make_shared<std::pair<std::shared_ptr<const SquadSplit>,
                                                 std::shared_ptr<const SquadSplit>>>(eval,
                                                                                     train_split);
    data.description = absl::StrCat(
        "question answering: ", data.train_examples, " training questions",
        train_split ? absl::StrCat(" (", train_split->features->size(), " features)") : "", ", ",
        data.eval_examples, " evaluation questions",
        eval ? absl::StrCat(" (", eval->features->size(), " features)") : "",
        ", max_seq_length ", task.squad.max_seq_length, ", doc_stride ", task.squad.doc_stride);
  } else if (task.type == "classification") {
    data.metric = task.metric.empty() ? "accuracy" : task.metric;
    ClassificationDataConfig train_config = task.classification;
    std::shared_ptr<const ClassificationSplit> train_split;
    if (train) {
      ASSIGN_OR_RETURN(train_split,
                       cache.Classification(task.train_files, data.tokenizer.get(), tokenizer_key,
                                            train_config, task.max_train_examples));
      RETURN_IF_ERROR(Prefixed(CheckLabelsMatchModel(*train_split, config), where));
      ASSIGN_OR_RETURN(data.train, ClassificationTrainBatches(train_split, loader));
      data.train_examples = static_cast<int64_t>(train_split->data().examples.size());
    }
    std::shared_ptr<const ClassificationSplit> eval;
    if (!task.eval_files.empty()) {
      ClassificationDataConfig eval_config = task.classification;
      if (eval_config.task_name.empty() && eval_config.file_options.label_list.empty()) {
        // The dev file must number its labels as the training file (or the model) does.
        if (train_split != nullptr) {
          eval_config.file_options.label_list = train_split->data().label_list;
        } else if (!config.id2label.empty()) {
          eval_config.file_options.label_list = config.id2label;
        }
      }
      ASSIGN_OR_RETURN(eval, cache.Classification(task.eval_files, data.tokenizer.get(),
                                                  tokenizer_key, eval_config,
                                                  task.max_eval_examples));
      data.eval_examples = static_cast<int64_t>(eval->data().examples.size());
    }
    ASSIGN_OR_RETURN(data.task, ClassificationTask(config, eval, task.classification_eval));
    if (eval != nullptr) {
      data.scored_evaluate = ClassificationScoredEvaluate(eval, task.classification_eval);
    }
    data.keep_alive =
        std::make_shared<std::pair<std::shared_ptr<const ClassificationSplit>,
                                   std::shared_ptr<const ClassificationSplit>>>(eval, train_split);
    const std::vector<std::string>& labels =
        train_split ? train_split->data().label_list
                    : (eval ? eval->data().label_list : std::vector<std::string>{});
    data.description =
        absl::StrCat("classification: ", data.train_examples, " training rows, ",
                     data.eval_examples, " evaluation rows, ", labels.size(), " labels",
                     ", max_seq_length ", task.classification.max_seq_length);
  } else if (task.type == "masked_lm") {
    data.metric = task.metric.empty() ? "mlm_accuracy" : task.metric;
    std::shared_ptr<LoaderBatchSource> dev;
    MaskedLmConfig eval_config = task.mlm_eval;
    if (!task.eval_files.empty()) {
      datasets::DataLoaderOptions dev_loader = loader;
      dev_loader.shuffle = false;
      ASSIGN_OR_RETURN(std::unique_ptr<LoaderBatchSource> dev_batches,
                       MaskedLmBatches(task.eval_files, data.tokenizer.get(), task.mlm, dev_loader));
      dev = std::move(dev_batches);
      if (task.max_eval_examples > 0) {
        const int64_t batches =
            (task.max_eval_examples + dev_loader.batch_size - 1) / dev_loader.batch_size;
        eval_config.max_eval_batches = eval_config.max_eval_batches > 0
                                           ? std::min(eval_config.max_eval_batches, batches)
                                           : batches;
      }
      data.eval_examples = eval_config.max_eval_batches > 0
                               ? eval_config.max_eval_batches * dev_loader.batch_size
                               : -1;
    }
    if (train) {
      ASSIGN_OR_RETURN(data.train,
                       MaskedLmBatches(task.train_files, data.tokenizer.get(), task.mlm, loader));
      data.train_examples = -1;  // A stream.
    }
    data.task = MaskedLmTask(dev, eval_config);
    data.keep_alive = dev;
    data.description = absl::StrCat(
        "masked LM", task.mlm.instances.next_sentence_prediction ? " + NSP" : "", " on ",
        absl::StrJoin(task.train_files, ", "), " (streamed), max_seq_length ",
        task.mlm.instances.max_seq_length, ", evaluation on ", absl::StrJoin(task.eval_files, ", "),
        eval_config.max_eval_batches > 0
            ? absl::StrCat(" (", eval_config.max_eval_batches, " batches)")
            : "");
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": type '", task.type,
                     "' is not one of masked_lm, question_answering, classification"));
  }
  return data;
}

// ---------------------------------------------------------------------------------------
// Components

struct BuiltShot {
  std::shared_ptr<compressor::Component> component;
  std::vector<std::shared_ptr<compressor::Component>> parts;
  std::string name;  // "pruning", "pruning+distillation", ...
};

// Whether the stage's MLM logits exist only at the masked positions.
bool MaskedRowsOnly(const TaskSpec& task) {
  return task.type == "masked_lm" && task.mlm_eval.masked_positions_only;
}

// The teacher runs through the stage's own forward function, so it sees the batch the way
// the student does (e.g. MLM logits only at the masked positions).
absl::StatusOr<BuiltShot> BuildShot(const ShotSpec& shot, const std::string& where,
                                    std::shared_ptr<models::PreTrainedModel> teacher,
                                    const compressor::ForwardFunction& forward,
                                    bool masked_rows_only) {
  BuiltShot built;
  std::vector<std::string> kinds;
  for (size_t i = 0; i < shot.components.size(); ++i) {
    const ComponentSpec& spec = shot.components[i];
    const std::string at = LocationText(spec.location, absl::StrCat(where, "[", i, "]"));
    std::shared_ptr<compressor::Component> component;
    if (spec.kind == "pruning") {
      RETURN_IF_ERROR(spec.pruning.Validate(at + ".pruning"));
      component = std::make_shared<compressor::Pruning>(spec.pruning);
    } else if (spec.kind == "distillation") {
      RETURN_IF_ERROR(spec.distillation.Validate(at + ".distillation"));
      if (teacher == nullptr) {
        return absl::InvalidArgumentError(
            absl::StrCat(at, ": distillation needs the stage's teacher, which is not set"));
      }
      compressor::DistillationConfig distillation = spec.distillation;
      // Masked-LM logits computed only at the masked positions are the positions kd_mask_key
      // would select: nothing is left to mask.
      if (masked_rows_only) distillation.kd_mask_key.clear();
      component = std::make_shared<compressor::Distillation>(distillation, teacher, forward);
    } else if (spec.kind == "quantization") {
      RETURN_IF_ERROR(spec.quantization.Validate(at + ".quantization"));
      component = std::make_shared<compressor::Quantization>(spec.quantization);
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          at, ": kind '", spec.kind, "' is not one of pruning, distillation, quantization"));
    }
    kinds.push_back(spec.kind);
    built.parts.push_back(component);
  }
  if (built.parts.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": a shot without components"));
  }
  built.name = absl::StrJoin(kinds, "+");
  if (built.parts.size() == 1 && !shot.combine) {
    built.component = built.parts[0];
  } else {
    absl::StatusOr<std::shared_ptr<compressor::Combination>> combination =
        compressor::Combination::Create(built.parts);
    if (!combination.ok()) return Prefixed(combination.status(), where);
    built.component = *std::move(combination);
  }
  return built;
}

// ---------------------------------------------------------------------------------------
// Plan (dry run) helpers

int64_t PlannedSteps(const compressor::TrainerConfig& config, std::optional<int64_t> batches) {
  if (config.max_steps > 0) return config.max_steps;
  if (!batches) return -1;
  const int64_t accumulation = std::max<int64_t>(1, config.gradient_accumulation_steps);
  return (*batches + accumulation - 1) / accumulation * config.num_train_epochs;
}

int64_t WarmupSteps(const compressor::TrainerConfig& config, int64_t total) {
  return config.warmup_steps > 0 ? config.warmup_steps
                                 : static_cast<int64_t>(std::ceil(config.warmup_ratio * total));
}

std::string TrainingLine(const compressor::TrainerConfig& config, int64_t steps,
                         int64_t batch_size) {
  return absl::StrFormat(
      "%s lr %.3g (%s, warmup %d steps), weight_decay %g, batch %d x %d accumulation, %s "
      "steps%s, seed %d",
      config.optimizer, config.learning_rate, config.lr_scheduler_type,
      WarmupSteps(config, std::max<int64_t>(steps, 0)), config.weight_decay, batch_size,
      config.gradient_accumulation_steps, steps < 0 ? "?" : absl::StrCat(steps),
      config.max_steps > 0 ? " (max_steps)"
                           : absl::StrCat(" (", config.num_train_epochs, " epochs)"),
      config.seed);
}

// The LR at a few steps, rewinding at mask updates like the Trainer does with lr_rewind.
std::string LrScheduleLine(const compressor::TrainerConfig& config, int64_t total,
                           const compressor::PruningConfig* rewinding) {
  if (total <= 0) return "LR schedule: unknown length";
  compressor::LrSchedule lr(config.lr_scheduler_type, config.learning_rate,
                            WarmupSteps(config, total), total);
  std::set<int64_t> shown = {0, total / 4, total / 2, 3 * total / 4, total - 1};
  const compressor::SparsitySchedule schedule =
      rewinding ? rewinding->schedule() : compressor::SparsitySchedule{};
  std::string line = "LR at step";
  int64_t rewinds = 0;
  for (int64_t step = 0; step < total; ++step) {
    if (rewinding != nullptr && schedule.IsPruningStep(step) && step > 0) {
      lr.Rewind(step);
      ++rewinds;
    }
    if (shown.count(step)) absl::StrAppendFormat(&line, " %d: %.3g;", step, lr.At(step));
  }
  if (rewinding != nullptr) absl::StrAppend(&line, " rewound ", rewinds, " times (lr_rewind)");
  return line;
}

std::string SparsityLine(const compressor::PruningConfig& config, int64_t total) {
  const compressor::SparsitySchedule schedule = config.schedule();
  std::string line = absl::StrFormat("sparsity (%s) at step", config.sparsity_decay_type);
  const int64_t start = config.start_step;
  const int64_t end = std::max(config.end_step, start);
  for (int64_t step : {start, start + (end - start) / 4, start + (end - start) / 2,
                       start + 3 * (end - start) / 4, end}) {
    absl::StrAppendFormat(&line, " %d: %.3f;", step, schedule.SparsityAt(step));
  }
  int64_t updates = 0;
  for (int64_t step = 0; step < std::max<int64_t>(total, 0); ++step) {
    updates += schedule.IsPruningStep(step);
  }
  absl::StrAppend(&line, " ", updates, " mask updates in ", total, " steps");
  if (total >= 0 && end > total) {
    absl::StrAppend(&line, " (WARNING: end_step ", end, " is after the last step ", total,
                    ": the target is never reached)");
  }
  return line;
}

std::string ComponentLine(const ComponentSpec& spec) {
  if (spec.kind == "pruning") {
    const compressor::PruningConfig& c = spec.pruning;
    if (c.pruning_type == "pattern_lock") return "pruning: pattern_lock (the input's zeros stay zero)";
    return absl::StrFormat(
        "pruning: %s %s %s, target %.3f from %.3f, steps %d..%d every %d, %s, ops %s%s",
        c.pruning_type, c.pattern, c.pruning_scope, c.target_sparsity, c.initial_sparsity,
        c.start_step, c.end_step, c.pruning_frequency, c.sparsity_decay_type,
        absl::StrJoin(c.op_types, ","), c.lr_rewind ? ", lr_rewind" : "");
  }
  if (spec.kind == "distillation") {
    const compressor::DistillationConfig& c = spec.distillation;
    return absl::StrFormat("distillation: T %g, logits [%s], losses [%s], weights [%s]%s%s",
                           c.temperature, absl::StrJoin(c.logit_names, ", "),
                           absl::StrJoin(c.loss_types, ", "), absl::StrJoin(c.loss_weights, ", "),
                           c.kd_mask_key.empty() ? "" : ", kd_mask_key " + c.kd_mask_key,
                           c.layer_mappings.empty()
                               ? ""
                               : absl::StrCat(", ", c.layer_mappings.size(), " layer mappings"));
  }
  const compressor::QuantizationConfig& c = spec.quantization;
  return absl::StrFormat("quantization: %s, weights %s observer, activations %s observer%s",
                         c.approach, c.weight_observer, c.activation_observer,
                         c.convert_to_int8 ? ", converted to INT8 at the end" : "");
}

// A copy of the first training batch cut to two rows: enough to run every model once.
absl::StatusOr<compressor::TensorMap> SampleBatch(compressor::BatchSource& data) {
  data.Restart(0);
  compressor::TensorMap batch;
  ASSIGN_OR_RETURN(const bool any, data.Next(&batch));
  if (!any) return absl::FailedPreconditionError("the training data has no batch");
  for (auto& [name, tensor] : batch) {
    if (tensor.defined() && tensor.dim() > 0 && tensor.size(0) > 2) {
      tensor = tensor.narrow(0, 0, 2).clone();
    }
  }
  data.Restart(0);
  return batch;
}

// Runs the components' preparation on throwaway copies and checks what the shot's losses
// need from the models' outputs; returns notes for the plan.
absl::StatusOr<std::vector<std::string>> ProbeShot(const ShotSpec& shot,
                                                   const models::PreTrainedModel& model,
                                                   models::PreTrainedModel* teacher,
                                                   const StageData& data,
                                                   const compressor::TensorMap* sample,
                                                   const std::string& where) {
  std::vector<std::string> notes;
  for (const ComponentSpec& spec : shot.components) {
    if (spec.kind == "pruning") {
      ASSIGN_OR_RETURN(auto copy, models::CloneModel(model));
      absl::StatusOr<compressor::Pruner> pruner = compressor::Pruner::Create(*copy, spec.pruning);
      if (!pruner.ok()) return Prefixed(pruner.status(), where);
      const compressor::SparsityReport report = pruner->Report();
      notes.push_back(absl::StrFormat("pruning selects %d layers, %d weights, now %.2f%% zero",
                                      report.layers.size(), report.numel,
                                      100.0 * report.overall()));
    } else if (spec.kind == "quantization") {
      ASSIGN_OR_RETURN(auto copy, models::CloneModel(model));
      absl::StatusOr<std::vector<std::string>> swapped =
          compressor::PrepareModel(*copy, spec.quantization);
      if (!swapped.ok()) return Prefixed(swapped.status(), where);
      notes.push_back(absl::StrCat("quantization prepares ", swapped->size(), " Linears"));
    } else if (spec.kind == "distillation" && teacher != nullptr && sample != nullptr) {
      try {
        at::NoGradGuard no_grad;
        ScopedEvalMode student_eval(const_cast<models::PreTrainedModel&>(model));
        ScopedEvalMode teacher_eval(*teacher);
        const compressor::TensorMap student_out =
            data.task.forward(const_cast<models::PreTrainedModel&>(model), *sample);
        const compressor::TensorMap teacher_out = data.task.forward(*teacher, *sample);
        for (const std::string& name : spec.distillation.logit_names) {
          if (!student_out.count(name) || !teacher_out.count(name)) {
            return absl::InvalidArgumentError(absl::StrCat(
                where, ": distillation logit '", name, "' is not an output of ",
                student_out.count(name) ? "the teacher" : "the student", " (outputs: ",
                TensorMapKeys(student_out.count(name) ? teacher_out : student_out), ")"));
          }
          if (student_out.at(name).sizes() != teacher_out.at(name).sizes()) {
            return absl::InvalidArgumentError(
                absl::StrCat(where, ": distillation logit '", name, "' has shape ",
                             c10::str(student_out.at(name).sizes()), " in the student but ",
                             c10::str(teacher_out.at(name).sizes()), " in the teacher"));
          }
        }
        if (!spec.distillation.kd_mask_key.empty() &&
            !sample->count(spec.distillation.kd_mask_key)) {
          return absl::InvalidArgumentError(absl::StrCat(where, ": kd_mask_key '",
                                                         spec.distillation.kd_mask_key,
                                                         "' is not a batch key (",
                                                         TensorMapKeys(*sample), ")"));
        }
        data.task.loss(student_out, *sample);
        notes.push_back("distillation outputs checked on a sample batch");
      } catch (const c10::Error& error) {
        return StatusFromTorchError(error, where);
      }
    }
  }
  return notes;
}

// ---------------------------------------------------------------------------------------
// Results

Json MetricsJson(const Metrics& metrics) {
  Json json = Json::object();
  for (const auto& [name, value] : metrics) {
    json[name] = std::isfinite(value) ? Json(value) : Json(nullptr);
  }
  return json;
}

Metrics MetricsFromJson(const Json& json) {
  Metrics metrics;
  if (!json.is_object()) return metrics;
  for (const auto& [name, value] : json.items()) {
    metrics[name] = value.is_number() ? value.get<double>() : std::nan("");
  }
  return metrics;
}

absl::StatusOr<StageResult> ReadStageResult(const std::string& path) {
  ASSIGN_OR_RETURN(const std::string text, base::ReadFileToString(path));
  const Json json = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!json.is_object() || !json.contains("name")) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": not a stage result"));
  }
  StageResult result;
  try {  // value() throws for a field of another type ("seconds": "x").
    result.name = json.value("name", "");
    result.seconds = json.value("seconds", 0.0);
    result.model_dir = json.value("model_dir", "");
    result.int8 = json.value("int8", false);
    result.sparsity = json.value("sparsity", 0.0);
    result.metrics_before = MetricsFromJson(json.value("metrics_before", Json::object()));
    result.metrics_after = MetricsFromJson(json.value("metrics_after", Json::object()));
  } catch (const Json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": malformed stage result: ", e.what()));
  }
  return result;
}

std::string FormatMetrics(const Metrics& metrics) {
  std::vector<std::string> parts;
  for (const auto& [name, value] : metrics) parts.push_back(absl::StrFormat("%s %.4g", name, value));
  return parts.empty() ? "-" : absl::StrJoin(parts, ", ");
}

void RemovePath(const fs::path& path) {
  std::error_code error;
  fs::remove_all(path, error);
}

// ---------------------------------------------------------------------------------------
// The runner

class Runner {
 public:
  Runner(const Recipe& recipe, const RunOptions& options)
      : recipe_(recipe),
        options_(options),
        output_dir_(recipe.output_dir),
        group_(options.dry_run ? nullptr : options.process_group),
        main_(group_ == nullptr || group_->rank() == 0) {}

  absl::StatusOr<RunSummary> Run();

 private:
  std::string StageDir(const std::string& stage) const {
    return (fs::path(output_dir_) / stage).string();
  }
  std::string ModelDir(const std::string& stage) const {
    return (fs::path(StageDir(stage)) / "model").string();
  }
  // Where a stage's model is read from: its output, or in a dry run its planned config.
  std::string SourceFor(const std::string& stage) const {
    const std::string real = ModelDir(stage);
    if (options_.dry_run && !fs::exists(fs::path(real) / "config.json") && !plan_dir_.empty()) {
      return (fs::path(plan_dir_) / stage).string();
    }
    return real;
  }
  void Progress(const std::string& text) const {
    if (options_.progress && main_) std::fprintf(stderr, "[%s] %s\n", recipe_.name.c_str(), text.c_str());
  }
  // Builds the model of `spec`; in a dry run, a stage output that does not exist yet is
  // built from its planned config (random weights).
  absl::StatusOr<BuiltModel> Model(const ModelSpec& spec);
  absl::StatusOr<StageResult> RunStage(const StageSpec& stage, size_t index);
  absl::Status PlanStage(const StageSpec& stage, size_t index);
  // With `examples`, also the per-example scores where the task has them (one evaluation).
  absl::StatusOr<Metrics> Evaluate(const StageData& data, torch::nn::Module& model,
                                   const std::string& what, ExampleScores* examples = nullptr);
  // Data-parallel: waits for every rank (a no-op in one process).
  absl::Status Barrier(const std::string& what) {
    return group_ == nullptr ? absl::OkStatus() : group_->Barrier(what);
  }

  const Recipe& recipe_;
  const RunOptions& options_;
  std::string output_dir_;
  std::string plan_dir_;  // Dry run: planned configs of stages not run yet.
  compressor::ProcessGroup* group_;  // Null: one process.
  bool main_;                        // Rank 0 (or one process): the rank that writes files.
  DataCache cache_;
  RunSummary summary_;
};

absl::StatusOr<BuiltModel> Runner::Model(const ModelSpec& spec) {
  ModelSources sources = [this](const std::string& stage) { return SourceFor(stage); };
  if (options_.dry_run && !spec.from_stage.empty() &&
      !fs::exists(fs::path(ModelDir(spec.from_stage)) / "config.json")) {
    std::string architecture;
    ASSIGN_OR_RETURN(models::BertConfig config, ResolveModelConfig(spec, sources, &architecture));
    BuiltModel built;
    torch::manual_seed(spec.seed);
    ASSIGN_OR_RETURN(built.model, models::CreateModel(config, architecture));
    built.source = absl::StrCat("stage ", spec.from_stage, " (planned: not run yet)");
    // What loading would initialise: the parameters the source stage's head lacks.
    ModelSpec source_spec;
    source_spec.from_stage = spec.from_stage;
    std::string source_architecture;
    ASSIGN_OR_RETURN(models::BertConfig source_config,
                     ResolveModelConfig(source_spec, sources, &source_architecture));
    if (source_architecture != architecture) {
      ASSIGN_OR_RETURN(auto source_model, models::CreateModel(source_config, source_architecture));
      std::set<std::string> existing;
      for (const auto& item : source_model->named_parameters()) existing.insert(item.key());
      for (const auto& item : built.model->named_parameters()) {
        if (!existing.count(item.key())) built.new_parameters.push_back(item.key());
      }
    }
    return built;
  }
  return BuildModel(spec, sources);
}

absl::StatusOr<Metrics> Runner::Evaluate(const StageData& data, torch::nn::Module& model,
                                         const std::string& what, ExampleScores* examples) {
  if (!data.task.evaluate) return Metrics{};
  const auto start = Clock::now();
  absl::StatusOr<Metrics> metrics;
  if (examples != nullptr && data.scored_evaluate) {
    absl::StatusOr<ScoredEvaluation> scored = data.scored_evaluate(model);
    if (scored.ok()) {
      metrics = std::move(scored->metrics);
      *examples = std::move(scored->examples);
    } else {
      metrics = scored.status();
    }
  } else {
    metrics = data.task.evaluate(model);
  }
  if (!metrics.ok()) return Prefixed(metrics.status(), what);
  Progress(absl::StrFormat("  %s: %s (%.1f s)", what, FormatMetrics(*metrics), SecondsSince(start)));
  return metrics;
}

absl::Status Runner::PlanStage(const StageSpec& stage, size_t index) {
  const std::string where = LocationText(stage.location, "stages[" + stage.name + "]");
  std::string& plan = summary_.plan;
  absl::StrAppend(&plan, "stage ", index + 1, "/", recipe_.stages.size(), " ", stage.name, "\n");
  ASSIGN_OR_RETURN(BuiltModel model, Model(stage.model));
  const models::BertConfig& config = model.model->config();
  absl::StrAppendFormat(&plan, "  model: %s from %s (%d layers, hidden %d, %d heads, %.2fM weights)\n",
                        model.model->architecture(), model.source, config.num_hidden_layers,
                        config.hidden_size, config.num_attention_heads,
                        CountWeights(*model.model) / 1e6);
  if (!model.new_parameters.empty()) {
    absl::StrAppend(&plan, "    newly initialised: ", absl::StrJoin(model.new_parameters, ", "), "\n");
  }
  std::shared_ptr<models::PreTrainedModel> teacher;
  if (stage.teacher) {
    ASSIGN_OR_RETURN(BuiltModel built, Model(*stage.teacher));
    teacher = built.model;
    absl::StrAppend(&plan, "  teacher: ", teacher->architecture(), " from ", built.source, "\n");
  }
  ASSIGN_OR_RETURN(StageData data, BuildStageData(stage, config, cache_));
  absl::StrAppend(&plan, "  data: ", data.description, "\n");
  std::optional<compressor::TensorMap> sample;
  if (data.train) {
    absl::StatusOr<compressor::TensorMap> batch = SampleBatch(*data.train);
    if (!batch.ok()) return Prefixed(batch.status(), where);
    sample = *std::move(batch);
  }
  if (!stage.train) {
    absl::StrAppend(&plan, "  no training: evaluate and save the input model\n");
  } else {
    const std::optional<int64_t> batches = data.train ? data.train->num_batches() : std::nullopt;
    if (stage.shots.empty()) {
      const int64_t steps = PlannedSteps(stage.training, batches);
      absl::StrAppend(&plan, "  training (no compression): ",
                      TrainingLine(stage.training, steps, stage.task.loader.batch_size), "\n    ",
                      LrScheduleLine(stage.training, steps, nullptr), "\n");
    }
    for (size_t s = 0; s < stage.shots.size(); ++s) {
      const ShotSpec& shot = stage.shots[s];
      const std::string shot_where = LocationText(shot.location, absl::StrCat(where, ".shots[", s, "]"));
      ASSIGN_OR_RETURN(BuiltShot built, BuildShot(shot, shot_where, teacher, data.task.forward,
                                              MaskedRowsOnly(stage.task)));
      const compressor::TrainerConfig& training = shot.training ? *shot.training : stage.training;
      const int64_t steps = built.component->needs_training() ? PlannedSteps(training, batches) : 0;
      absl::StrAppend(&plan, "  shot ", s + 1, "/", stage.shots.size(), " (", built.name,
                      shot.combine || shot.components.size() > 1 ? ", one training run" : "",
                      "):\n");
      const compressor::PruningConfig* rewinding = nullptr;
      for (const ComponentSpec& spec : shot.components) {
        absl::StrAppend(&plan, "    ", ComponentLine(spec), "\n");
        if (spec.kind == "pruning" && spec.pruning.pruning_type != "pattern_lock") {
          absl::StrAppend(&plan, "      ", SparsityLine(spec.pruning, steps), "\n");
          if (spec.pruning.lr_rewind) rewinding = &spec.pruning;
        }
      }
      if (built.component->needs_training()) {
        absl::StrAppend(&plan, "    training: ",
                        TrainingLine(training, steps, stage.task.loader.batch_size), "\n    ",
                        LrScheduleLine(training, steps, rewinding), "\n");
      } else {
        absl::StrAppend(&plan, "    post-training: calibration on up to ",
                        training.max_steps > 0 ? training.max_steps : 32, " training batches\n");
      }
      ASSIGN_OR_RETURN(std::vector<std::string> notes,
                       ProbeShot(shot, *model.model, teacher.get(), data,
                                 sample ? &*sample : nullptr, shot_where));
      for (const std::string& note : notes) absl::StrAppend(&plan, "    check: ", note, "\n");
    }
  }
  absl::StrAppend(&plan, "  evaluate: ", stage.evaluate ? data.metric : "off", "; output ",
                  ModelDir(stage.name), "\n");
  // Later stages that start from this one are built from this config.
  const fs::path planned = fs::path(plan_dir_) / stage.name;
  std::error_code error;
  fs::create_directories(planned, error);
  RETURN_IF_ERROR(models::SaveBertConfig(config, (planned / "config.json").string()));
  return absl::OkStatus();
}

absl::StatusOr<StageResult> Runner::RunStage(const StageSpec& stage, size_t index) {
  const auto start = Clock::now();
  const std::string where = LocationText(stage.location, "stages[" + stage.name + "]");
  const std::string stage_dir = StageDir(stage.name);
  Progress(absl::StrCat("stage ", index + 1, "/", recipe_.stages.size(), " ", stage.name,
                        ": building the model and data"));
  ASSIGN_OR_RETURN(BuiltModel built, Model(stage.model));
  std::shared_ptr<models::PreTrainedModel> model = built.model;
  Progress(absl::StrCat("  model: ", model->architecture(), " from ", built.source,
                        built.new_parameters.empty()
                            ? ""
                            : absl::StrCat(" (new: ", absl::StrJoin(built.new_parameters, ", "), ")")));
  std::shared_ptr<models::PreTrainedModel> teacher;
  if (stage.teacher) {
    ASSIGN_OR_RETURN(BuiltModel teacher_built, Model(*stage.teacher));
    teacher = teacher_built.model;
    Progress(absl::StrCat("  teacher: ", teacher->architecture(), " from ", teacher_built.source));
  }
  ASSIGN_OR_RETURN(StageData data, BuildStageData(stage, model->config(), cache_));
  Progress(absl::StrCat("  data: ", data.description));

  StageResult result;
  result.name = stage.name;
  Json shots_json = Json::array();
  Json training_json = Json::object();
  if (stage.evaluate && built.new_parameters.empty()) {
    ASSIGN_OR_RETURN(result.metrics_before, Evaluate(data, *model, "before"));
  }
  const std::string checkpoints = (fs::path(stage_dir) / "checkpoints").string();
  compressor::TaskFunctions train_task = data.task;
  // Data-parallel: each rank trains on its shard of the batches with gradients averaged
  // over the ranks; calibration (below) reads the whole data on every rank.
  std::optional<compressor::ShardedBatchSource> shard;
  if (group_ != nullptr && data.train != nullptr) {
    shard.emplace(data.train.get(), group_->rank(), group_->world_size());
  }
  compressor::BatchSource* train_source = shard ? &*shard : data.train.get();
  std::vector<std::unique_ptr<compressor::DataParallel>> synchronizers;
  auto synchronize = [&](compressor::Trainer& trainer) {
    if (group_ == nullptr) return;
    compressor::DataParallelOptions parallel;
    parallel.overlap_with_backward = options_.overlap_allreduce;
    synchronizers.push_back(std::make_unique<compressor::DataParallel>(group_, parallel));
    trainer.set_gradient_synchronizer(synchronizers.back().get());
  };
  if (stage.train) {
    auto trainer_config = [&](const compressor::TrainerConfig& base, const std::string& dir,
                              const std::string& name) {
      compressor::TrainerConfig config = base;
      config.output_dir = dir;
      config.resume = options_.resume;
      config.progress = options_.progress;
      config.stage = name;
      return config;
    };
    // The runner evaluates before and after itself; the Trainer only evaluates when the
    // recipe asks for periodic evaluation or best-model tracking.
    auto task_for = [&](const compressor::TrainerConfig& config) {
      compressor::TaskFunctions task = data.task;
      if (config.eval_steps <= 0 && config.metric_for_best_model.empty()) task.evaluate = nullptr;
      return task;
    };
    if (stage.shots.empty()) {
      compressor::TrainerConfig config = trainer_config(stage.training, checkpoints, stage.name);
      compressor::Trainer trainer(config, task_for(config), train_source);
      synchronize(trainer);
      absl::StatusOr<compressor::TrainResult> trained = trainer.Train(model, nullptr);
      if (!trained.ok()) return Prefixed(trained.status(), where);
      training_json = {{"steps", trained->steps},
                       {"final_loss", trained->final_loss},
                       {"seconds", trained->seconds},
                       {"resumed_from_step", trained->resumed_from_step}};
    } else {
      compressor::Scheduler scheduler;
      scheduler.set_model(model);
      std::vector<std::unique_ptr<compressor::Trainer>> trainers;
      std::vector<BuiltShot> shots;
      for (size_t s = 0; s < stage.shots.size(); ++s) {
        const ShotSpec& shot = stage.shots[s];
        const std::string shot_where =
            LocationText(shot.location, absl::StrCat(where, ".shots[", s, "]"));
        ASSIGN_OR_RETURN(BuiltShot built_shot, BuildShot(shot, shot_where, teacher, data.task.forward,
                                              MaskedRowsOnly(stage.task)));
        const std::string dir =
            stage.shots.size() == 1 ? checkpoints
                                    : (fs::path(checkpoints) / absl::StrCat("shot-", s + 1)).string();
        const std::string name =
            stage.shots.size() == 1 ? stage.name : absl::StrCat(stage.name, "/shot-", s + 1);
        compressor::TrainerConfig config =
            trainer_config(shot.training ? *shot.training : stage.training, dir, name);
        trainers.push_back(
            std::make_unique<compressor::Trainer>(config, task_for(config), train_source));
        synchronize(*trainers.back());
        // Calibration: forward passes over training batches (this shot's max_steps of them,
        // or 32); each post-training shot gets its own function, so its own limit.
        compressor::CalibrationFunc calibrate;
        if (!built_shot.component->needs_training()) {
          const int64_t limit = config.max_steps > 0 ? config.max_steps : 32;
          compressor::BatchSource* source = data.train.get();
          compressor::TaskFunctions task = data.task;
          calibrate = [source, task, limit](torch::nn::Module& m) -> absl::Status {
            if (source == nullptr) return absl::FailedPreconditionError("calibration needs train_files");
            at::NoGradGuard no_grad;
            source->Restart(0);
            compressor::TensorMap batch;
            for (int64_t i = 0; i < limit; ++i) {
              ASSIGN_OR_RETURN(const bool more, source->Next(&batch));
              if (!more) break;
              task.forward(m, batch);
            }
            return absl::OkStatus();
          };
        }
        scheduler.append(built_shot.component, trainers.back()->AsTrainFunc(), std::move(calibrate));
        shots.push_back(std::move(built_shot));
        Progress(absl::StrCat("  shot ", s + 1, "/", stage.shots.size(), ": ", shots.back().name));
      }
      absl::StatusOr<compressor::FitResult> fit;
      try {
        fit = scheduler.fit();
      } catch (const c10::Error& error) {
        return StatusFromTorchError(error, where);
      }
      if (!fit.ok()) return Prefixed(fit.status(), where);
      auto output = std::dynamic_pointer_cast<models::PreTrainedModel>(fit->model);
      if (output == nullptr) {
        return absl::InternalError(absl::StrCat(where, ": the shots' output is not a BERT model"));
      }
      model = output;
      for (size_t s = 0; s < fit->shots.size(); ++s) {
        const compressor::ShotSummary& shot = fit->shots[s];
        Json components = Json::array();
        for (const compressor::ComponentSummary& component : shot.components) {
          components.push_back({{"kind", component.kind},
                                {"values", MetricsJson(component.values)},
                                {"notes", component.notes}});
        }
        Json shot_json = {{"name", shot.name},       {"trained", shot.trained},
                          {"steps", shot.steps},     {"seconds", shot.seconds},
                          {"components", components}};
        if (s < trainers.size() && trainers[s]->last_result()) {
          shot_json["final_loss"] = trainers[s]->last_result()->final_loss;
          shot_json["resumed_from_step"] = trainers[s]->last_result()->resumed_from_step;
        }
        shots_json.push_back(shot_json);
      }
    }
  }

  // Save, then measure and evaluate the model as it was saved (INT8 layers rebuilt from the
  // file), so the reported figures are those of the file a user gets.
  const std::string model_dir = ModelDir(stage.name);
  if (main_) {
    RemovePath(model_dir);
    RETURN_IF_ERROR(Prefixed(SaveStageModel(*model, *data.tokenizer, model_dir), where));
  }
  RETURN_IF_ERROR(Prefixed(Barrier(absl::StrCat("stage ", stage.name, "'s saved model")), where));
  ASSIGN_OR_RETURN(BuiltModel saved, LoadStageModel(model_dir));
  model.reset();
  if (main_ && stage.export_onnx) {
    RETURN_IF_ERROR(Prefixed(ExportStageOnnx(*saved.model, model_dir).status(), where));
  }
  const LinearSparsity sparsity = MeasureLinearSparsity(*saved.model);
  const int64_t int8_linears = CountInt8Linears(*saved.model);
  ExampleScores examples;
  if (stage.evaluate) {
    ASSIGN_OR_RETURN(result.metrics_after, Evaluate(data, *saved.model, "after", &examples));
  }
  result.model_dir = model_dir;
  result.int8 = int8_linears > 0;
  result.sparsity = sparsity.sparsity();
  result.seconds = SecondsSince(start);

  Json json = {{"name", stage.name},
               {"task", stage.task.type},
               {"metric", data.metric},
               {"seconds", result.seconds},
               {"model_dir", model_dir},
               {"architecture", saved.model->architecture()},
               {"int8", result.int8},
               {"int8_linears", int8_linears},
               {"sparsity", result.sparsity},
               {"linear_weights", sparsity.numel},
               {"zero_weights", sparsity.zeros},
               {"prunable_linears", sparsity.layers},
               {"weights", CountWeights(*saved.model)},
               {"model_bytes", ModelBytesOnDisk(model_dir)},
               {"source", built.source},
               {"new_parameters", built.new_parameters},
               {"train_examples", data.train_examples},
               {"eval_examples", data.eval_examples},
               {"metrics_before", MetricsJson(result.metrics_before)},
               {"metrics_after", MetricsJson(result.metrics_after)},
               {"training", training_json},
               {"shots", shots_json}};
  // Written last: its presence marks the stage finished. The per-example scores go first, so
  // a finished stage always has the ones of its own evaluation (the report's bootstrap).
  if (main_) {
    if (!examples.empty()) {
      RETURN_IF_ERROR(base::WriteStringToFileAtomically(
          (fs::path(stage_dir) / kEvalScoresFile).string(), ExampleScoresToJson(examples)));
    }
    RETURN_IF_ERROR(base::WriteStringToFileAtomically(
        (fs::path(stage_dir) / "result.json").string(), json.dump(2) + "\n"));
  }
  Progress(absl::StrFormat("stage %d/%d %s done in %.1f s: %s, sparsity %.2f%%%s", index + 1,
                           recipe_.stages.size(), stage.name, result.seconds,
                           FormatMetrics(result.metrics_after), 100.0 * result.sparsity,
                           result.int8 ? absl::StrCat(", ", int8_linears, " INT8 Linears") : ""));
  return result;
}

absl::StatusOr<RunSummary> Runner::Run() {
  const auto start = Clock::now();
  if (output_dir_.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(recipe_.source, ": output_dir is not set"));
  }
  if (recipe_.stages.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(recipe_.source, ": the recipe has no stages"));
  }
  std::set<std::string> seen;
  for (const StageSpec& stage : recipe_.stages) {
    const std::string where = LocationText(stage.location, "stages[" + stage.name + "]");
    for (const ModelSpec* spec : {&stage.model, stage.teacher ? &*stage.teacher : nullptr}) {
      if (spec != nullptr && !spec->from_stage.empty() && !seen.count(spec->from_stage)) {
        return absl::InvalidArgumentError(absl::StrCat(
            where, ": from_stage '", spec->from_stage, "' names no earlier stage"));
      }
    }
    if (!seen.insert(stage.name).second) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": duplicate stage name"));
    }
  }
  if (options_.dry_run) {
    plan_dir_ = (fs::temp_directory_path() /
                 absl::StrCat("recipe_plan_", recipe_.name, "_", ::getpid()))
                    .string();
    absl::StrAppend(&summary_.plan, "recipe ", recipe_.name, " (", recipe_.source, "): ",
                    recipe_.stages.size(), " stages, output ", output_dir_, "\n");
    absl::Status status = absl::OkStatus();
    for (size_t i = 0; i < recipe_.stages.size() && status.ok(); ++i) {
      Progress(absl::StrCat("planning stage ", i + 1, "/", recipe_.stages.size(), " ",
                            recipe_.stages[i].name));
      try {
        status = PlanStage(recipe_.stages[i], i);
      } catch (const c10::Error& error) {
        status = StatusFromTorchError(error, "stage " + recipe_.stages[i].name);
      }
    }
    RemovePath(plan_dir_);
    RETURN_IF_ERROR(status);
    if (recipe_.report) {
      absl::StrAppend(&summary_.plan, "report: ", recipe_.report->rows.size(), " rows (");
      std::vector<std::string> rows;
      for (const ReportRow& row : recipe_.report->rows) rows.push_back(row.name);
      absl::StrAppend(&summary_.plan, absl::StrJoin(rows, "; "), "), latency at batch ",
                      recipe_.report->latency_batch_size, " x seq ",
                      recipe_.report->latency_seq_length, "\n");
    }
    std::fputs(summary_.plan.c_str(), stdout);
    std::fflush(stdout);
    summary_.seconds = SecondsSince(start);
    return summary_;
  }

  std::error_code error;
  fs::create_directories(output_dir_, error);
  if (error) {
    return absl::PermissionDeniedError(
        absl::StrCat(output_dir_, ": cannot create the output directory (", error.message(), ")"));
  }
  for (size_t i = 0; i < recipe_.stages.size(); ++i) {
    const StageSpec& stage = recipe_.stages[i];
    const fs::path stage_dir = StageDir(stage.name);
    const std::string result_path = (stage_dir / "result.json").string();
    std::optional<StageResult> finished;
    if (options_.resume && fs::exists(result_path)) {
      absl::StatusOr<StageResult> done = ReadStageResult(result_path);
      if (done.ok()) {
        finished = *std::move(done);
      } else {
        Progress(absl::StrCat("stage ", i + 1, "/", recipe_.stages.size(), " ", stage.name,
                              ": ", done.status().message(), "; running it again"));
      }
    }
    if (!options_.resume && main_) {
      // A fresh run: nothing of an earlier run of this stage may leak in.
      RemovePath(stage_dir / "result.json");
      RemovePath(stage_dir / kEvalScoresFile);
      RemovePath(stage_dir / "checkpoints");
      RemovePath(stage_dir / "model");
    }
    // Data-parallel: every rank decided from the same files (rank 0 writes this stage's
    // result.json only after this barrier) and sees the stage directory cleaned.
    RETURN_IF_ERROR(Barrier(absl::StrCat("start of stage ", stage.name)));
    if (finished) {
      finished->skipped = true;
      Progress(absl::StrCat("stage ", i + 1, "/", recipe_.stages.size(), " ", stage.name,
                            ": finished in an earlier run, skipped (", result_path, ")"));
      summary_.stages.push_back(*std::move(finished));
      continue;
    }
    absl::StatusOr<StageResult> result;
    try {
      result = RunStage(stage, i);
    } catch (const c10::Error& error) {
      result = StatusFromTorchError(error, "stage " + stage.name);
    }
    if (!result.ok()) return result.status();
    summary_.stages.push_back(*std::move(result));
  }
  if (recipe_.report && main_) {
    ASSIGN_OR_RETURN(ReportFiles files, WriteReport(recipe_, output_dir_, options_.progress));
    summary_.results_json = files.results_json;
    summary_.results_md = files.results_md;
    std::fputs(files.table.c_str(), stdout);
    std::fflush(stdout);
  }
  summary_.seconds = SecondsSince(start);
  Progress(absl::StrFormat("done in %.1f s; outputs under %s", summary_.seconds, output_dir_));
  return summary_;
}

}  // namespace

absl::StatusOr<RunSummary> RunRecipe(const Recipe& recipe, const RunOptions& options) {
  Runner runner(recipe, options);
  return runner.Run();
}

}  // namespace recipes
