// Masks for the prunable weights of any torch::nn::Module: which layers are pruned, how
// their importance is scored (magnitude, snip_momentum, or pattern_lock's fixed zeros),
// how much each keeps at a step (schedule + local/global scope), and enforcement (pruned
// gradients zeroed before the optimizer step, pruned weights zeroed after it, so momentum
// cannot revive them). The Pruning component drives it from the training hooks.
//
//   PruningConfig config;
//   config.target_sparsity = 0.9;
//   config.end_step = 1000;
//   config.pruning_frequency = 100;
//   ASSIGN_OR_RETURN(Pruner pruner, Pruner::Create(*model, config));
//   // each step: pruner.UpdateMasks(step); backward; pruner.MaskGradients();
//   //            optimizer.step(); pruner.ApplyMasks();
#ifndef COMPRESSOR_PRUNING_PRUNER_H_
#define COMPRESSOR_PRUNING_PRUNER_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>

#include "absl/status/statusor.h"
#include "compressor/pruning/pattern.h"
#include "compressor/pruning/schedule.h"

namespace compressor {

// INC's pruning vocabulary. Every field has a default, so a config is never shared state.
struct PruningConfig {
  std::string pruning_type = "magnitude";  // magnitude | snip_momentum | pattern_lock.
  std::string pattern = "unstructured";    // See pattern.h.
  std::string pruning_scope = "local";     // local: same sparsity per layer; global: one
                                           // threshold over all layers.
  double target_sparsity = 0.9;            // Fraction of weights zeroed at end_step.
  double initial_sparsity = 0.0;           // Sparsity the schedule starts from.
  int64_t start_step = 0;                  // First step that prunes.
  int64_t end_step = 0;                    // Step at which target_sparsity is reached.
  int64_t pruning_frequency = 1;           // Steps between mask updates.
  std::string sparsity_decay_type = "zhu_gupta";  // zhu_gupta | cube | exp | cos | linear
                                                  // | oneshot (schedule.h).
  std::vector<std::string> op_types = {"Linear"};  // Module types pruned (Linear, Conv1d,
                                                   // Conv2d).
  std::vector<std::string> op_names;  // Regexes over module names; empty: all of op_types.
  // Regexes of modules never pruned: embeddings and task heads by default.
  std::vector<std::string> excluded_op_names = {"embeddings", "(^|\\.)cls\\.", "qa_outputs",
                                                "classifier", "pooler", "vocab_"};
  double min_sparsity_ratio_per_op = 0.0;   // Global scope: per-layer floor.
  double max_sparsity_ratio_per_op = 0.98;  // Global scope: per-layer ceiling.
  double snip_momentum_beta = 0.9;          // score = beta * score + |w * grad|.
  bool lr_rewind = false;  // Restart the LR schedule at every mask update (Prune OFA).

  SparsitySchedule schedule() const;
  // Everything checkable without a model; `source` prefixes messages (file / key).
  absl::Status Validate(const std::string& source) const;
};

struct LayerSparsity {
  std::string name;        // Parameter name, e.g. "bert.encoder.layer.0.output.dense.weight".
  int64_t numel = 0;
  int64_t zeros = 0;       // Measured from the weight, not from the mask.
  double sparsity() const { return numel ? double(zeros) / double(numel) : 0.0; }
};

struct SparsityReport {
  std::vector<LayerSparsity> layers;
  int64_t numel = 0;
  int64_t zeros = 0;
  double overall() const { return numel ? double(zeros) / double(numel) : 0.0; }
};

class Pruner {
 public:
  // Selects the layers of `model` to prune (error when none match, or a shape does not
  // fit the pattern) and, for pattern_lock, fixes masks to the current zeros.
  static absl::StatusOr<Pruner> Create(torch::nn::Module& model, const PruningConfig& config);

  // Recomputes masks when `step` is a pruning step of the schedule (magnitude,
  // snip_momentum); returns true when masks changed. The new masks are applied at once.
  bool UpdateMasks(int64_t step);
  // After backward: accumulates snip_momentum scores, then zeroes pruned gradients.
  void MaskGradients();
  // After the optimizer step: zeroes pruned weights.
  void ApplyMasks();

  double current_target() const { return current_target_; }
  SparsityReport Report() const;
  const PruningConfig& config() const { return config_; }

  // Masks (and snip scores) by parameter name, for checkpoints; masks are keyed by name so
  // they survive module replacement (QAT, conversion).
  std::map<std::string, at::Tensor> State() const;
  absl::Status LoadState(const std::map<std::string, at::Tensor>& state);

  struct Layer {
    std::string name;     // Parameter name.
    at::Tensor weight;    // The live parameter.
    at::Tensor mask;      // bool, weight's shape; true = kept.
    at::Tensor score;     // snip_momentum running score (undefined otherwise).
  };
  const std::vector<Layer>& layers() const { return layers_; }

 private:
  Pruner(PruningConfig config, std::unique_ptr<PruningPattern> pattern)
      : config_(std::move(config)), pattern_(std::move(pattern)) {}
  at::Tensor Scores(const Layer& layer) const;
  void ComputeMasks(double sparsity);

  PruningConfig config_;
  std::shared_ptr<PruningPattern> pattern_;
  std::vector<Layer> layers_;
  double current_target_ = 0.0;
};

}  // namespace compressor

#endif  // COMPRESSOR_PRUNING_PRUNER_H_
