#include "compressor/quantization/tuning.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <exception>
#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>
#include <torch/nn/module.h>
#include <torch/utils.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"
#include "compressor/quantization/convert.h"
#include "layers/fp32_backend.h"
#include "layers/linear.h"

namespace compressor {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::string ExactNameRegex(const std::string& name) {
  std::string out = "^";
  for (char c : name) {
    if (std::string("\\^$.|?*+()[]{}").find(c) != std::string::npos) out += '\\';
    out += c;
  }
  return out + "$";
}

// Runs a user callback, turning exceptions into statuses.
absl::Status Guard(const std::string& what, const std::function<absl::Status()>& fn) {
  try {
    absl::Status status = fn();
    if (!status.ok()) {
      return absl::Status(status.code(), absl::StrCat(what, ": ", status.message()));
    }
    return absl::OkStatus();
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat(what, " threw: ", e.what()));
  }
}

absl::StatusOr<std::shared_ptr<torch::nn::Module>> MakeModel(
    const std::function<std::shared_ptr<torch::nn::Module>()>& make_fp32_model) {
  std::shared_ptr<torch::nn::Module> model;
  RETURN_IF_ERROR(Guard("make_fp32_model", [&] {
    model = make_fp32_model();
    return absl::OkStatus();
  }));
  if (model == nullptr) return absl::InvalidArgumentError("make_fp32_model returned null");
  return model;
}

absl::Status Calibrate(torch::nn::Module& model,
                       const std::function<absl::Status(torch::nn::Module&)>& calibrate) {
  model.eval();
  torch::NoGradGuard no_grad;
  return Guard("calibrate", [&] { return calibrate(model); });
}

// Prepares `model` (static PTQ), calibrates and freezes it.
absl::Status PrepareAndCalibrate(torch::nn::Module& model, const QuantizationConfig& config,
                                 const std::function<absl::Status(torch::nn::Module&)>& calibrate) {
  ASSIGN_OR_RETURN(std::vector<std::string> swapped, PrepareModel(model, config));
  (void)swapped;
  for (const auto& [name, module] : QuantizedModules(model)) module->set_calibrating(true);
  RETURN_IF_ERROR(Calibrate(model, calibrate));
  for (const auto& [name, module] : QuantizedModules(model)) {
    module->set_calibrating(false);
    module->Freeze();
  }
  return absl::OkStatus();
}

// Measures a frozen fake-quant Linear's own error: the layer outputs its fp32 result while
// this kernel accumulates the squared difference to its fake-quantized result.
class SensitivityProbe : public layers::LinearKernel {
 public:
  explicit SensitivityProbe(std::shared_ptr<FakeQuantLinearKernel> quantized)
      : quantized_(std::move(quantized)) {}

  at::Tensor Forward(const at::Tensor& input, bool training) override {
    torch::NoGradGuard no_grad;
    const at::Tensor fp32 = layers::LinearForward(input, quantized_->weight, quantized_->bias);
    const at::Tensor fake = quantized_->Forward(input, training);
    sum_squared_error_ += (fake.to(at::kDouble) - fp32.to(at::kDouble)).pow(2).sum().item<double>();
    elements_ += fp32.numel();
    return fp32;
  }
  void PrettyPrint(std::ostream& stream) const override {
    stream << "compressor::SensitivityProbe(";
    quantized_->PrettyPrint(stream);
    stream << ")";
  }

  double mse() const { return elements_ > 0 ? sum_squared_error_ / elements_ : 0.0; }
  int64_t elements() const { return elements_; }

 private:
  std::shared_ptr<FakeQuantLinearKernel> quantized_;
  double sum_squared_error_ = 0;
  int64_t elements_ = 0;
};

absl::StatusOr<double> LayerSensitivity(
    const std::string& layer, const QuantizationConfig& base_config,
    const std::function<std::shared_ptr<torch::nn::Module>()>& make_fp32_model,
    const std::function<absl::Status(torch::nn::Module&)>& calibrate) {
  ASSIGN_OR_RETURN(std::shared_ptr<torch::nn::Module> model, MakeModel(make_fp32_model));
  QuantizationConfig config = base_config;
  config.op_names = {ExactNameRegex(layer)};
  config.excluded_op_names.clear();
  RETURN_IF_ERROR(PrepareAndCalibrate(*model, config, calibrate));
  auto quantized = QuantizedModules(*model);
  if (quantized.size() != 1 || quantized[0].first != layer) {
    return absl::InternalError(absl::StrCat("sensitivity of '", layer,
                                            "': expected exactly this layer quantized"));
  }
  auto* linear = model->named_modules()[layer]->as<layers::LinearImpl>();
  auto probe = std::make_shared<SensitivityProbe>(quantized[0].second);
  linear->set_kernel(probe);
  RETURN_IF_ERROR(Calibrate(*model, calibrate));
  if (probe->elements() == 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "sensitivity of '", layer, "': calibrate() never ran the layer"));
  }
  return probe->mse();
}

