// One training step of BERT-mini (4 layers, hidden 256) under each compression scheme, as
// ratios measured in one run: against our plain fine-tuning step, and that step against the
// same model and step written with stock LibTorch modules and ops (stock_bert.h: what
// PyTorch eager does). QA head, batch 32, seq 128, AdamW; the upstream steps (Prune Once for
// All's pre-training stage: MLM + NSP, KD on both logits, gradual magnitude pruning) use
// BertForPreTraining at batch 32 x seq 128 with 20 predicted positions per sequence.
//
// Our steps run with the fp32 backend the recipe runner uses by default (layers/fp32_backend.h:
// oneDNN); BM_PlainStepAten is the plain step on LibTorch's BLAS, to show what that buys.
//
// Targets (issue 16): plain <= 0.7x the stock reference; PL+KD+QAT (Prune OFA downstream
// stage 2) <= 1.25x plain; QAT alone <= 1.15x plain; upstream tokens/s >= 3x the step with
// full-vocabulary logits at every position (the upstream step before masked-position
// logits). Earlier targets (issue 4): pattern lock <= 1.05x, KD <= 1.45x, magnitude-pruning
// mask updates amortised <= 5%.
//
//   bazel run //benchmarks:train_step_benchmark
#include <benchmark/benchmark.h>

#include <ATen/ATen.h>
#include <torch/optim/adamw.h>
#include <torch/utils.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>

#include "benchmarks/benchmark_main.h"
#include "benchmarks/stock_bert.h"
#include "compressor/combination.h"
#include "compressor/distillation/distillation.h"
#include "compressor/pruning/pruning.h"
#include "compressor/quantization/quantization.h"
#include "layers/fp32_backend.h"
#include "models/auto_model.h"
#include "models/losses.h"

