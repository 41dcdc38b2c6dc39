// INT8 conversion of frozen fake-quant models: the converted modules run the oneDNN kernel
// with the frozen qparams and agree with the fake-quant model up to fp32 epilogue rounding.
#include "compressor/quantization/convert.h"

#include <cmath>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>
#include <torch/utils.h>

#include "base/unary_module.h"
#include "compressor/quantization/qat.h"
#include "compressor/quantization/qscheme.h"
#include "kernels/int8_linear.h"
#include "layers/linear.h"
#include "models/auto_model.h"
#include "models/test_config.h"

namespace {

using compressor::ConvertToInt8;
using compressor::Int8Modules;
using compressor::QuantizationConfig;
using compressor::QuantizedModules;

// A model whose Linears are called through the registry, as models/ does.
class Mlp : public torch::nn::Module {
 public:
  Mlp() {
    register_module("fc1", layers::Linear(16, 32));
    register_module("fc2", layers::Linear(32, 32));
    register_module("head", layers::Linear(32, 8));
  }
  at::Tensor forward(const at::Tensor& x) {
    at::Tensor h = at::relu(base::ForwardChild(*this, "fc1", x));
    h = at::relu(base::ForwardChild(*this, "fc2", h));
    return base::ForwardChild(*this, "head", h);
  }
};

// Builds an MLP with half of fc2's weights exactly zero, prepares it with `config`,
// observes a few batches (or calibrates) and freezes it.
std::shared_ptr<Mlp> PreparedMlp(const QuantizationConfig& config, int64_t* fc2_zeros) {
  torch::manual_seed(0);
  auto model = std::make_shared<Mlp>();
  {
    torch::NoGradGuard no_grad;
    auto fc2 = model->named_children()["fc2"]->as<layers::Linear>();
    fc2->weight.mul_(at::rand_like(fc2->weight).gt(0.5));
    if (fc2_zeros) *fc2_zeros = fc2->weight.eq(0).sum().item<int64_t>();
  }
  auto swapped = compressor::PrepareModel(*model, config);
  EXPECT_TRUE(swapped.ok()) << swapped.status();
  const bool calibrate = config.approach == "post_training_static_quant";
  for (const auto& [name, module] : QuantizedModules(*model)) module->set_calibrating(calibrate);
  model->train();
  torch::NoGradGuard no_grad;
  for (int i = 0; i < 8; ++i) model->forward(at::randn({16, 16}));
  for (const auto& [name, module] : QuantizedModules(*model)) module->Freeze();
  model->eval();
  return model;
}

int int8_modules_requantized(const torch::nn::Module& model) {
  int n = 0;
  for (const auto& [name, module] : Int8Modules(model)) n += module->requantizes_output();
  return n;
}

// fp32_bound: max |int8 - fp32| / max |fp32| (quantization error, incl. clipping by ranges
// observed on other batches). Against the fake-quant model: when the head re-quantizes its
// output, at most 2 of its output steps (an fp32 epilogue rounding can flip one rounding
// per layer; measured: 0, bit-identical) and at most 5% of outputs differing; otherwise at
// most 1e-5 relative (measured: <= 1e-7).
void CheckConfig(const QuantizationConfig& config, double fp32_bound) {
  int64_t zeros = 0;
  auto model = PreparedMlp(config, &zeros);
  torch::manual_seed(7);
  const at::Tensor x = at::randn({64, 16});
  // fp32 reference: the same weights without quantization.
  at::Tensor fp32;
  {
    torch::NoGradGuard no_grad;
    auto q = QuantizedModules(*model);
    at::Tensor h = at::relu(at::linear(x, q[0].second->weight, q[0].second->bias));
    h = at::relu(at::linear(h, q[1].second->weight, q[1].second->bias));
    fp32 = at::linear(h, q[2].second->weight, q[2].second->bias);
  }
  at::Tensor fake;
  {
    torch::NoGradGuard no_grad;
    fake = model->forward(x);
  }
  auto head = QuantizedModules(*model)[2].second;
  const double head_step = head->output_observer() != nullptr
                               ? head->output_qparams().scale.item<double>()
                               : 0.0;
  auto converted = ConvertToInt8(*model);
  ASSERT_TRUE(converted.ok()) << converted.status();
  EXPECT_EQ(int8_modules_requantized(*model), head_step > 0 ? 3 : 0);
  EXPECT_EQ(*converted, (std::vector<std::string>{"fc1", "fc2", "head"}));
  EXPECT_TRUE(QuantizedModules(*model).empty());
  auto int8_modules = Int8Modules(*model);
  ASSERT_EQ(int8_modules.size(), 3u);
  for (const auto& [name, module] : int8_modules) {
    EXPECT_TRUE(module->is_int8());
    EXPECT_FALSE(module->impl_info().empty()) << name;
    EXPECT_TRUE(module->parameters().empty()) << name;
  }
  // The model's state shows int8 weights under the old names.
  const auto buffers = model->named_buffers();
  ASSERT_NE(buffers.find("fc2.weight"), nullptr);
  EXPECT_EQ(buffers["fc2.weight"].scalar_type(), at::kChar);
  EXPECT_EQ(model->named_parameters().size(), 0u);
  // Zero weights stay zero: at least the pruned ones (the others may round to 0 too, as in
  // the fake-quant weight, whose zeros match exactly).
  auto fc2 = int8_modules[1].second;
  EXPECT_GE(fc2->zero_weights(), zeros);
  EXPECT_EQ(fc2->weight_numel(), 32 * 32);

  const at::Tensor int8 = model->forward(x);
  const double max_abs = (int8 - fake).abs().max().item<double>();
  const double mismatch = (int8 != fake).to(at::kDouble).mean().item<double>();
  const double ref = fp32.abs().max().item<double>();
  const double fp32_err = (int8 - fp32).abs().max().item<double>() / ref;
  std::cout << config.approach << " " << config.weight.ToString() << ": max |int8 - fq| = "
            << max_abs << " (rel " << max_abs / ref << "), outputs differing " << mismatch
            << ", max |int8 - fp32| / max|fp32| = " << fp32_err << "\n";
  if (head_step > 0) {
    EXPECT_LE(max_abs, 2 * head_step);
    EXPECT_LE(mismatch, 0.05);
  } else {
    EXPECT_LE(max_abs / ref, 1e-5);
  }
  EXPECT_LE(fp32_err, fp32_bound);
}

TEST(ConvertTest, PruneOfaQatPerTensorAgreesWithFakeQuant) {
  QuantizationConfig config;  // int8 symmetric per-tensor weights, uint8 affine, requantized.
  CheckConfig(config, 0.1);  // measured 0.064 (moving-average ranges, 3 requantized outputs)
}

TEST(ConvertTest, IncFxPerChannelAgreesWithFakeQuant) {
  QuantizationConfig config = *QuantizationConfig::Preset("inc_fx");
  CheckConfig(config, 0.1);  // measured 0.066
}

TEST(ConvertTest, StaticCalibrationInt8SymmetricActivations) {
  QuantizationConfig config;
  config.approach = "post_training_static_quant";
  config.activation_observer = "minmax";
  config.activation = compressor::QuantScheme::Int8SymmetricPerTensor();
  CheckConfig(config, 0.03);  // measured 0.014
}

TEST(ConvertTest, DynamicAgreesWithFakeQuant) {
  QuantizationConfig config;
  config.approach = "post_training_dynamic_quant";
  config.outputs_not_requantized = {".*"};
  CheckConfig(config, 0.03);  // measured 0.0076
}

// The converted module re-quantizes its output inside the kernel (oneDNN post-ops); that
// must give exactly the bits of the kernel's fp32 output passed through FakeQuantize with the
// frozen output qparams, as the module computed before the fusion.
TEST(ConvertTest, FusedOutputRequantizationIsBitIdenticalToFakeQuantize) {
  for (const bool int8_activations : {false, true}) {
    QuantizationConfig config;
    config.approach = "post_training_static_quant";
    config.activation_observer = "minmax";
    if (int8_activations) config.activation = compressor::QuantScheme::Int8SymmetricPerTensor();
    auto model = PreparedMlp(config, nullptr);
    std::vector<compressor::QuantParams> output_qparams;
    for (const auto& [name, module] : QuantizedModules(*model)) {
      output_qparams.push_back(module->output_qparams());
    }
    ASSERT_TRUE(ConvertToInt8(*model).ok());
    torch::manual_seed(11);
    const at::Tensor x = at::randn({64, 32}) * 3.0;  // Beyond the calibrated range: clips.
    const auto modules = Int8Modules(*model);
    ASSERT_EQ(modules.size(), 3u);
    for (size_t i = 1; i < modules.size(); ++i) {  // fc2 and head take 32 inputs.
      const auto& module = modules[i].second;
      SCOPED_TRACE(modules[i].first);
      ASSERT_TRUE(module->requantizes_output());
      if (kernels::Int8Linear::CpuIsa().rfind("avx512_core", 0) == 0 &&
          kernels::Int8Linear::CpuIsa() != "avx512_core") {
        EXPECT_TRUE(module->kernel().fused_requantize()) << module->impl_info();
      }
      kernels::Int8LinearParams plain_params = module->params();
      plain_params.requantize_output = false;
      auto plain = kernels::Int8Linear::Create(plain_params);
      ASSERT_TRUE(plain.ok()) << plain.status();
      const at::Tensor expected =
          compressor::FakeQuantize((*plain)->Forward(x), output_qparams[i], config.activation);
      const at::Tensor got = module->forward(x);
      EXPECT_TRUE(at::equal(got, expected)) << (got - expected).abs().max();
    }
  }
}

TEST(ConvertTest, ZeroWeightsStayZeroExactly) {
  int64_t zeros = 0;
  auto model = PreparedMlp(QuantizationConfig{}, &zeros);
  auto q = QuantizedModules(*model)[1].second;
  const at::Tensor pruned = q->weight.detach().eq(0);
  const int64_t fq_zeros = q->FakeQuantizedWeight().detach().eq(0).sum().item<int64_t>();
  ASSERT_TRUE(ConvertToInt8(*model).ok());
  auto fc2 = Int8Modules(*model)[1].second;
  const at::Tensor w = fc2->params().weight_int8;
  EXPECT_TRUE(w.masked_select(pruned).eq(0).all().item<bool>());
  // The sparsity of the int8 weight is that of the fake-quant weight.
  EXPECT_EQ(fc2->zero_weights(), fq_zeros);
  EXPECT_GE(fq_zeros, zeros);
}

TEST(ConvertTest, UnfrozenModuleIsAnErrorNamingItAndNothingChanges) {
  torch::manual_seed(0);
  auto model = std::make_shared<Mlp>();
  ASSERT_TRUE(compressor::PrepareModel(*model, QuantizationConfig{}).ok());
  model->train();
  {
    torch::NoGradGuard no_grad;
    model->forward(at::randn({4, 16}));
  }
  auto q = QuantizedModules(*model);
  q[0].second->Freeze();
  q[2].second->Freeze();  // fc2 is left unfrozen.
  auto converted = ConvertToInt8(*model);
  ASSERT_FALSE(converted.ok());
  EXPECT_NE(std::string(converted.status().message()).find("'fc2'"), std::string::npos)
      << converted.status();
  EXPECT_NE(std::string(converted.status().message()).find("not frozen"), std::string::npos);
  EXPECT_EQ(QuantizedModules(*model).size(), 3u);  // All or nothing.
  EXPECT_TRUE(Int8Modules(*model).empty());
}

TEST(ConvertTest, NoQuantizedLinearAndUnsupportedSchemeAreErrors) {
  Mlp plain;
  EXPECT_FALSE(ConvertToInt8(plain).ok());
  QuantizationConfig config;
  config.approach = "post_training_dynamic_quant";
  config.outputs_not_requantized = {".*"};
  config.activation = compressor::QuantScheme::Int8SymmetricPerTensor();
  auto model = PreparedMlp(config, nullptr);
  auto converted = ConvertToInt8(*model);
  ASSERT_FALSE(converted.ok());
  EXPECT_NE(std::string(converted.status().message()).find("'fc1'"), std::string::npos)
      << converted.status();
  EXPECT_EQ(QuantizedModules(*model).size(), 3u);
}

TEST(ConvertTest, TinyBertQuestionAnswering) {
  torch::manual_seed(0);
  auto model = *models::CreateModel(models::TinyTestConfig(64, 32), "BertForQuestionAnswering");
  QuantizationConfig config;
  config.approach = "post_training_static_quant";
  config.activation_observer = "minmax";
  auto swapped = compressor::PrepareModel(*model, config);
  ASSERT_TRUE(swapped.ok()) << swapped.status();
  auto q = QuantizedModules(*model);
  for (auto& [name, module] : q) module->set_calibrating(true);
  model->eval();
  torch::NoGradGuard no_grad;
  for (int i = 0; i < 4; ++i) {
    models::ModelInput calib;
    calib.input_ids = at::randint(1, 64, {4, 12}, at::kLong);
    model->forward(calib);
  }
  for (auto& [name, module] : q) module->Freeze();
  models::ModelInput input;
  input.input_ids = at::randint(1, 64, {2, 12}, at::kLong);
  const at::Tensor fake = model->forward(input).start_logits;
  auto converted = ConvertToInt8(*model);
  ASSERT_TRUE(converted.ok()) << converted.status();
  EXPECT_EQ(converted->size(), size_t(2 * 6 + 1));
  EXPECT_EQ(Int8Modules(*model).size(), size_t(2 * 6 + 1));
  EXPECT_TRUE(QuantizedModules(*model).empty());
  const at::Tensor int8 = model->forward(input).start_logits;
  const double max_abs = (int8 - fake).abs().max().item<double>();
  const double ref = fake.abs().max().item<double>();
  std::cout << "tiny BERT start_logits: max |int8 - fq| = " << max_abs << " (max |fq| = " << ref
            << ")\n";
  // Measured 1.5e-8 (of 0.16): the integer math is the fake quant's; only fp32 rounding
  // of the epilogue (and of the fp32 ops between Linears) differs.
  EXPECT_LE(max_abs, 1e-3 * ref);
  for (const auto& [name, module] : Int8Modules(*model)) {
    EXPECT_FALSE(module->impl_info().empty()) << name;
  }
}

}  // namespace