// One trial: the INT8 model with `fp32_layers` kept fp32, and its metric.
struct TrialModel {
  std::shared_ptr<torch::nn::Module> model;
  double metric = 0;
};

absl::StatusOr<TrialModel> RunTrial(
    const std::vector<std::string>& fp32_layers, const QuantizationConfig& base_config,
    const std::function<std::shared_ptr<torch::nn::Module>()>& make_fp32_model,
    const std::function<absl::Status(torch::nn::Module&)>& calibrate,
    const std::function<absl::StatusOr<double>(torch::nn::Module&)>& evaluate) {
  ASSIGN_OR_RETURN(std::shared_ptr<torch::nn::Module> model, MakeModel(make_fp32_model));
  QuantizationConfig config = base_config;
  for (const std::string& layer : fp32_layers) {
    config.excluded_op_names.push_back(ExactNameRegex(layer));
  }
  RETURN_IF_ERROR(PrepareAndCalibrate(*model, config, calibrate));
  ASSIGN_OR_RETURN(std::vector<std::string> converted, ConvertToInt8(*model));
  (void)converted;
  model->eval();
  TrialModel out;
  out.model = model;
  torch::NoGradGuard no_grad;
  RETURN_IF_ERROR(Guard("evaluate", [&]() -> absl::Status {
    ASSIGN_OR_RETURN(out.metric, evaluate(*model));
    return absl::OkStatus();
  }));
  return out;
}

std::string TrialJson(const Trial& trial) {
  nlohmann::json j;
  j["trial"] = trial.index;
  j["fp32_layers"] = trial.fp32_layers;
  j["metric"] = trial.metric;
  j["criterion_met"] = trial.met;
  j["seconds"] = trial.seconds;
  return j.dump();
}

}  // namespace

absl::Status AccuracyCriterion::Validate() const {
  if (type != "relative" && type != "absolute") {
    return absl::InvalidArgumentError(absl::StrCat(
        "accuracy criterion: type must be 'relative' or 'absolute', got '", type, "'"));
  }
  if (!(tolerable_loss >= 0) || !std::isfinite(tolerable_loss)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "accuracy criterion: tolerable_loss must be finite and >= 0, got ", tolerable_loss));
  }
  return absl::OkStatus();
}

double AccuracyCriterion::Loss(double baseline, double metric) const {
  return higher_is_better ? baseline - metric : metric - baseline;
}

bool AccuracyCriterion::Met(double baseline, double metric) const {
  if (std::isnan(metric)) return false;
  const double allowed =
      type == "relative" ? tolerable_loss * std::abs(baseline) : tolerable_loss;
  return Loss(baseline, metric) <= allowed;
}

bool AccuracyCriterion::Better(double a, double b) const {
  if (std::isnan(a)) return false;
  if (std::isnan(b)) return true;
  return higher_is_better ? a > b : a < b;
}

QuantizationConfig DefaultTuningQuantization() {
  QuantizationConfig config;
  config.approach = "post_training_static_quant";
  config.activation_observer = "minmax";
  return config;
}

absl::Status TuningConfig::Validate() const {
  if (quantization.approach != "post_training_static_quant") {
    return absl::InvalidArgumentError(absl::StrCat(
        "tuning: quantization.approach must be 'post_training_static_quant', got '",
        quantization.approach, "'"));
  }
  RETURN_IF_ERROR(quantization.Validate("tuning: quantization"));
  RETURN_IF_ERROR(criterion.Validate());
  if (max_trials < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("tuning: max_trials must be >= 1, got ", max_trials));
  }
  if (!(timeout_seconds >= 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("tuning: timeout_seconds must be >= 0, got ", timeout_seconds));
  }
  if (sensitivity != "mse") {
    return absl::InvalidArgumentError(
        absl::StrCat("tuning: sensitivity must be 'mse', got '", sensitivity, "'"));
  }
  return absl::OkStatus();
}

