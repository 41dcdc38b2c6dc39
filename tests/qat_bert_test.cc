// Quantization-aware training on a real BERT: every Linear (query/key/value included, which
// INC left in fp32) is swapped for a fake-quant QuantizedLinear that the model actually
// runs, parameter names and tensors are unchanged, and pattern-lock zeros survive QAT steps.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/nn/modules/linear.h>
#include <torch/optim/adamw.h>
#include <torch/utils.h>

#include "compressor/combination.h"
#include "compressor/pruning/pruning.h"
#include "compressor/quantization/convert.h"
#include "compressor/quantization/qat.h"
#include "compressor/quantization/quantization.h"
#include "layers/linear.h"
#include "models/auto_model.h"
#include "models/test_config.h"
#include "models/losses.h"

namespace {

TEST(QatBertTest, EveryLinearIsSwappedAndRuns) {
  torch::manual_seed(0);
  auto model = *models::CreateModel(models::TinyTestConfig(64, 32), "BertForQuestionAnswering");
  model->eval();
  models::ModelInput input;
  input.input_ids = at::randint(1, 64, {2, 12}, at::kLong);
  at::Tensor before;
  {
    torch::NoGradGuard no_grad;
    before = model->forward(input).start_logits;
  }
  std::map<std::string, void*> tensors;
  for (const auto& item : model->named_parameters()) tensors[item.key()] = item.value().data_ptr();
  int64_t linears = 0;
  for (const auto& item : model->named_modules("", false)) {
    if (item.value()->as<layers::Linear>()) ++linears;
  }
  EXPECT_EQ(linears, 2 * 6 + 1);

  compressor::QuantizationConfig config;
  config.approach = "quant_aware_training";
  auto swapped = compressor::PrepareModel(*model, config);
  ASSERT_TRUE(swapped.ok()) << swapped.status();
  EXPECT_EQ(static_cast<int64_t>(swapped->size()), linears);
  EXPECT_EQ(compressor::QuantizedModules(*model).size(), size_t(linears));
  for (const auto& item : model->named_parameters()) {
    ASSERT_TRUE(tensors.count(item.key())) << item.key();
    EXPECT_EQ(tensors[item.key()], item.value().data_ptr()) << item.key();
  }
  model->train();  // Observers see a batch.
  model->forward(input);
  model->eval();
  torch::NoGradGuard no_grad;
  const at::Tensor after = model->forward(input).start_logits;
  // The model runs the fake-quant modules: outputs move, but only by quantization error.
  EXPECT_FALSE(at::equal(before, after));
  EXPECT_LT((before - after).abs().max().item<float>(), 0.1f);
}

TEST(QatBertTest, PatternLockZerosSurviveQat) {
  torch::manual_seed(1);
  auto model = *models::CreateModel(models::TinyTestConfig(64, 32), "BertForQuestionAnswering");
  compressor::PruningConfig oneshot;
  oneshot.target_sparsity = 0.9;
  oneshot.sparsity_decay_type = "oneshot";
  auto pruner = compressor::Pruner::Create(*model, oneshot);
  ASSERT_TRUE(pruner.ok());
  pruner->UpdateMasks(0);
  const int64_t zeros = pruner->Report().zeros;

  compressor::PruningConfig lock;
  lock.pruning_type = "pattern_lock";
  compressor::QuantizationConfig qat;
  qat.approach = "quant_aware_training";
  auto combined = *compressor::Combination::Create(
      {std::make_shared<compressor::Pruning>(lock), std::make_shared<compressor::Quantization>(qat)});
  compressor::TrainState state;
  state.model = model;
  model->train();
  ASSERT_TRUE(combined->on_train_begin(state).ok());
  torch::optim::AdamW optimizer(model->parameters(), torch::optim::AdamWOptions(1e-2));
  state.optimizer = &optimizer;
  models::ModelInput input;
  input.input_ids = at::randint(1, 64, {4, 12}, at::kLong);
  const at::Tensor starts = at::randint(0, 12, {4}, at::kLong);
  for (int step = 0; step < 5; ++step) {
    combined->on_step_begin(state);
    const models::ModelOutput out = model->forward(input);
    models::QuestionAnsweringLoss(out.start_logits, out.end_logits, starts, starts).backward();
    combined->on_before_optimizer_step(state);
    optimizer.step();
    combined->on_after_optimizer_step(state);
    optimizer.zero_grad();
    ++state.step;
  }
  ASSERT_TRUE(combined->on_train_end(state).ok());
  int64_t zeros_after = 0;
  for (const auto& [name, module] : compressor::QuantizedModules(*model)) {
    if (name == "qa_outputs") continue;  // Excluded from pruning by default.
    zeros_after += module->FakeQuantizedWeight().eq(0).sum().item<int64_t>();
  }
  EXPECT_GE(zeros_after, zeros);  // Every pruned weight still quantizes to exactly zero.
  EXPECT_EQ(combined->summaries()[0].values.at("sparsity"), double(zeros) / pruner->Report().numel);
}

// QAT with conversion: on_train_end leaves a BERT whose 13 Linears run as INT8 on oneDNN,
// with the pruned weights exactly zero in the int8 tensors and outputs that follow the
// fake-quant model's.
TEST(QatBertTest, ConvertedModelRunsInt8AndKeepsZeros) {
  torch::manual_seed(2);
  auto model = *models::CreateModel(models::TinyTestConfig(64, 32), "BertForQuestionAnswering");
  compressor::PruningConfig oneshot;
  oneshot.target_sparsity = 0.9;
  oneshot.sparsity_decay_type = "oneshot";
  auto pruner = compressor::Pruner::Create(*model, oneshot);
  pruner->UpdateMasks(0);
  const int64_t zeros = pruner->Report().zeros;
  compressor::QuantizationConfig config;
  config.convert_to_int8 = true;
  compressor::Quantization qat(config);
  compressor::TrainState state;
  state.model = model;
  model->train();
  ASSERT_TRUE(qat.on_train_begin(state).ok());
  models::ModelInput input;
  input.input_ids = at::randint(1, 64, {4, 12}, at::kLong);
  for (int i = 0; i < 3; ++i) model->forward(input);  // Observers see data.
  model->eval();
  at::Tensor fake_quant;
  {
    torch::NoGradGuard no_grad;
    for (const auto& [name, module] : compressor::QuantizedModules(*model)) module->Freeze();
    fake_quant = model->forward(input).start_logits;
  }
  ASSERT_TRUE(qat.on_train_end(state).ok());
  const auto int8 = compressor::Int8Modules(*model);
  EXPECT_EQ(int8.size(), 13u);
  EXPECT_TRUE(compressor::QuantizedModules(*model).empty());
  int64_t int8_zeros = 0;
  for (const auto& [name, module] : int8) {
    if (name != "qa_outputs") int8_zeros += module->zero_weights();
  }
  EXPECT_GE(int8_zeros, zeros);
  EXPECT_EQ(qat.summary().values.at("int8_linears"), 13.0);
  torch::NoGradGuard no_grad;
  const at::Tensor converted = model->forward(input).start_logits;
  EXPECT_LT((converted - fake_quant).abs().max().item<float>(),
            1e-3f * fake_quant.abs().max().item<float>() + 1e-6f);
}

}  // namespace
