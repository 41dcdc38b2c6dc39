#include "kernels/int8_conv2d.h"

#include <ATen/ATen.h>
#include <oneapi/dnnl/dnnl.hpp>

#include <cmath>
#include <unordered_map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "kernels/onednn.h"
#include "absl/strings/str_join.h"
#include "kernels/int8_linear.h"

namespace kernels {
namespace {

using dnnl::memory;

constexpr size_t kMaxCachedShapes = 8;

// Whether oneDNN's int8 convolutions accumulate u8 x s8 products exactly here: with VNNI
// (vpdpbusd) they do; without, they add pairs in saturating int16 (vpmaddubsw), which
// 255 * 127 * 2 overflows.
bool ExactInt8Isa() {
  switch (dnnl::get_effective_cpu_isa()) {
    case dnnl::cpu_isa::avx2_vnni:
    case dnnl::cpu_isa::avx512_core_vnni:
    case dnnl::cpu_isa::avx512_core_bf16:
    case dnnl::cpu_isa::avx512_core_amx:
      return true;
    default:
      return false;
  }
}

std::string Shape(at::IntArrayRef sizes) { return absl::StrCat("[", absl::StrJoin(sizes, ", "), "]"); }

absl::Status Validate(const Int8Conv2dParams& p) {
  const at::Tensor& w = p.weight_int8;
  if (!w.defined() || w.scalar_type() != at::kChar || w.dim() != 4 || w.numel() == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Int8Conv2dParams.weight_int8: expected a non-empty int8 [out, in, kh, kw] tensor, got ",
        w.defined() ? absl::StrCat(std::string(c10::toString(w.scalar_type())), " ", Shape(w.sizes()))
                    : "undefined"));
  }
  const int64_t out = w.size(0);
  if (w.size(1) * w.size(2) * w.size(3) > 65536) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Int8Conv2dParams.weight_int8: a receptive field of ", w.size(1) * w.size(2) * w.size(3),
        " exceeds 65536, beyond which the int32 accumulator may overflow"));
  }
  const at::Tensor& s = p.weight_scales;
  if (!s.defined() || s.scalar_type() != at::kFloat || s.dim() != 1 ||
      (s.numel() != 1 && s.numel() != out)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Int8Conv2dParams.weight_scales: expected float [1] or [", out, "], got ",
        s.defined() ? Shape(s.sizes()) : "undefined"));
  }
  const at::Tensor sc = s.contiguous();
  for (int64_t i = 0; i < sc.numel(); ++i) {
    const float v = sc.data_ptr<float>()[i];
    if (!(std::isfinite(v) && v > 0)) {
      return absl::InvalidArgumentError(absl::StrCat("Int8Conv2dParams.weight_scales[", i,
                                                     "] = ", v, ": expected finite and > 0"));
    }
  }
  if (p.bias.defined() &&
      (p.bias.scalar_type() != at::kFloat || p.bias.dim() != 1 || p.bias.numel() != out)) {
    return absl::InvalidArgumentError(absl::StrCat("Int8Conv2dParams.bias: expected float [",
                                                   out, "], got ", Shape(p.bias.sizes())));
  }
  for (int i = 0; i < 2; ++i) {
    if (p.stride[i] < 1 || p.padding[i] < 0 || p.dilation[i] < 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          "Int8Conv2dParams: stride ", p.stride[i], ", padding ", p.padding[i], ", dilation ",
          p.dilation[i], " (dim ", i, ") must be >= 1, >= 0, >= 1"));
    }
  }
  const float scale = static_cast<float>(p.input_scale);
  if (!(std::isfinite(scale) && scale > 0 && std::isfinite(1.0f / scale))) {
    return absl::InvalidArgumentError(absl::StrCat("Int8Conv2dParams.input_scale = ",
                                                   p.input_scale, ": expected finite and > 0"));
  }
  if (p.activation_signed ? p.input_zero_point != 0
                          : (p.input_zero_point < 0 || p.input_zero_point > 255)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Int8Conv2dParams.input_zero_point = ", p.input_zero_point, ": expected ",
        p.activation_signed ? "0 for int8 activations" : "[0, 255] for uint8 activations"));
  }
  return absl::OkStatus();
}

}  // namespace

