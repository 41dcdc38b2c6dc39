// Two-process tests on loopback: the test binary re-executes itself as the ranks
// (DDP_TEST_WORKER=<role>) with the torchrun environment set, the way tools/launch.sh
// starts a job.
#include "compressor/distributed/data_parallel.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/nn/modules/linear.h>
#include <torch/utils.h>

#include "base/safetensors.h"
#include "base/unary_module.h"
#include "compressor/combination.h"
#include "compressor/distillation/distillation.h"
#include "compressor/distributed/process_group.h"
#include "compressor/pruning/pruning.h"
#include "compressor/quantization/quantization.h"
#include "layers/linear.h"

extern char** environ;

namespace compressor {
namespace {

// Linear -> hardtanh -> Linear. Two hidden units are pinned at +1 / -1 (bias +-10) and
// two input features are always +-2, so every batch, a rank's half as well as the global
// batch, gives the QAT input observers the same range: fake quantization then computes the
// same function in one process and in two, and only gradient averaging, sharding and the
// masks decide whether the weights agree.
struct TinyImpl : torch::nn::Module {
  TinyImpl() {
    register_module("fc1", layers::Linear(8, 16));
    register_module("fc2", layers::Linear(16, 4));
    torch::NoGradGuard no_grad;
    at::Tensor bias = named_parameters()["fc1.bias"];
    bias[0].fill_(10.0);
    bias[1].fill_(-10.0);
  }
  at::Tensor forward(const at::Tensor& x) {
    return base::ForwardChild(*this, "fc2", at::hardtanh(base::ForwardChild(*this, "fc1", x)));
  }
};

TensorMap Forward(torch::nn::Module& model, const TensorMap& batch) {
  return {{"logits", static_cast<TinyImpl&>(model).forward(batch.at("x"))}};
}

// 16 batches of 4 labelled examples, in an order fixed by the epoch.
class Examples : public BatchSource {
 public:
  Examples() {
    auto generator = at::make_generator<at::CPUGeneratorImpl>(11);
    const at::Tensor projection = at::randn({8, 4}, generator);
    for (int i = 0; i < 16; ++i) {
      at::Tensor x = at::rand({4, 8}, generator) * 2 - 1;
      x.select(1, 0).fill_(2.0);
      x.select(1, 1).fill_(-2.0);
      batches_.push_back({{"x", x}, {"labels", at::matmul(x, projection).argmax(1)}});
    }
  }
  void Restart(uint64_t epoch) override {
    order_ = at::randperm(16, at::make_generator<at::CPUGeneratorImpl>(100 + epoch));
    next_ = 0;
  }
  absl::StatusOr<bool> Next(TensorMap* batch) override {
    if (next_ >= 16) return false;
    *batch = batches_[order_[next_++].item<int64_t>()];
    return true;
  }
  std::optional<int64_t> num_batches() const override { return 16; }

 private:
  std::vector<TensorMap> batches_;
  at::Tensor order_;
  int64_t next_ = 0;
};

// One process's view of the same data with the global batch: consecutive pairs joined.
class GlobalBatches : public BatchSource {
 public:
  explicit GlobalBatches(BatchSource* inner) : inner_(inner) {}
  void Restart(uint64_t epoch) override { inner_->Restart(epoch); }
  absl::StatusOr<bool> Next(TensorMap* batch) override {
    TensorMap a, b;
    if (!*inner_->Next(&a) || !*inner_->Next(&b)) return false;
    *batch = {{"x", at::cat({a.at("x"), b.at("x")})},
              {"labels", at::cat({a.at("labels"), b.at("labels")})}};
    return true;
  }
  std::optional<int64_t> num_batches() const override { return *inner_->num_batches() / 2; }

