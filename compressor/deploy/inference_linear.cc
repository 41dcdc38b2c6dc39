#include "compressor/deploy/inference_linear.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/nn/modules/linear.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <map>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "base/unary_module.h"
#include "compressor/quantization/convert.h"
#include "kernels/fp32_linear.h"
#include "layers/linear.h"

namespace compressor {
namespace {

// Best-of-`reps` wall time of `fn` in ms, after one warm-up call.
double TimeMs(const std::function<void()>& fn, int reps) {
  fn();
  double best = 1e30;
  for (int i = 0; i < std::max(1, reps); ++i) {
    const auto start = std::chrono::steady_clock::now();
    fn();
    const auto stop = std::chrono::steady_clock::now();
    best = std::min(best, std::chrono::duration<double, std::milli>(stop - start).count());
  }
  return best;
}

absl::Status WithContext(const absl::Status& status, const std::string& context) {
  return absl::Status(status.code(), absl::StrCat(context, status.message()));
}

}  // namespace

const char* LinearKernelName(LinearKernel kernel) {
  switch (kernel) {
    case LinearKernel::kDenseFp32: return "dense_fp32";
    case LinearKernel::kSparseFp32: return "sparse_fp32";
    case LinearKernel::kDenseInt8: return "dense_int8";
    case LinearKernel::kSparseInt8: return "sparse_int8";
  }
  return "unknown";
}

absl::StatusOr<LinearKernel> LinearKernelFromName(const std::string& name) {
  for (LinearKernel k : {LinearKernel::kDenseFp32, LinearKernel::kSparseFp32,
                         LinearKernel::kDenseInt8, LinearKernel::kSparseInt8}) {
    if (name == LinearKernelName(k)) return k;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown linear kernel \"", name, "\"; known: dense_fp32, sparse_fp32, dense_int8, sparse_int8"));
}

absl::StatusOr<std::shared_ptr<InferenceLinearImpl>> InferenceLinearImpl::CreateFp32(
    const at::Tensor& weight, const at::Tensor& bias, const InferenceOptions& options) {
  if (!weight.defined() || weight.dim() != 2 || weight.scalar_type() != at::kFloat) {
    return absl::InvalidArgumentError("InferenceLinear: expected a Float [out, in] weight");
  }
  if (options.int8) {
    const kernels::Int8LinearParams params =
        kernels::QuantizeLinearWeights(weight.detach(), bias, /*per_channel=*/true);
    return Build({}, {}, &params, options, nullptr);
  }
  return Build(weight.detach().contiguous(), bias.defined() ? bias.detach().contiguous() : bias,
               nullptr, options, nullptr);
}

absl::StatusOr<std::shared_ptr<InferenceLinearImpl>> InferenceLinearImpl::CreateInt8(
    const kernels::Int8LinearParams& params, const InferenceOptions& options) {
  return Build({}, {}, &params, options, nullptr);
}

absl::StatusOr<std::shared_ptr<InferenceLinearImpl>> InferenceLinearImpl::CreateWithKernel(
    const at::Tensor& fp32_weight, const at::Tensor& bias,
    const kernels::Int8LinearParams* int8_params, LinearKernel kernel,
    const kernels::SparsePackOptions& pack) {
  InferenceOptions options;
  options.pack = pack;
  return Build(fp32_weight, bias, int8_params, options, &kernel);
}

