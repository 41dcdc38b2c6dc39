#include "recipes/recipe.h"

#include <set>
#include <sstream>
#include "recipes/recipe_schema.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace recipes {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

std::string TmpDir() {
  const char* dir = std::getenv("TEST_TMPDIR");
  return dir != nullptr ? dir : "/tmp";
}

std::string WriteFile(const std::string& path, const std::string& contents) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path) << contents;
  return path;
}

// A data directory with the files the recipes below name.
std::string MakeDataDir() {
  const std::string dir = TmpDir() + "/data";
  WriteFile(dir + "/vocab.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\n");
  WriteFile(dir + "/corpus/train.txt", "the\n");
  WriteFile(dir + "/corpus/dev.txt", "the\n");
  WriteFile(dir + "/qa/train.json", "{}");
  WriteFile(dir + "/qa/dev.json", "{}");
  WriteFile(dir + "/model/config.json", "{}");
  return dir;
}

// 1-based line of the first line containing `marker`.
int LineOf(const std::string& text, const std::string& marker) {
  const size_t at = text.find(marker);
  EXPECT_NE(at, std::string::npos) << marker;
  return 1 + static_cast<int>(std::count(text.begin(), text.begin() + at, '\n'));
}

// The recipe every test edits: a teacher, an upstream pruned student, a QA fine-tune with
// pattern lock + KD then QAT, and a report.
const char kRecipe[] = R"(name: tiny
description: test recipe
output_dir: "${data_dir}/../out"
seed: 7
tokenizer: {vocab: "${data_dir}/vocab.txt"}
profiles:
  quick:
    stages.teacher.training.max_steps: 3
    stages.1.task.loader.batch_size: 4
stages:
  - name: teacher
    model: {preset: bert-tiny, architecture: BertForPreTraining}
    task:
      type: masked_lm
      train_files: ["${data_dir}/corpus/train.txt"]
      eval_files: "${data_dir}/corpus/dev.txt"
      mlm:
        instances: {max_seq_length: 64, next_sentence_prediction: true}
        masking: {masked_lm_prob: 0.2}
      loader: {batch_size: 8, shuffle: true}
    training: {learning_rate: 1.0e-4, max_steps: 100, warmup_ratio: 0.01}
  - name: upstream
    model: {from_stage: teacher}
    teacher: {from_stage: teacher}
    task:
      type: masked_lm
      train_files: ["${data_dir}/corpus/train.txt"]
      eval_files: ["${data_dir}/corpus/dev.txt"]
    training: {learning_rate: 1.0e-4, max_steps: 50}
    shots:
      - combine:
          - pruning: {target_sparsity: 0.9, end_step: 40, pruning_frequency: 5, lr_rewind: true}
          - distillation: {logit_names: [prediction_logits], loss_types: [KL], kd_mask_key: labels}
  - name: qa
    model:
      from_stage: upstream
      architecture: BertForQuestionAnswering
      config_overrides: {hidden_dropout_prob: 0.0, problem_type: "single_label_classification"}
    teacher: {model_dir: "${data_dir}/model"}
    task:
      type: question_answering
      train_files: ["${data_dir}/qa/train.json"]
      eval_files: ["${data_dir}/qa/dev.json"]
      squad: {max_seq_length: 128, doc_stride: 64}
      qa_eval: {postprocess: {n_best_size: 5}}
    training: {learning_rate: 1.5e-4, num_train_epochs: 8}
    shots:
      - combine:
          - pruning: {pruning_type: pattern_lock}
          - distillation:
              loss_weights: [0, 1]
              layer_mappings:
                - {student_output: hidden_states.1, teacher_output: hidden_states.2}
      - combine:
          - pruning: {pruning_type: pattern_lock}
          - distillation: {}
          - quantization: {preset: inc_fx, convert_to_int8: true, weight: {ch_axis: 1}}
        training: {learning_rate: 1.0e-5, num_train_epochs: 2}
report:
  title: Tiny
  baseline_row: dense
  rows:
    - {name: dense, stages: {qa: qa}, paper_row: BERT-Base dense}
    - {name: sparse, stages: {qa: qa, mlm: upstream}}
)";

class RecipeTest : public ::testing::Test {
 protected:
  void SetUp() override { data_dir_ = MakeDataDir(); }