absl::StatusOr<TuningResult> TuneQuantization(
    std::function<std::shared_ptr<torch::nn::Module>()> make_fp32_model,
    std::function<absl::Status(torch::nn::Module&)> calibrate,
    std::function<absl::StatusOr<double>(torch::nn::Module&)> evaluate,
    const TuningConfig& config) {
  if (!make_fp32_model || !calibrate || !evaluate) {
    return absl::InvalidArgumentError("tuning: every callback must be set");
  }
  RETURN_IF_ERROR(config.Validate());
  const Clock::time_point start = Clock::now();
  std::ofstream history_file;
  if (!config.history_path.empty()) {
    history_file.open(config.history_path, std::ios::out | std::ios::trunc);
    if (!history_file) {
      return absl::InvalidArgumentError(
          absl::StrCat("tuning: cannot write history_path '", config.history_path, "'"));
    }
  }
  TuningResult result;
  // Baseline and the candidate layers.
  ASSIGN_OR_RETURN(std::shared_ptr<torch::nn::Module> fp32, MakeModel(make_fp32_model));
  ASSIGN_OR_RETURN(LinearSelection selection, SelectLinears(*fp32, config.quantization));
  if (selection.selected.empty()) {
    return absl::InvalidArgumentError("tuning: the quantization config selects no Linear");
  }
  fp32->eval();
  {
    torch::NoGradGuard no_grad;
    RETURN_IF_ERROR(Guard("evaluate (fp32 baseline)", [&]() -> absl::Status {
      ASSIGN_OR_RETURN(result.baseline_metric, evaluate(*fp32));
      return absl::OkStatus();
    }));
  }
  fp32.reset();

  std::vector<std::string> fp32_layers;
  bool timed_out = false;
  bool exhausted = false;
  for (int64_t index = 1; index <= config.max_trials; ++index) {
    if (index > 1) {
      if (config.timeout_seconds > 0 && SecondsSince(start) >= config.timeout_seconds) {
        timed_out = true;
        break;
      }
      if (result.sensitivities.empty()) {
        for (const std::string& layer : selection.selected) {
          ASSIGN_OR_RETURN(double mse, LayerSensitivity(layer, config.quantization,
                                                        make_fp32_model, calibrate));
          result.sensitivities.emplace_back(layer, mse);
        }
        std::stable_sort(result.sensitivities.begin(), result.sensitivities.end(),
                         [](const auto& a, const auto& b) { return a.second > b.second; });
      }
      // Keep at least one Linear quantized: an all-fp32 model is the baseline.
      if (fp32_layers.size() + 1 >= result.sensitivities.size()) {
        exhausted = true;
        break;
      }
      fp32_layers.push_back(result.sensitivities[fp32_layers.size()].first);
    }
    const Clock::time_point trial_start = Clock::now();
    ASSIGN_OR_RETURN(TrialModel trial_model,
                     RunTrial(fp32_layers, config.quantization, make_fp32_model, calibrate,
                              evaluate));
    Trial trial;
    trial.index = index;
    trial.fp32_layers = fp32_layers;
    trial.metric = trial_model.metric;
    trial.met = config.criterion.Met(result.baseline_metric, trial.metric);
    trial.seconds = SecondsSince(trial_start);
    result.history.push_back(trial);
    if (history_file.is_open()) history_file << TrialJson(trial) << "\n" << std::flush;
    if (result.best_model == nullptr ||
        config.criterion.Better(trial.metric, result.best_metric)) {
      result.best_model = trial_model.model;
      result.best_metric = trial.metric;
      result.best_trial = trial.index;
      result.fp32_layers = fp32_layers;
    }
    if (trial.met) {
      // Earlier trials did not meet the criterion, so this one is also the best.
      result.best_model = trial_model.model;
      result.best_metric = trial.metric;
      result.best_trial = trial.index;
      result.fp32_layers = fp32_layers;
      result.criterion_met = true;
      break;
    }
  }
  if (history_file.is_open() && !history_file) {
    return absl::InternalError(
        absl::StrCat("tuning: writing history_path '", config.history_path, "' failed"));
  }

  const std::string fallback =
      result.fp32_layers.empty() ? std::string("all Linears INT8")
                                 : absl::StrCat(result.fp32_layers.size(), " Linear(s) fp32: ",
                                                absl::StrJoin(result.fp32_layers, ", "));
  if (result.criterion_met) {
    result.summary = absl::StrCat("criterion met at trial ", result.best_trial, " (",
                                  fallback, "); metric ", result.best_metric, " vs baseline ",
                                  result.baseline_metric);
  } else {
    const std::string why = timed_out   ? "timeout reached"
                            : exhausted ? "every Linear but one already fell back"
                                        : "max_trials reached";
    result.summary = absl::StrCat(
        "no configuration met the accuracy criterion after ", result.history.size(),
        " trial(s) (", why, "); returning the best model found, trial ", result.best_trial,
        " (", fallback, "); metric ", result.best_metric, " vs baseline ",
        result.baseline_metric);
  }
  return result;
}

}  // namespace compressor
