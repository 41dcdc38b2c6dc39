// Dense fp32 matrix products for training, on oneDNN's matmul with the operands' own strided
// layouts (nothing is packed: weights change every step). On CPUs where LibTorch's BLAS runs
// older kernels than the CPU has (Debian's OpenBLAS 0.3.21 on AMD Zen 5 runs AVX2 ones),
// oneDNN's AVX-512 code is faster: BERT-mini's Linear products, forward and both backward
// ones at batch 32 x seq 128, took 59 ms against OpenBLAS's 111 ms (AMD EPYC, 2 threads).
//
//   at::Tensor y = kernels::LinearWithAutograd(x, weight, bias);  // = at::linear, with grads
#ifndef KERNELS_FP32_MATMUL_H_
#define KERNELS_FP32_MATMUL_H_

#include <ATen/core/Tensor.h>

namespace kernels {

// a [m, k] x b [k, n] (+ bias [n]) -> a new contiguous [m, n]. a and b are Float CPU
// matrices, each row-major or a transpose of one (e.g. w.t()); any other layout is made
// contiguous first. No autograd. TORCH_CHECKs dtypes and shapes.
at::Tensor Matmul(const at::Tensor& a, const at::Tensor& b, const at::Tensor& bias = {});

// at::linear(x, weight, bias) (x [..., in], weight [out, in], bias [out] or undefined) whose
// forward and backward products run on Matmul; gradients flow to every input that requires
// them. Results equal at::linear's to float rounding (the summation order differs).
at::Tensor LinearWithAutograd(const at::Tensor& x, const at::Tensor& weight,
                              const at::Tensor& bias);

}  // namespace kernels

#endif  // KERNELS_FP32_MATMUL_H_
