// The whole BERT-base encoder (12 layers, hidden 768, intermediate 3072; random weights,
// encoder Linears magnitude-pruned) at batch 1 / 8 x seq 128 / 384:
//   torch_fp32   LibTorch fp32 (OpenBLAS), the baseline
//   dense_fp32   encoder Linears on oneDNN fp32 (kernels:fp32_linear)
//   dense_int8   encoder Linears on oneDNN INT8 (dynamic u8 activations, per-channel weights)
//   sparse_fp32  our sparse fp32 kernel on every encoder Linear
//   sparse_int8  our sparse INT8 kernel on every encoder Linear
//   auto_int8    per-layer timed choice between dense_int8 and sparse_int8
//   no_linears   every encoder Linear replaced by a module returning a cached zero tensor:
//                the time spent outside the Linears (attention matmuls, softmax, LayerNorm,
//                GELU, embeddings), the floor no Linear kernel can go below
// Sparsity 0..95% unstructured, plus 4x1 and 1x4 blocks at 90%. Attention matmuls, softmax,
// LayerNorm and GELU stay in LibTorch. Ends with speed-ups over torch_fp32 from the same run,
// GFLOP/s of the encoder Linears (dense-equivalent 2 * tokens * weights / t, and effective
// 2 * tokens * nonzeros / t) and the compact on-disk size of the encoder Linear weights.
//
//   bazel run //benchmarks:sparse_encoder_benchmark -- --benchmark_filter='batch:1/seq:128/'
#include <benchmark/benchmark.h>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/nn/modules/linear.h>
#include <torch/utils.h>
#include <unistd.h>

#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "base/unary_module.h"
#include "benchmarks/benchmark_main.h"
#include "benchmarks/magnitude_prune.h"
#include "compressor/deploy/inference_linear.h"
#include "compressor/deploy/sparse_format.h"
#include "kernels/sparse_linear.h"
#include "layers/linear.h"
#include "models/auto_model.h"

namespace {

const char* kPatterns[] = {"unstructured", "4x1", "1x4"};

struct Variant {
  std::string kernel;  // "torch" or InferenceOptions::kernel.
  bool int8 = false;
};

// Stands in for a Linear at no cost: returns one cached zero tensor of the output shape.
class ZeroLinearImpl : public torch::nn::Module {
 public:
  explicit ZeroLinearImpl(int64_t out) : out_(out) {}
  at::Tensor forward(const at::Tensor& x) {
    std::vector<int64_t> sizes = x.sizes().vec();
    sizes.back() = out_;
    if (!zeros_.defined() || zeros_.sizes() != at::IntArrayRef(sizes)) zeros_ = at::zeros(sizes);
    return zeros_;
  }

