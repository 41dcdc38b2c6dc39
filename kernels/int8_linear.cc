#include "kernels/int8_linear.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <oneapi/dnnl/dnnl.hpp>

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#include <immintrin.h>
#define KERNELS_HAVE_AVX2_QUANTIZER 1
#endif

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <sstream>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "kernels/onednn.h"

namespace kernels {
namespace {

using dnnl::memory;
using Dims = memory::dims;

// Row count used to pick the packed weight layout at Create(). oneDNN's int8 layouts depend
// on K and N (and the ISA), not on M: every per-M primitive accepts the same packed weights.
constexpr int64_t kPackRows = 128;
// Distinct input row counts that keep a compiled primitive (least recently used evicted).
constexpr size_t kMaxCachedRowCounts = 16;
// |sum_k (q_x - zp) * q_w| <= in * 255 * 128 must fit the int32 accumulator.
constexpr int64_t kMaxInFeatures = 65536;

std::string ShapeString(at::IntArrayRef sizes) {
  std::ostringstream os;
  os << sizes;
  return os.str();
}

std::string DtypeString(const at::Tensor& t) { return std::string(c10::toString(t.scalar_type())); }

// Runs a u8/s8 x s8 matmul whose int16 pair sums overflow (x = max, w = 127) and reports
// whether the result is exact. oneDNN 2.6 without VNNI multiplies with vpmaddubsw, which
// saturates a_0 * b_0 + a_1 * b_1 to int16; with VNNI (vpdpbusd) products go straight to
// int32.
bool ProbeExactInt8Matmul(memory::data_type src_type) {
  constexpr int64_t kM = 2, kK = 64, kN = 16;
  const bool is_signed = src_type == memory::data_type::s8;
  try {
    dnnl::engine& engine = CpuEngine();
    dnnl::stream stream(engine);
    memory::desc src_md({kM, kK}, src_type, memory::format_tag::ab);
    memory::desc any_weights_md({kK, kN}, memory::data_type::s8, memory::format_tag::any);
    memory::desc dst_md({kM, kN}, memory::data_type::f32, memory::format_tag::ab);
    dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(src_md, any_weights_md, dst_md), engine);
    std::vector<uint8_t> src(kM * kK, is_signed ? 127 : 255);
    std::vector<int8_t> weights(kK * kN, 127);
    std::vector<float> dst(kM * kN, 0.0f);
    memory plain_weights({{kK, kN}, memory::data_type::s8, memory::format_tag::ab}, engine,
                         weights.data());
    memory packed_weights(pd.weights_desc(), engine);
    dnnl::reorder(plain_weights, packed_weights).execute(stream, plain_weights, packed_weights);
    memory src_mem(src_md, engine, src.data());
    memory dst_mem(dst_md, engine, dst.data());
    dnnl::matmul(pd).execute(stream, {{DNNL_ARG_SRC, src_mem},
                                      {DNNL_ARG_WEIGHTS, packed_weights},
                                      {DNNL_ARG_DST, dst_mem}});
    stream.wait();
    const float expected = static_cast<float>(kK * (is_signed ? 127 : 255) * 127);
    return std::all_of(dst.begin(), dst.end(), [&](float v) { return v == expected; });
  } catch (const dnnl::error&) {
    return false;  // Create() reports the real failure.
  }
}

bool Int8MatmulIsExact(bool activation_signed) {
  static const bool exact_u8 = ProbeExactInt8Matmul(memory::data_type::u8);
  static const bool exact_s8 = ProbeExactInt8Matmul(memory::data_type::s8);
  return activation_signed ? exact_s8 : exact_u8;
}

// q = clamp(nearbyint(x * inv_scale) + zero_point, lo, hi), evaluated in float exactly as
// at::quantize_per_tensor (ATen's quantize_val) does, so both give identical bytes. NaN maps
// to `lo` (as the SIMD max/min do).
template <typename T>
void QuantizeScalar(const float* x, int64_t n, float inv_scale, float zero_point, float lo,
                    float hi, T* q) {
  for (int64_t i = 0; i < n; ++i) {
    float v = std::nearbyint(x[i] * inv_scale) + zero_point;
    v = v > lo ? v : lo;
    v = v < hi ? v : hi;
    q[i] = static_cast<T>(static_cast<int>(v));
  }
}

#ifdef KERNELS_HAVE_AVX2_QUANTIZER
// The same arithmetic eight lanes at a time: mul, round-to-nearest-even, add, clamp.
__attribute__((target("avx2"))) void QuantizeAvx2(const float* x, int64_t n, float inv_scale,
                                                  float zero_point, float lo, float hi,
                                                  bool is_signed, void* out) {
  const __m256 vinv = _mm256_set1_ps(inv_scale);
  const __m256 vzp = _mm256_set1_ps(zero_point);
  const __m256 vlo = _mm256_set1_ps(lo);
  const __m256 vhi = _mm256_set1_ps(hi);
  auto* q = static_cast<uint8_t*>(out);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 v = _mm256_mul_ps(_mm256_loadu_ps(x + i), vinv);
    v = _mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    v = _mm256_add_ps(v, vzp);
    v = _mm256_min_ps(_mm256_max_ps(v, vlo), vhi);
    const __m256i i32 = _mm256_cvtps_epi32(v);  // Exact: v is an integer in [lo, hi].
    const __m128i i16 =
        _mm_packs_epi32(_mm256_castsi256_si128(i32), _mm256_extracti128_si256(i32, 1));
    const __m128i i8 = is_signed ? _mm_packs_epi16(i16, i16) : _mm_packus_epi16(i16, i16);
    _mm_storel_epi64(reinterpret_cast<__m128i*>(q + i), i8);
  }
  if (is_signed) {
    QuantizeScalar(x + i, n - i, inv_scale, zero_point, lo, hi, reinterpret_cast<int8_t*>(q + i));
  } else {
    QuantizeScalar(x + i, n - i, inv_scale, zero_point, lo, hi, q + i);
  }
}
#endif

