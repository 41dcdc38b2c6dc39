#include "layers/linear.h"

#include <cmath>
#include <tuple>

#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <torch/nn/functional/linear.h>
#include <torch/nn/init.h>

#include "layers/fp32_backend.h"

namespace layers {

LinearImpl::LinearImpl(const torch::nn::LinearOptions& options) : options(options) { reset(); }

void LinearImpl::reset() {
  weight = register_parameter("weight",
                              at::empty({options.out_features(), options.in_features()}));
  if (options.bias()) {
    bias = register_parameter("bias", at::empty({options.out_features()}));
  } else {
    bias = register_parameter("bias", at::Tensor(), /*requires_grad=*/false);
  }
  reset_parameters();
}

void LinearImpl::reset_parameters() {
  // torch::nn::LinearImpl::reset_parameters, draw for draw.
  torch::nn::init::kaiming_uniform_(weight, std::sqrt(5));
  if (bias.defined()) {
    int64_t fan_in = 0, fan_out = 0;
    std::tie(fan_in, fan_out) = torch::nn::init::_calculate_fan_in_and_fan_out(weight);
    const double bound = 1 / std::sqrt(fan_in);
    torch::nn::init::uniform_(bias, -bound, bound);
  }
}

at::Tensor LinearImpl::forward(const at::Tensor& input) {
  if (kernel_) return kernel_->Forward(input, is_training());
  if (GetFp32Backend() == Fp32Backend::kOneDnn) return LinearForward(input, weight, bias);
  // What torch::nn::Linear runs (addmm for 2-D inputs, matmul + bias add otherwise), not
  // at::linear (addmm on the flattened input), whose bias gradient sums in another order.
  return torch::nn::functional::linear(input, weight, bias);
}

std::shared_ptr<torch::nn::Module> LinearImpl::clone(
    const c10::optional<torch::Device>& device) const {
  TORCH_CHECK(kernel_ == nullptr, "layers::Linear: ", name(),
              " runs a kernel with per-layer state and cannot be cloned");
  return torch::nn::Cloneable<LinearImpl>::clone(device);
}

void LinearImpl::pretty_print(std::ostream& stream) const {
  stream << "layers::Linear(in_features=" << options.in_features()
         << ", out_features=" << options.out_features()
         << ", bias=" << (options.bias() ? "true" : "false");
  if (kernel_) {
    stream << ", kernel=";
    kernel_->PrettyPrint(stream);
  }
  stream << ")";
}

}  // namespace layers
