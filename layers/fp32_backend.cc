#include "layers/fp32_backend.h"

#include <atomic>

#include <ATen/ATen.h>

#include "kernels/fp32_matmul.h"

namespace layers {
namespace {

std::atomic<Fp32Backend> backend{Fp32Backend::kAten};

}  // namespace

void SetFp32Backend(Fp32Backend value) { backend.store(value); }
Fp32Backend GetFp32Backend() { return backend.load(); }

const char* Fp32BackendName(Fp32Backend value) {
  return value == Fp32Backend::kOneDnn ? "onednn" : "aten";
}

bool ParseFp32Backend(const std::string& name, Fp32Backend* value) {
  if (name == "aten") {
    *value = Fp32Backend::kAten;
  } else if (name == "onednn") {
    *value = Fp32Backend::kOneDnn;
  } else {
    return false;
  }
  return true;
}

at::Tensor LinearForward(const at::Tensor& input, const at::Tensor& weight,
                         const at::Tensor& bias) {
  if (GetFp32Backend() == Fp32Backend::kOneDnn && input.scalar_type() == at::kFloat &&
      weight.scalar_type() == at::kFloat && input.device().is_cpu() && input.dim() >= 1) {
    return kernels::LinearWithAutograd(input, weight, bias);
  }
  return at::linear(input, weight, bias);
}

}  // namespace layers
