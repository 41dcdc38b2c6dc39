#include "layers/matmul.h"

#include <memory>
#include <sstream>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/nn/module.h>

namespace {

class Parent : public torch::nn::Module {
 public:
  Parent() { matmul = register_module("matmul", layers::MatMul()); }
  layers::MatMul matmul{nullptr};
};

// Adds 1 to the product and records the mode it was called in.
class PlusOne : public layers::MatMulKernel {
 public:
  at::Tensor Forward(const at::Tensor& a, const at::Tensor& b, bool training) override {
    last_training = training;
    return at::matmul(a, b) + 1;
  }
  void PrettyPrint(std::ostream& stream) const override { stream << "PlusOne"; }
  bool last_training = false;
};

TEST(MatMulTest, IsExactlyAtMatmulWithoutState) {
  Parent parent;
  EXPECT_TRUE(parent.named_parameters().is_empty());
  EXPECT_TRUE(parent.named_buffers().is_empty());
  const at::Tensor a = at::randn({2, 3, 5, 4}), b = at::randn({2, 3, 4, 6});
  EXPECT_TRUE(at::equal(parent.matmul->forward(a, b), at::matmul(a, b)));
}

TEST(MatMulTest, RunsTheKernelSetOnTheTypedMemberInTheLayersMode) {
  Parent parent;
  auto kernel = std::make_shared<PlusOne>();
  parent.matmul->set_kernel(kernel);
  const at::Tensor a = at::randn({3, 4}), b = at::randn({4, 2});
  parent.train();
  EXPECT_TRUE(at::allclose(parent.matmul->forward(a, b), at::matmul(a, b) + 1));
  EXPECT_TRUE(kernel->last_training);
  parent.eval();
  parent.matmul->forward(a, b);
  EXPECT_FALSE(kernel->last_training);
  std::ostringstream printed;
  parent.matmul->pretty_print(printed);
  EXPECT_EQ(printed.str(), "layers::MatMul(kernel=PlusOne)");
  EXPECT_THROW(parent.matmul->clone(), c10::Error);
  parent.matmul->set_kernel(nullptr);
  EXPECT_TRUE(at::equal(parent.matmul->forward(a, b), at::matmul(a, b)));
  EXPECT_NE(parent.matmul->clone(), nullptr);
}

}  // namespace