void QuantizeRow(const float* x, int64_t n, float inv_scale, float zero_point, bool is_signed,
                 void* q) {
  const float lo = is_signed ? -128.0f : 0.0f;
  const float hi = is_signed ? 127.0f : 255.0f;
#ifdef KERNELS_HAVE_AVX2_QUANTIZER
  static const bool has_avx2 = __builtin_cpu_supports("avx2");
  if (has_avx2) {
    QuantizeAvx2(x, n, inv_scale, zero_point, lo, hi, is_signed, q);
    return;
  }
#endif
  if (is_signed) {
    QuantizeScalar(x, n, inv_scale, zero_point, lo, hi, static_cast<int8_t*>(q));
  } else {
    QuantizeScalar(x, n, inv_scale, zero_point, lo, hi, static_cast<uint8_t*>(q));
  }
}

// The output re-quantization of Int8LinearParams in place, as
// at::fake_quantize_per_tensor_affine: y = clamp(nearbyint(y * inv_scale), lo, hi) * scale,
// where lo / hi are quant_min / quant_max minus the zero point (the zero point cancels).
struct Requantizer {
  float inv_scale = 1.0f, scale = 1.0f, lo = 0.0f, hi = 255.0f;
};

void RequantizeScalar(float* y, int64_t n, const Requantizer& r) {
  for (int64_t i = 0; i < n; ++i) {
    float v = std::nearbyint(y[i] * r.inv_scale);
    v = v > r.lo ? v : r.lo;
    v = v < r.hi ? v : r.hi;
    y[i] = v * r.scale;
  }
}

#ifdef KERNELS_HAVE_AVX2_QUANTIZER
__attribute__((target("avx2"))) void RequantizeAvx2(float* y, int64_t n, const Requantizer& r) {
  const __m256 vinv = _mm256_set1_ps(r.inv_scale);
  const __m256 vscale = _mm256_set1_ps(r.scale);
  const __m256 vlo = _mm256_set1_ps(r.lo);
  const __m256 vhi = _mm256_set1_ps(r.hi);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 v = _mm256_mul_ps(_mm256_loadu_ps(y + i), vinv);
    v = _mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    v = _mm256_min_ps(_mm256_max_ps(v, vlo), vhi);
    _mm256_storeu_ps(y + i, _mm256_mul_ps(v, vscale));
  }
  RequantizeScalar(y + i, n - i, r);
}
#endif

void RequantizeInPlace(float* y, int64_t n, const Requantizer& r) {
#ifdef KERNELS_HAVE_AVX2_QUANTIZER
  static const bool has_avx2 = __builtin_cpu_supports("avx2");
  if (has_avx2) {
    RequantizeAvx2(y, n, r);
    return;
  }
#endif
  RequantizeScalar(y, n, r);
}

