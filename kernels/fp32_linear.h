// Dense fp32 linear layer, Y = X W^T + b, on oneDNN's matmul with the weights packed once into
// the layout oneDNN prefers (brgemm on AVX-512): the dense fp32 choice of the inference path
// and a baseline of the sparse kernels' benchmarks.
//
//   ASSIGN_OR_RETURN(std::unique_ptr<kernels::Fp32Linear> layer,
//                    kernels::Fp32Linear::Create(linear->weight, linear->bias));
//   at::Tensor y = layer->Forward(x);  // fp32 [..., in] -> fp32 [..., out]
#ifndef KERNELS_FP32_LINEAR_H_
#define KERNELS_FP32_LINEAR_H_

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace kernels {

// Thread-safe Forward(); one primitive cached per input row count. Inference only.
class Fp32Linear {
 public:
  // weight: Float [out, in]; bias: Float [out] or undefined.
  static absl::StatusOr<std::unique_ptr<Fp32Linear>> Create(const at::Tensor& weight,
                                                            const at::Tensor& bias);
  ~Fp32Linear();
  Fp32Linear(const Fp32Linear&) = delete;
  Fp32Linear& operator=(const Fp32Linear&) = delete;

  // x: Float [..., in]. Returns Float [..., out]; TORCH_CHECKs dtype and shape.
  at::Tensor Forward(const at::Tensor& x) const;

  int64_t in_features() const;
  int64_t out_features() const;
  int64_t weight_bytes() const;
  // oneDNN's implementation, e.g. "brg:avx512_core".
  std::string impl_info() const;

 private:
  struct Impl;
  explicit Fp32Linear(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kernels

#endif  // KERNELS_FP32_LINEAR_H_
