#include "compressor/quantization/qat.h"

#include <algorithm>
#include <map>
#include <mutex>
#include <regex>
#include <tuple>

#include <ATen/ATen.h>
#include <c10/util/intrusive_ptr.h>
#include <torch/csrc/autograd/grad_mode.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"
#include "base/unary_module.h"
#include "compressor/module_selection.h"
#include "layers/fp32_backend.h"

namespace compressor {
namespace {

bool IsObserverName(const std::string& name) {
  const auto& names = ObserverNames();
  return std::find(names.begin(), names.end(), name) != names.end();
}

std::unique_ptr<Observer> MakeObserver(const std::string& name, ObserverOptions options) {
  absl::StatusOr<std::unique_ptr<Observer>> observer = CreateObserver(name, options);
  TORCH_CHECK(observer.ok(), "QuantizedLinear: ", std::string(observer.status().message()));
  return std::move(*observer);
}

ObserverState WithPrefix(const std::string& prefix, const ObserverState& state) {
  ObserverState out;
  for (const auto& [key, tensor] : state) out[prefix + key] = tensor;
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------------------
// QuantizationConfig

absl::StatusOr<QuantizationConfig> QuantizationConfig::Preset(const std::string& name) {
  QuantizationConfig config;
  if (name == "prune_ofa") return config;
  if (name == "inc_fx") {
    config.weight = QuantScheme::Int8SymmetricPerChannel(0);
    config.weight_observer = "moving_average_minmax";
    config.outputs_not_requantized.clear();
    return config;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "quantization config: preset \"", name, "\" is unknown; supported: prune_ofa, inc_fx"));
}

absl::Status QuantizationConfig::Validate(const std::string& source) const {
  auto error = [&](const char* key, const auto&... problem) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": ", key, " ", problem...));
  };
  if (approach != "quant_aware_training" && approach != "post_training_static_quant" &&
      approach != "post_training_dynamic_quant") {
    return error("approach", "is \"", approach,
                 "\"; supported: quant_aware_training, post_training_static_quant, "
                 "post_training_dynamic_quant");
  }
  RETURN_IF_ERROR(weight.Validate(source, "weight"));
  RETURN_IF_ERROR(activation.Validate(source, "activation"));
  if (weight.per_channel && weight.ch_axis > 1) {
    return error("weight.ch_axis", "must be 0 or 1 for Linear weights, got ", weight.ch_axis);
  }
  if (activation.per_channel) {
    return error("activation.per_channel", "is true; activations are quantized per-tensor");
  }
  const std::string supported = absl::StrJoin(ObserverNames(), ", ");
  if (!IsObserverName(weight_observer)) {
    return error("weight_observer", "is \"", weight_observer, "\"; supported: ", supported);
  }
  if (!IsObserverName(activation_observer)) {
    return error("activation_observer", "is \"", activation_observer, "\"; supported: ",
                 supported);
  }
  if (weight.per_channel && IsCalibrationObserver(weight_observer)) {
    return error("weight_observer", "is \"", weight_observer,
                 "\", which is per-tensor only; per-channel weights need minmax or "
                 "moving_average_minmax");
  }
  if (is_qat() && IsCalibrationObserver(weight_observer)) {
    return error("weight_observer", "is \"", weight_observer,
                 "\", a calibration observer; quant_aware_training re-observes weights every "
                 "step: use minmax or moving_average_minmax");
  }
  if (is_qat() && IsCalibrationObserver(activation_observer)) {
    return error("activation_observer", "is \"", activation_observer,
                 "\", a calibration observer (post_training_static_quant); "
                 "quant_aware_training needs moving_average_minmax or minmax");
  }
  ObserverOptions options;
  options.averaging_constant = averaging_constant;
  options.percentile = percentile;
  options.bins = histogram_bins;
  RETURN_IF_ERROR(options.Validate(source));
  for (const std::string& type : op_types) {
    if (type != "Linear" && type != "Conv2d") {
      return error("op_types", "contains \"", type, "\"; supported: Linear, Conv2d");
    }
  }
  if (op_types.empty()) return error("op_types", "is empty; supported: Linear, Conv2d");
  for (const auto& [list, key] : {std::make_pair(&op_names, "op_names"),
                                  std::make_pair(&excluded_op_names, "excluded_op_names"),
                                  std::make_pair(&outputs_not_requantized,
                                                 "outputs_not_requantized")}) {
    absl::StatusOr<std::vector<std::regex>> compiled = CompileRegexes(*list, source, key);
    if (!compiled.ok()) return compiled.status();
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------------------
// QuantizedLinear

namespace {

// The registered tensor `name` of `linear` (not the member, which a user may have
// reassigned): the one optimizers, masks and checkpoints know.
at::Tensor RegisteredParameter(const layers::LinearImpl& linear, const char* name) {
  const auto params = linear.named_parameters(/*recurse=*/false);
  const at::Tensor* tensor = params.find(name);
  return tensor != nullptr ? *tensor : at::Tensor();
}

}  // namespace

FakeQuantLinearKernel::FakeQuantLinearKernel(const layers::LinearImpl& linear,
                                             QuantizedLinearOptions options)
    : weight(RegisteredParameter(linear, "weight")),
      bias(RegisteredParameter(linear, "bias")),
      linear_options_(linear.options),
      options_(std::move(options)) {
  TORCH_CHECK(!(options_.dynamic_input && options_.requantize_output),
              "QuantizedLinear: dynamic quantization keeps the output fp32 "
              "(requantize_output must be false)");
  TORCH_CHECK(weight.defined(), "QuantizedLinear: the Linear has no weight");
  ObserverOptions weight_options = options_.observer_options;
  weight_options.per_channel = options_.weight_scheme.per_channel;
  weight_options.ch_axis = options_.weight_scheme.ch_axis;
  weight_observer_ = MakeObserver(options_.weight_observer, weight_options);
  ObserverOptions activation_options = options_.observer_options;
  activation_options.per_channel = false;
  if (!options_.dynamic_input) {
    input_observer_ = MakeObserver(options_.activation_observer, activation_options);
  }
  if (options_.requantize_output) {
    output_observer_ = MakeObserver(options_.activation_observer, activation_options);
  }
}

void FakeQuantLinearKernel::ObserveWeight() {
  // A weight's range is that of its current value (Q8BERT); only the moving average
  // deliberately remembers earlier steps.
  if (weight_observer_->name() != "moving_average_minmax") weight_observer_->Reset();
  weight_observer_->Observe(weight);
  weight_q_.reset();
}

at::Tensor FakeQuantLinearKernel::Forward(const at::Tensor& input, bool training) {
  TORCH_CHECK(input.dim() >= 1 && input.size(-1) == linear_options_.in_features(),
              "QuantizedLinear: input of shape ", input.sizes(), " does not end in ",
              linear_options_.in_features(), " features");
  if (calibrating_ && !frozen_) {
    if (input_observer_) input_observer_->Observe(input);
    at::Tensor output = layers::LinearForward(input, weight, bias);
    if (output_observer_) output_observer_->Observe(output);
    input_q_.reset();
    output_q_.reset();
    return output;
  }
  const bool observe = !frozen_ && training;
  at::Tensor x = input;
  if (options_.dynamic_input) {
    const auto [lo, hi] = at::aminmax(input.detach().to(at::kFloat));
    x = FakeQuantize(x, ComputeQParams(lo.reshape({1}), hi.reshape({1}),
                                       options_.activation_scheme),
                     options_.activation_scheme);
  } else {
    if (observe) {
      input_observer_->Observe(input);
      input_q_.reset();
    }
    TORCH_CHECK(input_observer_->observed(), "QuantizedLinear(", linear_options_.in_features(),
                " -> ", linear_options_.out_features(),
                "): its input observer has seen no data; run training-mode forwards (QAT) or "
                "calibrate before evaluating");
    x = FakeQuantize(x, input_qparams(), options_.activation_scheme);
  }
  if (!frozen_) ObserveWeight();
  at::Tensor output = layers::LinearForward(x, FakeQuantizedWeight(), bias);
  if (output_observer_) {
    if (observe) {
      output_observer_->Observe(output);
      output_q_.reset();
    }
    output = FakeQuantize(output, output_qparams(), options_.activation_scheme);
  }
  return output;
}

void FakeQuantLinearKernel::Freeze() {
  if (frozen_) return;
  ObserveWeight();
  calibrating_ = false;
  frozen_ = true;
  weight_q_ = weight_observer_->QParams(options_.weight_scheme);
  if (input_observer_) input_q_ = input_observer_->QParams(options_.activation_scheme);
  if (output_observer_) output_q_ = output_observer_->QParams(options_.activation_scheme);
}

void FakeQuantLinearKernel::set_calibrating(bool calibrating) {
  TORCH_CHECK(!(calibrating && frozen_), "QuantizedLinear: cannot calibrate after Freeze()");
  calibrating_ = calibrating;
}

QuantParams FakeQuantLinearKernel::weight_qparams() const {
  // The weight is always at hand: before the first forward, its qparams are its own.
  if (!weight_observer_->observed()) weight_observer_->Observe(weight);
  if (!weight_q_) weight_q_ = weight_observer_->QParams(options_.weight_scheme);
  return *weight_q_;
}

QuantParams FakeQuantLinearKernel::input_qparams() const {
  TORCH_CHECK(input_observer_ != nullptr,
              "QuantizedLinear: dynamic quantization has no fixed input qparams");
  if (!input_q_) input_q_ = input_observer_->QParams(options_.activation_scheme);
  return *input_q_;
}

QuantParams FakeQuantLinearKernel::output_qparams() const {
  TORCH_CHECK(output_observer_ != nullptr, "QuantizedLinear: the output is not re-quantized");
  if (!output_q_) output_q_ = output_observer_->QParams(options_.activation_scheme);
  return *output_q_;
}

at::Tensor FakeQuantLinearKernel::FakeQuantizedWeight() const {
  return FakeQuantize(weight, weight_qparams(), options_.weight_scheme);
}

ObserverState FakeQuantLinearKernel::State() const {
  ObserverState state = WithPrefix("weight_observer/", weight_observer_->State());
  if (input_observer_) state.merge(WithPrefix("input_observer/", input_observer_->State()));
  if (output_observer_) state.merge(WithPrefix("output_observer/", output_observer_->State()));
  return state;
}

absl::Status FakeQuantLinearKernel::LoadState(const ObserverState& state) {
  std::vector<std::pair<std::string, Observer*>> parts = {
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
    for (const auto& entry : state) {
      // Not a structured binding: clang 14 (the fuzz build) cannot capture one in a lambda.
      const std::string& key = entry.first;
      const bool known = std::any_of(parts.begin(), parts.end(), [&](const auto& part) {
        return part.second != nullptr && key.compare(0, part.first.size(), part.first) == 0;
      });
      if (!known) {
        return absl::InvalidArgumentError(
            absl::StrCat("key '", key, "' belongs to no observer of this QuantizedLinear"));
      }
    }
  }
  weight_q_.reset();
  input_q_.reset();
  output_q_.reset();
  return absl::OkStatus();
}

void FakeQuantLinearKernel::PrettyPrint(std::ostream& stream) const {
  stream << "compressor::FakeQuantLinearKernel(weight=" << options_.weight_scheme.ToString() << "/" << options_.weight_observer
         << ", input="
         << (options_.dynamic_input
                 ? std::string("dynamic")
                 : options_.activation_scheme.ToString() + "/" + options_.activation_observer)
         << ", output="
         << (options_.requantize_output ? options_.activation_scheme.ToString() : "fp32")
         << (frozen_ ? ", frozen" : "") << ")";
}

// ---------------------------------------------------------------------------------------
// FakeQuantMatMulKernel

FakeQuantMatMulKernel::FakeQuantMatMulKernel(QuantizedLinearOptions options)
    : options_(std::move(options)) {
  if (!options_.dynamic_input) {
    ObserverOptions activation_options = options_.observer_options;
    activation_options.per_channel = false;
    for (auto& observer : observers_) {
      observer = MakeObserver(options_.activation_observer, activation_options);
    }
  }
}

std::shared_ptr<FakeQuantMatMulKernel> FakeQuantMatMulKernel::Frozen(const QuantScheme& scheme,
                                                                     bool dynamic,
                                                                     QuantParams a,
                                                                     QuantParams b) {
  QuantizedLinearOptions options;
  options.activation_scheme = scheme;
  options.dynamic_input = dynamic;
  auto kernel = std::make_shared<FakeQuantMatMulKernel>(options);
  kernel->observers_[0].reset();
  kernel->observers_[1].reset();
  if (!dynamic) {
    kernel->q_[0] = std::move(a);
    kernel->q_[1] = std::move(b);
  }
  kernel->frozen_ = true;
  return kernel;
}

at::Tensor FakeQuantMatMulKernel::Forward(const at::Tensor& a, const at::Tensor& b,
                                          bool training) {
  const at::Tensor* inputs[2] = {&a, &b};
  if (calibrating_ && !frozen_) {
    for (int i = 0; i < 2; ++i) {
      observers_[i]->Observe(*inputs[i]);
      q_[i].reset();
    }
    return at::matmul(a, b);
  }
  at::Tensor fq[2];
  for (int i = 0; i < 2; ++i) {
    const at::Tensor& x = *inputs[i];
    if (options_.dynamic_input) {
      const auto [lo, hi] = at::aminmax(x.detach().to(at::kFloat));
      fq[i] = FakeQuantize(x, ComputeQParams(lo.reshape({1}), hi.reshape({1}),
                                             options_.activation_scheme),
                           options_.activation_scheme);
      continue;
    }
    if (!frozen_ && training && observers_[i]) {
      observers_[i]->Observe(x);
      q_[i].reset();
    }
    TORCH_CHECK(q_[i].has_value() || (observers_[i] && observers_[i]->observed()),
                "QuantizedMatMul: input ", i == 0 ? "a" : "b",
                " has not been observed; run training-mode forwards (QAT) or calibrate before "
                "evaluating");
    fq[i] = FakeQuantize(x, input_qparams(i), options_.activation_scheme);
  }
  return at::matmul(fq[0], fq[1]);
}

void FakeQuantMatMulKernel::Freeze() {
  if (frozen_) return;
  calibrating_ = false;
  frozen_ = true;
  if (!options_.dynamic_input) {
    for (int i = 0; i < 2; ++i) q_[i] = observers_[i]->QParams(options_.activation_scheme);
  }
}

void FakeQuantMatMulKernel::set_calibrating(bool calibrating) {
  TORCH_CHECK(!(calibrating && frozen_), "QuantizedMatMul: cannot calibrate after Freeze()");
  TORCH_CHECK(!(calibrating && options_.dynamic_input),
              "QuantizedMatMul: dynamic quantization is not calibrated");
  calibrating_ = calibrating;
}

QuantParams FakeQuantMatMulKernel::input_qparams(int i) const {
  TORCH_CHECK(i == 0 || i == 1, "QuantizedMatMul: input index ", i, " is not 0 or 1");
  TORCH_CHECK(!options_.dynamic_input,
              "QuantizedMatMul: dynamic quantization has no fixed input qparams");
  if (!q_[i]) q_[i] = observers_[i]->QParams(options_.activation_scheme);
  return *q_[i];
}

const Observer* FakeQuantMatMulKernel::input_observer(int i) const {
  TORCH_CHECK(i == 0 || i == 1, "QuantizedMatMul: input index ", i, " is not 0 or 1");
  return observers_[i].get();
}

bool FakeQuantMatMulKernel::observed() const {
  for (int i = 0; i < 2; ++i) {
    if (observers_[i] && !observers_[i]->observed() && !(frozen_ && q_[i])) return false;
  }
  return true;
}

ObserverState FakeQuantMatMulKernel::State() const {
  ObserverState state;
  if (observers_[0]) state.merge(WithPrefix("a_observer/", observers_[0]->State()));
  if (observers_[1]) state.merge(WithPrefix("b_observer/", observers_[1]->State()));
  return state;
}

absl::Status FakeQuantMatMulKernel::LoadState(const ObserverState& state) {
  size_t used = 0;
  for (int i = 0; i < 2; ++i) {
    if (!observers_[i]) continue;
    const std::string prefix = i == 0 ? "a_observer/" : "b_observer/";
    ObserverState mine;
    for (const auto& [key, tensor] : state) {
      if (key.compare(0, prefix.size(), prefix) == 0) mine[key.substr(prefix.size())] = tensor;
    }
    used += mine.size();
    if (absl::Status status = observers_[i]->LoadState(mine); !status.ok()) {
      return absl::Status(status.code(), absl::StrCat(prefix, " ", status.message()));
    }
    q_[i].reset();
  }
  if (used != state.size()) {
    return absl::InvalidArgumentError(
        "QuantizedMatMul: the state has keys outside a_observer/ and b_observer/");
  }
  return absl::OkStatus();
}

void FakeQuantMatMulKernel::PrettyPrint(std::ostream& stream) const {
  stream << "compressor::FakeQuantMatMulKernel(inputs="
         << (options_.dynamic_input ? std::string("dynamic ") : std::string())
         << options_.activation_scheme.ToString()
         << (options_.dynamic_input || !observers_[0] ? "" : "/" + options_.activation_observer)
         << (frozen_ ? ", frozen" : "") << ")";
}

std::vector<std::pair<std::string, std::shared_ptr<FakeQuantMatMulKernel>>> QuantizedMatMuls(
    const torch::nn::Module& model) {
  std::vector<std::pair<std::string, std::shared_ptr<FakeQuantMatMulKernel>>> kernels;
  for (const auto& item : model.named_modules(/*name_prefix=*/"", /*include_self=*/false)) {
    const auto* layer = item.value()->as<layers::MatMulImpl>();
    if (layer == nullptr) continue;
    if (auto kernel = std::dynamic_pointer_cast<FakeQuantMatMulKernel>(layer->kernel())) {
      kernels.emplace_back(item.key(), std::move(kernel));
    }
  }
  return kernels;
}

// ---------------------------------------------------------------------------------------
// Model preparation

absl::StatusOr<LinearSelection> SelectLinears(const torch::nn::Module& model,
                                              const QuantizationConfig& config) {
  ASSIGN_OR_RETURN(const ModuleFilter filter,
                   ModuleFilter::Create(config.op_names, config.excluded_op_names,
                                        "quantization config"));
  LinearSelection selection;
  // op_types without "Linear" (only Conv2d, qat_conv.h) select no Linear.
  const bool linears =
      std::find(config.op_types.begin(), config.op_types.end(), "Linear") != config.op_types.end();
  for (const auto& item : model.named_modules(/*name_prefix=*/"", /*include_self=*/false)) {
    const std::string& name = item.key();
    const auto* linear = item.value()->as<layers::LinearImpl>();
    if (linear == nullptr && item.value()->as<torch::nn::LinearImpl>() == nullptr) continue;
    ++selection.total;
    if (linear != nullptr && linear->kernel() != nullptr) continue;  // Quantized already.
    const bool chosen = linears && filter.Selects(name);
    (chosen ? selection.selected : selection.excluded).push_back(name);
  }
  return selection;
}

QuantizedLinearOptions OptionsFor(const QuantizationConfig& config, const std::string& name) {
  QuantizedLinearOptions options;
  options.weight_scheme = config.weight;
  options.activation_scheme = config.activation;
  options.weight_observer = config.weight_observer;
  options.activation_observer = config.activation_observer;
  options.observer_options.averaging_constant = config.averaging_constant;
  options.observer_options.percentile = config.percentile;
  options.observer_options.bins = config.histogram_bins;
  options.dynamic_input = config.is_dynamic();
  bool keep_fp32_output = config.is_dynamic();
  for (const std::string& pattern : config.outputs_not_requantized) {
    keep_fp32_output = keep_fp32_output || std::regex_search(name, std::regex(pattern));
  }
  options.requantize_output = !keep_fp32_output;
  return options;
}

absl::StatusOr<std::vector<std::string>> PrepareModel(torch::nn::Module& model,
                                                      const QuantizationConfig& config) {
  RETURN_IF_ERROR(config.Validate("quantization config"));
  if (model.as<torch::nn::LinearImpl>() != nullptr || model.as<layers::LinearImpl>() != nullptr) {
    return absl::InvalidArgumentError(
        "quantization: the model itself is a Linear; wrap it in a module");
  }
  std::vector<std::string> prepared;
  for (const auto& [name, kernel] : QuantizedModules(model)) prepared.push_back(name);
  if (!prepared.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "quantization: the model is already prepared (", FewNames(prepared),
        " are QuantizedLinear); prepare a model once"));
  }
  ASSIGN_OR_RETURN(LinearSelection selection, SelectLinears(model, config));
  if (selection.selected.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "quantization config: no module matches op_types [", absl::StrJoin(config.op_types, ", "),
        "], op_names [", absl::StrJoin(config.op_names, ", "), "] outside excluded_op_names [",
        absl::StrJoin(config.excluded_op_names, ", "), "] (the model has ", selection.total,
        " Linears)"));
  }

  // Every kernel is built before any is set, so an error leaves the model unchanged.
  std::map<std::string, std::shared_ptr<torch::nn::Module>> by_name;
  for (const auto& item : model.named_modules("", /*include_self=*/false)) {
    by_name[item.key()] = item.value();
  }
  std::vector<std::string> fixed;
  std::vector<std::pair<layers::LinearImpl*, std::shared_ptr<FakeQuantLinearKernel>>> linears;
  for (const std::string& name : selection.selected) {
    auto* linear = by_name.at(name)->as<layers::LinearImpl>();
    if (linear == nullptr) {
      fixed.push_back(name);
      continue;
    }
    try {
      linears.emplace_back(linear,
                           std::make_shared<FakeQuantLinearKernel>(*linear, OptionsFor(config, name)));
    } catch (const c10::Error& e) {
      return absl::InternalError(absl::StrCat("quantization: cannot quantize Linear '", name,
                                              "': ", e.what_without_backtrace()));
    }
  }
  if (!fixed.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "quantization: cannot quantize ", fixed.size(), " of ", selection.selected.size(),
        " Linears in place: ", FewNames(fixed),
        " are torch::nn::Linear, whose computation cannot change (LibTorch modules have no "
        "virtual forward()), so they would silently stay fp32. Build them as layers::Linear or "
        "exclude them with excluded_op_names; the model is unchanged"));
  }
  // Attention matmuls change their kernel in place too.
  std::vector<std::pair<layers::MatMulImpl*, std::shared_ptr<FakeQuantMatMulKernel>>> matmuls;
  if (config.quantize_attention_matmuls) {
    ASSIGN_OR_RETURN(const ModuleFilter filter,
                     ModuleFilter::Create({}, config.excluded_op_names, "quantization config"));
    for (const auto& item : model.named_modules("", /*include_self=*/false)) {
      auto* matmul = item.value()->as<layers::MatMulImpl>();
      if (matmul == nullptr || filter.Excluded(item.key())) continue;
      matmuls.emplace_back(matmul,
                           std::make_shared<FakeQuantMatMulKernel>(OptionsFor(config, item.key())));
    }
    if (matmuls.empty()) {
      return absl::InvalidArgumentError(
          "quantization config: quantize_attention_matmuls is true but the model has no "
          "layers::MatMul outside excluded_op_names (models must compute the attention "
          "products with layers::MatMul)");
    }
  }
  for (auto& [linear, kernel] : linears) linear->set_kernel(std::move(kernel));
  for (auto& [matmul, kernel] : matmuls) matmul->set_kernel(std::move(kernel));
  return selection.selected;
}