struct Int8Conv2d::Impl {
  struct Primitive {
    dnnl::convolution_forward::primitive_desc pd;
    dnnl::convolution_forward conv;
    memory weights;  // Packed in the layout this primitive chose.
  };
  Int8Conv2dParams p;  // weight_int8 kept (plain OIHW) to pack for new layouts.
  int64_t in = 0, out = 0, kh = 0, kw = 0;
  // Without VNNI each weight is split into two halves of magnitude <= 64 over a duplicated
  // input ([x, x] against [w_lo, w_hi]), so every int16 pair sum stays exact.
  bool split = false;
  int64_t cin = 0;  // Channels the primitive sees: in, or 2 * in when split.
  bool per_channel = false;
  bool src_zero_point = false;
  std::vector<float> output_scales;
  at::Tensor bias;
  memory::desc packed_md;
  memory packed_weights;
  std::string impl_info;
  mutable PrimitiveCache<std::vector<int64_t>, Primitive> cache{kMaxCachedShapes};

  std::vector<int64_t> OutputSize(int64_t n, int64_t h, int64_t w) const {
    auto size = [&](int64_t x, int64_t k, int i) {
      return (x + 2 * p.padding[i] - p.dilation[i] * (k - 1) - 1) / p.stride[i] + 1;
    };
    return {n, out, size(h, kh, 0), size(w, kw, 1)};
  }

  dnnl::convolution_forward::primitive_desc MakePd(int64_t n, int64_t h, int64_t w,
                                                   const memory::desc& weights_md) const {
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    attr.set_output_scales(per_channel ? 1 << 1 : 0, output_scales);
    if (src_zero_point) attr.set_zero_points(DNNL_ARG_SRC, 0, {DNNL_RUNTIME_S32_VAL});
    // Bias as a post-op: oneDNN 2.x adds the conv bias before the output scales.
    if (bias.defined()) {
      dnnl::post_ops ops;
      ops.append_binary(dnnl::algorithm::binary_add,
                        memory::desc({1, out, 1, 1}, memory::data_type::f32,
                                     memory::format_tag::nchw));
      attr.set_post_ops(ops);
    }
    const std::vector<int64_t> dst = OutputSize(n, h, w);
    const memory::data_type src_type =
        p.activation_signed ? memory::data_type::s8 : memory::data_type::u8;
    dnnl::convolution_forward::desc desc(
        dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
        memory::desc({n, cin, h, w}, src_type, memory::format_tag::nhwc), weights_md,
        memory::desc(dst, memory::data_type::f32, memory::format_tag::nhwc),
        {p.stride[0], p.stride[1]}, {p.dilation[0] - 1, p.dilation[1] - 1},
        {p.padding[0], p.padding[1]}, {p.padding[0], p.padding[1]});
    return dnnl::convolution_forward::primitive_desc(desc, attr, CpuEngine());
  }

  std::shared_ptr<const Primitive> Get(int64_t n, int64_t h, int64_t w) const {
    return cache.GetOrCreate(std::vector<int64_t>{n, h, w}, [&] {
      auto primitive = std::make_shared<Primitive>();
      // The fastest implementation's weight layout depends on the image and batch size, so
      // let oneDNN choose it per shape and pack again when it differs from Create()'s.
      primitive->pd = MakePd(n, h, w,
                             memory::desc({out, cin, kh, kw}, memory::data_type::s8,
                                          memory::format_tag::any));
      primitive->conv = dnnl::convolution_forward(primitive->pd);
      if (primitive->pd.weights_desc() == packed_md) {
        primitive->weights = packed_weights;
      } else {
        primitive->weights = memory(primitive->pd.weights_desc(), CpuEngine());
        memory plain_mem({{out, cin, kh, kw}, memory::data_type::s8, memory::format_tag::oihw},
                         CpuEngine(), p.weight_int8.data_ptr());
        dnnl::stream stream(CpuEngine());
        dnnl::reorder(plain_mem, primitive->weights).execute(stream, plain_mem, primitive->weights);
        stream.wait();
      }
      return primitive;
    });
  }
};

