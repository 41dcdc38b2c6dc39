// INT8 execution of a linear layer, Y = X W^T + b, through oneDNN's u8/s8 x s8 matmul with
// int32 accumulation, plus a scalar reference of the same integer math for testing.
#ifndef KERNELS_INT8_LINEAR_H_
#define KERNELS_INT8_LINEAR_H_

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace kernels {

// Quantized weights and the activation quantization scheme of one linear layer.
//
// Dequantized weight:     w[n][k] = weight_scales[n or 0] * weight_int8[n][k] (zero point 0).
// Quantized activation:   q = clamp(nearbyint(x / input_scale) + input_zero_point, qmin, qmax)
// with round-half-to-even as at::quantize_per_tensor, and (qmin, qmax) = (0, 255) for uint8
// or (-128, 127) for int8.
struct Int8LinearParams {
  // [out, in] int8, symmetric (zero point 0).
  at::Tensor weight_int8;
  // float, [1] (per-tensor) or [out] (per-output-channel); finite and > 0.
  at::Tensor weight_scales;
  // float [out], or undefined for no bias.
  at::Tensor bias;
  // false: uint8 affine activations (zero point in [0, 255]); true: int8 symmetric (zero
  // point 0).
  bool activation_signed = false;
  // Static activation scale (ignored when `dynamic`); finite and > 0.
  double input_scale = 1.0;
  // Static activation zero point (ignored when `dynamic`).
  int64_t input_zero_point = 0;
  // true: scale and zero point come from each input's min/max (ChooseActivationQuantParams).
  bool dynamic = true;
  // Output re-quantization (a fake-quant model's re-quantized output), fused into the
  // matmul's epilogue so the fp32 output is written once:
  //   y' = (clamp(nearbyint(y * (1.0f / float(output_scale))) + output_zero_point,
  //               output_quant_min, output_quant_max) - output_zero_point) * float(output_scale)
  // exactly as at::fake_quantize_per_tensor_affine computes it from the same fp32 y.
  bool requantize_output = false;
  double output_scale = 1.0;  // finite and > 0 when requantize_output.
  int64_t output_zero_point = 0;
  int64_t output_quant_min = 0;  // e.g. 0 / 255 (uint8) or -128 / 127 (int8).
  int64_t output_quant_max = 255;
};

// The checks Int8Linear::Create applies (dtypes, shapes, finite positive scales, zero point
// range); InvalidArgument naming the field and value. Shared with other INT8 kernels.
absl::Status ValidateInt8LinearParams(const Int8LinearParams& params);

// Activation scale and zero point for one tensor.
struct ActivationQuantParams {
  double scale = 1.0;
  int64_t zero_point = 0;
};

// The dynamic-quantization rule shared by Int8Linear and the reference. The range is widened
// to include 0 so that 0 is exact. uint8: scale = (max - min) / 255, zero_point =
// nearbyint(-min / scale) clamped to [0, 255]. int8: scale = max(|min|, |max|) / 127, zero
// point 0. The scale is rounded to float; an all-zero (or denormal) range gives scale 1.
ActivationQuantParams ChooseActivationQuantParams(float min, float max, bool activation_signed);

// Quantizes fp32 `x` to uint8 (kByte) or int8 (kChar) of the same shape with Int8Linear's
// vectorized rule, which gives the same bytes as at::quantize_per_tensor(...).int_repr()
// (x * (1.0f / float(scale)), round half to even, + zero point, clamp).
at::Tensor QuantizeActivations(const at::Tensor& x, const ActivationQuantParams& params,
                               bool activation_signed);

// Applies `params`' output re-quantization (requantize_output must be true) to the fp32
// tensor `y` in place, vectorized: what Int8Linear runs after the matmul when oneDNN cannot
// fuse it. Gives the same bits as at::fake_quantize_per_tensor_affine(y, output_scale,
// output_zero_point, output_quant_min, output_quant_max).
void RequantizeOutput(const Int8LinearParams& params, at::Tensor& y);

// Symmetric int8 quantization of fp32 linear weights [out, in] (and an optional fp32 bias
// [out]): scale = max|w| / 127 over the tensor or per row (1 for an all-zero tensor or row),
// q = nearbyint(w / scale) in [-127, 127], so a zero weight stays exactly 0. The returned
// params use dynamic uint8 activations; set `dynamic = false`, `input_scale` and
// `input_zero_point` after calibration for static quantization.
Int8LinearParams QuantizeLinearWeights(const at::Tensor& weight_fp32, const at::Tensor& bias,
                                       bool per_channel);

// Scalar reference of Int8Linear::Forward: quantizes `x` with at::quantize_per_tensor, sums
// (q_x - zp) * q_w in int64, then computes in fp32
//   y = float(acc) * (float(input_scale) * weight_scale) + bias.
// With requantize_output, the result is then fake-quantized as documented on the params.
// Slow; for tests. `params` must be valid (see Int8Linear::Create).
at::Tensor ReferenceInt8Linear(const Int8LinearParams& params, const at::Tensor& x);

// A linear layer executed in INT8 by oneDNN. Create() validates the params and packs the
// weights once into the layout oneDNN's matmul prefers; Forward() quantizes the input, runs
// the matmul with s32 accumulation and writes fp32 with the scales, zero point and bias fused.
// Forward() is thread-safe; one matmul primitive is cached per input row count. Inference
// only: the output carries no autograd history.
//
//   kernels::Int8LinearParams params =
//       kernels::QuantizeLinearWeights(linear->weight, linear->bias, /*per_channel=*/true);
//   ASSIGN_OR_RETURN(std::unique_ptr<kernels::Int8Linear> layer,
//                    kernels::Int8Linear::Create(params));
//   at::Tensor y = layer->Forward(x);  // x: fp32 [..., in] -> y: fp32 [..., out]
//
// On CPUs without VNNI (e.g. AVX2 only), oneDNN 2.6's int8 GEMM adds u8 x s8 products in
// saturating int16 pairs and gives wrong results; there each weight is split into two halves
// of magnitude <= 64 along K (the input is duplicated), which keeps every pair sum in int16
// range and the result exact, at twice the arithmetic.
class Int8Linear {
 public:
  static absl::StatusOr<std::unique_ptr<Int8Linear>> Create(const Int8LinearParams& params);
  ~Int8Linear();
  Int8Linear(const Int8Linear&) = delete;
  Int8Linear& operator=(const Int8Linear&) = delete;

  // x: fp32 [..., in] (any leading dims, non-contiguous is fine). Returns fp32 [..., out].
  // Throws c10::Error (TORCH_CHECK) on a wrong dtype or last dimension.
  at::Tensor Forward(const at::Tensor& x) const;

  int64_t in_features() const;
  int64_t out_features() const;
  // Bytes of the packed weights (including oneDNN's compensation terms).
  int64_t weight_bytes() const;
  // True when the weights were split for a non-VNNI CPU (see the class comment).
  bool split_weights() const;
  // oneDNN's implementation of the matmul, e.g. "brg:avx512_core_vnni" or "gemm:jit".
  std::string impl_info() const;
  // True when the output re-quantization runs as oneDNN post-ops inside the matmul; false
  // when it is a separate vectorized pass (oneDNN would have left its fast kernel for it).
  bool fused_requantize() const;

  // The instruction set oneDNN dispatches to in this process, e.g. "avx512_core_bf16"
  // (honours DNNL_MAX_CPU_ISA).
  static std::string CpuIsa();

 private:
  struct Impl;
  explicit Int8Linear(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kernels

#endif  // KERNELS_INT8_LINEAR_H_