  std::string Write(const std::string& text, const std::string& name = "recipe.yaml") {
    return WriteFile(TmpDir() + "/recipes/" + name, text);
  }
  // LoadRecipe with --data_dir pointing at the test data unless `overrides` says otherwise.
  absl::StatusOr<Recipe> Load(const std::string& text, RecipeOverrides overrides = {}) {
    if (overrides.data_dir.empty()) overrides.data_dir = data_dir_;
    return LoadRecipe(Write(text), overrides);
  }
  // kRecipe with `from` replaced by `to` (which must occur).
  std::string Edit(const std::string& from, const std::string& to) {
    std::string text = kRecipe;
    const size_t at = text.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    if (at != std::string::npos) text.replace(at, from.size(), to);
    return text;
  }
  absl::Status LoadError(const std::string& text, const RecipeOverrides& overrides = {}) {
    return Load(text, overrides).status();
  }
  // "<file>:<line>: <key>: " as every error starts.
  std::string Where(int line, const std::string& key) {
    return absl::StrCat(TmpDir(), "/recipes/recipe.yaml:", line, ": ", key, ": ");
  }

  std::string data_dir_;
};

TEST_F(RecipeTest, ParsesEveryLevelIntoTheStructs) {
  absl::StatusOr<Recipe> loaded = Load(kRecipe, {});
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const Recipe& recipe = *loaded;
  EXPECT_EQ(recipe.name, "tiny");
  EXPECT_EQ(recipe.description, "test recipe");
  EXPECT_EQ(recipe.seed, 7u);
  EXPECT_EQ(recipe.output_dir, data_dir_ + "/../out");
  EXPECT_EQ(recipe.data_dir, data_dir_);
  ASSERT_EQ(recipe.stages.size(), 3u);

  const StageSpec& teacher = recipe.stages[0];
  EXPECT_EQ(teacher.name, "teacher");
  EXPECT_EQ(teacher.model.preset, "bert-tiny");
  EXPECT_EQ(teacher.model.architecture, "BertForPreTraining");
  EXPECT_FALSE(teacher.teacher.has_value());
  EXPECT_EQ(teacher.tokenizer.vocab, data_dir_ + "/vocab.txt");  // The top-level tokenizer.
  EXPECT_EQ(teacher.task.type, "masked_lm");
  EXPECT_EQ(teacher.task.train_files, std::vector<std::string>{data_dir_ + "/corpus/train.txt"});
  EXPECT_EQ(teacher.task.eval_files, std::vector<std::string>{data_dir_ + "/corpus/dev.txt"});
  EXPECT_EQ(teacher.task.mlm.instances.max_seq_length, 64);
  EXPECT_TRUE(teacher.task.mlm.instances.next_sentence_prediction);
  EXPECT_DOUBLE_EQ(teacher.task.mlm.masking.masked_lm_prob, 0.2);
  EXPECT_EQ(teacher.task.mlm.masking.max_predictions_per_seq, 20);  // Default kept.
  EXPECT_EQ(teacher.task.loader.batch_size, 8);
  EXPECT_TRUE(teacher.task.loader.shuffle);
  EXPECT_DOUBLE_EQ(teacher.training.learning_rate, 1e-4);
  EXPECT_EQ(teacher.training.max_steps, 100);
  EXPECT_DOUBLE_EQ(teacher.training.warmup_ratio, 0.01);
  EXPECT_TRUE(teacher.shots.empty());
  EXPECT_TRUE(teacher.train);
  EXPECT_TRUE(teacher.evaluate);
  EXPECT_EQ(teacher.location.line, 11);
  EXPECT_EQ(teacher.location.key, "stages[teacher]");

  const StageSpec& upstream = recipe.stages[1];
  EXPECT_EQ(upstream.model.from_stage, "teacher");
  ASSERT_TRUE(upstream.teacher.has_value());
  EXPECT_EQ(upstream.teacher->from_stage, "teacher");
  ASSERT_EQ(upstream.shots.size(), 1u);
  const ShotSpec& upstream_shot = upstream.shots[0];
  EXPECT_TRUE(upstream_shot.combine);
  EXPECT_FALSE(upstream_shot.training.has_value());
  ASSERT_EQ(upstream_shot.components.size(), 2u);
  EXPECT_EQ(upstream_shot.components[0].kind, "pruning");
  EXPECT_DOUBLE_EQ(upstream_shot.components[0].pruning.target_sparsity, 0.9);
  EXPECT_EQ(upstream_shot.components[0].pruning.end_step, 40);
  EXPECT_EQ(upstream_shot.components[0].pruning.pruning_frequency, 5);
  EXPECT_TRUE(upstream_shot.components[0].pruning.lr_rewind);
  EXPECT_EQ(upstream_shot.components[0].pruning.sparsity_decay_type, "zhu_gupta");
  EXPECT_EQ(upstream_shot.components[1].kind, "distillation");
  EXPECT_EQ(upstream_shot.components[1].distillation.logit_names,
            std::vector<std::string>{"prediction_logits"});
  EXPECT_EQ(upstream_shot.components[1].distillation.kd_mask_key, "labels");
  EXPECT_EQ(upstream_shot.components[1].location.key, "stages[upstream].shots[0].combine[1]");
  EXPECT_EQ(upstream_shot.components[1].location.line, LineOf(kRecipe, "- distillation: {logit"));

  const StageSpec& qa = recipe.stages[2];
  EXPECT_EQ(qa.model.architecture, "BertForQuestionAnswering");
  EXPECT_EQ(qa.model.config_overrides.at("hidden_dropout_prob"), "0.0");
  EXPECT_EQ(qa.model.config_overrides.at("problem_type"), "\"single_label_classification\"");
  EXPECT_EQ(qa.teacher->model_dir, data_dir_ + "/model");
  EXPECT_EQ(qa.task.squad.max_seq_length, 128);
  EXPECT_EQ(qa.task.squad.doc_stride, 64);
  EXPECT_EQ(qa.task.squad.max_query_length, 64);
  EXPECT_EQ(qa.task.qa_eval.postprocess.n_best_size, 5);
  ASSERT_EQ(qa.shots.size(), 2u);
  const compressor::DistillationConfig& kd1 = qa.shots[0].components[1].distillation;
  EXPECT_EQ(kd1.loss_weights, (std::vector<double>{0, 1}));
  ASSERT_EQ(kd1.layer_mappings.size(), 1u);
  EXPECT_EQ(kd1.layer_mappings[0].student_output, "hidden_states.1");
  EXPECT_EQ(kd1.layer_mappings[0].teacher_output, "hidden_states.2");
  EXPECT_EQ(kd1.layer_mappings[0].loss_type, "MSE");
  // An empty distillation of a QA stage distills the QA logits.
  EXPECT_EQ(qa.shots[1].components[1].distillation.logit_names,
            (std::vector<std::string>{"start_logits", "end_logits"}));
  const compressor::QuantizationConfig& q = qa.shots[1].components[2].quantization;
  EXPECT_TRUE(q.weight.per_channel);  // From the inc_fx preset ...
  EXPECT_EQ(q.weight.ch_axis, 1);     // ... with the recipe's key on top.
  EXPECT_EQ(q.weight_observer, "moving_average_minmax");
  EXPECT_TRUE(q.outputs_not_requantized.empty());
  EXPECT_TRUE(q.convert_to_int8);
  // The shot's training is the stage's with the shot's keys on top.
  ASSERT_TRUE(qa.shots[1].training.has_value());
  EXPECT_DOUBLE_EQ(qa.shots[1].training->learning_rate, 1e-5);
  EXPECT_EQ(qa.shots[1].training->num_train_epochs, 2);
  EXPECT_DOUBLE_EQ(qa.training.learning_rate, 1.5e-4);

  ASSERT_TRUE(recipe.report.has_value());
  EXPECT_EQ(recipe.report->title, "Tiny");
  EXPECT_EQ(recipe.report->baseline_row, "dense");
  ASSERT_EQ(recipe.report->rows.size(), 2u);
  EXPECT_EQ(recipe.report->rows[0].paper_row, "BERT-Base dense");
  EXPECT_EQ(recipe.report->rows[1].stages.at("mlm"), "upstream");
  EXPECT_EQ(recipe.report->latency_seq_length, 128);
}

