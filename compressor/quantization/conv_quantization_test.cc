// Convolutions in the compressor: BatchNorm folding, pruning masks through folding and
// preparation, QuantizedConv2d, and INT8 conversion against the fake-quant model.
#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/utils.h>

#include "base/unary_module.h"
#include "compressor/pruning/pruner.h"
#include "compressor/quantization/convert_conv.h"
#include "compressor/quantization/fold_bn.h"
#include "compressor/quantization/qat.h"
#include "compressor/quantization/qat_conv.h"
#include "compressor/quantization/quantization.h"
#include "layers/linear.h"

namespace compressor {
namespace {

using ::testing::HasSubstr;

const bool kRegistered = [] {
  base::RegisterUnaryForward(typeid(torch::nn::Conv2dImpl),
                             [](torch::nn::Module& m, const at::Tensor& x) {
                               return dynamic_cast<torch::nn::Conv2dImpl&>(m).forward(x);
                             });
  base::RegisterUnaryForward(typeid(torch::nn::BatchNorm2dImpl),
                             [](torch::nn::Module& m, const at::Tensor& x) {
                               return dynamic_cast<torch::nn::BatchNorm2dImpl&>(m).forward(x);
                             });
  return true;
}();

torch::nn::Conv2d Conv(int64_t in, int64_t out, int64_t k, int64_t stride) {
  return torch::nn::Conv2d(
      torch::nn::Conv2dOptions(in, out, k).stride(stride).padding(k / 2).bias(false));
}

// A residual CNN with torchvision-style names, calling every child through the registry.
class TinyCnnImpl : public torch::nn::Module {
 public:
  TinyCnnImpl() {
    register_module("conv1", Conv(4, 8, 3, 1));
    register_module("bn1", torch::nn::BatchNorm2d(8));
    register_module("conv2", Conv(8, 16, 3, 2));
    register_module("bn2", torch::nn::BatchNorm2d(16));
    downsample_ = std::make_shared<torch::nn::Module>();
    downsample_->register_module("0", Conv(8, 16, 1, 2));
    downsample_->register_module("1", torch::nn::BatchNorm2d(16));
    register_module("downsample", downsample_);
    register_module("fc", layers::Linear(16, 4));
  }
  at::Tensor forward(const at::Tensor& x) {
    at::Tensor h = at::relu(base::ForwardChild(*this, "bn1", base::ForwardChild(*this, "conv1", x)));
    at::Tensor y = base::ForwardChild(*this, "bn2", base::ForwardChild(*this, "conv2", h));
    y = y + base::ForwardChild(*downsample_, "1", base::ForwardChild(*downsample_, "0", h));
    y = at::adaptive_avg_pool2d(at::relu(y), {1, 1}).flatten(1);
    return base::ForwardChild(*this, "fc", y);
  }

