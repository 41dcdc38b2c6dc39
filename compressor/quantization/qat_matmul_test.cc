// Quantized attention matmuls (QuantizationConfig::quantize_attention_matmuls) on a tiny
// BERT: off by default, small error when on, QAT gradients, component calibration, save /
// load of the frozen qparams, and the ONNX exporter's refusal.
#include <cmath>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/utils.h>

#include "layers/linear.h"
#include "layers/matmul.h"
#include "compressor/quantization/convert.h"
#include "compressor/quantization/int8_io.h"
#include "compressor/quantization/qat.h"
#include "compressor/quantization/qscheme.h"
#include "models/auto_model.h"
#include "models/test_config.h"

namespace {

using compressor::QuantizationConfig;
using compressor::QuantizedMatMuls;
using compressor::QuantizedModules;

std::shared_ptr<models::PreTrainedModel> TinyBert(const std::string& arch, uint64_t seed = 0) {
  torch::manual_seed(seed);
  models::BertConfig config = models::TinyTestConfig(64, 32);
  if (arch.rfind("DistilBert", 0) == 0) config.model_type = "distilbert";
  auto model = *models::CreateModel(config, arch);
  model->eval();
  return model;
}

models::ModelInput Input(uint64_t seed, int64_t batch = 2) {
  torch::manual_seed(seed);
  models::ModelInput input;
  input.input_ids = at::randint(1, 64, {batch, 12}, at::kLong);
  input.attention_mask = at::ones({batch, 12}, at::kLong);
  input.attention_mask.index_put_({0, at::indexing::Slice(9, at::indexing::None)}, 0);
  return input;
}

// Static PTQ (minmax) of `model` with `config`, calibrated on 4 batches, frozen.
void Calibrate(models::PreTrainedModel& model, const QuantizationConfig& config) {
  ASSERT_TRUE(compressor::PrepareModel(model, config).ok());
  for (auto& [name, module] : QuantizedModules(model)) module->set_calibrating(true);
  for (auto& [name, module] : QuantizedMatMuls(model)) module->set_calibrating(true);
  torch::NoGradGuard no_grad;
  for (int i = 0; i < 4; ++i) model.forward(Input(10 + i, 4));
  for (auto& [name, module] : QuantizedModules(model)) module->Freeze();
  for (auto& [name, module] : QuantizedMatMuls(model)) module->Freeze();
}

double RelativeError(const at::Tensor& a, const at::Tensor& b) {
  return ((a - b).norm() / b.norm()).item<double>();
}

TEST(QatMatMulTest, ModelsRouteAttentionThroughParameterFreeMatMuls) {
  for (const char* arch : {"BertForQuestionAnswering", "DistilBertForQuestionAnswering"}) {
    auto model = TinyBert(arch);
    int matmuls = 0;
    for (const auto& item : model->named_modules()) {
      if (item.value()->as<layers::MatMulImpl>() != nullptr) {
        ++matmuls;
        const std::string leaf = item.key().substr(item.key().rfind('.') + 1);
        EXPECT_TRUE(leaf == "matmul" || leaf == "matmul_1") << item.key();
      }
    }
    EXPECT_EQ(matmuls, 2 * 2) << arch;
    for (const auto& item : model->named_parameters()) {
      EXPECT_EQ(item.key().find("matmul"), std::string::npos) << item.key();
    }
  }
}

TEST(QatMatMulTest, OffByDefaultLeavesAttentionFp32) {
  auto quantized = TinyBert("BertForQuestionAnswering");
  QuantizationConfig config;
  config.approach = "post_training_static_quant";
  config.activation_observer = "minmax";
  EXPECT_FALSE(config.quantize_attention_matmuls);
  Calibrate(*quantized, config);
  EXPECT_TRUE(QuantizedMatMuls(*quantized).empty());
  // The MatMul children are still kernel-less layers::MatMuls, i.e. exactly at::matmul
  // (layers/matmul_test.cc; //models:conformance_test checks the models to 1e-5).
  int matmuls = 0;
  for (const auto& item : quantized->named_modules()) {
    matmuls += item.value()->as<layers::MatMulImpl>() != nullptr;
  }
  EXPECT_EQ(matmuls, 4);
}

TEST(QatMatMulTest, StaticQuantizationOfAttentionMatMulsIsCloseToFp32) {
  auto fp32 = TinyBert("BertForQuestionAnswering");
  auto linears_only = TinyBert("BertForQuestionAnswering");
  auto with_matmuls = TinyBert("BertForQuestionAnswering");
  QuantizationConfig config;
  config.approach = "post_training_static_quant";
  config.activation_observer = "minmax";
  Calibrate(*linears_only, config);
  config.quantize_attention_matmuls = true;
  Calibrate(*with_matmuls, config);
  const auto matmuls = QuantizedMatMuls(*with_matmuls);
  ASSERT_EQ(matmuls.size(), 4u);
  EXPECT_EQ(matmuls[0].first, "bert.encoder.layer.0.attention.self.matmul");
  EXPECT_EQ(matmuls[1].first, "bert.encoder.layer.0.attention.self.matmul_1");
  torch::NoGradGuard no_grad;
  const models::ModelInput input = Input(1);
  const at::Tensor want = fp32->forward(input).start_logits;
  const at::Tensor base = linears_only->forward(input).start_logits;
  const at::Tensor got = with_matmuls->forward(input).start_logits;
  const double base_err = RelativeError(base, want), err = RelativeError(got, want);
  std::cout << "relative error vs fp32: Linears only " << base_err << ", + attention matmuls "
            << err << "\n";
  EXPECT_FALSE(at::equal(got, base));  // The matmul inputs really are quantized...
  EXPECT_LT(err, 0.05);                // ...and 8 bits keep the logits close.
  EXPECT_LT(err, base_err + 0.03);
}

TEST(QatMatMulTest, QatGradientsFlowThroughFakeQuantizedInputs) {
  auto model = TinyBert("BertForQuestionAnswering");
  QuantizationConfig config;  // QAT, moving-average observers.
  config.quantize_attention_matmuls = true;
  ASSERT_TRUE(compressor::PrepareModel(*model, config).ok());
  ASSERT_EQ(QuantizedMatMuls(*model).size(), 4u);
  model->train();
  const models::ModelInput input = Input(2);
  const auto out = model->forward(input);
  (out.start_logits.square().sum() + out.end_logits.square().sum()).backward();
  // query and key reach the loss only through the QK^T matmul: their gradients are the
  // straight-through estimator's.
  for (const auto& item : model->named_parameters()) {
    if (item.key().find("attention.self.query.weight") == std::string::npos &&
        item.key().find("attention.self.key.weight") == std::string::npos) {
      continue;
    }
    ASSERT_TRUE(item.value().grad().defined()) << item.key();
    EXPECT_GT(item.value().grad().abs().sum().item<double>(), 0.0) << item.key();
  }
  for (const auto& [name, module] : QuantizedMatMuls(*model)) {
    EXPECT_TRUE(module->observed()) << name;
  }

  // STE on a single module: gradients of matmul(fq(a), fq(b)) pass through unchanged.
  compressor::QuantizedLinearOptions options;
  options.activation_observer = "minmax";
  layers::MatMul mm;
  auto kernel = std::make_shared<compressor::FakeQuantMatMulKernel>(options);
  mm->set_kernel(kernel);
  mm->train();
  at::Tensor a = at::randn({3, 4}).requires_grad_(), b = at::randn({4, 5}).requires_grad_();
  mm->forward(a, b).sum().backward();
  const at::Tensor fa = compressor::FakeQuantize(a.detach(), kernel->input_qparams(0), options.activation_scheme);
  const at::Tensor fb = compressor::FakeQuantize(b.detach(), kernel->input_qparams(1), options.activation_scheme);
  EXPECT_TRUE(at::allclose(a.grad(), at::ones({3, 5}).matmul(fb.t())));
  EXPECT_TRUE(at::allclose(b.grad(), fa.t().matmul(at::ones({3, 5}))));
}

TEST(QatMatMulTest, SaveLoadRestoresMatMulQParamsWithInt8Linears) {
  auto model = TinyBert("BertForQuestionAnswering");
  QuantizationConfig config;
  config.approach = "post_training_static_quant";
  config.activation_observer = "minmax";
  config.quantize_attention_matmuls = true;
  Calibrate(*model, config);
  ASSERT_TRUE(compressor::ConvertToInt8(*model).ok());
  EXPECT_EQ(QuantizedMatMuls(*model).size(), 4u);  // Conversion keeps them fake-quant.
  const models::ModelInput input = Input(3);
  torch::NoGradGuard no_grad;
  const auto expected = model->forward(input);

  const std::string path =
      (std::filesystem::path(testing::TempDir()) / "matmul_int8.safetensors").string();
  ASSERT_TRUE(compressor::SaveQuantizedState(*model, path).ok());
  auto fresh = TinyBert("BertForQuestionAnswering", /*seed=*/99);
  auto loaded = compressor::LoadQuantizedState(*fresh, path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const auto restored = QuantizedMatMuls(*fresh);
  const auto original = QuantizedMatMuls(*model);
  ASSERT_EQ(restored.size(), 4u);
  for (size_t i = 0; i < restored.size(); ++i) {
    EXPECT_EQ(restored[i].first, original[i].first);
    for (int input_index = 0; input_index < 2; ++input_index) {
      EXPECT_TRUE(at::equal(restored[i].second->input_qparams(input_index).scale,
                            original[i].second->input_qparams(input_index).scale));
      EXPECT_TRUE(at::equal(restored[i].second->input_qparams(input_index).zero_point,
                            original[i].second->input_qparams(input_index).zero_point));
    }
  }
  const auto actual = fresh->forward(input);
  EXPECT_TRUE(at::equal(actual.start_logits, expected.start_logits));
  EXPECT_TRUE(at::equal(actual.end_logits, expected.end_logits));

  // A file with matmul metadata cannot be loaded into a model without MatMul children there.
  auto other = TinyBert("BertForQuestionAnswering");
  ASSERT_TRUE(compressor::LoadQuantizedState(*other, path).ok());
  auto again = compressor::LoadQuantizedState(*other, path);  // Now QuantizedMatMuls.
  ASSERT_FALSE(again.ok());
  EXPECT_NE(std::string(again.status().message()).find("is not a"), std::string::npos)
      << again.status();
}

TEST(QatMatMulTest, UnfrozenMatMulCannotBeSaved) {
  auto model = TinyBert("BertForQuestionAnswering");
  QuantizationConfig config;
  config.quantize_attention_matmuls = true;
  ASSERT_TRUE(compressor::PrepareModel(*model, config).ok());
  const std::string path =
      (std::filesystem::path(testing::TempDir()) / "unfrozen.safetensors").string();
  const absl::Status status = compressor::SaveQuantizedState(*model, path);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(std::string(status.message()).find("is not frozen"), std::string::npos) << status;
}

TEST(QatMatMulTest, OptionWithoutMatMulsIsAnError) {
  class Mlp : public torch::nn::Module {
   public:
    Mlp() { register_module("fc", layers::Linear(4, 4)); }
  };
  auto mlp = std::make_shared<Mlp>();
  QuantizationConfig config;
  config.quantize_attention_matmuls = true;
  auto prepared = compressor::PrepareModel(*mlp, config);
  ASSERT_FALSE(prepared.ok());
  EXPECT_NE(std::string(prepared.status().message()).find("quantize_attention_matmuls"),
            std::string::npos);
  EXPECT_TRUE(QuantizedModules(*mlp).empty());  // All or nothing: the Linear was reverted.
}

}  // namespace