TEST_F(RecipeTest, ProfileThenSetThenDirectoryFlags) {
  RecipeOverrides overrides;
  overrides.profile = "quick";
  overrides.set = {{"stages.teacher.training.max_steps", "5"},  // After the profile's 3.
                   {"stages.2.shots.1.combine.2.quantization.approach",
                    "post_training_static_quant"},
                   {"stages.qa.task.eval_files", "[" + data_dir_ + "/qa/dev.json, " + data_dir_ +
                                                     "/qa/train.json]"},
                   {"stages.upstream.evaluate", "false"},
                   {"seed", "9"}};
  overrides.output_dir = TmpDir() + "/elsewhere";
  absl::StatusOr<Recipe> recipe = Load(kRecipe, overrides);
  ASSERT_TRUE(recipe.ok()) << recipe.status();
  EXPECT_EQ(recipe->stages[0].training.max_steps, 5);
  EXPECT_EQ(recipe->stages[1].task.loader.batch_size, 4);  // From the profile.
  EXPECT_EQ(recipe->stages[2].shots[1].components[2].quantization.approach,
            "post_training_static_quant");
  EXPECT_EQ(recipe->stages[2].task.eval_files.size(), 2u);
  EXPECT_FALSE(recipe->stages[1].evaluate);
  EXPECT_EQ(recipe->seed, 9u);
  EXPECT_EQ(recipe->output_dir, TmpDir() + "/elsewhere");

  // Without the profile, the file's values.
  recipe = Load(kRecipe, {});
  ASSERT_TRUE(recipe.ok()) << recipe.status();
  EXPECT_EQ(recipe->stages[0].training.max_steps, 100);
  EXPECT_EQ(recipe->stages[1].task.loader.batch_size, 8);
}

