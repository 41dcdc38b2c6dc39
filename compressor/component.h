// The contract between a training loop and the model-optimization components (pruning,
// distillation, quantization), as INC 2.x's callbacks: a Component owns its config and
// exposes the hooks a loop calls; a loop that calls them in the documented order can be
// the built-in Trainer or the user's own.
//
// The compressor sees the model only as a torch::nn::Module and batches/outputs only as
// named tensors, so nothing here knows about BERT or about tasks.
//
// Hook order for one optimizer step (documented contract, tested):
//   on_train_begin                      once, before the first step (may swap modules;
//                                       the optimizer is created after it)
//   on_epoch_begin
//     on_step_begin                     before the forward pass of a step
//     on_after_compute_loss             after each forward/loss (once per micro-batch);
//                                       returns the loss to back-propagate
//     on_before_optimizer_step          gradients ready, before optimizer.step()
//     on_after_optimizer_step           right after optimizer.step()
//     on_step_end
//   on_epoch_end
//   on_before_eval / on_after_eval      around every evaluation
//   on_train_end                        once, after the last step (may convert the model)
#ifndef COMPRESSOR_COMPONENT_H_
#define COMPRESSOR_COMPONENT_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>

#include "absl/status/status.h"

namespace compressor {

// Batches, model outputs and component state: tensors by name.
using TensorMap = std::map<std::string, at::Tensor>;

// What the hooks see and may change. Owned by the training loop.
struct TrainState {
  std::shared_ptr<torch::nn::Module> model;      // The live (student) model.
  torch::optim::Optimizer* optimizer = nullptr;  // Null before it exists and for PTQ.
  int64_t step = 0;         // Optimizer steps completed so far.
  int64_t epoch = 0;
  int64_t total_steps = 0;  // Planned optimizer steps of this training run.
  double learning_rate = 0.0;
  // Set by a hook (pruning's LR rewinding) to restart the LR schedule at this step.
  bool rewind_learning_rate = false;
  // Scalars a component wants logged with the step (e.g. "sparsity", "loss/kd").
  std::map<std::string, double> logs;
};

// What a component reports after its shot.
struct ComponentSummary {
  std::string kind;
  std::map<std::string, double> values;       // e.g. "sparsity", "sparsity/<layer>".
  std::vector<std::string> notes;
};

class Component {
 public:
  virtual ~Component() = default;

  // "pruning", "distillation" or "quantization" (a combination reports its parts').
  virtual std::string kind() const = 0;
  // False for components that need calibration/evaluation only (post-training quant).
  virtual bool needs_training() const { return true; }
  // For a component that needs no training: whether the scheduler must run its calibration
  // function between on_train_begin and on_train_end (static PTQ does; dynamic PTQ, which
  // computes activation ranges per call, does not).
  virtual bool needs_calibration() const { return !needs_training(); }
  // Settings this component needs from the training loop, e.g. {"lr_rewind_frequency":
  // "1000"}; combine() fails when two parts ask for different values of one key.
  virtual std::map<std::string, std::string> train_settings() const { return {}; }

  // Parameters the component trains besides the model's (e.g. distillation's learned
  // projections); the training loop adds them to its optimizer after on_train_begin.
  virtual std::vector<at::Tensor> trainable_parameters() const { return {}; }

  virtual absl::Status on_train_begin(TrainState& /*state*/) { return absl::OkStatus(); }
  virtual void on_epoch_begin(TrainState& /*state*/) {}
  virtual void on_step_begin(TrainState& /*state*/) {}
  // `teacher_outputs` may be null; a distillation component then runs its own teacher.
  virtual at::Tensor on_after_compute_loss(TrainState& /*state*/, const TensorMap& /*inputs*/,
                                           const TensorMap& /*student_outputs*/,
                                           const at::Tensor& student_loss,
                                           const TensorMap* /*teacher_outputs*/) {
    return student_loss;
  }
  virtual void on_before_optimizer_step(TrainState& /*state*/) {}
  virtual void on_after_optimizer_step(TrainState& /*state*/) {}
  virtual void on_step_end(TrainState& /*state*/) {}
  virtual void on_epoch_end(TrainState& /*state*/) {}
  virtual void on_before_eval(TrainState& /*state*/) {}
  virtual void on_after_eval(TrainState& /*state*/) {}
  virtual absl::Status on_train_end(TrainState& /*state*/) { return absl::OkStatus(); }

  // The model the next shot receives; by default the (possibly modified) input model.
  // Conversion (quantization) returns a different module here after on_train_end.
  virtual std::shared_ptr<torch::nn::Module> output_model(
      std::shared_ptr<torch::nn::Module> trained) {
    return trained;
  }

  virtual ComponentSummary summary() const { return {kind(), {}, {}}; }

  // Everything needed to resume mid-run (masks, schedule position, observers...), by name.
  virtual TensorMap state() const { return {}; }
  virtual absl::Status load_state(const TensorMap& /*state*/) { return absl::OkStatus(); }
};

}  // namespace compressor

#endif  // COMPRESSOR_COMPONENT_H_
