// Runs model-optimization shots in order (INC's Scheduler): multi-shot pipelines such as
// "prune, then post-training quantization" hand each shot's output model to the next;
// a shot is one Component or a Combination trained in one run.
//
//   Scheduler scheduler;
//   scheduler.set_model(model);
//   scheduler.set_train_func(train);      // (model, hooks) -> steps, or the built-in Trainer
//   scheduler.set_eval_func(evaluate);    // model -> metric (higher is better)
//   scheduler.append(prune);
//   scheduler.append(quantizer);
//   ASSIGN_OR_RETURN(auto one_shot, scheduler.combine({pattern_lock, distillation}));
//   scheduler.append(one_shot);
//   ASSIGN_OR_RETURN(FitResult result, scheduler.fit());
#ifndef COMPRESSOR_SCHEDULER_H_
#define COMPRESSOR_SCHEDULER_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "compressor/combination.h"
#include "compressor/component.h"

namespace compressor {

// Trains `model` calling every hook of `hooks` in the documented order; returns the number
// of optimizer steps it ran.
using TrainFunc =
    std::function<absl::StatusOr<int64_t>(std::shared_ptr<torch::nn::Module> model,
                                          Component& hooks)>;
// Returns the metric the shots are judged by (higher is better).
using EvalFunc = std::function<absl::StatusOr<double>(torch::nn::Module& model)>;
// Runs forward passes over calibration data (post-training static quantization; shots whose
// component says !needs_calibration(), e.g. dynamic PTQ, run without it).
using CalibrationFunc = std::function<absl::Status(torch::nn::Module& model)>;

struct ShotSummary {
  std::string name;                          // e.g. "pruning", "pruning+distillation".
  std::vector<ComponentSummary> components;  // One per component of the shot.
  bool trained = false;                      // False for calibration-only shots.
  int64_t steps = 0;                         // Optimizer steps the train function ran.
  double seconds = 0.0;
  bool evaluated = false;
  double metric_before = 0.0;                // Eval metric of the shot's input model.
  double metric_after = 0.0;                 // ... and of its output model.
};

struct FitResult {
  std::shared_ptr<torch::nn::Module> model;  // The last shot's output model.
  std::vector<ShotSummary> shots;
};

class Scheduler {
 public:
  void set_model(std::shared_ptr<torch::nn::Module> model) { model_ = std::move(model); }
  void set_train_func(TrainFunc train) { train_ = std::move(train); }
  void set_eval_func(EvalFunc eval) { eval_ = std::move(eval); }
  void set_calibration_func(CalibrationFunc calibrate) { calibrate_ = std::move(calibrate); }

  // Adds a shot; `train` and `calibrate` override the scheduler's train and calibration
  // functions for this shot only (e.g. each post-training shot's own example limit).
  void append(std::shared_ptr<Component> shot, TrainFunc train = nullptr,
              CalibrationFunc calibrate = nullptr);
  // A one-shot combination (see combination.h for the rules); append it to run it.
  absl::StatusOr<std::shared_ptr<Combination>> combine(
      std::vector<std::shared_ptr<Component>> parts) const;

  // Runs the shots in order. Errors name the shot (1-based) and its kind.
  absl::StatusOr<FitResult> fit();

 private:
  struct Shot {
    std::shared_ptr<Component> component;
    TrainFunc train;
    CalibrationFunc calibrate;
  };
  std::shared_ptr<torch::nn::Module> model_;
  TrainFunc train_;
  EvalFunc eval_;
  CalibrationFunc calibrate_;
  std::vector<Shot> shots_;
};

}  // namespace compressor

#endif  // COMPRESSOR_SCHEDULER_H_
