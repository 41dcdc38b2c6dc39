// Calls a child module that maps one tensor to one tensor, whatever its concrete type.
//
// LibTorch's C++ modules have no virtual forward(), and Module::replace_module only updates
// a parent's registry of children, so a parent that keeps typed members
// (`torch::nn::Linear dense; dense->forward(x)`) keeps calling the old module after a
// transform (quantization-aware training, INT8 conversion) swaps in a replacement. Parents
// that want to stay swappable call their children through the registry instead:
//
//   at::Tensor out = base::ForwardChild(*this, "dense", x);   // inside a Module
//
// torch::nn::Linear is called natively; other types register how they are called, once,
// from the library that defines them:
//
//   static const bool kRegistered = base::RegisterUnaryForward(
//       typeid(MyLinearImpl), [](torch::nn::Module& m, const at::Tensor& x) {
//         return static_cast<MyLinearImpl&>(m).forward(x);
//       });
#ifndef BASE_UNARY_MODULE_H_
#define BASE_UNARY_MODULE_H_

#include <string>
#include <typeinfo>

#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>

namespace base {

using UnaryForwardFn = at::Tensor (*)(torch::nn::Module& module, const at::Tensor& input);

// Makes modules whose dynamic type is `type` callable by ForwardUnary. Returns true, so it
// can initialise a static; registering a type twice keeps the latest function.
bool RegisterUnaryForward(const std::type_info& type, UnaryForwardFn forward);

// forward(input) of a torch::nn::Linear or of a registered type; any other type is a
// c10::Error naming it.
at::Tensor ForwardUnary(torch::nn::Module& module, const at::Tensor& input);

// ForwardUnary on `parent`'s registered child `name` (looked up on every call, so a
// replacement is picked up); a missing child is a c10::Error naming it.
at::Tensor ForwardChild(const torch::nn::Module& parent, const std::string& name,
                        const at::Tensor& input);

}  // namespace base

#endif  // BASE_UNARY_MODULE_H_