 private:
  std::shared_ptr<torch::nn::Module> downsample_;
};
TORCH_MODULE(TinyCnn);

// A model with non-trivial BatchNorm statistics and affine parameters, in eval mode.
TinyCnn TrainedTinyCnn() {
  torch::manual_seed(3);
  TinyCnn model;
  torch::NoGradGuard no_grad;
  for (const auto& p : model->named_parameters()) {
    if (p.key().find("bn") != std::string::npos || p.key().find("downsample.1") != std::string::npos) {
      p.value().uniform_(0.5, 1.5);
    }
  }
  model->train();
  for (int i = 0; i < 5; ++i) model->forward(at::randn({8, 4, 12, 12}) * 2 + 0.5);
  model->eval();
  return model;
}

std::map<std::string, at::Tensor> Params(torch::nn::Module& m) {
  std::map<std::string, at::Tensor> out;
  for (const auto& p : m.named_parameters()) out[p.key()] = p.value();
  return out;
}

TEST(ConvPruningTest, MasksConvWeightsToExactSparsity) {
  for (const std::string pattern : {"unstructured", "4x1", "1xchannel", "2:4"}) {
    TinyCnn model = TrainedTinyCnn();
    PruningConfig config;
    config.op_types = {"Conv2d"};
    config.pattern = pattern;
    config.target_sparsity = 0.5;
    config.sparsity_decay_type = "oneshot";
    config.end_step = 0;
    absl::StatusOr<Pruner> pruner = Pruner::Create(*model, config);
    ASSERT_TRUE(pruner.ok()) << pruner.status();
    ASSERT_EQ(pruner->layers().size(), 3u);  // conv1, conv2, downsample.0; not fc.
    pruner->UpdateMasks(0);
    for (const auto& layer : pruner->layers()) {
      const at::Tensor w = layer.weight.detach();
      ASSERT_EQ(w.dim(), 4);
      const double sparsity = w.eq(0).sum().item<double>() / double(w.numel());
      EXPECT_DOUBLE_EQ(sparsity, 0.5) << pattern << " " << layer.name;
      EXPECT_TRUE(w.eq(0).equal(layer.mask.logical_not())) << pattern << " " << layer.name;
      if (pattern == "1xchannel") {
        // Whole filters: every output channel is all zero or has no pruned weight.
        const at::Tensor zeros_per_filter = w.reshape({w.size(0), -1}).eq(0).sum(1);
        const int64_t per_filter = w.numel() / w.size(0);
        EXPECT_TRUE(zeros_per_filter.eq(0).logical_or(zeros_per_filter.eq(per_filter)).all().item<bool>());
      }
      if (pattern == "2:4") {
        // At most 2 zeros in every group of 4 consecutive weights of the flattened kernel.
        EXPECT_TRUE(w.reshape({-1, 4}).eq(0).sum(1).le(2).all().item<bool>());
      }
    }
  }
}

TEST(FoldBatchNormTest, FoldedModelEqualsEvalModelAndKeepsMasks) {
  TinyCnn model = TrainedTinyCnn();
  const std::vector<ConvBnPair> pairs = FindConvBnPairsByName(*model);
  ASSERT_EQ(pairs.size(), 3u);
  EXPECT_EQ(pairs[0].conv, "conv1");
  EXPECT_EQ(pairs[0].bn, "bn1");
  EXPECT_EQ(pairs[2].conv, "downsample.0");
  EXPECT_EQ(pairs[2].bn, "downsample.1");

  PruningConfig prune;
  prune.op_types = {"Conv2d"};
  prune.target_sparsity = 0.5;
  prune.sparsity_decay_type = "oneshot";
  absl::StatusOr<Pruner> pruner = Pruner::Create(*model, prune);
  ASSERT_TRUE(pruner.ok());
  pruner->UpdateMasks(0);
  std::map<std::string, at::Tensor> zeros;
  for (const auto& layer : pruner->layers()) zeros[layer.name] = layer.weight.eq(0);

  const at::Tensor x = at::randn({4, 4, 12, 12}) * 2 + 0.5;
  at::Tensor before;
  {
    torch::NoGradGuard no_grad;
    before = model->forward(x);
  }
  absl::StatusOr<std::vector<std::string>> folded = FoldBatchNorm(*model, pairs);
  ASSERT_TRUE(folded.ok()) << folded.status();
  EXPECT_EQ(folded->size(), 3u);
  at::Tensor after;
  {
    torch::NoGradGuard no_grad;
    after = model->forward(x);
  }
  EXPECT_LE((after - before).abs().max().item<float>(), 1e-5f);
  // The BatchNorms are gone, the convs have biases, and the pruned zeros are still zeros
  // of the very tensors the pruner holds.
  const auto params = Params(*model);
  EXPECT_EQ(params.count("bn1.weight"), 0u);
  EXPECT_EQ(params.count("conv1.bias"), 1u);
  for (const auto& layer : pruner->layers()) {
    EXPECT_TRUE(layer.weight.is_same(params.at(layer.name)));
    EXPECT_TRUE(layer.weight.eq(0).equal(zeros.at(layer.name))) << layer.name;
  }
  // Folding again finds nothing to fold; a wrong pair is an error naming it.
  EXPECT_TRUE(FindConvBnPairsByName(*model).empty());
  absl::Status status = FoldBatchNorm(*model, {{"conv1", "bn1"}}).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("'bn1' is not a BatchNorm2d"));
  EXPECT_EQ(FoldBatchNorm(*model, {{"conv9", "bn1"}}).status().code(),
            absl::StatusCode::kNotFound);
}

QuantizationConfig ConvPtqConfig() {
  QuantizationConfig config;
  config.approach = "post_training_static_quant";
  config.op_types = {"Conv2d", "Linear"};
  config.weight = QuantScheme::Int8SymmetricPerChannel(0);
  config.activation_observer = "minmax";
  config.outputs_not_requantized = {".*"};
  return config;
}

TEST(QuantizedConv2dTest, PreparesConvsKeepingTensorsAndZeros) {
  TinyCnn model = TrainedTinyCnn();
  ASSERT_TRUE(FoldBatchNorm(*model, FindConvBnPairsByName(*model)).ok());
  const at::Tensor conv2_weight = Params(*model).at("conv2.weight");
  {
    torch::NoGradGuard no_grad;
    conv2_weight.select(0, 3).zero_();  // A pruned filter.
  }
  QuantizationConfig config = ConvPtqConfig();
  config.approach = "quant_aware_training";
  config.activation_observer = "moving_average_minmax";
  absl::StatusOr<std::vector<std::string>> convs = PrepareConvModel(*model, config);
  ASSERT_TRUE(convs.ok()) << convs.status();
  EXPECT_EQ(*convs, (std::vector<std::string>{"conv1", "conv2", "downsample.0"}));
  const auto modules = QuantizedConvModules(*model);
  ASSERT_EQ(modules.size(), 3u);
  EXPECT_TRUE(modules[1].second->weight.is_same(conv2_weight));
  EXPECT_EQ(Params(*model).count("conv2.bias"), 1u);
  model->train();
  const at::Tensor out = model->forward(at::randn({2, 4, 12, 12}));
  out.sum().backward();
  EXPECT_TRUE(conv2_weight.grad().defined());
  EXPECT_EQ(modules[1].second->weight_qparams().scale.numel(), 16);  // Per channel.
  EXPECT_TRUE(modules[1].second->FakeQuantizedWeight().select(0, 3).eq(0).all().item<bool>());
  // Twice is an error; so is dynamic quantization of convs.
  EXPECT_EQ(PrepareConvModel(*model, config).status().code(),
            absl::StatusCode::kFailedPrecondition);
  TinyCnn other = TrainedTinyCnn();
  config.approach = "post_training_dynamic_quant";
  EXPECT_THAT(std::string(PrepareConvModel(*other, config).status().message()),
              HasSubstr("not supported for Conv2d"));
}

TEST(QuantizedConv2dTest, Int8ConvolutionAgreesWithFakeQuant) {
  TinyCnn model = TrainedTinyCnn();
  ASSERT_TRUE(FoldBatchNorm(*model, FindConvBnPairsByName(*model)).ok());
  const QuantizationConfig config = ConvPtqConfig();
  ASSERT_TRUE(PrepareConvModel(*model, config).ok());
  ASSERT_TRUE(PrepareModel(*model, config).ok());
  torch::NoGradGuard no_grad;
  for (auto& [name, m] : QuantizedConvModules(*model)) m->set_calibrating(true);
  for (auto& [name, m] : QuantizedModules(*model)) m->set_calibrating(true);
  for (int i = 0; i < 4; ++i) model->forward(at::randn({8, 4, 12, 12}) * 2 + 0.5);
  for (auto& [name, m] : QuantizedConvModules(*model)) m->Freeze();
  for (auto& [name, m] : QuantizedModules(*model)) m->Freeze();

  // One layer: the INT8 kernel against the fake-quant forward on the same input.
  const auto conv2 = QuantizedConvModules(*model)[1].second;
  absl::StatusOr<std::shared_ptr<Int8Conv2dModuleImpl>> int8 = Int8Conv2dModuleImpl::Create(*conv2);
  ASSERT_TRUE(int8.ok()) << int8.status();
  const at::Tensor h = at::relu(at::randn({3, 8, 12, 12}));
  const at::Tensor fake = conv2->forward(h);
  const at::Tensor real = (*int8)->forward(h);
  const float step = conv2->input_qparams().scale.item<float>() *
                     conv2->weight_qparams().scale.max().item<float>();
  EXPECT_LE((real - fake).abs().max().item<float>(), 1e-3f * fake.abs().max().item<float>() + step)
      << (*int8)->impl_info();

  // The whole model.
  const at::Tensor x = at::randn({6, 4, 12, 12}) * 2 + 0.5;
  const at::Tensor fake_logits = model->forward(x);
  absl::StatusOr<std::vector<std::string>> converted = ConvertConvsToInt8(*model);
  ASSERT_TRUE(converted.ok()) << converted.status();
  EXPECT_EQ(converted->size(), 3u);
  EXPECT_TRUE(QuantizedConvModules(*model).empty());
  const at::Tensor int8_logits = model->forward(x);
  EXPECT_LE((int8_logits - fake_logits).abs().max().item<float>(),
            1e-3f * fake_logits.abs().max().item<float>() + 1e-4f);
  EXPECT_EQ(ConvertConvsToInt8(*model).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(QuantizedConv2dTest, ConvertRefusesUnfrozenModules) {
  TinyCnn model = TrainedTinyCnn();
  ASSERT_TRUE(PrepareConvModel(*model, ConvPtqConfig()).ok());
  absl::Status status = ConvertConvsToInt8(*model).status();
  EXPECT_THAT(std::string(status.message()), HasSubstr("QuantizedConv2d 'conv1': not frozen"));
  EXPECT_EQ(QuantizedConvModules(*model).size(), 3u);  // Unchanged.
}

TEST(QuantizationComponentTest, FoldsCalibratesAndConvertsConvs) {
  auto model = TrainedTinyCnn().ptr();
  QuantizationConfig config = ConvPtqConfig();
  config.fold_batch_norm = true;
  config.convert_to_int8 = true;
  Quantization quantization(config);
  TrainState state;
  state.model = model;
  ASSERT_TRUE(quantization.on_train_begin(state).ok());
  EXPECT_EQ(quantization.folded_batch_norms().size(), 3u);
  EXPECT_EQ(quantization.conv_modules().size(), 3u);
  EXPECT_EQ(quantization.modules().size(), 1u);  // fc
  {
    torch::NoGradGuard no_grad;
    auto* net = dynamic_cast<TinyCnnImpl*>(model.get());
    for (int i = 0; i < 3; ++i) net->forward(at::randn({8, 4, 12, 12}));
  }
  ASSERT_TRUE(quantization.on_train_end(state).ok());
  EXPECT_EQ(Int8ConvModules(*model).size(), 3u);
  const ComponentSummary summary = quantization.summary();
  EXPECT_EQ(summary.values.at("int8_convs"), 3.0);
  EXPECT_EQ(summary.values.at("folded_batch_norms"), 3.0);
  EXPECT_EQ(summary.values.at("int8_linears"), 1.0);
}

}  // namespace
}  // namespace compressor
