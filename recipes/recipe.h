// A recipe: what `recipes:run` executes, parsed from a YAML file into the same config
// structs the C++ API takes (no option exists only in YAML or only in C++). A recipe is a
// list of stages; each stage builds (or loads) a model, trains/calibrates it on one task
// with zero or more shots (a shot = one component, or a `combine:` list trained in one
// run), evaluates it and saves its output model, which later stages can start from
// (`from_stage:`). A `report:` section says which stages form the rows of the final table.
//
//   ASSIGN_OR_RETURN(Recipe recipe, LoadRecipe("recipes/prune_once_for_all.yaml", overrides));
//   ASSIGN_OR_RETURN(RunSummary run, RunRecipe(recipe, run_options));  // pipeline.h
//
// YAML shape (keys are the C++ field names below; see recipes/README.md for every key):
//
//   name: prune_once_for_all
//   output_dir: out/prune_once_for_all         # --output_dir overrides
//   profiles: {quick: {stages.teacher.training.max_steps: 20, ...}}   # --profile / --quick
//   stages:
//     - name: teacher
//       model: {preset: bert-mini, architecture: BertForPreTraining}
//       tokenizer: {vocab: ${data_dir}/vocab/bert-base-uncased-vocab.txt}
//       task: {type: masked_lm, train_files: [...], eval_files: [...],
//              mlm: {instances: {max_seq_length: 128}}, loader: {batch_size: 32}}
//       training: {learning_rate: 1.0e-4, max_steps: 2000, warmup_ratio: 0.01}
//     - name: upstream_90
//       model: {from_stage: teacher}
//       teacher: {from_stage: teacher}
//       task: {...}
//       shots:
//         - combine:
//             - pruning: {target_sparsity: 0.9, end_step: 1000, pruning_frequency: 50,
//                         lr_rewind: true}
//             - distillation: {logit_names: [prediction_logits, seq_relationship_logits],
//                              loss_types: [KL], kd_mask_key: labels}
//
// Strings may use ${data_dir}, ${output_dir}, ${model_dir}, ${teacher_dir} (from the recipe's
// top level, overridden by the runner's flags).
#ifndef RECIPES_RECIPE_H_
#define RECIPES_RECIPE_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "compressor/distillation/distillation.h"
#include "compressor/pruning/pruner.h"
#include "compressor/quantization/qat.h"
#include "compressor/train/trainer.h"
#include "datasets/data_loader.h"
#include "datasets/mlm/mlm_stream.h"
#include "datasets/squad/squad_features.h"
#include "recipes/tasks/classification.h"
#include "recipes/tasks/masked_lm.h"
#include "recipes/tasks/question_answering.h"

namespace recipes {

// Where a recipe value came from, for error messages: "recipes/foo.yaml:12: stages[1].model".
struct SourceLocation {
  std::string file;
  int line = 0;  // 1-based; 0 when unknown (e.g. a --set override).
  std::string key;  // Dotted path of the key.
  std::string ToString() const;
};

// Where a stage's model (or teacher) comes from: exactly one of from_stage, model_dir,
// preset, config_file is set.
struct ModelSpec {
  std::string from_stage;    // The output model of an earlier stage of this recipe.
  std::string model_dir;     // A Hugging Face model directory (config.json + safetensors).
  std::string preset;        // A models::BertConfig preset (bert-mini, ...): random init.
  std::string config_file;   // A config.json: random init.
  // e.g. BertForQuestionAnswering; "" keeps the source's architecture (from_stage /
  // model_dir) and is an error for preset / config_file. A different head than the source's
  // is initialised and reported, as from_pretrained does.
  std::string architecture;
  // config.json fields set on top of the source's, as JSON text by key, e.g.
  // {"num_labels": "15", "hidden_dropout_prob": "0.0"}.
  std::map<std::string, std::string> config_overrides;
  uint64_t seed = 42;        // Random init (preset / config_file, new heads).
  SourceLocation location;
};

struct TokenizerSpec {
  // vocab.txt, the JSON-list form, a Hugging Face tokenizer.json, or a sentencepiece .model.
  std::string vocab;
  bool do_lower_case = true;  // vocab.txt / JSON list only (tokenizer.json says its own).
  SourceLocation location;
};

// The data and metric of a stage. Only the fields of `type` are used.
struct TaskSpec {
  std::string type;  // masked_lm | question_answering | classification.
  std::vector<std::string> train_files;
  std::vector<std::string> eval_files;
  // Stop after this many training / evaluation examples (0: all); quick profiles use it.
  int64_t max_train_examples = 0;
  int64_t max_eval_examples = 0;
  // The metric that judges the stage and its report column, e.g. "f1", "accuracy",
  // "mlm_accuracy"; "" = the task's default (f1 / accuracy / mlm_loss-based accuracy).
  std::string metric;

