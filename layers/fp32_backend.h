// Which code computes the fp32 linear maps of training and evaluation: layers::Linear without
// a kernel, the fake-quant kernels' products and the tied MLM decoders all call LinearForward.
//
//   kAten    at::linear: LibTorch's BLAS (OpenBLAS here), the library default, bit for bit
//            what torch::nn::Linear computes;
//   kOneDnn  kernels::LinearWithAutograd: oneDNN's matmul, forward and both backward
//            products. Results equal at::linear's to float rounding. Faster where the BLAS
//            runs older kernels than the CPU has: a BERT-mini training step on AMD EPYC
//            (OpenBLAS on its AVX2 kernels) is in README "Benchmarks".
//
// Process-wide, set once at start-up (the recipe runner's --fp32_backend); a run and its
// resume must use the same backend for bit-identical results.
#ifndef LAYERS_FP32_BACKEND_H_
#define LAYERS_FP32_BACKEND_H_

#include <string>

#include <ATen/core/Tensor.h>

namespace layers {

enum class Fp32Backend { kAten, kOneDnn };

void SetFp32Backend(Fp32Backend backend);
Fp32Backend GetFp32Backend();
// "aten" | "onednn".
const char* Fp32BackendName(Fp32Backend backend);
// The backend named `name` ("aten" | "onednn"); false for any other name.
bool ParseFp32Backend(const std::string& name, Fp32Backend* backend);

// at::linear(input, weight, bias) on the selected backend (kAten for anything but Float CPU
// tensors).
at::Tensor LinearForward(const at::Tensor& input, const at::Tensor& weight,
                         const at::Tensor& bias);

}  // namespace layers

#endif  // LAYERS_FP32_BACKEND_H_
