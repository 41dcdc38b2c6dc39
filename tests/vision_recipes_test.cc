// End to end: the quick profile of both vision recipes (dense ResNet on Fashion-MNIST ->
// "prune then PTQ" and "QAT during pruning" -> oneDNN INT8), on a subset so it runs in a
// few minutes on 2 cores. Checks the reports, the exact sparsity of the pruned convolutions
// in the INT8 model, its size, and that INT8 inference keeps the pruned model's accuracy.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "recipes/vision/vision_recipes.h"

namespace recipes {
namespace {

std::string TempDir() {
  const char* dir = std::getenv("TEST_TMPDIR");
  return dir != nullptr ? dir : "/tmp";
}

VisionRecipeConfig QuickConfig(const std::string& name) {
  VisionRecipeConfig config;
  config.ApplyQuick();
  config.train_limit = 3072;
  config.test_limit = 500;
  config.latency_iterations = 3;
  config.latency_batch = 16;
  config.model_preset = "resnet10-w8";
  config.dense_learning_rate = 3e-3;
  config.prune_learning_rate = 1e-3;
  config.output_dir = TempDir() + "/" + name;
  return config;
}

TEST(VisionRecipesTest, QuickProfileOfBothRecipes) {
  if (!std::ifstream(QuickConfig("x").data_dir + "/train-images-idx3-ubyte.gz").good()) {
    GTEST_SKIP() << "dataset-fashion-mnist not installed (tools/install_deps.sh)";
  }
  absl::StatusOr<VisionRecipeResult> dense = RunVisionRecipe("dense", QuickConfig("dense"));
  ASSERT_TRUE(dense.ok()) << dense.status();
  EXPECT_GT(dense->dense.accuracy, 0.5);  // 10 classes: chance is 0.1.
  const std::string dense_model = TempDir() + "/dense/dense_model.safetensors";

  for (const std::string recipe : {"prune_then_ptq", "qat_during_pruning"}) {
    VisionRecipeConfig config = QuickConfig(recipe);
    config.dense_model = dense_model;
    absl::StatusOr<VisionRecipeResult> result = RunVisionRecipe(recipe, config);
    ASSERT_TRUE(result.ok()) << recipe << ": " << result.status();
    std::cout << FormatResult(*result);
    EXPECT_DOUBLE_EQ(result->dense.accuracy, dense->dense.accuracy) << recipe;
    ASSERT_TRUE(result->has_int8);
    // Local unstructured pruning to 50% of every pruned conv, kept exactly through BatchNorm
    // folding and INT8 conversion (int8 zeros are counted from the converted weights).
    EXPECT_NEAR(result->pruned_layers_sparsity, 0.5, 0.005) << recipe;
    EXPECT_GT(result->int8.sparsity, 0.4) << recipe;
    EXPECT_GT(double(result->dense.size_bytes) / double(result->int8.size_bytes), 3.5) << recipe;
    EXPECT_GT(result->int8.accuracy, 0.5) << recipe;
    if (result->has_pruned_fp32) {
      // Static INT8 of the pruned fp32 model loses little.
      EXPECT_GT(result->int8.accuracy, result->pruned_fp32.accuracy - 0.03) << recipe;
    }
    std::ifstream in(result->json_path);
    ASSERT_TRUE(in.good()) << result->json_path;
    const nlohmann::json json = nlohmann::json::parse(in);
    EXPECT_EQ(json.at("recipe"), recipe);
    EXPECT_DOUBLE_EQ(json.at("int8").at("accuracy").get<double>(), result->int8.accuracy);
    EXPECT_TRUE(json.contains("speedup_batch"));
    EXPECT_TRUE(std::ifstream(result->markdown_path).good());
  }
}

TEST(VisionRecipesTest, BadConfigsAreOneLineErrors) {
  VisionRecipeConfig config = QuickConfig("bad");
  config.target_sparsity = 1.5;
  EXPECT_EQ(RunVisionRecipe("prune_then_ptq", config).status().message(),
            "vision recipe: target_sparsity = 1.5 must be in [0, 1)");
  config = QuickConfig("bad");
  config.data_dir = TempDir() + "/no_such_dir";
  const absl::Status status = RunVisionRecipe("dense", config).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_NE(status.message().find("no_such_dir"), absl::string_view::npos);
  EXPECT_EQ(RunVisionRecipe("distill", QuickConfig("bad")).status().code(),
            absl::StatusCode::kInvalidArgument);
  config = QuickConfig("bad");
  config.dense_model = TempDir() + "/missing.safetensors";
  EXPECT_NE(RunVisionRecipe("dense", config).status().message().find("missing.safetensors"),
            absl::string_view::npos);
}

}  // namespace
}  // namespace recipes
