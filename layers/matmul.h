// The attention product of two activations (Q K^T, P V) as a layer whose computation is a
// pluggable kernel, so that quantization changes what the layer computes without the model
// knowing: models hold a typed member and call it directly.
//
//   layers::MatMul matmul{nullptr};
//   matmul = register_module("matmul", layers::MatMul());     // in reset()
//   at::Tensor scores = matmul->forward(q, k.transpose(-1, -2));
//   // A transform (e.g. quantize_attention_matmuls) later does:
//   layer.set_kernel(std::make_shared<MyMatMulKernel>(...));
//
// Without a kernel forward is exactly at::matmul(a, b). The layer has no parameters and no
// buffers, so state_dict() (and Hugging Face checkpoints) do not see it; a kernel's state is
// its own (e.g. observers), never a registered tensor.
#ifndef LAYERS_MATMUL_H_
#define LAYERS_MATMUL_H_

#include <memory>
#include <ostream>

#include <ATen/core/Tensor.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/pimpl.h>

namespace layers {

// What a MatMul computes instead of at::matmul(a, b). Kernels know nothing about models or
// about the compressor; `training` is the layer's train/eval mode.
class MatMulKernel {
 public:
  virtual ~MatMulKernel() = default;
  virtual at::Tensor Forward(const at::Tensor& a, const at::Tensor& b, bool training) = 0;
  // What pretty_print shows for the layer.
  virtual void PrettyPrint(std::ostream& stream) const = 0;
};

class MatMulImpl : public torch::nn::Cloneable<MatMulImpl> {
 public:
  MatMulImpl() = default;
  void reset() override {}
  // kernel()->Forward(a, b, is_training()), or at::matmul(a, b) without a kernel.
  at::Tensor forward(const at::Tensor& a, const at::Tensor& b);

  // Null restores at::matmul.
  void set_kernel(std::shared_ptr<MatMulKernel> kernel) { kernel_ = std::move(kernel); }
  const std::shared_ptr<MatMulKernel>& kernel() const { return kernel_; }

  // A kernel carries per-layer state (observers), so a layer running one is not cloned
  // (c10::Error); without a kernel, as Cloneable.
  std::shared_ptr<torch::nn::Module> clone(
      const c10::optional<torch::Device>& device = c10::nullopt) const override;
  void pretty_print(std::ostream& stream) const override;

 private:
  std::shared_ptr<MatMulKernel> kernel_;
};
TORCH_MODULE(MatMul);

}  // namespace layers

#endif  // LAYERS_MATMUL_H_
