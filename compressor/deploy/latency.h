// Latency measurement shared by the latency tool (benchmarks:model_latency) and the recipes'
// report, so both time the same thing the same way: a forward callable run `warmup` times
// untimed and then `iters` times on a steady clock, with nearest-rank percentiles; plus which
// kernels the InferenceLinears of a converted model run (compressor::ConvertForInference).
// Knows nothing about BERT: the caller builds the input and the forward call.
//
//   ASSIGN_OR_RETURN(auto converted, compressor::ConvertForInference(*model, options));
//   compressor::LatencyStats stats =
//       compressor::TimeForward([&] { model->forward(input); }, /*warmup=*/3, /*iters=*/30);
//   std::printf("p50 %.2f ms on %s\n", stats.p50_ms,
//               compressor::KernelSummary(compressor::CountKernels(*model)).c_str());
#ifndef COMPRESSOR_DEPLOY_LATENCY_H_
#define COMPRESSOR_DEPLOY_LATENCY_H_

#include <torch/nn/module.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace compressor {

struct LatencyStats {
  int64_t iters = 0;       // Timed runs.
  std::vector<double> ms;  // Every timed run, in run order.
  double p50_ms = 0, p90_ms = 0, p99_ms = 0, mean_ms = 0, min_ms = 0;
};

// Calls `forward` warmup (>= 0) times, then iters (clamped to >= 1) times timed. Exceptions
// thrown by `forward` propagate (callers turn c10::Error into a Status naming the model).
LatencyStats TimeForward(const std::function<void()>& forward, int64_t warmup, int64_t iters);

// Nearest-rank percentile (q in [0, 1]) of ascending, non-empty `sorted`.
double Percentile(const std::vector<double>& sorted, double q);

// Kernel name (LinearKernelName) -> number of InferenceLinears of `model` running it; empty
// when nothing was converted.
std::map<std::string, int> CountKernels(const torch::nn::Module& model);

// "dense_int8=12 sparse_int8=60", or "none" for an empty map.
std::string KernelSummary(const std::map<std::string, int>& counts);

}  // namespace compressor

#endif  // COMPRESSOR_DEPLOY_LATENCY_H_