std::vector<std::pair<std::string, std::shared_ptr<FakeQuantLinearKernel>>> QuantizedModules(
    const torch::nn::Module& model) {
  std::vector<std::pair<std::string, std::shared_ptr<FakeQuantLinearKernel>>> kernels;
  for (const auto& item : model.named_modules(/*name_prefix=*/"", /*include_self=*/false)) {
    const auto* linear = item.value()->as<layers::LinearImpl>();
    if (linear == nullptr) continue;
    if (auto kernel = std::dynamic_pointer_cast<FakeQuantLinearKernel>(linear->kernel())) {
      kernels.emplace_back(item.key(), std::move(kernel));
    }
  }
  return kernels;
}

at::Tensor ForwardLinear(torch::nn::Module& module, const at::Tensor& input) {
  return base::ForwardUnary(module, input);
}

namespace {

// Embedding tables quantized by QuantizeEmbeddings: weak reference to the table, its
// per-row scales.
struct EmbeddingRecord {
  c10::weak_intrusive_ptr<c10::TensorImpl, c10::UndefinedTensorImpl> table;
  const c10::TensorImpl* key;
  at::Tensor scales;
};

std::mutex& EmbeddingRegistryMutex() {
  static std::mutex* mutex = new std::mutex;
  return *mutex;
}

std::vector<EmbeddingRecord>& EmbeddingRegistry() {
  static auto* registry = new std::vector<EmbeddingRecord>;
  return *registry;
}

// Drops the records of destroyed tables (a new tensor may reuse their address).
void PruneEmbeddingRegistry(std::vector<EmbeddingRecord>& registry) {
  registry.erase(std::remove_if(registry.begin(), registry.end(),
                                [](const EmbeddingRecord& r) { return r.table.expired(); }),
                 registry.end());
}

}  // namespace

