// Data-parallel training throughput on this machine: BERT-mini (4 layers, hidden 256) QA
// fine-tuning steps (AdamW, clipping, the built-in Trainer) in one process against two
// ranks on loopback (compressor/distributed DataParallel over Gloo), and the share of the
// training loop's time the gradient all-reduce holds the training thread, with the
// buckets started from autograd hooks during backward (overlap) and all after backward.
// Ratios are against the one-process runs measured in the same invocation.
//
//   bazel run //benchmarks:data_parallel_benchmark [-- --steps=8 --batch=16 --seq=128]
//
// A plain main, not Google Benchmark: the two-rank cases are separate processes that must
// run the same number of steps (collectives pair up step by step), which Google
// Benchmark's adaptive iteration counts cannot promise. On a 2-vCPU machine two ranks get
// one core each, so this is a correctness and overhead check more than a speed-up.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/utils.h>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/cli.h"
#include "base/status_macros.h"
#include "compressor/distributed/data_parallel.h"
#include "compressor/distributed/local_launcher.h"
#include "compressor/distributed/process_group.h"
#include "compressor/train/trainer.h"
#include "models/auto_model.h"
#include "models/losses.h"

ABSL_FLAG(int64_t, steps, 8, "Measured optimizer steps per case (after the warm-up).");
ABSL_FLAG(int64_t, warmup, 2, "Warm-up steps per case (not timed).");
ABSL_FLAG(int64_t, batch, 16, "Examples per rank and step.");
ABSL_FLAG(int64_t, seq, 128, "Sequence length.");
ABSL_FLAG(double, bucket_cap_mb, 25, "DataParallel bucket size (MB).");
// Internal: set on the ranks this program starts.
ABSL_FLAG(int64_t, worker_overlap, -1, "(internal) rank mode: 1 overlap, 0 after backward.");
ABSL_FLAG(std::string, worker_result, "", "(internal) rank 0 writes its figures here.");

namespace {

using compressor::TensorMap;
using Clock = std::chrono::steady_clock;

// Fixed random batches (a rank's own stream, by seed); records when each is taken, i.e.
// when each optimizer step starts.
class TimedBatches : public compressor::BatchSource {
 public:
  TimedBatches(int64_t batch, int64_t seq, uint64_t seed) {
    auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
    for (int i = 0; i < 4; ++i) {
      batches_.push_back(
          {{"input_ids", at::randint(1000, 30000, {batch, seq}, generator, at::kLong)},
           {"start_positions", at::randint(0, seq, {batch}, generator, at::kLong)},
           {"end_positions", at::randint(0, seq, {batch}, generator, at::kLong)}});
    }
  }
  void Restart(uint64_t) override {}
  absl::StatusOr<bool> Next(TensorMap* batch) override {
    taken_.push_back(Clock::now());
    *batch = batches_[taken_.size() % batches_.size()];
    return true;
  }
  std::optional<int64_t> num_batches() const override { return std::nullopt; }
  const std::vector<Clock::time_point>& taken() const { return taken_; }

