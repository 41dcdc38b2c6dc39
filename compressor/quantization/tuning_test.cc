// Accuracy-aware tuning on a small MLP whose fc2 is destroyed by per-tensor INT8 weights.
#include "compressor/quantization/tuning.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>
#include <torch/utils.h>

#include "base/unary_module.h"
#include "compressor/quantization/convert.h"
#include "compressor/quantization/qat.h"
#include "layers/linear.h"

namespace {

using compressor::AccuracyCriterion;
using compressor::TuneQuantization;
using compressor::TuningConfig;
using compressor::TuningResult;

class Mlp : public torch::nn::Module {
 public:
  Mlp() {
    register_module("fc1", layers::Linear(8, 32));
    register_module("fc2", layers::Linear(32, 32));
    register_module("fc3", layers::Linear(32, 32));
    register_module("head", layers::Linear(32, 4));
  }
  at::Tensor forward(const at::Tensor& x) {
    at::Tensor h = at::relu(base::ForwardChild(*this, "fc1", x));
    h = at::relu(base::ForwardChild(*this, "fc2", h));
    h = at::relu(base::ForwardChild(*this, "fc3", h));
    return base::ForwardChild(*this, "head", h);
  }
};

// fc1's unit 0 is always 0 after the relu; fc2 reads it with a huge weight, which changes
// nothing in fp32 but makes fc2's per-tensor INT8 scale round every other weight to 0.
std::shared_ptr<torch::nn::Module> MakeMlp() {
  torch::manual_seed(0);
  auto model = std::make_shared<Mlp>();
  torch::NoGradGuard no_grad;
  auto fc1 = model->named_children()["fc1"]->as<layers::Linear>();
  fc1->weight[0].zero_();
  fc1->bias[0].fill_(-1.0);
  auto fc2 = model->named_children()["fc2"]->as<layers::Linear>();
  fc2->weight[3][0].fill_(1000.0);
  return model;
}

at::Tensor Data(int64_t seed) {
  torch::manual_seed(seed);
  return at::randn({64, 8});
}

absl::Status Calibrate(torch::nn::Module& model) {
  for (int64_t i = 0; i < 4; ++i) static_cast<Mlp&>(model).forward(Data(100 + i));
  return absl::OkStatus();
}

// Negative MSE to the fp32 model's outputs on fixed data (higher is better; fp32 gives 0).
absl::StatusOr<double> Evaluate(torch::nn::Module& model) {
  static const at::Tensor reference = [] {
    torch::NoGradGuard no_grad;
    auto fp32 = MakeMlp();
    return static_cast<Mlp&>(*fp32).forward(Data(7));
  }();
  const at::Tensor out = static_cast<Mlp&>(model).forward(Data(7));
  return -(out - reference).pow(2).mean().item<double>();
}

TuningConfig Config(double tolerable_loss) {
  TuningConfig config;
  config.criterion.type = "absolute";
  config.criterion.tolerable_loss = tolerable_loss;
  return config;
}

std::vector<std::string> FallbackOrder(const TuningResult& result) {
  std::vector<std::string> names;
  for (const auto& [name, value] : result.sensitivities) names.push_back(name);
  return names;
}

TEST(TuningTest, FallsBackTheSensitiveLayerAndMeetsTheCriterion) {
  // Measure the all-INT8 and fc2-fp32 losses once with a criterion nothing meets.
  TuningConfig probe = Config(0.0);
  probe.max_trials = 2;
  auto measured = TuneQuantization(MakeMlp, Calibrate, Evaluate, probe);
  ASSERT_TRUE(measured.ok()) << measured.status();
  ASSERT_EQ(measured->history.size(), 2u);
  const double all_int8_loss = -measured->history[0].metric;
  const double fc2_fp32_loss = -measured->history[1].metric;
  std::cout << "loss all int8 " << all_int8_loss << ", fc2 fp32 " << fc2_fp32_loss << "\n";
  for (const auto& [name, mse] : measured->sensitivities) {
    std::cout << "sensitivity " << name << " " << mse << "\n";
  }
  ASSERT_GT(all_int8_loss, 100 * fc2_fp32_loss);
  ASSERT_EQ(measured->sensitivities.size(), 4u);
  EXPECT_EQ(measured->sensitivities[0].first, "fc2");
  EXPECT_GT(measured->sensitivities[0].second, 100 * measured->sensitivities[1].second);

  // A criterion between the two: trial 1 misses it, trial 2 (fc2 fp32) meets it.
  const double tolerance = std::sqrt(all_int8_loss * fc2_fp32_loss);
  auto result = TuneQuantization(MakeMlp, Calibrate, Evaluate, Config(tolerance));
  ASSERT_TRUE(result.ok()) << result.status();
  std::cout << result->summary << "\n";
  EXPECT_TRUE(result->criterion_met);
  EXPECT_EQ(result->baseline_metric, 0.0);
  ASSERT_EQ(result->history.size(), 2u);
  EXPECT_TRUE(result->history[0].fp32_layers.empty());
  EXPECT_FALSE(result->history[0].met);
  EXPECT_EQ(result->history[1].index, 2);
  EXPECT_EQ(result->history[1].fp32_layers, std::vector<std::string>{"fc2"});
  EXPECT_TRUE(result->history[1].met);
  EXPECT_EQ(result->fp32_layers, std::vector<std::string>{"fc2"});
  EXPECT_EQ(result->best_trial, 2);
  EXPECT_EQ(result->best_metric, result->history[1].metric);
  EXPECT_EQ(result->summary.find("no configuration"), std::string::npos);
  // The best model is INT8 except fc2, and evaluates to best_metric again.
  ASSERT_NE(result->best_model, nullptr);
  std::vector<std::string> int8;
  for (const auto& [name, module] : compressor::Int8Modules(*result->best_model)) {
    int8.push_back(name);
  }
  EXPECT_EQ(int8, (std::vector<std::string>{"fc1", "fc3", "head"}));
  EXPECT_NE(result->best_model->named_children()["fc2"]->as<layers::Linear>(), nullptr);
  torch::NoGradGuard no_grad;
  EXPECT_DOUBLE_EQ(*Evaluate(*result->best_model), result->best_metric);
}

TEST(TuningTest, ImpossibleCriterionRunsMaxTrialsAndKeepsTheBestModel) {
  TuningConfig config = Config(0.0);  // Any INT8 error misses it.
  config.max_trials = 3;
  config.history_path = ::testing::TempDir() + "/tuning_history.jsonl";
  auto result = TuneQuantization(MakeMlp, Calibrate, Evaluate, config);
  ASSERT_TRUE(result.ok()) << result.status();
  std::cout << result->summary << "\n";
  EXPECT_FALSE(result->criterion_met);
  EXPECT_NE(result->summary.find("no configuration met the accuracy criterion"),
            std::string::npos);
  ASSERT_EQ(result->history.size(), 3u);
  const std::vector<std::string> order = FallbackOrder(*result);
  ASSERT_EQ(order.size(), 4u);
  double best = result->history[0].metric;
  for (size_t i = 0; i < result->history.size(); ++i) {
    const auto& trial = result->history[i];
    EXPECT_EQ(trial.index, int64_t(i + 1));
    EXPECT_FALSE(trial.met);
    EXPECT_EQ(trial.fp32_layers, std::vector<std::string>(order.begin(), order.begin() + i));
    EXPECT_GE(trial.seconds, 0.0);
    best = std::max(best, trial.metric);
  }
  EXPECT_EQ(result->history[1].fp32_layers, std::vector<std::string>{"fc2"});
  ASSERT_NE(result->best_model, nullptr);
  EXPECT_EQ(result->best_metric, best);
  EXPECT_EQ(result->fp32_layers, result->history[result->best_trial - 1].fp32_layers);
  EXPECT_FALSE(compressor::Int8Modules(*result->best_model).empty());

  // The history file: one JSON object per trial.
  std::ifstream in(config.history_path);
  std::string line;
  size_t lines = 0;
  while (std::getline(in, line)) {
    const nlohmann::json j = nlohmann::json::parse(line);  // Throws on invalid JSON.
    ASSERT_LT(lines, result->history.size());
    const auto& trial = result->history[lines];
    EXPECT_EQ(j.at("trial").get<int64_t>(), trial.index);
    EXPECT_EQ(j.at("fp32_layers").get<std::vector<std::string>>(), trial.fp32_layers);
    EXPECT_DOUBLE_EQ(j.at("metric").get<double>(), trial.metric);
    EXPECT_EQ(j.at("criterion_met").get<bool>(), trial.met);
    EXPECT_TRUE(j.contains("seconds"));
    ++lines;
  }
  EXPECT_EQ(lines, result->history.size());
  std::remove(config.history_path.c_str());
}

TEST(TuningTest, StopsWhenOnlyOneLinearIsLeftQuantized) {
  TuningConfig config = Config(0.0);
  config.max_trials = 10;
  auto result = TuneQuantization(MakeMlp, Calibrate, Evaluate, config);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_FALSE(result->criterion_met);
  EXPECT_EQ(result->history.size(), 4u);  // 0, 1, 2, 3 of the 4 Linears fp32.
  EXPECT_EQ(result->history.back().fp32_layers.size(), 3u);
}

TEST(TuningTest, RelativeAndAbsoluteCriteria) {
  AccuracyCriterion relative;  // higher is better, 1% relative.
  EXPECT_TRUE(relative.Met(0.80, 0.793));
  EXPECT_FALSE(relative.Met(0.80, 0.791));
  EXPECT_TRUE(relative.Met(0.80, 0.85));
  EXPECT_NEAR(relative.Loss(0.80, 0.79), 0.01, 1e-12);
  // Relative to |baseline|: a negative baseline (e.g. -loss) still tolerates 1%.
  EXPECT_TRUE(relative.Met(-2.0, -2.019));
  EXPECT_FALSE(relative.Met(-2.0, -2.021));

  AccuracyCriterion absolute;
  absolute.type = "absolute";
  EXPECT_TRUE(absolute.Met(0.80, 0.791));   // loss 0.009 <= 0.01 (relative would fail).
  EXPECT_FALSE(absolute.Met(0.80, 0.789));

  AccuracyCriterion lower = relative;  // e.g. perplexity.
  lower.higher_is_better = false;
  EXPECT_TRUE(lower.Met(10.0, 10.09));
  EXPECT_FALSE(lower.Met(10.0, 10.11));
  EXPECT_TRUE(lower.Met(10.0, 9.0));
  EXPECT_TRUE(lower.Better(9.0, 10.0));
  EXPECT_FALSE(relative.Better(9.0, 10.0));
  EXPECT_FALSE(relative.Met(0.8, std::nan("")));

  AccuracyCriterion bad;
  bad.type = "percent";
  EXPECT_FALSE(bad.Validate().ok());
  bad.type = "absolute";
  bad.tolerable_loss = -1;
  EXPECT_FALSE(bad.Validate().ok());
}

TEST(TuningTest, InvalidConfigsAreErrors) {
  TuningConfig config;
  config.quantization.approach = "quant_aware_training";
  EXPECT_FALSE(TuneQuantization(MakeMlp, Calibrate, Evaluate, config).ok());
  config = TuningConfig{};
  config.max_trials = 0;
  EXPECT_FALSE(TuneQuantization(MakeMlp, Calibrate, Evaluate, config).ok());
  config = TuningConfig{};
  config.sensitivity = "hessian";
  EXPECT_FALSE(TuneQuantization(MakeMlp, Calibrate, Evaluate, config).ok());
  config = TuningConfig{};
  auto failing = [](torch::nn::Module&) -> absl::StatusOr<double> {
    return absl::UnavailableError("no eval data");
  };
  auto status = TuneQuantization(MakeMlp, Calibrate, failing, config).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
}

}  // namespace
