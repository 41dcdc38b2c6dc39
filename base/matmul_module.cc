#include "base/matmul_module.h"

#include <ostream>

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include "base/forward_registry.h"

namespace base {

using Registry = internal::ForwardRegistry<BinaryForwardFn>;

at::Tensor MatMulImpl::forward(const at::Tensor& a, const at::Tensor& b) {
  return at::matmul(a, b);
}

void MatMulImpl::pretty_print(std::ostream& stream) const { stream << "base::MatMul()"; }

bool RegisterBinaryForward(const std::type_info& type, BinaryForwardFn forward) {
  Registry::Get().Register(type, forward);
  return true;
}

at::Tensor ForwardBinary(torch::nn::Module& module, const at::Tensor& a, const at::Tensor& b) {
  if (auto* matmul = module.as<MatMulImpl>()) return matmul->forward(a, b);
  const BinaryForwardFn forward = Registry::Get().Find(typeid(module));
  TORCH_CHECK(forward != nullptr, "ForwardBinary: module ", module.name(),
              " is neither a base::MatMul nor a type registered with "
              "base::RegisterBinaryForward");
  return forward(module, a, b);
}

at::Tensor ForwardBinaryChild(const torch::nn::Module& parent, const std::string& name,
                              const at::Tensor& a, const at::Tensor& b) {
  return ForwardBinary(internal::ChildNamed(parent, name, "ForwardBinaryChild"), a, b);
}

}  // namespace base