TEST_F(RecipeTest, SetCreatesMissingSectionsButUnknownKeysFail) {
  RecipeOverrides overrides;
  overrides.set = {{"stages.upstream.task.mlm.masking.do_whole_word_mask", "true"}};
  absl::StatusOr<Recipe> recipe = Load(kRecipe, overrides);
  ASSERT_TRUE(recipe.ok()) << recipe.status();
  EXPECT_TRUE(recipe->stages[1].task.mlm.masking.do_whole_word_mask);

  overrides.set = {{"stages.teacher.training.max_stepz", "20"}};
  absl::Status status = LoadError(kRecipe, overrides);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(),
              HasSubstr(absl::StrCat(TmpDir(), "/recipes/recipe.yaml: "
                                               "stages[teacher].training.max_stepz: unknown key")));
  EXPECT_THAT(status.message(), HasSubstr("--set stages.teacher.training.max_stepz=20"));

  overrides.set = {{"stages.student.training.max_steps", "20"}};
  status = LoadError(kRecipe, overrides);
  EXPECT_THAT(status.message(), HasSubstr("stages.student.training.max_steps: stages has no "
                                          "element named \"student\" (names: teacher, "
                                          "upstream, qa)"));

  overrides.set = {{"stages.7.training.max_steps", "20"}};
  EXPECT_THAT(LoadError(kRecipe, overrides).message(), HasSubstr("index 7 does not exist"));

  overrides.set = {{"stages.teacher.training.max_steps", "lots"}};
  status = LoadError(kRecipe, overrides);
  EXPECT_THAT(status.message(),
              HasSubstr("stages[teacher].training.max_steps: expected an integer, got \"lots\""));
}

TEST_F(RecipeTest, UnknownProfileListsTheProfiles) {
  RecipeOverrides overrides;
  overrides.profile = "fast";
  EXPECT_THAT(LoadError(kRecipe, overrides).message(),
              HasSubstr("no profile \"fast\" (profiles: quick)"));
}

TEST_F(RecipeTest, ProfileErrorsPointAtTheProfileLine) {
  RecipeOverrides overrides;
  overrides.profile = "quick";
  const std::string text = Edit("max_steps: 3", "max_steps: three");
  EXPECT_THAT(LoadError(text, overrides).message(),
              HasSubstr(Where(LineOf(text, "max_steps: three"),
                              "stages[teacher].training.max_steps")));
}

TEST_F(RecipeTest, SubstitutesDirectoriesAndFlagsWin) {
  // model_dir from the flag fills ${model_dir}.
  const std::string text = Edit("teacher: {model_dir: \"${data_dir}/model\"}",
                                "teacher: {model_dir: \"${model_dir}\"}");
  RecipeOverrides overrides;
  overrides.model_dir = data_dir_ + "/model";
  absl::StatusOr<Recipe> recipe = Load(text, overrides);
  ASSERT_TRUE(recipe.ok()) << recipe.status();
  EXPECT_EQ(recipe->stages[2].teacher->model_dir, data_dir_ + "/model");
  EXPECT_EQ(recipe->model_dir, data_dir_ + "/model");

  // Unset: an error naming the variable and the flag.
  absl::Status status = LoadError(text);
  EXPECT_THAT(status.message(), HasSubstr(Where(LineOf(text, "model_dir: \"${model_dir}\""),
                                                "stages[qa].teacher.model_dir")));
  EXPECT_THAT(status.message(), HasSubstr("uses ${model_dir}, which is not set: pass --model_dir"));

  // Unknown variables.
  status = LoadError(Edit("description: test recipe", "description: ${home}"));
  EXPECT_THAT(status.message(), HasSubstr("description: \"${home}\" uses ${home}"));

  // data_dir in the recipe, replaced by --data_dir.
  const std::string with_dir = absl::StrCat("data_dir: /nonexistent\n", kRecipe);
  overrides = {};
  overrides.data_dir = data_dir_;
  recipe = LoadRecipe(WriteFile(TmpDir() + "/recipes/raw.yaml", with_dir), overrides);
  ASSERT_TRUE(recipe.ok()) << recipe.status();
  EXPECT_EQ(recipe->stages[0].task.train_files[0], data_dir_ + "/corpus/train.txt");
}