 private:
  std::vector<TensorMap> batches_;
  std::vector<Clock::time_point> taken_;
};

struct Figures {
  double steps_per_second = 0;
  double allreduce_share = 0;  // Of the training loop's time (all steps).
  double buckets = 0;
  double started_in_backward = 0;  // Per step.
};

absl::StatusOr<Figures> Train(int64_t batch, compressor::ProcessGroup* group, bool overlap) {
  torch::manual_seed(1);
  models::BertConfig config = *models::BertConfigPreset("bert-mini");
  ASSIGN_OR_RETURN(std::shared_ptr<models::PreTrainedModel> model,
                   models::CreateModel(config, "BertForQuestionAnswering"));
  const int64_t warmup = absl::GetFlag(FLAGS_warmup), steps = absl::GetFlag(FLAGS_steps);
  compressor::TrainerConfig trainer_config;
  trainer_config.learning_rate = 1e-4;
  trainer_config.max_steps = warmup + steps;
  trainer_config.logging_steps = 1000;
  trainer_config.progress = false;
  compressor::TaskFunctions task;
  task.forward = [](torch::nn::Module& module, const TensorMap& b) {
    models::ModelInput input;
    input.input_ids = b.at("input_ids");
    TensorMap out;
    for (const auto& [name, tensor] :
         dynamic_cast<models::PreTrainedModel&>(module).forward(input).Named()) {
      out[name] = tensor;
    }
    return out;
  };
  task.loss = [](const TensorMap& out, const TensorMap& b) {
    return models::QuestionAnsweringLoss(out.at("start_logits"), out.at("end_logits"),
                                         b.at("start_positions"), b.at("end_positions"));
  };
  TimedBatches data(batch, absl::GetFlag(FLAGS_seq), 100 + (group ? group->rank() : 0));
  compressor::Trainer trainer(trainer_config, task, &data);
  std::unique_ptr<compressor::DataParallel> parallel;
  if (group != nullptr) {
    compressor::DataParallelOptions options;
    options.verify_consistency = false;  // Not part of a step.
    options.overlap_with_backward = overlap;
    parallel = std::make_unique<compressor::DataParallel>(group, options);
    trainer.set_gradient_synchronizer(parallel.get());
  }
  ASSIGN_OR_RETURN(compressor::TrainResult result, trainer.Train(model, nullptr));
  const Clock::time_point end = Clock::now();
  const auto& taken = data.taken();
  if (static_cast<int64_t>(taken.size()) != warmup + steps) {
    return absl::InternalError(absl::StrCat("expected ", warmup + steps, " batches, took ",
                                            taken.size()));
  }
  Figures figures;
  figures.steps_per_second =
      double(steps) / std::chrono::duration<double>(end - taken[warmup]).count();
  if (parallel != nullptr) {
    const double loop = std::chrono::duration<double>(end - taken[0]).count();
    figures.allreduce_share = parallel->allreduce_seconds() / loop;
    figures.buckets = double(parallel->num_buckets());
    figures.started_in_backward =
        double(parallel->buckets_started_in_backward()) / double(result.steps);
  }
  return figures;
}

absl::Status RunRank() {
  compressor::DistributedOptions flags;
  flags.timeout_seconds = 600;
  flags.bucket_cap_mb = absl::GetFlag(FLAGS_bucket_cap_mb);
  ASSIGN_OR_RETURN(compressor::DistributedOptions options,
                   compressor::ResolveDistributedOptions(flags));
  ASSIGN_OR_RETURN(std::unique_ptr<compressor::ProcessGroup> group,
                   compressor::ProcessGroup::Create(options));
  ASSIGN_OR_RETURN(Figures figures, Train(absl::GetFlag(FLAGS_batch), group.get(),
                                          absl::GetFlag(FLAGS_worker_overlap) == 1));
  if (group->rank() == 0) {
    std::ofstream(absl::GetFlag(FLAGS_worker_result))
        << figures.steps_per_second << " " << figures.allreduce_share << " " << figures.buckets
        << " " << figures.started_in_backward << "\n";
  }
  return absl::OkStatus();
}

absl::StatusOr<Figures> RunTwoRanks(int argc, char** argv, bool overlap) {
  const std::string result = absl::StrCat("/tmp/data_parallel_benchmark_", getpid(), ".txt");
  std::vector<std::string> args(argv, argv + argc);
  args.push_back(absl::StrCat("--worker_overlap=", overlap ? 1 : 0));
  args.push_back("--worker_result=" + result);
  std::vector<char*> child_argv;
  for (std::string& a : args) child_argv.push_back(a.data());
  compressor::LocalLaunchOptions launch;
  launch.nproc_per_node = 2;
  launch.grace_seconds = 10;
  ASSIGN_OR_RETURN(const int status, compressor::RunLocalRanks(
                                         launch, static_cast<int>(child_argv.size()),
                                         child_argv.data()));
  if (status != 0) return absl::InternalError(absl::StrCat("a rank failed (status ", status, ")"));
  Figures figures;
  std::ifstream in(result);
  if (!(in >> figures.steps_per_second >> figures.allreduce_share >> figures.buckets >>
        figures.started_in_backward)) {
    return absl::InternalError(absl::StrCat(result, ": no figures from rank 0"));
  }
  std::remove(result.c_str());
  return figures;
}

std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string one, five, fifteen;
  in >> one >> five >> fifteen;
  return absl::StrCat(one, " ", five, " ", fifteen);
}

absl::Status Run(int argc, char** argv) {
  if (compressor::IsLaunchedRank()) return RunRank();
  const int64_t batch = absl::GetFlag(FLAGS_batch);
  std::printf("BERT-mini QA training, seq %lld, %lld measured steps after %lld warm-up; load "
              "average at start %s\n",
              static_cast<long long>(absl::GetFlag(FLAGS_seq)),
              static_cast<long long>(absl::GetFlag(FLAGS_steps)),
              static_cast<long long>(absl::GetFlag(FLAGS_warmup)), LoadAverage().c_str());
  // One process on every core, at the per-rank batch and at the two ranks' global batch.
  ASSIGN_OR_RETURN(Figures one_small, Train(batch, nullptr, false));
  ASSIGN_OR_RETURN(Figures one_global, Train(2 * batch, nullptr, false));
  ASSIGN_OR_RETURN(Figures two_overlap, RunTwoRanks(argc, argv, true));
  ASSIGN_OR_RETURN(Figures two_after, RunTwoRanks(argc, argv, false));
  const double base = one_global.steps_per_second * 2 * batch;  // Examples/s.
  std::printf("\n| case | threads | global batch | steps/s | examples/s | vs 1 process (global "
              "batch) | all-reduce share | buckets started in backward |\n");
  std::printf("| --- | --- | --- | --- | --- | --- | --- | --- |\n");
  auto row = [&](const char* name, const char* threads, int64_t global, const Figures& f,
                 bool parallel) {
    const double examples = f.steps_per_second * global;
    std::printf("| %s | %s | %lld | %.3f | %.1f | %.2fx | %s | %s |\n", name, threads,
                static_cast<long long>(global), f.steps_per_second, examples, examples / base,
                parallel ? absl::StrFormat("%.1f%%", 100 * f.allreduce_share).c_str() : "-",
                parallel ? absl::StrFormat("%.1f of %.0f", f.started_in_backward, f.buckets).c_str()
                         : "-");
  };
  const std::string threads = absl::StrCat(at::get_num_threads());
  row("1 process", threads.c_str(), batch, one_small, false);
  row("1 process", threads.c_str(), 2 * batch, one_global, false);
  row("2 ranks, all-reduce overlapped with backward", "1 each", 2 * batch, two_overlap, true);
  row("2 ranks, all-reduce after backward", "1 each", 2 * batch, two_after, true);
  std::printf("\nload average at end %s\n", LoadAverage().c_str());
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  base::InitMain(argc, argv, "Usage: data_parallel_benchmark [--steps=N --batch=N --seq=N]");
  return base::RunMain([&]() { return Run(argc, argv); });
}
