#include "kernels/fp32_matmul.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <torch/csrc/autograd/custom_function.h>

#include <array>
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "kernels/onednn.h"

namespace kernels {
namespace {

using dnnl::memory;

// Row-major ([rows, 1] strides) or a transpose of row-major ([1, cols]); else a copy that is.
at::Tensor PlainLayout(const at::Tensor& t) {
  if (t.stride(1) == 1 && t.stride(0) >= t.size(1)) return t;
  if (t.stride(0) == 1 && t.stride(1) >= t.size(0)) return t;
  return t.contiguous();
}

// Shapes, strides and whether a bias is added: what a matmul primitive is created for.
using Key = std::array<int64_t, 8>;

struct MatmulPrimitive {
  dnnl::matmul::primitive_desc pd;
  dnnl::matmul matmul;
};

std::shared_ptr<const MatmulPrimitive> Primitive(const at::Tensor& a, const at::Tensor& b,
                                                 bool bias) {
  static auto* const cache = new PrimitiveCache<Key, MatmulPrimitive>(/*capacity=*/128);
  const int64_t m = a.size(0), k = a.size(1), n = b.size(1);
  const Key key = {m, k, n, a.stride(0), a.stride(1), b.stride(0), b.stride(1), bias};
  return cache->GetOrCreate(key, [&] {
    const memory::desc a_md({m, k}, memory::data_type::f32, {a.stride(0), a.stride(1)});
    const memory::desc b_md({k, n}, memory::data_type::f32, {b.stride(0), b.stride(1)});
    const memory::desc c_md({m, n}, memory::data_type::f32, memory::format_tag::ab);
    const memory::desc bias_md({1, n}, memory::data_type::f32, memory::format_tag::ab);
    const dnnl::matmul::desc desc =
        bias ? dnnl::matmul::desc(a_md, b_md, bias_md, c_md) : dnnl::matmul::desc(a_md, b_md, c_md);
    // A scratchpad per call, so one primitive may run on several threads at once.
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    auto made = std::make_shared<MatmulPrimitive>();
    made->pd = dnnl::matmul::primitive_desc(desc, attr, CpuEngine());
    made->matmul = dnnl::matmul(made->pd);
    return made;
  });
}

class LinearFunction : public torch::autograd::Function<LinearFunction> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x,
                            const at::Tensor& weight, const at::Tensor& bias) {
    // An undefined bias arrives as an empty tensor (LibTorch 1.13's custom functions take
    // defined tensors only).
    const bool has_bias = bias.numel() > 0;
    const at::Tensor rows = x.reshape({-1, x.size(-1)});
    ctx->save_for_backward({rows, weight});
    ctx->saved_data["has_bias"] = has_bias;
    std::vector<int64_t> out_sizes(x.sizes().begin(), x.sizes().end());
    out_sizes.back() = weight.size(0);
    return Matmul(rows, weight.t(), has_bias ? bias : at::Tensor()).view(out_sizes);
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor& rows = saved[0];
    const at::Tensor& weight = saved[1];
    const at::Tensor& grad = grads[0];
    const at::Tensor grad_rows = grad.reshape({-1, grad.size(-1)});
    at::Tensor grad_x, grad_weight, grad_bias;
    if (ctx->needs_input_grad(0)) {
      std::vector<int64_t> x_sizes(grad.sizes().begin(), grad.sizes().end());
      x_sizes.back() = weight.size(1);
      grad_x = Matmul(grad_rows, weight).view(x_sizes);
    }
    if (ctx->needs_input_grad(1)) grad_weight = Matmul(grad_rows.t(), rows);
    if (ctx->saved_data["has_bias"].toBool() && ctx->needs_input_grad(2)) {
      grad_bias = grad_rows.sum(0);
    }
    return {grad_x, grad_weight, grad_bias};
  }
};

}  // namespace

at::Tensor Matmul(const at::Tensor& a_in, const at::Tensor& b_in, const at::Tensor& bias) {
  TORCH_CHECK(a_in.dim() == 2 && b_in.dim() == 2 && a_in.size(1) == b_in.size(0),
              "kernels::Matmul: expected [m, k] x [k, n] matrices, got ", a_in.sizes(), " x ",
              b_in.sizes());
  TORCH_CHECK(a_in.scalar_type() == at::kFloat && b_in.scalar_type() == at::kFloat &&
                  a_in.device().is_cpu() && b_in.device().is_cpu(),
              "kernels::Matmul: expected Float CPU matrices, got ", a_in.scalar_type(), " and ",
              b_in.scalar_type());
  const int64_t m = a_in.size(0), n = b_in.size(1);
  at::Tensor bias_row;
  if (bias.defined()) {
    TORCH_CHECK(bias.scalar_type() == at::kFloat && bias.numel() == n,
                "kernels::Matmul: expected a Float bias of ", n, " values, got ", bias.sizes());
    bias_row = bias.reshape({1, n}).contiguous();
  }
  at::Tensor out = at::empty({m, n}, a_in.options());
  if (m == 0 || n == 0) return out;
  if (a_in.size(1) == 0) return bias.defined() ? out.copy_(bias_row.expand({m, n})) : out.zero_();
  const at::Tensor a = PlainLayout(a_in), b = PlainLayout(b_in);
  const std::shared_ptr<const MatmulPrimitive> p = Primitive(a, b, bias.defined());
  dnnl::engine& engine = CpuEngine();
  at::Tensor scratchpad =
      at::empty({static_cast<int64_t>(p->pd.scratchpad_desc().get_size())}, at::kByte);
  memory a_mem(p->pd.src_desc(), engine, a.data_ptr());
  memory b_mem(p->pd.weights_desc(), engine, b.data_ptr());
  memory c_mem(p->pd.dst_desc(), engine, out.data_ptr());
  memory scratch_mem(p->pd.scratchpad_desc(), engine, scratchpad.data_ptr());
  std::unordered_map<int, memory> args = {{DNNL_ARG_SRC, a_mem},
                                          {DNNL_ARG_WEIGHTS, b_mem},
                                          {DNNL_ARG_DST, c_mem},
                                          {DNNL_ARG_SCRATCHPAD, scratch_mem}};
  if (bias.defined()) args.emplace(DNNL_ARG_BIAS, memory(p->pd.bias_desc(), engine, bias_row.data_ptr()));
  dnnl::stream stream(engine);
  p->matmul.execute(stream, args);
  stream.wait();
  return out;
}

at::Tensor LinearWithAutograd(const at::Tensor& x, const at::Tensor& weight,
                              const at::Tensor& bias) {
  TORCH_CHECK(x.dim() >= 1 && weight.dim() == 2 && x.size(-1) == weight.size(1),
              "kernels::LinearWithAutograd: input ", x.sizes(), " does not fit weight ",
              weight.sizes());
  return LinearFunction::apply(x, weight, bias.defined() ? bias : at::empty({0}, weight.options()));
}

}  // namespace kernels
