#include "layers/linear.h"

#include <memory>
#include <sstream>
#include <utility>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/nn/module.h>
#include <torch/nn/functional/linear.h>
#include <torch/nn/modules/linear.h>
#include <torch/utils.h>

#include "kernels/fp32_matmul.h"
#include "layers/fp32_backend.h"

namespace {

class Parent : public torch::nn::Module {
 public:
  Parent() { dense = register_module("dense", layers::Linear(5, 3)); }
  layers::Linear dense{nullptr};
};

// Returns the fp32 result plus 1 and records the mode it was called in.
class PlusOne : public layers::LinearKernel {
 public:
  explicit PlusOne(const layers::LinearImpl& layer) : weight(layer.weight), bias(layer.bias) {}
  at::Tensor Forward(const at::Tensor& input, bool training) override {
    last_training = training;
    return at::linear(input, weight, bias) + 1;
  }
  void PrettyPrint(std::ostream& stream) const override { stream << "PlusOne"; }
  at::Tensor weight, bias;
  bool last_training = false;
};

TEST(LinearTest, InitialisesAndComputesBitForBitAsTorchLinear) {
  for (const bool bias : {true, false}) {
    torch::manual_seed(7);
    torch::nn::Linear reference(torch::nn::LinearOptions(16, 9).bias(bias));
    const at::Tensor next_after_reference = at::rand({4});
    torch::manual_seed(7);
    layers::Linear linear(torch::nn::LinearOptions(16, 9).bias(bias));
    // Same values, and the generator left where torch::nn::Linear leaves it.
    EXPECT_TRUE(at::equal(at::rand({4}), next_after_reference));
    ASSERT_TRUE(at::equal(linear->weight, reference->weight));
    ASSERT_EQ(linear->bias.defined(), bias);
    if (bias) {
      ASSERT_TRUE(at::equal(linear->bias, reference->bias));
    }
    for (const auto& shape : {std::vector<int64_t>{16}, std::vector<int64_t>{4, 16},
                              std::vector<int64_t>{2, 3, 16}}) {
      const at::Tensor x = at::randn(shape);
      EXPECT_TRUE(at::equal(linear->forward(x), reference->forward(x)));
      // Gradients too, bit for bit: torch::nn::Linear runs F::linear (matmul + bias add on
      // inputs of 3 or more dims), whose backward sums the bias gradient in its own order.
      linear->zero_grad();
      reference->zero_grad();
      const at::Tensor upstream = at::randn(reference->forward(x).sizes());
      (linear->forward(x) * upstream).sum().backward();
      (reference->forward(x) * upstream).sum().backward();
      EXPECT_TRUE(at::equal(linear->weight.grad(), reference->weight.grad()));
      if (bias) EXPECT_TRUE(at::equal(linear->bias.grad(), reference->bias.grad()));
    }
  }
}

TEST(LinearTest, HasTorchLinearsParameterNamesAndNoBuffers) {
  Parent parent;
  EXPECT_EQ(parent.named_parameters().keys(),
            (std::vector<std::string>{"dense.weight", "dense.bias"}));
  EXPECT_TRUE(parent.named_buffers().is_empty());
  const auto state = parent.dense->named_parameters();
  EXPECT_EQ(state["weight"].sizes(), (at::IntArrayRef{3, 5}));
  EXPECT_TRUE(state["weight"].requires_grad());
  layers::Linear no_bias(torch::nn::LinearOptions(5, 3).bias(false));
  EXPECT_EQ(no_bias->named_parameters().keys(), (std::vector<std::string>{"weight"}));
}

TEST(LinearTest, RunsTheKernelSetOnTheTypedMemberInTheLayersModeAndClearsIt) {
  Parent parent;
  const at::Tensor x = at::randn({4, 5});
  const at::Tensor fp32 = parent.dense->forward(x);
  auto kernel = std::make_shared<PlusOne>(*parent.dense);
  parent.dense->set_kernel(kernel);
  EXPECT_EQ(parent.dense->kernel(), kernel);
  parent.train();
  EXPECT_TRUE(at::equal(parent.dense->forward(x), fp32 + 1));
  EXPECT_TRUE(kernel->last_training);
  parent.eval();
  parent.dense->forward(x);
  EXPECT_FALSE(kernel->last_training);
  // Parameters are untouched by setting a kernel.
  EXPECT_EQ(parent.named_parameters().keys(),
            (std::vector<std::string>{"dense.weight", "dense.bias"}));
  EXPECT_TRUE(parent.named_parameters()["dense.weight"].is_same(parent.dense->weight));
  std::ostringstream printed;
  parent.dense->pretty_print(printed);
  EXPECT_EQ(printed.str(), "layers::Linear(in_features=5, out_features=3, bias=true, kernel=PlusOne)");
  parent.dense->set_kernel(nullptr);
  EXPECT_EQ(parent.dense->kernel(), nullptr);
  EXPECT_TRUE(at::equal(parent.dense->forward(x), fp32));
}

TEST(LinearTest, ClonesWithoutAKernelOnly) {
  Parent parent;
  auto copy = std::dynamic_pointer_cast<layers::LinearImpl>(parent.dense->clone());
  ASSERT_NE(copy, nullptr);
  EXPECT_TRUE(at::equal(copy->weight, parent.dense->weight));
  EXPECT_FALSE(copy->weight.is_same(parent.dense->weight));  // A deep copy.
  EXPECT_TRUE(copy->named_parameters()["weight"].is_same(copy->weight));
  const at::Tensor x = at::randn({2, 5});
  EXPECT_TRUE(at::equal(copy->forward(x), parent.dense->forward(x)));
  parent.dense->set_kernel(std::make_shared<PlusOne>(*parent.dense));
  EXPECT_THROW(parent.dense->clone(), c10::Error);
}

// The oneDNN backend computes the layer (forward and gradients) with
// kernels::LinearWithAutograd, equal to at::linear to float rounding; aten is torch::nn::Linear.
TEST(LinearTest, Fp32BackendChoosesWhatComputesTheLayer) {
  torch::manual_seed(3);
  layers::Linear layer(16, 8);
  const at::Tensor x = at::randn({4, 6, 16});
  auto forward_and_grad = [&] {
    layer->zero_grad();
    at::Tensor y = layer->forward(x);
    y.pow(2).sum().backward();
    return std::make_pair(y.detach(), layer->weight.grad().clone());
  };
  ASSERT_EQ(layers::GetFp32Backend(), layers::Fp32Backend::kAten);  // The library default.
  const auto [aten_y, aten_grad] = forward_and_grad();
  EXPECT_TRUE(at::equal(aten_y, torch::nn::functional::linear(x, layer->weight, layer->bias)));
  layers::SetFp32Backend(layers::Fp32Backend::kOneDnn);
  const auto [onednn_y, onednn_grad] = forward_and_grad();
  layers::SetFp32Backend(layers::Fp32Backend::kAten);
  EXPECT_TRUE(at::equal(onednn_y, kernels::LinearWithAutograd(x, layer->weight, layer->bias).detach()));
  EXPECT_LE((onednn_y - aten_y).abs().max().item<float>(), 1e-5 * aten_y.abs().max().item<float>());
  EXPECT_LE((onednn_grad - aten_grad).abs().max().item<float>(),
            1e-5 * aten_grad.abs().max().item<float>());
  layers::Fp32Backend parsed;
  ASSERT_TRUE(layers::ParseFp32Backend("onednn", &parsed));
  EXPECT_EQ(parsed, layers::Fp32Backend::kOneDnn);
  EXPECT_STREQ(layers::Fp32BackendName(parsed), "onednn");
  EXPECT_FALSE(layers::ParseFp32Backend("mkl", &parsed));
}

}  // namespace
