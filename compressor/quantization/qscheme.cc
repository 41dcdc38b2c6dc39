#include "compressor/quantization/qscheme.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include <ATen/ATen.h>

#include "absl/strings/str_cat.h"

namespace compressor {
namespace {

// Reshapes per-channel parameters [C] to broadcast against x along `axis`.
at::Tensor AlongAxis(const at::Tensor& param, const at::Tensor& x, const QuantScheme& scheme) {
  if (!scheme.per_channel) return param.reshape({});
  TORCH_CHECK(scheme.ch_axis < x.dim(), "per-channel axis ", scheme.ch_axis,
              " is out of range for a tensor of shape ", x.sizes());
  TORCH_CHECK(param.numel() == x.size(scheme.ch_axis), "per-channel parameters of shape ",
              param.sizes(), " do not match axis ", scheme.ch_axis, " of a tensor of shape ",
              x.sizes());
  std::vector<int64_t> shape(x.dim(), 1);
  shape[scheme.ch_axis] = param.numel();
  return param.reshape(shape);
}

void CheckPerTensor(const QuantParams& qparams, const QuantScheme& scheme) {
  if (scheme.per_channel) return;
  TORCH_CHECK(qparams.scale.numel() == 1 && qparams.zero_point.numel() == 1,
              "per-tensor quantization needs one scale and zero point, got shapes ",
              qparams.scale.sizes(), " and ", qparams.zero_point.sizes());
}

}  // namespace

int64_t QuantScheme::quant_min() const {
  if (dtype == "uint8") return 0;
  return reduce_range ? -64 : -128;
}

int64_t QuantScheme::quant_max() const {
  if (dtype == "uint8") return reduce_range ? 127 : 255;
  return reduce_range ? 63 : 127;
}

absl::Status QuantScheme::Validate(const std::string& source, const std::string& key) const {
  if (dtype != "int8" && dtype != "uint8") {
    return absl::InvalidArgumentError(absl::StrCat(source, ": ", key, ".dtype is \"", dtype,
                                                   "\"; supported: int8, uint8"));
  }
  if (per_channel && ch_axis < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": ", key, ".ch_axis must not be negative, got ", ch_axis));
  }
  return absl::OkStatus();
}

std::string QuantScheme::ToString() const {
  return absl::StrCat(dtype, reduce_range ? "(reduced range)" : "", " ",
                      symmetric ? "symmetric" : "affine", " ",
                      per_channel ? absl::StrCat("per-channel(axis ", ch_axis, ")")
                                  : std::string("per-tensor"));
}

QuantScheme QuantScheme::Int8SymmetricPerTensor() { return QuantScheme{}; }

QuantScheme QuantScheme::Int8SymmetricPerChannel(int64_t ch_axis) {
  QuantScheme scheme;
  scheme.per_channel = true;
  scheme.ch_axis = ch_axis;
  return scheme;
}

QuantScheme QuantScheme::Uint8AffinePerTensor() {
  QuantScheme scheme;
  scheme.dtype = "uint8";
  scheme.symmetric = false;
  return scheme;
}

bool operator==(const QuantScheme& a, const QuantScheme& b) {
  return a.dtype == b.dtype && a.symmetric == b.symmetric && a.per_channel == b.per_channel &&
         (!a.per_channel || a.ch_axis == b.ch_axis) && a.reduce_range == b.reduce_range;
}

