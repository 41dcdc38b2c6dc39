// INT8 linear layers on oneDNN (kernels::Int8Linear) against LibTorch's fp32 at::linear, at
// BERT-base GEMM shapes (768 -> 768, 768 -> 3072, 3072 -> 768) and M = 128, 384, 1024 rows
// (1024 = batch 8 x seq 128). Int8 timings include quantizing the input; "dynamic" also
// finds its min/max. Ends with a table of GOP/s and speed-ups over fp32 from the same run.
//
//   bazel run //benchmarks:int8_linear_benchmark
//   bazel run //benchmarks:int8_linear_benchmark --action_env=DNNL_MAX_CPU_ISA=AVX2  # no VNNI
#include <benchmark/benchmark.h>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>

#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "benchmarks/benchmark_main.h"
#include "kernels/int8_linear.h"

namespace {

enum class Kind { kFp32, kInt8Static, kInt8Dynamic };

struct Layer {
  at::Tensor x, weight, bias;
};

Layer MakeLayer(int64_t m, int64_t k, int64_t n) {
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(0);
  return {at::randn({m, k}, gen), at::randn({n, k}, gen) * 0.05, at::randn({n}, gen)};
}

void SetCounters(benchmark::State& state, int64_t m, int64_t k, int64_t n) {
  state.counters["GOP/s"] = benchmark::Counter(2.0 * m * k * n * 1e-9,
                                               benchmark::Counter::kIsIterationInvariantRate);
}

void BM_Fp32Linear(benchmark::State& state) {
  const int64_t m = state.range(0), k = state.range(1), n = state.range(2);
  const Layer layer = MakeLayer(m, k, n);
  at::linear(layer.x, layer.weight, layer.bias);  // Warm-up.
  for (auto _ : state) benchmark::DoNotOptimize(at::linear(layer.x, layer.weight, layer.bias));
  SetCounters(state, m, k, n);
  state.SetLabel("at::linear threads=" + std::to_string(at::get_num_threads()));
}

void BM_Int8Linear(benchmark::State& state, Kind kind) {
  const int64_t m = state.range(0), k = state.range(1), n = state.range(2);
  const Layer layer = MakeLayer(m, k, n);
  kernels::Int8LinearParams params =
      kernels::QuantizeLinearWeights(layer.weight, layer.bias, /*per_channel=*/true);
  params.activation_signed = false;
  params.dynamic = kind == Kind::kInt8Dynamic;
  const kernels::ActivationQuantParams q = kernels::ChooseActivationQuantParams(
      layer.x.min().item<float>(), layer.x.max().item<float>(), /*activation_signed=*/false);
  params.input_scale = q.scale;
  params.input_zero_point = q.zero_point;
  auto int8 = kernels::Int8Linear::Create(params);
  if (!int8.ok()) {
    state.SkipWithError(std::string(int8.status().message()).c_str());
    return;
  }
  (*int8)->Forward(layer.x);  // Warm-up: compiles the primitive for this M.
  for (auto _ : state) benchmark::DoNotOptimize((*int8)->Forward(layer.x));
  SetCounters(state, m, k, n);
  state.SetLabel((*int8)->impl_info() + ((*int8)->split_weights() ? " split" : "") +
                 " weights=" + std::to_string((*int8)->weight_bytes() >> 10) + "KiB");
}

void BertBaseShapes(benchmark::internal::Benchmark* b) {
  for (const auto& [k, n] : std::vector<std::pair<int64_t, int64_t>>{
           {768, 768}, {768, 3072}, {3072, 768}}) {
    for (int64_t m : {128, 384, 1024}) b->Args({m, k, n});
  }
  b->ArgNames({"M", "K", "N"})->Unit(benchmark::kMillisecond)->UseRealTime();
}

BENCHMARK(BM_Fp32Linear)->Apply(BertBaseShapes);
BENCHMARK_CAPTURE(BM_Int8Linear, static_u8, Kind::kInt8Static)->Apply(BertBaseShapes);
BENCHMARK_CAPTURE(BM_Int8Linear, dynamic_u8, Kind::kInt8Dynamic)->Apply(BertBaseShapes);

// Console output as usual, then a table of GOP/s and speed-ups over fp32 per shape.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    benchmark::ConsoleReporter::ReportRuns(runs);
    for (const Run& run : runs) {
      if (run.error_occurred) continue;
      const bool median = run.run_type == Run::RT_Aggregate && run.aggregate_name == "median";
      if (run.run_type == Run::RT_Aggregate && !median) continue;
      Result& r = results_[run.run_name.args][run.run_name.function_name];
      if (r.from_median && !median) continue;
      const auto gops = run.counters.find("GOP/s");
      r = {run.GetAdjustedRealTime(), gops == run.counters.end() ? 0.0 : gops->second.value,
           median};
    }
  }

  void Finalize() override {
    const char* kFp32 = "BM_Fp32Linear";
    const char* kStatic = "BM_Int8Linear/static_u8";
    const char* kDynamic = "BM_Int8Linear/dynamic_u8";
    std::printf("\nINT8 vs fp32 at::linear (same run; oneDNN ISA %s, threads %d)\n",
                kernels::Int8Linear::CpuIsa().c_str(), at::get_num_threads());
    std::printf("%-22s %10s %10s %10s %9s %9s\n", "shape", "fp32 GOP/s", "static", "dynamic",
                "static x", "dynamic x");
    for (const auto& [args, by_name] : results_) {
      auto rate = [&](const char* name) {
        auto it = by_name.find(name);
        return it == by_name.end() ? 0.0 : it->second.gops;
      };
      auto speedup = [&](const char* name) {
        auto base = by_name.find(kFp32), it = by_name.find(name);
        if (base == by_name.end() || it == by_name.end() || it->second.time <= 0) return 0.0;
        return base->second.time / it->second.time;
      };
      std::printf("%-22s %10.1f %10.1f %10.1f %8.2fx %8.2fx\n", args.c_str(), rate(kFp32),
                  rate(kStatic), rate(kDynamic), speedup(kStatic), speedup(kDynamic));
    }
    std::fflush(stdout);
  }

 private:
  struct Result {
    double time = 0;
    double gops = 0;
    bool from_median = false;
  };
  // Shape ("M:128/K:768/N:3072") -> benchmark function name -> result.
  std::map<std::string, std::map<std::string, Result>> results_;
};

}  // namespace

int main(int argc, char** argv) {
  benchmark::AddCustomContext("oneDNN ISA", kernels::Int8Linear::CpuIsa());
  RatioReporter reporter;
  return benchmarks::RunBenchmarks(argc, argv, &reporter);
}
