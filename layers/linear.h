// A fully connected layer whose computation is a pluggable kernel, so that quantization,
// INT8 conversion and deploy change what the layer computes without the model knowing:
// models hold a typed member and call it directly.
//
//   layers::Linear dense{nullptr};
//   dense = register_module("dense", layers::Linear(768, 3072));   // in reset()
//   at::Tensor y = dense->forward(x);
//   // A transform (fake quantization, INT8 conversion, deploy) later does:
//   layer.set_kernel(std::make_shared<MyLinearKernel>(layer, ...));
//
// The layer owns `weight` [out, in] and `bias` [out] under the names torch::nn::Linear
// uses, initialised exactly as torch::nn::Linear does, so state_dict(), Hugging Face
// checkpoints and anything keyed by parameter name (pruning masks, optimizer state) see no
// difference. Without a kernel forward is exactly at::linear(x, weight, bias), bit for
// bit what torch::nn::Linear computes. A kernel's state is its own (observers, packed
// weights), never a registered tensor.
#ifndef LAYERS_LINEAR_H_
#define LAYERS_LINEAR_H_

#include <cstdint>
#include <memory>
#include <ostream>

#include <ATen/core/Tensor.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/options/linear.h>
#include <torch/nn/pimpl.h>

namespace layers {

// What a Linear computes instead of at::linear(input, weight, bias). A kernel is built
// for one layer and holds what it computes from (the layer's own weight tensors, or a
// packed copy); it knows nothing about models or the compressor. `training` is the
// layer's train/eval mode.
class LinearKernel {
 public:
  virtual ~LinearKernel() = default;
  virtual at::Tensor Forward(const at::Tensor& input, bool training) = 0;
  // What pretty_print shows for the layer.
  virtual void PrettyPrint(std::ostream& stream) const = 0;
};

class LinearImpl : public torch::nn::Cloneable<LinearImpl> {
 public:
  LinearImpl(int64_t in_features, int64_t out_features)
      : LinearImpl(torch::nn::LinearOptions(in_features, out_features)) {}
  explicit LinearImpl(const torch::nn::LinearOptions& options);

  // Registers weight and bias and initialises them as torch::nn::Linear does (same
  // generator draws, in the same order).
  void reset() override;
  void reset_parameters();

  // kernel()->Forward(input, is_training()), or at::linear(input, weight, bias) without.
  at::Tensor forward(const at::Tensor& input);

  // Null restores at::linear.
  void set_kernel(std::shared_ptr<LinearKernel> kernel) { kernel_ = std::move(kernel); }
  const std::shared_ptr<LinearKernel>& kernel() const { return kernel_; }

  // A kernel carries per-layer state, so a layer running one is not cloned (c10::Error);
  // without a kernel, as Cloneable.
  std::shared_ptr<torch::nn::Module> clone(
      const c10::optional<torch::Device>& device = c10::nullopt) const override;
  void pretty_print(std::ostream& stream) const override;

  torch::nn::LinearOptions options;
  at::Tensor weight;  // [out_features, in_features]
  at::Tensor bias;    // [out_features]; undefined when options.bias() is false.

 private:
  std::shared_ptr<LinearKernel> kernel_;
};
TORCH_MODULE(Linear);

}  // namespace layers

#endif  // LAYERS_LINEAR_H_
