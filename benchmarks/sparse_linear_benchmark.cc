// Single BERT-base GEMMs (768 -> 768, 768 -> 3072, 3072 -> 768) at M = 128 / 384 / 1024 /
// 3072 tokens (batch x seq), sparsity 0..95%: LibTorch fp32 at::linear (the baseline), oneDNN
// fp32, oneDNN INT8 (static u8), and our sparse fp32 / sparse INT8 kernels (unstructured
// magnitude pruning; "4x1" and "1x4" block patterns too). Ends with a table of times,
// speed-ups over at::linear from the same run, and GFLOP/s dense-equivalent (2 M K N / t) and
// effective (2 M nnz / t).
//
//   bazel run //benchmarks:sparse_linear_benchmark
//   bazel run //benchmarks:sparse_linear_benchmark -- --benchmark_filter='M:128/'
#include <benchmark/benchmark.h>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>

#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "benchmarks/benchmark_main.h"
#include "kernels/fp32_linear.h"
#include "kernels/int8_linear.h"
#include "kernels/sparse_linear.h"

namespace {

enum Pattern { kUnstructured = 0, k4x1 = 1, k1x4 = 2 };

const char* PatternName(int64_t p) {
  return p == k4x1 ? "4x1" : p == k1x4 ? "1x4" : "unstructured";
}

struct Layer {
  at::Tensor x, weight, bias;
  int64_t nnz = 0;
};

// Random weights pruned by magnitude to `sparsity` percent, in units of the pattern.
Layer MakeLayer(int64_t m, int64_t k, int64_t n, int64_t sparsity, int64_t pattern) {
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(0);
  Layer l{at::randn({m, k}, gen), at::randn({n, k}, gen) * 0.05, at::randn({n}, gen)};
  if (sparsity > 0) {
    at::Tensor score = l.weight.abs();
    if (pattern == k4x1) score = score.reshape({n / 4, 4, k}).sum(1, true).expand({n / 4, 4, k});
    if (pattern == k1x4) score = score.reshape({n, k / 4, 4}).sum(2, true).expand({n, k / 4, 4});
    score = score.reshape({n, k});
    const int64_t drop = n * k * sparsity / 100;
    const at::Tensor threshold = std::get<0>(score.flatten().kthvalue(drop));
    l.weight = l.weight * (score > threshold);
  }
  l.nnz = l.weight.ne(0).sum().item<int64_t>();
  return l;
}

void SetCounters(benchmark::State& state, int64_t m, int64_t k, int64_t n, int64_t nnz) {
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * m * k * n * 1e-9,
                                                 benchmark::Counter::kIsIterationInvariantRate);
  state.counters["eff_GFLOP/s"] =
      benchmark::Counter(2.0 * m * nnz * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

kernels::Int8LinearParams StaticParams(const Layer& l) {
  kernels::Int8LinearParams p = kernels::QuantizeLinearWeights(l.weight, l.bias, true);
  p.dynamic = false;
  const auto q = kernels::ChooseActivationQuantParams(l.x.min().item<float>(),
                                                      l.x.max().item<float>(), false);
  p.input_scale = q.scale;
  p.input_zero_point = q.zero_point;
  return p;
}

// Args: M, K, N, sparsity %, pattern.
void BM_TorchFp32(benchmark::State& state) {
  const int64_t m = state.range(0), k = state.range(1), n = state.range(2);
  const Layer l = MakeLayer(m, k, n, state.range(3), state.range(4));
  at::linear(l.x, l.weight, l.bias);
  for (auto _ : state) benchmark::DoNotOptimize(at::linear(l.x, l.weight, l.bias));
  SetCounters(state, m, k, n, l.nnz);
}

void BM_OnednnFp32(benchmark::State& state) {
  const int64_t m = state.range(0), k = state.range(1), n = state.range(2);
  const Layer l = MakeLayer(m, k, n, state.range(3), state.range(4));
  auto layer = kernels::Fp32Linear::Create(l.weight, l.bias);
  if (!layer.ok()) return state.SkipWithError(std::string(layer.status().message()).c_str());
  (*layer)->Forward(l.x);
  for (auto _ : state) benchmark::DoNotOptimize((*layer)->Forward(l.x));
  SetCounters(state, m, k, n, l.nnz);
  state.SetLabel((*layer)->impl_info());
}

void BM_OnednnInt8(benchmark::State& state) {
  const int64_t m = state.range(0), k = state.range(1), n = state.range(2);
  const Layer l = MakeLayer(m, k, n, state.range(3), state.range(4));
  auto layer = kernels::Int8Linear::Create(StaticParams(l));
  if (!layer.ok()) return state.SkipWithError(std::string(layer.status().message()).c_str());
  (*layer)->Forward(l.x);
  for (auto _ : state) benchmark::DoNotOptimize((*layer)->Forward(l.x));
  SetCounters(state, m, k, n, l.nnz);
  state.SetLabel((*layer)->impl_info() + ((*layer)->split_weights() ? " split" : ""));
}

void BM_SparseFp32(benchmark::State& state) {
  const int64_t m = state.range(0), k = state.range(1), n = state.range(2);
  const Layer l = MakeLayer(m, k, n, state.range(3), state.range(4));
  auto layer = kernels::SparseLinear::Create(l.weight, l.bias);
  if (!layer.ok()) return state.SkipWithError(std::string(layer.status().message()).c_str());
  (*layer)->Forward(l.x);
  for (auto _ : state) benchmark::DoNotOptimize((*layer)->Forward(l.x));
  SetCounters(state, m, k, n, l.nnz);
  state.SetLabel(std::string(PatternName(state.range(4))) + " r=" +
                 std::to_string((*layer)->rows_per_group()) + " " +
                 kernels::SimdLevelName((*layer)->simd()));
}

void SparseInt8(benchmark::State& state, const kernels::SparsePackOptions& options) {
  const int64_t m = state.range(0), k = state.range(1), n = state.range(2);
  const Layer l = MakeLayer(m, k, n, state.range(3), state.range(4));
  auto layer = kernels::SparseInt8Linear::Create(StaticParams(l), options);
  if (!layer.ok()) return state.SkipWithError(std::string(layer.status().message()).c_str());
  (*layer)->Forward(l.x);
  for (auto _ : state) benchmark::DoNotOptimize((*layer)->Forward(l.x));
  SetCounters(state, m, k, n, l.nnz);
  char label[128];
  std::snprintf(label, sizeof(label), "%s r=%d %s %s quads=%.0f%%", PatternName(state.range(4)),
                (*layer)->rows_per_group(), kernels::SimdLevelName((*layer)->simd()),
                (*layer)->gathered() ? "gathered" : "aligned", 100.0 * (*layer)->quad_density());
  state.SetLabel(label);
}

void BM_SparseInt8(benchmark::State& state) { SparseInt8(state, {}); }

// The 4x1 blocks on the aligned-quad layout the default replaces with gathered quads.
void BM_SparseInt8AlignedQuads(benchmark::State& state) {
  kernels::SparsePackOptions options;
  options.int8_layout = kernels::SparsePackOptions::Int8Layout::kAlignedQuads;
  SparseInt8(state, options);
}

const std::vector<std::pair<int64_t, int64_t>> kKN = {{768, 768}, {768, 3072}, {3072, 768}};
const std::vector<int64_t> kM = {128, 384, 1024, 3072};

void DenseArgs(benchmark::internal::Benchmark* b) {
  for (const auto& [k, n] : kKN) {
    for (int64_t m : kM) b->Args({m, k, n, 0, kUnstructured});
  }
  b->ArgNames({"M", "K", "N", "sparsity", "pattern"})
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime()
      ->MinTime(0.3);
}

void BlockArgs(benchmark::internal::Benchmark* b) {
  for (const auto& [k, n] : kKN) {
    for (int64_t m : kM) {
      for (int64_t s : {70, 90}) b->Args({m, k, n, s, k4x1});
    }
  }
  b->ArgNames({"M", "K", "N", "sparsity", "pattern"})
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime()
      ->MinTime(0.3);
}

void SparseArgs(benchmark::internal::Benchmark* b) {
  for (const auto& [k, n] : kKN) {
    for (int64_t m : kM) {
      for (int64_t s : {0, 70, 80, 85, 90, 95}) b->Args({m, k, n, s, kUnstructured});
      for (int64_t s : {70, 90}) {
        b->Args({m, k, n, s, k4x1});
        b->Args({m, k, n, s, k1x4});
      }
    }
  }
  b->ArgNames({"M", "K", "N", "sparsity", "pattern"})
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime()
      ->MinTime(0.3);
}

BENCHMARK(BM_TorchFp32)->Apply(DenseArgs);
BENCHMARK(BM_OnednnFp32)->Apply(DenseArgs);
BENCHMARK(BM_OnednnInt8)->Apply(DenseArgs);
BENCHMARK(BM_SparseFp32)->Apply(SparseArgs);
BENCHMARK(BM_SparseInt8)->Apply(SparseArgs);
BENCHMARK(BM_SparseInt8AlignedQuads)->Apply(BlockArgs);

// Console output, then per shape: each kernel's time, speed-up over BM_TorchFp32 of the same
// shape, and dense-equivalent / effective GFLOP/s.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    benchmark::ConsoleReporter::ReportRuns(runs);
    for (const Run& run : runs) {
      if (run.error_occurred || run.run_type == Run::RT_Aggregate) continue;
      const std::string& args = run.run_name.args;  // "M:128/K:768/N:3072/sparsity:90/pattern:0"
      const size_t cut = args.find("/sparsity:");
      Result r;
      r.time = run.GetAdjustedRealTime();
      r.cpu = run.GetAdjustedCPUTime();
      r.gflops = run.counters.at("GFLOP/s").value;
      r.eff = run.counters.at("eff_GFLOP/s").value;
      r.label = run.report_label;
      results_.push_back({args.substr(0, cut), args.substr(cut + 1), run.run_name.function_name, r});
      if (run.run_name.function_name == "BM_TorchFp32") baseline_[args.substr(0, cut)] = r;
    }
  }

