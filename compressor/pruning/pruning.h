// The Pruning component: drives a Pruner from the training hooks, so pruning can run alone,
// as a shot, or combined with distillation and quantization.
//
//   PruningConfig config;
//   config.pruning_type = "pattern_lock";           // downstream sparse transfer
//   auto prune = std::make_shared<Pruning>(config);
//   scheduler.append(prune);
//
// Hooks: on_train_begin selects layers (and, for pattern_lock, fixes the masks to the
// zeros that exist); on_step_begin updates masks at the schedule's pruning steps (and asks
// the loop to rewind the LR when lr_rewind is set); on_before_optimizer_step zeroes pruned
// gradients; on_after_optimizer_step zeroes pruned weights; on_train_end re-applies masks
// and measures the final sparsity from the weights.
#ifndef COMPRESSOR_PRUNING_PRUNING_H_
#define COMPRESSOR_PRUNING_PRUNING_H_

#include <optional>

#include "compressor/component.h"
#include "compressor/pruning/pruner.h"

namespace compressor {

class Pruning : public Component {
 public:
  explicit Pruning(PruningConfig config) : config_(std::move(config)) {}

  std::string kind() const override { return "pruning"; }
  absl::Status on_train_begin(TrainState& state) override;
  void on_step_begin(TrainState& state) override;
  void on_before_optimizer_step(TrainState& state) override;
  void on_after_optimizer_step(TrainState& state) override;
  void on_step_end(TrainState& state) override;
  absl::Status on_train_end(TrainState& state) override;
  ComponentSummary summary() const override;
  TensorMap state() const override;
  absl::Status load_state(const TensorMap& state) override;

  const PruningConfig& config() const { return config_; }
  // Null before on_train_begin.
  const Pruner* pruner() const { return pruner_ ? &*pruner_ : nullptr; }

 private:
  PruningConfig config_;
  std::optional<Pruner> pruner_;
  TensorMap pending_state_;  // Loaded before on_train_begin created the pruner.
  SparsityReport final_report_;
};

}  // namespace compressor

#endif  // COMPRESSOR_PRUNING_PRUNING_H_