TEST_F(RecipeTest, DefaultsAnchorsAndMergeKeys) {
  const std::string text = R"(name: shared
defaults:
  tokenizer: {vocab: "${data_dir}/vocab.txt"}
  training: &train {learning_rate: 3.0e-5, max_steps: 10}
  task:
    type: masked_lm
    train_files: ["${data_dir}/corpus/train.txt"]
    eval_files: ["${data_dir}/corpus/dev.txt"]
stages:
  - name: a
    model: {preset: bert-tiny, architecture: BertForMaskedLM}
  - name: b
    model: {from_stage: a}
    training: {<<: *train, max_steps: 20}
    task: {loader: {batch_size: 2}}
)";
  absl::StatusOr<Recipe> recipe = Load(text, {});
  ASSERT_TRUE(recipe.ok()) << recipe.status();
  EXPECT_EQ(recipe->output_dir, "out/shared");
  EXPECT_DOUBLE_EQ(recipe->stages[0].training.learning_rate, 3e-5);
  EXPECT_EQ(recipe->stages[0].training.max_steps, 10);
  EXPECT_DOUBLE_EQ(recipe->stages[1].training.learning_rate, 3e-5);
  EXPECT_EQ(recipe->stages[1].training.max_steps, 20);
  EXPECT_EQ(recipe->stages[1].task.type, "masked_lm");  // Merged into the stage's task.
  EXPECT_EQ(recipe->stages[1].task.loader.batch_size, 2);
  EXPECT_EQ(recipe->stages[1].tokenizer.vocab, data_dir_ + "/vocab.txt");

  // An override through one alias use does not leak into the other uses.
  const std::string aliased = R"(name: aliased
tokenizer: {vocab: "${data_dir}/vocab.txt"}
stages:
  - name: a
    model: {preset: bert-tiny, architecture: BertForMaskedLM}
    task: &task {type: masked_lm, train_files: ["${data_dir}/corpus/train.txt"],
                 eval_files: ["${data_dir}/corpus/dev.txt"]}
  - name: b
    model: {from_stage: a}
    task: *task
)";
  RecipeOverrides overrides;
  overrides.set = {{"stages.b.task.max_train_examples", "12"}};
  recipe = Load(aliased, overrides);
  ASSERT_TRUE(recipe.ok()) << recipe.status();
  EXPECT_EQ(recipe->stages[0].task.max_train_examples, 0);
  EXPECT_EQ(recipe->stages[1].task.max_train_examples, 12);
  EXPECT_FALSE(recipe->stages[0].export_onnx);

  // recipes:run --export_onnx sets defaults.export_onnx, also in a file without defaults:;
  // a stage's own value wins.
  overrides.set = {{"defaults.export_onnx", "true"}, {"stages.b.export_onnx", "false"}};
  recipe = Load(aliased, overrides);
  ASSERT_TRUE(recipe.ok()) << recipe.status();
  EXPECT_TRUE(recipe->stages[0].export_onnx);
  EXPECT_FALSE(recipe->stages[1].export_onnx);
}

TEST_F(RecipeTest, VariablesNeedNoQuotesInsideFlowCollections) {
  // `{` would open a YAML map inside [...] / {...}: ${name} is read as text anyway.
  const std::string text = R"(name: flow
tokenizer: {vocab: ${data_dir}/vocab.txt}
stages:
  - name: a
    model: {preset: bert-tiny, architecture: BertForMaskedLM}
    task: {type: masked_lm, train_files: [${data_dir}/corpus/train.txt, "${data_dir}/corpus/dev.txt"],
           eval_files: [${data_dir}/corpus/dev.txt]}
)";
  absl::StatusOr<Recipe> recipe = Load(text);
  ASSERT_TRUE(recipe.ok()) << recipe.status();
  EXPECT_EQ(recipe->stages[0].tokenizer.vocab, data_dir_ + "/vocab.txt");
  EXPECT_EQ(recipe->stages[0].task.train_files,
            (std::vector<std::string>{data_dir_ + "/corpus/train.txt",
                                      data_dir_ + "/corpus/dev.txt"}));
  RecipeOverrides overrides;
  overrides.set = {{"stages.a.task.eval_files", "[${data_dir}/corpus/train.txt]"}};
  recipe = Load(text, overrides);
  ASSERT_TRUE(recipe.ok()) << recipe.status();
  EXPECT_EQ(recipe->stages[0].task.eval_files[0], data_dir_ + "/corpus/train.txt");
}

TEST_F(RecipeTest, EvalOnlyStage) {
  const std::string text = R"(name: eval_only
tokenizer: {vocab: "${data_dir}/vocab.txt"}
stages:
  - name: eval
    model: {model_dir: "${data_dir}/model", architecture: BertForQuestionAnswering}
    task: {type: question_answering, eval_files: ["${data_dir}/qa/dev.json"]}
    train: false
)";
  absl::StatusOr<Recipe> recipe = Load(text, {});
  ASSERT_TRUE(recipe.ok()) << recipe.status();
  EXPECT_FALSE(recipe->stages[0].train);
  EXPECT_TRUE(recipe->stages[0].task.train_files.empty());

  // Training stages need train_files.
  const std::string training = absl::StrReplaceAll(text, {{"    train: false\n", ""}});
  EXPECT_THAT(LoadError(training).message(),
              HasSubstr(Where(LineOf(training, "task: {type"),
                              "stages[eval].task.train_files")));
}

