#include "datasets/classification_metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

namespace datasets {
namespace {

using Ints = std::vector<int64_t>;
using Floats = std::vector<float>;

// Confusion: TP 2 (0, 3), TN 1 (1), FP 1 (2), FN 1 (4).
const Ints kPredictions = {1, 0, 1, 1, 0};
const Ints kLabels = {1, 0, 0, 1, 1};

TEST(ClassificationMetricsTest, AccuracyIsAFraction) {
  auto accuracy = Accuracy(kPredictions, kLabels);
  ASSERT_TRUE(accuracy.ok()) << accuracy.status();
  EXPECT_DOUBLE_EQ(*accuracy, 0.6);
}

TEST(ClassificationMetricsTest, BinaryF1OfClassOne) {
  // 2TP / (predicted + actual positives) = 4 / 6.
  auto f1 = BinaryF1(kPredictions, kLabels);
  ASSERT_TRUE(f1.ok()) << f1.status();
  EXPECT_DOUBLE_EQ(*f1, 2.0 / 3.0);

  auto no_true_positive = BinaryF1({0, 0, 1}, {1, 0, 0});
  ASSERT_TRUE(no_true_positive.ok());
  EXPECT_DOUBLE_EQ(*no_true_positive, 0.0);

  auto not_binary = BinaryF1({1, 0}, {1, 2});
  EXPECT_EQ(not_binary.status().message(),
            "f1: binary F1 needs classes 0 and 1, got label 2 at index 1");
}

TEST(ClassificationMetricsTest, AccuracyAndF1ReportsBothAndTheirMean) {
  auto metrics = AccuracyAndF1(kPredictions, kLabels);
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  ASSERT_EQ(metrics->size(), 3u);
  EXPECT_DOUBLE_EQ(metrics->at("acc"), 0.6);
  EXPECT_DOUBLE_EQ(metrics->at("f1"), 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(metrics->at("acc_and_f1"), (0.6 + 2.0 / 3.0) / 2.0);
}

TEST(ClassificationMetricsTest, MatthewsCorrelation) {
  // (TP*TN - FP*FN) / sqrt((TP+FP)(TP+FN)(TN+FP)(TN+FN)) = (2 - 1) / sqrt(3*3*2*2).
  auto binary = MatthewsCorrelation(kPredictions, kLabels);
  ASSERT_TRUE(binary.ok()) << binary.status();
  EXPECT_DOUBLE_EQ(*binary, 1.0 / 6.0);

  // Three classes: (c*n - sum p_k t_k) / sqrt((n^2 - sum p_k^2)(n^2 - sum t_k^2))
  // = (5*6 - 12) / sqrt((36 - 14)(36 - 12)).
  auto multiclass = MatthewsCorrelation({0, 0, 1, 2, 2, 2}, {0, 0, 1, 1, 2, 2});
  ASSERT_TRUE(multiclass.ok()) << multiclass.status();
  EXPECT_DOUBLE_EQ(*multiclass, 18.0 / std::sqrt(528.0));

  auto perfect = MatthewsCorrelation({1, 0, 1}, {1, 0, 1});
  EXPECT_DOUBLE_EQ(*perfect, 1.0);
  auto inverted = MatthewsCorrelation({0, 1, 0}, {1, 0, 1});
  EXPECT_DOUBLE_EQ(*inverted, -1.0);
  auto constant = MatthewsCorrelation({1, 1, 1}, {1, 0, 1});
  EXPECT_DOUBLE_EQ(*constant, 0.0);
}

TEST(ClassificationMetricsTest, PearsonAndSpearman) {
  // Deviations (-1.5, -.5, .5, 1.5) and (-3, -1, 0, 4): 11 / sqrt(5 * 26).
  auto pearson = PearsonCorrelation({1, 2, 3, 4}, {2, 4, 5, 9});
  ASSERT_TRUE(pearson.ok()) << pearson.status();
  EXPECT_NEAR(*pearson, 11.0 / std::sqrt(130.0), 1e-12);

  // Ranks (1, 2.5, 2.5, 4) and (1, 3, 2, 4): 4.5 / sqrt(4.5 * 5).
  auto spearman = SpearmanCorrelation({1, 2, 2, 3}, {1, 3, 2, 4});
  ASSERT_TRUE(spearman.ok()) << spearman.status();
  EXPECT_NEAR(*spearman, std::sqrt(0.9), 1e-12);

  auto monotone = SpearmanCorrelation({1, 2, 3, 4}, {2, 4, 5, 9});
  EXPECT_DOUBLE_EQ(*monotone, 1.0);

  auto both = PearsonAndSpearman({1, 2, 3, 4}, {2, 4, 5, 9});
  ASSERT_TRUE(both.ok()) << both.status();
  EXPECT_NEAR(both->at("pearson"), 11.0 / std::sqrt(130.0), 1e-12);
  EXPECT_DOUBLE_EQ(both->at("spearmanr"), 1.0);
  EXPECT_NEAR(both->at("corr"), (11.0 / std::sqrt(130.0) + 1.0) / 2.0, 1e-12);

  auto constant = PearsonCorrelation({1, 1, 1}, {1, 2, 3});
  ASSERT_TRUE(constant.ok());
  EXPECT_TRUE(std::isnan(*constant));
}

TEST(ClassificationMetricsTest, RejectsMismatchedOrEmptyInputs) {
  auto mismatched = Accuracy({1, 0}, {1, 0, 1});
  EXPECT_EQ(mismatched.status().message(), "accuracy: 2 predictions but 3 labels");
  auto empty = MatthewsCorrelation({}, {});
  EXPECT_EQ(empty.status().message(), "matthews_correlation: no predictions");
  auto floats = SpearmanCorrelation({1.0f}, {});
  EXPECT_EQ(floats.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ClassificationMetricsTest, GlueComputeMetricsFollowsHuggingFace) {
  auto mrpc = GlueComputeMetrics("mrpc", kPredictions, kLabels);
  ASSERT_TRUE(mrpc.ok()) << mrpc.status();
  EXPECT_EQ(*mrpc,
            (Metrics{{"acc", 0.6}, {"acc_and_f1", (0.6 + 2.0 / 3.0) / 2.0}, {"f1", 2.0 / 3.0}}));
  auto qqp = GlueComputeMetrics("qqp", kPredictions, kLabels);
  EXPECT_EQ(*qqp, *mrpc);

  EXPECT_EQ(*GlueComputeMetrics("sst-2", kPredictions, kLabels), (Metrics{{"acc", 0.6}}));
  EXPECT_EQ(*GlueComputeMetrics("sst2", kPredictions, kLabels), (Metrics{{"acc", 0.6}}));
  EXPECT_EQ(*GlueComputeMetrics("qnli", kPredictions, kLabels), (Metrics{{"acc", 0.6}}));
  EXPECT_EQ(*GlueComputeMetrics("mnli", {0, 1, 2, 2}, {0, 1, 2, 1}), (Metrics{{"mnli/acc", 0.75}}));
  EXPECT_EQ(*GlueComputeMetrics("mnli-mm", {0, 1, 2, 2}, {0, 1, 2, 1}),
            (Metrics{{"mnli-mm/acc", 0.75}}));
  EXPECT_EQ(*GlueComputeMetrics("mnli_mismatched", {0, 1, 2, 2}, {0, 1, 2, 1}),
            (Metrics{{"mnli-mm/acc", 0.75}}));
  EXPECT_EQ(*GlueComputeMetrics("cola", kPredictions, kLabels), (Metrics{{"mcc", 1.0 / 6.0}}));

  EXPECT_EQ(GlueComputeMetrics("sts-b", kPredictions, kLabels).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(GlueComputeMetrics("squad", kPredictions, kLabels).status().code(),
            absl::StatusCode::kNotFound);
  // MNLI has three classes: binary F1 must not silently treat 2 as negative.
  EXPECT_EQ(GlueComputeMetrics("mrpc", {0, 2}, {0, 1}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ClassificationMetricsTest, GlueComputeRegressionMetricsForStsb) {
  auto stsb = GlueComputeRegressionMetrics("stsb", {1, 2, 3, 4}, {2, 4, 5, 9});
  ASSERT_TRUE(stsb.ok()) << stsb.status();
  EXPECT_EQ(stsb->size(), 3u);
  EXPECT_DOUBLE_EQ(stsb->at("spearmanr"), 1.0);
  EXPECT_EQ(GlueComputeRegressionMetrics("mrpc", {1}, {1}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace datasets
