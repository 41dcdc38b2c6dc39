// The project's main job end to end at its `quick` profile: recipes/prune_once_for_all.yaml
// (the embedded default) through LoadRecipe and RunRecipe on the local real data, into
// $TEST_TMPDIR. Checks the table is produced, the sparsity targets are met, the INT8 rows
// really run INT8 layers, the metrics are sane, and a resumed run skips finished stages.
//
// The data is what tools/install_deps.sh fetches into <workspace>/data (git-ignored, so not
// a Bazel input); BERT_COMPRESSOR_DATA_DIR points elsewhere.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "recipes/pipeline.h"
#include "recipes/recipe.h"
#include "recipes/stage_model.h"

namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

// The workspace the test was built from: the runfiles copy of the recipe is a symlink into it.
fs::path RecipePath() {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const char* workspace = std::getenv("TEST_WORKSPACE");
  if (srcdir == nullptr || workspace == nullptr) return "recipes/prune_once_for_all.yaml";
  return fs::path(srcdir) / workspace / "recipes/prune_once_for_all.yaml";
}

std::string DataDir() {
  if (const char* dir = std::getenv("BERT_COMPRESSOR_DATA_DIR")) return dir;
  std::error_code error;
  const fs::path recipe = fs::canonical(RecipePath(), error);
  return (recipe.parent_path().parent_path() / "data").string();
}

Json ReadJson(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return Json::parse(text.str());
}

bool Finite(const Json& value) { return value.is_number() && std::isfinite(value.get<double>()); }

class PruneOnceForAllQuickTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const std::string data = DataDir();
    ASSERT_TRUE(fs::exists(fs::path(data) / "cloze_qa/train-v1.1.json"))
        << "no local data under " << data
        << " (run tools/install_deps.sh, or set BERT_COMPRESSOR_DATA_DIR)";
    recipes::RecipeOverrides overrides;
    overrides.profile = "quick";
    overrides.data_dir = data;
    overrides.output_dir = std::string(std::getenv("TEST_TMPDIR")) + "/prune_once_for_all_quick";
    absl::StatusOr<recipes::Recipe> recipe = recipes::LoadRecipe(RecipePath().string(), overrides);
    ASSERT_TRUE(recipe.ok()) << recipe.status();
    recipe_ = new recipes::Recipe(*std::move(recipe));
    recipes::RunOptions options;
    absl::StatusOr<recipes::RunSummary> run = recipes::RunRecipe(*recipe_, options);
    ASSERT_TRUE(run.ok()) << run.status();
    run_ = new recipes::RunSummary(*std::move(run));
  }
  static void TearDownTestSuite() {
    delete recipe_;
    delete run_;
  }
  void SetUp() override {
    ASSERT_NE(recipe_, nullptr);
    ASSERT_NE(run_, nullptr);
  }

  static const recipes::StageResult& Stage(const std::string& name) {
    for (const recipes::StageResult& stage : run_->stages) {
      if (stage.name == name) return stage;
    }
    static const recipes::StageResult missing;
    ADD_FAILURE() << "no stage " << name;
    return missing;
  }

  static recipes::Recipe* recipe_;
  static recipes::RunSummary* run_;
};

recipes::Recipe* PruneOnceForAllQuickTest::recipe_ = nullptr;
recipes::RunSummary* PruneOnceForAllQuickTest::run_ = nullptr;

TEST_F(PruneOnceForAllQuickTest, ProducesTheTableWithEveryRow) {
  ASSERT_FALSE(run_->results_json.empty());
  const Json results = ReadJson(run_->results_json);
  const std::vector<std::string> expected = {"dense",
                                             "85%",
                                             "90%",
                                             "85% + QAT (INT8)",
                                             "90% + QAT (INT8)",
                                             "85% downstream pruning",
                                             "90% downstream pruning"};
  ASSERT_EQ(results["rows"].size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    const Json& row = results["rows"][i];
    EXPECT_EQ(row["name"], expected[i]);
    EXPECT_TRUE(row["groups"].contains("qa")) << expected[i];
    EXPECT_TRUE(row["groups"].contains("genre")) << expected[i];
    if (i < 5) EXPECT_TRUE(row.contains("paper")) << expected[i];
  }
  EXPECT_EQ(results["stages"].size(), recipe_->stages.size());
  EXPECT_TRUE(fs::exists(run_->results_md));
  for (const char* plot : {"sparsity_over_steps.svg", "loss_over_steps.svg",
                           "metric_vs_sparsity.svg", "retention_vs_sparsity.svg"}) {
    EXPECT_TRUE(fs::exists(fs::path(recipe_->output_dir) / "plots" / plot)) << plot;
  }
}

TEST_F(PruneOnceForAllQuickTest, SparsityTargetsAreMet) {
  EXPECT_NEAR(Stage("upstream_85").sparsity, 0.85, 0.005);
  EXPECT_NEAR(Stage("upstream_90").sparsity, 0.90, 0.005);
  EXPECT_LT(Stage("qa_dense").sparsity, 0.01);
  // Pattern lock keeps the upstream zeros through fine-tuning, KD and QAT.
  for (const char* stage : {"qa_85", "qa_85_qat", "genre_85", "genre_85_qat"}) {
    EXPECT_NEAR(Stage(stage).sparsity, 0.85, 0.005) << stage;
  }
  for (const char* stage : {"qa_90", "qa_90_qat", "genre_90", "genre_90_qat"}) {
    EXPECT_NEAR(Stage(stage).sparsity, 0.90, 0.005) << stage;
  }
  // Downstream pruning reaches its target within the stage (end_step is inside the run).
  for (const char* stage : {"qa_gmp_85", "genre_gmp_85"}) {
    EXPECT_NEAR(Stage(stage).sparsity, 0.85, 0.005) << stage;
  }
  for (const char* stage : {"qa_gmp_90", "genre_gmp_90"}) {
    EXPECT_NEAR(Stage(stage).sparsity, 0.90, 0.005) << stage;
  }
}

