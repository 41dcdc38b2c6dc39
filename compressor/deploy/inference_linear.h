// Inference-time Linears: every layers::Linear without a kernel (or INT8-converted Int8LinearModule) of a
// model becomes an InferenceLinear that runs the fastest kernel for its weights: dense oneDNN
// fp32 / INT8, or the sparse fp32 / INT8 kernels of kernels/sparse_linear.h. Which one is
// decided per layer at conversion: layers below `min_sparse_sparsity` stay dense; above it,
// both kernels are timed on a random input of `calibration_rows` rows and the faster wins
// (the break-even is measured on the machine that runs the model, not guessed).
// Works on any torch::nn::Module whose parents call their Linears through
// base::ForwardChild; nothing here knows about BERT.
//
//   compressor::InferenceOptions options;
//   options.int8 = true;  // Per-channel int8 weights, dynamic uint8 activations.
//   ASSIGN_OR_RETURN(std::vector<std::string> converted,
//                    compressor::ConvertForInference(*model, options));
//   model->forward(input);  // Linears now run sparse / INT8 kernels.
#ifndef COMPRESSOR_DEPLOY_INFERENCE_LINEAR_H_
#define COMPRESSOR_DEPLOY_INFERENCE_LINEAR_H_

#include <cstdint>
#include <memory>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include "absl/status/statusor.h"
#include "kernels/int8_linear.h"
#include "kernels/sparse_linear.h"

namespace compressor {

enum class LinearKernel { kDenseFp32, kSparseFp32, kDenseInt8, kSparseInt8 };
// "dense_fp32", "sparse_fp32", "dense_int8", "sparse_int8".
const char* LinearKernelName(LinearKernel kernel);
absl::StatusOr<LinearKernel> LinearKernelFromName(const std::string& name);

struct InferenceOptions {
  // fp32 Linears: quantize to INT8 (per-channel symmetric weights, dynamic uint8
  // activations). Int8LinearModules are always INT8 with their own qparams.
  bool int8 = false;
  // "auto" (measured per layer), "sparse" or "dense".
  std::string kernel = "auto";
  // "auto": layers with a lower fraction of zero weights stay dense without timing.
  double min_sparse_sparsity = 0.5;
  // "auto": rows of the random input both kernels are timed on, and repetitions (best of).
  int64_t calibration_rows = 128;
  int calibration_reps = 3;
  // Passed to the sparse kernels.
  kernels::SparsePackOptions pack;
};

// An inference-only linear layer. Holds what it runs (the fp32 weight with its zeros, or the
// Int8LinearParams) for saving (see sparse_format.h); registers no parameters or buffers.
class InferenceLinearImpl : public torch::nn::Module {
 public:
  // weight: Float [out, in] (pruned weights are exact zeros); bias: Float [out] or undefined.
  // With options.int8 the weights are quantized first.
  static absl::StatusOr<std::shared_ptr<InferenceLinearImpl>> CreateFp32(
      const at::Tensor& weight, const at::Tensor& bias, const InferenceOptions& options);
  static absl::StatusOr<std::shared_ptr<InferenceLinearImpl>> CreateInt8(
      const kernels::Int8LinearParams& params, const InferenceOptions& options);
  // Exactly `kernel` (no timing); for loading a saved choice.
  static absl::StatusOr<std::shared_ptr<InferenceLinearImpl>> CreateWithKernel(
      const at::Tensor& fp32_weight, const at::Tensor& bias,
      const kernels::Int8LinearParams* int8_params, LinearKernel kernel,
      const kernels::SparsePackOptions& pack);

  // x: Float [..., in] -> Float [..., out]; no autograd history.
  at::Tensor forward(const at::Tensor& x);

  LinearKernel kernel() const { return kernel_; }
  bool is_int8() const { return kernel_ == LinearKernel::kDenseInt8 || kernel_ == LinearKernel::kSparseInt8; }
  int64_t in_features() const { return in_; }
  int64_t out_features() const { return out_; }
  // Fraction of exactly-zero weights (of the int8 weights when INT8).
  double sparsity() const { return sparsity_; }
  // Times (ms) measured by the "auto" choice, or -1 when not measured.
  double dense_ms() const { return dense_ms_; }
  double sparse_ms() const { return sparse_ms_; }
  // fp32: the weight and bias; INT8: the params (weight_int8, scales, bias, activations).
  const at::Tensor& fp32_weight() const { return weight_; }
  const at::Tensor& fp32_bias() const { return bias_; }
  const kernels::Int8LinearParams& int8_params() const { return params_; }

  void pretty_print(std::ostream& stream) const override;

  InferenceLinearImpl() = default;  // Use the Create functions.

 private:
  static absl::StatusOr<std::shared_ptr<InferenceLinearImpl>> Build(
      const at::Tensor& weight, const at::Tensor& bias, const kernels::Int8LinearParams* params,
      const InferenceOptions& options, const LinearKernel* forced);

  LinearKernel kernel_ = LinearKernel::kDenseFp32;
  int64_t in_ = 0, out_ = 0;
  double sparsity_ = 0.0;
  double dense_ms_ = -1.0, sparse_ms_ = -1.0;
  at::Tensor weight_, bias_;
  kernels::Int8LinearParams params_;
  std::shared_ptr<kernels::SparseLinear> sparse_fp32_;
  std::shared_ptr<kernels::SparseInt8Linear> sparse_int8_;
  std::shared_ptr<kernels::Int8Linear> dense_int8_;
  std::shared_ptr<const void> dense_fp32_;  // kernels::Fp32Linear (kept out of this header).
};
TORCH_MODULE(InferenceLinear);

// Replaces every layers::Linear without a kernel and every (non-requantizing) Int8LinearModule of `model`
// whose name contains `name_filter` (empty: all) by an InferenceLinear; returns the converted
// names. All or nothing: an error names the module and leaves the model unchanged.
absl::StatusOr<std::vector<std::string>> ConvertForInference(torch::nn::Module& model,
                                                             const InferenceOptions& options,
                                                             const std::string& name_filter = "");

// Every InferenceLinear of `model` by name, in named_modules() order.
std::vector<std::pair<std::string, std::shared_ptr<InferenceLinearImpl>>> InferenceLinears(
    const torch::nn::Module& model);

// Replaces the child `name` (dotted path) of `model` by `replacement`; NotFound naming it.
absl::Status ReplaceModule(torch::nn::Module& model, const std::string& name,
                           std::shared_ptr<torch::nn::Module> replacement);

}  // namespace compressor

#endif  // COMPRESSOR_DEPLOY_INFERENCE_LINEAR_H_