 private:
  BatchSource* inner_;
};

// Simulated faults of a rank: after `after` batches it hangs or dies.
class Faulty : public BatchSource {
 public:
  Faulty(BatchSource* inner, std::string fault, int after)
      : inner_(inner), fault_(std::move(fault)), after_(after) {}
  void Restart(uint64_t epoch) override { inner_->Restart(epoch); }
  absl::StatusOr<bool> Next(TensorMap* batch) override {
    if (++served_ > after_) {
      if (fault_ == "die") _exit(3);
      if (fault_ == "hang") std::this_thread::sleep_for(std::chrono::seconds(600));
    }
    return inner_->Next(batch);
  }
  std::optional<int64_t> num_batches() const override { return inner_->num_batches(); }

 private:
  BatchSource* inner_;
  std::string fault_;
  int after_;
  int served_ = 0;
};

struct RunOutput {
  TensorMap parameters;
  TensorMap component_state;
};

// Pruning (magnitude, 50% by step 8) + logit distillation + QAT, 16 steps (2 epochs of 8
// steps; with accumulation 2, 4 epochs of 4).
absl::StatusOr<RunOutput> TrainCombined(BatchSource* data, GradientSynchronizer* sync,
                                        uint64_t init_seed, int64_t accumulation = 1) {
  torch::manual_seed(99);
  auto teacher = std::make_shared<TinyImpl>();
  torch::manual_seed(init_seed);
  auto student = std::make_shared<TinyImpl>();
  PruningConfig pruning;
  pruning.target_sparsity = 0.5;
  pruning.end_step = 8;
  pruning.pruning_frequency = 2;
  pruning.excluded_op_names = {};
  DistillationConfig kd;
  kd.logit_names = {"logits"};
  kd.loss_types = {"KL"};
  QuantizationConfig qat;
  qat.activation_observer = "minmax";
  qat.outputs_not_requantized = {"fc1", "fc2"};
  auto combined = Combination::Create({std::make_shared<Pruning>(pruning),
                                       std::make_shared<Distillation>(kd, teacher, Forward),
                                       std::make_shared<Quantization>(qat)});
  if (!combined.ok()) return combined.status();
  TrainerConfig config;
  config.learning_rate = 1e-2;
  config.num_train_epochs = 2 * accumulation;
  config.gradient_accumulation_steps = accumulation;
  config.progress = false;
  TaskFunctions task;
  task.forward = Forward;
  task.loss = [](const TensorMap& outputs, const TensorMap& batch) {
    return at::cross_entropy_loss(outputs.at("logits"), batch.at("labels"));
  };
  Trainer trainer(config, task, data);
  trainer.set_gradient_synchronizer(sync);
  absl::StatusOr<TrainResult> result = trainer.Train(student, combined->get());
  if (!result.ok()) return result.status();
  RunOutput out;
  for (const auto& item : student->named_parameters()) out.parameters[item.key()] = item.value();
  out.component_state = (*combined)->state();
  return out;
}

// The rank processes. Exit status 0 on success; errors go to stderr as one line.
int RunWorker(const std::string& role) {
  DistributedOptions flags;
  flags.timeout_seconds = std::atof(std::getenv("DDP_TEST_TIMEOUT"));
  // Small enough for two buckets ({fc2.bias, fc2.weight, fc1.bias}, {fc1.weight}).
  flags.bucket_cap_mb = 0.0004;
  // overlap (default) | after_backward | overlap_accumulate2
  const std::string mode = std::getenv("DDP_TEST_MODE") ? std::getenv("DDP_TEST_MODE") : "";
  absl::StatusOr<DistributedOptions> options = ResolveDistributedOptions(flags);
  if (!options.ok()) {
    std::fprintf(stderr, "%s\n", std::string(options.status().message()).c_str());
    return 1;
  }
  absl::StatusOr<std::unique_ptr<ProcessGroup>> group = ProcessGroup::Create(*options);
  if (!group.ok()) {
    std::fprintf(stderr, "%s\n", std::string(group.status().message()).c_str());
    return 1;
  }
  Examples examples;
  Faulty faulty(&examples, role, 5);
  ShardedBatchSource shard(&faulty, options->rank, options->world_size);
  DataParallelOptions parallel;
  parallel.overlap_with_backward = mode != "after_backward";
  DataParallel data_parallel(group->get(), parallel);
  absl::StatusOr<RunOutput> out = TrainCombined(&shard, &data_parallel, 7 + options->rank,
                                                mode == "overlap_accumulate2" ? 2 : 1);
  if (!out.ok()) {
    std::fprintf(stderr, "%s\n", std::string(out.status().message()).c_str());
    return 1;
  }
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (const auto& [name, t] : out->parameters) tensors.emplace_back("param/" + name, t.detach());
  for (const auto& [name, t] : out->component_state) tensors.emplace_back("state/" + name, t);
  const std::string path =
      absl::StrCat(std::getenv("DDP_TEST_OUT"), "/rank", options->rank, ".safetensors");
  if (absl::Status s = base::WriteSafetensors(path, tensors); !s.ok()) {
    std::fprintf(stderr, "%s\n", std::string(s.message()).c_str());
    return 1;
  }
  std::ofstream(absl::StrCat(std::getenv("DDP_TEST_OUT"), "/rank", options->rank, ".stats"))
      << data_parallel.num_buckets() << " " << data_parallel.buckets_started_in_backward() << " "
      << data_parallel.synchronized_steps() << "\n";
  return 0;
}

int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  socklen_t length = sizeof(address);
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  close(fd);
  return ntohs(address.sin_port);
}

std::string OutDir(const std::string& name) {
  const char* root = std::getenv("TEST_TMPDIR");
  const std::string dir = std::string(root ? root : "/tmp") + "/" + name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

// Starts this binary as rank `rank` of 2; its stderr goes to <dir>/rank<r>.err.
pid_t Spawn(const std::string& role, int rank, int port, const std::string& dir,
            double timeout_seconds, int world_size = 2) {
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) env.push_back(*e);
  env.push_back(absl::StrCat("RANK=", rank));
  env.push_back(absl::StrCat("LOCAL_RANK=", rank));
  env.push_back(absl::StrCat("WORLD_SIZE=", world_size));
  env.push_back("MASTER_ADDR=127.0.0.1");
  env.push_back(absl::StrCat("MASTER_PORT=", port));
  env.push_back("DDP_TEST_WORKER=" + role);
  env.push_back("DDP_TEST_OUT=" + dir);
  env.push_back(absl::StrCat("DDP_TEST_TIMEOUT=", timeout_seconds));
  std::vector<char*> envp;
  for (std::string& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  const std::string err = absl::StrCat(dir, "/rank", rank, ".err");
  posix_spawn_file_actions_addopen(&actions, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  char self[] = "/proc/self/exe";
  char* argv[] = {self, nullptr};
  pid_t pid = -1;
  EXPECT_EQ(posix_spawn(&pid, "/proc/self/exe", &actions, nullptr, argv, envp.data()), 0);
  posix_spawn_file_actions_destroy(&actions);
  return pid;
}

// The exit status of `pid`, or -1 (after killing it) when it runs longer than `seconds`.
int WaitFor(pid_t pid, double seconds) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  return -1;
}

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TensorMap ReadTensors(const std::string& path) {
  TensorMap map;
  auto reader = base::SafetensorsReader::Open(path);
  EXPECT_TRUE(reader.ok()) << reader.status();
  if (!reader.ok()) return map;
  for (const auto& info : (*reader)->tensors()) map[info.name] = *(*reader)->Load(info.name);
  return map;
}

TEST(DistributedOptionsTest, ReadsTheTorchrunEnvironmentAndFlagsWin) {
  setenv("RANK", "1", 1);
  setenv("WORLD_SIZE", "4", 1);
  setenv("MASTER_ADDR", "10.0.0.5", 1);
  setenv("MASTER_PORT", "29999", 1);
  unsetenv("LOCAL_RANK");
  DistributedOptions flags;
  flags.rank = 3;
  absl::StatusOr<DistributedOptions> options = ResolveDistributedOptions(flags);
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->rank, 3);
  EXPECT_EQ(options->world_size, 4);
  EXPECT_EQ(options->local_rank, 3);
  EXPECT_EQ(options->master_addr, "10.0.0.5");
  EXPECT_EQ(options->master_port, 29999);
  setenv("RANK", "two", 1);
  EXPECT_EQ(ResolveDistributedOptions({}).status().message(),
            "environment variable RANK='two' is not a non-negative integer");
  setenv("RANK", "4", 1);
  EXPECT_EQ(ResolveDistributedOptions({}).status().message(),
            "distributed: rank 4 is outside [0, world_size = 4)");
  for (const char* name : {"RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"}) unsetenv(name);
  options = ResolveDistributedOptions({});
  ASSERT_TRUE(options.ok());
  EXPECT_FALSE(options->enabled());  // No environment: one process.
}

TEST(ShardedBatchSourceTest, TakesEveryWorldSizeThBatchAndDropsTheRemainder) {
  Examples examples;
  ShardedBatchSource shard(&examples, 1, 3);
  EXPECT_EQ(*shard.num_batches(), 5);
  shard.Restart(0);
  Examples reference;
  reference.Restart(0);
  std::vector<TensorMap> all(16);
  for (auto& batch : all) ASSERT_TRUE(*reference.Next(&batch));
  TensorMap batch;
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(*shard.Next(&batch));
    EXPECT_TRUE(at::equal(batch.at("x"), all[3 * i + 1].at("x"))) << i;
  }
  EXPECT_FALSE(*shard.Next(&batch));
}

