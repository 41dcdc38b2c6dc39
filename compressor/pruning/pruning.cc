#include "compressor/pruning/pruning.h"

#include <ATen/ATen.h>

namespace compressor {

absl::Status Pruning::on_train_begin(TrainState& state) {
  absl::StatusOr<Pruner> pruner = Pruner::Create(*state.model, config_);
  if (!pruner.ok()) return pruner.status();
  pruner_.emplace(std::move(*pruner));
  if (!pending_state_.empty()) {
    std::map<std::string, at::Tensor> masks(pending_state_.begin(), pending_state_.end());
    pending_state_.clear();
    return pruner_->LoadState(masks);
  }
  return absl::OkStatus();
}

void Pruning::on_step_begin(TrainState& state) {
  if (pruner_->UpdateMasks(state.step) && config_.lr_rewind) {
    state.rewind_learning_rate = true;
  }
}

void Pruning::on_before_optimizer_step(TrainState& /*state*/) { pruner_->MaskGradients(); }

void Pruning::on_after_optimizer_step(TrainState& /*state*/) { pruner_->ApplyMasks(); }

void Pruning::on_step_end(TrainState& state) {
  state.logs["sparsity"] = config_.pruning_type == "pattern_lock"
                               ? pruner_->Report().overall()
                               : pruner_->current_target();
}

absl::Status Pruning::on_train_end(TrainState& /*state*/) {
  pruner_->ApplyMasks();
  final_report_ = pruner_->Report();
  return absl::OkStatus();
}

ComponentSummary Pruning::summary() const {
  ComponentSummary summary{kind(), {}, {}};
  const SparsityReport report = pruner_ ? pruner_->Report() : final_report_;
  summary.values["sparsity"] = report.overall();
  summary.values["target_sparsity"] = config_.target_sparsity;
  for (const LayerSparsity& layer : report.layers) {
    summary.values["sparsity/" + layer.name] = layer.sparsity();
  }
  summary.notes.push_back(config_.pruning_type + ", pattern " + config_.pattern + ", " +
                          config_.pruning_scope + " scope, " + config_.sparsity_decay_type +
                          " schedule");
  return summary;
}

TensorMap Pruning::state() const {
  if (!pruner_) return pending_state_;
  const auto state = pruner_->State();
  return TensorMap(state.begin(), state.end());
}

absl::Status Pruning::load_state(const TensorMap& state) {
  if (!pruner_) {
    pending_state_ = state;
    return absl::OkStatus();
  }
  return pruner_->LoadState(std::map<std::string, at::Tensor>(state.begin(), state.end()));
}

}  // namespace compressor
