#include "kernels/int8_linear.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

namespace kernels {
namespace {

using ::testing::HasSubstr;

// One layer configuration under test.
struct Config {
  bool per_channel;
  bool activation_signed;
  bool dynamic;
  bool with_bias;
};

std::string Name(const Config& c) {
  return std::string(c.per_channel ? "per-channel" : "per-tensor") +
         (c.activation_signed ? " s8" : " u8") + (c.dynamic ? " dynamic" : " static") +
         (c.with_bias ? " bias" : " no-bias");
}

// fp32 layer with 90% exact zeros in the weights (and row out / 2 entirely zero when out >= 2),
// quantized to Int8LinearParams. Static activation params come from a range 10% wider than
// x's, so neither scheme clips.
struct Case {
  at::Tensor x, weight, bias;
  Int8LinearParams params;
  int64_t zero_row = -1;
};

Case MakeCase(uint64_t seed, std::vector<int64_t> x_shape, int64_t out, const Config& c) {
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  const int64_t in = x_shape.back();
  Case t;
  t.x = at::randn(x_shape, gen) * 2.0 + 0.5;
  t.weight = at::randn({out, in}, gen) * 0.05;
  t.weight.masked_fill_(at::rand({out, in}, gen) < 0.9, 0.0);
  if (out >= 2) {
    t.zero_row = out / 2;
    t.weight[t.zero_row].zero_();
  }
  if (c.with_bias) t.bias = at::randn({out}, gen);
  t.params = QuantizeLinearWeights(t.weight, t.bias, c.per_channel);
  t.params.activation_signed = c.activation_signed;
  t.params.dynamic = c.dynamic;
  const ActivationQuantParams q = ChooseActivationQuantParams(
      t.x.min().item<float>() * 1.1f, t.x.max().item<float>() * 1.1f, c.activation_signed);
  t.params.input_scale = q.scale;
  t.params.input_zero_point = q.zero_point;
  return t;
}

std::vector<Config> AllConfigs() {
  std::vector<Config> configs;
  for (bool per_channel : {false, true}) {
    for (bool activation_signed : {false, true}) {
      for (bool dynamic : {false, true}) {
        for (bool with_bias : {false, true}) {
          configs.push_back({per_channel, activation_signed, dynamic, with_bias});
        }
      }
    }
  }
  return configs;
}

// The activation scale the layer uses for `x`.
double InputScale(const Case& t) {
  if (!t.params.dynamic) return t.params.input_scale;
  return ChooseActivationQuantParams(t.x.min().item<float>(), t.x.max().item<float>(),
                                     t.params.activation_signed)
      .scale;
}

// Runs Int8Linear on the case and checks it against the reference and against fp32.
void CheckCase(const Case& t, const std::string& what) {
  SCOPED_TRACE(what);
  absl::StatusOr<std::unique_ptr<Int8Linear>> layer = Int8Linear::Create(t.params);
  ASSERT_TRUE(layer.ok()) << layer.status();
  const at::Tensor y = (*layer)->Forward(t.x);
  const at::Tensor ref = ReferenceInt8Linear(t.params, t.x);
  std::vector<int64_t> expected_shape = t.x.sizes().vec();
  expected_shape.back() = t.weight.size(0);
  ASSERT_EQ(y.sizes().vec(), expected_shape);
  ASSERT_EQ(ref.sizes().vec(), expected_shape);

  // 1. Same integer math; only the fp32 rounding of the scale multiply may differ (a few ulp
  // of |acc * scale| <= |ref| + |bias|).
  const at::Tensor bias_abs = t.bias.defined() ? t.bias.abs() : at::zeros({t.weight.size(0)});
  const at::Tensor tol = 1e-5 * (ref.abs() + bias_abs);
  const at::Tensor excess = (y - ref).abs() - tol;
  EXPECT_LE(excess.max().item<float>(), 0.0f)
      << "max |y - ref| = " << (y - ref).abs().max().item<float>();

  // 2. Zero weights stay zero: an all-zero row gives exactly the bias (or 0).
  if (t.zero_row >= 0) {
    const at::Tensor col = y.select(-1, t.zero_row);
    const float expected = t.bias.defined() ? t.bias[t.zero_row].item<float>() : 0.0f;
    EXPECT_TRUE(at::equal(col, at::full_like(col, expected))) << col;
  }

  // 3. Close to fp32 X W^T + b. With x = s_x (q_x - zp) + dx and w = s_w q_w + dw, where
  // |dx| <= s_x / 2 (no clipping) and |dw| <= s_w / 2,
  //   |y_int8 - y_fp32| <= sum_k (s_x/2 |w_k| + s_w/2 |x_k| + s_x s_w / 4),
  // plus fp32 rounding of both sides, for which 1e-5 * sum_k |x_k w_k| + 1% is ample.
  const int64_t in = t.weight.size(1);
  const at::Tensor y_fp32 = at::linear(t.x, t.weight, t.bias);
  const double s_x = InputScale(t);
  const at::Tensor s_w = t.params.weight_scales;  // [1] or [out], broadcasts over the last dim.
  const at::Tensor bound =
      (s_x / 2) * t.weight.abs().sum(1) + (s_w / 2) * t.x.abs().sum({-1}, /*keepdim=*/true) +
      (in * s_x / 4) * s_w;
  const at::Tensor fp32_slack = 1e-5 * at::linear(t.x.abs(), t.weight.abs());
  const at::Tensor err = (y - y_fp32).abs();
  EXPECT_LE((err - (1.01 * bound + fp32_slack)).max().item<float>(), 0.0f)
      << "max error " << err.max().item<float>() << ", max bound " << bound.max().item<float>();
}

TEST(Int8LinearTest, ReportsIsa) {
  const char* max_isa = std::getenv("DNNL_MAX_CPU_ISA");
  Case t = MakeCase(1, {2, 16}, 4, {true, false, false, true});
  auto layer = Int8Linear::Create(t.params);
  ASSERT_TRUE(layer.ok()) << layer.status();
  std::cout << "DNNL_MAX_CPU_ISA=" << (max_isa ? max_isa : "(unset)")
            << " oneDNN ISA: " << Int8Linear::CpuIsa() << ", matmul: " << (*layer)->impl_info()
            << ", weights split for non-VNNI: " << ((*layer)->split_weights() ? "yes" : "no")
            << std::endl;
  const std::string isa = Int8Linear::CpuIsa();
  if (max_isa != nullptr && std::string(max_isa) == "AVX2") {
    EXPECT_TRUE(isa == "avx2" || isa == "avx" || isa == "sse41") << isa;
  }
  // Without VNNI, oneDNN 2.6 saturates int16 pair sums; the layer must then split.
  if (isa == "avx2" || isa == "avx" || isa == "sse41" || isa == "avx512_core") {
    EXPECT_TRUE((*layer)->split_weights());
  }
}

TEST(Int8LinearTest, ChoosesActivationParams) {
  ActivationQuantParams u8 = ChooseActivationQuantParams(-1.0f, 3.0f, false);
  EXPECT_EQ(u8.scale, static_cast<double>(static_cast<float>(4.0 / 255.0)));
  EXPECT_EQ(u8.zero_point, 64);  // nearbyint(1 / (4 / 255)) = nearbyint(63.75)
  ActivationQuantParams positive = ChooseActivationQuantParams(1.0f, 2.0f, false);
  EXPECT_EQ(positive.scale, static_cast<double>(static_cast<float>(2.0 / 255.0)));
  EXPECT_EQ(positive.zero_point, 0);  // The range is widened to include 0.
  ActivationQuantParams s8 = ChooseActivationQuantParams(-2.0f, 1.0f, true);
  EXPECT_EQ(s8.scale, static_cast<double>(static_cast<float>(2.0 / 127.0)));
  EXPECT_EQ(s8.zero_point, 0);
  ActivationQuantParams zeros = ChooseActivationQuantParams(0.0f, 0.0f, false);
  EXPECT_EQ(zeros.scale, 1.0);
  EXPECT_EQ(zeros.zero_point, 0);
}

TEST(Int8LinearTest, QuantizesWeightsSymmetrically) {
  const at::Tensor w = at::tensor({0.0f, 2.5f, -127.0f, 3.5f, 1.4f,  //
                                   0.0f, 0.0f, 0.0f, 0.0f, 0.0f,     //
                                   254.0f, -1.0f, 0.9f, 0.0f, -0.0f})
                           .reshape({3, 5});
  Int8LinearParams per_channel = QuantizeLinearWeights(w, at::Tensor(), true);
  EXPECT_TRUE(at::equal(per_channel.weight_scales, at::tensor({1.0f, 1.0f, 2.0f})));
  EXPECT_TRUE(at::equal(per_channel.weight_int8,
                        at::tensor({0, 2, -127, 4, 1, 0, 0, 0, 0, 0, 127, 0, 0, 0, 0}, at::kChar)
                            .reshape({3, 5})))
      << per_channel.weight_int8;  // Half to even: 2.5 -> 2, 3.5 -> 4, -0.5 -> 0.
  EXPECT_FALSE(per_channel.bias.defined());
  EXPECT_TRUE(per_channel.dynamic);

  Int8LinearParams per_tensor = QuantizeLinearWeights(w, at::ones({3}), false);
  EXPECT_TRUE(at::equal(per_tensor.weight_scales, at::tensor({2.0f})));
  EXPECT_TRUE(at::equal(per_tensor.weight_int8,
                        at::tensor({0, 1, -64, 2, 1, 0, 0, 0, 0, 0, 127, 0, 0, 0, 0}, at::kChar)
                            .reshape({3, 5})))
      << per_tensor.weight_int8;  // 1.25 -> 1, -63.5 -> -64, 1.75 -> 2, 0.7 -> 1.
  EXPECT_TRUE(at::equal(per_tensor.bias, at::ones({3})));
}

TEST(Int8LinearTest, QuantizesActivationsLikeAten) {
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(7);
  // Exact half-way points (scale 0.5: x / scale = k + 0.5), out-of-range values, and random
  // values, in a length that leaves a SIMD tail.
  std::vector<float> values;
  for (int k = -300; k <= 300; ++k) values.push_back(0.5f * (k + 0.5f));
  at::Tensor x = at::cat({at::tensor(values), at::randn({1001}, gen) * 40.0});
  for (double scale : {0.5, 0.1, 0.0371}) {
    for (int64_t zp : {0, 3, 128, 255}) {
      const at::Tensor expected =
          at::quantize_per_tensor(x, scale, zp, at::kQUInt8).int_repr();
      EXPECT_TRUE(at::equal(QuantizeActivations(x, {scale, zp}, false), expected))
          << "u8 scale " << scale << " zp " << zp;
    }
    const at::Tensor expected = at::quantize_per_tensor(x, scale, 0, at::kQInt8).int_repr();
    EXPECT_TRUE(at::equal(QuantizeActivations(x, {scale, 0}, true), expected))
        << "s8 scale " << scale;
  }
  // Round half to even: 0.25 / 0.5 = 0.5 -> 0, 0.75 / 0.5 = 1.5 -> 2, -0.25 -> 0, -0.75 -> -2.
  EXPECT_TRUE(at::equal(QuantizeActivations(at::tensor({0.25f, 0.75f, -0.25f, -0.75f}),
                                            {0.5, 0}, true),
                        at::tensor({0, 2, 0, -2}, at::kChar)));
}

TEST(Int8LinearTest, ReferenceMatchesHandComputedValues) {
  Int8LinearParams p;
  p.weight_int8 = at::tensor({1, -2, 3, 0, 0, 0}, at::kChar).reshape({2, 3});
  p.weight_scales = at::tensor({0.5f, 2.0f});
  p.bias = at::tensor({1.0f, -1.0f});
  p.dynamic = false;
  p.input_scale = 0.25;
  p.input_zero_point = 10;
  // q_x = nearbyint(x / 0.25) + 10 = [14, 8, 12]; q_x - zp = [4, -2, 2];
  // row 0: 4*1 + (-2)(-2) + 2*3 = 14 -> 14 * 0.25 * 0.5 + 1 = 2.75; row 1: 0 -> -1.
  const at::Tensor x = at::tensor({1.0f, -0.5f, 0.5f}).reshape({1, 3});
  const at::Tensor expected = at::tensor({2.75f, -1.0f}).reshape({1, 2});
  EXPECT_TRUE(at::equal(ReferenceInt8Linear(p, x), expected)) << ReferenceInt8Linear(p, x);
  auto layer = Int8Linear::Create(p);
  ASSERT_TRUE(layer.ok()) << layer.status();
  EXPECT_TRUE(at::equal((*layer)->Forward(x), expected)) << (*layer)->Forward(x);
}

// Extreme operands whose u8 x s8 pair sums (2 * 255 * 127) overflow int16: exact on every ISA.
TEST(Int8LinearTest, ExtremeValuesAreExact) {
  const int64_t in = 64;
  Int8LinearParams p;
  at::Tensor w = at::empty({3, in}, at::kChar);
  w[0].fill_(127);
  w[1].fill_(-128);
  w[2].slice(0, 0, in, 2).fill_(127);
  w[2].slice(0, 1, in, 2).fill_(-128);
  p.weight_int8 = w;
  p.weight_scales = at::ones({1});
  p.dynamic = false;
  p.input_scale = 1.0;

  p.activation_signed = false;
  p.input_zero_point = 0;
  auto u8 = Int8Linear::Create(p);
  ASSERT_TRUE(u8.ok()) << u8.status();
  const at::Tensor x255 = at::full({2, in}, 255.0f);
  const at::Tensor y_u8 = (*u8)->Forward(x255);
  EXPECT_TRUE(at::equal(y_u8, at::tensor({2072640.0f, -2088960.0f, -8160.0f}).expand({2, 3})))
      << y_u8;  // 64 * 255 * 127, 64 * 255 * -128, 32 * 255 * (127 - 128)

  p.activation_signed = true;
  auto s8 = Int8Linear::Create(p);
  ASSERT_TRUE(s8.ok()) << s8.status();
  const at::Tensor x_s8 = at::stack({at::full({in}, 127.0f), at::full({in}, -128.0f)});
  const at::Tensor y_s8 = (*s8)->Forward(x_s8);
  EXPECT_TRUE(at::equal(y_s8, at::tensor({1032256.0f, -1040384.0f, -4064.0f,  //
                                          -1040384.0f, 1048576.0f, 4096.0f})
                                  .reshape({2, 3})))
      << y_s8;
}

TEST(Int8LinearTest, MatchesReferenceOnRaggedShapes) {
  // {x shape, out}: in = 7, 33, 768; out = 1, 5, 3072; M = 1, 3, 128 (some with leading dims).
  const std::vector<std::pair<std::vector<int64_t>, int64_t>> shapes = {
      {{1, 7}, 1},     {{3, 7}, 5},       {{2, 64, 7}, 3072}, {{1, 1, 33}, 5},
      {{3, 33}, 3072}, {{128, 33}, 1},    {{1, 768}, 3072},  {{3, 768}, 5},
      {{4, 32, 768}, 1}};
  uint64_t seed = 100;
  for (const Config& c : AllConfigs()) {
    for (const auto& [x_shape, out] : shapes) {
      const Case t = MakeCase(seed++, x_shape, out, c);
      CheckCase(t, Name(c) + " x " + std::to_string(t.x.numel() / x_shape.back()) + "x" +
                       std::to_string(x_shape.back()) + " out " + std::to_string(out));
    }
  }
}

TEST(Int8LinearTest, MatchesReferenceOnBertFfnShape) {
  // M = 128, in = 768, out = 3072: the two extreme configurations.
  CheckCase(MakeCase(1, {128, 768}, 3072, {true, false, false, true}),
            "per-channel u8 static bias");
  CheckCase(MakeCase(2, {128, 768}, 3072, {false, true, true, false}),
            "per-tensor s8 dynamic no-bias");
}

TEST(Int8LinearTest, ServesManyBatchSizes) {
  // More distinct row counts than the primitive cache holds, then earlier ones again.
  const Case t = MakeCase(3, {40, 33}, 5, {true, false, true, true});
  auto layer = Int8Linear::Create(t.params);
  ASSERT_TRUE(layer.ok()) << layer.status();
  for (int64_t m : {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 1, 40}) {
    const at::Tensor x = t.x.slice(0, 0, m);
    const at::Tensor ref = ReferenceInt8Linear(t.params, x);
    EXPECT_LE(((*layer)->Forward(x) - ref).abs().max().item<float>(),
              1e-5f * (ref.abs().max().item<float>() + t.bias.abs().max().item<float>()))
        << "m = " << m;
  }
  const at::Tensor empty = (*layer)->Forward(at::zeros({0, 33}));
  EXPECT_EQ(empty.sizes().vec(), (std::vector<int64_t>{0, 5}));
}

TEST(Int8LinearTest, ForwardIsThreadSafe) {
  const Case t = MakeCase(8, {64, 33}, 5, {false, false, true, true});
  auto layer = Int8Linear::Create(t.params);
  ASSERT_TRUE(layer.ok()) << layer.status();
  std::vector<at::Tensor> inputs, expected;
  for (int64_t m : {64, 3, 17, 1}) {
    inputs.push_back(t.x.slice(0, 0, m));
    expected.push_back((*layer)->Forward(inputs.back()));
  }
  std::vector<int> mismatches(inputs.size(), 0);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < inputs.size(); ++i) {
    threads.emplace_back([&, i] {
      for (int r = 0; r < 20; ++r) {
        if (!at::equal((*layer)->Forward(inputs[i]), expected[i])) ++mismatches[i];
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(mismatches, std::vector<int>(inputs.size(), 0));
}

TEST(Int8LinearTest, StaticScaleClipsLikeReference) {
  Case t = MakeCase(4, {3, 33}, 5, {false, false, false, true});
  t.params.input_scale /= 4;  // Most of x's range now clips to 0 or 255.
  auto layer = Int8Linear::Create(t.params);
  ASSERT_TRUE(layer.ok()) << layer.status();
  const at::Tensor ref = ReferenceInt8Linear(t.params, t.x);
  EXPECT_LE(((*layer)->Forward(t.x) - ref).abs().max().item<float>(),
            1e-5f * (ref.abs().max().item<float>() + t.bias.abs().max().item<float>()));
}

TEST(Int8LinearTest, ReportsPackedWeightBytes) {
  const Case t = MakeCase(5, {1, 768}, 3072, {true, false, false, false});
  auto layer = Int8Linear::Create(t.params);
  ASSERT_TRUE(layer.ok()) << layer.status();
  EXPECT_EQ((*layer)->in_features(), 768);
  EXPECT_EQ((*layer)->out_features(), 3072);
  // At least one byte per weight (twice that when split), plus compensation terms.
  EXPECT_GE((*layer)->weight_bytes(), ((*layer)->split_weights() ? 2 : 1) * 768 * 3072);
  EXPECT_LE((*layer)->weight_bytes(), ((*layer)->split_weights() ? 2 : 1) * 768 * 3072 + 65536);
}

absl::Status CreateStatus(const Int8LinearParams& p) { return Int8Linear::Create(p).status(); }

TEST(Int8LinearTest, RejectsBadParams) {
  const Case good = MakeCase(6, {2, 8}, 5, {true, false, false, true});
  ASSERT_TRUE(CreateStatus(good.params).ok());

  Int8LinearParams p = good.params;
  p.weight_int8 = good.weight;
  absl::Status s = CreateStatus(p);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("weight_int8: expected dtype Char (int8), got Float"));

  p = good.params;
  p.weight_scales = at::ones({3});
  s = CreateStatus(p);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("weight_scales: expected 1 (per-tensor) or 5 (per-output-channel) "
                        "elements, got 3"));

  p = good.params;
  p.weight_scales = at::tensor({1.0f, 1.0f, -1.0f, 1.0f, 1.0f});
  EXPECT_THAT(std::string(CreateStatus(p).message()),
              HasSubstr("weight_scales[2] = -1: expected finite and > 0"));

  p = good.params;
  p.input_zero_point = 300;
  s = CreateStatus(p);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("input_zero_point = 300: expected a value in [0, 255]"));

  p = good.params;
  p.activation_signed = true;
  p.input_zero_point = 5;
  EXPECT_THAT(std::string(CreateStatus(p).message()),
              HasSubstr("input_zero_point = 5: int8 activations are symmetric, expected 0"));

  p = good.params;
  p.input_scale = 0.0;
  EXPECT_THAT(std::string(CreateStatus(p).message()),
              HasSubstr("input_scale = 0: expected finite and > 0"));

  p = good.params;
  p.bias = at::ones({4});
  EXPECT_THAT(std::string(CreateStatus(p).message()),
              HasSubstr("bias: expected Float [5] or undefined, got Float of shape [4]"));

  p = good.params;
  p.weight_int8 = at::zeros({5}, at::kChar);
  EXPECT_THAT(std::string(CreateStatus(p).message()),
              HasSubstr("weight_int8: expected a non-empty [out, in] matrix, got shape [5]"));

  auto layer = Int8Linear::Create(good.params);
  ASSERT_TRUE(layer.ok());
  EXPECT_THROW((*layer)->Forward(at::zeros({2, 7})), c10::Error);
  EXPECT_THROW((*layer)->Forward(at::zeros({2, 8}, at::kDouble)), c10::Error);
}

// Sets a static output re-quantization whose range clips the top ~10% of `y_range`'s values.
void SetOutputRequantization(Int8LinearParams& p, const at::Tensor& y_range, bool is_signed) {
  p.requantize_output = true;
  const float lo = y_range.min().item<float>(), hi = y_range.max().item<float>();
  if (is_signed) {
    p.output_quant_min = -128;
    p.output_quant_max = 127;
    p.output_zero_point = 0;
    p.output_scale = 0.9 * std::max(-lo, hi) / 127.5;
  } else {
    p.output_quant_min = 0;
    p.output_quant_max = 255;
    p.output_scale = 0.9 * (hi - std::min(lo, 0.0f)) / 255.0;
    p.output_zero_point = std::min<int64_t>(
        255, std::max<int64_t>(0, std::llround(-std::min(lo, 0.0f) / p.output_scale)));
  }
}

TEST(Int8LinearTest, RequantizeOutputMatchesAtenFakeQuantizeBitwise) {
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(21);
  for (const bool is_signed : {false, true}) {
    Int8LinearParams p;
    p.requantize_output = true;
    p.output_scale = 0.037;
    p.output_zero_point = is_signed ? 0 : 77;
    p.output_quant_min = is_signed ? -128 : 0;
    p.output_quant_max = is_signed ? 127 : 255;
    // Random values over and beyond the range, exact ties (k + 0.5) * scale, 0, and an odd
    // length so the scalar tail runs too.
    at::Tensor y = at::randn({1001}, gen) * 4.0;
    const float scale = static_cast<float>(p.output_scale);
    at::Tensor ties = (at::arange(-40, 40, at::kFloat) + 0.5f) * scale;
    y = at::cat({y, ties, at::zeros({3})});
    const at::Tensor expected = at::fake_quantize_per_tensor_affine(
        y, p.output_scale, p.output_zero_point, p.output_quant_min, p.output_quant_max);
    at::Tensor got = y.clone();
    RequantizeOutput(p, got);
    EXPECT_TRUE(at::equal(got, expected)) << (got - expected).abs().max();
  }
}

TEST(Int8LinearTest, FusedOutputRequantizationEqualsMatmulThenFakeQuantize) {
  // Re-quantizing inside Int8Linear (oneDNN post-ops, or the separate pass where oneDNN
  // cannot fuse them) gives exactly the bits of the plain layer's output fake-quantized by
  // ATen, and agrees with the reference.
  for (const Config& c : AllConfigs()) {
    for (const int64_t m : {1, 3, 128}) {
      const Case t = MakeCase(300 + m, {m, 768}, 96, c);
      SCOPED_TRACE(Name(c) + " m " + std::to_string(m));
      auto plain = Int8Linear::Create(t.params);
      ASSERT_TRUE(plain.ok()) << plain.status();
      const at::Tensor y_plain = (*plain)->Forward(t.x);
      Int8LinearParams p = t.params;
      SetOutputRequantization(p, y_plain, c.activation_signed);
      auto requantized = Int8Linear::Create(p);
      ASSERT_TRUE(requantized.ok()) << requantized.status();
      if (Int8Linear::CpuIsa() == "avx512_core_vnni" || Int8Linear::CpuIsa() == "avx512_core_bf16") {
        EXPECT_TRUE((*requantized)->fused_requantize()) << (*requantized)->impl_info();
      }
      EXPECT_EQ((*requantized)->impl_info(), (*plain)->impl_info());
      const at::Tensor y = (*requantized)->Forward(t.x);
      const at::Tensor expected = at::fake_quantize_per_tensor_affine(
          y_plain, p.output_scale, p.output_zero_point, p.output_quant_min, p.output_quant_max);
      EXPECT_TRUE(at::equal(y, expected)) << "max diff " << (y - expected).abs().max();
      // Some outputs clip, many do not: the test covers both sides of the clamp.
      const float top = static_cast<float>((p.output_quant_max - p.output_zero_point) *
                                           static_cast<float>(p.output_scale));
      EXPECT_GT(y.ge(top).sum().item<int64_t>(), 0);
      EXPECT_GT(y.lt(top).sum().item<int64_t>(), 0);
      // Against the reference (fp32 epilogue rounding may flip an output by one step).
      const at::Tensor ref = ReferenceInt8Linear(p, t.x);
      const float step = static_cast<float>(p.output_scale);
      EXPECT_LE((y - ref).abs().max().item<float>(), step * 1.001f);
      EXPECT_LE((y - ref).abs().gt(step * 0.5f).sum().item<int64_t>(), y.numel() / 100 + 1);
    }
  }
}

TEST(Int8LinearTest, RejectsBadOutputRequantization) {
  const Case good = MakeCase(31, {2, 7}, 5, {false, false, false, true});
  Int8LinearParams p = good.params;
  p.requantize_output = true;
  p.output_scale = -1.0;
  EXPECT_THAT(std::string(Int8Linear::Create(p).status().message()),
              HasSubstr("output_scale = -1: expected finite and > 0"));
  p.output_scale = 0.1;
  p.output_zero_point = 300;
  EXPECT_THAT(std::string(Int8Linear::Create(p).status().message()),
              HasSubstr("output_zero_point = 300: outside [0, 255]"));
}

}  // namespace
}  // namespace kernels
