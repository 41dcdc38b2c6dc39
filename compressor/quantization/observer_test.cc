#include "compressor/quantization/observer.h"

#include <cmath>
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/utils.h>

namespace compressor {
namespace {

at::Tensor T(std::vector<float> values) { return at::tensor(values, at::kFloat); }

std::unique_ptr<Observer> Make(const std::string& name, ObserverOptions options = {}) {
  absl::StatusOr<std::unique_ptr<Observer>> observer = CreateObserver(name, options);
  EXPECT_TRUE(observer.ok()) << observer.status();
  return observer.ok() ? std::move(*observer) : nullptr;
}

float Lo(const Observer& o, const QuantScheme& s) { return o.Range(s).first.item<float>(); }
float Hi(const Observer& o, const QuantScheme& s) { return o.Range(s).second.item<float>(); }

// Mean squared fake-quantization error on `x` with the observer's qparams.
double QuantMse(const Observer& observer, const QuantScheme& scheme, const at::Tensor& x) {
  const at::Tensor fq = FakeQuantize(x, observer.QParams(scheme), scheme);
  return (fq - x).pow(2).mean().item<double>();
}

TEST(ObserverTest, MinMaxKeepsTheRunningExtremes) {
  auto observer = Make("minmax");
  EXPECT_FALSE(observer->observed());
  observer->Observe(T({1.0f, -2.0f, 3.0f}));
  observer->Observe(T({0.5f, 4.0f}));
  observer->Observe(at::empty({0}));  // Ignored.
  EXPECT_TRUE(observer->observed());
  const QuantScheme affine = QuantScheme::Uint8AffinePerTensor();
  EXPECT_EQ(Lo(*observer, affine), -2.0f);
  EXPECT_EQ(Hi(*observer, affine), 4.0f);
  // scale = 6 / 255, zero point = 0 - round(-2 / scale) = 85.
  const QuantParams q = observer->QParams(affine);
  EXPECT_FLOAT_EQ(q.scale.item<float>(), 6.0f / 255.0f);
  EXPECT_EQ(q.zero_point.item<int64_t>(), 85);
  // A per-tensor observer refuses a per-channel scheme.
  EXPECT_THROW(observer->QParams(QuantScheme::Int8SymmetricPerChannel(0)), c10::Error);
}

TEST(ObserverTest, PerChannelMinMaxAlongEitherAxis) {
  ObserverOptions options;
  options.per_channel = true;
  auto rows = Make("minmax", options);
  rows->Observe(T({1, -1, 3, 2, 5, 0}).reshape({2, 3}));
  rows->Observe(T({-2, 0, 0, 0, 0, 6}).reshape({2, 3}));
  const QuantScheme scheme = QuantScheme::Int8SymmetricPerChannel(0);
  EXPECT_TRUE(at::equal(rows->Range(scheme).first, T({-2, 0})));
  EXPECT_TRUE(at::equal(rows->Range(scheme).second, T({3, 6})));
  EXPECT_FLOAT_EQ(rows->QParams(scheme).scale[1].item<float>(), 6.0f / 127.5f);
  EXPECT_THROW(rows->Observe(at::zeros({3, 3})), c10::Error);  // 3 channels, was 2.

  options.ch_axis = 1;
  auto columns = Make("moving_average_minmax", options);
  columns->Observe(T({1, -1, 3, 2, 5, 0}).reshape({2, 3}));
  const QuantScheme by_column = QuantScheme::Int8SymmetricPerChannel(1);
  EXPECT_TRUE(at::equal(columns->Range(by_column).first, T({1, -1, 0})));
  EXPECT_TRUE(at::equal(columns->Range(by_column).second, T({2, 5, 3})));
}

TEST(ObserverTest, MovingAverageFollowsPyTorchsUpdateRule) {
  auto observer = Make("moving_average_minmax");
  const QuantScheme scheme = QuantScheme::Uint8AffinePerTensor();
  observer->Observe(T({-1.0f, 0.5f, 2.0f}));  // First batch: taken as is.
  EXPECT_EQ(Lo(*observer, scheme), -1.0f);
  EXPECT_EQ(Hi(*observer, scheme), 2.0f);
  observer->Observe(T({-3.0f, 4.0f}));  // min += 0.01 * (-3 - -1), max += 0.01 * (4 - 2).
  EXPECT_FLOAT_EQ(Lo(*observer, scheme), -1.02f);
  EXPECT_FLOAT_EQ(Hi(*observer, scheme), 2.02f);
  observer->Observe(T({0.0f, 1.0f}));  // min += 0.01 * (0 + 1.02), max += 0.01 * (1 - 2.02).
  EXPECT_FLOAT_EQ(Lo(*observer, scheme), -1.0098f);
  EXPECT_FLOAT_EQ(Hi(*observer, scheme), 2.0098f);

  ObserverOptions slow;
  slow.averaging_constant = 0.5;
  auto half = Make("moving_average_minmax", slow);
  half->Observe(T({-4.0f, 4.0f}));
  half->Observe(T({0.0f, 0.0f}));
  EXPECT_EQ(Lo(*half, scheme), -2.0f);
  EXPECT_EQ(Hi(*half, scheme), 2.0f);
}

TEST(ObserverTest, HistogramBinsAreAnchoredAtZeroAndMergeExactly) {
  ObserverOptions options;
  options.bins = 16;
  HistogramObserver histogram(HistogramObserver::Method::kPercentile, options);
  histogram.Observe(T({0.5f, -1.0f, 2.0f}));
  // width = 2 / 16 (a hair wider): 0.5 -> bin 3, -1 -> bin -8, 2 -> bin 15.
  EXPECT_NEAR(histogram.bin_width(), 0.125, 1e-9);
  EXPECT_EQ(histogram.first_bin(), -8);
  ASSERT_EQ(histogram.counts().size(), 24u);
  EXPECT_EQ(histogram.counts()[0], 1.0);
  EXPECT_EQ(histogram.counts()[3 + 8], 1.0);
  EXPECT_EQ(histogram.counts()[15 + 8], 1.0);
  // 5.0 needs bin 40: the width doubles twice (pairs merged), to 0.5.
  histogram.Observe(T({5.0f}));
  EXPECT_NEAR(histogram.bin_width(), 0.5, 1e-8);
  EXPECT_EQ(histogram.first_bin(), -2);
  const std::vector<double>& counts = histogram.counts();
  ASSERT_EQ(counts.size(), 12u);  // Bins -2..9.
  EXPECT_EQ(counts[-2 + 2], 1.0);  // -1.0
  EXPECT_EQ(counts[0 + 2], 1.0);   // 0.5
  EXPECT_EQ(counts[3 + 2], 1.0);   // 2.0
  EXPECT_EQ(counts[9 + 2], 1.0);   // 5.0
  // |x| folds exactly: bin j of |x| holds bins j and -j - 1.
  const std::vector<double> folded = histogram.AbsCounts();
  ASSERT_EQ(folded.size(), 10u);
  EXPECT_EQ(folded[0], 1.0);
  EXPECT_EQ(folded[1], 1.0);
  EXPECT_EQ(folded[3], 1.0);
  EXPECT_EQ(folded[9], 1.0);
  EXPECT_EQ(histogram.min(), -1.0f);
  EXPECT_EQ(histogram.max(), 5.0f);
}

TEST(ObserverTest, PercentileOfAUniformRamp) {
  // 1, 2, ..., 1000: 1% tails at 10 and 990, |x| 99th percentile at 990.
  const at::Tensor ramp = at::arange(1, 1001, at::kFloat);
  ObserverOptions options;
  options.percentile = 99.0;
  auto symmetric = Make("percentile", options);
  symmetric->Observe(ramp.slice(0, 0, 500));  // Two batches, the second widening the range.
  symmetric->Observe(ramp.slice(0, 500));
  const QuantScheme int8 = QuantScheme::Int8SymmetricPerTensor();
  EXPECT_NEAR(Hi(*symmetric, int8), 990.0, 1.5);
  EXPECT_EQ(Lo(*symmetric, int8), 1.0f);  // Never below the smallest value seen.
  options.percentile = 98.0;
  auto affine = Make("percentile", options);
  affine->Observe(ramp);
  const QuantScheme uint8 = QuantScheme::Uint8AffinePerTensor();
  EXPECT_NEAR(Lo(*affine, uint8), 10.0, 1.5);
  EXPECT_NEAR(Hi(*affine, uint8), 990.0, 1.5);
}

TEST(ObserverTest, KlKeepsTheWholeRangeOfUniformData) {
  torch::manual_seed(3);
  auto kl = Make("kl");
  kl->Observe(at::rand({20000}) * 2 - 1);
  const QuantScheme int8 = QuantScheme::Int8SymmetricPerTensor();
  const float amax = std::max(-Lo(*kl, int8), Hi(*kl, int8));
  EXPECT_GT(amax, 0.99f);  // Clipping a flat distribution only loses information.
}

TEST(ObserverTest, KlIgnoresTheSpikeOfExactZeros) {
  torch::manual_seed(4);
  const at::Tensor relu = at::relu(at::randn({100000}));  // Half of it exactly 0.
  auto kl = Make("kl");
  kl->Observe(relu);
  EXPECT_EQ(static_cast<const HistogramObserver&>(*kl).exact_zeros(),
            relu.eq(0).sum().item<double>());
  const QuantScheme uint8 = QuantScheme::Uint8AffinePerTensor();
  EXPECT_EQ(Lo(*kl, uint8), 0.0f);
  // About 3.9 of a maximum of 4.1; counting the zeros (half the data) in bin 0 pulled
  // the threshold down to about 2.05.
  EXPECT_GT(Hi(*kl, uint8), 3.5f);
}

// 100,000 N(0, 1) samples and five 1000.0 outliers: min/max spends the 8 bits on the
// outliers; percentile and KL clip them and quantize the bulk far better.
TEST(ObserverTest, PercentileAndKlClipHeavyTails) {
  torch::manual_seed(0);
  const at::Tensor bulk = at::randn({100000});
  const at::Tensor data = at::cat({bulk, at::full({5}, 1000.0f)});
  for (const QuantScheme& scheme :
       {QuantScheme::Int8SymmetricPerTensor(), QuantScheme::Uint8AffinePerTensor()}) {
    auto minmax = Make("minmax");
    auto percentile = Make("percentile");
    auto kl = Make("kl");
    for (Observer* o : {minmax.get(), percentile.get(), kl.get()}) {
      o->Observe(data.slice(0, 0, 50000));
      o->Observe(data.slice(0, 50000));
    }
    EXPECT_EQ(Hi(*minmax, scheme), 1000.0f);
    EXPECT_LT(Hi(*percentile, scheme), 10.0f) << scheme.ToString();
    EXPECT_GT(Hi(*percentile, scheme), 3.0f) << scheme.ToString();
    EXPECT_LT(Hi(*kl, scheme), 100.0f) << scheme.ToString();
    const double minmax_error = QuantMse(*minmax, scheme, bulk);
    EXPECT_LT(QuantMse(*percentile, scheme, bulk), minmax_error / 100) << scheme.ToString();
    EXPECT_LT(QuantMse(*kl, scheme, bulk), minmax_error / 20) << scheme.ToString();
  }
}

TEST(ObserverTest, MseSearchBeatsMinMaxOnGaussianData) {
  torch::manual_seed(1);
  const at::Tensor data = at::randn({100000});
  for (const QuantScheme& scheme :
       {QuantScheme::Int8SymmetricPerTensor(), QuantScheme::Uint8AffinePerTensor()}) {
    auto minmax = Make("minmax");
    auto mse = Make("mse");
    minmax->Observe(data);
    mse->Observe(data);
    EXPECT_LT(Hi(*mse, scheme), Hi(*minmax, scheme)) << scheme.ToString();
    EXPECT_LT(QuantMse(*mse, scheme, data), QuantMse(*minmax, scheme, data))
        << scheme.ToString();
  }
}

TEST(ObserverTest, AllZeroInputsWaitForARange) {
  auto observer = Make("percentile");
  observer->Observe(at::zeros({10}));
  EXPECT_TRUE(observer->observed());
  const QuantScheme scheme = QuantScheme::Uint8AffinePerTensor();
  EXPECT_EQ(Hi(*observer, scheme), 0.0f);
  observer->Observe(T({1.0f, 2.0f}));
  const auto& histogram = static_cast<const HistogramObserver&>(*observer);
  EXPECT_EQ(histogram.counts()[0], 10.0);  // The zeros land in bin 0 once a width exists.
}

TEST(ObserverTest, StateRoundTripRestoresEveryObserver) {
  torch::manual_seed(2);
  const QuantScheme scheme = QuantScheme::Uint8AffinePerTensor();
  for (const std::string& name : ObserverNames()) {
    auto first = Make(name);
    first->Observe(at::randn({1000}) * 3);
    first->Observe(at::randn({1000}) + 1);
    auto second = Make(name);
    ASSERT_TRUE(second->LoadState(first->State()).ok()) << name;
    const QuantParams a = first->QParams(scheme);
    const QuantParams b = second->QParams(scheme);
    EXPECT_TRUE(at::equal(a.scale, b.scale)) << name;
    EXPECT_TRUE(at::equal(a.zero_point, b.zero_point)) << name;
    const ObserverState sa = first->State(), sb = second->State();
    ASSERT_EQ(sa.size(), sb.size());
    for (const auto& [key, tensor] : sa) EXPECT_TRUE(at::equal(tensor, sb.at(key))) << key;
    // Same future: both see the same next batch.
    const at::Tensor next = at::randn({100}) * 10;
    first->Observe(next);
    second->Observe(next);
    EXPECT_TRUE(at::equal(first->QParams(scheme).scale, second->QParams(scheme).scale)) << name;
    // Unobserved observers round-trip too.
    auto fresh = Make(name);
    EXPECT_TRUE(Make(name)->LoadState(fresh->State()).ok()) << name;
  }
  ObserverState broken = Make("kl")->State();
  broken.erase("counts");
  const absl::Status status = Make("kl")->LoadState(broken);
  EXPECT_NE(status.message().find("'counts' is missing"), absl::string_view::npos) << status;
  ObserverState wrong = Make("minmax")->State();
  wrong["min"] = at::zeros({1}, at::kLong);
  EXPECT_NE(Make("minmax")->LoadState(wrong).message().find("'min'"), absl::string_view::npos);
}

TEST(ObserverTest, FactoryErrorsNameTheObserverAndOption) {
  absl::StatusOr<std::unique_ptr<Observer>> unknown = CreateObserver("entropy", {});
  EXPECT_EQ(unknown.status().message(),
            "observer \"entropy\" is unknown; supported: minmax, moving_average_minmax, "
            "percentile, kl, mse");
  ObserverOptions per_channel;
  per_channel.per_channel = true;
  EXPECT_NE(CreateObserver("kl", per_channel).status().message().find("per-tensor only"),
            absl::string_view::npos);
  ObserverOptions bad;
  bad.percentile = 150;
  EXPECT_EQ(CreateObserver("percentile", bad).status().message(),
            "observer \"percentile\": percentile must be in (0, 100], got 150");
  bad = {};
  bad.averaging_constant = 0;
  EXPECT_NE(CreateObserver("minmax", bad).status().message().find("averaging_constant"),
            absl::string_view::npos);
  EXPECT_TRUE(IsCalibrationObserver("kl"));
  EXPECT_FALSE(IsCalibrationObserver("moving_average_minmax"));
}

}  // namespace
}  // namespace compressor
