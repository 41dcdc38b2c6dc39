// RunRecipe on a tiny BERT and hand-made data: the Prune Once for All stage chain (MLM
// teacher, gradual pruning with KD, dense fine-tuning, pattern lock + KD, + QAT to INT8),
// the report, resume after an interruption, and the dry-run plan.
#include "recipes/pipeline.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "models/bert_config.h"
#include "models/test_config.h"
#include "recipes/report.h"
#include "recipes/stage_model.h"

namespace recipes {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

const std::vector<std::string>& Sentences() {
  static const std::vector<std::string> sentences = {
      "the cat sat on the mat .",        "the dog ran in the park .",
      "a bird sang in the tree .",       "the sun was hot in the summer .",
      "the rain fell on the old town .", "a man read a book by the fire .",
      "the ship sailed across the sea .", "the child played with a red ball .",
      "snow covered the quiet hills .",  "the cook made bread in the morning ."};
  return sentences;
}

std::string Dir() { return std::string(std::getenv("TEST_TMPDIR")); }

std::string Write(const std::string& name, const std::string& text) {
  const std::string path = Dir() + "/" + name;
  std::ofstream(path) << text;
  return path;
}

// Data files and a tiny model config, written once.
struct Fixture {
  std::string vocab, corpus, squad, tsv, config;
  int64_t vocab_size = 0;
};

const Fixture& Files() {
  static const Fixture* const fixture = [] {
    auto* f = new Fixture;
    std::set<std::string> words = {"?", "what", "who", "where"};
    for (const std::string& sentence : Sentences()) {
      std::istringstream in(sentence);
      for (std::string word; in >> word;) words.insert(word);
    }
    std::string vocab = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n";
    for (const std::string& word : words) vocab += word + "\n";
    f->vocab = Write("vocab.txt", vocab);
    f->vocab_size = 5 + static_cast<int64_t>(words.size());
    std::string corpus;
    for (int doc = 0; doc < 6; ++doc) {
      for (int i = 0; i < 5; ++i) corpus += Sentences()[(doc * 3 + i) % Sentences().size()] + "\n";
      corpus += "\n";
    }
    f->corpus = Write("corpus.txt", corpus);
    // QA: the context is two sentences; the question asks for the first noun phrase.
    Json paragraphs = Json::array();
    for (size_t i = 0; i < Sentences().size(); ++i) {
      const std::string& a = Sentences()[i];
      const std::string& b = Sentences()[(i + 1) % Sentences().size()];
      const std::string context = a + " " + b;
      const std::string answer = a.substr(0, a.find(' ', a.find(' ') + 1));  // "the cat"
      const std::string question = "what" + a.substr(answer.size(), a.size() - answer.size() - 2) + " ?";
      paragraphs.push_back(
          {{"context", context},
           {"qas",
            {{{"id", "q" + std::to_string(i)},
              {"question", question},
              {"answers", {{{"text", answer}, {"answer_start", 0}}}}}}}});
    }
    Json squad = {{"version", "1.1"},
                  {"data", {{{"title", "tiny"}, {"paragraphs", paragraphs}}}}};
    f->squad = Write("squad.json", squad.dump());
    std::string tsv = "text\tlabel\n";
    for (int repeat = 0; repeat < 3; ++repeat) {
      for (size_t i = 0; i < Sentences().size(); ++i) {
        tsv += Sentences()[i] + "\t" + (i % 2 ? "odd" : "even") + "\n";
      }
    }
    f->tsv = Write("genre.tsv", tsv);
    const models::BertConfig config = models::TinyTestConfig(f->vocab_size);
    f->config = Dir() + "/tiny_config.json";
    EXPECT_TRUE(models::SaveBertConfig(config, f->config).ok());
    return f;
  }();
  return *fixture;
}

compressor::TrainerConfig Training(int64_t steps, double lr) {
  compressor::TrainerConfig config;
  config.learning_rate = lr;
  config.max_steps = steps;
  config.logging_steps = 1;
  config.save_steps = 2;
  return config;
}

ComponentSpec Kd(std::vector<std::string> logits, const std::string& mask_key = "") {
  ComponentSpec spec;
  spec.kind = "distillation";
  spec.distillation.logit_names = std::move(logits);
  spec.distillation.loss_types = {"KL"};
  spec.distillation.kd_mask_key = mask_key;
  return spec;
}

ComponentSpec PatternLock() {
  ComponentSpec spec;
  spec.kind = "pruning";
  spec.pruning.pruning_type = "pattern_lock";
  return spec;
}

ComponentSpec Qat() {
  ComponentSpec spec;
  spec.kind = "quantization";
  spec.quantization.convert_to_int8 = true;
  return spec;
}

ShotSpec Combine(std::vector<ComponentSpec> components) {
  ShotSpec shot;
  shot.components = std::move(components);
  shot.combine = shot.components.size() > 1;
  return shot;
}

ModelSpec From(const std::string& stage, const std::string& architecture = "") {
  ModelSpec spec;
  spec.from_stage = stage;
  spec.architecture = architecture;
  return spec;
}

Recipe TinyRecipe(const std::string& output_dir) {
  const Fixture& f = Files();
  Recipe recipe;
  recipe.source = "pipeline_test";
  recipe.name = "tiny_prune_ofa";
  recipe.output_dir = output_dir;
  TokenizerSpec tokenizer;
  tokenizer.vocab = f.vocab;

  TaskSpec mlm;
  mlm.type = "masked_lm";
  mlm.train_files = {f.corpus};
  mlm.eval_files = {f.corpus};
  mlm.max_eval_examples = 8;
  mlm.mlm.instances.max_seq_length = 32;
  mlm.mlm.masking.max_predictions_per_seq = 5;
  mlm.loader.batch_size = 8;
  TaskSpec qa;
  qa.type = "question_answering";
  qa.train_files = {f.squad};
  qa.eval_files = {f.squad};
  qa.squad.max_seq_length = 48;
  qa.squad.doc_stride = 16;
  qa.loader.batch_size = 5;
  TaskSpec genre;
  genre.type = "classification";
  genre.train_files = {f.tsv};
  genre.eval_files = {f.tsv};
  genre.max_train_examples = 20;
  genre.classification.max_seq_length = 32;
  genre.loader.batch_size = 5;

  StageSpec teacher;
  teacher.name = "teacher";
  teacher.model.config_file = f.config;
  teacher.model.architecture = "BertForPreTraining";
  teacher.tokenizer = tokenizer;
  teacher.task = mlm;
  teacher.training = Training(6, 3e-3);
  recipe.stages.push_back(teacher);

  StageSpec upstream;
  upstream.name = "upstream_50";
  upstream.model = From("teacher");
  upstream.teacher = From("teacher");
  upstream.tokenizer = tokenizer;
  upstream.task = mlm;
  upstream.training = Training(6, 1e-3);
  ComponentSpec prune;
  prune.kind = "pruning";
  prune.pruning.target_sparsity = 0.5;
  prune.pruning.end_step = 4;
  prune.pruning.pruning_frequency = 2;
  prune.pruning.lr_rewind = true;
  upstream.shots = {
      Combine({prune, Kd({"prediction_logits", "seq_relationship_logits"}, "labels")})};
  recipe.stages.push_back(upstream);

  StageSpec qa_dense;
  qa_dense.name = "qa_dense";
  qa_dense.model = From("teacher", "BertForQuestionAnswering");
  qa_dense.tokenizer = tokenizer;
  qa_dense.task = qa;
  qa_dense.training = Training(6, 3e-3);
  recipe.stages.push_back(qa_dense);

  StageSpec qa_sparse = qa_dense;
  qa_sparse.name = "qa_50";
  qa_sparse.model = From("upstream_50", "BertForQuestionAnswering");
  qa_sparse.teacher = From("qa_dense");
  qa_sparse.shots = {Combine({PatternLock(), Kd({"start_logits", "end_logits"})})};
  qa_sparse.export_onnx = true;
  recipe.stages.push_back(qa_sparse);

  StageSpec qa_int8 = qa_sparse;
  qa_int8.name = "qa_50_int8";
  qa_int8.model = From("qa_50");
  qa_int8.training = Training(3, 1e-4);
  qa_int8.shots = {Combine({PatternLock(), Kd({"start_logits", "end_logits"}), Qat()})};
  recipe.stages.push_back(qa_int8);

  StageSpec genre_dense;
  genre_dense.name = "genre_dense";
  genre_dense.model = From("teacher", "BertForSequenceClassification");
  genre_dense.model.config_overrides = {{"num_labels", "2"}};
  genre_dense.tokenizer = tokenizer;
  genre_dense.task = genre;
  genre_dense.training = Training(4, 3e-3);
  recipe.stages.push_back(genre_dense);

  ReportSpec report;
  report.title = "tiny";
  report.baseline_row = "dense";
  report.latency_iterations = 3;
  report.latency_seq_length = 32;
  ReportRow dense;
  dense.name = "dense";
  dense.stages = {{"qa", "qa_dense"}, {"genre", "genre_dense"}};
  dense.paper_row = "BERT-Base dense";
  ReportRow sparse;
  sparse.name = "50%";
  sparse.stages = {{"qa", "qa_50"}};
  sparse.paper_row = "85% BERT-Base";
  ReportRow int8;
  int8.name = "50% + QAT (INT8)";
  int8.stages = {{"qa", "qa_50_int8"}};
  report.rows = {dense, sparse, int8};
  recipe.report = report;
  return recipe;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

Json ReadJson(const std::string& path) { return Json::parse(ReadFile(path)); }

TEST(PipelineTest, RunsTheStageChainResumesAndReports) {
  const std::string out = Dir() + "/run";
  const Recipe recipe = TinyRecipe(out);
  RunOptions options;
  options.progress = false;
  absl::StatusOr<RunSummary> run = RunRecipe(recipe, options);
  ASSERT_TRUE(run.ok()) << run.status();
  ASSERT_EQ(run->stages.size(), recipe.stages.size());
  for (const StageResult& stage : run->stages) EXPECT_FALSE(stage.skipped) << stage.name;

  // Gradual pruning reached its target on the prunable Linears; pattern lock kept the zeros
  // through fine-tuning and QAT; the last stage saved and reloads as INT8.
  EXPECT_NEAR(run->stages[1].sparsity, 0.5, 0.005);
  EXPECT_GE(run->stages[3].sparsity, 0.5 - 0.005);
  EXPECT_GE(run->stages[4].sparsity, 0.5 - 0.005);
  EXPECT_FALSE(run->stages[3].int8);
  EXPECT_TRUE(run->stages[4].int8);
  EXPECT_TRUE(fs::exists(out + "/qa_50_int8/model/" + std::string(kInt8ModelFile)));
  absl::StatusOr<BuiltModel> int8 = LoadStageModel(out + "/qa_50_int8/model");
  ASSERT_TRUE(int8.ok()) << int8.status();
  EXPECT_EQ(CountInt8Linears(*int8->model), 2 * 6 + 1);
  // export_onnx: the sparse stage's graph is fp32, the INT8 stage's the QDQ one (it inherits
  // the key from qa_50); stages without the key write none.
  const std::string fp32_onnx = ReadFile(out + "/qa_50/model/" + kOnnxModelFile);
  const std::string int8_onnx = ReadFile(out + "/qa_50_int8/model/" + kOnnxModelFile);
  EXPECT_NE(fp32_onnx.find("MatMul"), std::string::npos);
  EXPECT_EQ(fp32_onnx.find("QuantizeLinear"), std::string::npos);
  EXPECT_NE(int8_onnx.find("DequantizeLinear"), std::string::npos);
  EXPECT_FALSE(fs::exists(out + "/qa_dense/model/onnx"));
  for (const StageResult& stage : run->stages) {
    EXPECT_TRUE(fs::exists(out + "/" + stage.name + "/result.json"));
    // Every saved model directory is a Hugging Face repository, tokenizer included.
    for (const char* file : {"config.json", "vocab.txt", "tokenizer.json", "tokenizer_config.json",
                             "special_tokens_map.json"}) {
      EXPECT_TRUE(fs::exists(out + "/" + stage.name + "/model/" + file)) << stage.name << file;
    }
    for (const auto& [name, value] : stage.metrics_after) {
      EXPECT_TRUE(std::isfinite(value)) << stage.name << " " << name;
    }
  }
  EXPECT_TRUE(run->stages[2].metrics_after.count("f1"));
  EXPECT_TRUE(run->stages[5].metrics_after.count("accuracy"));
  // The new QA head makes the input's metrics meaningless: not evaluated before.
  EXPECT_TRUE(run->stages[2].metrics_before.empty());
  EXPECT_FALSE(run->stages[4].metrics_before.empty());

  // The report: three rows, retention 1 for the baseline, the paper's figures beside them.
  const Json results = ReadJson(run->results_json);
  ASSERT_EQ(results["rows"].size(), 3u);
  const Json& dense = results["rows"][0];
  EXPECT_DOUBLE_EQ(dense["groups"]["qa"]["retention"]["f1"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(dense["paper"]["squad_f1"].get<double>(), 88.54);
  EXPECT_TRUE(results["rows"][2]["groups"]["qa"]["int8"].get<bool>());
  EXPECT_GT(results["rows"][2]["groups"]["qa"]["latency_ms_p50"].get<double>(), 0.0);
  // Latency runs the deployed form: every Linear on a compressor/deploy kernel, INT8 ones
  // (as many as the stage converted) on INT8 kernels, none in the fp32 baseline.
  for (int r : {0, 2}) {
    const Json& g = results["rows"][r]["groups"]["qa"];
    int int8_kernels = 0, all = 0;
    for (const auto& [kernel, count] : g["linear_kernels"].items()) {
      all += count.get<int>();
      if (kernel.find("int8") != std::string::npos) int8_kernels += count.get<int>();
    }
    EXPECT_GT(all, 0) << "row " << r;
    EXPECT_EQ(int8_kernels, r == 0 ? 0 : g["int8_linears"].get<int>()) << "row " << r;
  }
  EXPECT_LT(results["rows"][2]["groups"]["qa"]["model_bytes"].get<int64_t>(),
            results["rows"][1]["groups"]["qa"]["model_bytes"].get<int64_t>());
  EXPECT_TRUE(fs::exists(out + "/results.md"));
  EXPECT_TRUE(fs::exists(out + "/plots/sparsity_over_steps.svg"));
  std::ifstream svg(out + "/plots/sparsity_over_steps.svg");
  std::stringstream svg_text;
  svg_text << svg.rdbuf();
  EXPECT_NE(svg_text.str().find("<polyline"), std::string::npos);

  // Per-example scores beside each evaluated stage's result, and the intervals built on them.
  for (const char* stage : {"qa_dense", "qa_50", "qa_50_int8", "genre_dense"}) {
    EXPECT_TRUE(fs::exists(out + "/" + stage + "/eval_scores.json")) << stage;
  }
  const Json qa_scores = ReadJson(out + "/qa_dense/eval_scores.json");
  EXPECT_EQ(qa_scores["ids"].size(), 10u);
  EXPECT_EQ(qa_scores["scores"]["f1"].size(), 10u);
  auto contains = [](const Json& ci, double value) {
    return ci.is_array() && ci[0].get<double>() <= value + 1e-12 &&
           value <= ci[1].get<double>() + 1e-12;
  };
  for (size_t r = 0; r < results["rows"].size(); ++r) {
    for (const auto& [group, g] : results["rows"][r]["groups"].items()) {
      const std::string metric = g["metric"].get<std::string>();
      ASSERT_TRUE(g.contains("metric_ci95")) << r << " " << group;
      ASSERT_TRUE(g.contains("retention_ci95")) << r << " " << group;
      EXPECT_TRUE(contains(g["metric_ci95"], g["metrics"][metric].get<double>()))
          << r << " " << group << " " << g["metric_ci95"];
      // Null only where the baseline can resample to 0 (a weak tiny model).
      if (!g["retention_ci95"].is_null()) {
        EXPECT_TRUE(contains(g["retention_ci95"], g["retention"][metric].get<double>()))
            << r << " " << group << " " << g["retention_ci95"];
      }
      EXPECT_GT(g["encoder_linear"]["dense_fp32_bytes"].get<int64_t>(), 0);
    }
  }
  // Paired: the baseline against itself resamples to exactly 1 every time.
  EXPECT_EQ(dense["groups"]["genre"]["retention_ci95"], Json::array({1.0, 1.0}));
  EXPECT_TRUE(results["rows"][0]["groups"]["genre"]["majority_rate"].is_number());
  EXPECT_EQ(results["rows"][2]["groups"]["qa"]["fp32_row"], "50%");
  // 50% sparse: 4 B per weight dense vs 0.5 + 0.125 B sparse INT8, about 6.4x.
  EXPECT_NEAR(results["rows"][1]["groups"]["qa"]["encoder_linear"]["ratio"].get<double>(), 6.4,
              0.3);
  std::ifstream md_file(out + "/results.md");
  std::stringstream md;
  md << md_file.rdbuf();
  EXPECT_NE(md.str().find("## What this run shows"), std::string::npos);
  EXPECT_NE(md.str().find("50% + QAT (INT8), qa: F1 "), std::string::npos) << md.str();
  EXPECT_NE(md.str().find("for its fp32 row 50%"), std::string::npos) << md.str();
  EXPECT_NE(md.str().find("50%, qa (50.0% sparse): F1 retention"), std::string::npos) << md.str();
  EXPECT_NE(md.str().find("paper's \"40x\" compression counts BERT-Large's encoder"),
            std::string::npos);
  EXPECT_EQ(results["what_this_run_shows"].get<std::string>().empty(), false);
  std::ifstream retention_svg(out + "/plots/retention_vs_sparsity.svg");
  std::stringstream retention_text;
  retention_text << retention_svg.rdbuf();
  EXPECT_NE(retention_text.str().find("error-bar"), std::string::npos);

  // An older run without per-example scores: the report still builds, without intervals there.
  fs::remove(out + "/qa_50/eval_scores.json");
  absl::StatusOr<ReportFiles> old = WriteReport(recipe, out, /*progress=*/false);
  ASSERT_TRUE(old.ok()) << old.status();
  const Json old_results = ReadJson(old->results_json);
  EXPECT_TRUE(old_results["rows"][1]["groups"]["qa"]["retention_ci95"].is_null());
  EXPECT_TRUE(old_results["rows"][1]["groups"]["qa"]["metric_ci95"].is_null());

  // A result.json field of another type is a one-line error, not an abort.
  const std::string qa_result = out + "/qa_50/result.json";
  const Json good = ReadJson(qa_result);
  Json bad = good;
  bad["seconds"] = "x";
  std::ofstream(qa_result) << bad.dump();
  absl::StatusOr<ReportFiles> malformed = WriteReport(recipe, out, /*progress=*/false);
  ASSERT_FALSE(malformed.ok());
  EXPECT_NE(malformed.status().message().find(out + ": a stage's result.json"), std::string::npos)
      << malformed.status();
  std::ofstream(qa_result) << good.dump(2);

  // Interrupted after qa_50: the finished stages are skipped, the rest run again; a
  // result.json with a field of the wrong type is a stage to run again, not an abort.
  fs::remove(out + "/qa_50_int8/result.json");
  std::ofstream(out + "/genre_dense/result.json") << R"({"name": "genre_dense", "seconds": "x"})";
  const auto int8_time = fs::last_write_time(out + "/qa_50/model/model.safetensors");
  options.resume = true;
  absl::StatusOr<RunSummary> resumed = RunRecipe(recipe, options);
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  for (size_t i = 0; i < 4; ++i) EXPECT_TRUE(resumed->stages[i].skipped) << i;
  EXPECT_FALSE(resumed->stages[4].skipped);
  EXPECT_FALSE(resumed->stages[5].skipped);
  EXPECT_EQ(fs::last_write_time(out + "/qa_50/model/model.safetensors"), int8_time);
  EXPECT_NEAR(resumed->stages[0].sparsity, run->stages[0].sparsity, 1e-12);
  EXPECT_EQ(resumed->stages[2].metrics_after, run->stages[2].metrics_after);
  EXPECT_TRUE(resumed->stages[4].int8);
}

TEST(PipelineTest, DryRunPlansStagesWhoseInputsDoNotExistYet) {
  const std::string out = Dir() + "/dry";
  RunOptions options;
  options.dry_run = true;
  options.progress = false;
  absl::StatusOr<RunSummary> plan = RunRecipe(TinyRecipe(out), options);
  ASSERT_TRUE(plan.ok()) << plan.status();
  const std::string& text = plan->plan;
  EXPECT_NE(text.find("stage 1/6 teacher"), std::string::npos) << text;
  EXPECT_NE(text.find("stage 5/6 qa_50_int8"), std::string::npos) << text;
  EXPECT_NE(text.find("sparsity (zhu_gupta) at step 0: 0.000;"), std::string::npos) << text;
  EXPECT_NE(text.find("4: 0.500;"), std::string::npos) << text;
  EXPECT_NE(text.find("rewound 2 times"), std::string::npos) << text;
  EXPECT_NE(text.find("quantization prepares 13 Linears"), std::string::npos) << text;
  EXPECT_NE(text.find("pruning selects 12 layers"), std::string::npos) << text;
  EXPECT_NE(text.find("newly initialised: qa_outputs.weight, qa_outputs.bias"), std::string::npos)
      << text;
  EXPECT_FALSE(fs::exists(out + "/teacher/result.json"));
}

TEST(PipelineTest, ErrorsNameTheStage) {
  Recipe recipe = TinyRecipe(Dir() + "/bad");
  recipe.stages[1].model.from_stage = "nonexistent";
  RunOptions options;
  options.progress = false;
  absl::StatusOr<RunSummary> run = RunRecipe(recipe, options);
  ASSERT_FALSE(run.ok());
  EXPECT_NE(run.status().message().find("from_stage 'nonexistent'"), std::string::npos)
      << run.status();

  recipe = TinyRecipe(Dir() + "/bad2");
  recipe.stages[1].shots[0].components[1].distillation.logit_names = {"no_such_logits"};
  options.dry_run = true;
  run = RunRecipe(recipe, options);
  ASSERT_FALSE(run.ok());
  EXPECT_NE(run.status().message().find("no_such_logits"), std::string::npos) << run.status();
}

}  // namespace
}  // namespace recipes