absl::StatusOr<std::unique_ptr<Int8Conv2d>> Int8Conv2d::Create(const Int8Conv2dParams& params) {
  if (absl::Status status = Validate(params); !status.ok()) return status;
  auto impl = std::make_unique<Impl>();
  impl->p = params;
  impl->out = params.weight_int8.size(0);
  impl->in = params.weight_int8.size(1);
  impl->split = !ExactInt8Isa();
  impl->cin = impl->split ? 2 * impl->in : impl->in;
  if (impl->split) {
    const at::Tensor w = params.weight_int8.to(at::kInt);
    const at::Tensor low = at::floor_divide(w, 2);  // floor(w / 2)
    impl->p.weight_int8 = at::cat({low, w - low}, 1).to(at::kChar).contiguous();
  } else {
    impl->p.weight_int8 = params.weight_int8.contiguous().clone();
  }
  impl->kh = params.weight_int8.size(2);
  impl->kw = params.weight_int8.size(3);
  impl->per_channel = params.weight_scales.numel() != 1;
  impl->src_zero_point = !params.activation_signed && params.input_zero_point != 0;
  const at::Tensor scales = params.weight_scales.contiguous();
  for (int64_t i = 0; i < scales.numel(); ++i) {
    impl->output_scales.push_back(static_cast<float>(params.input_scale) *
                                  scales.data_ptr<float>()[i]);
  }
  if (params.bias.defined()) impl->bias = params.bias.contiguous().clone();
  const at::Tensor plain = impl->p.weight_int8;
  try {
    // The packed layout depends on the channels and the ISA, not on the batch or image size.
    const int64_t probe = std::max<int64_t>(8, (impl->kh - 1) * params.dilation[0] + 1);
    const auto pd = impl->MakePd(
        1, probe, std::max<int64_t>(8, (impl->kw - 1) * params.dilation[1] + 1),
        memory::desc({impl->out, impl->cin, impl->kh, impl->kw}, memory::data_type::s8,
                     memory::format_tag::any));
    impl->packed_md = pd.weights_desc();
    impl->impl_info = pd.impl_info_str();
    impl->packed_weights = memory(impl->packed_md, CpuEngine());
    memory plain_mem({{impl->out, impl->cin, impl->kh, impl->kw}, memory::data_type::s8,
                      memory::format_tag::oihw},
                     CpuEngine(), plain.data_ptr());
    dnnl::stream stream(CpuEngine());
    dnnl::reorder(plain_mem, impl->packed_weights).execute(stream, plain_mem, impl->packed_weights);
    stream.wait();
  } catch (const dnnl::error& e) {
    return absl::InternalError(absl::StrCat("Int8Conv2d: oneDNN convolution for weight ",
                                            Shape(params.weight_int8.sizes()),
                                            " failed: ", e.what()));
  }
  return std::unique_ptr<Int8Conv2d>(new Int8Conv2d(std::move(impl)));
}