void RecordEmbeddingScales(const at::Tensor& weight, const at::Tensor& scales) {
  TORCH_CHECK(weight.defined() && weight.dim() == 2, "RecordEmbeddingScales: need a 2-D table");
  TORCH_CHECK(scales.numel() == weight.size(0), "RecordEmbeddingScales: ", scales.numel(),
              " scales for a table of ", weight.size(0), " rows");
  const at::Tensor copy = scales.detach().to(at::kFloat).reshape({-1}).contiguous().clone();
  std::lock_guard<std::mutex> lock(EmbeddingRegistryMutex());
  auto& registry = EmbeddingRegistry();
  PruneEmbeddingRegistry(registry);
  for (EmbeddingRecord& record : registry) {
    if (record.key == weight.unsafeGetTensorImpl()) {
      record.scales = copy;
      return;
    }
  }
  registry.push_back({c10::weak_intrusive_ptr<c10::TensorImpl, c10::UndefinedTensorImpl>(
                          weight.getIntrusivePtr()),
                      weight.unsafeGetTensorImpl(), copy});
}

at::Tensor EmbeddingScales(const at::Tensor& weight) {
  if (!weight.defined()) return at::Tensor();
  std::lock_guard<std::mutex> lock(EmbeddingRegistryMutex());
  auto& registry = EmbeddingRegistry();
  PruneEmbeddingRegistry(registry);
  for (const EmbeddingRecord& record : registry) {
    if (record.key == weight.unsafeGetTensorImpl()) return record.scales;
  }
  return at::Tensor();
}

std::vector<std::string> QuantizeEmbeddings(torch::nn::Module& model) {
  torch::NoGradGuard no_grad;
  const QuantScheme rows = QuantScheme::Int8SymmetricPerChannel(0);
  std::vector<std::string> names;
  for (const auto& item : model.named_modules()) {
    auto* embedding = item.value()->as<torch::nn::Embedding>();
    if (embedding == nullptr) continue;
    at::Tensor& table = embedding->weight;
    const QuantParams q =
        ComputeQParams(std::get<0>(table.min(1)), std::get<0>(table.max(1)), rows);
    table.copy_(FakeQuantize(table, q, rows));
    RecordEmbeddingScales(table, q.scale);
    names.push_back(item.key());
  }
  return names;
}

}  // namespace compressor
