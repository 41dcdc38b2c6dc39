#include "compressor/quantization/quantization.h"

#include "compressor/quantization/convert.h"
#include "compressor/quantization/convert_conv.h"
#include "compressor/quantization/fold_bn.h"

#include <algorithm>
#include <set>

#include <torch/utils.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"
#include "compressor/module_selection.h"

namespace compressor {

absl::Status Quantization::on_train_begin(TrainState& state) {
  if (state.model == nullptr) {
    return absl::InvalidArgumentError("quantization: on_train_begin got no model");
  }
  if (!modules_.empty() || !conv_modules_.empty()) {
    return absl::FailedPreconditionError(
        "quantization: on_train_begin was called twice; use one Quantization per run");
  }
  RETURN_IF_ERROR(config_.Validate("quantization config"));
  auto has_type = [&](const char* type) {
    return std::find(config_.op_types.begin(), config_.op_types.end(), type) !=
           config_.op_types.end();
  };
  if (config_.fold_batch_norm) {
    ASSIGN_OR_RETURN(folded_, FoldBatchNorm(*state.model, FindConvBnPairsByName(*state.model)));
  }
  ASSIGN_OR_RETURN(selection_, SelectLinears(*state.model, config_));
  // With Conv2d in op_types a model without (selected) Linears is fine.
  if (has_type("Linear") && (!has_type("Conv2d") || !selection_.selected.empty())) {
    ASSIGN_OR_RETURN(const std::vector<std::string> swapped, PrepareModel(*state.model, config_));
    const std::set<std::string> mine(swapped.begin(), swapped.end());
    for (auto& [name, module] : QuantizedModules(*state.model)) {
      if (mine.count(name)) modules_.emplace_back(name, std::move(module));
    }
    matmul_modules_ = QuantizedMatMuls(*state.model);
  }
  if (has_type("Conv2d")) {
    ASSIGN_OR_RETURN(const std::vector<std::string> convs,
                     PrepareConvModel(*state.model, config_));
    const std::set<std::string> mine(convs.begin(), convs.end());
    for (auto& [name, module] : QuantizedConvModules(*state.model)) {
      if (mine.count(name)) conv_modules_.emplace_back(name, std::move(module));
    }
  }
  if (config_.approach == "post_training_static_quant") {
    for (auto& [name, module] : modules_) module->set_calibrating(true);
    for (auto& [name, module] : matmul_modules_) module->set_calibrating(true);
    for (auto& [name, module] : conv_modules_) module->set_calibrating(true);
  }
  if (!pending_state_.empty()) {
    TensorMap pending = std::move(pending_state_);
    pending_state_.clear();
    RETURN_IF_ERROR(Restore(pending));
  }
  return absl::OkStatus();
}

absl::Status Quantization::on_train_end(TrainState& state) {
  if (modules_.empty() && conv_modules_.empty()) {
    return absl::FailedPreconditionError("quantization: on_train_end before on_train_begin");
  }
  unobserved_.clear();
  for (const auto& [name, module] : modules_) {
    if (module->input_observer() != nullptr && !module->input_observer()->observed()) {
      unobserved_.push_back(name);
    }
  }
  for (const auto& [name, module] : conv_modules_) {
    if (!module->input_observer().observed()) unobserved_.push_back(name);
  }
  for (const auto& [name, module] : matmul_modules_) {
    if (!module->observed()) unobserved_.push_back(name);
  }
  if (config_.approach == "post_training_static_quant" && !unobserved_.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "quantization: calibration never reached ", unobserved_.size(), " of ",
        modules_.size(), " quantized Linears (", FewNames(unobserved_),
        "); their activation ranges are unknown. Calibrate on data that reaches them or "
        "exclude them with excluded_op_names"));
  }
  for (const auto& [name, module] : modules_) module->Freeze();
  for (const auto& [name, module] : matmul_modules_) module->Freeze();
  for (const auto& [name, module] : conv_modules_) module->Freeze();
  frozen_ = true;
  if (config_.quantize_embeddings) {
    // Records the per-row scales too, so SaveQuantizedState stores the tables as int8.
    quantized_embeddings_ = static_cast<int64_t>(QuantizeEmbeddings(*state.model).size());
  }
  if (config_.convert_to_int8 && !modules_.empty()) {
    absl::StatusOr<std::vector<std::string>> converted = ConvertToInt8(*state.model);
    if (!converted.ok()) return converted.status();
    converted_ = static_cast<int64_t>(converted->size());
  }
  if (config_.convert_to_int8 && !conv_modules_.empty()) {
    absl::StatusOr<std::vector<std::string>> converted = ConvertConvsToInt8(*state.model);
    if (!converted.ok()) return converted.status();
    converted_convs_ = static_cast<int64_t>(converted->size());
  }
  return absl::OkStatus();
}