TEST_F(PruneOnceForAllQuickTest, QatRowsRunInt8Layers) {
  const Json results = ReadJson(run_->results_json);
  for (size_t row = 0; row < results["rows"].size(); ++row) {
    for (const auto& [group, g] : results["rows"][row]["groups"].items()) {
      const bool int8 = row == 3 || row == 4;  // The QAT rows.
      EXPECT_EQ(g["int8"].get<bool>(), int8) << row << " " << group;
      // Every Linear of the QAT models: 6 per layer, plus the head (QA) or pooler +
      // classifier (genre).
      absl::StatusOr<recipes::BuiltModel> model =
          recipes::LoadStageModel(g["model_dir"].get<std::string>());
      ASSERT_TRUE(model.ok()) << model.status();
      const int64_t int8_linears = recipes::CountInt8Linears(*model->model);
      EXPECT_EQ(int8_linears, g["int8_linears"].get<int64_t>());
      if (int8) {
        const int64_t layers = model->model->config().num_hidden_layers;
        EXPECT_EQ(int8_linears, 6 * layers + (group == "qa" ? 1 : 2)) << group;
        EXPECT_TRUE(fs::exists(fs::path(g["model_dir"].get<std::string>()) /
                               recipes::kInt8ModelFile));
        // The INT8 file is smaller than the fp32 one of the same row group's stage 1.
        const Json& fp32 = results["rows"][row - 2]["groups"][group];
        EXPECT_LT(g["model_bytes"].get<int64_t>(), fp32["model_bytes"].get<int64_t>());
      } else {
        EXPECT_EQ(int8_linears, 0);
      }
    }
  }
}

TEST_F(PruneOnceForAllQuickTest, MetricsAreSane) {
  const Json results = ReadJson(run_->results_json);
  for (const Json& row : results["rows"]) {
    const Json& qa = row["groups"]["qa"]["metrics"];
    for (const char* key : {"exact_match", "f1"}) {
      ASSERT_TRUE(Finite(qa[key])) << row["name"] << " " << key;
      EXPECT_GE(qa[key].get<double>(), 0.0);
      EXPECT_LE(qa[key].get<double>(), 100.0);
    }
    EXPECT_GE(qa["f1"].get<double>(), qa["exact_match"].get<double>());
    const Json& genre = row["groups"]["genre"]["metrics"];
    ASSERT_TRUE(Finite(genre["accuracy"])) << row["name"];
    EXPECT_GE(genre["accuracy"].get<double>(), 0.0);
    EXPECT_LE(genre["accuracy"].get<double>(), 1.0);
    for (const char* group : {"qa", "genre"}) {
      EXPECT_GT(row["groups"][group]["latency_ms_p50"].get<double>(), 0.0);
      EXPECT_GT(row["groups"][group]["model_bytes"].get<int64_t>(), 0);
    }
  }
  // Retention is relative to the dense row.
  EXPECT_DOUBLE_EQ(results["rows"][0]["groups"]["genre"]["retention"]["accuracy"].get<double>(),
                   1.0);
  const Json& teacher = results["stages"]["teacher"]["metrics_after"];
  ASSERT_TRUE(Finite(teacher["mlm_loss"]));
  EXPECT_LT(teacher["mlm_loss"].get<double>(),
            results["stages"]["teacher"]["metrics_before"]["mlm_loss"].get<double>());
}

// Runs last (gtest keeps declaration order): it re-runs two stages into the same directory.
TEST_F(PruneOnceForAllQuickTest, ResumeSkipsFinishedStages) {
  const fs::path out = recipe_->output_dir;
  fs::remove(out / "qa_90_qat" / "result.json");
  fs::remove(out / "genre_90_qat" / "result.json");
  const auto teacher_model = fs::last_write_time(out / "teacher/model/model.safetensors");
  recipes::RunOptions options;
  options.resume = true;
  absl::StatusOr<recipes::RunSummary> resumed = recipes::RunRecipe(*recipe_, options);
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  ASSERT_EQ(resumed->stages.size(), recipe_->stages.size());
  for (const recipes::StageResult& stage : resumed->stages) {
    const bool rerun = stage.name == "qa_90_qat" || stage.name == "genre_90_qat";
    EXPECT_EQ(stage.skipped, !rerun) << stage.name;
  }
  EXPECT_EQ(fs::last_write_time(out / "teacher/model/model.safetensors"), teacher_model);
  EXPECT_TRUE(fs::exists(out / "qa_90_qat" / "result.json"));
  const Json results = ReadJson(resumed->results_json);
  EXPECT_EQ(results["rows"].size(), 7u);
  EXPECT_TRUE(results["rows"][4]["groups"]["qa"]["int8"].get<bool>());
}

}  // namespace