absl::StatusOr<std::shared_ptr<InferenceLinearImpl>> InferenceLinearImpl::Build(
    const at::Tensor& weight, const at::Tensor& bias, const kernels::Int8LinearParams* params,
    const InferenceOptions& options, const LinearKernel* forced) {
  if (options.kernel != "auto" && options.kernel != "sparse" && options.kernel != "dense") {
    return absl::InvalidArgumentError(absl::StrCat("InferenceOptions.kernel = \"", options.kernel,
                                                   "\": expected auto, sparse or dense"));
  }
  auto layer = std::make_shared<InferenceLinearImpl>();
  const bool int8 = params != nullptr;
  if (forced != nullptr) {
    const bool forced_int8 =
        *forced == LinearKernel::kDenseInt8 || *forced == LinearKernel::kSparseInt8;
    if (forced_int8 != int8) {
      return absl::InvalidArgumentError(absl::StrCat("InferenceLinear: kernel ",
                                                     LinearKernelName(*forced), " needs ",
                                                     forced_int8 ? "INT8" : "fp32", " weights"));
    }
  }
  if (int8) {
    if (absl::Status s = kernels::ValidateInt8LinearParams(*params); !s.ok()) return s;
    layer->params_ = *params;
    layer->params_.weight_int8 = params->weight_int8.contiguous();
    layer->out_ = params->weight_int8.size(0);
    layer->in_ = params->weight_int8.size(1);
    layer->sparsity_ = layer->params_.weight_int8.eq(0).sum().item<double>() /
                       static_cast<double>(layer->in_ * layer->out_);
  } else {
    layer->weight_ = weight;
    layer->bias_ = bias;
    layer->out_ = weight.size(0);
    layer->in_ = weight.size(1);
    layer->sparsity_ =
        weight.eq(0).sum().item<double>() / static_cast<double>(layer->in_ * layer->out_);
  }

  // Candidates: which kernels to build.
  bool try_dense = true, try_sparse = true;
  if (forced != nullptr) {
    try_sparse = *forced == LinearKernel::kSparseFp32 || *forced == LinearKernel::kSparseInt8;
    try_dense = !try_sparse;
  } else if (options.kernel == "dense") {
    try_sparse = false;
  } else if (options.kernel == "sparse") {
    try_dense = false;
  } else if (layer->sparsity_ < options.min_sparse_sparsity) {
    try_sparse = false;
  }

  std::function<at::Tensor(const at::Tensor&)> dense_fn, sparse_fn;
  if (int8) {
    if (try_dense) {
      auto k = kernels::Int8Linear::Create(layer->params_);
      if (!k.ok()) return k.status();
      layer->dense_int8_ = std::move(*k);
      dense_fn = [k = layer->dense_int8_](const at::Tensor& x) { return k->Forward(x); };
    }
    if (try_sparse) {
      auto k = kernels::SparseInt8Linear::Create(layer->params_, options.pack);
      if (!k.ok()) return k.status();
      layer->sparse_int8_ = std::move(*k);
      sparse_fn = [k = layer->sparse_int8_](const at::Tensor& x) { return k->Forward(x); };
    }
  } else {
    if (try_dense) {
      auto k = kernels::Fp32Linear::Create(layer->weight_, layer->bias_);
      if (!k.ok()) return k.status();
      std::shared_ptr<kernels::Fp32Linear> dense(std::move(*k));
      layer->dense_fp32_ = dense;
      dense_fn = [dense](const at::Tensor& x) { return dense->Forward(x); };
    }
    if (try_sparse) {
      auto k = kernels::SparseLinear::Create(layer->weight_, layer->bias_, {}, options.pack);
      if (!k.ok()) return k.status();
      layer->sparse_fp32_ = std::move(*k);
      sparse_fn = [k = layer->sparse_fp32_](const at::Tensor& x) { return k->Forward(x); };
    }
  }
  bool use_sparse = try_sparse;
  if (try_dense && try_sparse) {
    at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(0);
    const at::Tensor x = at::randn({std::max<int64_t>(1, options.calibration_rows), layer->in_}, gen);
    // Alternate the two so background load hits both alike; best of reps each.
    double dense_ms = 1e30, sparse_ms = 1e30;
    for (int round = 0; round < 2; ++round) {
      dense_ms = std::min(dense_ms, TimeMs([&] { dense_fn(x); }, options.calibration_reps));
      sparse_ms = std::min(sparse_ms, TimeMs([&] { sparse_fn(x); }, options.calibration_reps));
    }
    layer->dense_ms_ = dense_ms;
    layer->sparse_ms_ = sparse_ms;
    use_sparse = sparse_ms < dense_ms;
  }
  if (use_sparse) {
    layer->kernel_ = int8 ? LinearKernel::kSparseInt8 : LinearKernel::kSparseFp32;
    layer->dense_int8_.reset();
    layer->dense_fp32_.reset();
  } else {
    layer->kernel_ = int8 ? LinearKernel::kDenseInt8 : LinearKernel::kDenseFp32;
    layer->sparse_int8_.reset();
    layer->sparse_fp32_.reset();
  }
  return layer;
}