// ----- every validation error names file, line and key -----

TEST_F(RecipeTest, UnknownKey) {
  const std::string text = Edit("warmup_ratio: 0.01", "warmup_ratio: 0.01, warmup_ration: 2");
  absl::Status status = LoadError(text);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(),
              HasSubstr(Where(LineOf(text, "warmup_ration"),
                              "stages[teacher].training.warmup_ration") +
                        "unknown key; known keys here: optimizer, learning_rate"));

  const std::string top = absl::StrCat("nmae: x\n", kRecipe);
  EXPECT_THAT(LoadError(top).message(), HasSubstr(Where(1, "nmae") + "unknown key"));

  const std::string shot = Edit("lr_rewind: true}", "lr_rewind: true, sparsity: 0.5}");
  EXPECT_THAT(LoadError(shot).message(),
              HasSubstr(Where(LineOf(shot, "sparsity: 0.5"),
                              "stages[upstream].shots[0].combine[0].pruning.sparsity") +
                        "unknown key"));

  const std::string kind = Edit("          - pruning: {target", "          - prunning: {target");
  EXPECT_THAT(LoadError(kind).message(),
              HasSubstr(Where(LineOf(kind, "prunning"),
                              "stages[upstream].shots[0].combine[0].prunning") +
                        "unknown component kind"));
}

TEST_F(RecipeTest, WrongType) {
  const std::string text = Edit("learning_rate: 1.0e-4, max_steps: 100",
                                "learning_rate: fast, max_steps: 100");
  absl::Status status = LoadError(text);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(),
              HasSubstr(Where(LineOf(text, "learning_rate: fast"),
                              "stages[teacher].training.learning_rate") +
                        "expected a number, got \"fast\""));

  const std::string quoted = Edit("max_seq_length: 64", "max_seq_length: \"64\"");
  EXPECT_THAT(LoadError(quoted).message(),
              HasSubstr(Where(LineOf(quoted, "max_seq_length: \"64\""),
                              "stages[teacher].task.mlm.instances.max_seq_length") +
                        "expected an integer, got the string \"64\""));

  const std::string boolean = Edit("shuffle: true", "shuffle: 1");
  EXPECT_THAT(LoadError(boolean).message(),
              HasSubstr(Where(LineOf(boolean, "shuffle: 1"), "stages[teacher].task.loader.shuffle") +
                        "expected true or false"));

  const std::string list = Edit("loss_types: [KL]", "loss_types: {a: KL}");
  EXPECT_THAT(LoadError(list).message(),
              HasSubstr("stages[upstream].shots[0].combine[1].distillation.loss_types: "
                        "expected a list"));

  const std::string map = Edit("squad: {max_seq_length: 128, doc_stride: 64}", "squad: 128");
  EXPECT_THAT(LoadError(map).message(),
              HasSubstr(Where(LineOf(map, "squad: 128"), "stages[qa].task.squad") +
                        "expected a map of keys, got \"128\""));
}

TEST_F(RecipeTest, SparsityOutsideZeroOne) {
  const std::string text = Edit("target_sparsity: 0.9", "target_sparsity: 1.5");
  absl::Status status = LoadError(text);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(),
              HasSubstr(Where(LineOf(text, "target_sparsity: 1.5"),
                              "stages[upstream].shots[0].combine[0].pruning.target_sparsity")));
  EXPECT_THAT(status.message(), HasSubstr("target_sparsity: 1.5 is outside [0, 1)"));

  const std::string negative = Edit("target_sparsity: 0.9", "target_sparsity: -0.1");
  EXPECT_THAT(LoadError(negative).message(),
              HasSubstr("pruning.target_sparsity: -0.1 is outside [0, 1)"));
}

TEST_F(RecipeTest, EndStepBeforeStartStep) {
  const std::string text = Edit("end_step: 40", "start_step: 50, end_step: 40");
  EXPECT_THAT(LoadError(text).message(),
              HasSubstr(Where(LineOf(text, "start_step: 50"),
                              "stages[upstream].shots[0].combine[0].pruning.end_step") +
                        "(40) must not be before start_step (50)"));
}

