#include "compressor/scheduler.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/nn/modules/linear.h>

#include <string>
#include <vector>

#include "compressor/combination.h"

namespace compressor {
namespace {

using Log = std::vector<std::string>;

// Records every hook it receives; optionally transforms the loss or swaps the model.
class Recorder : public Component {
 public:
  Recorder(std::string kind, Log* log, bool trains = true) : kind_(std::move(kind)), log_(log), trains_(trains) {}
  std::string kind() const override { return kind_; }
  bool needs_training() const override { return trains_; }
  std::map<std::string, std::string> train_settings() const override { return settings; }
  absl::Status on_train_begin(TrainState&) override { Note("on_train_begin"); return absl::OkStatus(); }
  void on_epoch_begin(TrainState&) override { Note("on_epoch_begin"); }
  void on_step_begin(TrainState&) override { Note("on_step_begin"); }
  at::Tensor on_after_compute_loss(TrainState&, const TensorMap&, const TensorMap&,
                                   const at::Tensor& loss, const TensorMap*) override {
    Note("on_after_compute_loss");
    return loss_transform ? loss_transform(loss) : loss;
  }
  void on_before_optimizer_step(TrainState&) override { Note("on_before_optimizer_step"); }
  void on_after_optimizer_step(TrainState&) override { Note("on_after_optimizer_step"); }
  void on_step_end(TrainState&) override { Note("on_step_end"); }
  void on_epoch_end(TrainState&) override { Note("on_epoch_end"); }
  absl::Status on_train_end(TrainState&) override { Note("on_train_end"); return absl::OkStatus(); }
  std::shared_ptr<torch::nn::Module> output_model(std::shared_ptr<torch::nn::Module> m) override {
    return replacement ? replacement : m;
  }

  std::function<at::Tensor(const at::Tensor&)> loss_transform;
  std::shared_ptr<torch::nn::Module> replacement;
  std::map<std::string, std::string> settings;