Requantizer MakeRequantizer(const Int8LinearParams& p) {
  Requantizer r;
  r.scale = static_cast<float>(p.output_scale);
  r.inv_scale = 1.0f / r.scale;
  r.lo = static_cast<float>(p.output_quant_min - p.output_zero_point);
  r.hi = static_cast<float>(p.output_quant_max - p.output_zero_point);
  return r;
}

absl::Status ValidateParams(const Int8LinearParams& p) {
  const at::Tensor& w = p.weight_int8;
  if (!w.defined()) return absl::InvalidArgumentError("Int8LinearParams.weight_int8 is undefined");
  if (w.scalar_type() != at::kChar) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Int8LinearParams.weight_int8: expected dtype Char (int8), got ", DtypeString(w)));
  }
  if (w.dim() != 2 || w.size(0) < 1 || w.size(1) < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Int8LinearParams.weight_int8: expected a non-empty [out, in] matrix, got shape ",
        ShapeString(w.sizes())));
  }
  if (!w.device().is_cpu()) {
    return absl::InvalidArgumentError("Int8LinearParams.weight_int8: expected a CPU tensor");
  }
  const int64_t out = w.size(0), in = w.size(1);
  if (in > kMaxInFeatures) {
    return absl::InvalidArgumentError(
        absl::StrCat("Int8LinearParams.weight_int8: in = ", in, " exceeds ", kMaxInFeatures,
                     ", beyond which the int32 accumulator may overflow"));
  }
  const at::Tensor& s = p.weight_scales;
  if (!s.defined()) return absl::InvalidArgumentError("Int8LinearParams.weight_scales is undefined");
  if (s.scalar_type() != at::kFloat || s.dim() != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Int8LinearParams.weight_scales: expected a 1-D Float tensor, got ", DtypeString(s),
        " of shape ", ShapeString(s.sizes())));
  }
  if (s.numel() != 1 && s.numel() != out) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Int8LinearParams.weight_scales: expected 1 (per-tensor) or ", out,
        " (per-output-channel) elements, got ", s.numel()));
  }
  const at::Tensor sc = s.contiguous();
  const float* sp = sc.data_ptr<float>();
  for (int64_t i = 0; i < sc.numel(); ++i) {
    if (!(std::isfinite(sp[i]) && sp[i] > 0.0f)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "Int8LinearParams.weight_scales[", i, "] = ", sp[i], ": expected finite and > 0"));
    }
  }
  const at::Tensor& b = p.bias;
  if (b.defined() && (b.scalar_type() != at::kFloat || b.dim() != 1 || b.numel() != out)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Int8LinearParams.bias: expected Float [", out, "] or undefined, got ", DtypeString(b),
        " of shape ", ShapeString(b.sizes())));
  }
  if (p.requantize_output) {
    const float out_scale = static_cast<float>(p.output_scale);
    if (!(std::isfinite(out_scale) && out_scale > 0.0f && std::isfinite(1.0f / out_scale))) {
      return absl::InvalidArgumentError(absl::StrCat(
          "Int8LinearParams.output_scale = ", p.output_scale, ": expected finite and > 0"));
    }
    if (p.output_quant_min >= p.output_quant_max || p.output_quant_min < -(1 << 16) ||
        p.output_quant_max > (1 << 16)) {
      return absl::InvalidArgumentError(
          absl::StrCat("Int8LinearParams.output_quant_min/max = ", p.output_quant_min, "/",
                       p.output_quant_max, ": expected min < max, within +-65536"));
    }
    if (p.output_zero_point < p.output_quant_min || p.output_zero_point > p.output_quant_max) {
      return absl::InvalidArgumentError(absl::StrCat(
          "Int8LinearParams.output_zero_point = ", p.output_zero_point, ": outside [",
          p.output_quant_min, ", ", p.output_quant_max, "]"));
    }
  }
  if (p.dynamic) return absl::OkStatus();
  const float scale = static_cast<float>(p.input_scale);
  if (!(std::isfinite(scale) && scale > 0.0f && std::isfinite(1.0f / scale))) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Int8LinearParams.input_scale = ", p.input_scale, ": expected finite and > 0"));
  }
  if (p.activation_signed && p.input_zero_point != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Int8LinearParams.input_zero_point = ", p.input_zero_point,
        ": int8 activations are symmetric, expected 0"));
  }
  if (!p.activation_signed && (p.input_zero_point < 0 || p.input_zero_point > 255)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Int8LinearParams.input_zero_point = ", p.input_zero_point,
        ": expected a value in [0, 255] for uint8 activations"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateInt8LinearParams(const Int8LinearParams& params) {
  return ValidateParams(params);
}

ActivationQuantParams ChooseActivationQuantParams(float min, float max, bool activation_signed) {
  const double lo = std::min(min, 0.0f), hi = std::max(max, 0.0f);
  ActivationQuantParams q;
  const float scale = activation_signed ? static_cast<float>(std::max(-lo, hi) / 127.0)
                                        : static_cast<float>((hi - lo) / 255.0);
  if (!(scale > 0.0f) || !std::isfinite(scale) || !std::isfinite(1.0f / scale)) return q;
  q.scale = scale;
  if (!activation_signed) {
    q.zero_point =
        std::min<int64_t>(255, std::max<int64_t>(0, std::llrint(-lo / static_cast<double>(scale))));
  }
  return q;
}

at::Tensor QuantizeActivations(const at::Tensor& x, const ActivationQuantParams& params,
                               bool activation_signed) {
  TORCH_CHECK(x.scalar_type() == at::kFloat, "QuantizeActivations: expected a Float input, got ",
              DtypeString(x));
  const at::Tensor xc = x.contiguous();
  at::Tensor q = at::empty(xc.sizes(), activation_signed ? at::kChar : at::kByte);
  QuantizeRow(xc.data_ptr<float>(), xc.numel(), 1.0f / static_cast<float>(params.scale),
              static_cast<float>(params.zero_point), activation_signed, q.data_ptr());
  return q;
}

void RequantizeOutput(const Int8LinearParams& params, at::Tensor& y) {
  TORCH_CHECK(params.requantize_output, "RequantizeOutput: params.requantize_output is false");
  TORCH_CHECK(y.scalar_type() == at::kFloat && y.is_contiguous(),
              "RequantizeOutput: expected a contiguous Float tensor, got ", DtypeString(y));
  const Requantizer r = MakeRequantizer(params);
  float* yd = y.data_ptr<float>();
  at::parallel_for(0, y.numel(), 16384, [&](int64_t begin, int64_t end) {
    RequantizeInPlace(yd + begin, end - begin, r);
  });
}

Int8LinearParams QuantizeLinearWeights(const at::Tensor& weight_fp32, const at::Tensor& bias,
                                       bool per_channel) {
  TORCH_CHECK(weight_fp32.defined() && weight_fp32.dim() == 2 &&
                  weight_fp32.scalar_type() == at::kFloat,
              "QuantizeLinearWeights: expected a Float [out, in] weight, got ",
              weight_fp32.defined() ? DtypeString(weight_fp32) : "undefined", " of shape ",
              weight_fp32.defined() ? ShapeString(weight_fp32.sizes()) : "[]");
  const at::Tensor w = weight_fp32.detach().contiguous();
  at::Tensor max_abs = per_channel ? w.abs().amax({1}) : w.abs().max().reshape({1});
  at::Tensor scales = at::where(max_abs > 0, max_abs / 127.0f, at::ones_like(max_abs));
  at::Tensor divisor = per_channel ? scales.unsqueeze(1) : scales;
  Int8LinearParams params;
  // at::round rounds half to even; 0 / scale is exactly 0.
  params.weight_int8 = at::round(w / divisor).clamp_(-127, 127).to(at::kChar);
  params.weight_scales = scales.contiguous();
  if (bias.defined()) params.bias = bias.detach().to(at::kFloat).contiguous().clone();
  return params;
}

at::Tensor ReferenceInt8Linear(const Int8LinearParams& p, const at::Tensor& x) {
  const int64_t out = p.weight_int8.size(0), in = p.weight_int8.size(1);
  TORCH_CHECK(x.scalar_type() == at::kFloat && x.dim() >= 1 && x.size(-1) == in,
              "ReferenceInt8Linear: expected Float [..., ", in, "], got ", DtypeString(x),
              " of shape ", ShapeString(x.sizes()));
  const at::Tensor x2 = x.reshape({-1, in}).contiguous();
  const int64_t m = x2.size(0);
  ActivationQuantParams q{p.input_scale, p.input_zero_point};
  if (p.dynamic && m > 0) {
    const float* xp = x2.data_ptr<float>();
    float mn = xp[0], mx = xp[0];
    for (int64_t i = 1; i < x2.numel(); ++i) {
      mn = std::min(mn, xp[i]);
      mx = std::max(mx, xp[i]);
    }
    q = ChooseActivationQuantParams(mn, mx, p.activation_signed);
  }
  const at::Tensor xq =
      at::quantize_per_tensor(x2, q.scale, q.zero_point,
                              p.activation_signed ? at::kQInt8 : at::kQUInt8)
          .int_repr()
          .to(at::kLong)
          .contiguous();
  const at::Tensor wq = p.weight_int8.to(at::kLong).contiguous();
  const at::Tensor ws = p.weight_scales.contiguous();
  const at::Tensor b = p.bias.defined() ? p.bias.contiguous() : at::Tensor();
  const int64_t* xd = xq.data_ptr<int64_t>();
  const int64_t* wd = wq.data_ptr<int64_t>();
  const float* sd = ws.data_ptr<float>();
  at::Tensor y = at::empty({m, out}, at::kFloat);
  float* yd = y.data_ptr<float>();
  for (int64_t n = 0; n < out; ++n) {
    const int64_t* wrow = wd + n * in;
    int64_t sum_w = 0;
    for (int64_t k = 0; k < in; ++k) sum_w += wrow[k];
    const float scale = static_cast<float>(q.scale) * sd[ws.numel() == 1 ? 0 : n];
    const float bias = b.defined() ? b.data_ptr<float>()[n] : 0.0f;
    for (int64_t i = 0; i < m; ++i) {
      const int64_t* xrow = xd + i * in;
      int64_t acc = 0;
      for (int64_t k = 0; k < in; ++k) acc += xrow[k] * wrow[k];
      acc -= q.zero_point * sum_w;
      const float scaled = static_cast<float>(acc) * scale;
      yd[i * out + n] = scaled + bias;
    }
  }
  if (p.requantize_output) {
    // Written out as ATen's fake-quantize kernel does it, independently of Requantizer.
    const float sc = static_cast<float>(p.output_scale);
    const float inv_scale = 1.0f / sc;
    for (int64_t i = 0; i < m * out; ++i) {
      const int64_t q = static_cast<int64_t>(p.output_zero_point + std::nearbyint(yd[i] * inv_scale));
      yd[i] = static_cast<float>(std::min(std::max(q, p.output_quant_min), p.output_quant_max) -
                                 p.output_zero_point) *
              sc;
    }
  }
  std::vector<int64_t> out_sizes = x.sizes().vec();
  out_sizes.back() = out;
  return y.view(out_sizes);
}

struct Int8Linear::Impl {
  // A compiled matmul for one input row count.
  struct Primitive {
    dnnl::matmul::primitive_desc pd;
    dnnl::matmul matmul;
  };

  int64_t in = 0, out = 0;
  int64_t k = 0;  // Matmul K: `in`, or 2 * in when the weights are split.
  bool activation_signed = false;
  bool dynamic = false;
  bool per_channel = false;
  bool split = false;
  bool src_zero_point = false;  // A zero-point attribute (uint8 with a possible zp != 0).
  ActivationQuantParams static_q;
  // Static: float(input_scale) * weight_scales, so y = float(acc) * scale + bias exactly as the
  // reference. Dynamic: weight_scales; the per-call input scale is a binary_mul post-op,
  // because oneDNN 2.6's brgemm matmul rejects runtime output scales (DNNL_RUNTIME_F32_VAL)
  // and falls back to the slower gemm:jit.
  std::vector<float> output_scales;
  at::Tensor bias;  // Float [out] contiguous, or undefined.
  bool requantize = false;
  // Requantization as post-ops of the matmul (eltwise linear, round, clip, linear); false
  // when oneDNN would pick a slower implementation for them: then a separate pass.
  bool fused_requantize = false;
  Requantizer requantizer;
  memory::desc packed_md;
  memory packed_weights;
  std::string impl_info;

  mutable PrimitiveCache<int64_t, Primitive> cache{kMaxCachedRowCounts};

  dnnl::matmul::primitive_desc MakePrimitiveDesc(int64_t m, const memory::desc& weights_md) const {
    return MakePrimitiveDesc(m, weights_md, fused_requantize);
  }

  dnnl::matmul::primitive_desc MakePrimitiveDesc(int64_t m, const memory::desc& weights_md,
                                                 bool with_requantize) const {
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);  // Concurrent Forward() calls.
    attr.set_output_scales(per_channel ? 1 << 1 : 0, output_scales);
    if (src_zero_point) attr.set_zero_points(DNNL_ARG_SRC, 0, {DNNL_RUNTIME_S32_VAL});
    dnnl::post_ops ops;
    if (dynamic) {
      ops.append_binary(dnnl::algorithm::binary_mul,
                        memory::desc({1, 1}, memory::data_type::f32, memory::format_tag::ab));
    }
    // A binary_add rather than the matmul bias argument: oneDNN 2.x adds the bias *before*
    // the output scales, which would need bias / scale (rounded) and break "zero weights give
    // exactly the bias".
    if (bias.defined()) {
      ops.append_binary(dnnl::algorithm::binary_add,
                        memory::desc({1, out}, memory::data_type::f32, memory::format_tag::ab));
    }
    if (with_requantize) {
      // Each step is one fp32 operation as in Requantizer (a linear with beta 0 is one
      // rounded product; round is to nearest even, as nearbyint), so both give equal bits.
      ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_linear, requantizer.inv_scale, 0.0f);
      ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_round, 0.0f, 0.0f);
      ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_clip, requantizer.lo, requantizer.hi);
      // The final multiply is a binary_mul by a scalar: oneDNN 2.6's brgemm epilogue gives
      // a second eltwise_linear the first one's alpha (measured: y / scale instead of
      // y * scale).
      ops.append_binary(dnnl::algorithm::binary_mul,
                        memory::desc({1, 1}, memory::data_type::f32, memory::format_tag::ab));
    }
    attr.set_post_ops(ops);
    const memory::data_type src_type =
        activation_signed ? memory::data_type::s8 : memory::data_type::u8;
    dnnl::matmul::desc desc(memory::desc({m, k}, src_type, memory::format_tag::ab), weights_md,
                            memory::desc({m, out}, memory::data_type::f32, memory::format_tag::ab));
    return dnnl::matmul::primitive_desc(desc, attr, CpuEngine());
  }

  std::shared_ptr<const Primitive> GetPrimitive(int64_t m) const {
    return cache.GetOrCreate(m, [&] {
      auto primitive = std::make_shared<Primitive>();
      primitive->pd = MakePrimitiveDesc(m, packed_md);
      primitive->matmul = dnnl::matmul(primitive->pd);
      return primitive;
    });
  }
};