TEST_F(RecipeTest, OtherConfigValidateErrorsAreRelocated) {
  const std::string text = Edit("preset: inc_fx", "preset: inc_fx, approach: qat");
  EXPECT_THAT(LoadError(text).message(),
              HasSubstr(Where(LineOf(text, "approach: qat"),
                              "stages[qa].shots[1].combine[2].quantization.approach") +
                        "is \"qat\""));

  const std::string preset = Edit("preset: inc_fx", "preset: fx");
  EXPECT_THAT(LoadError(preset).message(),
              HasSubstr(Where(LineOf(preset, "preset: fx"),
                              "stages[qa].shots[1].combine[2].quantization.preset") +
                        "\"fx\" is unknown; supported: prune_ofa, inc_fx"));

  const std::string training = Edit("warmup_ratio: 0.01", "warmup_ratio: 1.5");
  EXPECT_THAT(LoadError(training).message(),
              HasSubstr(Where(LineOf(training, "warmup_ratio: 1.5"),
                              "stages[teacher].training.warmup_ratio") +
                        "must be in [0, 1), got 1.5"));

  const std::string kd = Edit("loss_weights: [0, 1]", "loss_weights: [0, 1, 2]");
  EXPECT_THAT(LoadError(kd).message(),
              HasSubstr(Where(LineOf(kd, "loss_weights: [0, 1, 2]"),
                              "stages[qa].shots[0].combine[1].distillation.loss_weights") +
                        "has 3 values"));

  const std::string mlm = Edit("masked_lm_prob: 0.2", "masked_lm_prob: 0");
  EXPECT_THAT(LoadError(mlm).message(),
              HasSubstr(Where(LineOf(mlm, "masked_lm_prob: 0}"),
                              "stages[teacher].task.mlm.masking.masked_lm_prob") +
                        "must be in (0, 1], got 0"));
}

TEST_F(RecipeTest, RepeatedKindInCombine) {
  const std::string text =
      Edit("          - distillation: {}\n", "          - pruning: {target_sparsity: 0.5}\n");
  absl::Status status = LoadError(text);
  EXPECT_THAT(status.message(),
              HasSubstr(Where(LineOf(text, "- pruning: {target_sparsity: 0.5}"),
                              "stages[qa].shots[1].combine[1]") +
                        "pruning repeats combine[0]; each kind"));

  const std::string one = Edit(
      "          - distillation: {logit_names: [prediction_logits], loss_types: [KL], "
      "kd_mask_key: labels}\n",
      "");
  EXPECT_THAT(LoadError(one).message(),
              HasSubstr("stages[upstream].shots[0].combine: needs at least two components"));

  const std::string two_kinds = Edit("    shots:\n      - combine:\n          - pruning: {target",
                                     "    shots:\n      - quantization: {}\n        combine:\n"
                                     "          - pruning: {target");
  EXPECT_THAT(LoadError(two_kinds).message(),
              HasSubstr("stages[upstream].shots[0]: has quantization and combine; a shot is one "
                        "component"));
}

TEST_F(RecipeTest, FromStageMustNameAnEarlierStage) {
  const std::string text = Edit("model: {from_stage: teacher}", "model: {from_stage: qa}");
  absl::Status status = LoadError(text);
  EXPECT_THAT(status.message(),
              HasSubstr(Where(LineOf(text, "from_stage: qa"), "stages[upstream].model.from_stage") +
                        "\"qa\" names no earlier stage (it runs at or after this one); earlier "
                        "stages: teacher"));

  const std::string unknown = Edit("teacher: {from_stage: teacher}", "teacher: {from_stage: x}");
  EXPECT_THAT(LoadError(unknown).message(),
              HasSubstr(Where(LineOf(unknown, "from_stage: x"),
                              "stages[upstream].teacher.from_stage") +
                        "\"x\" names no earlier stage; earlier stages: teacher"));

  const std::string two = Edit("model: {from_stage: teacher}",
                               "model: {from_stage: teacher, preset: bert-tiny}");
  EXPECT_THAT(LoadError(two).message(),
              HasSubstr("stages[upstream].model: give exactly one of from_stage, model_dir, "
                        "preset, config_file; got from_stage, preset"));
}

TEST_F(RecipeTest, DistillationNeedsATeacher) {
  const std::string text = Edit("    teacher: {from_stage: teacher}\n", "");
  EXPECT_THAT(LoadError(text).message(),
              HasSubstr(Where(LineOf(text, "- distillation: {logit_names"),
                              "stages[upstream].shots[0].combine[1].distillation") +
                        "a distillation component needs a teacher"));
}

