#include "kernels/int8_conv2d.h"

#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace kernels {
namespace {

using ::testing::HasSubstr;

Int8Conv2dParams RandomParams(int64_t in, int64_t out, int64_t k, bool with_bias) {
  Int8Conv2dParams p;
  p.weight_int8 = at::randint(-127, 128, {out, in, k, k}, at::kLong).to(at::kChar);
  p.weight_scales = at::rand({out}) * 0.01f + 0.001f;
  if (with_bias) p.bias = at::randn({out});
  p.padding = {k / 2, k / 2};
  p.input_scale = 0.02;
  p.input_zero_point = 0;
  return p;
}

void ExpectMatchesReference(const Int8Conv2dParams& p, const at::Tensor& x) {
  absl::StatusOr<std::unique_ptr<Int8Conv2d>> conv = Int8Conv2d::Create(p);
  ASSERT_TRUE(conv.ok()) << conv.status();
  const at::Tensor y = (*conv)->Forward(x);
  const at::Tensor expected = ReferenceInt8Conv2d(p, x);
  ASSERT_EQ(y.sizes(), expected.sizes());
  EXPECT_TRUE(y.is_contiguous(at::MemoryFormat::ChannelsLast));
  // Integer accumulation is exact; only the fp32 epilogue's rounding may differ.
  EXPECT_TRUE(y.allclose(expected, /*rtol=*/1e-5, /*atol=*/1e-5))
      << "max diff " << (y - expected).abs().max().item<float>() << " impl "
      << (*conv)->impl_info();
}

TEST(Int8Conv2dTest, MatchesIntegerReference) {
  at::manual_seed(0);
  // Non-negative inputs (after ReLU), zero point 0, 3x3 padded, per-channel scales.
  ExpectMatchesReference(RandomParams(16, 32, 3, true), at::rand({2, 16, 14, 14}) * 3.0f);
  // Strided 1x1 shortcut conv without bias.
  Int8Conv2dParams shortcut = RandomParams(16, 32, 1, false);
  shortcut.stride = {2, 2};
  ExpectMatchesReference(shortcut, at::rand({3, 16, 14, 14}));
  // Signed input with a zero point (a normalised image into the stem), odd sizes; padding
  // must count as real zeros (q = zero point).
  Int8Conv2dParams stem = RandomParams(1, 8, 3, true);
  stem.input_scale = 0.015;
  stem.input_zero_point = 110;
  ExpectMatchesReference(stem, at::randn({2, 1, 9, 7}));
  // Per-tensor weight scale, stride 2 with padding.
  Int8Conv2dParams strided = RandomParams(8, 16, 3, true);
  strided.weight_scales = at::full({1}, 0.004f);
  strided.stride = {2, 2};
  ExpectMatchesReference(strided, at::rand({1, 8, 7, 7}));
}

TEST(Int8Conv2dTest, ZeroWeightsGiveExactlyTheBias) {
  Int8Conv2dParams p = RandomParams(4, 4, 3, true);
  p.weight_int8.zero_();
  auto conv = Int8Conv2d::Create(p);
  ASSERT_TRUE(conv.ok());
  const at::Tensor y = (*conv)->Forward(at::rand({1, 4, 5, 5}));
  EXPECT_TRUE(y.equal(p.bias.view({1, 4, 1, 1}).expand({1, 4, 5, 5})));
}

TEST(Int8Conv2dTest, RejectsBadParamsAndInputs) {
  Int8Conv2dParams p = RandomParams(4, 8, 3, true);
  p.weight_scales = at::ones({3});
  EXPECT_THAT(std::string(Int8Conv2d::Create(p).status().message()),
              HasSubstr("weight_scales: expected float [1] or [8]"));
  p = RandomParams(4, 8, 3, true);
  p.input_zero_point = 300;
  EXPECT_THAT(std::string(Int8Conv2d::Create(p).status().message()),
              HasSubstr("input_zero_point = 300"));
  p = RandomParams(4, 8, 3, true);
  p.weight_int8 = p.weight_int8.to(at::kFloat);
  EXPECT_FALSE(Int8Conv2d::Create(p).ok());
  auto conv = Int8Conv2d::Create(RandomParams(4, 8, 3, true));
  ASSERT_TRUE(conv.ok());
  EXPECT_THROW((*conv)->Forward(at::rand({1, 5, 6, 6})), c10::Error);
}

}  // namespace
}  // namespace kernels
