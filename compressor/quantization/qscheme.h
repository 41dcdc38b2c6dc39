// Quantization schemes and the arithmetic every quantizer shares: scale/zero point from a
// range exactly as PyTorch's observers compute them (torch.ao.quantization.observer
// _calculate_qparams), and quantize / dequantize / fake-quantize with those parameters.
//
//   QuantScheme weights;                      // int8, symmetric, per-tensor
//   QuantParams q = ComputeQParams(w.min(), w.max(), weights);
//   at::Tensor w_fq = FakeQuantize(w, q, weights);  // STE gradient built in
//
// Every range is widened to include 0 first, so 0.0 is always exactly representable:
// FakeQuantize(0) == 0 for every scheme, which is what keeps pruned weights pruned.
#ifndef COMPRESSOR_QUANTIZATION_QSCHEME_H_
#define COMPRESSOR_QUANTIZATION_QSCHEME_H_

#include <cstdint>
#include <string>

#include <ATen/core/Tensor.h>

#include "absl/status/status.h"

namespace compressor {

// How one tensor is quantized. Plain values with defaults (int8 symmetric per-tensor, the
// weight scheme of Prune OFA / Q8BERT).
struct QuantScheme {
  std::string dtype = "int8";  // int8 (-128..127) | uint8 (0..255).
  bool symmetric = true;       // true: zero point fixed (0 for int8, 128 for uint8);
                               // false: affine, zero point from the range.
  bool per_channel = false;    // One scale/zero point per slice along ch_axis.
  int64_t ch_axis = 0;         // Channel axis when per_channel (0 = Linear's out features).
  bool reduce_range = false;   // One bit less (int8 -64..63, uint8 0..127), as PyTorch's
                               // reduce_range for kernels that would overflow otherwise.

  // Derived from dtype and reduce_range.
  int64_t quant_min() const;
  int64_t quant_max() const;

  // Errors name `source` and `key` (e.g. "quantization config", "weight") and the value.
  absl::Status Validate(const std::string& source, const std::string& key) const;
  // e.g. "int8 symmetric per-tensor", "int8 symmetric per-channel(axis 0)".
  std::string ToString() const;

  static QuantScheme Int8SymmetricPerTensor();
  static QuantScheme Int8SymmetricPerChannel(int64_t ch_axis = 0);
  static QuantScheme Uint8AffinePerTensor();
};

bool operator==(const QuantScheme& a, const QuantScheme& b);
inline bool operator!=(const QuantScheme& a, const QuantScheme& b) { return !(a == b); }

// Quantization parameters: scale (float32) and zero point (int64), shape [1] per-tensor or
// [channels] per-channel, as PyTorch's observers return them.
struct QuantParams {
  at::Tensor scale;
  at::Tensor zero_point;
};

// The smallest scale PyTorch allows: torch.finfo(torch.float32).eps.
inline constexpr double kScaleEps = 1.1920928955078125e-07;

// Scale and zero point for the range [min, max] (float tensors of one shape: [] or [1]
// per-tensor, [channels] per-channel), computed in float32 as PyTorch does:
//   min' = min(min, 0), max' = max(max, 0)          (0 is always in the range)
//   symmetric: scale = max(-min', max') / ((quant_max - quant_min) / 2),
//              zero_point = 0 (int8) or the middle of the range (128 for uint8)
//   affine:    scale = (max' - min') / (quant_max - quant_min),
//              zero_point = clamp(quant_min - round(min' / scale), quant_min, quant_max)
//   scale = max(scale, kScaleEps).
// An unobserved range (min = +inf, max = -inf) gives scale 1 and zero point 0, as PyTorch.
QuantParams ComputeQParams(const at::Tensor& min, const at::Tensor& max,
                           const QuantScheme& scheme);

// Integer values clamp(round(x / scale) + zero_point, quant_min, quant_max), as kChar
// (int8) or kByte (uint8). Per-channel parameters broadcast along scheme.ch_axis.
at::Tensor Quantize(const at::Tensor& x, const QuantParams& qparams, const QuantScheme& scheme);
// (q - zero_point) * scale as float32.
at::Tensor Dequantize(const at::Tensor& q, const QuantParams& qparams, const QuantScheme& scheme);
// Dequantize(Quantize(x)) in one differentiable op (at::fake_quantize_per_tensor_affine /
// at::fake_quantize_per_channel_affine): the gradient is the straight-through estimator,
// passed where x is inside the representable range and zero where it was clamped.
at::Tensor FakeQuantize(const at::Tensor& x, const QuantParams& qparams,
                        const QuantScheme& scheme);

}  // namespace compressor

#endif  // COMPRESSOR_QUANTIZATION_QSCHEME_H_
