// Conversion of frozen QuantizedConv2ds to INT8 execution: each becomes an Int8Conv2dModule
// running kernels::Int8Conv2d (oneDNN u8/s8 x s8 convolution, int32 accumulation) with the
// qparams the QuantizedConv2d froze. The counterpart of convert.h for CNNs.
//
//   ASSIGN_OR_RETURN(auto convs, PrepareConvModel(*model, config));
//   ... QAT or calibration ...; module->Freeze() for each;
//   ASSIGN_OR_RETURN(std::vector<std::string> converted, ConvertConvsToInt8(*model));
//
// Semantics: the fake-quant forward's integer part, exactly:
//   y = (q_x - zp) * q_w accumulated in int32, * (s_x * s_w[o]) + bias[o] in fp32,
//   then FakeQuantize(y, output qparams) when the QuantizedConv2d re-quantized its output.
// Weights: int8 symmetric, per-tensor or per output channel, so a pruned (zero) weight is
// exactly 0 in int8 too. Activations: uint8 (affine or symmetric) or int8 symmetric.
// groups must be 1. Outputs come back in channels-last memory format (see int8_conv2d.h).
#ifndef COMPRESSOR_QUANTIZATION_CONVERT_CONV_H_
#define COMPRESSOR_QUANTIZATION_CONVERT_CONV_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include "absl/status/statusor.h"
#include "compressor/quantization/qat_conv.h"
#include "kernels/int8_conv2d.h"

namespace compressor {

// An inference-only Conv2d executed in INT8. Buffers (a record of what the kernel runs):
// weight int8 [out, in, kh, kw], weight_scale [1] or [out], bias [out] (if any),
// input_scale, input_zero_point, and output_scale/output_zero_point when re-quantizing.
class Int8Conv2dModuleImpl : public torch::nn::Module {
 public:
  // Errors (not frozen, never observed, unsupported scheme, groups != 1) do not name the
  // module; ConvertConvsToInt8 prefixes the name.
  static absl::StatusOr<std::shared_ptr<Int8Conv2dModuleImpl>> Create(
      const QuantizedConv2dImpl& quantized);

  at::Tensor forward(const at::Tensor& input);

  std::string impl_info() const { return kernel_->impl_info(); }
  const kernels::Int8Conv2dParams& params() const { return params_; }
  bool requantizes_output() const { return requantize_output_; }
  int64_t weight_zeros() const { return weight_zeros_; }
  int64_t weight_numel() const { return weight_numel_; }

 private:
  Int8Conv2dModuleImpl() = default;
  kernels::Int8Conv2dParams params_;
  std::unique_ptr<kernels::Int8Conv2d> kernel_;
  bool requantize_output_ = false;
  QuantScheme activation_scheme_;
  QuantParams output_qparams_;
  int64_t weight_zeros_ = 0;
  int64_t weight_numel_ = 0;
};
TORCH_MODULE(Int8Conv2dModule);

// Replaces every QuantizedConv2d of `model` by an Int8Conv2dModule; returns the converted
// names. All or nothing: every module is built before any is swapped; an error names the
// module and leaves the model unchanged.
absl::StatusOr<std::vector<std::string>> ConvertConvsToInt8(torch::nn::Module& model);

// Every Int8Conv2dModule of `model` by name, in named_modules() order.
std::vector<std::pair<std::string, std::shared_ptr<Int8Conv2dModuleImpl>>> Int8ConvModules(
    const torch::nn::Module& model);

}  // namespace compressor

#endif  // COMPRESSOR_QUANTIZATION_CONVERT_CONV_H_
