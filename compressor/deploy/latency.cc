#include "compressor/deploy/latency.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "compressor/deploy/inference_linear.h"

namespace compressor {

double Percentile(const std::vector<double>& sorted, double q) {
  const size_t rank = static_cast<size_t>(std::ceil(q * static_cast<double>(sorted.size())));
  return sorted[std::min(sorted.size() - 1, rank == 0 ? 0 : rank - 1)];
}

LatencyStats TimeForward(const std::function<void()>& forward, int64_t warmup, int64_t iters) {
  for (int64_t i = 0; i < warmup; ++i) forward();
  LatencyStats stats;
  stats.iters = std::max<int64_t>(1, iters);
  stats.ms.reserve(stats.iters);
  for (int64_t i = 0; i < stats.iters; ++i) {
    const auto start = std::chrono::steady_clock::now();
    forward();
    stats.ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
            .count());
  }
  std::vector<double> sorted = stats.ms;
  std::sort(sorted.begin(), sorted.end());
  for (double v : sorted) stats.mean_ms += v / static_cast<double>(sorted.size());
  stats.p50_ms = Percentile(sorted, 0.5);
  stats.p90_ms = Percentile(sorted, 0.9);
  stats.p99_ms = Percentile(sorted, 0.99);
  stats.min_ms = sorted.front();
  return stats;
}

std::map<std::string, int> CountKernels(const torch::nn::Module& model) {
  std::map<std::string, int> counts;
  for (const auto& [name, layer] : InferenceLinears(model)) {
    ++counts[LinearKernelName(layer->kernel())];
  }
  return counts;
}

std::string KernelSummary(const std::map<std::string, int>& counts) {
  if (counts.empty()) return "none";
  std::string out;
  for (const auto& [name, count] : counts) {
    absl::StrAppend(&out, out.empty() ? "" : " ", name, "=", count);
  }
  return out;
}

}  // namespace compressor