// The acceptance test: 2 ranks with half batches end where 1 process with the
// global batch ends (weights within fp32 all-reduce rounding; masks exactly), and the two
// ranks hold bit-identical weights, masks and QAT observer state. Run for each way of
// averaging: buckets started from autograd hooks during backward (the default), all after
// backward, and during the last backward of a 2-step gradient accumulation only.
class DataParallelModeTest : public testing::TestWithParam<std::string> {};

TEST_P(DataParallelModeTest, TwoRanksTrainLikeOneProcessOnTheGlobalBatch) {
  const std::string mode = GetParam();
  setenv("DDP_TEST_MODE", mode.c_str(), 1);
  const std::string dir = OutDir("ddp_train_" + mode);
  const int port = FreePort();
  const pid_t rank0 = Spawn("train", 0, port, dir, 30);
  const pid_t rank1 = Spawn("train", 1, port, dir, 30);
  EXPECT_EQ(WaitFor(rank0, 120), 0) << ReadText(dir + "/rank0.err");
  EXPECT_EQ(WaitFor(rank1, 120), 0) << ReadText(dir + "/rank1.err");
  unsetenv("DDP_TEST_MODE");
  const TensorMap a = ReadTensors(dir + "/rank0.safetensors");
  const TensorMap b = ReadTensors(dir + "/rank1.safetensors");
  ASSERT_FALSE(a.empty());
  ASSERT_EQ(a.size(), b.size());

  const int64_t accumulation = mode == "overlap_accumulate2" ? 2 : 1;
  Examples examples;
  GlobalBatches global(&examples);
  absl::StatusOr<RunOutput> reference = TrainCombined(&global, nullptr, 7, accumulation);
  ASSERT_TRUE(reference.ok()) << reference.status();

  int masks = 0, observers = 0;
  for (const auto& [name, tensor] : a) {
    EXPECT_TRUE(at::equal(tensor, b.at(name))) << name << " differs between the ranks";
    const bool is_param = name.rfind("param/", 0) == 0;
    const TensorMap& single = is_param ? reference->parameters : reference->component_state;
    const std::string key = name.substr(is_param ? 6 : 6);
    ASSERT_EQ(single.count(key), 1u) << key;
    const at::Tensor expected = single.at(key);
    if (name.find("mask") != std::string::npos) {
      ++masks;
      EXPECT_TRUE(at::equal(tensor, expected)) << name;
    } else {
      if (name.find("observer") != std::string::npos) ++observers;
      EXPECT_TRUE(at::allclose(tensor, expected, 1e-4, 1e-6))
          << name << " max diff " << (tensor - expected).abs().max().item<double>();
    }
  }
  EXPECT_GE(masks, 2);       // fc1 and fc2.
  EXPECT_EQ(observers, 8);  // min/max of the weight and input observers of 2 modules.
  const at::Tensor fc1 = a.at("param/fc1.weight");
  EXPECT_EQ(fc1.eq(0).sum().item<int64_t>(), fc1.numel() / 2);

  // Buckets, those started from the hooks during backward, optimizer steps.
  int64_t buckets = 0, started = 0, steps = 0;
  std::istringstream(ReadText(dir + "/rank0.stats")) >> buckets >> started >> steps;
  EXPECT_EQ(buckets, 2);
  EXPECT_EQ(steps, 16);
  // Every bucket of every step started inside backward (of the last micro-batch only when
  // accumulating), or none without overlap.
  EXPECT_EQ(started, mode == "after_backward" ? 0 : buckets * steps);
}