 private:
  void Note(const std::string& hook) { log_->push_back(kind_ + ":" + hook); }
  std::string kind_;
  Log* log_;
  bool trains_;
};

// A minimal user training loop calling the hooks in the documented order.
absl::StatusOr<int64_t> TwoStepLoop(std::shared_ptr<torch::nn::Module> model, Component& hooks) {
  TrainState state;
  state.model = model;
  if (auto s = hooks.on_train_begin(state); !s.ok()) return s;
  hooks.on_epoch_begin(state);
  for (int step = 0; step < 2; ++step) {
    hooks.on_step_begin(state);
    hooks.on_after_compute_loss(state, {}, {}, at::ones({}), nullptr);
    hooks.on_before_optimizer_step(state);
    hooks.on_after_optimizer_step(state);
    hooks.on_step_end(state);
    ++state.step;
  }
  hooks.on_epoch_end(state);
  if (auto s = hooks.on_train_end(state); !s.ok()) return s;
  return state.step;
}

TEST(CombinationTest, ForwardsEveryHookToEveryPartInOrder) {
  Log log;
  auto pruning = std::make_shared<Recorder>("pruning", &log);
  auto distillation = std::make_shared<Recorder>("distillation", &log);
  Scheduler scheduler;
  scheduler.set_model(std::make_shared<torch::nn::LinearImpl>(2, 2));
  scheduler.set_train_func(TwoStepLoop);
  auto one_shot = scheduler.combine({pruning, distillation});
  ASSERT_TRUE(one_shot.ok()) << one_shot.status();
  scheduler.append(*one_shot);
  auto result = scheduler.fit();
  ASSERT_TRUE(result.ok()) << result.status();
  Log expected = {"pruning:on_train_begin", "distillation:on_train_begin",
                  "pruning:on_epoch_begin", "distillation:on_epoch_begin"};
  for (int step = 0; step < 2; ++step) {
    for (const char* hook : {"on_step_begin", "on_after_compute_loss",
                             "on_before_optimizer_step", "on_after_optimizer_step",
                             "on_step_end"}) {
      expected.push_back(std::string("pruning:") + hook);
      expected.push_back(std::string("distillation:") + hook);
    }
  }
  for (const char* hook : {"on_epoch_end", "on_train_end"}) {
    expected.push_back(std::string("pruning:") + hook);
    expected.push_back(std::string("distillation:") + hook);
  }
  EXPECT_EQ(log, expected);
  ASSERT_EQ(result->shots.size(), 1u);
  EXPECT_EQ(result->shots[0].name, "pruning+distillation");
  EXPECT_EQ(result->shots[0].steps, 2);
  EXPECT_EQ(result->shots[0].components.size(), 2u);
}

TEST(CombinationTest, LossFlowsThroughPartsInOrder) {
  Log log;
  auto a = std::make_shared<Recorder>("distillation", &log);
  a->loss_transform = [](const at::Tensor& l) { return l * 2; };
  auto b = std::make_shared<Recorder>("pruning", &log);
  b->loss_transform = [](const at::Tensor& l) { return l + 1; };
  auto ab = Combination::Create({a, b});
  auto ba = Combination::Create({b, a});
  TrainState state;
  const at::Tensor loss = at::full({}, 3.0);
  EXPECT_EQ((*ab)->on_after_compute_loss(state, {}, {}, loss, nullptr).item<double>(), 7.0);
  EXPECT_EQ((*ba)->on_after_compute_loss(state, {}, {}, loss, nullptr).item<double>(), 8.0);
}

TEST(CombinationTest, RejectsRepeatedKindsNestingAndConflictingSettings) {
  Log log;
  auto p1 = std::make_shared<Recorder>("pruning", &log);
  auto p2 = std::make_shared<Recorder>("pruning", &log);
  auto d = std::make_shared<Recorder>("distillation", &log);
  auto repeated = Combination::Create({p1, d, p2});
  ASSERT_FALSE(repeated.ok());
  EXPECT_EQ(repeated.status().message(),
            "combine(): components 1 and 3 are both of kind 'pruning'; each kind may appear "
            "at most once");
  auto inner = Combination::Create({p1, d});
  auto nested = Combination::Create({*inner, std::make_shared<Recorder>("quantization", &log)});
  ASSERT_FALSE(nested.ok());
  EXPECT_NE(nested.status().message().find("is itself a combination"), std::string::npos);
  p1->settings = {{"learning_rate", "1e-4"}};
  d->settings = {{"learning_rate", "1e-5"}};
  auto conflict = Combination::Create({p1, d});
  ASSERT_FALSE(conflict.ok());
  EXPECT_EQ(conflict.status().message(),
            "combine(): train setting 'learning_rate' is '1e-4' for pruning but '1e-5' for "
            "distillation");
  EXPECT_FALSE(Combination::Create({p1}).ok());
}

TEST(SchedulerTest, MultiShotHandsEachOutputModelToTheNextShot) {
  Log log;
  auto original = std::make_shared<torch::nn::LinearImpl>(2, 2);
  auto converted = std::make_shared<torch::nn::LinearImpl>(2, 2);
  auto prune = std::make_shared<Recorder>("pruning", &log);
  prune->replacement = converted;
  auto quantize = std::make_shared<Recorder>("quantization", &log, /*trains=*/false);
  std::vector<torch::nn::Module*> trained_models, calibrated_models, evaluated_models;
  Scheduler scheduler;
  scheduler.set_model(original);
  scheduler.set_train_func([&](std::shared_ptr<torch::nn::Module> m, Component& hooks) {
    trained_models.push_back(m.get());
    return TwoStepLoop(m, hooks);
  });
  scheduler.set_calibration_func([&](torch::nn::Module& m) {
    calibrated_models.push_back(&m);
    log.push_back("calibrate");
    return absl::OkStatus();
  });
  double metric = 0.5;
  scheduler.set_eval_func([&](torch::nn::Module& m) -> absl::StatusOr<double> {
    evaluated_models.push_back(&m);
    return metric += 0.1;
  });
  scheduler.append(prune);
  scheduler.append(quantize);
  auto result = scheduler.fit();
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(trained_models, std::vector<torch::nn::Module*>{original.get()});
  EXPECT_EQ(calibrated_models, std::vector<torch::nn::Module*>{converted.get()});
  EXPECT_EQ(result->model.get(), converted.get());
  // Calibration-only shot: prepare, calibrate, convert, and no training hooks.
  const Log tail(log.end() - 3, log.end());
  EXPECT_EQ(tail, (Log{"quantization:on_train_begin", "calibrate", "quantization:on_train_end"}));
  ASSERT_EQ(result->shots.size(), 2u);
  EXPECT_FALSE(result->shots[1].trained);
  EXPECT_DOUBLE_EQ(result->shots[0].metric_before, 0.6);
  EXPECT_DOUBLE_EQ(result->shots[0].metric_after, 0.7);
  EXPECT_DOUBLE_EQ(result->shots[1].metric_before, 0.8);
  EXPECT_EQ(evaluated_models.size(), 4u);
}

TEST(SchedulerTest, EachPostTrainingShotUsesItsOwnCalibrationFunction) {
  // Two post-training shots of one fit with different calibration functions (e.g. different
  // example limits): each shot calls its own, and a shot without one falls back to the
  // scheduler's.
  Log log;
  Scheduler scheduler;
  scheduler.set_model(std::make_shared<torch::nn::LinearImpl>(2, 2));
  scheduler.set_calibration_func([&](torch::nn::Module&) {
    log.push_back("calibrate:default");
    return absl::OkStatus();
  });
  auto calibrate_as = [&](std::string name) {
    return [&log, name](torch::nn::Module&) {
      log.push_back("calibrate:" + name);
      return absl::OkStatus();
    };
  };
  scheduler.append(std::make_shared<Recorder>("quantization", &log, /*trains=*/false), nullptr,
                   calibrate_as("first"));
  scheduler.append(std::make_shared<Recorder>("quantization", &log, /*trains=*/false), nullptr,
                   calibrate_as("second"));
  scheduler.append(std::make_shared<Recorder>("quantization", &log, /*trains=*/false));
  auto result = scheduler.fit();
  ASSERT_TRUE(result.ok()) << result.status();
  Log calibrations;
  for (const std::string& entry : log) {
    if (entry.rfind("calibrate:", 0) == 0) calibrations.push_back(entry);
  }
  EXPECT_EQ(calibrations, (Log{"calibrate:first", "calibrate:second", "calibrate:default"}));
}

// A post-training component that computes everything itself (dynamic quantization).
class NoCalibration : public Recorder {
 public:
  explicit NoCalibration(Log* log) : Recorder("quantization", log, /*trains=*/false) {}
  bool needs_calibration() const override { return false; }
};

TEST(SchedulerTest, ShotWithoutCalibrationNeedsNoCalibrationFunction) {
  Log log;
  Scheduler scheduler;
  scheduler.set_model(std::make_shared<torch::nn::LinearImpl>(2, 2));
  scheduler.append(std::make_shared<NoCalibration>(&log));
  auto result = scheduler.fit();
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(log, (Log{"quantization:on_train_begin", "quantization:on_train_end"}));
  // A calibration function that is set is not called for it either.
  bool calibrated = false;
  scheduler.set_calibration_func([&](torch::nn::Module&) {
    calibrated = true;
    return absl::OkStatus();
  });
  ASSERT_TRUE(scheduler.fit().ok());
  EXPECT_FALSE(calibrated);
  // A shot that does calibrate still fails before touching the model when none is set.
  Log other;
  Scheduler strict;
  strict.set_model(std::make_shared<torch::nn::LinearImpl>(2, 2));
  strict.append(std::make_shared<Recorder>("quantization", &other, /*trains=*/false));
  result = strict.fit();
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().message(),
            "shot 1 (quantization): needs calibration but no calibration function is set");
  EXPECT_TRUE(other.empty());
}

TEST(SchedulerTest, ErrorsNameTheShot) {
  Log log;
  Scheduler scheduler;
  EXPECT_FALSE(scheduler.fit().ok());
  scheduler.set_model(std::make_shared<torch::nn::LinearImpl>(2, 2));
  scheduler.append(std::make_shared<Recorder>("pruning", &log));
  auto result = scheduler.fit();
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().message(),
            "shot 1 (pruning): needs training but no train function is set");
}

}  // namespace
}  // namespace compressor