absl::StatusOr<std::unique_ptr<Int8Linear>> Int8Linear::Create(const Int8LinearParams& params) {
  if (absl::Status status = ValidateParams(params); !status.ok()) return status;
  auto impl = std::make_unique<Impl>();
  impl->out = params.weight_int8.size(0);
  impl->in = params.weight_int8.size(1);
  impl->activation_signed = params.activation_signed;
  impl->dynamic = params.dynamic;
  impl->per_channel = params.weight_scales.numel() != 1;
  impl->static_q = {params.input_scale, params.input_zero_point};
  impl->src_zero_point =
      !params.activation_signed && (params.dynamic || params.input_zero_point != 0);
  impl->split = !Int8MatmulIsExact(params.activation_signed);
  impl->k = impl->split ? 2 * impl->in : impl->in;
  impl->requantize = params.requantize_output;
  if (impl->requantize) impl->requantizer = MakeRequantizer(params);

  const at::Tensor scales = params.weight_scales.contiguous();
  impl->output_scales.resize(impl->per_channel ? impl->out : 1);
  for (size_t n = 0; n < impl->output_scales.size(); ++n) {
    const float w_scale = scales.data_ptr<float>()[scales.numel() == 1 ? 0 : n];
    impl->output_scales[n] =
        params.dynamic ? w_scale : static_cast<float>(params.input_scale) * w_scale;
  }
  if (params.bias.defined()) impl->bias = params.bias.contiguous().clone();

  // Plain weights as oneDNN's K x N matrix: [out, in] row-major is K x N in format "ba".
  at::Tensor plain = params.weight_int8.contiguous();
  if (impl->split) {
    // w = floor(w / 2) + ceil(w / 2): halves in [-64, 64], so 2 * 255 * 64 fits int16.
    at::Tensor halves = at::empty({impl->out, 2 * impl->in}, at::kChar);
    const int8_t* src = plain.data_ptr<int8_t>();
    int8_t* dst = halves.data_ptr<int8_t>();
    for (int64_t n = 0; n < impl->out; ++n) {
      for (int64_t i = 0; i < impl->in; ++i) {
        const int w = src[n * impl->in + i];
        const int low = w >= 0 ? w / 2 : -((-w + 1) / 2);  // floor(w / 2)
        dst[n * 2 * impl->in + i] = static_cast<int8_t>(low);
        dst[n * 2 * impl->in + impl->in + i] = static_cast<int8_t>(w - low);
      }
    }
    plain = halves;
  }
  try {
    const memory::desc any_weights_md({impl->k, impl->out}, memory::data_type::s8,
                                      memory::format_tag::any);
    if (impl->requantize) {
      // Fuse only where oneDNN keeps the implementation it uses without the post-ops.
      try {
        const auto plain_pd = impl->MakePrimitiveDesc(kPackRows, any_weights_md, false);
        const auto fused_pd = impl->MakePrimitiveDesc(kPackRows, any_weights_md, true);
        impl->fused_requantize = fused_pd.impl_info_str() == plain_pd.impl_info_str();
      } catch (const dnnl::error&) {
        impl->fused_requantize = false;
      }
    }
    const dnnl::matmul::primitive_desc pd = impl->MakePrimitiveDesc(kPackRows, any_weights_md);
    impl->packed_md = pd.weights_desc();
    impl->impl_info = pd.impl_info_str();
    impl->packed_weights = memory(impl->packed_md, CpuEngine());
    memory plain_mem({{impl->k, impl->out}, memory::data_type::s8, memory::format_tag::ba},
                     CpuEngine(), plain.data_ptr());
    dnnl::stream stream(CpuEngine());
    dnnl::reorder(plain_mem, impl->packed_weights)
        .execute(stream, plain_mem, impl->packed_weights);
    stream.wait();
  } catch (const dnnl::error& e) {
    return absl::InternalError(absl::StrCat("Int8Linear: oneDNN matmul for in = ", impl->in,
                                            ", out = ", impl->out, " failed: ", e.what()));
  }
  return std::unique_ptr<Int8Linear>(new Int8Linear(std::move(impl)));
}