namespace {

using compressor::TensorMap;

constexpr int64_t kBatch = 32, kSeq = 128, kPredictionsPerSeq = 20;

// What a step computes: its batch, the forward pass and the loss.
struct StepTask {
  TensorMap batch;
  compressor::ForwardFunction forward;
  std::function<at::Tensor(const TensorMap& outputs, const TensorMap& batch)> loss;
};

models::BertConfig MiniConfig() { return *models::BertConfigPreset("bert-mini"); }

std::shared_ptr<models::PreTrainedModel> MakeModel(uint64_t seed,
                                                   const std::string& architecture =
                                                       "BertForQuestionAnswering") {
  torch::manual_seed(seed);
  return *models::CreateModel(MiniConfig(), architecture);
}

TensorMap Forward(torch::nn::Module& module, const TensorMap& batch) {
  auto& model = dynamic_cast<models::PreTrainedModel&>(module);
  models::ModelInput input;
  input.input_ids = batch.at("input_ids");
  if (batch.count("prediction_mask")) input.prediction_mask = batch.at("prediction_mask");
  TensorMap out;
  for (const auto& [name, tensor] : model.forward(input).Named()) out[name] = tensor;
  return out;
}

TensorMap QaBatch() {
  return {{"input_ids", at::randint(1000, 30000, {kBatch, kSeq}, at::kLong)},
          {"start_positions", at::randint(0, kSeq, {kBatch}, at::kLong)},
          {"end_positions", at::randint(0, kSeq, {kBatch}, at::kLong)}};
}

StepTask QaTask() {
  return {QaBatch(), Forward, [](const TensorMap& out, const TensorMap& batch) {
            return models::QuestionAnsweringLoss(out.at("start_logits"), out.at("end_logits"),
                                                 batch.at("start_positions"),
                                                 batch.at("end_positions"));
          }};
}

// MLM + NSP: kPredictionsPerSeq random positions of each sequence predicted. With
// `masked_positions_only` the vocabulary logits are computed at those positions only (the
// recipes' mlm_eval/masked_positions_only path); otherwise at every position.
StepTask PreTrainingTask(bool masked_positions_only) {
  TensorMap batch;
  batch["input_ids"] = at::randint(1000, 30000, {kBatch, kSeq}, at::kLong);
  at::Tensor labels = at::full({kBatch, kSeq}, models::kIgnoreIndex, at::kLong);
  const at::Tensor positions = at::rand({kBatch, kSeq}).argsort(/*dim=*/int64_t{-1}).narrow(1, 0, kPredictionsPerSeq);
  labels.scatter_(1, positions, at::randint(1000, 30000, {kBatch, kPredictionsPerSeq}, at::kLong));
  batch["labels"] = labels;
  batch["next_sentence_label"] = at::randint(0, 2, {kBatch}, at::kLong);
  if (masked_positions_only) batch["prediction_mask"] = labels.ne(models::kIgnoreIndex);
  return {batch, Forward, [](const TensorMap& out, const TensorMap& batch) {
            return models::MaskedLMLoss(out.at("prediction_logits"), batch.at("labels")) +
                   models::NextSentenceLoss(out.at("seq_relationship_logits"),
                                            batch.at("next_sentence_label"));
          }};
}

void RunSteps(benchmark::State& state, const std::string& name, compressor::Component* hooks,
              std::shared_ptr<torch::nn::Module> model, const StepTask& task) {
  compressor::TrainState train_state;
  train_state.model = model;
  model->train();
  if (hooks && !hooks->on_train_begin(train_state).ok()) {
    state.SkipWithError("on_train_begin failed");
    return;
  }
  torch::optim::AdamW optimizer(model->parameters(), torch::optim::AdamWOptions(1e-4));
  // Time inside the hooks, measured directly: run-to-run noise of whole steps here is
  // about +-10%, larger than the overheads being measured.
  double hook_seconds = 0;
  auto timed = [&](auto&& fn) {
    const auto start = std::chrono::steady_clock::now();
    fn();
    hook_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  auto step = [&]() {
    if (hooks) timed([&] { hooks->on_step_begin(train_state); });
    const TensorMap out = task.forward(*model, task.batch);
    at::Tensor loss = task.loss(out, task.batch);
    if (hooks) {
      timed([&] { loss = hooks->on_after_compute_loss(train_state, task.batch, out, loss, nullptr); });
    }
    loss.backward();
    if (hooks) timed([&] { hooks->on_before_optimizer_step(train_state); });
    optimizer.step();
    if (hooks) timed([&] { hooks->on_after_optimizer_step(train_state); });
    optimizer.zero_grad();
    ++train_state.step;
  };
  step();  // Warm-up: allocations, first-touch.
  hook_seconds = 0;
  for (auto _ : state) step();
  state.SetLabel(name);
  state.counters["hook_ms"] = 1000.0 * hook_seconds / double(state.iterations());
}

void BM_PlainStep(benchmark::State& state) {
  RunSteps(state, "plain", nullptr, MakeModel(0), QaTask());
}

void BM_PlainStepAten(benchmark::State& state) {
  const layers::Fp32Backend ours = layers::GetFp32Backend();
  layers::SetFp32Backend(layers::Fp32Backend::kAten);
  RunSteps(state, "plain_aten", nullptr, MakeModel(0), QaTask());
  layers::SetFp32Backend(ours);
}

// The stock-LibTorch reference of the plain step: same model, batch, loss and optimizer.
void BM_StockReferenceStep(benchmark::State& state) {
  torch::manual_seed(0);
  auto model = std::make_shared<benchmarks::StockBertForQuestionAnsweringImpl>(MiniConfig());
  StepTask task = QaTask();
  task.forward = [](torch::nn::Module& module, const TensorMap& batch) {
    auto [start, end] =
        static_cast<benchmarks::StockBertForQuestionAnsweringImpl&>(module).forward(
            batch.at("input_ids"));
    return TensorMap{{"start_logits", start}, {"end_logits", end}};
  };
  task.loss = [](const TensorMap& out, const TensorMap& batch) {
    return (at::cross_entropy_loss(out.at("start_logits"), batch.at("start_positions")) +
            at::cross_entropy_loss(out.at("end_logits"), batch.at("end_positions"))) / 2;
  };
  RunSteps(state, "stock_libtorch_reference", nullptr, model, task);
}

// A 90%-sparse student, as Prune OFA's downstream stages start from.
std::shared_ptr<models::PreTrainedModel> SparseStudent() {
  auto model = MakeModel(0);
  compressor::PruningConfig oneshot;
  oneshot.target_sparsity = 0.9;
  oneshot.sparsity_decay_type = "oneshot";
  compressor::Pruner::Create(*model, oneshot)->UpdateMasks(0);
  return model;
}

std::shared_ptr<compressor::Pruning> PatternLock() {
  compressor::PruningConfig lock;
  lock.pruning_type = "pattern_lock";
  return std::make_shared<compressor::Pruning>(lock);
}

// Prune OFA's downstream KD: start/end logits, KL at T = 2; `weights` [task, KD].
std::shared_ptr<compressor::Distillation> QaDistillation(std::vector<double> weights = {0.5, 0.5}) {
  compressor::DistillationConfig kd;
  kd.logit_names = {"start_logits", "end_logits"};
  kd.loss_types = {"KL"};
  kd.loss_weights = std::move(weights);
  return std::make_shared<compressor::Distillation>(kd, MakeModel(1), Forward);
}

// Prune OFA's QAT scheme (QuantizationConfig's defaults = preset prune_ofa).
std::shared_ptr<compressor::Quantization> Qat() {
  return std::make_shared<compressor::Quantization>(compressor::QuantizationConfig{});
}

void BM_PatternLockStep(benchmark::State& state) {
  auto lock = PatternLock();
  RunSteps(state, "pattern_lock", lock.get(), SparseStudent(), QaTask());
}

void BM_DistillationStep(benchmark::State& state) {
  auto kd = QaDistillation();
  RunSteps(state, "distillation", kd.get(), MakeModel(0), QaTask());
}

void BM_PatternLockDistillationStep(benchmark::State& state) {
  auto combined = *compressor::Combination::Create({PatternLock(), QaDistillation()});
  RunSteps(state, "pattern_lock+distillation", combined.get(), SparseStudent(), QaTask());
}

void BM_QatStep(benchmark::State& state) {
  auto qat = Qat();
  RunSteps(state, "qat", qat.get(), MakeModel(0), QaTask());
}

// Prune OFA downstream stage 2 as measured against INC in issue 16: pattern lock + KD (loss
// weights [0, 1], T = 2) + QAT on a 90%-sparse student.
void BM_PatternLockDistillationQatStep(benchmark::State& state) {
  auto combined = *compressor::Combination::Create(
      {PatternLock(), QaDistillation({0.0, 1.0}), Qat()});
  RunSteps(state, "pattern_lock+distillation+qat", combined.get(), SparseStudent(), QaTask());
}

// Mask recomputation on every step: the worst case; divide the excess by the pruning
// frequency (1,000 in the paper) for the amortised cost.
void BM_MagnitudePruningEveryStep(benchmark::State& state) {
  compressor::PruningConfig config;
  config.target_sparsity = 0.9;
  config.end_step = 1000000;
  config.pruning_frequency = 1;
  compressor::Pruning pruning(config);
  RunSteps(state, "magnitude_every_step", &pruning, MakeModel(0), QaTask());
}

// Prune OFA's upstream step: MLM + NSP, KD (KL, T = 2, [0.5, 0.5]) on both logits from a
// dense teacher, gradual magnitude pruning (a mask update every 100 steps, as the recipe's
// order of magnitude; the amortised update cost is BM_MagnitudePruningEveryStep's).
void UpstreamStep(benchmark::State& state, bool masked_positions_only) {
  compressor::PruningConfig gmp;
  gmp.target_sparsity = 0.9;
  gmp.end_step = 1000000;
  gmp.pruning_frequency = 100;
  compressor::DistillationConfig kd;
  kd.logit_names = {"prediction_logits", "seq_relationship_logits"};
  kd.loss_types = {"KL"};
  // Full logits carry every position, so the KD term masks the unpredicted ones.
  if (!masked_positions_only) kd.kd_mask_key = "labels";
  auto combined = *compressor::Combination::Create(
      {std::make_shared<compressor::Pruning>(gmp),
       std::make_shared<compressor::Distillation>(kd, MakeModel(1, "BertForPreTraining"),
                                                  Forward)});
  RunSteps(state, masked_positions_only ? "upstream_masked_positions" : "upstream_full_logits",
           combined.get(), MakeModel(0, "BertForPreTraining"), PreTrainingTask(masked_positions_only));
}

void BM_UpstreamStepFullLogits(benchmark::State& state) { UpstreamStep(state, false); }
void BM_UpstreamStep(benchmark::State& state) { UpstreamStep(state, true); }

void BM_PlainStepAgain(benchmark::State& state) { BM_PlainStep(state); }

// The plain step runs first and last; the baseline is the mean of the two, so drift over
// the run (frequency, other load) does not land on one configuration.
constexpr int kIterations = 10;
#define STEP_BENCHMARK(fn) \
  BENCHMARK(fn)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(kIterations)
STEP_BENCHMARK(BM_PlainStep);
STEP_BENCHMARK(BM_StockReferenceStep);
STEP_BENCHMARK(BM_PlainStepAten);
STEP_BENCHMARK(BM_PatternLockStep);
STEP_BENCHMARK(BM_DistillationStep);
STEP_BENCHMARK(BM_PatternLockDistillationStep);
STEP_BENCHMARK(BM_QatStep);
STEP_BENCHMARK(BM_PatternLockDistillationQatStep);
STEP_BENCHMARK(BM_MagnitudePruningEveryStep);
STEP_BENCHMARK(BM_UpstreamStepFullLogits);
STEP_BENCHMARK(BM_UpstreamStep);
STEP_BENCHMARK(BM_PlainStepAgain);

// Each target as the largest allowed ratio of a step to the plain step.
const std::map<std::string, double>& TargetRatios() {
  static const auto* const targets = new std::map<std::string, double>{
      {"BM_PatternLockStep", 1.05},     {"BM_DistillationStep", 1.45},
      {"BM_QatStep", 1.15},             {"BM_PatternLockDistillationQatStep", 1.25},
  };
  return *targets;
}

// Collects each run's real time per iteration so the ratios can be printed at the end.
class RatioReporter : public benchmarks::RatioReporter {
  void PrintRatios() override {
    const double first = Find("BM_PlainStep"), again = Find("BM_PlainStepAgain");
    if (first <= 0 || again <= 0) return;
    const double plain = (first + again) / 2;
    std::printf("\nratios to the plain step (%.0f ms: mean of %.0f first and %.0f last), same run:\n",
                plain, first, again);
    double update = 0;
    for (const auto& [full_name, ms] : times()) {
      const std::string name = full_name.substr(0, full_name.find('/'));
      const double hooks = counter(full_name, "hook_ms");
      std::printf("  %-40s %6.0f ms  %.3fx   hooks %7.1f ms = %5.1f%% of plain", name.c_str(), ms,
                  ms / plain, hooks, 100.0 * hooks / plain);
      const auto target = TargetRatios().find(name);
      if (target != TargetRatios().end()) {
        std::printf("   target <= %.2fx: %s", target->second,
                    ms / plain <= target->second ? "met" : "NOT met");
      }
      std::printf("\n");
      if (name == "BM_MagnitudePruningEveryStep") update = hooks;
    }
    if (update > 0) {
      std::printf("  magnitude pruning hooks with a mask update every step: %.1f ms; amortised "
                  "at pruning_frequency 100: %.2f%%, at 1000 (the paper): %.3f%% of a step\n",
                  update, 100.0 * update / 100.0 / plain, 100.0 * update / 1000.0 / plain);
    }
    const double stock = Find("BM_StockReferenceStep");
    if (stock > 0) {
      std::printf("plain step / stock LibTorch reference step: %.0f / %.0f ms = %.3fx   target <= "
                  "0.70x: %s\n",
                  plain, stock, plain / stock, plain / stock <= 0.70 ? "met" : "NOT met");
    }
    const double full = Find("BM_UpstreamStepFullLogits"), masked = Find("BM_UpstreamStep");
    if (full > 0 && masked > 0) {
      const double tokens = double(kBatch * kSeq);
      std::printf("upstream step tokens/s: %.0f with logits at the masked positions, %.0f with "
                  "full logits at every position: %.2fx   target >= 3x: %s\n",
                  1000.0 * tokens / masked, 1000.0 * tokens / full, full / masked,
                  full / masked >= 3.0 ? "met" : "NOT met");
    }
  }

  // Time of the benchmark named `prefix` with any arguments after a '/'.
  double Find(const std::string& prefix) const {
    for (const auto& [name, ms] : times()) {
      if (name.rfind(prefix, 0) == 0 && (name.size() == prefix.size() || name[prefix.size()] == '/')) return ms;
    }
    return 0;
  }
};

}  // namespace

int main(int argc, char** argv) {
  layers::SetFp32Backend(layers::Fp32Backend::kOneDnn);  // As the recipe runner.
  RatioReporter reporter;
  return benchmarks::RunBenchmarks(argc, argv, &reporter);
}
