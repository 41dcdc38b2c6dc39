#include "base/matmul_module.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/nn/module.h>

namespace {

class Parent : public torch::nn::Module {
 public:
  Parent() { register_module("matmul", base::MatMul()); }
};

// A replacement that is not a MatMul: adds 1 to the product.
class PlusOneImpl : public torch::nn::Module {
 public:
  at::Tensor forward(const at::Tensor& a, const at::Tensor& b) { return at::matmul(a, b) + 1; }
};

const bool kPlusOneRegistered = base::RegisterBinaryForward(
    typeid(PlusOneImpl), [](torch::nn::Module& m, const at::Tensor& a, const at::Tensor& b) {
      return static_cast<PlusOneImpl&>(m).forward(a, b);
    });

TEST(MatMulModuleTest, IsExactlyAtMatmulWithoutState) {
  Parent parent;
  EXPECT_TRUE(parent.named_parameters().is_empty());
  EXPECT_TRUE(parent.named_buffers().is_empty());
  const at::Tensor a = at::randn({2, 3, 5, 4}), b = at::randn({2, 3, 4, 6});
  EXPECT_TRUE(at::equal(base::ForwardBinaryChild(parent, "matmul", a, b), at::matmul(a, b)));
}

TEST(MatMulModuleTest, CallsARegisteredReplacementAndRejectsOthers) {
  Parent parent;
  parent.replace_module("matmul", std::make_shared<PlusOneImpl>());
  const at::Tensor a = at::randn({3, 4}), b = at::randn({4, 2});
  EXPECT_TRUE(at::allclose(base::ForwardBinaryChild(parent, "matmul", a, b), at::matmul(a, b) + 1));
  EXPECT_THROW(base::ForwardBinaryChild(parent, "missing", a, b), c10::Error);
  parent.replace_module("matmul", std::make_shared<torch::nn::Module>());
  EXPECT_THROW(base::ForwardBinaryChild(parent, "matmul", a, b), c10::Error);
}

}  // namespace