 private:
  int64_t out_;
  at::Tensor zeros_;
};

[[maybe_unused]] const bool kZeroLinearRegistered = base::RegisterUnaryForward(
    typeid(ZeroLinearImpl), [](torch::nn::Module& m, const at::Tensor& x) {
      return static_cast<ZeroLinearImpl&>(m).forward(x);
    });

struct Stats {
  int64_t weights = 0, nonzeros = 0, stored_bytes = 0;
};

void BM_Encoder(benchmark::State& state, Variant variant) {
  const int64_t batch = state.range(0), seq = state.range(1);
  const double sparsity = state.range(2) / 100.0;
  const char* pattern = kPatterns[state.range(3)];
  torch::manual_seed(0);
  auto model = *models::CreateModel(*models::BertConfigPreset("bert-base"), "BertModel");
  model->eval();
  if (absl::Status s = benchmarks::MagnitudePrune(*model, sparsity, pattern, "encoder"); !s.ok()) {
    return state.SkipWithError(std::string(s.message()).c_str());
  }
  Stats stats;
  for (const auto& item : model->named_modules()) {
    auto* linear = item.value()->as<layers::Linear>();
    if (linear == nullptr || item.key().find("encoder") == std::string::npos) continue;
    stats.weights += linear->weight.numel();
    stats.nonzeros += linear->weight.ne(0).sum().item<int64_t>();
  }
  std::map<std::string, int> kernels_used;
  if (variant.kernel == "none") {
    std::vector<std::pair<std::string, int64_t>> linears;
    for (const auto& item : model->named_modules()) {
      auto* linear = item.value()->as<layers::Linear>();
      if (linear != nullptr && item.key().find("encoder") != std::string::npos) {
        linears.emplace_back(item.key(), linear->weight.size(0));
      }
    }
    for (const auto& [name, out] : linears) {
      if (absl::Status s = compressor::ReplaceModule(*model, name,
                                                     std::make_shared<ZeroLinearImpl>(out));
          !s.ok()) {
        return state.SkipWithError(std::string(s.message()).c_str());
      }
    }
    kernels_used["none"] = static_cast<int>(linears.size());
  } else if (variant.kernel != "torch") {
    compressor::InferenceOptions options;
    options.int8 = variant.int8;
    options.kernel = variant.kernel;
    options.min_sparse_sparsity = 0.0;  // auto: always time both.
    auto converted = compressor::ConvertForInference(*model, options, "encoder");
    if (!converted.ok()) return state.SkipWithError(std::string(converted.status().message()).c_str());
    for (const auto& [name, layer] : compressor::InferenceLinears(*model)) {
      ++kernels_used[compressor::LinearKernelName(layer->kernel())];
    }
    const std::string path = "/tmp/sparse_encoder_benchmark_" + std::to_string(getpid());
    if (compressor::SaveInferenceModel(*model, path).ok()) {
      stats.stored_bytes = compressor::InferenceModelLinearBytes(path).value_or(0);
    }
    std::remove(path.c_str());
  }
  models::ModelInput input;
  input.input_ids = at::randint(1000, 20000, {batch, seq}, at::kLong);
  torch::NoGradGuard no_grad;
  model->forward(input);  // Warm-up.
  for (auto _ : state) benchmark::DoNotOptimize(model->forward(input).last_hidden_state);
  const double tokens = static_cast<double>(batch * seq);
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * tokens * stats.weights * 1e-9,
                                                 benchmark::Counter::kIsIterationInvariantRate);
  state.counters["eff_GFLOP/s"] = benchmark::Counter(
      2.0 * tokens * stats.nonzeros * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["MB"] = stats.stored_bytes > 0 ? stats.stored_bytes / 1e6 : stats.weights * 4 / 1e6;
  state.counters["fp32_MB"] = stats.weights * 4 / 1e6;
  std::string label = pattern;
  for (const auto& [name, count] : kernels_used) label += " " + name + "=" + std::to_string(count);
  state.SetLabel(label);
}

void DenseArgs(benchmark::internal::Benchmark* b) {
  for (int64_t batch : {1, 8}) {
    for (int64_t seq : {128, 384}) b->Args({batch, seq, 0, 0});
  }
  b->ArgNames({"batch", "seq", "sparsity", "pattern"})
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime()
      ->MinTime(1.0);
}

void SparseArgs(benchmark::internal::Benchmark* b) {
  for (int64_t batch : {1, 8}) {
    for (int64_t seq : {128, 384}) {
      for (int64_t s : {0, 70, 80, 85, 90, 95}) b->Args({batch, seq, s, 0});
      b->Args({batch, seq, 90, 1});
      b->Args({batch, seq, 90, 2});
    }
  }
  b->ArgNames({"batch", "seq", "sparsity", "pattern"})
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime()
      ->MinTime(1.0);
}

BENCHMARK_CAPTURE(BM_Encoder, torch_fp32, Variant{"torch", false})->Apply(DenseArgs);
BENCHMARK_CAPTURE(BM_Encoder, dense_fp32, Variant{"dense", false})->Apply(DenseArgs);
BENCHMARK_CAPTURE(BM_Encoder, dense_int8, Variant{"dense", true})->Apply(DenseArgs);
BENCHMARK_CAPTURE(BM_Encoder, sparse_fp32, Variant{"sparse", false})->Apply(SparseArgs);
BENCHMARK_CAPTURE(BM_Encoder, sparse_int8, Variant{"sparse", true})->Apply(SparseArgs);
BENCHMARK_CAPTURE(BM_Encoder, auto_int8, Variant{"auto", true})->Apply(SparseArgs);
BENCHMARK_CAPTURE(BM_Encoder, no_linears, Variant{"none", false})->Apply(DenseArgs);

class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    benchmark::ConsoleReporter::ReportRuns(runs);
    for (const Run& run : runs) {
      if (run.error_occurred || run.run_type == Run::RT_Aggregate) continue;
      const std::string& args = run.run_name.args;  // "batch:1/seq:128/sparsity:90/pattern:0"
      const size_t cut = args.find("/sparsity:");
      Entry e{args.substr(0, cut), args.substr(cut + 1), run.run_name.function_name,
              run.GetAdjustedRealTime(), run.GetAdjustedCPUTime(), run.counters.at("GFLOP/s").value,
              run.counters.at("eff_GFLOP/s").value, run.counters.at("MB").value,
              run.counters.at("fp32_MB").value, run.report_label};
      if (e.name == "BM_Encoder/torch_fp32") baseline_[e.shape] = {e.ms, e.cpu_ms};
      entries_.push_back(e);
    }
  }

  void Finalize() override {
    std::printf("\nBERT-base encoder, speed-up over LibTorch fp32 in the same run (threads %d, %s)\n",
                at::get_num_threads(), kernels::SimdLevelName(kernels::DetectSimdLevel()));
    std::printf("(cpu: main-thread CPU time, the robust figure with OMP_NUM_THREADS=1 on a loaded "
                "machine)\n");
    std::printf("%-18s %-28s %-12s %9s %8s %9s %8s %8s %8s %8s %7s  %s\n", "shape", "variant",
                "kernel", "ms", "speedup", "cpu ms", "cpu x", "GFLOP/s", "eff", "MB", "smaller",
                "layers");
    for (const Entry& e : entries_) {
      auto base = baseline_.find(e.shape);
      const bool has = base != baseline_.end();
      std::printf("%-18s %-28s %-12s %9.2f %7.2fx %9.2f %7.2fx %8.1f %8.1f %8.1f %6.1fx  %s\n",
                  e.shape.c_str(), e.variant.c_str(), e.name.substr(11).c_str(), e.ms,
                  has ? base->second.first / e.ms : 0.0, e.cpu_ms,
                  has ? base->second.second / e.cpu_ms : 0.0, e.gflops, e.eff, e.mb,
                  e.mb > 0 ? e.fp32_mb / e.mb : 0.0, e.label.c_str());
    }
    std::fflush(stdout);
  }

 private:
  struct Entry {
    std::string shape, variant, name;
    double ms, cpu_ms, gflops, eff, mb, fp32_mb;
    std::string label;
  };
  std::vector<Entry> entries_;
  std::map<std::string, std::pair<double, double>> baseline_;  // Real and CPU ms.
};

}  // namespace

int main(int argc, char** argv) {
  benchmark::AddCustomContext("sparse SIMD", kernels::SimdLevelName(kernels::DetectSimdLevel()));
  RatioReporter reporter;
  return benchmarks::RunBenchmarks(argc, argv, &reporter);
}
