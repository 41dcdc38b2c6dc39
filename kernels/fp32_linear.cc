#include "kernels/fp32_linear.h"

#include <ATen/ATen.h>
#include <oneapi/dnnl/dnnl.hpp>

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

constexpr int64_t kPackRows = 128;
constexpr size_t kMaxCachedRowCounts = 16;

std::string ShapeString(at::IntArrayRef sizes) {
  std::ostringstream os;
  os << sizes;
  return os.str();
}

}  // namespace

struct Fp32Linear::Impl {
  struct Primitive {
    dnnl::matmul::primitive_desc pd;
    dnnl::matmul matmul;
  };
  int64_t in = 0, out = 0;
  at::Tensor bias;
  memory::desc packed_md;
  memory packed_weights;
  std::string impl_info;
  mutable PrimitiveCache<int64_t, Primitive> cache{kMaxCachedRowCounts};

  dnnl::matmul::primitive_desc MakePd(int64_t m, const memory::desc& weights_md) const {
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    const memory::desc src({m, in}, memory::data_type::f32, memory::format_tag::ab);
    const memory::desc dst({m, out}, memory::data_type::f32, memory::format_tag::ab);
    if (bias.defined()) {
      const memory::desc b({1, out}, memory::data_type::f32, memory::format_tag::ab);
      return dnnl::matmul::primitive_desc(dnnl::matmul::desc(src, weights_md, b, dst), attr,
                                          CpuEngine());
    }
    return dnnl::matmul::primitive_desc(dnnl::matmul::desc(src, weights_md, dst), attr, CpuEngine());
  }

  std::shared_ptr<const Primitive> Get(int64_t m) const {
    return cache.GetOrCreate(m, [&] {
      auto p = std::make_shared<Primitive>();
      p->pd = MakePd(m, packed_md);
      p->matmul = dnnl::matmul(p->pd);
      return p;
    });
  }
};

absl::StatusOr<std::unique_ptr<Fp32Linear>> Fp32Linear::Create(const at::Tensor& weight,
                                                                const at::Tensor& bias) {
  if (!weight.defined() || weight.scalar_type() != at::kFloat || weight.dim() != 2 ||
      weight.size(0) < 1 || weight.size(1) < 1 || !weight.device().is_cpu()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Fp32Linear: weight: expected a non-empty CPU Float [out, in] matrix, got shape ",
        weight.defined() ? ShapeString(weight.sizes()) : "undefined"));
  }
  auto impl = std::make_unique<Impl>();
  impl->out = weight.size(0);
  impl->in = weight.size(1);
  if (bias.defined()) {
    if (bias.scalar_type() != at::kFloat || bias.numel() != impl->out) {
      return absl::InvalidArgumentError(absl::StrCat("Fp32Linear: bias: expected Float [",
                                                     impl->out, "], got shape ",
                                                     ShapeString(bias.sizes())));
    }
    impl->bias = bias.detach().reshape({1, impl->out}).contiguous().clone();
  }
  const at::Tensor plain = weight.detach().contiguous();
  try {
    const auto pd = impl->MakePd(
        kPackRows, memory::desc({impl->in, impl->out}, memory::data_type::f32,
                                memory::format_tag::any));
    impl->packed_md = pd.weights_desc();
    impl->impl_info = pd.impl_info_str();
    impl->packed_weights = memory(impl->packed_md, CpuEngine());
    memory plain_mem({{impl->in, impl->out}, memory::data_type::f32, memory::format_tag::ba},
                     CpuEngine(), plain.data_ptr());
    dnnl::stream stream(CpuEngine());
    dnnl::reorder(plain_mem, impl->packed_weights).execute(stream, plain_mem, impl->packed_weights);
    stream.wait();
  } catch (const dnnl::error& e) {
    return absl::InternalError(absl::StrCat("Fp32Linear: oneDNN matmul for in = ", impl->in,
                                            ", out = ", impl->out, " failed: ", e.what()));
  }
  return std::unique_ptr<Fp32Linear>(new Fp32Linear(std::move(impl)));
}

Fp32Linear::Fp32Linear(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Fp32Linear::~Fp32Linear() = default;

at::Tensor Fp32Linear::Forward(const at::Tensor& x) const {
  const Impl& impl = *impl_;
  TORCH_CHECK(x.scalar_type() == at::kFloat, "Fp32Linear::Forward: expected a Float input");
  TORCH_CHECK(x.dim() >= 1 && x.size(-1) == impl.in, "Fp32Linear::Forward: expected shape [..., ",
              impl.in, "], got ", ShapeString(x.sizes()));
  std::vector<int64_t> out_sizes = x.sizes().vec();
  out_sizes.back() = impl.out;
  const at::Tensor xc = x.contiguous();
  const int64_t m = xc.numel() / impl.in;
  at::Tensor y = at::empty({m, impl.out}, at::kFloat);
  if (m == 0) return y.view(out_sizes);
  std::shared_ptr<const Impl::Primitive> p;
  try {
    p = impl.Get(m);
  } catch (const dnnl::error& e) {
    TORCH_CHECK(false, "Fp32Linear::Forward: oneDNN matmul for ", m, " rows failed: ", e.what());
  }
  dnnl::engine& engine = CpuEngine();
  at::Tensor scratchpad =
      at::empty({static_cast<int64_t>(p->pd.scratchpad_desc().get_size())}, at::kByte);
  std::unordered_map<int, memory> args = {
      {DNNL_ARG_SRC, memory(p->pd.src_desc(), engine, xc.data_ptr())},
      {DNNL_ARG_WEIGHTS, impl.packed_weights},
      {DNNL_ARG_DST, memory(p->pd.dst_desc(), engine, y.data_ptr())},
      {DNNL_ARG_SCRATCHPAD, memory(p->pd.scratchpad_desc(), engine, scratchpad.data_ptr())},
  };
  if (impl.bias.defined()) {
    args[DNNL_ARG_BIAS] = memory(p->pd.bias_desc(), engine, impl.bias.data_ptr());
  }
  try {
    dnnl::stream stream(engine);
    p->matmul.execute(stream, args);
    stream.wait();
  } catch (const dnnl::error& e) {
    TORCH_CHECK(false, "Fp32Linear::Forward: oneDNN matmul failed: ", e.what());
  }
  return y.view(out_sizes);
}

int64_t Fp32Linear::in_features() const { return impl_->in; }
int64_t Fp32Linear::out_features() const { return impl_->out; }
int64_t Fp32Linear::weight_bytes() const { return static_cast<int64_t>(impl_->packed_md.get_size()); }
std::string Fp32Linear::impl_info() const { return impl_->impl_info; }

}  // namespace kernels