QuantParams ComputeQParams(const at::Tensor& min, const at::Tensor& max,
                           const QuantScheme& scheme) {
  TORCH_CHECK(min.sizes() == max.sizes(), "ComputeQParams: min of shape ", min.sizes(),
              " and max of shape ", max.sizes(), " differ");
  TORCH_CHECK(scheme.per_channel || min.numel() == 1,
              "ComputeQParams: a per-tensor scheme needs one min/max, got shape ", min.sizes());
  const int64_t qmin = scheme.quant_min();
  const int64_t qmax = scheme.quant_max();
  at::Tensor lo = min.detach().to(at::kFloat).reshape({-1});
  at::Tensor hi = max.detach().to(at::kFloat).reshape({-1});
  // Never observed (PyTorch's initial +inf/-inf): its defaults.
  if (lo.numel() == 0 ||
      (lo.eq(INFINITY).all().item<bool>() && hi.eq(-INFINITY).all().item<bool>())) {
    const int64_t n = std::max<int64_t>(lo.numel(), 1);
    return {at::ones({n}, at::kFloat), at::zeros({n}, at::kLong)};
  }
  TORCH_CHECK(lo.le(hi).all().item<bool>(), "ComputeQParams: min ", lo, " exceeds max ", hi);
  const at::Tensor zero = at::zeros_like(lo);
  const at::Tensor min_neg = at::minimum(lo, zero);
  const at::Tensor max_pos = at::maximum(hi, zero);
  const at::Tensor eps = at::full_like(lo, kScaleEps);
  at::Tensor scale;
  at::Tensor zero_point = at::zeros(lo.sizes(), at::kLong);
  if (scheme.symmetric) {
    const at::Tensor amax = at::maximum(-min_neg, max_pos);
    scale = at::maximum(amax / (static_cast<double>(qmax - qmin) / 2), eps);
    // int8: 0; uint8: the middle of the range (128 for 0..255, as PyTorch).
    if (scheme.dtype == "uint8") zero_point.fill_(qmin + (qmax - qmin + 1) / 2);
  } else {
    scale = at::maximum((max_pos - min_neg) / static_cast<double>(qmax - qmin), eps);
    zero_point = at::clamp(qmin - at::round(min_neg / scale).to(at::kInt), qmin, qmax)
                     .to(at::kLong);
  }
  return {scale, zero_point};
}

at::Tensor Quantize(const at::Tensor& x, const QuantParams& qparams, const QuantScheme& scheme) {
  CheckPerTensor(qparams, scheme);
  // As the fake-quant kernels: round(x * (1 / scale)) in float32, half to even.
  const at::Tensor inv_scale = AlongAxis(qparams.scale.to(at::kFloat).reciprocal(), x, scheme);
  const at::Tensor zero_point = AlongAxis(qparams.zero_point.to(at::kLong), x, scheme);
  const at::Tensor q = at::clamp(at::round(x.detach().to(at::kFloat) * inv_scale).to(at::kLong) +
                                     zero_point,
                                 scheme.quant_min(), scheme.quant_max());
  return q.to(scheme.dtype == "uint8" ? at::kByte : at::kChar);
}

at::Tensor Dequantize(const at::Tensor& q, const QuantParams& qparams,
                      const QuantScheme& scheme) {
  CheckPerTensor(qparams, scheme);
  const at::Tensor scale = AlongAxis(qparams.scale.to(at::kFloat), q, scheme);
  const at::Tensor zero_point = AlongAxis(qparams.zero_point.to(at::kLong), q, scheme);
  return (q.to(at::kLong) - zero_point).to(at::kFloat) * scale;
}

at::Tensor FakeQuantize(const at::Tensor& x, const QuantParams& qparams,
                        const QuantScheme& scheme) {
  CheckPerTensor(qparams, scheme);
  if (!scheme.per_channel) {
    return at::fake_quantize_per_tensor_affine(x, qparams.scale.item<double>(),
                                               qparams.zero_point.item<int64_t>(),
                                               scheme.quant_min(), scheme.quant_max());
  }
  TORCH_CHECK(scheme.ch_axis < x.dim(), "per-channel axis ", scheme.ch_axis,
              " is out of range for a tensor of shape ", x.sizes());
  TORCH_CHECK(qparams.scale.numel() == x.size(scheme.ch_axis), "per-channel scale of shape ",
              qparams.scale.sizes(), " does not match axis ", scheme.ch_axis,
              " of a tensor of shape ", x.sizes());
  return at::fake_quantize_per_channel_affine(
      x, qparams.scale.to(at::kFloat).reshape({-1}),
      qparams.zero_point.to(at::kInt).reshape({-1}), scheme.ch_axis, scheme.quant_min(),
      scheme.quant_max());
}

}  // namespace compressor