TEST_F(RecipeTest, MissingFiles) {
  const std::string text =
      Edit("eval_files: \"${data_dir}/corpus/dev.txt\"", "eval_files: \"${data_dir}/corpus/nope.txt\"");
  absl::Status status = LoadError(text);
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(status.message(),
              HasSubstr(Where(LineOf(text, "nope.txt"), "stages[teacher].task.eval_files[0]") +
                        data_dir_ + "/corpus/nope.txt does not exist"));

  const std::string model = Edit("teacher: {model_dir: \"${data_dir}/model\"}",
                                 "teacher: {model_dir: \"${data_dir}/corpus\"}");
  status = LoadError(model);
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(status.message(),
              HasSubstr(Where(LineOf(model, "model_dir: \"${data_dir}/corpus\""),
                              "stages[qa].teacher.model_dir") +
                        data_dir_ + "/corpus/config.json does not exist"));

  const std::string vocab = Edit("vocab: \"${data_dir}/vocab.txt\"", "vocab: \"${data_dir}/v.txt\"");
  EXPECT_THAT(LoadError(vocab).message(),
              HasSubstr(Where(LineOf(vocab, "v.txt"), "stages[teacher].tokenizer.vocab")));

  // Files under the recipe's own output_dir come from earlier stages: not checked.
  const std::string produced = Edit("teacher: {model_dir: \"${data_dir}/model\"}",
                                    "teacher: {model_dir: \"${data_dir}/../out/teacher\"}");
  absl::StatusOr<Recipe> recipe = Load(produced, {});
  EXPECT_TRUE(recipe.ok()) << recipe.status();

  EXPECT_EQ(LoadRecipe(TmpDir() + "/recipes/none.yaml", {}).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(RecipeTest, DuplicateStageName) {
  const std::string text = Edit("  - name: qa\n", "  - name: teacher\n");
  EXPECT_THAT(LoadError(text).message(),
              HasSubstr(Where(LineOf(text, "  - name: teacher\n    model:\n      from_stage"),
                              "stages[teacher].name") +
                        "duplicate stage name \"teacher\" (first used on line 11)"));
}

TEST_F(RecipeTest, ReportNamesExistingStagesAndRows) {
  const std::string text = Edit("stages: {qa: qa, mlm: upstream}", "stages: {qa: qa2}");
  EXPECT_THAT(LoadError(text).message(),
              HasSubstr(Where(LineOf(text, "qa2"), "report.rows[1].stages.qa") +
                        "\"qa2\" names no stage"));
  const std::string baseline = Edit("baseline_row: dense", "baseline_row: base");
  EXPECT_THAT(LoadError(baseline).message(),
              HasSubstr(Where(LineOf(baseline, "baseline_row: base"), "report.baseline_row")));
}

TEST_F(RecipeTest, OtherStructuralErrors) {
  EXPECT_THAT(LoadError(Edit("type: question_answering", "type: qa")).message(),
              HasSubstr("stages[qa].task.type: \"qa\" is unknown; supported: masked_lm"));
  const std::string wrong_section = Edit("squad: {max_seq_length: 128, doc_stride: 64}",
                                         "mlm: {dupe_factor: 2}");
  EXPECT_THAT(LoadError(wrong_section).message(),
              HasSubstr("stages[qa].task.mlm: applies to type masked_lm, but this task is "
                        "question_answering"));
  EXPECT_THAT(LoadError(Edit("architecture: BertForPreTraining", "architecture: Bert")).message(),
              HasSubstr("stages[teacher].model.architecture: \"Bert\" does not fit preset "
                        "bert-tiny"));
  EXPECT_THAT(LoadError(Edit("preset: bert-tiny", "preset: bert-huge")).message(),
              HasSubstr("stages[teacher].model.preset: "));
  const std::string eval_only_with_shots =
      Edit("    training: {learning_rate: 1.0e-4, max_steps: 50}\n",
           "    training: {learning_rate: 1.0e-4, max_steps: 50}\n    train: false\n");
  EXPECT_THAT(LoadError(eval_only_with_shots).message(),
              HasSubstr("stages[upstream].shots: an eval-only stage (train: false) cannot have"));
  const std::string syntax = Edit("seed: 7", "seed: [7");
  absl::Status status = LoadError(syntax);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("not valid YAML"));
  const std::string dup = Edit("seed: 7", "seed: 7\nseed: 8");
  EXPECT_THAT(LoadError(dup).message(), HasSubstr(Where(LineOf(dup, "seed: 8"), "seed") +
                                                  "duplicate key"));
}

TEST(RecipeDocsTest, ReadmeNamesEveryKey) {
  std::ifstream file("recipes/README.md");
  std::stringstream readme;
  readme << file.rdbuf();
  ASSERT_FALSE(readme.str().empty());
  const std::vector<std::string> keys = RecipeKeyPaths();
  EXPECT_GT(keys.size(), 200u);
  std::set<std::string> undocumented;
  for (const std::string& path : keys) {
    std::string leaf = path.substr(path.rfind('.') == std::string::npos ? 0 : path.rfind('.') + 1);
    leaf = absl::StrReplaceAll(leaf, {{"[]", ""}});
    if (readme.str().find("`" + leaf + "`") == std::string::npos &&
        readme.str().find("`" + leaf + " ") == std::string::npos &&
        readme.str().find(", " + leaf + "`") == std::string::npos) {
      undocumented.insert(leaf);
    }
  }
  EXPECT_TRUE(undocumented.empty()) << "recipes/README.md does not name: "
                                    << absl::StrJoin(undocumented, ", ");
}

}  // namespace
}  // namespace recipes