INSTANTIATE_TEST_SUITE_P(Modes, DataParallelModeTest,
                         testing::Values("overlap", "after_backward", "overlap_accumulate2"));

// A rank that hangs mid-run: the other fails within the timeout, naming the collective.
TEST(DataParallelTest, AHungRankMakesTheOtherFailWithinTheTimeout) {
  const std::string dir = OutDir("ddp_hang");
  const int port = FreePort();
  const auto start = std::chrono::steady_clock::now();
  const pid_t rank0 = Spawn("train", 0, port, dir, 3);
  const pid_t rank1 = Spawn("hang", 1, port, dir, 3);
  const int status0 = WaitFor(rank0, 60);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  kill(rank1, SIGKILL);
  WaitFor(rank1, 10);
  const std::string err = ReadText(dir + "/rank0.err");
  EXPECT_EQ(status0, 1) << err;
  EXPECT_LT(seconds, 3 + 20);  // The timeout plus start-up of the two processes.
  EXPECT_NE(err.find("rank 0 of 2: all-reduce of gradients failed after"), std::string::npos)
      << err;
  EXPECT_NE(err.find("(timeout 3 s)"), std::string::npos) << err;
  // The peer it waited for, by rank and address (//recipes:multi_host_test: other hosts).
  EXPECT_NE(err.find("a peer rank died, hung or left the job (rank 1 at 127.0.0.1)"),
            std::string::npos)
      << err;
}

