// The built-in training loop: AdamW (decoupled weight decay, none on biases and LayerNorm
// weights) or SGD, Hugging Face's LR schedules with rewinding, gradient clipping and
// accumulation, evaluation every N steps or per epoch with best-model tracking, a progress
// line and a JSON-lines metrics log, and atomic checkpoints it can resume from. It calls
// every Component hook in the order component.h documents, so pruning, distillation and
// quantization (alone or combined) run inside it unchanged.
//
// The task is three callbacks (TaskFunctions) and the data a BatchSource, so the loop
// never knows whether it trains question answering, classification or MLM.
//
//   Trainer trainer(config, task, &train_batches);
//   scheduler.set_train_func(trainer.AsTrainFunc());
//   // or directly: ASSIGN_OR_RETURN(TrainResult r, trainer.Train(model, &hooks));
#ifndef COMPRESSOR_TRAIN_TRAINER_H_
#define COMPRESSOR_TRAIN_TRAINER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "compressor/component.h"
#include "compressor/scheduler.h"

namespace compressor {

struct TrainerConfig {
  std::string optimizer = "adamw";     // adamw | sgd.
  double learning_rate = 5e-5;         // Peak learning rate.
  double weight_decay = 0.0;           // Decoupled (AdamW) / L2 (SGD); not on no_decay names.
  std::vector<std::string> no_decay = {"bias", "LayerNorm.weight", "layer_norm.weight"};
  double adam_beta1 = 0.9;
  double adam_beta2 = 0.999;
  double adam_epsilon = 1e-8;
  double sgd_momentum = 0.9;
  std::string lr_scheduler_type = "linear";  // linear | constant | constant_with_warmup | cosine.
  int64_t warmup_steps = 0;            // Overrides warmup_ratio when > 0.
  double warmup_ratio = 0.0;           // Fraction of the total steps spent warming up.
  double max_grad_norm = 1.0;          // Global-norm clipping; <= 0 disables it.
  int64_t gradient_accumulation_steps = 1;  // Micro-batches per optimizer step.
  int64_t num_train_epochs = 1;
  int64_t max_steps = -1;              // > 0: stop after this many optimizer steps.
  int64_t eval_steps = 0;              // Evaluate every N steps; 0: at the end of each epoch.
  std::string metric_for_best_model;   // Metric name to track; "" disables tracking.
  bool greater_is_better = true;
  bool load_best_model_at_end = false;  // Restore the best weights when training ends.
  int64_t logging_steps = 10;          // Progress line / metrics log period.
  int64_t save_steps = 0;              // Checkpoint period in steps; 0: at each epoch end.
  int64_t save_total_limit = 2;        // Checkpoints kept (oldest deleted first).
  std::string output_dir;              // Checkpoints + metrics.jsonl; "" keeps nothing.
  bool resume = false;                 // Continue from output_dir's latest checkpoint.
  uint64_t seed = 42;                  // Seeds LibTorch's generator at the start.
  bool progress = true;                // Progress line on stderr.
  std::string stage = "train";         // Name shown in progress and logs.
  // What a non-finite (NaN/Inf) loss or gradient norm does: "stop" fails the run naming the
  // step; "skip" drops that optimizer step (its gradients) and goes on, counting it.
  std::string nan_policy = "stop";

  absl::Status Validate(const std::string& source) const;
};

// What the loop needs from a task.
struct TaskFunctions {
  // Model outputs by name for a batch (e.g. "start_logits", "end_logits").
  std::function<TensorMap(torch::nn::Module& model, const TensorMap& batch)> forward;
  // The task loss from outputs and the batch's labels.
  std::function<at::Tensor(const TensorMap& outputs, const TensorMap& batch)> loss;
  // Metrics on held-out data (optional).
  std::function<absl::StatusOr<std::map<std::string, double>>(torch::nn::Module& model)>
      evaluate;
};

// Training batches, epoch by epoch, in a reproducible order (so resume can replay it).
class BatchSource {
 public:
  virtual ~BatchSource() = default;
  virtual void Restart(uint64_t epoch) = 0;
  virtual absl::StatusOr<bool> Next(TensorMap* batch) = 0;
  // Batches per epoch, or nullopt when unknown (streams: then set max_steps).
  virtual std::optional<int64_t> num_batches() const = 0;
};

struct TrainResult {
  int64_t steps = 0;
  int64_t epochs_completed = 0;
  double final_loss = 0.0;               // Mean loss over the last logging window.
  std::map<std::string, double> final_metrics;
  std::map<std::string, double> best_metrics;
  int64_t best_step = -1;
  double seconds = 0.0;
  bool resumed = false;
  int64_t resumed_from_step = 0;
  int64_t skipped_steps = 0;             // Optimizer steps dropped by nan_policy "skip".
};

// Data-parallel training (compressor/distributed): the Trainer calls this so every rank
// takes identical optimizer steps. Without one the Trainer is a single process.
class GradientSynchronizer {
 public:
  virtual ~GradientSynchronizer() = default;
  // After on_train_begin (modules swapped, optimizer built), before the first step or the
  // resume: e.g. make every rank start from rank 0's weights. `parameters` are the ones
  // Synchronize() will see: the model's, then the hooks' trainable_parameters().
  virtual absl::Status OnTrainBegin(torch::nn::Module& /*model*/,
                                    const std::vector<at::Tensor>& /*parameters*/) {
    return absl::OkStatus();
  }
  // Before each micro-batch's backward; `last_micro_batch` is true for the last one of an
  // optimizer step: only its backward may start averaging gradients as they become ready
  // (the earlier ones only accumulate locally, like DDP's no_sync).
  virtual void OnBeforeBackward(bool /*last_micro_batch*/) {}
  // After the last backward of an optimizer step, before the hooks' on_before_optimizer_step
  // and clipping: averages the gradients of `parameters` (undefined ones are skipped) over
  // the ranks. `local_finite` is false when this rank's loss was not finite; returns
  // whether every rank's was, so all ranks stop or skip the step together.
  virtual absl::StatusOr<bool> Synchronize(const std::vector<at::Tensor>& parameters,
                                           bool local_finite) = 0;
  // Before on_train_end (where QAT freezes its observers): e.g. merge observer ranges.
  virtual absl::Status OnTrainEnd(torch::nn::Module& /*model*/) { return absl::OkStatus(); }
  // Whether this process writes checkpoints, metrics.jsonl and progress (rank 0).
  virtual bool is_main_process() const { return true; }
};

class Trainer {
 public:
  Trainer(TrainerConfig config, TaskFunctions task, BatchSource* data)
      : config_(std::move(config)), task_(std::move(task)), data_(data) {}

  // Trains `model` in place. `hooks` may be null (plain fine-tuning).
  absl::StatusOr<TrainResult> Train(std::shared_ptr<torch::nn::Module> model, Component* hooks);

  // For Scheduler::set_train_func: returns the steps run.
  TrainFunc AsTrainFunc();

  const std::optional<TrainResult>& last_result() const { return last_result_; }

  // Optional (not owned; must outlive Train()): null trains as a single process.
  void set_gradient_synchronizer(GradientSynchronizer* sync) { sync_ = sync; }

 private:
  TrainerConfig config_;
  TaskFunctions task_;
  BatchSource* data_;
  GradientSynchronizer* sync_ = nullptr;
  std::optional<TrainResult> last_result_;
};

}  // namespace compressor

#endif  // COMPRESSOR_TRAIN_TRAINER_H_