  datasets::mlm::MlmStreamOptions mlm;          // masked_lm.
  MaskedLmConfig mlm_eval;                      // masked_lm.
  datasets::SquadFeatureConfig squad;           // question_answering (is_training ignored).
  QuestionAnsweringConfig qa_eval;              // question_answering.
  ClassificationDataConfig classification;      // classification.
  ClassificationConfig classification_eval;     // classification.
  // batch_size, shuffle, seed, padding (the training batches; evaluation uses the task's
  // eval_batch_size).
  datasets::DataLoaderOptions loader;
  SourceLocation location;
};

// One component of a shot, with the config of its kind.
struct ComponentSpec {
  std::string kind;  // pruning | distillation | quantization.
  compressor::PruningConfig pruning;
  compressor::DistillationConfig distillation;
  compressor::QuantizationConfig quantization;
  SourceLocation location;
};

// One shot: a single component, or (combine:) several trained in one run.
struct ShotSpec {
  std::vector<ComponentSpec> components;  // Size 1: a single component.
  bool combine = false;                   // Written as `combine:` in the recipe.
  // Training settings of this shot on top of the stage's (e.g. fewer steps for QAT).
  std::optional<compressor::TrainerConfig> training;
  SourceLocation location;
};

struct StageSpec {
  std::string name;  // Unique; names the output directory <output_dir>/<name>/.
  ModelSpec model;
  std::optional<ModelSpec> teacher;  // Required by a distillation component.
  TokenizerSpec tokenizer;           // Defaults to the recipe's top-level tokenizer.
  TaskSpec task;
  // Training settings (Hugging Face TrainingArguments names). output_dir, resume and stage
  // are set by the runner.
  compressor::TrainerConfig training;
  // Empty: plain training of the model (pre-training / fine-tuning), no compression.
  std::vector<ShotSpec> shots;
  bool evaluate = true;  // Evaluate the input and output models on task.eval_files.
  // false: no training at all (an eval-only stage, e.g. scoring a released sparse
  // checkpoint): the input model is evaluated and saved unchanged; shots must be empty and
  // train_files may be empty.
  bool train = true;
  // Also write onnx/model.onnx into the saved model directory (ExportStageOnnx: fp32, or
  // the INT8 QDQ graph), what transformers.js and ONNX Runtime load.
  bool export_onnx = false;
  SourceLocation location;
};

// One row of the final table: a name and, per column group (e.g. "qa", "genre"), the stage
// whose output model fills it.
struct ReportRow {
  std::string name;                           // e.g. "85% + QAT (INT8)".
  std::map<std::string, std::string> stages;  // Column group -> stage name.
  std::string paper_row;  // The paper's row to print beside it (prune-once-for-all.md).
  SourceLocation location;
};

struct ReportSpec {
  std::string title;
  std::vector<ReportRow> rows;
  std::string baseline_row;  // Retention ratios are metric / this row's metric.
  int64_t latency_batch_size = 1;
  int64_t latency_seq_length = 128;
  int64_t latency_iterations = 20;
  // Paired bootstrap resamples of the dev examples for the 95% intervals (0: none).
  int64_t bootstrap_resamples = 1000;
  uint64_t bootstrap_seed = 1;  // Fixed, so a report's intervals are reproducible.
};

struct Recipe {
  std::string source;  // The YAML file.
  std::string name;
  std::string description;
  std::string output_dir;   // Where every stage writes (<output_dir>/<stage>/...).
  std::string data_dir;     // ${data_dir}.
  std::string model_dir;    // ${model_dir} (full-scale recipes: a pre-trained checkpoint).
  std::string teacher_dir;  // ${teacher_dir}.
  uint64_t seed = 42;
  std::vector<StageSpec> stages;
  std::optional<ReportSpec> report;
};

// What the runner's flags change before validation.
struct RecipeOverrides {
  // --set key=value, applied in order on the YAML tree: dotted keys, stages addressed by
  // name ("stages.teacher.training.max_steps=20") or index ("stages.0...").
  std::vector<std::pair<std::string, std::string>> set;
  std::string profile;      // Applies profiles.<profile> first ("quick" for --quick).
  std::string output_dir;   // Non-empty: replaces the recipe's.
  std::string data_dir;
  std::string model_dir;
  std::string teacher_dir;
};

// Reads, overrides, substitutes and validates a recipe. Every error is InvalidArgument (or
// NotFound for a missing file) naming the file, the line and the key, e.g.
//   recipes/x.yaml:14: stages[upstream_90].shots[0].combine[0].pruning.target_sparsity:
//   1.5 is outside [0, 1)
// Checks: unknown keys, wrong types, impossible values (each config's Validate()), a
// combination with a repeated kind, from_stage naming no earlier stage, a distillation
// without a teacher, input files that do not exist, duplicate stage names.
absl::StatusOr<Recipe> LoadRecipe(const std::string& path, const RecipeOverrides& overrides);

}  // namespace recipes

#endif  // RECIPES_RECIPE_H_