at::Tensor InferenceLinearImpl::forward(const at::Tensor& x) {
  switch (kernel_) {
    case LinearKernel::kDenseFp32:
      return static_cast<const kernels::Fp32Linear*>(dense_fp32_.get())->Forward(x);
    case LinearKernel::kSparseFp32: return sparse_fp32_->Forward(x);
    case LinearKernel::kDenseInt8: return dense_int8_->Forward(x);
    case LinearKernel::kSparseInt8: return sparse_int8_->Forward(x);
  }
  TORCH_CHECK(false, "InferenceLinear: no kernel");
}

void InferenceLinearImpl::pretty_print(std::ostream& stream) const {
  stream << "compressor::InferenceLinear(in_features=" << in_ << ", out_features=" << out_
         << ", kernel=" << LinearKernelName(kernel_) << ", sparsity=" << sparsity_ << ")";
}

absl::Status ReplaceModule(torch::nn::Module& model, const std::string& name,
                           std::shared_ptr<torch::nn::Module> replacement) {
  torch::nn::Module* parent = &model;
  std::string leaf = name;
  const size_t dot = name.rfind('.');
  if (dot != std::string::npos) {
    std::shared_ptr<torch::nn::Module> found;
    for (const auto& item : model.named_modules("", /*include_self=*/false)) {
      if (item.key() == name.substr(0, dot)) found = item.value();
    }
    if (!found) return absl::NotFoundError(absl::StrCat("module '", name, "': parent not found"));
    parent = found.get();
    leaf = name.substr(dot + 1);
  }
  if (parent->named_children().find(leaf) == nullptr) {
    return absl::NotFoundError(absl::StrCat("module '", name, "' not found"));
  }
  parent->replace_module(leaf, std::move(replacement));
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> ConvertForInference(torch::nn::Module& model,
                                                             const InferenceOptions& options,
                                                             const std::string& name_filter) {
  std::vector<std::pair<std::string, std::shared_ptr<InferenceLinearImpl>>> converted;
  for (const auto& item : model.named_modules("", /*include_self=*/false)) {
    const std::string& name = item.key();
    if (!name_filter.empty() && name.find(name_filter) == std::string::npos) continue;
    absl::StatusOr<std::shared_ptr<InferenceLinearImpl>> layer;
    auto* linear = item.value()->as<layers::Linear>();
    if (linear != nullptr && linear->kernel() == nullptr) {
      layer = InferenceLinearImpl::CreateFp32(linear->weight, linear->bias, options);
    } else if (auto* stock = item.value()->as<torch::nn::Linear>()) {
      // Any torch::nn::Module's own Linears deploy too, not only our models' layers.
      layer = InferenceLinearImpl::CreateFp32(stock->weight, stock->bias, options);
    } else if (auto* int8 = item.value()->as<Int8LinearModuleImpl>()) {
      if (int8->requantizes_output()) continue;  // Not expressible here; stays as it is.
      layer = InferenceLinearImpl::CreateInt8(int8->params(), options);
    } else {
      continue;
    }
    if (!layer.ok()) {
      return WithContext(layer.status(), absl::StrCat("ConvertForInference: module '", name, "': "));
    }
    converted.emplace_back(name, std::move(*layer));
  }
  std::vector<std::string> names;
  for (auto& [name, layer] : converted) {
    if (absl::Status s = ReplaceModule(model, name, layer); !s.ok()) {
      return WithContext(s, "ConvertForInference: ");
    }
    names.push_back(name);
  }
  return names;
}

std::vector<std::pair<std::string, std::shared_ptr<InferenceLinearImpl>>> InferenceLinears(
    const torch::nn::Module& model) {
  std::vector<std::pair<std::string, std::shared_ptr<InferenceLinearImpl>>> out;
  for (const auto& item : model.named_modules("", /*include_self=*/false)) {
    if (auto layer = std::dynamic_pointer_cast<InferenceLinearImpl>(item.value())) {
      out.emplace_back(item.key(), layer);
    }
  }
  return out;
}

// Parents that call children through base::ForwardChild run the converted module.
const bool kInferenceLinearRegistered = base::RegisterUnaryForward(
    typeid(InferenceLinearImpl), [](torch::nn::Module& module, const at::Tensor& input) {
      return static_cast<InferenceLinearImpl&>(module).forward(input);
    });

}  // namespace compressor
