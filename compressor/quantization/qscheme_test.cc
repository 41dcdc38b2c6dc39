#include "compressor/quantization/qscheme.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/utils.h>

namespace compressor {
namespace {

at::Tensor T(std::vector<float> values) { return at::tensor(values, at::kFloat); }

QuantScheme Scheme(const std::string& dtype, bool symmetric, bool reduce_range = false) {
  QuantScheme scheme;
  scheme.dtype = dtype;
  scheme.symmetric = symmetric;
  scheme.reduce_range = reduce_range;
  return scheme;
}

// Every per-tensor scheme this library supports.
std::vector<QuantScheme> AllPerTensorSchemes() {
  std::vector<QuantScheme> schemes;
  for (const char* dtype : {"int8", "uint8"}) {
    for (bool symmetric : {true, false}) {
      for (bool reduce : {false, true}) schemes.push_back(Scheme(dtype, symmetric, reduce));
    }
  }
  return schemes;
}

TEST(QSchemeTest, QuantRangesFollowDtypeAndReduceRange) {
  EXPECT_EQ(Scheme("int8", true).quant_min(), -128);
  EXPECT_EQ(Scheme("int8", true).quant_max(), 127);
  EXPECT_EQ(Scheme("uint8", false).quant_min(), 0);
  EXPECT_EQ(Scheme("uint8", false).quant_max(), 255);
  EXPECT_EQ(Scheme("int8", true, true).quant_min(), -64);
  EXPECT_EQ(Scheme("int8", true, true).quant_max(), 63);
  EXPECT_EQ(Scheme("uint8", false, true).quant_max(), 127);
  EXPECT_EQ(QuantScheme::Int8SymmetricPerChannel(1).ToString(),
            "int8 symmetric per-channel(axis 1)");
  EXPECT_EQ(QuantScheme::Uint8AffinePerTensor().ToString(), "uint8 affine per-tensor");
}

TEST(QSchemeTest, HandComputedQParams) {
  // int8 symmetric: scale = max(|min|, |max|) / 127.5, zero point 0.
  QuantParams q = ComputeQParams(T({-1.0f}), T({2.55f}), Scheme("int8", true));
  EXPECT_FLOAT_EQ(q.scale.item<float>(), 2.55f / 127.5f);
  EXPECT_EQ(q.zero_point.item<int64_t>(), 0);
  EXPECT_EQ(q.scale.sizes(), at::IntArrayRef({1}));
  EXPECT_EQ(q.zero_point.scalar_type(), at::kLong);
  // uint8 symmetric: same scale, zero point 128.
  q = ComputeQParams(T({-1.0f}), T({2.55f}), Scheme("uint8", true));
  EXPECT_FLOAT_EQ(q.scale.item<float>(), 2.55f / 127.5f);
  EXPECT_EQ(q.zero_point.item<int64_t>(), 128);
  // uint8 affine on [-1, 2]: scale 3/255, zero point 0 - round(-1 / (3/255)) = 85.
  q = ComputeQParams(T({-1.0f}), T({2.0f}), Scheme("uint8", false));
  EXPECT_FLOAT_EQ(q.scale.item<float>(), 3.0f / 255.0f);
  EXPECT_EQ(q.zero_point.item<int64_t>(), 85);
  // int8 affine on [-1, 2]: zero point -128 + 85 = -43.
  q = ComputeQParams(T({-1.0f}), T({2.0f}), Scheme("int8", false));
  EXPECT_EQ(q.zero_point.item<int64_t>(), -43);
  // The range is widened to include 0: [0.5, 2] behaves as [0, 2], [-2, -0.5] as [-2, 0].
  q = ComputeQParams(T({0.5f}), T({2.0f}), Scheme("uint8", false));
  EXPECT_FLOAT_EQ(q.scale.item<float>(), 2.0f / 255.0f);
  EXPECT_EQ(q.zero_point.item<int64_t>(), 0);
  q = ComputeQParams(T({-2.0f}), T({-0.5f}), Scheme("uint8", false));
  EXPECT_FLOAT_EQ(q.scale.item<float>(), 2.0f / 255.0f);
  EXPECT_EQ(q.zero_point.item<int64_t>(), 255);
  // Reduced range: uint8 0..127.
  q = ComputeQParams(T({-1.0f}), T({2.0f}), Scheme("uint8", false, true));
  EXPECT_FLOAT_EQ(q.scale.item<float>(), 3.0f / 127.0f);
  // An all-zero range gets the eps floor; an unobserved one PyTorch's defaults.
  q = ComputeQParams(T({0.0f}), T({0.0f}), Scheme("uint8", false));
  EXPECT_FLOAT_EQ(q.scale.item<float>(), static_cast<float>(kScaleEps));
  EXPECT_EQ(q.zero_point.item<int64_t>(), 0);
  q = ComputeQParams(T({INFINITY}), T({-INFINITY}), Scheme("int8", true));
  EXPECT_FLOAT_EQ(q.scale.item<float>(), 1.0f);
  EXPECT_EQ(q.zero_point.item<int64_t>(), 0);
  // Per-channel: one scale per channel.
  q = ComputeQParams(T({-1.0f, 0.0f, -4.0f}), T({1.0f, 3.0f, 2.0f}),
                     QuantScheme::Int8SymmetricPerChannel());
  ASSERT_EQ(q.scale.numel(), 3);
  EXPECT_FLOAT_EQ(q.scale[0].item<float>(), 1.0f / 127.5f);
  EXPECT_FLOAT_EQ(q.scale[1].item<float>(), 3.0f / 127.5f);
  EXPECT_FLOAT_EQ(q.scale[2].item<float>(), 4.0f / 127.5f);
  EXPECT_TRUE(q.zero_point.eq(0).all().item<bool>());
}

TEST(QSchemeTest, QuantizeAndDequantizeByHand) {
  const QuantScheme scheme = Scheme("uint8", false);
  const QuantParams q = ComputeQParams(T({-1.0f}), T({2.0f}), scheme);  // 3/255, 85
  const at::Tensor ints = Quantize(T({-1.0f, 0.0f, 0.4f, 2.0f, 5.0f, -3.0f}), q, scheme);
  EXPECT_EQ(ints.scalar_type(), at::kByte);
  // round(x * 85) + 85, clamped to 0..255.
  EXPECT_TRUE(at::equal(ints, at::tensor({0, 85, 119, 255, 255, 0}, at::kByte)));
  const at::Tensor back = Dequantize(ints, q, scheme);
  EXPECT_FLOAT_EQ(back[2].item<float>(), 34 * (3.0f / 255.0f));
  EXPECT_EQ(back[1].item<float>(), 0.0f);
  const QuantScheme int8 = Scheme("int8", true);
  EXPECT_EQ(Quantize(T({1.0f}), ComputeQParams(T({-1.0f}), T({1.0f}), int8), int8).scalar_type(),
            at::kChar);
}

// Zero is exactly representable in every scheme: what keeps pruned weights at zero.
TEST(QSchemeTest, ZeroMapsToExactlyZeroForEveryScheme) {
  const std::vector<std::pair<float, float>> ranges = {
      {-1.0f, 1.0f}, {-0.3f, 7.1f}, {-7.3f, 0.21f}, {0.5f, 3.3f}, {-2.7f, -0.4f}, {-1e-3f, 5e2f}};
  for (const QuantScheme& scheme : AllPerTensorSchemes()) {
    for (const auto& [lo, hi] : ranges) {
      const QuantParams q = ComputeQParams(T({lo}), T({hi}), scheme);
      at::Tensor x = at::linspace(lo, hi, 101);
      x.index_put_({at::indexing::Slice(0, 101, 7)}, 0.0f);  // Pruned entries.
      const at::Tensor fq = FakeQuantize(x, q, scheme);
      EXPECT_TRUE(fq.masked_select(x.eq(0)).eq(0).all().item<bool>())
          << scheme.ToString() << " [" << lo << ", " << hi << "]";
      EXPECT_EQ(Dequantize(Quantize(at::zeros({1}), q, scheme), q, scheme).item<float>(), 0.0f)
          << scheme.ToString();
    }
  }
  const QuantScheme per_channel = QuantScheme::Int8SymmetricPerChannel(0);
  const at::Tensor w = at::tensor({0.0f, 0.3f, -0.7f, 0.0f, 0.0f, 2.5f}).reshape({2, 3});
  const QuantParams q = ComputeQParams(std::get<0>(w.min(1)), std::get<0>(w.max(1)), per_channel);
  EXPECT_TRUE(FakeQuantize(w, q, per_channel).masked_select(w.eq(0)).eq(0).all().item<bool>());
}

TEST(QSchemeTest, RoundTripErrorIsAtMostHalfAScaleInsideTheRange) {
  for (const QuantScheme& scheme : AllPerTensorSchemes()) {
    for (const auto& [lo, hi] : std::vector<std::pair<float, float>>{
             {-1.0f, 1.0f}, {-0.3f, 7.1f}, {0.0f, 4.0f}, {-3.0f, 0.0f}}) {
      const QuantParams q = ComputeQParams(T({lo}), T({hi}), scheme);
      const float scale = q.scale.item<float>();
      const at::Tensor x = at::linspace(lo, hi, 1001);
      const at::Tensor fq = FakeQuantize(x, q, scheme);
      const float error = (fq - x).abs().max().item<float>();
      // Half a step, plus float32 rounding of x - q * scale at the range's magnitude.
      const float bound =
          scale / 2 + 4 * std::numeric_limits<float>::epsilon() * std::max(-lo, hi);
      EXPECT_LE(error, bound) << scheme.ToString() << " [" << lo << ", " << hi
                                                << "]";
      // The integer path and the fused fake-quant op agree.
      EXPECT_TRUE(at::allclose(Dequantize(Quantize(x, q, scheme), q, scheme), fq, 0, 1e-6))
          << scheme.ToString();
    }
  }
}

TEST(QSchemeTest, PerChannelFakeQuantizeUsesEachChannelsScale) {
  torch::manual_seed(0);
  const at::Tensor w = at::randn({4, 6}) * at::tensor({0.1f, 1.0f, 10.0f, 100.0f}).unsqueeze(1);
  for (int64_t axis : {0, 1}) {
    const QuantScheme scheme = QuantScheme::Int8SymmetricPerChannel(axis);
    const int64_t reduce = 1 - axis;
    const QuantParams q =
        ComputeQParams(std::get<0>(w.min(reduce)), std::get<0>(w.max(reduce)), scheme);
    ASSERT_EQ(q.scale.numel(), w.size(axis));
    const at::Tensor fq = FakeQuantize(w, q, scheme);
    EXPECT_TRUE(at::allclose(fq, Dequantize(Quantize(w, q, scheme), q, scheme), 0, 1e-6));
    const at::Tensor bound =
        (axis == 0 ? q.scale.unsqueeze(1) : q.scale.unsqueeze(0)) / 2 * (1 + 1e-5f);
    EXPECT_TRUE((fq - w).abs().le(bound).all().item<bool>()) << "axis " << axis;
  }
  const QuantScheme scheme = QuantScheme::Int8SymmetricPerChannel(0);
  const QuantParams wrong = ComputeQParams(T({-1, -1}), T({1, 1}), scheme);
  EXPECT_THROW(FakeQuantize(w, wrong, scheme), c10::Error);  // 2 scales for 4 channels.
}

TEST(QSchemeTest, FakeQuantizeGradientIsStraightThroughInsideTheRange) {
  const QuantScheme scheme = Scheme("uint8", false);
  const QuantParams q = ComputeQParams(T({-1.0f}), T({2.0f}), scheme);
  const at::Tensor x = T({-3.0f, -0.5f, 0.0f, 1.3f, 2.0f, 4.0f}).requires_grad_();
  FakeQuantize(x, q, scheme).mul(T({1, 2, 3, 4, 5, 6})).sum().backward();
  EXPECT_TRUE(at::equal(x.grad(), T({0, 2, 3, 4, 5, 0})));
}

TEST(QSchemeTest, ValidateNamesTheKeyAndValue) {
  QuantScheme scheme;
  scheme.dtype = "int4";
  const absl::Status status = scheme.Validate("recipe.yaml", "weight");
  EXPECT_EQ(status.message(), "recipe.yaml: weight.dtype is \"int4\"; supported: int8, uint8");
  scheme = QuantScheme::Int8SymmetricPerChannel(-1);
  EXPECT_NE(scheme.Validate("cfg", "weight").message().find("weight.ch_axis"),
            absl::string_view::npos);
  EXPECT_TRUE(QuantScheme::Uint8AffinePerTensor().Validate("cfg", "activation").ok());
}

}  // namespace
}  // namespace compressor
