#include "compressor/deploy/inference_linear.h"

#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/nn/modules/linear.h>
#include <torch/utils.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include "compressor/deploy/sparse_format.h"
#include "layers/linear.h"
#include "models/auto_model.h"

namespace compressor {
namespace {

using ::testing::HasSubstr;

std::shared_ptr<models::PreTrainedModel> TinyBert(uint64_t seed) {
  torch::manual_seed(seed);
  auto model = *models::CreateModel(*models::BertConfigPreset("bert-tiny"), "BertModel");
  model->eval();
  return model;
}

// Zeroes the smallest `sparsity` of each encoder Linear's weights (magnitude pruning).
void PruneEncoder(torch::nn::Module& model, double sparsity) {
  torch::NoGradGuard no_grad;
  for (const auto& item : model.named_modules()) {
    auto* linear = item.value()->as<layers::Linear>();
    if (linear == nullptr || item.key().find("encoder") == std::string::npos) continue;
    const at::Tensor w = linear->weight;
    const int64_t drop = static_cast<int64_t>(w.numel() * sparsity);
    const at::Tensor threshold = std::get<0>(w.abs().flatten().kthvalue(drop));
    w.mul_(w.abs() > threshold);
  }
}

at::Tensor Forward(models::PreTrainedModel& model, const at::Tensor& ids) {
  torch::NoGradGuard no_grad;
  models::ModelInput input;
  input.input_ids = ids;
  return model.forward(input).last_hidden_state;
}

at::Tensor Ids() { return at::randint(1000, 20000, {2, 37}, at::kLong); }

TEST(InferenceLinearTest, SparseFp32ModelMatchesTheOriginal) {
  auto model = TinyBert(1);
  PruneEncoder(*model, 0.9);
  const at::Tensor ids = Ids();
  const at::Tensor expected = Forward(*model, ids);
  InferenceOptions options;
  options.kernel = "sparse";
  auto converted = ConvertForInference(*model, options, "encoder");
  ASSERT_TRUE(converted.ok()) << converted.status();
  EXPECT_EQ(converted->size(), 12u);  // 2 layers x (q, k, v, attention out, intermediate, out).
  for (const auto& [name, layer] : InferenceLinears(*model)) {
    EXPECT_EQ(layer->kernel(), LinearKernel::kSparseFp32) << name;
    EXPECT_NEAR(layer->sparsity(), 0.9, 0.01) << name;
  }
  EXPECT_TRUE(at::allclose(Forward(*model, ids), expected, 1e-4, 1e-4));
}

TEST(InferenceLinearTest, AutoChoiceKeepsDenseLayersDenseAndTimesSparseOnes) {
  auto model = TinyBert(2);
  PruneEncoder(*model, 0.95);
  InferenceOptions options;  // auto
  ASSERT_TRUE(ConvertForInference(*model, options).ok());
  for (const auto& [name, layer] : InferenceLinears(*model)) {
    if (name.find("encoder") == std::string::npos) {  // The unpruned pooler.
      EXPECT_EQ(layer->kernel(), LinearKernel::kDenseFp32) << name;
      EXPECT_LT(layer->dense_ms(), 0.0) << name;  // Not timed.
    } else {
      EXPECT_GT(layer->dense_ms(), 0.0) << name;
      EXPECT_GT(layer->sparse_ms(), 0.0) << name;
      EXPECT_EQ(layer->kernel() == LinearKernel::kSparseFp32,
                layer->sparse_ms() < layer->dense_ms()) << name;
    }
  }
}

TEST(InferenceLinearTest, SparseAndDenseInt8AgreeOnAModel) {
  const at::Tensor ids = Ids();
  at::Tensor outputs[2];
  for (int sparse = 0; sparse < 2; ++sparse) {
    auto model = TinyBert(3);
    PruneEncoder(*model, 0.8);
    InferenceOptions options;
    options.int8 = true;
    options.kernel = sparse ? "sparse" : "dense";
    ASSERT_TRUE(ConvertForInference(*model, options).ok());
    for (const auto& [name, layer] : InferenceLinears(*model)) {
      EXPECT_EQ(layer->kernel(), sparse ? LinearKernel::kSparseInt8 : LinearKernel::kDenseInt8);
    }
    outputs[sparse] = Forward(*model, ids);
  }
  // Same integer math; oneDNN's dynamic path applies the input scale as a separate post-op
  // multiply (see int8_linear.cc), so the fp32 epilogue may differ in the last bit.
  EXPECT_TRUE(at::allclose(outputs[0], outputs[1], 1e-4, 1e-4));
}

TEST(InferenceLinearTest, RejectsUnknownKernelOption) {
  auto model = TinyBert(4);
  InferenceOptions options;
  options.kernel = "fastest";
  auto converted = ConvertForInference(*model, options);
  ASSERT_FALSE(converted.ok());
  EXPECT_THAT(std::string(converted.status().message()), HasSubstr("fastest"));
}

TEST(SparseFormatTest, SavedSparseInt8ModelLoadsToIdenticalOutputsAndIsSmall) {
  const std::string path =
      (std::filesystem::path(::testing::TempDir()) / "tiny.sparse.safetensors").string();
  const at::Tensor ids = Ids();
  auto model = TinyBert(5);
  PruneEncoder(*model, 0.9);
  InferenceOptions options;
  options.int8 = true;
  options.kernel = "sparse";
  ASSERT_TRUE(ConvertForInference(*model, options, "encoder").ok());
  const at::Tensor expected = Forward(*model, ids);
  ASSERT_TRUE(SaveInferenceModel(*model, path).ok());

  auto fresh = TinyBert(6);  // Different random weights everywhere.
  EXPECT_FALSE(at::equal(Forward(*fresh, ids), expected));
  auto loaded = LoadInferenceModel(*fresh, path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->size(), 12u);
  EXPECT_TRUE(at::equal(Forward(*fresh, ids), expected));
  for (const auto& [name, layer] : InferenceLinears(*fresh)) {
    EXPECT_EQ(layer->kernel(), LinearKernel::kSparseInt8) << name;
  }

  // The 12 encoder Linears hold 2 x (4 x 128 x 128 + 2 x 128 x 512) weights: 4 bytes each in
  // fp32; at 90% sparsity the keep bits (1/8 byte) + 10% int8 values + scales are > 15x less.
  const int64_t fp32_bytes = 2 * (4 * 128 * 128 + 2 * 128 * 512) * 4;
  auto bytes = InferenceModelLinearBytes(path);
  ASSERT_TRUE(bytes.ok());
  EXPECT_LT(*bytes * 15, fp32_bytes) << *bytes;
}

TEST(SparseFormatTest, SparseFp32RoundTripAndErrorsNameTheFile) {
  const std::string path =
      (std::filesystem::path(::testing::TempDir()) / "tiny.fp32.safetensors").string();
  const at::Tensor ids = Ids();
  auto model = TinyBert(7);
  PruneEncoder(*model, 0.7);
  InferenceOptions options;
  options.kernel = "sparse";
  ASSERT_TRUE(ConvertForInference(*model, options).ok());
  const at::Tensor expected = Forward(*model, ids);
  ASSERT_TRUE(SaveInferenceModel(*model, path).ok());
  auto fresh = TinyBert(8);
  ASSERT_TRUE(LoadInferenceModel(*fresh, path).ok());
  EXPECT_TRUE(at::equal(Forward(*fresh, ids), expected));

  auto missing = LoadInferenceModel(*TinyBert(9), path + ".nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr(".nope"));
  // A model of another size: the stored shapes do not fit.
  torch::manual_seed(0);
  auto other = *models::CreateModel(*models::BertConfigPreset("bert-mini"), "BertModel");
  auto mismatch = LoadInferenceModel(*other, path);
  ASSERT_FALSE(mismatch.ok());
  EXPECT_THAT(std::string(mismatch.status().message()), HasSubstr(path));
  EXPECT_FALSE(SaveInferenceModel(*TinyBert(10), path + ".plain").ok());  // Nothing converted.
}

}  // namespace
}  // namespace compressor
