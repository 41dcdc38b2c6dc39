#include "compressor/quantization/quantization.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/optim/adamw.h>
#include <torch/utils.h>

#include "compressor/combination.h"
#include "compressor/pruning/pruning.h"
#include "compressor/scheduler.h"
#include "compressor/train/trainer.h"
#include "layers/linear.h"

namespace compressor {
namespace {

// A small MLP that calls its Linears through the registered children (ForwardLinear), so
// quantization's module swaps take effect.
struct MlpImpl : torch::nn::Module {
  MlpImpl() {
    register_module("fc1", layers::Linear(4, 32));
    register_module("fc2", layers::Linear(32, 32));
    register_module("out", layers::Linear(32, 1));
  }
  at::Tensor forward(const at::Tensor& x) {
    auto children = named_children();
    const at::Tensor h = at::relu(ForwardLinear(*children["fc1"], x));
    return ForwardLinear(*children["out"], at::relu(ForwardLinear(*children["fc2"], h)));
  }
};
TORCH_MODULE(Mlp);

struct Data {
  at::Tensor x, y;
};

Data Regression(int64_t n = 64, uint64_t seed = 11) {
  torch::manual_seed(seed);
  const at::Tensor x = at::randn({n, 4});
  const at::Tensor y = at::sin(x.matmul(at::tensor({1.0f, -2.0f, 0.5f, 1.5f}))).unsqueeze(1);
  return {x, y};
}

// One optimizer step, calling the hooks in component.h's documented order.
double Step(Component& hooks, TrainState& state, torch::optim::Optimizer& optimizer, Mlp& model,
            const Data& data) {
  hooks.on_step_begin(state);
  at::Tensor loss = at::mse_loss(model->forward(data.x), data.y);
  loss = hooks.on_after_compute_loss(state, {}, {}, loss, nullptr);
  loss.backward();
  hooks.on_before_optimizer_step(state);
  optimizer.step();
  hooks.on_after_optimizer_step(state);
  optimizer.zero_grad();
  ++state.step;
  hooks.on_step_end(state);
  return loss.item<double>();
}

double EvalLoss(Mlp& model, const Data& data) {
  torch::NoGradGuard no_grad;
  model->eval();
  const double loss = at::mse_loss(model->forward(data.x), data.y).item<double>();
  model->train();
  return loss;
}

const FakeQuantLinearKernel& Find(const Quantization& q, const std::string& name) {
  for (const auto& [n, m] : q.modules()) {
    if (n == name) return *m;
  }
  ADD_FAILURE() << "no quantized module " << name;
  return *q.modules().front().second;
}

TEST(QuantizationTest, QatLowersTheLossWithGradientsThroughFakeQuant) {
  torch::manual_seed(0);
  Mlp model;
  const Data data = Regression();
  QuantizationConfig config;
  config.outputs_not_requantized = {"^out$"};  // The regression head, as qa_outputs.
  Quantization qat(config);
  EXPECT_EQ(qat.kind(), "quantization");
  EXPECT_TRUE(qat.needs_training());
  TrainState state;
  state.model = model.ptr();
  model->train();
  const double initial = EvalLoss(model, data);  // The fp32 model.
  ASSERT_TRUE(qat.on_train_begin(state).ok());
  ASSERT_EQ(qat.modules().size(), 3u);
  torch::optim::AdamW optimizer(model->parameters(), torch::optim::AdamWOptions(1e-2));
  // Gradients reach every weight through the fake-quant ops (straight-through estimator).
  at::mse_loss(model->forward(data.x), data.y).backward();
  for (const auto& item : model->named_parameters()) {
    EXPECT_GT(item.value().grad().abs().sum().item<float>(), 0.0f) << item.key();
  }
  optimizer.zero_grad();
  for (int i = 0; i < 100; ++i) Step(qat, state, optimizer, model, data);
  ASSERT_TRUE(qat.on_train_end(state).ok());
  EXPECT_TRUE(qat.frozen());
  const double final_loss = EvalLoss(model, data);
  // 0.56 -> 0.0036 here (the same MLP in fp32 reaches 0.0003).
  EXPECT_LT(final_loss, initial / 50) << "initial " << initial << ", final " << final_loss;
  EXPECT_EQ(qat.output_model(state.model), state.model);  // Frozen fake-quant model for now.

  const ComponentSummary summary = qat.summary();
  EXPECT_EQ(summary.values.at("quantized_linears"), 3);
  EXPECT_EQ(summary.values.at("total_linears"), 3);
  EXPECT_EQ(summary.values.at("fp32_linears"), 0);
  EXPECT_EQ(summary.values.at("requantized_outputs"), 2);
  EXPECT_EQ(summary.notes.front(), "quant_aware_training: 3/3 Linears quantized");
}

TEST(QuantizationTest, MovingAverageObserverDuringTrainingMatchesAHandComputation) {
  Mlp model;
  Quantization qat(QuantizationConfig{});
  TrainState state;
  state.model = model.ptr();
  ASSERT_TRUE(qat.on_train_begin(state).ok());
  model->train();
  model->forward(at::tensor({-1.0f, 0.0f, 2.0f, 1.0f}).reshape({1, 4}));
  model->forward(at::tensor({-3.0f, 4.0f, 0.0f, 0.0f}).reshape({1, 4}));
  model->forward(at::tensor({0.0f, 0.5f, 1.0f, 0.25f}).reshape({1, 4}));
  const auto& fc1 = static_cast<const MinMaxObserver&>(*Find(qat, "fc1").input_observer());
  // (-1, 2) -> (-1 + 0.01 (-3 + 1), 2 + 0.01 (4 - 2)) = (-1.02, 2.02)
  //         -> (-1.02 + 0.01 (0 + 1.02), 2.02 + 0.01 (1 - 2.02)) = (-1.0098, 2.0098).
  EXPECT_FLOAT_EQ(fc1.min().item<float>(), -1.0098f);
  EXPECT_FLOAT_EQ(fc1.max().item<float>(), 2.0098f);
  const QuantParams q = Find(qat, "fc1").input_qparams();
  EXPECT_FLOAT_EQ(q.scale.item<float>(), (2.0098f + 1.0098f) / 255.0f);
  EXPECT_EQ(q.zero_point.item<int64_t>(), std::lround(1.0098f / ((2.0098f + 1.0098f) / 255.0f)));
}

// Prune OFA's stage 2: pattern lock + QAT in one shot. Pruned weights stay exactly zero
// in the parameters, in the fake-quantized weights, and after freezing.
TEST(QuantizationTest, PatternLockAndQatKeepPrunedWeightsExactlyZero) {
  torch::manual_seed(2);
  Mlp model;
  std::map<std::string, at::Tensor> zeros;
  {
    torch::NoGradGuard no_grad;
    for (const auto& item : model->named_parameters()) {
      if (item.key().find(".weight") == std::string::npos) continue;
      const at::Tensor pruned = at::rand(item.value().sizes()).lt(0.7);  // ~70% sparse.
      item.value().masked_fill_(pruned, 0.0);
      zeros[item.key()] = pruned;
    }
  }
  PruningConfig pruning_config;
  pruning_config.pruning_type = "pattern_lock";
  auto pruning = std::make_shared<Pruning>(pruning_config);
  auto quantization = std::make_shared<Quantization>(QuantizationConfig{});
  absl::StatusOr<std::shared_ptr<Combination>> shot =
      Combination::Create({pruning, quantization});
  ASSERT_TRUE(shot.ok()) << shot.status();
  TrainState state;
  state.model = model.ptr();
  model->train();
  ASSERT_TRUE((*shot)->on_train_begin(state).ok());
  torch::optim::AdamW optimizer(model->parameters(), torch::optim::AdamWOptions(1e-2));
  const Data data = Regression();
  auto check = [&](const std::string& when) {
    for (const auto& [name, module] : quantization->modules()) {
      const at::Tensor& pruned = zeros.at(name + ".weight");
      EXPECT_TRUE(module->weight.masked_select(pruned).eq(0).all().item<bool>()) << when << name;
      EXPECT_TRUE(module->FakeQuantizedWeight().masked_select(pruned).eq(0).all().item<bool>())
          << when << name;
      EXPECT_EQ(module->weight.eq(0).sum().item<int64_t>(), pruned.sum().item<int64_t>())
          << when << name;
    }
  };
  for (int i = 0; i < 20; ++i) {
    Step(**shot, state, optimizer, model, data);
    check("step " + std::to_string(i) + " ");
  }
  ASSERT_TRUE((*shot)->on_train_end(state).ok());
  check("frozen ");
  EXPECT_TRUE(quantization->frozen());
  EXPECT_GT(pruning->summary().values.at("sparsity"), 0.6);
}

TEST(QuantizationTest, OutputsNotRequantizedKeepFp32Outputs) {
  torch::manual_seed(3);
  Mlp model;
  QuantizationConfig config;
  config.outputs_not_requantized = {"^out$"};
  Quantization qat(config);
  TrainState state;
  state.model = model.ptr();
  ASSERT_TRUE(qat.on_train_begin(state).ok());
  model->train();
  const Data data = Regression(16);
  model->forward(data.x);
  ASSERT_TRUE(qat.on_train_end(state).ok());
  EXPECT_EQ(qat.summary().values.at("requantized_outputs"), 2);
  EXPECT_EQ(Find(qat, "out").output_observer(), nullptr);
  // fc1's outputs lie on its output grid; out's are free fp32 values.
  auto on_grid = [](const at::Tensor& y, const QuantParams& q) {
    const at::Tensor steps = y / q.scale.item<float>();
    return (steps - steps.round()).abs().max().item<float>() < 1e-3f;
  };
  torch::NoGradGuard no_grad;
  auto children = model->named_children();
  const FakeQuantLinearKernel& fc1 = Find(qat, "fc1");
  EXPECT_TRUE(on_grid(ForwardLinear(*children["fc1"], data.x), fc1.output_qparams()));
  const at::Tensor h = at::relu(ForwardLinear(*children["fc2"],
                                              at::relu(ForwardLinear(*children["fc1"], data.x))));
  EXPECT_FALSE(on_grid(ForwardLinear(*children["out"], h), Find(qat, "fc2").output_qparams()));
  const std::vector<std::string> notes = qat.summary().notes;
  EXPECT_NE(std::find(notes.begin(), notes.end(), "1 outputs not re-quantized: out"), notes.end());
}

TEST(QuantizationTest, StaticCalibrationSetsActivationRangesFromTheCalibrationData) {
  torch::manual_seed(4);
  Mlp model;
  const at::Tensor b1 = at::randn({8, 4}), b2 = at::randn({8, 4}) * 3;
  at::Tensor reference;
  {
    torch::NoGradGuard no_grad;
    reference = model->forward(b2);
  }
  QuantizationConfig config;
  config.approach = "post_training_static_quant";
  config.activation_observer = "minmax";
  Quantization ptq(config);
  EXPECT_FALSE(ptq.needs_training());
  TrainState state;
  state.model = model.ptr();
  ASSERT_TRUE(ptq.on_train_begin(state).ok());
  // The scheduler's calibration function: eval-mode forwards without gradients.
  model->eval();
  {
    torch::NoGradGuard no_grad;
    model->forward(b1);
    EXPECT_TRUE(at::equal(model->forward(b2), reference));  // Calibration computes fp32.
  }
  ASSERT_TRUE(ptq.on_train_end(state).ok());
  const at::Tensor both = at::cat({b1, b2});
  const QuantParams expected = ComputeQParams(both.min().reshape({1}), both.max().reshape({1}),
                                              QuantScheme::Uint8AffinePerTensor());
  const QuantParams got = Find(ptq, "fc1").input_qparams();
  EXPECT_TRUE(at::equal(got.scale, expected.scale));
  EXPECT_TRUE(at::equal(got.zero_point, expected.zero_point));
  // After freezing the model runs fake-quant, close to the fp32 reference.
  torch::NoGradGuard no_grad;
  const at::Tensor quantized = model->forward(b2);
  EXPECT_FALSE(at::equal(quantized, reference));
  EXPECT_TRUE(at::allclose(quantized, reference, 0, 0.05));
}

TEST(QuantizationTest, StaticCalibrationWithKlAndMse) {
  for (const char* observer : {"kl", "mse", "percentile"}) {
    torch::manual_seed(5);
    Mlp model;
    QuantizationConfig config;
    config.approach = "post_training_static_quant";
    config.activation_observer = observer;
    config.weight_observer = observer;
    Quantization ptq(config);
    TrainState state;
    state.model = model.ptr();
    ASSERT_TRUE(ptq.on_train_begin(state).ok()) << observer;
    torch::NoGradGuard no_grad;
    model->eval();
    const Data data = Regression(256);
    at::Tensor reference = model->forward(data.x);
    ASSERT_TRUE(ptq.on_train_end(state).ok()) << observer;
    const float error = (model->forward(data.x) - reference).abs().max().item<float>();
    EXPECT_LT(error, 0.1f) << observer << " max error " << error << " of outputs up to "
                           << reference.abs().max().item<float>();
  }
}

TEST(QuantizationTest, CalibrationThatNeverRanIsAnError) {
  Mlp model;
  QuantizationConfig config;
  config.approach = "post_training_static_quant";
  config.activation_observer = "minmax";
  Quantization ptq(config);
  TrainState state;
  state.model = model.ptr();
  ASSERT_TRUE(ptq.on_train_begin(state).ok());
  const absl::Status status = ptq.on_train_end(state);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(status.message().find("calibration never reached 3 of 3 quantized Linears (fc1, fc2, "
                                  "out)"),
            absl::string_view::npos)
      << status;
}

TEST(QuantizationTest, DynamicQuantizationNeedsNoCalibrationData) {
  torch::manual_seed(6);
  Mlp model;
  QuantizationConfig config;
  config.approach = "post_training_dynamic_quant";
  Quantization dynamic(config);
  EXPECT_FALSE(dynamic.needs_training());
  TrainState state;
  state.model = model.ptr();
  ASSERT_TRUE(dynamic.on_train_begin(state).ok());
  ASSERT_TRUE(dynamic.on_train_end(state).ok());
  EXPECT_EQ(Find(dynamic, "fc2").input_observer(), nullptr);
  EXPECT_EQ(Find(dynamic, "fc2").output_observer(), nullptr);
  EXPECT_EQ(dynamic.summary().values.at("requantized_outputs"), 0);
  torch::NoGradGuard no_grad;
  EXPECT_EQ(model->forward(at::randn({3, 4})).sizes(), at::IntArrayRef({3, 1}));
}

// The scheduler runs a dynamic PTQ shot without a calibration function (dynamic
// quantization computes activation ranges per call), while static PTQ still demands one.
TEST(QuantizationTest, SchedulerRunsDynamicQuantizationWithoutACalibrationFunction) {
  torch::manual_seed(6);
  Mlp model;
  QuantizationConfig config;
  config.approach = "post_training_dynamic_quant";
  auto dynamic = std::make_shared<Quantization>(config);
  EXPECT_FALSE(dynamic->needs_calibration());
  Scheduler scheduler;
  scheduler.set_model(model.ptr());
  scheduler.append(dynamic);
  absl::StatusOr<FitResult> result = scheduler.fit();
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(dynamic->frozen());
  EXPECT_EQ(QuantizedModules(*result->model).size(), 3u);
  ASSERT_EQ(result->shots.size(), 1u);
  EXPECT_FALSE(result->shots[0].trained);

  Mlp static_model;
  config.approach = "post_training_static_quant";
  auto ptq = std::make_shared<Quantization>(config);
  EXPECT_TRUE(ptq->needs_calibration());
  Scheduler static_scheduler;
  static_scheduler.set_model(static_model.ptr());
  static_scheduler.append(ptq);
  result = static_scheduler.fit();
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().message(),
            "shot 1 (quantization): needs calibration but no calibration function is set");
}

// Embeddings, 8-bit weight-only (off by default): each row takes values k * scale with one
// per-row scale, zeros stay zero, values move by at most half a step.
TEST(QuantizationTest, EmbeddingWeightOnlyQuantizationKeepsZerosAndTolerance) {
  struct ModelImpl : torch::nn::Module {
    ModelImpl() {
      register_module("embed", torch::nn::Embedding(50, 16));
      register_module("fc", layers::Linear(16, 4));
    }
  };
  for (const bool enabled : {false, true}) {
    torch::manual_seed(8);
    auto model = std::make_shared<ModelImpl>();
    at::Tensor table = model->named_modules()["embed"]->as<torch::nn::Embedding>()->weight;
    {
      torch::NoGradGuard no_grad;
      table[3].zero_();                            // A padding row.
      table.masked_fill_(table.abs() < 0.3, 0.0);  // Pruned entries.
    }
    const at::Tensor before = table.detach().clone();
    QuantizationConfig config;
    config.approach = "post_training_dynamic_quant";
    config.quantize_embeddings = enabled;
    Quantization q(config);
    TrainState state;
    state.model = model;
    ASSERT_TRUE(q.on_train_begin(state).ok());
    ASSERT_TRUE(q.on_train_end(state).ok());
    EXPECT_EQ(q.summary().values.at("quantized_embeddings"), enabled ? 1 : 0);
    const at::Tensor after = table.detach();
    if (!enabled) {
      EXPECT_TRUE(at::equal(after, before));
      continue;
    }
    EXPECT_FALSE(at::equal(after, before));
    const at::Tensor zeros = before == 0;
    EXPECT_TRUE(at::equal(after.masked_select(zeros), at::zeros({zeros.sum().item<int64_t>()})));
    const at::Tensor step = std::get<0>(before.abs().max(1)) / 127.5;  // int8 symmetric.
    const at::Tensor error = std::get<0>((after - before).abs().max(1));
    EXPECT_TRUE((error <= step * 0.5 + 1e-6).all().item<bool>());
    for (int64_t row = 0; row < after.size(0); ++row) {
      if (step[row].item<float>() == 0) continue;
      const at::Tensor levels = after[row] / step[row];
      EXPECT_LT((levels - levels.round()).abs().max().item<float>(), 1e-3) << "row " << row;
    }
  }
}

TEST(QuantizationTest, ConfigErrorsNameTheKey) {
  Mlp model;
  QuantizationConfig config;
  config.activation.dtype = "fp8";
  Quantization q(config);
  TrainState state;
  state.model = model.ptr();
  const absl::Status status = q.on_train_begin(state);
  EXPECT_EQ(status.message(),
            "quantization config: activation.dtype is \"fp8\"; supported: int8, uint8");
  EXPECT_TRUE(QuantizedModules(*model).empty());
}

TEST(QuantizationTest, StateRoundTripRestoresEveryObserver) {
  const Data data = Regression(16);
  auto run = [&](Quantization& q, Mlp& model, int steps) {
    TrainState state;
    state.model = model.ptr();
    model->train();
    EXPECT_TRUE(q.on_train_begin(state).ok());
    torch::optim::AdamW optimizer(model->parameters(), torch::optim::AdamWOptions(1e-2));
    for (int i = 0; i < steps; ++i) Step(q, state, optimizer, model, data);
  };
  torch::manual_seed(7);
  Mlp a;
  Quantization qa(QuantizationConfig{});
  run(qa, a, 5);
  const TensorMap saved = qa.state();
  EXPECT_EQ(saved.count("fc1/input_observer/min"), 1u);
  EXPECT_EQ(saved.count("out/weight_observer/max"), 1u);

  // Loaded before on_train_begin (as a resumed run may): applied after preparation.
  torch::manual_seed(7);
  Mlp b;
  Quantization qb(QuantizationConfig{});
  ASSERT_TRUE(qb.load_state(saved).ok());
  EXPECT_EQ(qb.state().size(), saved.size());
  run(qb, b, 0);
  const TensorMap restored = qb.state();
  ASSERT_EQ(restored.size(), saved.size());
  for (const auto& [key, tensor] : saved) EXPECT_TRUE(at::equal(tensor, restored.at(key))) << key;

  // Loaded after on_train_begin, and its errors.
  torch::manual_seed(7);
  Mlp c;
  Quantization qc(QuantizationConfig{});
  run(qc, c, 0);
  ASSERT_TRUE(qc.load_state(saved).ok());
  EXPECT_TRUE(at::equal(qc.state().at("fc2/input_observer/max"), saved.at("fc2/input_observer/max")));
  TensorMap extra = saved;
  extra["fc9/input_observer/min"] = at::zeros({1});
  EXPECT_EQ(qc.load_state(extra).message(),
            "quantization state: key 'fc9/input_observer/min' names no quantized module");
  TensorMap partial;
  for (const auto& [key, tensor] : saved) {
    if (key.rfind("fc2/", 0) != 0) partial[key] = tensor;
  }
  EXPECT_NE(qc.load_state(partial).message().find("nothing for quantized module 'fc2'"),
            absl::string_view::npos);
}

// Resume mid-QAT through the built-in Trainer: a run killed after 7 steps and resumed from
// its step-5 checkpoint ends with the same weights and observers as an uninterrupted one.
class Batches : public BatchSource {
 public:
  explicit Batches(int64_t count) {
    torch::manual_seed(123);
    for (int64_t i = 0; i < count; ++i) {
      const Data d = Regression(8, 100 + i);
      batches_.push_back({{"x", d.x}, {"y", d.y}});
    }
  }
  void Restart(uint64_t epoch) override {
    order_ = at::randperm(int64_t(batches_.size()),
                          at::make_generator<at::CPUGeneratorImpl>(1000 + epoch));
    next_ = 0;
  }
  absl::StatusOr<bool> Next(TensorMap* batch) override {
    if (fail_after_ >= 0 && served_ >= fail_after_) return absl::AbortedError("killed");
    if (next_ >= int64_t(batches_.size())) return false;
    *batch = batches_[order_[next_++].item<int64_t>()];
    ++served_;
    return true;
  }
  std::optional<int64_t> num_batches() const override { return batches_.size(); }
  int64_t fail_after_ = -1;

