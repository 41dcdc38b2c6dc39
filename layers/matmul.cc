#include "layers/matmul.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

namespace layers {

at::Tensor MatMulImpl::forward(const at::Tensor& a, const at::Tensor& b) {
  if (kernel_) return kernel_->Forward(a, b, is_training());
  return at::matmul(a, b);
}

std::shared_ptr<torch::nn::Module> MatMulImpl::clone(
    const c10::optional<torch::Device>& device) const {
  TORCH_CHECK(kernel_ == nullptr, "layers::MatMul: ", name(),
              " runs a kernel with per-layer state and cannot be cloned");
  return torch::nn::Cloneable<MatMulImpl>::clone(device);
}

void MatMulImpl::pretty_print(std::ostream& stream) const {
  if (kernel_ == nullptr) {
    stream << "layers::MatMul()";
    return;
  }
  stream << "layers::MatMul(kernel=";
  kernel_->PrettyPrint(stream);
  stream << ")";
}

}  // namespace layers