Int8Conv2d::Int8Conv2d(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Int8Conv2d::~Int8Conv2d() = default;

int64_t Int8Conv2d::in_channels() const { return impl_->in; }
int64_t Int8Conv2d::out_channels() const { return impl_->out; }
std::string Int8Conv2d::impl_info() const { return impl_->impl_info; }

at::Tensor Int8Conv2d::Forward(const at::Tensor& x) const {
  const Impl& impl = *impl_;
  TORCH_CHECK(x.scalar_type() == at::kFloat && x.dim() == 4 && x.size(1) == impl.in,
              "Int8Conv2d::Forward: expected float [N, ", impl.in, ", H, W], got ",
              x.scalar_type(), " ", x.sizes());
  const int64_t n = x.size(0), h = x.size(2), w = x.size(3);
  const std::vector<int64_t> out_size = impl.OutputSize(n, h, w);
  TORCH_CHECK(out_size[2] > 0 && out_size[3] > 0, "Int8Conv2d::Forward: input ", x.sizes(),
              " is smaller than the kernel");
  at::Tensor y = at::empty(out_size, at::TensorOptions(at::kFloat)
                                         .memory_format(at::MemoryFormat::ChannelsLast));
  if (n == 0) return y;
  // NHWC bytes: quantize the channels-last data as a plain [N, H, W, C] array.
  const at::Tensor nhwc = x.contiguous(at::MemoryFormat::ChannelsLast).permute({0, 2, 3, 1});
  at::Tensor xq = QuantizeActivations(nhwc, {impl.p.input_scale, impl.p.input_zero_point},
                                      impl.p.activation_signed);
  if (impl.split) xq = at::cat({xq, xq}, 3).contiguous();
  std::shared_ptr<const Impl::Primitive> primitive;
  try {
    primitive = impl.Get(n, h, w);
  } catch (const dnnl::error& e) {
    TORCH_CHECK(false, "Int8Conv2d::Forward: oneDNN convolution for input ", x.sizes(),
                " failed: ", e.what());
  }
  const auto& pd = primitive->pd;
  dnnl::engine& engine = CpuEngine();
  at::Tensor scratchpad =
      at::empty({static_cast<int64_t>(pd.scratchpad_desc().get_size())}, at::kByte);
  int32_t zero_point = static_cast<int32_t>(impl.p.input_zero_point);
  std::unordered_map<int, memory> args = {
      {DNNL_ARG_SRC, memory(pd.src_desc(), engine, xq.data_ptr())},
      {DNNL_ARG_WEIGHTS, primitive->weights},
      {DNNL_ARG_DST, memory(pd.dst_desc(), engine, y.data_ptr())},
      {DNNL_ARG_SCRATCHPAD, memory(pd.scratchpad_desc(), engine, scratchpad.data_ptr())},
  };
  if (impl.src_zero_point) {
    args[DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_SRC] =
        memory({{1}, memory::data_type::s32, memory::format_tag::x}, engine, &zero_point);
  }
  if (impl.bias.defined()) {
    args[DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1] =
        memory({{1, impl.out, 1, 1}, memory::data_type::f32, memory::format_tag::nchw}, engine,
               impl.bias.data_ptr());
  }
  try {
    dnnl::stream stream(engine);
    primitive->conv.execute(stream, args);
    stream.wait();
  } catch (const dnnl::error& e) {
    TORCH_CHECK(false, "Int8Conv2d::Forward: oneDNN convolution failed: ", e.what());
  }
  return y;
}

at::Tensor ReferenceInt8Conv2d(const Int8Conv2dParams& p, const at::Tensor& x) {
  const at::Tensor q =
      at::quantize_per_tensor(x.contiguous(), p.input_scale, p.input_zero_point,
                              p.activation_signed ? at::kQInt8 : at::kQUInt8)
          .int_repr()
          .to(at::kDouble)
          .sub(static_cast<double>(p.input_zero_point));
  const at::Tensor acc =
      at::conv2d(q, p.weight_int8.to(at::kDouble), {}, {p.stride[0], p.stride[1]},
                 {p.padding[0], p.padding[1]}, {p.dilation[0], p.dilation[1]});
  const at::Tensor scale = (p.weight_scales * static_cast<float>(p.input_scale)).view({1, -1, 1, 1});
  at::Tensor y = acc.to(at::kFloat) * scale;
  if (p.bias.defined()) y = y + p.bias.view({1, -1, 1, 1});
  return y.contiguous();
}

}  // namespace kernels
