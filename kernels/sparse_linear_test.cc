#include "kernels/sparse_linear.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <tuple>
#include <vector>

#include "kernels/int8_linear.h"

namespace kernels {
namespace {

using ::testing::HasSubstr;

// Every level this CPU can run, so each code path is checked against the reference.
std::vector<SimdLevel> Levels() {
  std::vector<SimdLevel> levels;
  for (SimdLevel l : {SimdLevel::kScalar, SimdLevel::kAvx2, SimdLevel::kAvx512,
                      SimdLevel::kAvx512Vnni}) {
    if (static_cast<int>(l) <= static_cast<int>(DetectSimdLevel())) levels.push_back(l);
  }
  return levels;
}

// (M, K, N): ragged against the 128-token tiles, 16-lane vectors, 16-row blocks and quads.
const std::vector<std::tuple<int64_t, int64_t, int64_t>> kShapes = {
    {1, 1, 1}, {3, 5, 7}, {17, 33, 19}, {130, 70, 45}, {257, 23, 36}};
const std::vector<double> kSparsities = {0.0, 0.5, 0.9, 0.99, 1.0};

// A weight with about `sparsity` exact zeros, and (when big enough) an empty output row and an
// empty input column.
at::Tensor SparseWeight(at::Generator& gen, int64_t n, int64_t k, double sparsity) {
  at::Tensor w = at::randn({n, k}, gen) * 0.1;
  w.masked_fill_(at::rand({n, k}, gen) < sparsity, 0.0);
  if (n >= 3) w[n / 2].zero_();
  if (k >= 3) w.select(1, k / 3).zero_();
  return w;
}

// |y - ref| <= 1e-5 * (|b| + sum_k |x_k w_k|): 1e-5 relative to the magnitude of the sum.
void ExpectClose(const at::Tensor& y, const at::Tensor& ref, const at::Tensor& x,
                 const at::Tensor& w, const at::Tensor& b, const std::string& what) {
  at::Tensor scale = at::matmul(x.abs().to(at::kDouble), w.abs().to(at::kDouble).t());
  if (b.defined()) scale = scale + b.abs().to(at::kDouble);
  const at::Tensor err = (y.to(at::kDouble) - ref.to(at::kDouble)).abs();
  const at::Tensor bad = err > scale * 1e-5 + 1e-30;
  ASSERT_EQ(bad.sum().item<int64_t>(), 0)
      << what << ": max error " << err.max().item<double>();
}

TEST(SparseLinearTest, Fp32MatchesReferenceOnEveryPathShapeAndSparsity) {
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(7);
  for (const auto& [m, k, n] : kShapes) {
    for (double sparsity : kSparsities) {
      const at::Tensor x = at::randn({m, k}, gen);
      const at::Tensor w = SparseWeight(gen, n, k, sparsity);
      const at::Tensor b = at::randn({n}, gen);
      const at::Tensor ref = ReferenceSparseLinear(w, b, {}, x);
      for (SimdLevel level : Levels()) {
        for (int r : {1, 4}) {
          SparsePackOptions options;
          options.rows_per_group = r;
          options.max_simd = level;
          auto layer = SparseLinear::Create(w, b, {}, options);
          ASSERT_TRUE(layer.ok()) << layer.status();
          EXPECT_EQ((*layer)->rows_per_group(), r);
          EXPECT_EQ((*layer)->nnz(), w.ne(0).sum().item<int64_t>());
          ExpectClose((*layer)->Forward(x), ref, x, w, b,
                      std::string(SimdLevelName(level)) + " r=" + std::to_string(r) + " shape " +
                          std::to_string(m) + "x" + std::to_string(k) + "x" + std::to_string(n) +
                          " sparsity " + std::to_string(sparsity));
        }
      }
    }
  }
}

TEST(SparseLinearTest, MaskDropsWeightsAndNoBiasWorks) {
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(3);
  const at::Tensor x = at::randn({2, 5, 40}, gen);
  const at::Tensor w = at::randn({24, 40}, gen);
  const at::Tensor mask = at::rand({24, 40}, gen) > 0.8;
  auto layer = SparseLinear::Create(w, {}, mask);
  ASSERT_TRUE(layer.ok()) << layer.status();
  EXPECT_EQ((*layer)->nnz(), mask.sum().item<int64_t>());
  const at::Tensor y = (*layer)->Forward(x);
  EXPECT_EQ(y.sizes(), (std::vector<int64_t>{2, 5, 24}));
  ExpectClose(y.reshape({10, 24}), ReferenceSparseLinear(w, {}, mask, x).reshape({10, 24}),
              x.reshape({10, 40}), w * mask, {}, "mask");
}

TEST(SparseLinearTest, AutoGroupsFourRowBlocksOnlyWhenRowsShareColumns) {
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(5);
  // 4x1 blocks: 4 consecutive output rows share each kept input column.
  const at::Tensor keep = (at::rand({16, 1, 64}, gen) > 0.9).expand({16, 4, 64}).reshape({64, 64});
  const at::Tensor w = at::randn({64, 64}, gen) * keep;
  auto blocked = SparseLinear::Create(w, {});
  ASSERT_TRUE(blocked.ok());
  EXPECT_EQ((*blocked)->rows_per_group(), 4);
  const at::Tensor unstructured = at::randn({64, 64}, gen) * (at::rand({64, 64}, gen) > 0.9);
  auto scattered = SparseLinear::Create(unstructured, {});
  ASSERT_TRUE(scattered.ok());
  EXPECT_EQ((*scattered)->rows_per_group(), 1);
}

TEST(SparseLinearTest, ThreadsGiveTheSameResult) {
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(9);
  const at::Tensor x = at::randn({300, 64}, gen);
  const at::Tensor w = SparseWeight(gen, 80, 64, 0.8);
  auto layer = SparseLinear::Create(w, {});
  ASSERT_TRUE(layer.ok());
  const int threads = at::get_num_threads();
  at::set_num_threads(1);
  const at::Tensor one = (*layer)->Forward(x);
  at::set_num_threads(2);
  const at::Tensor two = (*layer)->Forward(x);
  at::set_num_threads(threads);
  EXPECT_TRUE(at::equal(one, two));
}

TEST(SparseLinearTest, RejectsBadArguments) {
  auto bad_weight = SparseLinear::Create(at::zeros({4}), {});
  ASSERT_FALSE(bad_weight.ok());
  EXPECT_THAT(std::string(bad_weight.status().message()), HasSubstr("weight"));
  auto bad_bias = SparseLinear::Create(at::zeros({4, 3}), at::zeros({3}));
  ASSERT_FALSE(bad_bias.ok());
  EXPECT_THAT(std::string(bad_bias.status().message()), HasSubstr("bias"));
  auto bad_mask = SparseLinear::Create(at::zeros({4, 3}), {}, at::ones({3, 4}));
  ASSERT_FALSE(bad_mask.ok());
  EXPECT_THAT(std::string(bad_mask.status().message()), HasSubstr("mask"));
  SparsePackOptions options;
  options.rows_per_group = 2;
  EXPECT_FALSE(SparseLinear::Create(at::zeros({4, 3}), {}, {}, options).ok());
  auto layer = SparseLinear::Create(at::zeros({4, 3}), {});
  ASSERT_TRUE(layer.ok());
  EXPECT_THROW((*layer)->Forward(at::zeros({2, 5})), c10::Error);
  EXPECT_THROW((*layer)->Forward(at::zeros({2, 3}, at::kDouble)), c10::Error);
  EXPECT_EQ((*layer)->Forward(at::zeros({0, 3})).sizes(), (std::vector<int64_t>{0, 4}));
}

struct Int8Config {
  bool per_channel, activation_signed, dynamic, with_bias;
};

TEST(SparseInt8LinearTest, EqualsInt8ReferenceExactlyOnEveryPath) {
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(11);
  const std::vector<Int8Config> configs = {
      {true, false, false, true}, {true, false, true, true}, {false, true, false, false},
      {true, true, true, true},   {false, false, true, false}};
  int checked = 0;
  for (const auto& [m, k, n] : kShapes) {
    for (double sparsity : kSparsities) {
      for (const Int8Config& c : configs) {
        const at::Tensor x = at::randn({m, k}, gen) * 2.0 + 0.5;
        const at::Tensor w = SparseWeight(gen, n, k, sparsity);
        const at::Tensor b = c.with_bias ? at::randn({n}, gen) : at::Tensor();
        Int8LinearParams p = QuantizeLinearWeights(w, b, c.per_channel);
        p.activation_signed = c.activation_signed;
        p.dynamic = c.dynamic;
        const ActivationQuantParams q = ChooseActivationQuantParams(
            x.min().item<float>() * 1.1f, x.max().item<float>() * 0.9f, c.activation_signed);
        p.input_scale = q.scale;
        p.input_zero_point = q.zero_point;  // Static: the top 10% of x clips.
        const at::Tensor ref = ReferenceInt8Linear(p, x);
        for (SimdLevel level : Levels()) {
          for (int variant = 0; variant < 3; ++variant) {  // r=1, r=4 aligned, r=4 gathered.
            const bool gather = variant == 2;
            SparsePackOptions options;
            options.rows_per_group = variant == 0 ? 1 : 4;
            options.max_simd = level;
            options.int8_layout = gather ? SparsePackOptions::Int8Layout::kGatheredQuads
                                         : SparsePackOptions::Int8Layout::kAlignedQuads;
            auto layer = SparseInt8Linear::Create(p, options);
            ASSERT_TRUE(layer.ok()) << layer.status();
            EXPECT_EQ((*layer)->nnz(), p.weight_int8.ne(0).sum().item<int64_t>());
            EXPECT_EQ((*layer)->gathered(), gather);
            EXPECT_EQ((*layer)->simd(), level);
            const at::Tensor y = (*layer)->Forward(x);
            ASSERT_TRUE(at::equal(y, ref))
                << SimdLevelName(level) << " r=" << options.rows_per_group << " gathered "
                << gather << " shape " << m << "x" << k << "x" << n << " sparsity " << sparsity
                << " signed " << c.activation_signed << " dynamic " << c.dynamic
                << ": max diff " << (y - ref).abs().max().item<float>();
            ++checked;
          }
        }
      }
    }
  }
  EXPECT_GT(checked, 0);
}

TEST(SparseInt8LinearTest, ExtremeValuesDoNotOverflow) {
  // x at the top of the u8 range and weights +-127 over a long row: pair sums beyond int16.
  const int64_t k = 1000, n = 20;
  Int8LinearParams p;
  p.weight_int8 = at::full({n, k}, 127, at::kChar);
  p.weight_int8.slice(0, 0, 10).fill_(-127);
  p.weight_scales = at::full({1}, 0.01f);
  p.dynamic = false;
  p.input_scale = 0.1;
  p.input_zero_point = 3;
  const at::Tensor x = at::full({5, k}, 1000.0f);
  for (SimdLevel level : Levels()) {
    for (auto layout : {SparsePackOptions::Int8Layout::kAlignedQuads,
                        SparsePackOptions::Int8Layout::kGatheredQuads}) {
      SparsePackOptions options;
      options.max_simd = level;
      options.rows_per_group = 4;
      options.int8_layout = layout;
      auto layer = SparseInt8Linear::Create(p, options);
      ASSERT_TRUE(layer.ok());
      EXPECT_TRUE(at::equal((*layer)->Forward(x), ReferenceInt8Linear(p, x)))
          << SimdLevelName(level) << " gathered " << (*layer)->gathered();
    }
  }
}

// 4x1 blocks (4 rows share each kept input column) at 90%, long ragged inputs: the layout
// the encoder benchmark runs, on every path, against the reference.
TEST(SparseInt8LinearTest, GatheredQuadsFor4x1BlocksEqualReference) {
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(13);
  for (const auto& [m, k, n] : std::vector<std::tuple<int64_t, int64_t, int64_t>>{
           {200, 301, 64}, {64, 768, 30}, {129, 130, 17}}) {
    const int64_t blocks = (n + 3) / 4;
    const at::Tensor keep = (at::rand({blocks, 1, k}, gen) > 0.9)
                                .expand({blocks, 4, k})
                                .reshape({4 * blocks, k})
                                .slice(0, 0, n);
    const at::Tensor w = at::randn({n, k}, gen) * keep;
    Int8LinearParams p = QuantizeLinearWeights(w, at::randn({n}, gen), true);
    const at::Tensor x = at::randn({m, k}, gen);
    const at::Tensor ref = ReferenceInt8Linear(p, x);
    for (SimdLevel level : Levels()) {
      SparsePackOptions options;
      options.max_simd = level;
      options.int8_layout = SparsePackOptions::Int8Layout::kGatheredQuads;
      auto layer = SparseInt8Linear::Create(p, options);
      ASSERT_TRUE(layer.ok());
      EXPECT_EQ((*layer)->rows_per_group(), 4);
      EXPECT_TRUE((*layer)->gathered());
      // Dense gathered quads: about 1/4 of the aligned ones at 90% (1 - 0.9^4 = 34% of the
      // aligned quads hold a nonzero, one on average).
      EXPECT_LT((*layer)->quad_density(), 0.15) << m << "x" << k << "x" << n;
      EXPECT_TRUE(at::equal((*layer)->Forward(x), ref))
          << SimdLevelName(level) << " " << m << "x" << k << "x" << n;
    }
  }
}

TEST(SparseInt8LinearTest, AutoGathersOnlyWhenRowsShareSparseColumns) {
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(17);
  const at::Tensor keep = (at::rand({16, 1, 256}, gen) > 0.9).expand({16, 4, 256}).reshape({64, 256});
  const Int8LinearParams blocked = QuantizeLinearWeights(at::randn({64, 256}, gen) * keep, {}, true);
  const Int8LinearParams dense = QuantizeLinearWeights(at::randn({64, 256}, gen), {}, true);
  auto b = SparseInt8Linear::Create(blocked);
  auto d = SparseInt8Linear::Create(dense);
  ASSERT_TRUE(b.ok() && d.ok());
  EXPECT_EQ((*b)->rows_per_group(), 4);
  EXPECT_EQ((*b)->gathered(), DetectSimdLevel() == SimdLevel::kAvx512Vnni);
  EXPECT_FALSE((*d)->gathered());  // Every aligned quad is full: nothing to gain.
}

TEST(SparseInt8LinearTest, QuadDensityCountsStoredQuads) {
  // 1x4 blocks: every stored quad is full, so quad density equals density.
  Int8LinearParams p;
  p.weight_int8 = at::zeros({8, 16}, at::kChar);
  p.weight_int8.slice(1, 4, 8).fill_(3);  // Quad 1 of every row.
  p.weight_scales = at::ones({1});
  auto layer = SparseInt8Linear::Create(p);
  ASSERT_TRUE(layer.ok());
  EXPECT_DOUBLE_EQ((*layer)->density(), 0.25);
  EXPECT_DOUBLE_EQ((*layer)->quad_density(), 0.25);
  p.weight_scales = at::zeros({1});
  auto bad = SparseInt8Linear::Create(p);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("weight_scales"));
}

}  // namespace
}  // namespace kernels
