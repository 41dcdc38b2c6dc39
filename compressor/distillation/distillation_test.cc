#include "compressor/distillation/distillation.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/nn/modules/linear.h>
#include <torch/optim/adamw.h>
#include <torch/utils.h>

#include "base/safetensors.h"
#include "compressor/component.h"
#include "compressor/distillation/kd_loss.h"

namespace compressor {
namespace {

// KL(softmax(t/T) || softmax(s/T)) * T^2 for one position, written out with exp/log.
double HandKl(const std::vector<double>& s, const std::vector<double>& t, double temperature) {
  double zs = 0, zt = 0;
  for (size_t c = 0; c < s.size(); ++c) {
    zs += std::exp(s[c] / temperature);
    zt += std::exp(t[c] / temperature);
  }
  double kl = 0;
  for (size_t c = 0; c < s.size(); ++c) {
    const double p = std::exp(t[c] / temperature) / zt;
    const double q = std::exp(s[c] / temperature) / zs;
    kl += p * std::log(p / q);
  }
  return kl * temperature * temperature;
}

at::Tensor Tensor2d(const std::vector<double>& values, int64_t rows) {
  return at::tensor(values, at::kDouble).view({rows, -1});
}

DistillationConfig LogitConfig(const std::string& loss_type = "KL") {
  DistillationConfig config;
  config.logit_names = {"logits"};
  config.loss_types = {loss_type};
  return config;
}

// The teacher (and the student) are Linear layers reading input "x" to output "logits".
TensorMap LinearForward(torch::nn::Module& model, const TensorMap& batch) {
  return {{"logits", model.as<torch::nn::Linear>()->forward(batch.at("x"))}};
}

std::string ErrorOf(const DistillationConfig& config) {
  return std::string(config.Validate("recipe.yaml: distillation").message());
}

std::string ThrownMessage(const std::function<void()>& body) {
  try {
    body();
  } catch (const c10::Error& e) {
    return e.what_without_backtrace();
  }
  return "(nothing thrown)";
}

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(DistillationTest, ConfigErrorsNameTheKeyAndValue) {
  EXPECT_TRUE(LogitConfig().Validate("x").ok());

  DistillationConfig config = LogitConfig("XE");
  EXPECT_EQ(ErrorOf(config),
            "recipe.yaml: distillation: loss_types[0] is \"XE\"; supported: CE, KL, MSE");
  config = LogitConfig();
  config.loss_weights = {0.2, 0.3, 0.5};
  EXPECT_TRUE(Contains(ErrorOf(config), ": loss_weights has 3 values; expected 2"))
      << ErrorOf(config);
  config.loss_weights = {1.0, -0.5};
  EXPECT_TRUE(Contains(ErrorOf(config), "loss_weights must be finite and >= 0, got [1, -0.5]"))
      << ErrorOf(config);
  config = LogitConfig();
  config.temperature = 0;
  EXPECT_EQ(ErrorOf(config), "recipe.yaml: distillation: temperature must be > 0, got 0");
  config.temperature = -2;
  EXPECT_TRUE(Contains(ErrorOf(config), "temperature must be > 0, got -2"));
  config = LogitConfig();
  config.logit_names = {"start_logits", "end_logits"};
  config.loss_types = {"CE", "KL", "MSE"};
  EXPECT_TRUE(Contains(ErrorOf(config), "loss_types has 3 entries; expected 1")) << ErrorOf(config);
  config.loss_types = {"CE", "MSE"};
  EXPECT_TRUE(config.Validate("x").ok());
  EXPECT_EQ(config.loss_type(1), "MSE");
  config.logit_names = {};
  EXPECT_TRUE(Contains(ErrorOf(config), "logit_names and layer_mappings are both empty"));

  config = LogitConfig();
  config.layer_mappings = {{"hidden", "teacher_hidden", "CE", 1.0, 0, 0}};
  EXPECT_TRUE(
      Contains(ErrorOf(config), "layer_mappings[0].loss_type is \"CE\"; supported: MSE, L1, KL"))
      << ErrorOf(config);
  config.layer_mappings = {{"hidden", "teacher_hidden", "MSE", 1.0, 256, 0}};
  EXPECT_TRUE(Contains(ErrorOf(config), "layer_mappings[0].student_width/teacher_width"))
      << ErrorOf(config);
  config.layer_mappings = {{"attn", "teacher_attn", "KL", 1.0, 4, 8}};
  EXPECT_TRUE(Contains(ErrorOf(config), "layer_mappings[0].loss_type KL"));
  config.layer_mappings = {{"a", "x", "MSE", 1.0, 0, 0}, {"a", "y", "L1", 1.0, 0, 0}};
  EXPECT_TRUE(Contains(ErrorOf(config), "layer_mappings[1].student_output \"a\""));

  // The hook checks the config too, before touching the teacher.
  torch::nn::Linear teacher(3, 3);
  Distillation distillation(LogitConfig("XE"), teacher.ptr(), LinearForward);
  TrainState state;
  const absl::Status status = distillation.on_train_begin(state);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(std::string(status.message()), "distillation config: loss_types[0]"));
  EXPECT_TRUE(teacher->is_training());
}

TEST(DistillationTest, CombinesTaskAndKdLossWithTheConfiguredWeights) {
  const std::vector<double> s = {1, 2, 3, 0, 1, 0}, t = {3, 2, 1, 0.5, -1, 2};
  const double kd = (HandKl({1, 2, 3}, {3, 2, 1}, 2.0) + HandKl({0, 1, 0}, {0.5, -1, 2}, 2.0)) / 2;
  const TensorMap student = {{"logits", Tensor2d(s, 2)}};
  const TensorMap teacher = {{"logits", Tensor2d(t, 2)}};
  const at::Tensor task = at::tensor(1.7, at::kDouble);
  torch::nn::Linear unused(3, 3);

  DistillationConfig config = LogitConfig();  // weights 0.5 / 0.5
  Distillation equal(config, unused.ptr(), LinearForward);
  TrainState state;
  EXPECT_NEAR(equal.on_after_compute_loss(state, {}, student, task, &teacher).item<double>(),
              0.5 * 1.7 + 0.5 * kd, 1e-12);
  EXPECT_NEAR(state.logs.at("loss/kd"), kd, 1e-12);
  EXPECT_NEAR(state.logs.at("loss/task"), 1.7, 1e-12);
  EXPECT_EQ(equal.teacher_forward_calls(), 0);  // Outputs given: the teacher did not run.
  EXPECT_TRUE(Contains(ThrownMessage([&] {
                         equal.on_after_compute_loss(state, {}, student, at::Tensor(), &teacher);
                       }),
                       "add_origin_loss is set with task weight 0.5 but the task loss is "
                       "undefined"));

  config.loss_weights = {0.0, 1.0};  // INC's SQuAD example.
  Distillation kd_only(config, unused.ptr(), LinearForward);
  EXPECT_NEAR(kd_only.on_after_compute_loss(state, {}, student, task, &teacher).item<double>(), kd,
              1e-12);

  config.loss_weights = {0.5, 0.5};
  config.add_origin_loss = false;
  Distillation no_origin(config, unused.ptr(), LinearForward);
  EXPECT_NEAR(
      no_origin.on_after_compute_loss(state, {}, student, at::Tensor(), &teacher).item<double>(),
      0.5 * kd, 1e-12);
}

TEST(DistillationTest, KdIsTheMeanOverLogitNamesWithTheirOwnLossTypes) {
  DistillationConfig config;
  config.logit_names = {"start_logits", "end_logits"};
  config.loss_types = {"KL", "MSE"};
  config.loss_weights = {0.0, 1.0};
  const TensorMap student = {{"start_logits", Tensor2d({1, 2, 3}, 1)},
                             {"end_logits", Tensor2d({1, 2, 3}, 1)}};
  const TensorMap teacher = {{"start_logits", Tensor2d({3, 2, 1}, 1)},
                             {"end_logits", Tensor2d({3, 2, 1}, 1)}};
  torch::nn::Linear unused(3, 3);
  Distillation distillation(config, unused.ptr(), LinearForward);
  TrainState state;
  const double expected = (HandKl({1, 2, 3}, {3, 2, 1}, 2.0) + 8.0 / 3.0) / 2;
  EXPECT_NEAR(
      distillation.on_after_compute_loss(state, {}, student, at::Tensor(), &teacher).item<double>(),
      expected, 1e-12);
}

TEST(DistillationTest, FreezesTheTeacherAndTrainsOnlyTheStudent) {
  torch::manual_seed(0);
  torch::nn::Linear teacher(4, 3);
  torch::nn::Linear student(4, 3);
  Distillation distillation(LogitConfig(), teacher.ptr(), LinearForward);
  TrainState state;
  state.model = student.ptr();
  ASSERT_TRUE(distillation.on_train_begin(state).ok());
  EXPECT_FALSE(teacher->is_training());
  for (const at::Tensor& p : teacher->parameters()) EXPECT_FALSE(p.requires_grad());
  EXPECT_TRUE(student->weight.requires_grad());
  EXPECT_TRUE(distillation.trainable_parameters().empty());

  const TensorMap inputs = {{"x", at::randn({5, 4})}};
  const at::Tensor logits = student(inputs.at("x"));
  const at::Tensor task = logits.pow(2).mean();
  const at::Tensor loss = distillation.on_after_compute_loss(state, inputs, {{"logits", logits}},
                                                             task, /*teacher_outputs=*/nullptr);
  EXPECT_EQ(distillation.teacher_forward_calls(), 1);
  const at::Tensor teacher_logits = teacher(inputs.at("x")).detach();
  EXPECT_NEAR(
      loss.item<float>(),
      (0.5 * task + 0.5 * LogitDistillationLoss(logits, teacher_logits, "KL", 2.0)).item<float>(),
      1e-6);
  loss.backward();
  EXPECT_FALSE(teacher->weight.grad().defined());
  EXPECT_FALSE(teacher->bias.grad().defined());
  ASSERT_TRUE(student->weight.grad().defined());
  EXPECT_GT(student->weight.grad().abs().sum().item<float>(), 0.0f);
}

TEST(DistillationTest, RejectsATeacherThatIsOrSharesTheStudent) {
  torch::nn::Linear student(4, 3);
  TrainState state;
  state.model = student.ptr();
  Distillation same(LogitConfig(), student.ptr(), LinearForward);
  EXPECT_TRUE(Contains(std::string(same.on_train_begin(state).message()),
                       "the teacher is the student model itself"));

  // A teacher wrapping the student's layer: freezing it would freeze the student.
  auto wrapper = std::make_shared<torch::nn::Module>();
  wrapper->register_module("inner", student);
  Distillation shared(LogitConfig(), wrapper, LinearForward);
  const absl::Status status = shared.on_train_begin(state);
  EXPECT_TRUE(Contains(std::string(status.message()),
                       "teacher parameter \"inner.weight\" shares memory with student "
                       "parameter \"weight\""))
      << status;
  EXPECT_TRUE(student->weight.requires_grad());
}

TEST(DistillationTest, MissingOutputNamesTheKeyAndListsTheAvailableOnes) {
  torch::nn::Linear unused(3, 3);
  Distillation distillation(LogitConfig(), unused.ptr(), LinearForward);
  TrainState state;
  const TensorMap student = {{"start_logits", at::zeros({1, 3})},
                             {"end_logits", at::zeros({1, 3})}};
  const TensorMap teacher = {{"logits", at::zeros({1, 3})}};
  EXPECT_EQ(ThrownMessage([&] {
              distillation.on_after_compute_loss(state, {}, student, at::zeros({}), &teacher);
            }),
            "distillation: student output \"logits\" not found; available: [end_logits, "
            "start_logits]");
  const TensorMap student_ok = {{"logits", at::zeros({1, 3})}};
  const TensorMap teacher_bad = {{"scores", at::zeros({1, 3})}};
  EXPECT_EQ(ThrownMessage([&] {
              distillation.on_after_compute_loss(state, {}, student_ok, at::zeros({}),
                                                 &teacher_bad);
            }),
            "distillation: teacher output \"logits\" not found; available: [scores]");
}

TEST(DistillationTest, MaskKeyExcludesIgnoredPositionsFromLogitsItFits) {
  // MLM logits [1, 2, 3] masked by labels [1, 2]; NSP logits [1, 2] are not [1, 2]-led
  // positions, so every NSP position counts.
  DistillationConfig config;
  config.logit_names = {"logits", "nsp_logits"};
  config.loss_types = {"KL"};
  config.loss_weights = {0.0, 1.0};
  config.kd_mask_key = "labels";
  const TensorMap inputs = {{"labels", at::tensor(std::vector<int64_t>{7, -100}).view({1, 2})}};
  const TensorMap student = {
      {"logits", at::tensor(std::vector<double>{1, 2, 3, 40, -40, 0}).view({1, 2, 3})},
      {"nsp_logits", Tensor2d({0.5, -0.5}, 1)}};
  const TensorMap teacher = {
      {"logits", at::tensor(std::vector<double>{3, 2, 1, -30, 0, 30}).view({1, 2, 3})},
      {"nsp_logits", Tensor2d({1, 1}, 1)}};
  torch::nn::Linear unused(3, 3);
  Distillation distillation(config, unused.ptr(), LinearForward);
  TrainState state;
  const double expected =
      (HandKl({1, 2, 3}, {3, 2, 1}, 2.0) + HandKl({0.5, -0.5}, {1, 1}, 2.0)) / 2;
  EXPECT_NEAR(distillation.on_after_compute_loss(state, inputs, student, at::Tensor(), &teacher)
                  .item<double>(),
              expected, 1e-12);

  // A mask that fits no logits is a configuration error, not silently ignored.
  config.logit_names = {"nsp_logits"};
  Distillation misfit(config, unused.ptr(), LinearForward);
  EXPECT_TRUE(Contains(ThrownMessage([&] {
                         misfit.on_after_compute_loss(state, inputs, student, at::Tensor(),
                                                      &teacher);
                       }),
                       "kd_mask_key \"labels\" has shape [1, 2], which fits none of the logits"));
}

DistillationConfig ProjectionConfig() {
  DistillationConfig config;
  config.layer_mappings = {{"hidden", "teacher_hidden", "MSE", 2.0, 2, 3}};
  config.add_origin_loss = false;
  return config;
}

TEST(DistillationTest, TrainsTheLearnedProjection) {
  torch::manual_seed(3);
  torch::nn::Linear unused(3, 3);
  Distillation distillation(ProjectionConfig(), unused.ptr(), LinearForward);
  const std::vector<at::Tensor> parameters = distillation.trainable_parameters();
  ASSERT_EQ(parameters.size(), 2u);
  EXPECT_EQ(parameters[0].sizes(), at::IntArrayRef({3, 2}));
  EXPECT_EQ(parameters[1].sizes(), at::IntArrayRef({3}));

  const at::Tensor s = at::randn({4, 2});
  const at::Tensor t = at::randn({4, 3});
  TrainState state;
  const TensorMap teacher = {{"teacher_hidden", t}};
  const at::Tensor loss =
      distillation.on_after_compute_loss(state, {}, {{"hidden", s}}, at::Tensor(), &teacher);
  // Independent: 2.0 * mean((s W^T + b - t)^2).
  const at::Tensor projected = s.matmul(parameters[0].detach().t()) + parameters[1].detach();
  const float expected = 2.0f * (projected - t).pow(2).mean().item<float>();
  EXPECT_NEAR(loss.item<float>(), expected, 1e-5);
  EXPECT_NEAR(state.logs.at("loss/layer/hidden"), expected / 2, 1e-5);
  EXPECT_EQ(state.logs.count("loss/kd"), 0u);

  torch::optim::AdamW optimizer(parameters, torch::optim::AdamWOptions(0.1));
  loss.backward();
  ASSERT_TRUE(parameters[0].grad().defined());
  ASSERT_TRUE(parameters[1].grad().defined());
  const at::Tensor before = parameters[0].detach().clone();
  optimizer.step();
  EXPECT_FALSE(at::equal(before, parameters[0].detach()));
}

TEST(DistillationTest, StateSavesAndRestoresTheProjections) {
  torch::nn::Linear unused(3, 3);
  torch::manual_seed(1);
  Distillation saved(ProjectionConfig(), unused.ptr(), LinearForward);
  torch::manual_seed(2);
  Distillation restored(ProjectionConfig(), unused.ptr(), LinearForward);
  const TensorMap state = saved.state();
  ASSERT_EQ(state.size(), 2u);
  ASSERT_EQ(state.count("projection.0.weight"), 1u);
  ASSERT_EQ(state.count("projection.0.bias"), 1u);

  const at::Tensor live = restored.trainable_parameters()[0];
  EXPECT_FALSE(at::equal(live, state.at("projection.0.weight")));
  ASSERT_TRUE(restored.load_state(state).ok());
  // Restored in place: an optimizer holding the old tensors keeps training the live ones.
  EXPECT_TRUE(at::equal(live, state.at("projection.0.weight")));
  EXPECT_TRUE(at::equal(restored.trainable_parameters()[1], state.at("projection.0.bias")));

  TensorMap missing = state;
  missing.erase("projection.0.bias");
  EXPECT_TRUE(Contains(std::string(restored.load_state(missing).message()),
                       "\"projection.0.bias\" is missing"));
  TensorMap wrong_shape = state;
  wrong_shape["projection.0.weight"] = at::zeros({2, 3});
  EXPECT_TRUE(Contains(std::string(restored.load_state(wrong_shape).message()),
                       "\"projection.0.weight\" has shape [2, 3], expected [3, 2]"));
  TensorMap extra = state;
  extra["projection.4.weight"] = at::zeros({3, 2});
  EXPECT_FALSE(restored.load_state(extra).ok());
}

TEST(DistillationTest, TeacherCacheRunsTheTeacherOncePerExampleAcrossEpochs) {
  torch::manual_seed(4);
  torch::nn::Linear teacher(4, 3);
  torch::nn::Linear student(4, 3);
  DistillationConfig config = LogitConfig();
  config.loss_weights = {0.0, 1.0};
  config.teacher_cache_key = "example_index";
  int64_t forwards = 0;
  auto counting = [&](torch::nn::Module& model, const TensorMap& batch) {
    ++forwards;
    return LinearForward(model, batch);
  };
  Distillation distillation(config, teacher.ptr(), counting);
  TrainState state;
  state.model = student.ptr();
  ASSERT_TRUE(distillation.on_train_begin(state).ok());
  const at::Tensor x = at::randn({6, 4});
  const std::vector<std::vector<int64_t>> epochs[] = {{{0, 1}, {2, 3}, {4, 5}},
                                                      {{5, 0}, {3, 1}, {2, 4}}};
  for (const auto& epoch : epochs) {
    for (const std::vector<int64_t>& ids : epoch) {
      const at::Tensor index = at::tensor(ids, at::kLong);
      const TensorMap inputs = {{"x", x.index_select(0, index)}, {"example_index", index}};
      const at::Tensor logits = student(inputs.at("x"));
      const at::Tensor loss = distillation.on_after_compute_loss(
          state, inputs, {{"logits", logits}}, at::Tensor(), nullptr);
      // The cached targets are the teacher's outputs for these very examples.
      const at::Tensor expected =
          LogitDistillationLoss(logits, teacher(inputs.at("x")).detach(), "KL", 2.0);
      EXPECT_NEAR(loss.item<float>(), expected.item<float>(), 1e-6);
    }
  }
  EXPECT_EQ(forwards, 3);
  EXPECT_EQ(distillation.teacher_forward_calls(), 3);
}

std::string TempDir(const std::string& name) {
  const char* root = std::getenv("TEST_TMPDIR");
  const std::string dir = std::string(root ? root : "/tmp") + "/" + name;
  std::filesystem::remove_all(dir);
  return dir;
}

std::vector<std::string> FileNames(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

// A teacher with two cached outputs (a logit and a layer target) and one the losses do
// not read; every example's rows it produced are recorded, by example index.
struct RecordingTeacher {
  int64_t forwards = 0;
  std::map<int64_t, TensorMap> produced;

  ForwardFunction Forward() {
    return [this](torch::nn::Module& model, const TensorMap& batch) {
      ++forwards;
      const at::Tensor x = batch.at("x");
      TensorMap outputs = {{"logits", model.as<torch::nn::Linear>()->forward(x)},
                           {"teacher_hidden", x.tanh()},
                           {"unused", x.sum(1)}};
      const at::Tensor ids = batch.at("example_index");
      for (int64_t j = 0; j < ids.size(0); ++j) {
        for (const char* name : {"logits", "teacher_hidden"}) {
          produced[ids[j].item<int64_t>()][name] = outputs.at(name)[j].clone();
        }
      }
      return outputs;
    };
  }
};

DistillationConfig DiskCacheConfig(const std::string& dir) {
  DistillationConfig config = LogitConfig();
  config.loss_weights = {0.0, 1.0};
  config.layer_mappings = {{"hidden", "teacher_hidden", "MSE", 1.0, 0, 0}};
  config.teacher_cache_key = "example_index";
  config.teacher_cache_dir = dir;
  return config;
}

TensorMap CacheBatch(const at::Tensor& x, const std::vector<int64_t>& ids) {
  const at::Tensor index = at::tensor(ids, at::kLong);
  return {{"x", x.index_select(0, index)}, {"example_index", index}};
}

TensorMap StudentOutputs(torch::nn::Linear& student, const TensorMap& inputs) {
  return {{"logits", student(inputs.at("x"))}, {"hidden", inputs.at("x") * 0.5}};
}

TEST(DistillationTest, TeacherCacheDirRunsTheTeacherOncePerExampleAcrossEpochsAndRuns) {
  const std::string dir = TempDir("teacher_cache_runs") + "/nested";
  torch::manual_seed(6);
  torch::nn::Linear teacher(4, 3);
  torch::nn::Linear student(4, 3);
  const at::Tensor x = at::randn({7, 4});

  RecordingTeacher first_run;
  Distillation first(DiskCacheConfig(dir), teacher.ptr(), first_run.Forward());
  TrainState state;
  state.model = student.ptr();
  ASSERT_TRUE(first.on_train_begin(state).ok());
  EXPECT_TRUE(std::filesystem::is_directory(dir));  // Created by on_train_begin.
  const std::vector<std::vector<int64_t>> epochs[] = {{{0, 1}, {2, 3}, {4, 5}},
                                                      {{5, 0}, {3, 1}, {2, 4}}};
  for (const auto& epoch : epochs) {
    for (const std::vector<int64_t>& ids : epoch) {
      const TensorMap inputs = CacheBatch(x, ids);
      first.on_after_compute_loss(state, inputs, StudentOutputs(student, inputs), at::Tensor(),
                                  nullptr);
    }
  }
  EXPECT_EQ(first_run.forwards, 3);
  EXPECT_EQ(first.teacher_forward_calls(), 3);
  EXPECT_EQ(FileNames(dir), (std::vector<std::string>{"0.safetensors", "1.safetensors",
                                                      "2.safetensors", "3.safetensors",
                                                      "4.safetensors", "5.safetensors"}));
  ComponentSummary summary = first.summary();
  EXPECT_EQ(summary.values.at("teacher_cache/files_written"), 6.0);
  EXPECT_EQ(summary.values.at("teacher_cache/files_read"), 6.0);
  EXPECT_EQ(summary.notes[1], "teacher_cache_key: example_index, teacher_cache_dir: " + dir +
                                  " (6 files read, 6 written)");

  // Each file holds exactly the needed outputs, bit for bit what the teacher produced.
  for (int64_t id = 0; id < 6; ++id) {
    auto reader = base::SafetensorsReader::Open(dir + "/" + std::to_string(id) + ".safetensors");
    ASSERT_TRUE(reader.ok()) << reader.status();
    ASSERT_EQ((*reader)->tensors().size(), 2u);
    for (const char* name : {"logits", "teacher_hidden"}) {
      auto cached = (*reader)->Load(name);
      ASSERT_TRUE(cached.ok()) << cached.status();
      const at::Tensor& fresh = first_run.produced.at(id).at(name);
      EXPECT_EQ(cached->scalar_type(), fresh.scalar_type());
      EXPECT_TRUE(at::equal(*cached, fresh)) << "example " << id << " " << name;
    }
  }

  // A second run on the same directory never runs its teacher for cached examples (its
  // teacher here differs, so a forward would show in the loss), and its losses equal
  // bit-exactly those computed from the first teacher's fresh outputs.
  torch::nn::Linear other_teacher(4, 3);
  RecordingTeacher second_run;
  Distillation second(DiskCacheConfig(dir), other_teacher.ptr(), second_run.Forward());
  ASSERT_TRUE(second.on_train_begin(state).ok());
  DistillationConfig uncached = DiskCacheConfig("");
  uncached.teacher_cache_key = "";
  Distillation reference(uncached, teacher.ptr(), LinearForward);
  const std::vector<std::vector<int64_t>> second_epoch = {{0, 1, 2}, {3, 4, 5}};
  for (const std::vector<int64_t>& ids : second_epoch) {
    const TensorMap inputs = CacheBatch(x, ids);
    const TensorMap student_outputs = StudentOutputs(student, inputs);
    TensorMap fresh;
    for (const char* name : {"logits", "teacher_hidden"}) {
      std::vector<at::Tensor> rows;
      for (int64_t id : ids) rows.push_back(first_run.produced.at(id).at(name));
      fresh[name] = at::stack(rows);
    }
    const at::Tensor cached_loss =
        second.on_after_compute_loss(state, inputs, student_outputs, at::Tensor(), nullptr);
    const at::Tensor fresh_loss =
        reference.on_after_compute_loss(state, inputs, student_outputs, at::Tensor(), &fresh);
    EXPECT_TRUE(at::equal(cached_loss, fresh_loss))
        << cached_loss.item<float>() << " vs " << fresh_loss.item<float>();
  }
  EXPECT_EQ(second_run.forwards, 0);
  // A batch with a new example runs the teacher once and writes only the new file.
  const TensorMap inputs = CacheBatch(x, {5, 6});
  second.on_after_compute_loss(state, inputs, StudentOutputs(student, inputs), at::Tensor(),
                               nullptr);
  EXPECT_EQ(second_run.forwards, 1);
  summary = second.summary();
  EXPECT_EQ(summary.values.at("teacher_cache/files_read"), 7.0);
  EXPECT_EQ(summary.values.at("teacher_cache/files_written"), 1.0);
  EXPECT_EQ(FileNames(dir).size(), 7u);
}

TEST(DistillationTest, BadTeacherCacheFilesAreErrorsNamingTheFile) {
  const std::string dir = TempDir("teacher_cache_bad");
  torch::manual_seed(7);
  torch::nn::Linear teacher(4, 3);
  torch::nn::Linear student(4, 3);
  const at::Tensor x = at::randn({2, 4});
  const TensorMap inputs = CacheBatch(x, {0, 1});
  TrainState state;
  {
    RecordingTeacher writer;
    Distillation distillation(DiskCacheConfig(dir), teacher.ptr(), writer.Forward());
    distillation.on_after_compute_loss(state, inputs, StudentOutputs(student, inputs),
                                       at::Tensor(), nullptr);
    ASSERT_EQ(FileNames(dir).size(), 2u);
  }
  RecordingTeacher reader;
  Distillation distillation(DiskCacheConfig(dir), teacher.ptr(), reader.Forward());
  auto run = [&] {
    return ThrownMessage([&] {
      distillation.on_after_compute_loss(state, inputs, StudentOutputs(student, inputs),
                                         at::Tensor(), nullptr);
    });
  };
  const std::string file = dir + "/1.safetensors";

  std::ofstream(file, std::ios::trunc) << "garbage";
  EXPECT_EQ(run(), "distillation: teacher cache file " + file + " is unreadable (" + file +
                       ": file is 7 bytes, shorter than the 8-byte header size); delete it to "
                       "recompute the teacher outputs");

  ASSERT_TRUE(base::WriteSafetensors(file, {{"logits", at::zeros({3})}}).ok());
  EXPECT_EQ(run(), "distillation: teacher cache file " + file + " has no tensor "
                   "\"teacher_hidden\" (it has [logits]); it was written for other outputs; "
                   "delete it to recompute the teacher outputs");

  ASSERT_TRUE(base::WriteSafetensors(
                  file, {{"logits", at::zeros({5})}, {"teacher_hidden", at::zeros({4})}})
                  .ok());
  EXPECT_EQ(run(), "distillation: cached teacher output \"logits\" is Float [5] in " + file +
                       " but Float [3] in " + dir +
                       "/0.safetensors; the teacher cache needs inputs of the same length "
                       "every epoch");
  // Never a silent recompute.
  EXPECT_EQ(reader.forwards, 0);
}

TEST(DistillationTest, TeacherCacheDirNeedsAKeyAndACreatableDirectory) {
  DistillationConfig config = LogitConfig();
  config.teacher_cache_dir = "cache/teacher";
  EXPECT_EQ(ErrorOf(config),
            "recipe.yaml: distillation: teacher_cache_dir is \"cache/teacher\" but "
            "teacher_cache_key is empty; set the input key identifying examples");

  const std::string file = TempDir("teacher_cache_blocked");
  std::ofstream(file) << "a file, not a directory";
  config.teacher_cache_key = "example_index";
  config.teacher_cache_dir = file + "/cache";
  torch::nn::Linear teacher(3, 3);
  Distillation distillation(config, teacher.ptr(), LinearForward);
  TrainState state;
  const absl::Status status = distillation.on_train_begin(state);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(Contains(std::string(status.message()),
                       "distillation: cannot create teacher_cache_dir \"" + file + "/cache\": "))
      << status;
}

TEST(DistillationTest, SummaryReportsTheConfigAndTheMeanKdLoss) {
  torch::nn::Linear unused(3, 3);
  Distillation distillation(LogitConfig("MSE"), unused.ptr(), LinearForward);
  TrainState state;
  const TensorMap teacher = {{"logits", Tensor2d({0, 0, 0}, 1)}};
  // MSE 1 and then 4.
  distillation.on_after_compute_loss(state, {}, {{"logits", Tensor2d({1, 1, 1}, 1)}}, at::zeros({}),
                                     &teacher);
  distillation.on_after_compute_loss(state, {}, {{"logits", Tensor2d({2, 2, 2}, 1)}}, at::zeros({}),
                                     &teacher);
  const ComponentSummary summary = distillation.summary();
  EXPECT_EQ(summary.kind, "distillation");
  EXPECT_DOUBLE_EQ(summary.values.at("loss/kd_mean"), 2.5);
  EXPECT_DOUBLE_EQ(summary.values.at("temperature"), 2.0);
  EXPECT_DOUBLE_EQ(summary.values.at("loss_weights/task"), 0.5);
  EXPECT_DOUBLE_EQ(summary.values.at("loss_weights/kd"), 0.5);
  EXPECT_DOUBLE_EQ(summary.values.at("add_origin_loss"), 1.0);
  ASSERT_FALSE(summary.notes.empty());
  EXPECT_EQ(summary.notes[0], "logit_names: [logits], loss_types: [MSE]");
}

TEST(DistillationTest, KdOnlyTrainingPullsTheStudentToTheTeacher) {
  torch::manual_seed(5);
  torch::nn::Linear teacher(4, 3);
  torch::nn::Linear student(4, 3);
  const at::Tensor x = at::randn({64, 4});
  DistillationConfig config = LogitConfig("KL");
  config.loss_weights = {0.0, 1.0};
  config.add_origin_loss = false;
  Distillation distillation(config, teacher.ptr(), LinearForward);
  TrainState state;
  state.model = student.ptr();
  ASSERT_TRUE(distillation.on_train_begin(state).ok());
  std::vector<at::Tensor> parameters = student->parameters();
  for (const at::Tensor& p : distillation.trainable_parameters()) parameters.push_back(p);
  torch::optim::AdamW optimizer(parameters, torch::optim::AdamWOptions(0.05).weight_decay(0));
  double first = 0, last = 0;
  for (int step = 0; step < 100; ++step) {
    optimizer.zero_grad();
    const TensorMap inputs = {{"x", x}};
    const at::Tensor loss = distillation.on_after_compute_loss(
        state, inputs, LinearForward(*student, inputs), at::Tensor(), nullptr);
    if (step == 0) first = state.logs.at("loss/kd");
    last = state.logs.at("loss/kd");
    loss.backward();
    optimizer.step();
  }
  EXPECT_GT(first, 0.05);
  EXPECT_LT(last, first / 100) << "first " << first << ", last " << last;
  EXPECT_EQ(teacher->weight.grad().defined(), false);
}

}  // namespace
}  // namespace compressor
