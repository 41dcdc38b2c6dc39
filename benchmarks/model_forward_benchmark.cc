// Dense fp32 inference latency of BERT models in LibTorch at the shapes the paper's models
// run (bert-mini for the embedded default, bert-base for the published results).
//
//   bazel run //benchmarks:model_forward_benchmark -- --benchmark_filter=bert-base
#include <benchmark/benchmark.h>

#include <ATen/ATen.h>
#include <torch/utils.h>

#include <string>

#include "benchmarks/benchmark_main.h"
#include "models/auto_model.h"
#include "models/bert_config.h"

namespace {

void BM_BertForward(benchmark::State& state, const std::string& preset) {
  const int64_t batch = state.range(0), seq = state.range(1);
  models::BertConfig config = *models::BertConfigPreset(preset);
  torch::manual_seed(0);
  auto model = *models::CreateModel(config, "BertForQuestionAnswering");
  model->eval();
  models::ModelInput input;
  input.input_ids = at::randint(1000, 2000, {batch, seq}, at::kLong);
  torch::NoGradGuard no_grad;
  model->forward(input);  // Warm-up: first-call allocations and oneDNN/BLAS init.
  for (auto _ : state) {
    benchmark::DoNotOptimize(model->forward(input).start_logits);
  }
  state.counters["sequences/s"] =
      benchmark::Counter(double(batch) * state.iterations(), benchmark::Counter::kIsRate);
  state.SetLabel(preset + " threads=" + std::to_string(at::get_num_threads()));
}

BENCHMARK_CAPTURE(BM_BertForward, bert-mini, std::string("bert-mini"))
    ->ArgsProduct({{1, 8}, {128, 384}})
    ->ArgNames({"batch", "seq"})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_BertForward, bert-base, std::string("bert-base"))
    ->ArgsProduct({{1, 8}, {128, 384}})
    ->ArgNames({"batch", "seq"})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace

int main(int argc, char** argv) { return benchmarks::RunBenchmarks(argc, argv); }
