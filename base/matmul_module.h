// A parameter-free module for a product of two activations (attention's Q K^T and P V), so
// that a transform can swap it like a Linear (quantization of the attention matmuls), and
// the helper parents call it through.
//
// Models register one per product and call it through the registry, never directly:
//
//   register_module("matmul_qk", base::MatMul());                      // in reset()
//   at::Tensor scores = base::ForwardBinaryChild(*this, "matmul_qk", q, k_t);
//
// MatMul has no parameters and no buffers, so state_dict()/named_parameters() (and Hugging
// Face checkpoints) are unchanged, and its forward is exactly at::matmul(a, b). A
// replacement type (e.g. a fake-quantized matmul) registers how it is called, once, from the
// library that defines it:
//
//   static const bool kRegistered = base::RegisterBinaryForward(
//       typeid(MyMatMulImpl), [](torch::nn::Module& m, const at::Tensor& a,
//                                const at::Tensor& b) {
//         return static_cast<MyMatMulImpl&>(m).forward(a, b);
//       });
#ifndef BASE_MATMUL_MODULE_H_
#define BASE_MATMUL_MODULE_H_

#include <string>
#include <typeinfo>

#include <ATen/core/Tensor.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/pimpl.h>

namespace base {

class MatMulImpl : public torch::nn::Cloneable<MatMulImpl> {
 public:
  MatMulImpl() = default;
  void reset() override {}
  // at::matmul(a, b).
  at::Tensor forward(const at::Tensor& a, const at::Tensor& b);
  void pretty_print(std::ostream& stream) const override;
};
TORCH_MODULE(MatMul);

using BinaryForwardFn = at::Tensor (*)(torch::nn::Module& module, const at::Tensor& a,
                                       const at::Tensor& b);

// Makes modules whose dynamic type is `type` callable by ForwardBinary. Returns true, so it
// can initialise a static; registering a type twice keeps the latest function.
bool RegisterBinaryForward(const std::type_info& type, BinaryForwardFn forward);

// forward(a, b) of a MatMul or of a registered type; any other type is a c10::Error naming
// it.
at::Tensor ForwardBinary(torch::nn::Module& module, const at::Tensor& a, const at::Tensor& b);

// ForwardBinary on `parent`'s registered child `name` (looked up on every call, so a
// replacement is picked up); a missing child is a c10::Error naming it.
at::Tensor ForwardBinaryChild(const torch::nn::Module& parent, const std::string& name,
                              const at::Tensor& a, const at::Tensor& b);

}  // namespace base

#endif  // BASE_MATMUL_MODULE_H_
