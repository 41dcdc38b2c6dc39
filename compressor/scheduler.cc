#include "compressor/scheduler.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace compressor {
namespace {

std::string ShotName(const Component& component) {
  if (const auto* combination = dynamic_cast<const Combination*>(&component)) {
    std::vector<std::string> kinds;
    for (const auto& part : combination->parts()) kinds.push_back(part->kind());
    return absl::StrJoin(kinds, "+");
  }
  return component.kind();
}

absl::Status InShot(size_t index, const std::string& name, const absl::Status& status) {
  return absl::Status(status.code(),
                      absl::StrCat("shot ", index + 1, " (", name, "): ", status.message()));
}

}  // namespace

void Scheduler::append(std::shared_ptr<Component> shot, TrainFunc train,
                       CalibrationFunc calibrate) {
  shots_.push_back({std::move(shot), std::move(train), std::move(calibrate)});
}

absl::StatusOr<std::shared_ptr<Combination>> Scheduler::combine(
    std::vector<std::shared_ptr<Component>> parts) const {
  return Combination::Create(std::move(parts));
}

absl::StatusOr<FitResult> Scheduler::fit() {
  if (model_ == nullptr) return absl::FailedPreconditionError("fit(): set_model() was not called");
  if (shots_.empty()) return absl::FailedPreconditionError("fit(): no shot was appended");
  FitResult result;
  std::shared_ptr<torch::nn::Module> model = model_;
  for (size_t i = 0; i < shots_.size(); ++i) {
    Component& component = *shots_[i].component;
    ShotSummary summary;
    summary.name = ShotName(component);
    const auto start = std::chrono::steady_clock::now();
    if (eval_) {
      absl::StatusOr<double> before = eval_(*model);
      if (!before.ok()) return InShot(i, summary.name, before.status());
      summary.metric_before = *before;
    }
    TrainState state;
    state.model = model;
    if (component.needs_training()) {
      const TrainFunc& train = shots_[i].train ? shots_[i].train : train_;
      if (!train) {
        return InShot(i, summary.name,
                      absl::FailedPreconditionError("needs training but no train function is set"));
      }
      absl::StatusOr<int64_t> steps = train(model, component);
      if (!steps.ok()) return InShot(i, summary.name, steps.status());
      summary.trained = true;
      summary.steps = *steps;
    } else {
      // Post-training shot: prepare, calibrate (when the component observes data), convert.
      const CalibrationFunc& calibrate = shots_[i].calibrate ? shots_[i].calibrate : calibrate_;
      if (component.needs_calibration() && !calibrate) {
        return InShot(i, summary.name, absl::FailedPreconditionError(
                                           "needs calibration but no calibration function is set"));
      }
      if (absl::Status s = component.on_train_begin(state); !s.ok()) return InShot(i, summary.name, s);
      if (component.needs_calibration()) {
        if (absl::Status s = calibrate(*state.model); !s.ok()) return InShot(i, summary.name, s);
      }
      if (absl::Status s = component.on_train_end(state); !s.ok()) return InShot(i, summary.name, s);
      model = state.model;
    }
    model = component.output_model(model);
    if (const auto* combination = dynamic_cast<const Combination*>(&component)) {
      summary.components = combination->summaries();
    } else {
      summary.components = {component.summary()};
    }
    if (eval_) {
      absl::StatusOr<double> after = eval_(*model);
      if (!after.ok()) return InShot(i, summary.name, after.status());
      summary.metric_after = *after;
      summary.evaluated = true;
    }
    summary.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    result.shots.push_back(std::move(summary));
  }
  result.model = model;
  return result;
}

}  // namespace compressor
