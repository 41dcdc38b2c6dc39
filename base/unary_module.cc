#include "base/unary_module.h"

#include <c10/util/Exception.h>
#include <torch/nn/modules/linear.h>

#include "base/forward_registry.h"
#include "layers/linear.h"

namespace base {

using Registry = internal::ForwardRegistry<UnaryForwardFn>;

bool RegisterUnaryForward(const std::type_info& type, UnaryForwardFn forward) {
  Registry::Get().Register(type, forward);
  return true;
}

at::Tensor ForwardUnary(torch::nn::Module& module, const at::Tensor& input) {
  if (auto* linear = module.as<layers::Linear>()) return linear->forward(input);
  if (auto* linear = module.as<torch::nn::Linear>()) return linear->forward(input);
  const UnaryForwardFn forward = Registry::Get().Find(typeid(module));
  TORCH_CHECK(forward != nullptr, "ForwardUnary: module ", module.name(),
              " is neither a layers::Linear, a torch::nn::Linear nor a type registered with "
              "base::RegisterUnaryForward");
  return forward(module, input);
}

at::Tensor ForwardChild(const torch::nn::Module& parent, const std::string& name,
                        const at::Tensor& input) {
  return ForwardUnary(internal::ChildNamed(parent, name, "ForwardChild"), input);
}

}  // namespace base