ComponentSummary Quantization::summary() const {
  ComponentSummary summary{kind(), {}, {}};
  int64_t requantized = 0;
  std::vector<std::string> fp32_outputs;
  for (const auto& [name, module] : modules_) {
    if (module->output_observer() != nullptr) {
      ++requantized;
    } else {
      fp32_outputs.push_back(name);
    }
  }
  summary.values["quantized_linears"] = static_cast<double>(modules_.size());
  summary.values["int8_linears"] = static_cast<double>(converted_);
  summary.values["total_linears"] = static_cast<double>(selection_.total);
  summary.values["fp32_linears"] = static_cast<double>(selection_.total) - modules_.size();
  summary.values["requantized_outputs"] = static_cast<double>(requantized);
  summary.values["quantized_embeddings"] = static_cast<double>(quantized_embeddings_);
  if (!conv_modules_.empty() || !folded_.empty()) {
    summary.values["quantized_convs"] = static_cast<double>(conv_modules_.size());
    summary.values["int8_convs"] = static_cast<double>(converted_convs_);
    summary.values["folded_batch_norms"] = static_cast<double>(folded_.size());
    summary.notes.push_back(absl::StrCat(conv_modules_.size(), " Conv2ds quantized, ",
                                         folded_.size(), " BatchNorms folded"));
  }
  summary.notes.push_back(absl::StrCat(
      config_.approach, ": ", modules_.size(), "/", selection_.total, " Linears quantized"));
  if (!matmul_modules_.empty()) {
    summary.values["quantized_matmuls"] = static_cast<double>(matmul_modules_.size());
    summary.notes.push_back(absl::StrCat(matmul_modules_.size(),
                                         " attention matmuls fake-quantized (inputs)"));
  }
  summary.notes.push_back(
      absl::StrCat("weights ", config_.weight.ToString(), " (", config_.weight_observer, ")"));
  summary.notes.push_back(
      config_.is_dynamic()
          ? absl::StrCat("activations ", config_.activation.ToString(),
                         " (dynamic: per-batch range)")
          : absl::StrCat("activations ", config_.activation.ToString(), " (",
                         config_.activation_observer, ")"));
  if (!selection_.excluded.empty()) {
    summary.notes.push_back(
        absl::StrCat("kept fp32 by op_names/excluded_op_names: ", FewNames(selection_.excluded)));
  }
  if (!fp32_outputs.empty()) {
    summary.notes.push_back(absl::StrCat(fp32_outputs.size(),
                                         " outputs not re-quantized: ", FewNames(fp32_outputs)));
  }
  if (!unobserved_.empty()) {
    summary.notes.push_back(absl::StrCat("never saw an input (default qparams): ",
                                         FewNames(unobserved_)));
  }
  if (!frozen_) {
    summary.notes.push_back("observers not frozen yet");
  } else if (config_.convert_to_int8) {
    summary.notes.push_back(absl::StrCat("observers frozen; ", converted_,
                                         " Linears converted to oneDNN INT8 modules"));
  } else {
    summary.notes.push_back(
        "observers frozen; the output model is the fake-quant model (convert_to_int8 off)");
  }
  return summary;
}

TensorMap Quantization::state() const {
  if (modules_.empty() && conv_modules_.empty()) return pending_state_;
  TensorMap state;
  for (const auto& [name, module] : modules_) {
    for (const auto& [key, tensor] : module->State()) state[name + "/" + key] = tensor;
  }
  for (const auto& [name, module] : conv_modules_) {
    for (const auto& [key, tensor] : module->State()) state[name + "/" + key] = tensor;
  }
  for (const auto& [name, module] : matmul_modules_) {
    for (const auto& [key, tensor] : module->State()) state[name + "/" + key] = tensor;
  }
  return state;
}

absl::Status Quantization::load_state(const TensorMap& state) {
  if (state.empty()) return absl::OkStatus();
  if (modules_.empty() && conv_modules_.empty()) {
    pending_state_ = state;
    return absl::OkStatus();
  }
  return Restore(state);
}

absl::Status Quantization::Restore(const TensorMap& state) {
  size_t used = 0;
  std::vector<std::string> names;
  auto restore = [&](const auto& modules) -> absl::Status {
    for (const auto& [name, module] : modules) {
      names.push_back(name);
      const std::string prefix = name + "/";
      ObserverState mine;
      for (auto it = state.lower_bound(prefix);
           it != state.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
        mine[it->first.substr(prefix.size())] = it->second;
      }
      if (mine.empty()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "quantization state: nothing for quantized module '", name, "' (expected keys '",
            prefix, "...')"));
      }
      used += mine.size();
      if (absl::Status status = module->LoadState(mine); !status.ok()) {
        return absl::Status(status.code(), absl::StrCat("quantization state: module '", name,
                                                        "': ", status.message()));
      }
    }
    return absl::OkStatus();
  };
  RETURN_IF_ERROR(restore(modules_));
  RETURN_IF_ERROR(restore(conv_modules_));
  // Dynamic matmuls have no observers, hence no state.
  std::vector<std::pair<std::string, std::shared_ptr<FakeQuantMatMulKernel>>> observed_matmuls;
  for (const auto& item : matmul_modules_) {
    if (!item.second->dynamic()) observed_matmuls.push_back(item);
  }
  RETURN_IF_ERROR(restore(observed_matmuls));
  if (used != state.size()) {
    for (const auto& [key, tensor] : state) {
      bool known = false;
      for (const std::string& name : names) {
        known = known || key.compare(0, name.size() + 1, name + "/") == 0;
      }
      if (!known) {
        return absl::InvalidArgumentError(
            absl::StrCat("quantization state: key '", key, "' names no quantized module"));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace compressor