Int8Linear::Int8Linear(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Int8Linear::~Int8Linear() = default;

at::Tensor Int8Linear::Forward(const at::Tensor& x) const {
  const Impl& impl = *impl_;
  TORCH_CHECK(x.scalar_type() == at::kFloat, "Int8Linear::Forward: expected a Float input, got ",
              DtypeString(x));
  TORCH_CHECK(x.dim() >= 1 && x.size(-1) == impl.in, "Int8Linear::Forward: expected shape [..., ",
              impl.in, "], got ", ShapeString(x.sizes()));
  std::vector<int64_t> out_sizes = x.sizes().vec();
  out_sizes.back() = impl.out;
  const at::Tensor xc = x.contiguous();
  const int64_t m = xc.numel() / impl.in;
  at::Tensor y = at::empty({m, impl.out}, at::kFloat);
  if (m == 0) return y.view(out_sizes);

  ActivationQuantParams q = impl.static_q;
  if (impl.dynamic) {
    const auto min_max = at::aminmax(xc);
    const float mn = std::get<0>(min_max).item<float>(), mx = std::get<1>(min_max).item<float>();
    TORCH_CHECK(std::isfinite(mn) && std::isfinite(mx),
                "Int8Linear::Forward: dynamic quantization needs a finite input, got min ", mn,
                ", max ", mx);
    q = ChooseActivationQuantParams(mn, mx, impl.activation_signed);
  }

  // Quantize row by row; a split layer sees each row twice ([x, x] against [w_lo, w_hi]).
  at::Tensor xq = at::empty({m, impl.k}, impl.activation_signed ? at::kChar : at::kByte);
  {
    const float* xd = xc.data_ptr<float>();
    auto* qd = static_cast<uint8_t*>(xq.data_ptr());
    const float inv_scale = 1.0f / static_cast<float>(q.scale);
    const float zero_point = static_cast<float>(q.zero_point);
    const int64_t in = impl.in, k = impl.k;
    const bool split = impl.split, is_signed = impl.activation_signed;
    at::parallel_for(0, m, std::max<int64_t>(1, 16384 / in), [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        uint8_t* row = qd + i * k;
        QuantizeRow(xd + i * in, in, inv_scale, zero_point, is_signed, row);
        if (split) std::memcpy(row + in, row, in);
      }
    });
  }

  std::shared_ptr<const Impl::Primitive> primitive;
  try {
    primitive = impl.GetPrimitive(m);
  } catch (const dnnl::error& e) {
    TORCH_CHECK(false, "Int8Linear::Forward: oneDNN matmul for ", m, " rows, in = ", impl.in,
                ", out = ", impl.out, " failed: ", e.what());
  }
  const dnnl::matmul::primitive_desc& pd = primitive->pd;
  dnnl::engine& engine = CpuEngine();
  at::Tensor scratchpad =
      at::empty({static_cast<int64_t>(pd.scratchpad_desc().get_size())}, at::kByte);
  int32_t zero_point = static_cast<int32_t>(q.zero_point);
  float input_scale = static_cast<float>(q.scale);
  std::unordered_map<int, memory> args = {
      {DNNL_ARG_SRC, memory(pd.src_desc(), engine, xq.data_ptr())},
      {DNNL_ARG_WEIGHTS, impl.packed_weights},
      {DNNL_ARG_DST, memory(pd.dst_desc(), engine, y.data_ptr())},
      {DNNL_ARG_SCRATCHPAD, memory(pd.scratchpad_desc(), engine, scratchpad.data_ptr())},
  };
  if (impl.src_zero_point) {
    args[DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_SRC] =
        memory({{1}, memory::data_type::s32, memory::format_tag::x}, engine, &zero_point);
  }
  int post_op = 0;
  if (impl.dynamic) {
    args[DNNL_ARG_ATTR_MULTIPLE_POST_OP(post_op++) | DNNL_ARG_SRC_1] =
        memory({{1, 1}, memory::data_type::f32, memory::format_tag::ab}, engine, &input_scale);
  }
  if (impl.bias.defined()) {
    args[DNNL_ARG_ATTR_MULTIPLE_POST_OP(post_op++) | DNNL_ARG_SRC_1] =
        memory({{1, impl.out}, memory::data_type::f32, memory::format_tag::ab}, engine,
               impl.bias.data_ptr());
  }
  float output_scale = impl.requantizer.scale;
  if (impl.fused_requantize) {
    // Post-ops eltwise (linear, round, clip) are not counted here: only binary ones take
    // arguments, but the index is the position in the chain.
    const int requantize_mul = post_op + 3;
    args[DNNL_ARG_ATTR_MULTIPLE_POST_OP(requantize_mul) | DNNL_ARG_SRC_1] =
        memory({{1, 1}, memory::data_type::f32, memory::format_tag::ab}, engine, &output_scale);
  }
  try {
    dnnl::stream stream(engine);
    primitive->matmul.execute(stream, args);
    stream.wait();
  } catch (const dnnl::error& e) {
    TORCH_CHECK(false, "Int8Linear::Forward: oneDNN matmul failed: ", e.what());
  }
  if (impl.requantize && !impl.fused_requantize) {
    float* yd = y.data_ptr<float>();
    const int64_t out = impl.out;
    at::parallel_for(0, m, std::max<int64_t>(1, 16384 / out), [&](int64_t begin, int64_t end) {
      RequantizeInPlace(yd + begin * out, (end - begin) * out, impl.requantizer);
    });
  }
  return y.view(out_sizes);
}

