// Conversion of a frozen fake-quant model to INT8 execution: every Linear running a
// FakeQuantLinearKernel becomes an Int8LinearModule that runs kernels::Int8Linear (oneDNN
// u8/s8 x s8 matmul, int32 accumulation) with exactly the qparams the kernel froze.
//
//   ASSIGN_OR_RETURN(auto swapped, PrepareModel(*model, config));
//   ... QAT or calibration ...; for each fake-quant kernel: kernel->Freeze();
//   ASSIGN_OR_RETURN(std::vector<std::string> converted, ConvertToInt8(*model));
//
// Semantics (what "converted == fake quant" means here):
//   x_q = quantize(x, input scale/zero point)        static: the frozen input_qparams();
//                                                      dynamic: each input's min/max
//   w_q = Quantize(weight, weight_qparams())         int8 symmetric, zero point 0, so an
//                                                      exactly-zero weight stays exactly 0
//   y   = (x_q - zp) w_q^T * (s_x * s_w) + bias      int32 accumulation, fp32 epilogue
//   y'  = FakeQuantize(y, output_qparams())          only when the fake-quant kernel
//                                                      re-quantized its output; fused into
//                                                      the kernel's epilogue (oneDNN
//                                                      post-ops), bit-identical to
//                                                      FakeQuantize of the kernel's y
// The integer part is the same as the fake-quant module's; only fp32 rounding of the
// epilogue differs (and, through it, an occasional output rounding flipped by one step).
// QuantizedMatMuls (quantize_attention_matmuls) are left as they are: frozen fake-quant
// modules (fp32 matmul of fake-quantized inputs); there is no INT8 batched-matmul kernel.
//
// Supported schemes (others are an error naming the module): weights int8 symmetric,
// per-tensor or per-channel along axis 0 (out features); activations uint8 (affine or
// symmetric) or int8 symmetric, full range (no reduce_range); dynamic input quantization
// only with uint8 affine activations (the kernel's dynamic rule; PyTorch's int8-symmetric
// rule divides by 127.5, the kernel's by 127, so they would not agree).
//
// Not handled by Quantization's output_model(): converting there would need a new
// dependency of the existing //compressor/quantization:quantization target, and tests read
// the frozen QuantizedLinears after on_train_end, so callers convert explicitly.
#ifndef COMPRESSOR_QUANTIZATION_CONVERT_H_
#define COMPRESSOR_QUANTIZATION_CONVERT_H_

#include <cstdint>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include "absl/status/statusor.h"
#include "compressor/quantization/qat.h"
#include "compressor/quantization/qscheme.h"
#include "kernels/int8_linear.h"

namespace compressor {

// An inference-only Linear executed in INT8, built from a frozen FakeQuantLinearKernel. It has
// no parameters; its buffers are
//   weight            int8 [out, in] (the name the fp32 weight had, now int8)
//   weight_scale      fp32 [1] or [out]
//   bias              fp32 [out] (absent when the Linear had none)
//   input_scale, input_zero_point     static activation qparams (absent when dynamic)
//   output_scale, output_zero_point   re-quantized output qparams (absent when fp32 out)
// The buffers are a record of what the kernel runs: the kernel packs its own copy at
// construction, so editing them afterwards changes nothing. Not Cloneable.
class Int8LinearModuleImpl : public torch::nn::Module {
 public:
  // Errors (not frozen, unobserved activations, unsupported scheme, kernel rejection)
  // do not name the module; ConvertToInt8 prefixes the name.
  static absl::StatusOr<std::shared_ptr<Int8LinearModuleImpl>> Create(
      const FakeQuantLinearKernel& quantized);

  // x: float [..., in] -> float [..., out]; no autograd history.
  at::Tensor forward(const at::Tensor& input);

  bool is_int8() const { return true; }
  // oneDNN's implementation of the matmul, e.g. "brg:avx512_core_vnni".
  std::string impl_info() const { return kernel_->impl_info(); }
  const kernels::Int8Linear& kernel() const { return *kernel_; }
  const kernels::Int8LinearParams& params() const { return params_; }
  bool dynamic() const { return params_.dynamic; }
  bool requantizes_output() const { return requantize_output_; }
  int64_t in_features() const { return kernel_->in_features(); }
  int64_t out_features() const { return kernel_->out_features(); }
  // Exactly-zero entries of the int8 weight and their total (sparsity = zeros / numel).
  int64_t zero_weights() const;
  int64_t weight_numel() const { return params_.weight_int8.numel(); }

  void pretty_print(std::ostream& stream) const override;

  // Use Create().
  Int8LinearModuleImpl(kernels::Int8LinearParams params,
                       std::unique_ptr<kernels::Int8Linear> kernel, QuantScheme weight_scheme,
                       QuantScheme activation_scheme, bool requantize_output,
                       QuantParams output_qparams);

 private:
  kernels::Int8LinearParams params_;
  std::unique_ptr<kernels::Int8Linear> kernel_;
  QuantScheme weight_scheme_;
  QuantScheme activation_scheme_;
  bool requantize_output_ = false;
  QuantParams output_qparams_;
};
TORCH_MODULE(Int8LinearModule);

// Replaces every fake-quant Linear of `model` (QuantizedModules order) by an Int8LinearModule
// through its parent's replace_module; returns the converted names. All or nothing: every
// module is converted before any is swapped, and an error (no fake-quant Linear, a module not
// frozen, never observed, or with an unsupported scheme) names the module and leaves the
// model unchanged. Parents must call the children through base::ForwardChild (as models/
// does) for the swap to take effect, exactly as for PrepareModel.
absl::StatusOr<std::vector<std::string>> ConvertToInt8(torch::nn::Module& model);

// Every Int8LinearModule of `model` by name, in named_modules() order.
std::vector<std::pair<std::string, std::shared_ptr<Int8LinearModuleImpl>>> Int8Modules(
    const torch::nn::Module& model);

}  // namespace compressor

#endif  // COMPRESSOR_QUANTIZATION_CONVERT_H_