  void Finalize() override {
    std::printf("\nSpeed-up over LibTorch fp32 at::linear, same run (threads %d, %s)\n",
                at::get_num_threads(), kernels::SimdLevelName(kernels::DetectSimdLevel()));
    std::printf("(cpu: main-thread CPU time, the robust figure with OMP_NUM_THREADS=1 on a loaded "
                "machine)\n");
    std::printf("%-22s %-26s %-12s %9s %8s %9s %8s %9s %9s  %s\n", "shape", "variant", "kernel",
                "ms", "speedup", "cpu ms", "cpu x", "GFLOP/s", "eff", "label");
    for (const Entry& e : results_) {
      auto base = baseline_.find(e.shape);
      const bool has = base != baseline_.end();
      std::printf("%-22s %-26s %-12s %9.3f %7.2fx %9.3f %7.2fx %9.1f %9.1f  %s\n",
                  e.shape.c_str(), e.variant.c_str(), e.name.substr(3).c_str(), e.r.time,
                  has ? base->second.time / e.r.time : 0.0, e.r.cpu,
                  has ? base->second.cpu / e.r.cpu : 0.0, e.r.gflops, e.r.eff,
                  e.r.label.c_str());
    }
    std::fflush(stdout);
  }

 private:
  struct Result {
    double time = 0, cpu = 0, gflops = 0, eff = 0;
    std::string label;
  };
  struct Entry {
    std::string shape, variant, name;
    Result r;
  };
  std::vector<Entry> results_;
  std::map<std::string, Result> baseline_;
};

}  // namespace

int main(int argc, char** argv) {
  benchmark::AddCustomContext("sparse SIMD", kernels::SimdLevelName(kernels::DetectSimdLevel()));
  benchmark::AddCustomContext("oneDNN ISA", kernels::Int8Linear::CpuIsa());
  RatioReporter reporter;
  return benchmarks::RunBenchmarks(argc, argv, &reporter);
}
