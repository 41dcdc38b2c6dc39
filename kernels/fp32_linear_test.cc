#include "kernels/fp32_linear.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <vector>

namespace kernels {
namespace {

TEST(Fp32LinearTest, MatchesAtLinearOnRaggedShapes) {
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(1);
  for (const auto& [m, k, n] : std::vector<std::tuple<int64_t, int64_t, int64_t>>{
           {1, 3, 5}, {37, 70, 45}, {130, 64, 96}}) {
    const at::Tensor x = at::randn({m, k}, gen), w = at::randn({n, k}, gen),
                     b = at::randn({n}, gen);
    auto with_bias = Fp32Linear::Create(w, b);
    ASSERT_TRUE(with_bias.ok()) << with_bias.status();
    EXPECT_TRUE(at::allclose((*with_bias)->Forward(x), at::linear(x, w, b), 1e-4, 1e-4));
    auto no_bias = Fp32Linear::Create(w, {});
    ASSERT_TRUE(no_bias.ok());
    EXPECT_TRUE(at::allclose((*no_bias)->Forward(x.reshape({1, m, k})),
                             at::linear(x, w).reshape({1, m, n}), 1e-4, 1e-4));
  }
}

TEST(Fp32LinearTest, RejectsBadShapes) {
  EXPECT_FALSE(Fp32Linear::Create(at::zeros({3}), {}).ok());
  EXPECT_FALSE(Fp32Linear::Create(at::zeros({3, 2}), at::zeros({2})).ok());
  auto layer = Fp32Linear::Create(at::zeros({3, 2}), {});
  ASSERT_TRUE(layer.ok());
  EXPECT_THROW((*layer)->Forward(at::zeros({4, 3})), c10::Error);
}

}  // namespace
}  // namespace kernels
