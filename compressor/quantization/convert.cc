#include "compressor/quantization/convert.h"

#include <map>
#include <utility>

#include <ATen/ATen.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "absl/strings/str_cat.h"
#include "base/unary_module.h"

namespace compressor {
namespace {

absl::Status Unsupported(const std::string& what, const QuantScheme& scheme,
                         const std::string& why) {
  return absl::UnimplementedError(
      absl::StrCat("unsupported ", what, " scheme ", scheme.ToString(),
                   scheme.reduce_range ? " (reduce_range)" : "", ": ", why));
}

absl::Status CheckWeightScheme(const QuantScheme& s) {
  if (s.dtype != "int8" || !s.symmetric || s.reduce_range) {
    return Unsupported("weight", s, "the INT8 kernel takes int8 symmetric full-range weights");
  }
  if (s.per_channel && s.ch_axis != 0) {
    return Unsupported("weight", s, "per-channel weights must be along axis 0 (out features)");
  }
  return absl::OkStatus();
}

// Sets params.activation_signed.
absl::Status CheckActivationScheme(const QuantScheme& s, bool dynamic,
                                   kernels::Int8LinearParams& params) {
  if (s.per_channel) return Unsupported("activation", s, "activations are per-tensor");
  if (s.reduce_range) {
    return Unsupported("activation", s, "the kernel clamps activations to the full range");
  }
  if (dynamic) {
    if (s.dtype != "uint8" || s.symmetric) {
      return Unsupported("activation", s,
                         "dynamic quantization is supported with uint8 affine activations "
                         "only (the kernel's per-input rule)");
    }
    params.activation_signed = false;
    return absl::OkStatus();
  }
  if (s.dtype == "uint8") {
    params.activation_signed = false;
  } else if (s.dtype == "int8" && s.symmetric) {
    params.activation_signed = true;
  } else {
    return Unsupported("activation", s, "int8 activations must be symmetric");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::shared_ptr<Int8LinearModuleImpl>> Int8LinearModuleImpl::Create(
    const FakeQuantLinearKernel& quantized) {
  if (!quantized.frozen()) {
    return absl::FailedPreconditionError(
        "QuantizedLinear is not frozen (call Freeze() after training/calibration); its "
        "qparams could still change");
  }
  const QuantizedLinearOptions& options = quantized.options();
  if (absl::Status status = CheckWeightScheme(options.weight_scheme); !status.ok()) {
    return status;
  }
  kernels::Int8LinearParams params;
  params.dynamic = options.dynamic_input;
  if (absl::Status status =
          CheckActivationScheme(options.activation_scheme, params.dynamic, params);
      !status.ok()) {
    return status;
  }
  torch::NoGradGuard no_grad;
  if (!params.dynamic) {
    const Observer* observer = quantized.input_observer();
    if (observer == nullptr || !observer->observed()) {
      return absl::FailedPreconditionError(
          "its input observer has seen no data, so the input qparams are unknown");
    }
    const QuantParams in = quantized.input_qparams();
    if (in.scale.numel() != 1 || in.zero_point.numel() != 1) {
      return absl::InvalidArgumentError("input qparams are not per-tensor");
    }
    params.input_scale = in.scale.to(at::kFloat).item<float>();
    params.input_zero_point = in.zero_point.item<int64_t>();
  }
  const bool requantize = quantized.output_observer() != nullptr;
  QuantParams out;
  if (requantize) {
    if (!quantized.output_observer()->observed()) {
      return absl::FailedPreconditionError(
          "its output observer has seen no data, so the output qparams are unknown");
    }
    const QuantParams q = quantized.output_qparams();
    out.scale = q.scale.detach().clone();
    out.zero_point = q.zero_point.detach().clone();
    if (out.scale.numel() != 1 || out.zero_point.numel() != 1) {
      return absl::InvalidArgumentError("output qparams are not per-tensor");
    }
    // The kernel re-quantizes in the matmul's epilogue, with the values FakeQuantize uses
    // (the scale as a double rounded to float, the zero point as an integer).
    params.requantize_output = true;
    params.output_scale = out.scale.to(at::kDouble).item<double>();
    params.output_zero_point = out.zero_point.item<int64_t>();
    params.output_quant_min = options.activation_scheme.quant_min();
    params.output_quant_max = options.activation_scheme.quant_max();
  }

  const QuantParams wq = quantized.weight_qparams();
  if (wq.zero_point.ne(0).any().item<bool>()) {
    return absl::InvalidArgumentError("weight zero points are not all 0");
  }
  const at::Tensor weight = quantized.weight.detach().to(at::kFloat).contiguous();
  params.weight_int8 = Quantize(weight, wq, options.weight_scheme).to(at::kChar).contiguous();
  params.weight_scales = wq.scale.detach().to(at::kFloat).reshape({-1}).contiguous().clone();
  if (quantized.bias.defined()) {
    params.bias = quantized.bias.detach().to(at::kFloat).contiguous().clone();
  }
  absl::StatusOr<std::unique_ptr<kernels::Int8Linear>> kernel = kernels::Int8Linear::Create(params);
  if (!kernel.ok()) return kernel.status();
  return std::make_shared<Int8LinearModuleImpl>(std::move(params), std::move(*kernel),
                                                options.weight_scheme, options.activation_scheme,
                                                requantize, std::move(out));
}

Int8LinearModuleImpl::Int8LinearModuleImpl(kernels::Int8LinearParams params,
                                           std::unique_ptr<kernels::Int8Linear> kernel,
                                           QuantScheme weight_scheme,
                                           QuantScheme activation_scheme, bool requantize_output,
                                           QuantParams output_qparams)
    : params_(std::move(params)),
      kernel_(std::move(kernel)),
      weight_scheme_(std::move(weight_scheme)),
      activation_scheme_(std::move(activation_scheme)),
      requantize_output_(requantize_output),
      output_qparams_(std::move(output_qparams)) {
  TORCH_CHECK(kernel_ != nullptr, "Int8LinearModule: no kernel");
  register_buffer("weight", params_.weight_int8);
  register_buffer("weight_scale", params_.weight_scales);
  if (params_.bias.defined()) register_buffer("bias", params_.bias);
  if (!params_.dynamic) {
    register_buffer("input_scale", at::full({1}, params_.input_scale, at::kFloat));
    register_buffer("input_zero_point", at::full({1}, params_.input_zero_point, at::kLong));
  }
  if (requantize_output_) {
    register_buffer("output_scale", output_qparams_.scale);
    register_buffer("output_zero_point", output_qparams_.zero_point);
  }
  eval();
}

at::Tensor Int8LinearModuleImpl::forward(const at::Tensor& input) {
  torch::NoGradGuard no_grad;
  at::Tensor x = input.scalar_type() == at::kFloat ? input : input.to(at::kFloat);
  // An output the scheme re-quantizes is re-quantized inside the kernel (fused into the
  // oneDNN epilogue), bit-identical to FakeQuantize of the kernel's fp32 output.
  return kernel_->Forward(x);
}

int64_t Int8LinearModuleImpl::zero_weights() const {
  return params_.weight_int8.eq(0).sum().item<int64_t>();
}

void Int8LinearModuleImpl::pretty_print(std::ostream& stream) const {
  stream << "compressor::Int8LinearModule(in_features=" << kernel_->in_features()
         << ", out_features=" << kernel_->out_features()
         << ", bias=" << (params_.bias.defined() ? "true" : "false")
         << ", weight=" << weight_scheme_.ToString() << ", input="
         << (params_.dynamic ? "dynamic " : "") << activation_scheme_.ToString()
         << ", output=" << (requantize_output_ ? activation_scheme_.ToString() : "fp32")
         << ", impl=" << kernel_->impl_info() << ")";
}

absl::StatusOr<std::vector<std::string>> ConvertToInt8(torch::nn::Module& model) {
  const auto quantized = QuantizedModules(model);
  if (quantized.empty()) {
    return absl::FailedPreconditionError(
        "ConvertToInt8: the model has no QuantizedLinear (prepare it with PrepareModel, "
        "train or calibrate, and Freeze() every module first)");
  }
  std::vector<std::shared_ptr<Int8LinearModuleImpl>> converted;
  for (const auto& [name, module] : quantized) {
    absl::StatusOr<std::shared_ptr<Int8LinearModuleImpl>> int8 =
        Int8LinearModuleImpl::Create(*module);
    if (!int8.ok()) {
      return absl::Status(int8.status().code(),
                          absl::StrCat("ConvertToInt8: module '", name, "': ",
                                       int8.status().message()));
    }
    converted.push_back(std::move(*int8));
  }
  // Resolve every parent before swapping anything.
  std::map<std::string, std::shared_ptr<torch::nn::Module>> by_name;
  for (const auto& item : model.named_modules("", /*include_self=*/false)) {
    by_name[item.key()] = item.value();
  }
  std::vector<std::pair<torch::nn::Module*, std::string>> slots;
  for (const auto& [name, module] : quantized) {
    const size_t dot = name.rfind('.');
    torch::nn::Module* parent = &model;
    std::string leaf = name;
    if (dot != std::string::npos) {
      auto it = by_name.find(name.substr(0, dot));
      if (it == by_name.end()) {
        return absl::InternalError(
            absl::StrCat("ConvertToInt8: module '", name, "': parent not found"));
      }
      parent = it->second.get();
      leaf = name.substr(dot + 1);
    }
    slots.emplace_back(parent, leaf);
  }
  std::vector<std::string> names;
  for (size_t i = 0; i < slots.size(); ++i) {
    slots[i].first->replace_module(slots[i].second, Int8LinearModule(converted[i]));
    names.push_back(quantized[i].first);
  }
  return names;
}

std::vector<std::pair<std::string, std::shared_ptr<Int8LinearModuleImpl>>> Int8Modules(
    const torch::nn::Module& model) {
  std::vector<std::pair<std::string, std::shared_ptr<Int8LinearModuleImpl>>> modules;
  for (const auto& item : model.named_modules("", /*include_self=*/false)) {
    if (auto int8 = std::dynamic_pointer_cast<Int8LinearModuleImpl>(item.value())) {
      modules.emplace_back(item.key(), std::move(int8));
    }
  }
  return modules;
}

// Parents that call children through base::ForwardChild run the converted module.
const bool kInt8LinearModuleRegistered = base::RegisterUnaryForward(
    typeid(Int8LinearModuleImpl), [](torch::nn::Module& module, const at::Tensor& input) {
      return static_cast<Int8LinearModuleImpl&>(module).forward(input);
    });

}  // namespace compressor
