// One shot made of several components acting on one shared model in one training run
// (INC's Scheduler.combine): "pruning during QAT", "distillation with pattern-lock
// pruning", "distillation + pattern lock + QAT".
//
// Rules (documented contract, tested):
//  - each kind (pruning, distillation, quantization) appears at most once, and a
//    combination cannot contain another: both are errors, not warnings;
//  - every hook is forwarded to the parts in the order given;
//  - the loss flows through the parts in that order: each part's on_after_compute_loss
//    receives the previous part's result, and the last one is back-propagated (only
//    distillation replaces the loss; pruning and quantization pass it through);
//  - train settings the parts ask for are merged; two parts asking different values of
//    one setting is an error naming both;
//  - output_model() is chained through the parts in order (quantization converts last
//    when listed last).
//
//   ASSIGN_OR_RETURN(auto one_shot, Combination::Create({pattern_lock, distillation}));
#ifndef COMPRESSOR_COMBINATION_H_
#define COMPRESSOR_COMBINATION_H_

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "compressor/component.h"

namespace compressor {

class Combination : public Component {
 public:
  static absl::StatusOr<std::shared_ptr<Combination>> Create(
      std::vector<std::shared_ptr<Component>> parts);

  std::string kind() const override { return "combination"; }
  bool needs_training() const override;
  bool needs_calibration() const override;  // True when any part needs calibration.
  std::map<std::string, std::string> train_settings() const override { return settings_; }
  std::vector<at::Tensor> trainable_parameters() const override;

  absl::Status on_train_begin(TrainState& state) override;
  void on_epoch_begin(TrainState& state) override;
  void on_step_begin(TrainState& state) override;
  at::Tensor on_after_compute_loss(TrainState& state, const TensorMap& inputs,
                                   const TensorMap& student_outputs,
                                   const at::Tensor& student_loss,
                                   const TensorMap* teacher_outputs) override;
  void on_before_optimizer_step(TrainState& state) override;
  void on_after_optimizer_step(TrainState& state) override;
  void on_step_end(TrainState& state) override;
  void on_epoch_end(TrainState& state) override;
  void on_before_eval(TrainState& state) override;
  void on_after_eval(TrainState& state) override;
  absl::Status on_train_end(TrainState& state) override;
  std::shared_ptr<torch::nn::Module> output_model(
      std::shared_ptr<torch::nn::Module> trained) override;

  // The parts' summaries, in order (summary() reports the first; use this for all).
  std::vector<ComponentSummary> summaries() const;
  ComponentSummary summary() const override;
  // Each part's state under "<index>/<kind>/<name>".
  TensorMap state() const override;
  absl::Status load_state(const TensorMap& state) override;

  const std::vector<std::shared_ptr<Component>>& parts() const { return parts_; }

 private:
  explicit Combination(std::vector<std::shared_ptr<Component>> parts,
                       std::map<std::string, std::string> settings)
      : parts_(std::move(parts)), settings_(std::move(settings)) {}

  std::vector<std::shared_ptr<Component>> parts_;
  std::map<std::string, std::string> settings_;
};

}  // namespace compressor

#endif  // COMPRESSOR_COMBINATION_H_