 private:
  std::vector<TensorMap> batches_;
  at::Tensor order_;
  int64_t next_ = 0;
  int64_t served_ = 0;
};

TEST(QuantizationTest, ResumesMidQatThroughTheTrainer) {
  TaskFunctions task;
  task.forward = [](torch::nn::Module& model, const TensorMap& batch) {
    return TensorMap{{"prediction", static_cast<MlpImpl&>(model).forward(batch.at("x"))}};
  };
  task.loss = [](const TensorMap& out, const TensorMap& batch) {
    return at::mse_loss(out.at("prediction"), batch.at("y"));
  };
  const char* root = std::getenv("TEST_TMPDIR");
  const std::string dir = std::string(root ? root : "/tmp") + "/qat_resume";
  std::filesystem::remove_all(dir);
  TrainerConfig config;
  config.learning_rate = 1e-2;
  config.num_train_epochs = 2;
  config.progress = false;
  config.save_steps = 5;

  auto train = [&](const std::string& output_dir, bool resume, int64_t fail_after,
                   Quantization& q, Mlp& model) {
    Batches data(6);
    data.fail_after_ = fail_after;
    TrainerConfig c = config;
    c.output_dir = output_dir;
    c.resume = resume;
    Trainer trainer(c, task, &data);
    return trainer.Train(model.ptr(), &q);
  };
  torch::manual_seed(0);
  Mlp straight;
  Quantization q_straight(QuantizationConfig{});
  ASSERT_TRUE(train(dir + "/straight", false, -1, q_straight, straight).ok());

  torch::manual_seed(0);
  Mlp killed;
  Quantization q_killed(QuantizationConfig{});
  EXPECT_FALSE(train(dir + "/resumed", false, 7, q_killed, killed).ok());
  torch::manual_seed(0);
  Mlp resumed;
  Quantization q_resumed(QuantizationConfig{});
  absl::StatusOr<TrainResult> result = train(dir + "/resumed", true, -1, q_resumed, resumed);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->resumed);
  EXPECT_EQ(result->resumed_from_step, 5);
  EXPECT_EQ(result->steps, 12);

  for (const auto& item : straight->named_parameters()) {
    EXPECT_TRUE(at::equal(item.value(), resumed->named_parameters()[item.key()])) << item.key();
  }
  const TensorMap a = q_straight.state(), b = q_resumed.state();
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [key, tensor] : a) EXPECT_TRUE(at::equal(tensor, b.at(key))) << key;
  EXPECT_TRUE(q_resumed.frozen());
}

}  // namespace
}  // namespace compressor
