#include "compressor/train/trainer.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/linear.h>
#include <torch/utils.h>

#include <signal.h>
#include <sys/resource.h>

#include <cstdlib>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "base/atomic_file.h"
#include "compressor/pruning/pruning.h"
#include "compressor/train/checkpoint.h"
#include "compressor/train/lr_schedule.h"

namespace compressor {
namespace {

struct NetImpl : torch::nn::Module {
  NetImpl() {
    a = register_module("a", torch::nn::Linear(8, 32));
    drop = register_module("drop", torch::nn::Dropout(0.2));
    b = register_module("b", torch::nn::Linear(32, 1));
  }
  at::Tensor forward(const at::Tensor& x) { return b(drop(at::relu(a(x)))); }
  torch::nn::Linear a{nullptr}, b{nullptr};
  torch::nn::Dropout drop{nullptr};
};
TORCH_MODULE(Net);

// Fixed batches of a regression task, visited in a (seed, epoch)-determined order; can
// fail after a number of batches to simulate a killed process.
class Batches : public BatchSource {
 public:
  explicit Batches(int64_t count, int64_t batch_size = 4) {
    torch::manual_seed(123);
    const at::Tensor w = at::randn({8, 1});
    for (int64_t i = 0; i < count; ++i) {
      const at::Tensor x = at::randn({batch_size, 8});
      batches_.push_back({{"x", x}, {"y", at::matmul(x, w)}});
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

TaskFunctions Regression() {
  TaskFunctions task;
  task.forward = [](torch::nn::Module& model, const TensorMap& batch) {
    return TensorMap{{"prediction", static_cast<NetImpl&>(model).forward(batch.at("x"))}};
  };
  task.loss = [](const TensorMap& out, const TensorMap& batch) {
    return at::mse_loss(out.at("prediction"), batch.at("y"));
  };
  return task;
}

std::string TempDir(const std::string& name) {
  const char* root = std::getenv("TEST_TMPDIR");
  const std::string dir = std::string(root ? root : "/tmp") + "/" + name;
  std::filesystem::remove_all(dir);
  return dir;
}

TEST(LrScheduleTest, FollowsHuggingFaceLinearWithWarmupAndRewinds) {
  LrSchedule lr("linear", 1.0, /*warmup_steps=*/10, /*total_steps=*/110);
  EXPECT_DOUBLE_EQ(lr.At(0), 0.0);
  EXPECT_DOUBLE_EQ(lr.At(5), 0.5);
  EXPECT_DOUBLE_EQ(lr.At(10), 1.0);
  EXPECT_DOUBLE_EQ(lr.At(60), 0.5);
  EXPECT_DOUBLE_EQ(lr.At(110), 0.0);
  lr.Rewind(60);
  EXPECT_DOUBLE_EQ(lr.At(60), 0.0);   // Warmup again from the rewind point...
  EXPECT_DOUBLE_EQ(lr.At(70), 1.0);
  EXPECT_DOUBLE_EQ(lr.At(90), 0.5);   // ...then decay over the remaining 50 - 10 steps.
  LrSchedule cosine("cosine", 2.0, 0, 100);
  EXPECT_NEAR(cosine.At(50), 1.0, 1e-12);
  EXPECT_FALSE(LrSchedule::Validate("step").ok());
}

TEST(TrainerTest, FineTuningLowersTheLoss) {
  torch::manual_seed(0);
  Net net;
  Batches data(16);
  TrainerConfig config;
  config.learning_rate = 1e-2;
  config.num_train_epochs = 5;
  config.progress = false;
  Trainer trainer(config, Regression(), &data);
  double first_loss = 0;
  {
    data.Restart(0);
    TensorMap batch;
    ASSERT_TRUE(*data.Next(&batch));
    net->eval();
    torch::NoGradGuard no_grad;
    first_loss = Regression().loss(Regression().forward(*net, batch), batch).item<double>();
  }
  auto result = trainer.Train(net.ptr(), nullptr);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->steps, 80);
  EXPECT_EQ(result->epochs_completed, 5);
  EXPECT_LT(result->final_loss, first_loss / 4);
}

TEST(TrainerTest, NoWeightDecayOnBiases) {
  torch::manual_seed(1);
  Net net;
  const at::Tensor weight = net->a->weight.detach().clone();
  const at::Tensor bias = net->a->bias.detach().clone();
  Batches data(1);
  TrainerConfig config;
  config.learning_rate = 0.1;
  config.weight_decay = 0.5;
  config.lr_scheduler_type = "constant";
  config.progress = false;
  TaskFunctions task = Regression();
  task.loss = [](const TensorMap& out, const TensorMap&) { return out.at("prediction").sum() * 0; };
  Trainer trainer(config, task, &data);
  ASSERT_TRUE(trainer.Train(net.ptr(), nullptr).ok());
  // Zero gradients: AdamW moves only by the decoupled decay, w <- w (1 - lr * wd).
  EXPECT_TRUE(at::allclose(net->a->weight, weight * 0.95, 1e-6, 1e-7));
  EXPECT_TRUE(at::equal(net->a->bias, bias));
}

TEST(TrainerTest, GradientAccumulationEqualsTheLargerBatch) {
  Batches big(1, 8);
  TrainerConfig config;
  config.optimizer = "sgd";
  config.sgd_momentum = 0.0;
  config.learning_rate = 0.1;
  config.lr_scheduler_type = "constant";
  config.max_grad_norm = 0;
  config.progress = false;
  // The same 8 examples as two micro-batches of 4.
  class Split : public BatchSource {
   public:
    explicit Split(const TensorMap& all) {
      for (int i = 0; i < 2; ++i) {
        parts_.push_back({{"x", all.at("x").slice(0, 4 * i, 4 * i + 4)},
                          {"y", all.at("y").slice(0, 4 * i, 4 * i + 4)}});
      }
    }
    void Restart(uint64_t) override { next_ = 0; }
    absl::StatusOr<bool> Next(TensorMap* b) override {
      if (next_ >= 2) return false;
      *b = parts_[next_++];
      return true;
    }
    std::optional<int64_t> num_batches() const override { return 2; }
    std::vector<TensorMap> parts_;
    int next_ = 0;
  };
  big.Restart(0);
  TensorMap all;
  ASSERT_TRUE(*big.Next(&all));
  Split split(all);
  torch::manual_seed(2);
  Net one;
  one->eval();  // No dropout, so the two runs see the same function.
  torch::manual_seed(2);
  Net two;
  two->eval();
  TaskFunctions task = Regression();
  Trainer whole(config, task, &big);
  config.gradient_accumulation_steps = 2;
  Trainer accumulated(config, task, &split);
  // The trainer switches modules to train(); Dropout(0.2) would differ, so zero it.
  one->drop->options.p(0.0);
  two->drop->options.p(0.0);
  ASSERT_TRUE(whole.Train(one.ptr(), nullptr).ok());
  ASSERT_TRUE(accumulated.Train(two.ptr(), nullptr).ok());
  EXPECT_TRUE(at::allclose(one->a->weight, two->a->weight, 1e-5, 1e-6));
}

// A pruned regression run with checkpoints every 4 steps (24 steps in all); fails with
// "killed" in the batch after `fail_after` when that is >= 0.
absl::StatusOr<TrainResult> RunPrunedRegression(const std::string& dir, int64_t fail_after,
                                                bool resume, Net* out) {
  torch::manual_seed(3);
  Net net;
  Batches data(6);
  data.fail_after_ = fail_after;
  TrainerConfig config;
  config.learning_rate = 1e-2;
  config.weight_decay = 0.01;
  config.warmup_steps = 3;
  config.num_train_epochs = 4;
  config.save_steps = 4;
  config.output_dir = dir;
  config.resume = resume;
  config.progress = false;
  PruningConfig pruning_config;
  pruning_config.target_sparsity = 0.5;
  pruning_config.end_step = 16;
  pruning_config.pruning_frequency = 4;
  pruning_config.excluded_op_names = {};
  pruning_config.lr_rewind = true;
  Pruning pruning(pruning_config);
  Trainer trainer(config, Regression(), &data);
  auto result = trainer.Train(net.ptr(), &pruning);
  *out = net;
  return result;
}

void ExpectSameParameters(const Net& expected, const Net& actual) {
  for (const auto& item : expected->named_parameters()) {
    EXPECT_TRUE(at::equal(item.value(), actual->named_parameters()[item.key()])) << item.key();
  }
}

// Kill mid-run, resume, finish: the weights and masks equal an uninterrupted run's.
TEST(TrainerTest, ResumeAfterKillEqualsUninterruptedRun) {
  auto run = RunPrunedRegression;
  Net reference{nullptr}, resumed{nullptr}, killed{nullptr};
  auto full = run(TempDir("full"), -1, false, &reference);
  ASSERT_TRUE(full.ok()) << full.status();
  EXPECT_EQ(full->steps, 24);
  const std::string dir = TempDir("killed");
  auto first = run(dir, 15, false, &killed);  // Dies in epoch 2, after checkpoint-12.
  ASSERT_FALSE(first.ok());
  EXPECT_EQ(first.status().message(), "killed");
  auto second = run(dir, -1, true, &resumed);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_TRUE(second->resumed);
  EXPECT_EQ(second->resumed_from_step, 12);
  EXPECT_EQ(second->steps, 24);
  ExpectSameParameters(reference, resumed);
  EXPECT_EQ(resumed->a->weight.eq(0).sum().item<int64_t>(), 128);  // 50% of 8x32.
}

// A damaged latest checkpoint (each file truncated or with one byte changed) is skipped and
// the previous one is used, so the resumed run still ends equal to an uninterrupted run; a
// dangling latest_checkpoint pointer falls back to the directories; none usable is an error.
TEST(TrainerTest, ResumeFallsBackToThePreviousCheckpointWhenTheLatestIsDamaged) {
  namespace fs = std::filesystem;
  Net reference{nullptr}, killed{nullptr};
  ASSERT_TRUE(RunPrunedRegression(TempDir("fallback_full"), -1, false, &reference).ok());
  const std::string killed_dir = TempDir("fallback_killed");
  ASSERT_FALSE(RunPrunedRegression(killed_dir, 15, false, &killed).ok());  // After checkpoint-12.
  ASSERT_TRUE(fs::is_directory(killed_dir + "/checkpoint-8"));  // save_total_limit 2 keeps both.
  ASSERT_TRUE(fs::is_directory(killed_dir + "/checkpoint-12"));
  ASSERT_TRUE(ValidateTrainingCheckpoint(killed_dir + "/checkpoint-12").ok());
  auto copy_of_killed = [&](const std::string& name) {
    const std::string dir = TempDir(name);
    fs::remove_all(dir);
    fs::copy(killed_dir, dir, fs::copy_options::recursive);
    return dir;
  };
  auto damage = [](const std::string& path, bool truncate) {
    std::string bytes = *base::ReadFileToString(path);
    if (truncate) {
      bytes.resize(bytes.size() / 2);
    } else {
      bytes[bytes.size() / 2] = static_cast<char>(bytes[bytes.size() / 2] ^ 0x20);
    }
    ASSERT_TRUE(base::WriteStringToFileAtomically(path, bytes).ok());
  };
  for (const char* file :
       {"model.safetensors", "optimizer.pt", "components.safetensors", "trainer_state.json"}) {
    for (const bool truncate : {true, false}) {
      SCOPED_TRACE(absl::StrCat(file, truncate ? " truncated" : " with a changed byte"));
      const std::string dir = copy_of_killed(absl::StrCat("fallback_", file, truncate));
      damage(dir + "/checkpoint-12/" + file, truncate);
      EXPECT_FALSE(ValidateTrainingCheckpoint(dir + "/checkpoint-12").ok());
      Net resumed{nullptr};
      auto result = RunPrunedRegression(dir, -1, true, &resumed);
      ASSERT_TRUE(result.ok()) << result.status();
      EXPECT_EQ(result->resumed_from_step, 8);
      EXPECT_EQ(result->steps, 24);
      ExpectSameParameters(reference, resumed);
    }
  }
  {
    const std::string dir = copy_of_killed("fallback_pointer");
    ASSERT_TRUE(base::WriteStringToFileAtomically(dir + "/latest_checkpoint", "checkpoint-99").ok());
    Net resumed{nullptr};
    auto result = RunPrunedRegression(dir, -1, true, &resumed);
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(result->resumed_from_step, 12);
    ExpectSameParameters(reference, resumed);
  }
  {
    const std::string dir = copy_of_killed("fallback_none");
    damage(dir + "/checkpoint-12/model.safetensors", true);
    damage(dir + "/checkpoint-8/optimizer.pt", false);
    Net resumed{nullptr};
    auto result = RunPrunedRegression(dir, -1, true, &resumed);
    ASSERT_FALSE(result.ok());
    const std::string message(result.status().message());
    EXPECT_NE(message.find(dir + ": no valid checkpoint to resume from ("), std::string::npos)
        << message;
    EXPECT_NE(message.find("checkpoint-12/model.safetensors"), std::string::npos) << message;
    EXPECT_NE(message.find("checkpoint-8/optimizer.pt: CRC-32 mismatch"), std::string::npos)
        << message;
  }
}

TEST(TrainerTest, TracksAndRestoresTheBestModel) {
  torch::manual_seed(4);
  Net net;
  Batches data(4);
  TrainerConfig config;
  config.num_train_epochs = 3;
  config.learning_rate = 1e-2;
  config.metric_for_best_model = "score";
  config.load_best_model_at_end = true;
  config.progress = false;
  TaskFunctions task = Regression();
  std::vector<double> scores = {0.3, 0.9, 0.5};
  std::vector<at::Tensor> weights_at_eval;
  task.evaluate = [&](torch::nn::Module& model) -> absl::StatusOr<std::map<std::string, double>> {
    weights_at_eval.push_back(static_cast<NetImpl&>(model).a->weight.detach().clone());
    const double score = scores[weights_at_eval.size() - 1];
    return std::map<std::string, double>{{"score", score}};
  };
  Trainer trainer(config, task, &data);
  auto result = trainer.Train(net.ptr(), nullptr);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->best_step, 8);
  EXPECT_DOUBLE_EQ(result->best_metrics.at("score"), 0.9);
  EXPECT_TRUE(at::equal(net->a->weight, weights_at_eval[1]));
}

TEST(TrainerTest, NonFiniteLossStopsWithTheStep) {
  Net net;
  Batches data(4);
  TrainerConfig config;
  config.progress = false;
  TaskFunctions task = Regression();
  int calls = 0;
  task.loss = [&](const TensorMap& out, const TensorMap&) {
    return ++calls == 3 ? out.at("prediction").sum() * NAN : out.at("prediction").sum();
  };
  Trainer trainer(config, task, &data);
  auto result = trainer.Train(net.ptr(), nullptr);
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.status().message().find("loss is nan at step 2"), std::string::npos)
      << result.status();
}

TEST(TrainerTest, NanPolicySkipDropsTheStepAndGoesOn) {
  torch::manual_seed(5);
  Net net;
  Batches data(4);
  TrainerConfig config;
  config.progress = false;
  config.nan_policy = "skip";
  config.learning_rate = 1e-2;
  TaskFunctions task = Regression();
  int calls = 0;
  task.loss = [&](const TensorMap& out, const TensorMap& batch) {
    const at::Tensor loss = at::mse_loss(out.at("prediction"), batch.at("y"));
    return ++calls == 3 ? loss * INFINITY : loss;
  };
  Trainer trainer(config, task, &data);
  auto result = trainer.Train(net.ptr(), nullptr);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->skipped_steps, 1);
  EXPECT_EQ(result->steps, 4);  // The skipped step is made up with the next epoch's batch.
  EXPECT_EQ(calls, 5);
  for (const auto& item : net->named_parameters()) {
    EXPECT_TRUE(at::isfinite(item.value()).all().item<bool>()) << item.key();
  }
}

TEST(TrainerTest, NonFiniteGradientStopsWithTheStep) {
  Net net;
  Batches data(4);
  TrainerConfig config;
  config.progress = false;
  TaskFunctions task = Regression();
  // A finite loss (0) whose gradient is not: d sqrt(u) / du at u = 0 is inf, times 0 is nan.
  task.loss = [](const TensorMap& out, const TensorMap&) {
    return at::sqrt(out.at("prediction").sum() * 0);
  };
  Trainer trainer(config, task, &data);
  auto result = trainer.Train(net.ptr(), nullptr);
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.status().message().find("gradient norm is nan at step 0"), std::string::npos)
      << result.status();
}

