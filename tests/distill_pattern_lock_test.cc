// End to end across packages: a tiny BERT QA teacher is fine-tuned, a student copy is
// pruned to 80%, then trained one-shot with distillation + pattern lock through the
// Scheduler and the built-in Trainer. The loss must fall, the sparsity must not move, and
// the teacher must come out untouched.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/utils.h>

#include "compressor/distillation/distillation.h"
#include "compressor/pruning/pruning.h"
#include "compressor/scheduler.h"
#include "compressor/train/trainer.h"
#include "models/auto_model.h"
#include "models/test_config.h"
#include "models/losses.h"

namespace {

using compressor::TensorMap;

// Synthetic extractive QA: the answer starts at the token 7 and ends at the token 8.
class QaBatches : public compressor::BatchSource {
 public:
  QaBatches(int64_t count, uint64_t seed) {
    torch::manual_seed(seed);
    for (int64_t i = 0; i < count; ++i) {
      at::Tensor ids = at::randint(10, 64, {8, 16}, at::kLong);
      const at::Tensor start = at::randint(1, 12, {8}, at::kLong);
      const at::Tensor end = start + at::randint(0, 3, {8}, at::kLong);
      for (int64_t b = 0; b < 8; ++b) {
        ids[b][start[b].item<int64_t>()] = 7;
        ids[b][end[b].item<int64_t>()] = 8;
      }
      batches_.push_back({{"input_ids", ids},
                          {"attention_mask", at::ones_like(ids)},
                          {"start_positions", start},
                          {"end_positions", end}});
    }
  }
  void Restart(uint64_t) override { next_ = 0; }
  absl::StatusOr<bool> Next(TensorMap* batch) override {
    if (next_ >= batches_.size()) return false;
    *batch = batches_[next_++];
    return true;
  }
  std::optional<int64_t> num_batches() const override { return batches_.size(); }
  const std::vector<TensorMap>& batches() const { return batches_; }

 private:
  std::vector<TensorMap> batches_;
  size_t next_ = 0;
};

TensorMap Forward(torch::nn::Module& module, const TensorMap& batch) {
  auto& model = dynamic_cast<models::PreTrainedModel&>(module);
  models::ModelInput input;
  input.input_ids = batch.at("input_ids");
  input.attention_mask = batch.at("attention_mask");
  TensorMap out;
  for (const auto& [name, tensor] : model.forward(input).Named()) out[name] = tensor;
  return out;
}

at::Tensor QaLoss(const TensorMap& out, const TensorMap& batch) {
  return models::QuestionAnsweringLoss(out.at("start_logits"), out.at("end_logits"),
                                       batch.at("start_positions"), batch.at("end_positions"));
}

double MeanLoss(torch::nn::Module& model, const QaBatches& data) {
  torch::NoGradGuard no_grad;
  model.eval();
  double total = 0;
  for (const TensorMap& batch : data.batches()) total += QaLoss(Forward(model, batch), batch).item<double>();
  model.train();
  return total / data.batches().size();
}

TEST(DistillPatternLockTest, OneShotLowersLossKeepsSparsityAndTeacher) {
  torch::manual_seed(0);
  auto teacher = *models::CreateModel(models::TinyTestConfig(64, 32), "BertForQuestionAnswering");
  QaBatches data(8, /*seed=*/1);
  compressor::TaskFunctions task;
  task.forward = Forward;
  task.loss = QaLoss;

  compressor::TrainerConfig teacher_config;
  teacher_config.learning_rate = 3e-3;
  teacher_config.num_train_epochs = 6;
  teacher_config.progress = false;
  teacher_config.stage = "teacher";
  compressor::Trainer teacher_trainer(teacher_config, task, &data);
  ASSERT_TRUE(teacher_trainer.Train(teacher, nullptr).ok());
  const double teacher_loss = MeanLoss(*teacher, data);

  // Student: the teacher's weights, one-shot pruned to 80% (what the upstream stage makes).
  auto student = *models::CloneModel(*teacher);
  compressor::PruningConfig oneshot;
  oneshot.target_sparsity = 0.8;
  oneshot.sparsity_decay_type = "oneshot";
  auto pruner = compressor::Pruner::Create(*student, oneshot);
  ASSERT_TRUE(pruner.ok()) << pruner.status();
  pruner->UpdateMasks(0);
  const int64_t zeros = pruner->Report().zeros;
  const double pruned_loss = MeanLoss(*student, data);
  ASSERT_GT(pruned_loss, teacher_loss);  // Pruning hurt; the one-shot run must recover.

  compressor::PruningConfig lock;
  lock.pruning_type = "pattern_lock";
  auto pattern_lock = std::make_shared<compressor::Pruning>(lock);
  compressor::DistillationConfig kd;
  kd.logit_names = {"start_logits", "end_logits"};
  kd.loss_weights = {0.5, 0.5};
  auto distillation = std::make_shared<compressor::Distillation>(kd, teacher, Forward);

  const TensorMap teacher_before = [&] {
    TensorMap copy;
    for (const auto& item : teacher->named_parameters()) copy[item.key()] = item.value().clone();
    return copy;
  }();

  compressor::TrainerConfig student_config;
  student_config.learning_rate = 2e-3;
  student_config.num_train_epochs = 8;
  student_config.progress = false;
  student_config.stage = "student";
  compressor::Trainer trainer(student_config, task, &data);
  compressor::Scheduler scheduler;
  scheduler.set_model(student);
  scheduler.set_train_func(trainer.AsTrainFunc());
  auto one_shot = scheduler.combine({pattern_lock, distillation});
  ASSERT_TRUE(one_shot.ok()) << one_shot.status();
  scheduler.append(*one_shot);
  auto result = scheduler.fit();
  ASSERT_TRUE(result.ok()) << result.status();

  const double final_loss = MeanLoss(*student, data);
  std::printf("teacher %.4f, pruned %.4f, after one-shot %.4f\n", teacher_loss, pruned_loss, final_loss);
  EXPECT_LT(final_loss, 0.6 * pruned_loss);
  EXPECT_EQ(pattern_lock->pruner()->Report().zeros, zeros);
  EXPECT_NEAR(result->shots[0].components[0].values.at("sparsity"), 0.8, 1e-3);
  for (const auto& item : teacher->named_parameters()) {
    EXPECT_TRUE(at::equal(item.value(), teacher_before.at(item.key()))) << item.key();
  }
}

}  // namespace
