#include "compressor/quantization/qat_conv.h"

#include <algorithm>
#include <regex>

#include <ATen/ATen.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "base/unary_module.h"
#include "compressor/module_selection.h"

namespace compressor {
namespace {

std::unique_ptr<Observer> MakeObserver(const std::string& name, ObserverOptions options) {
  absl::StatusOr<std::unique_ptr<Observer>> observer = CreateObserver(name, options);
  TORCH_CHECK(observer.ok(), "QuantizedConv2d: ", std::string(observer.status().message()));
  return std::move(*observer);
}

ObserverState WithPrefix(const std::string& prefix, const ObserverState& state) {
  ObserverState out;
  for (const auto& [key, value] : state) out[prefix + key] = value;
  return out;
}

torch::nn::Module* ChildOf(torch::nn::Module* parent, const std::string& name) {
  for (const auto& item : parent->named_children()) {
    if (item.key() == name) return item.value().get();
  }
  return nullptr;
}

}  // namespace

QuantizedConv2dImpl::QuantizedConv2dImpl(const torch::nn::Conv2dImpl& conv,
                                         QuantizedLinearOptions options)
    : options_(std::move(options)) {
  TORCH_CHECK(!options_.dynamic_input,
              "QuantizedConv2d: dynamic input quantization is not supported for convolutions");
  TORCH_CHECK(!options_.weight_scheme.per_channel || options_.weight_scheme.ch_axis == 0,
              "QuantizedConv2d: per-channel weights must use ch_axis 0 (output channels), got ",
              options_.weight_scheme.ch_axis);
  const auto& o = conv.options;
  TORCH_CHECK(c10::holds_alternative<torch::ExpandingArray<2>>(o.padding()),
              "QuantizedConv2d: only numeric padding is supported (not 'same'/'valid')");
  TORCH_CHECK(c10::holds_alternative<torch::enumtype::kZeros>(o.padding_mode()),
              "QuantizedConv2d: only zero padding mode is supported");
  const auto& pad = c10::get<torch::ExpandingArray<2>>(o.padding());
  for (int i = 0; i < 2; ++i) {
    stride_[i] = (*o.stride())[i];
    padding_[i] = (*pad)[i];
    dilation_[i] = (*o.dilation())[i];
  }
  groups_ = o.groups();
  const auto params = conv.named_parameters(/*recurse=*/false);
  const at::Tensor* w = params.find("weight");
  TORCH_CHECK(w != nullptr && w->defined() && w->dim() == 4,
              "QuantizedConv2d: the Conv2d has no 4-D weight");
  weight = register_parameter("weight", *w, w->requires_grad());
  const at::Tensor* b = params.find("bias");
  if (b != nullptr && b->defined()) {
    bias = register_parameter("bias", *b, b->requires_grad());
  } else {
    bias = register_parameter("bias", at::Tensor(), /*requires_grad=*/false);
  }
  train(conv.is_training());

  ObserverOptions weight_options = options_.observer_options;
  weight_options.per_channel = options_.weight_scheme.per_channel;
  weight_options.ch_axis = 0;
  weight_observer_ = MakeObserver(options_.weight_observer, weight_options);
  ObserverOptions activation_options = options_.observer_options;
  activation_options.per_channel = false;
  input_observer_ = MakeObserver(options_.activation_observer, activation_options);
  if (options_.requantize_output) {
    output_observer_ = MakeObserver(options_.activation_observer, activation_options);
  }
}

void QuantizedConv2dImpl::ObserveWeight() {
  if (weight_observer_->name() != "moving_average_minmax") weight_observer_->Reset();
  weight_observer_->Observe(weight);
  weight_q_.reset();
}

at::Tensor QuantizedConv2dImpl::forward(const at::Tensor& input) {
  TORCH_CHECK(input.dim() == 4 && input.size(1) == weight.size(1) * groups_,
              "QuantizedConv2d: input of shape ", input.sizes(), " does not have ",
              weight.size(1) * groups_, " channels");
  auto conv = [&](const at::Tensor& x, const at::Tensor& w) {
    return at::conv2d(x, w, bias, stride_, padding_, dilation_, groups_);
  };
  if (calibrating_ && !frozen_) {
    input_observer_->Observe(input);
    at::Tensor output = conv(input, weight);
    if (output_observer_) output_observer_->Observe(output);
    input_q_.reset();
    output_q_.reset();
    return output;
  }
  const bool observe = !frozen_ && is_training();
  if (observe) {
    input_observer_->Observe(input);
    input_q_.reset();
  }
  TORCH_CHECK(input_observer_->observed(), "QuantizedConv2d(", weight.size(1), " -> ",
              weight.size(0),
              "): its input observer has seen no data; run training-mode forwards (QAT) or "
              "calibrate before evaluating");
  const at::Tensor x = FakeQuantize(input, input_qparams(), options_.activation_scheme);
  if (!frozen_) ObserveWeight();
  at::Tensor output = conv(x, FakeQuantizedWeight());
  if (output_observer_) {
    if (observe) {
      output_observer_->Observe(output);
      output_q_.reset();
    }
    output = FakeQuantize(output, output_qparams(), options_.activation_scheme);
  }
  return output;
}

void QuantizedConv2dImpl::Freeze() {
  if (frozen_) return;
  ObserveWeight();
  calibrating_ = false;
  frozen_ = true;
  weight_q_ = weight_observer_->QParams(options_.weight_scheme);
  input_q_ = input_observer_->QParams(options_.activation_scheme);
  if (output_observer_) output_q_ = output_observer_->QParams(options_.activation_scheme);
}

void QuantizedConv2dImpl::set_calibrating(bool calibrating) {
  TORCH_CHECK(!(calibrating && frozen_), "QuantizedConv2d: cannot calibrate after Freeze()");
  calibrating_ = calibrating;
}

QuantParams QuantizedConv2dImpl::weight_qparams() const {
  if (!weight_observer_->observed()) weight_observer_->Observe(weight);
  if (!weight_q_) weight_q_ = weight_observer_->QParams(options_.weight_scheme);
  return *weight_q_;
}

QuantParams QuantizedConv2dImpl::input_qparams() const {
  if (!input_q_) input_q_ = input_observer_->QParams(options_.activation_scheme);
  return *input_q_;
}

QuantParams QuantizedConv2dImpl::output_qparams() const {
  TORCH_CHECK(output_observer_ != nullptr, "QuantizedConv2d: the output is not re-quantized");
  if (!output_q_) output_q_ = output_observer_->QParams(options_.activation_scheme);
  return *output_q_;
}

at::Tensor QuantizedConv2dImpl::FakeQuantizedWeight() const {
  return FakeQuantize(weight, weight_qparams(), options_.weight_scheme);
}

ObserverState QuantizedConv2dImpl::State() const {
  ObserverState state = WithPrefix("weight_observer/", weight_observer_->State());
  state.merge(WithPrefix("input_observer/", input_observer_->State()));
  if (output_observer_) state.merge(WithPrefix("output_observer/", output_observer_->State()));
  return state;
}

absl::Status QuantizedConv2dImpl::LoadState(const ObserverState& state) {
  const std::vector<std::pair<std::string, Observer*>> parts = {
      {"weight_observer/", weight_observer_.get()},
      {"input_observer/", input_observer_.get()},
      {"output_observer/", output_observer_.get()}};
  size_t used = 0;
  for (const auto& [prefix, observer] : parts) {
    if (observer == nullptr) continue;
    ObserverState mine;
    for (const auto& [key, tensor] : state) {
      if (key.compare(0, prefix.size(), prefix) == 0) mine[key.substr(prefix.size())] = tensor;
    }
    used += mine.size();
    if (absl::Status status = observer->LoadState(mine); !status.ok()) {
      return absl::Status(status.code(), absl::StrCat(prefix, " ", status.message()));
    }
  }
  if (used != state.size()) {
    return absl::InvalidArgumentError(
        "a key belongs to no observer of this QuantizedConv2d");
  }
  weight_q_.reset();
  input_q_.reset();
  output_q_.reset();
  return absl::OkStatus();
}

void QuantizedConv2dImpl::pretty_print(std::ostream& stream) const {
  stream << "compressor::QuantizedConv2d(" << weight.size(1) * groups_ << ", " << weight.size(0)
         << ", kernel_size=[" << weight.size(2) << ", " << weight.size(3) << "], stride=["
         << stride_[0] << ", " << stride_[1] << "], padding=[" << padding_[0] << ", "
         << padding_[1] << "], weight=" << options_.weight_scheme.ToString()
         << ", input=" << options_.activation_scheme.ToString() << ", output="
         << (options_.requantize_output ? options_.activation_scheme.ToString() : "fp32")
         << (frozen_ ? ", frozen" : "") << ")";
}

std::vector<std::string> SelectConvs(const torch::nn::Module& model,
                                     const QuantizationConfig& config) {
  std::vector<std::string> selected;
  if (std::find(config.op_types.begin(), config.op_types.end(), "Conv2d") ==
      config.op_types.end()) {
    return selected;
  }
  // PrepareConvModel validates the config first; a direct caller's bad regex is a c10::Error.
  const absl::StatusOr<ModuleFilter> filter =
      ModuleFilter::Create(config.op_names, config.excluded_op_names, "quantization config");
  TORCH_CHECK(filter.ok(), std::string(filter.status().message()));
  for (const auto& item : model.named_modules(/*name_prefix=*/"", /*include_self=*/false)) {
    if (item.value()->as<torch::nn::Conv2dImpl>() == nullptr) continue;
    if (filter->Selects(item.key())) selected.push_back(item.key());
  }
  return selected;
}

absl::StatusOr<std::vector<std::string>> PrepareConvModel(torch::nn::Module& model,
                                                          const QuantizationConfig& config) {
  if (absl::Status status = config.Validate("quantization config"); !status.ok()) return status;
  if (config.is_dynamic()) {
    return absl::InvalidArgumentError(
        "quantization config: approach post_training_dynamic_quant is not supported for "
        "Conv2d (op_types); use post_training_static_quant or quant_aware_training");
  }
  if (config.weight.per_channel && config.weight.ch_axis != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "quantization config: weight.ch_axis is ", config.weight.ch_axis,
        "; Conv2d weights are quantized per output channel (axis 0)"));
  }
  std::vector<std::string> prepared;
  for (const auto& [name, module] : QuantizedConvModules(model)) prepared.push_back(name);
  if (!prepared.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "quantization: the model is already prepared (", FewNames(prepared),
        " are QuantizedConv2d); prepare a model once"));
  }
  const std::vector<std::string> selected = SelectConvs(model, config);
  if (selected.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "quantization config: no Conv2d matches op_types [", absl::StrJoin(config.op_types, ", "),
        "], op_names [", absl::StrJoin(config.op_names, ", "), "] outside excluded_op_names [",
        absl::StrJoin(config.excluded_op_names, ", "), "]"));
  }
  struct Swap {
    torch::nn::Module* parent;
    std::string leaf;
    std::shared_ptr<torch::nn::Module> old;
  };
  std::vector<Swap> swaps;
  auto revert = [&swaps]() {
    for (auto it = swaps.rbegin(); it != swaps.rend(); ++it) {
      it->parent->replace_module(it->leaf, it->old);
    }
  };
  for (const std::string& name : selected) {
    const size_t dot = name.rfind('.');
    torch::nn::Module* parent = &model;
    if (dot != std::string::npos) {
      for (const absl::string_view part : absl::StrSplit(name.substr(0, dot), '.')) {
        parent = ChildOf(parent, std::string(part));
        if (parent == nullptr) break;
      }
    }
    const std::string leaf = dot == std::string::npos ? name : name.substr(dot + 1);
    std::shared_ptr<torch::nn::Module> old;
    if (parent != nullptr) {
      for (const auto& item : parent->named_children()) {
        if (item.key() == leaf) old = item.value();
      }
    }
    if (old == nullptr) {
      revert();
      return absl::InternalError(
          absl::StrCat("quantization: cannot find the parent of Conv2d '", name, "'"));
    }
    try {
      QuantizedConv2d quantized(*old->as<torch::nn::Conv2dImpl>(), OptionsFor(config, name));
      parent->replace_module(leaf, quantized.ptr());
    } catch (const c10::Error& e) {
      revert();
      return absl::InvalidArgumentError(absl::StrCat("quantization: cannot quantize Conv2d '",
                                                     name, "': ", e.what_without_backtrace()));
    }
    swaps.push_back({parent, leaf, std::move(old)});
  }
  std::vector<std::string> stuck;
  for (size_t i = 0; i < swaps.size(); ++i) {
    if (swaps[i].old.use_count() > 1) stuck.push_back(selected[i]);
  }
  if (!stuck.empty()) {
    revert();
    return absl::FailedPreconditionError(absl::StrCat(
        "quantization: cannot swap ", stuck.size(), " of ", swaps.size(),
        " Conv2ds for QuantizedConv2d: ", FewNames(stuck),
        "; their parents keep their own reference (a typed member or a Sequential), which "
        "replace_module cannot update. Call them through base::ForwardChild or exclude them "
        "with excluded_op_names; the model is unchanged"));
  }
  return selected;
}

std::vector<std::pair<std::string, std::shared_ptr<QuantizedConv2dImpl>>> QuantizedConvModules(
    const torch::nn::Module& model) {
  std::vector<std::pair<std::string, std::shared_ptr<QuantizedConv2dImpl>>> modules;
  for (const auto& item : model.named_modules(/*name_prefix=*/"", /*include_self=*/false)) {
    if (auto quantized = std::dynamic_pointer_cast<QuantizedConv2dImpl>(item.value())) {
      modules.emplace_back(item.key(), std::move(quantized));
    }
  }
  return modules;
}

const bool kQuantizedConv2dRegistered = base::RegisterUnaryForward(
    typeid(QuantizedConv2dImpl), [](torch::nn::Module& module, const at::Tensor& input) {
      return dynamic_cast<QuantizedConv2dImpl&>(module).forward(input);
    });

}  // namespace compressor