TEST(TrainerTest, UnknownNanPolicyIsAConfigError) {
  TrainerConfig config;
  config.nan_policy = "ignore";
  const absl::Status status = config.Validate("t.yaml");
  EXPECT_EQ(status.message(), "t.yaml: nan_policy is \"ignore\"; supported: stop, skip");
}

// A write failure in the middle of a checkpoint (here the file-size limit, which behaves
// like a full disk and works without root or a small file system) fails the run naming
// the file, and the previous checkpoint stays the latest, complete and loadable.
TEST(TrainerTest, FailedCheckpointWriteKeepsThePreviousCheckpoint) {
  const std::string dir = TempDir("disk_full");
  torch::manual_seed(6);
  Net net;
  Batches data(4);
  TrainerConfig config;
  config.progress = false;
  config.save_steps = 2;
  config.output_dir = dir;
  TaskFunctions task = Regression();
  int calls = 0;
  rlimit original;
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &original), 0);
  signal(SIGXFSZ, SIG_IGN);  // Then write() fails with EFBIG instead of killing us.
  task.loss = [&](const TensorMap& out, const TensorMap& batch) {
    if (++calls == 3) {  // Step 2's forward: checkpoint-2 is on disk, checkpoint-4 is next.
      rlimit small = original;
      small.rlim_cur = 512;  // model.safetensors alone is ~1.4 KB.
      EXPECT_EQ(setrlimit(RLIMIT_FSIZE, &small), 0);
    }
    return at::mse_loss(out.at("prediction"), batch.at("y"));
  };
  Trainer trainer(config, task, &data);
  auto result = trainer.Train(net.ptr(), nullptr);
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &original), 0);
  signal(SIGXFSZ, SIG_DFL);
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.status().message().find(dir + "/checkpoint-4.tmp"), std::string::npos)
      << result.status();
  EXPECT_NE(result.status().message().find("File too large"), std::string::npos)
      << result.status();
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    EXPECT_EQ(entry.path().filename().string().find(".tmp"), std::string::npos)
        << "left behind: " << entry.path();
  }
  auto latest = LatestCheckpoint(dir);
  ASSERT_TRUE(latest.ok()) << latest.status();
  EXPECT_EQ(*latest, dir + "/checkpoint-2");
  // Loadable: a resumed run continues from it and finishes.
  config.resume = true;
  Trainer resumed(config, Regression(), &data);
  auto second = resumed.Train(net.ptr(), nullptr);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->resumed_from_step, 2);
  EXPECT_EQ(second->steps, 4);
  EXPECT_EQ(*LatestCheckpoint(dir), dir + "/checkpoint-4");
}

TEST(TrainerTest, CheckpointIntoUnwritableDirectoryFailsCleanly) {
  Net net;
  Batches data(2);
  TrainerConfig config;
  config.progress = false;
  config.output_dir = "/proc/not_writable";
  Trainer trainer(config, Regression(), &data);
  auto result = trainer.Train(net.ptr(), nullptr);
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.status().message().find("/proc/not_writable"), std::string::npos);
}

}  // namespace
}  // namespace compressor
