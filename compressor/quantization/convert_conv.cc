#include "compressor/quantization/convert_conv.h"

#include <ATen/ATen.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/unary_module.h"

namespace compressor {
namespace {

torch::nn::Module* ChildOf(torch::nn::Module* parent, const std::string& name) {
  for (const auto& item : parent->named_children()) {
    if (item.key() == name) return item.value().get();
  }
  return nullptr;
}

}  // namespace

absl::StatusOr<std::shared_ptr<Int8Conv2dModuleImpl>> Int8Conv2dModuleImpl::Create(
    const QuantizedConv2dImpl& quantized) {
  if (!quantized.frozen()) {
    return absl::FailedPreconditionError("not frozen; call Freeze() after QAT or calibration");
  }
  if (!quantized.input_observer().observed()) {
    return absl::FailedPreconditionError(
        "its input observer never saw data, so the activation range is unknown");
  }
  if (quantized.groups() != 1) {
    return absl::UnimplementedError(
        absl::StrCat("groups = ", quantized.groups(), "; the INT8 kernel supports groups = 1"));
  }
  const QuantizedLinearOptions& options = quantized.options();
  const QuantScheme& ws = options.weight_scheme;
  const QuantScheme& as = options.activation_scheme;
  if (ws.dtype != "int8" || !ws.symmetric || ws.reduce_range) {
    return absl::UnimplementedError(absl::StrCat("weight scheme ", ws.ToString(),
                                                 " is not supported (int8 symmetric only)"));
  }
  if (as.reduce_range || (as.dtype == "int8" && !as.symmetric)) {
    return absl::UnimplementedError(absl::StrCat(
        "activation scheme ", as.ToString(),
        " is not supported (uint8, or int8 symmetric, full range)"));
  }
  auto module = std::shared_ptr<Int8Conv2dModuleImpl>(new Int8Conv2dModuleImpl());
  const QuantParams wq = quantized.weight_qparams();
  const QuantParams xq = quantized.input_qparams();
  kernels::Int8Conv2dParams& p = module->params_;
  {
    at::NoGradGuard no_grad;
    p.weight_int8 = Quantize(quantized.weight.detach(), wq, ws).contiguous();
    p.weight_scales = wq.scale.to(at::kFloat).reshape({-1}).contiguous();
    if (quantized.bias.defined()) p.bias = quantized.bias.detach().to(at::kFloat).contiguous().clone();
  }
  p.stride = quantized.stride();
  p.padding = quantized.padding();
  p.dilation = quantized.dilation();
  p.activation_signed = as.dtype == "int8";
  p.input_scale = xq.scale.item<float>();
  p.input_zero_point = xq.zero_point.item<int64_t>();
  auto kernel = kernels::Int8Conv2d::Create(p);
  if (!kernel.ok()) return kernel.status();
  module->kernel_ = std::move(*kernel);
  module->activation_scheme_ = as;
  module->requantize_output_ = quantized.output_observer() != nullptr;
  if (module->requantize_output_) module->output_qparams_ = quantized.output_qparams();
  module->weight_numel_ = p.weight_int8.numel();
  module->weight_zeros_ = p.weight_int8.eq(0).sum().item<int64_t>();
  module->register_buffer("weight", p.weight_int8);
  module->register_buffer("weight_scale", p.weight_scales);
  if (p.bias.defined()) module->register_buffer("bias", p.bias);
  module->register_buffer("input_scale", xq.scale.to(at::kFloat).reshape({1}));
  module->register_buffer("input_zero_point", xq.zero_point.to(at::kLong).reshape({1}));
  if (module->requantize_output_) {
    module->register_buffer("output_scale", module->output_qparams_.scale);
    module->register_buffer("output_zero_point", module->output_qparams_.zero_point);
  }
  return module;
}

at::Tensor Int8Conv2dModuleImpl::forward(const at::Tensor& input) {
  at::Tensor y = kernel_->Forward(input);
  if (requantize_output_) y = FakeQuantize(y, output_qparams_, activation_scheme_);
  return y;
}

absl::StatusOr<std::vector<std::string>> ConvertConvsToInt8(torch::nn::Module& model) {
  const auto modules = QuantizedConvModules(model);
  if (modules.empty()) {
    return absl::InvalidArgumentError(
        "convert: the model has no QuantizedConv2d (prepare it with op_types Conv2d first)");
  }
  struct Planned {
    torch::nn::Module* parent;
    std::string leaf;
    std::shared_ptr<Int8Conv2dModuleImpl> module;
  };
  std::vector<Planned> planned;
  std::vector<std::string> names;
  for (const auto& [name, quantized] : modules) {
    auto converted = Int8Conv2dModuleImpl::Create(*quantized);
    if (!converted.ok()) {
      return absl::Status(converted.status().code(),
                          absl::StrCat("convert: QuantizedConv2d '", name, "': ",
                                       converted.status().message()));
    }
    const size_t dot = name.rfind('.');
    torch::nn::Module* parent = &model;
    if (dot != std::string::npos) {
      for (const absl::string_view part : absl::StrSplit(name.substr(0, dot), '.')) {
        parent = parent == nullptr ? nullptr : ChildOf(parent, std::string(part));
      }
    }
    if (parent == nullptr) {
      return absl::InternalError(absl::StrCat("convert: cannot find the parent of '", name, "'"));
    }
    planned.push_back({parent, dot == std::string::npos ? name : name.substr(dot + 1),
                       std::move(*converted)});
    names.push_back(name);
  }
  for (Planned& p : planned) p.parent->replace_module(p.leaf, p.module);
  return names;
}

std::vector<std::pair<std::string, std::shared_ptr<Int8Conv2dModuleImpl>>> Int8ConvModules(
    const torch::nn::Module& model) {
  std::vector<std::pair<std::string, std::shared_ptr<Int8Conv2dModuleImpl>>> modules;
  for (const auto& item : model.named_modules(/*name_prefix=*/"", /*include_self=*/false)) {
    if (auto m = std::dynamic_pointer_cast<Int8Conv2dModuleImpl>(item.value())) {
      modules.emplace_back(item.key(), std::move(m));
    }
  }
  return modules;
}

const bool kInt8Conv2dRegistered = base::RegisterUnaryForward(
    typeid(Int8Conv2dModuleImpl), [](torch::nn::Module& module, const at::Tensor& input) {
      return dynamic_cast<Int8Conv2dModuleImpl&>(module).forward(input);
    });

}  // namespace compressor
