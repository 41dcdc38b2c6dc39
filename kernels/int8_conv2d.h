// INT8 execution of a 2-D convolution, Y = conv2d(X, W) + b, through oneDNN's u8/s8 x s8
// convolution with int32 accumulation and the per-output-channel scales and bias fused,
// plus an exact integer reference for testing. Knows nothing about models.
//
//   kernels::Int8Conv2dParams params;
//   params.weight_int8 = w_q;                 // int8 [out, in, kh, kw], symmetric
//   params.weight_scales = w_scales;          // float [out] (or [1])
//   params.bias = bias;                       // float [out] or undefined
//   params.stride = {1, 1}; params.padding = {1, 1};
//   params.input_scale = s_x; params.input_zero_point = zp_x;   // static uint8 affine
//   ASSIGN_OR_RETURN(auto conv, kernels::Int8Conv2d::Create(params));
//   at::Tensor y = conv->Forward(x);          // fp32 [N, in, H, W] -> fp32 [N, out, OH, OW]
//
// Semantics: q_x = clamp(nearbyint(x / input_scale) + zero_point) (as
// at::quantize_per_tensor); acc[n,o,y,x] = sum (q_x - zp) * q_w over the receptive field,
// with padding contributing real zeros (i.e. padded q_x = zp); then in fp32
//   y = float(acc) * (float(input_scale) * weight_scale[o]) + bias[o].
// The output is returned in channels-last memory format (NHWC strides, NCHW sizes), which
// LibTorch's element-wise ops, pooling and the next Int8Conv2d take without a copy.
//
// Only groups = 1. On CPUs without VNNI (AVX2, AVX-512 without VNNI) oneDNN's int8
// convolutions add u8 x s8 products in saturating int16 pairs; there each weight is split
// into two halves of magnitude <= 64 against a duplicated input (as Int8Linear does), which
// stays exact at twice the arithmetic, i.e. no speed-up over fp32 on such CPUs.
#ifndef KERNELS_INT8_CONV2D_H_
#define KERNELS_INT8_CONV2D_H_

#include <ATen/core/Tensor.h>

#include <array>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace kernels {

struct Int8Conv2dParams {
  at::Tensor weight_int8;    // int8 [out, in, kh, kw], zero point 0.
  at::Tensor weight_scales;  // float [1] or [out]; finite and > 0.
  at::Tensor bias;           // float [out], or undefined.
  std::array<int64_t, 2> stride = {1, 1};
  std::array<int64_t, 2> padding = {0, 0};
  std::array<int64_t, 2> dilation = {1, 1};
  bool activation_signed = false;  // false: uint8 affine; true: int8 symmetric (zp 0).
  double input_scale = 1.0;        // Static activation scale; finite and > 0.
  int64_t input_zero_point = 0;    // [0, 255] for uint8, 0 for int8.
};

// Exact integer reference of Int8Conv2d::Forward (double-precision convolution of the
// integer values, which is exact for these ranges), for tests. NCHW contiguous output.
at::Tensor ReferenceInt8Conv2d(const Int8Conv2dParams& params, const at::Tensor& x);

class Int8Conv2d {
 public:
  // Validates the params (errors name the field and value) and packs the weights once.
  static absl::StatusOr<std::unique_ptr<Int8Conv2d>> Create(const Int8Conv2dParams& params);
  ~Int8Conv2d();
  Int8Conv2d(const Int8Conv2d&) = delete;
  Int8Conv2d& operator=(const Int8Conv2d&) = delete;

  // x: float [N, in, H, W], any memory format. Returns float [N, out, OH, OW] in
  // channels-last memory format. Thread-safe; one primitive is cached per input shape.
  // Throws c10::Error on a wrong dtype or shape.
  at::Tensor Forward(const at::Tensor& x) const;

  int64_t in_channels() const;
  int64_t out_channels() const;
  // oneDNN's implementation, e.g. "brg_conv_fwd:avx512_core_vnni" or "jit_int8:...".
  std::string impl_info() const;

 private:
  struct Impl;
  explicit Int8Conv2d(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kernels

#endif  // KERNELS_INT8_CONV2D_H_
