#include "compressor/deploy/latency.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/linear.h>

#include "compressor/deploy/inference_linear.h"

namespace compressor {
namespace {

TEST(LatencyTest, TimesEveryRunAfterTheWarmUp) {
  int calls = 0;
  const LatencyStats stats = TimeForward([&] { ++calls; }, 2, 5);
  EXPECT_EQ(calls, 7);
  EXPECT_EQ(stats.iters, 5);
  ASSERT_EQ(stats.ms.size(), 5u);
  EXPECT_LE(stats.min_ms, stats.p50_ms);
  EXPECT_LE(stats.p50_ms, stats.p90_ms);
  EXPECT_LE(stats.p90_ms, stats.p99_ms);
  EXPECT_GE(stats.min_ms, 0.0);
  int once = 0;
  EXPECT_EQ(TimeForward([&] { ++once; }, 0, 0).iters, 1);  // At least one timed run.
  EXPECT_EQ(once, 1);
}

TEST(LatencyTest, PercentileIsNearestRank) {
  const std::vector<double> v = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  EXPECT_EQ(Percentile(v, 0.5), 5);
  EXPECT_EQ(Percentile(v, 0.9), 9);
  EXPECT_EQ(Percentile(v, 0.99), 10);
  EXPECT_EQ(Percentile(v, 0.0), 1);
  EXPECT_EQ(Percentile({42}, 0.5), 42);
}

TEST(LatencyTest, CountsTheKernelsOfConvertedLinears) {
  torch::nn::Sequential model(torch::nn::Linear(8, 16), torch::nn::Linear(16, 4));
  EXPECT_TRUE(CountKernels(*model).empty());
  EXPECT_EQ(KernelSummary(CountKernels(*model)), "none");
  InferenceOptions options;
  options.kernel = "dense";
  ASSERT_TRUE(ConvertForInference(*model, options).ok());
  const std::map<std::string, int> counts = CountKernels(*model);
  EXPECT_EQ(counts, (std::map<std::string, int>{{"dense_fp32", 2}}));
  EXPECT_EQ(KernelSummary(counts), "dense_fp32=2");
  EXPECT_EQ(KernelSummary({{"dense_int8", 1}, {"sparse_int8", 3}}), "dense_int8=1 sparse_int8=3");
}

}  // namespace
}  // namespace compressor