int64_t Int8Linear::in_features() const { return impl_->in; }
int64_t Int8Linear::out_features() const { return impl_->out; }
int64_t Int8Linear::weight_bytes() const {
  return static_cast<int64_t>(impl_->packed_md.get_size());
}
bool Int8Linear::split_weights() const { return impl_->split; }
std::string Int8Linear::impl_info() const { return impl_->impl_info; }
bool Int8Linear::fused_requantize() const { return impl_->fused_requantize; }

std::string Int8Linear::CpuIsa() {
  switch (dnnl::get_effective_cpu_isa()) {
    case dnnl::cpu_isa::sse41: return "sse41";
    case dnnl::cpu_isa::avx: return "avx";
    case dnnl::cpu_isa::avx2: return "avx2";
    case dnnl::cpu_isa::avx2_vnni: return "avx2_vnni";
    case dnnl::cpu_isa::avx512_mic: return "avx512_mic";
    case dnnl::cpu_isa::avx512_mic_4ops: return "avx512_mic_4ops";
    case dnnl::cpu_isa::avx512_core: return "avx512_core";
    case dnnl::cpu_isa::avx512_core_vnni: return "avx512_core_vnni";
    case dnnl::cpu_isa::avx512_core_bf16: return "avx512_core_bf16";
    case dnnl::cpu_isa::avx512_core_amx: return "avx512_core_amx";
    case dnnl::cpu_isa::all: return "all";
  }
  return "unknown";
}

}  // namespace kernels
