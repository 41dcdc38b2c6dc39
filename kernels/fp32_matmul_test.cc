#include "kernels/fp32_matmul.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace kernels {
namespace {

float RelativeError(const at::Tensor& got, const at::Tensor& want) {
  return ((got - want).abs().max() / want.abs().max().clamp_min(1e-30)).item<float>();
}

TEST(Fp32MatmulTest, EqualsAtMmForEveryLayout) {
  torch::manual_seed(0);
  const at::Tensor a = at::randn({37, 19}), b = at::randn({19, 23}), bias = at::randn({23});
  const at::Tensor want = at::mm(a, b);
  EXPECT_LE(RelativeError(Matmul(a, b), want), 1e-5);
  // Transposed views of row-major storage, as the backward products use them.
  EXPECT_LE(RelativeError(Matmul(a.t().contiguous().t(), b), want), 1e-5);
  EXPECT_LE(RelativeError(Matmul(a, b.t().contiguous().t()), want), 1e-5);
  // A layout that is neither (every other column) is copied first.
  const at::Tensor wide = at::randn({37, 38});
  const at::Tensor strided = wide.slice(1, 0, 38, 2);
  EXPECT_LE(RelativeError(Matmul(strided, b), at::mm(strided, b)), 1e-5);
  EXPECT_LE(RelativeError(Matmul(a, b, bias), at::addmm(bias, a, b)), 1e-5);
  EXPECT_TRUE(Matmul(a, b).is_contiguous());
}

TEST(Fp32MatmulTest, EmptyInnerDimensionGivesTheBias) {
  const at::Tensor a = at::empty({3, 0}), b = at::empty({0, 4}), bias = at::arange(4.0f);
  EXPECT_TRUE(Matmul(a, b).eq(0).all().item<bool>());
  EXPECT_TRUE(Matmul(a, b, bias).eq(bias.expand({3, 4})).all().item<bool>());
}

TEST(Fp32MatmulTest, RejectsMismatchedShapesAndTypes) {
  EXPECT_THROW(Matmul(at::randn({3, 4}), at::randn({5, 2})), c10::Error);
  EXPECT_THROW(Matmul(at::randn({3, 4}).to(at::kDouble), at::randn({4, 2})), c10::Error);
  EXPECT_THROW(Matmul(at::randn({3, 4}), at::randn({4, 2}), at::randn({3})), c10::Error);
  EXPECT_THROW(LinearWithAutograd(at::randn({3, 4}), at::randn({2, 5}), {}), c10::Error);
}

// Forward and every gradient equal at::linear's on a 3-D input, with and without bias.
TEST(Fp32MatmulTest, LinearWithAutogradEqualsAtLinearAndItsGradients) {
  for (const bool with_bias : {true, false}) {
    torch::manual_seed(1);
    const at::Tensor x0 = at::randn({4, 9, 16}), w0 = at::randn({12, 16}), b0 = at::randn({12});
    const at::Tensor upstream = at::randn({4, 9, 12});
    auto run = [&](bool ours) {
      at::Tensor x = x0.clone().requires_grad_(), w = w0.clone().requires_grad_();
      at::Tensor b = with_bias ? b0.clone().requires_grad_() : at::Tensor();
      at::Tensor y = ours ? LinearWithAutograd(x, w, b) : at::linear(x, w, b);
      (y * upstream).sum().backward();
      return std::vector<at::Tensor>{y.detach(), x.grad(), w.grad(),
                                     with_bias ? b.grad() : at::zeros({1})};
    };
    const auto ours = run(true), want = run(false);
    EXPECT_EQ(ours[0].sizes(), want[0].sizes());
    for (size_t i = 0; i < ours.size(); ++i) {
      EXPECT_LE(RelativeError(ours[i], want[i]), 1e-5) << "output " << i << " bias " << with_bias;
    }
  }
}

TEST(Fp32MatmulTest, GradientsOnlyWhereRequired) {
  const at::Tensor x = at::randn({5, 8}), b = at::randn({3});
  const at::Tensor w = at::randn({3, 8}).requires_grad_();
  LinearWithAutograd(x, w, b).sum().backward();
  ASSERT_TRUE(w.grad().defined());
  EXPECT_LE(RelativeError(w.grad(), x.sum(0).expand({3, 8})), 1e-5);
  EXPECT_FALSE(x.requires_grad());
}

}  // namespace
}  // namespace kernels