// A rank that dies mid-run: the other fails at once instead of waiting for it.
TEST(DataParallelTest, ADeadRankMakesTheOtherFail) {
  const std::string dir = OutDir("ddp_die");
  const int port = FreePort();
  const pid_t rank0 = Spawn("train", 0, port, dir, 10);
  const pid_t rank1 = Spawn("die", 1, port, dir, 10);
  EXPECT_EQ(WaitFor(rank1, 60), 3);
  const auto died = std::chrono::steady_clock::now();
  const int status0 = WaitFor(rank0, 60);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - died).count();
  const std::string err = ReadText(dir + "/rank0.err");
  EXPECT_EQ(status0, 1) << err;
  EXPECT_LT(seconds, 10 + 5) << err;
  EXPECT_NE(err.find("rank 0 of 2: all-reduce of gradients failed"), std::string::npos) << err;
  EXPECT_NE(err.find("(rank 1 at 127.0.0.1)"), std::string::npos) << err;
}

// A rank that never starts: the rendezvous fails after the timeout with a clear message.
TEST(DataParallelTest, AMissingRankFailsTheRendezvous) {
  const std::string dir = OutDir("ddp_missing");
  const pid_t rank0 = Spawn("train", 0, FreePort(), dir, 2);
  EXPECT_EQ(WaitFor(rank0, 60), 1);
  const std::string err = ReadText(dir + "/rank0.err");
  EXPECT_NE(err.find("rank 0 of 2: cannot "), std::string::npos) << err;
  EXPECT_NE(err.find("is every rank started"), std::string::npos) << err;
}

}  // namespace
}  // namespace compressor

int main(int argc, char** argv) {
  if (const char* role = std::getenv("DDP_TEST_WORKER")) return compressor::RunWorker(role);
  testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
