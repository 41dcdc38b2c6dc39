#include "recipes/report_stats.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace recipes {
namespace {

using Json = nlohmann::json;

std::vector<double> Coin(size_t n, double p, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<double> values;
  for (size_t i = 0; i < n; ++i) values.push_back((rng() % 1000) < p * 1000 ? 1.0 : 0.0);
  return values;
}

double Mean(const std::vector<double>& values) {
  double sum = 0;
  for (double v : values) sum += v;
  return sum / values.size();
}

TEST(ReportStatsTest, MeanIntervalContainsTheMeanAndIsReproducible) {
  const std::vector<double> values = Coin(400, 0.7, 3);
  const auto ci = BootstrapMeanCi(values, {});
  ASSERT_TRUE(ci.has_value());
  EXPECT_LT(ci->lo, Mean(values));
  EXPECT_GT(ci->hi, Mean(values));
  // Binomial standard error sqrt(.7 * .3 / 400) = 0.023: a 95% interval about +-0.045.
  EXPECT_NEAR(ci->hi - ci->lo, 2 * 1.96 * 0.0229, 0.02);
  const auto again = BootstrapMeanCi(values, {});
  EXPECT_EQ(again->lo, ci->lo);
  EXPECT_EQ(again->hi, ci->hi);
  BootstrapOptions none;
  none.resamples = 0;
  EXPECT_FALSE(BootstrapMeanCi(values, none).has_value());
  EXPECT_FALSE(BootstrapMeanCi({}, {}).has_value());
}

TEST(ReportStatsTest, RatioIsPaired) {
  const std::vector<double> base = Coin(300, 0.6, 5);
  // Identical to the baseline: every resample's ratio is exactly 1.
  const auto same = PairedBootstrapRatioCi(base, base, {});
  ASSERT_TRUE(same.has_value());
  EXPECT_EQ(same->lo, 1.0);
  EXPECT_EQ(same->hi, 1.0);
  // A row that differs on 5 examples only: pairing makes the interval far narrower than the
  // independent spread of either mean (about +-0.09 relative).
  std::vector<double> row = base;
  int changed = 0;
  for (size_t i = 0; i < row.size() && changed < 5; ++i) {
    if (row[i] == 1.0) row[i] = 0.0, ++changed;
  }
  const auto ci = PairedBootstrapRatioCi(row, base, {});
  ASSERT_TRUE(ci.has_value());
  const double point = Mean(row) / Mean(base);
  EXPECT_LE(ci->lo, point);
  EXPECT_GE(ci->hi, point);
  EXPECT_LT(ci->hi - ci->lo, 0.06);
  EXPECT_LE(ci->hi, 1.0);  // The row never beats the baseline on any resample.
  // No interval for mismatched sizes or a baseline that can resample to 0.
  EXPECT_FALSE(PairedBootstrapRatioCi(row, {1.0}, {}).has_value());
  std::vector<double> rare(50, 0.0);
  rare[0] = 1.0;
  EXPECT_FALSE(PairedBootstrapRatioCi(rare, rare, {}).has_value());
}

TEST(ReportStatsTest, AlignsById) {
  const auto aligned = AlignToIds({"b", "a"}, {2.0, 1.0}, {"a", "b"});
  ASSERT_TRUE(aligned.has_value());
  EXPECT_EQ(*aligned, (std::vector<double>{1.0, 2.0}));
  EXPECT_FALSE(AlignToIds({"b", "c"}, {2.0, 1.0}, {"a", "b"}).has_value());
}

Json Group(const std::string& task, const std::string& metric, double value, double sparsity,
           bool int8) {
  return {{"task", task}, {"metric", metric}, {"metrics", {{metric, value}}},
          {"sparsity", sparsity}, {"int8", int8}, {"retention", Json::object()}};
}

TEST(ReportStatsTest, ParagraphComparesWithThePaperQatAndChance) {
  Json dense = {{"name", "dense"}, {"groups", Json::object()}};
  dense["groups"]["qa"] = Group("question_answering", "f1", 60.0, 0.0, false);
  dense["groups"]["cls"] = Group("classification", "accuracy", 0.52, 0.0, false);
  dense["groups"]["cls"]["majority_rate"] = 0.5;
  dense["groups"]["cls"]["metric_ci95"] = {0.45, 0.6};
  Json sparse = {{"name", "85%"}, {"groups", Json::object()}};
  sparse["groups"]["qa"] = Group("question_answering", "f1", 58.8, 0.85, false);
  sparse["groups"]["qa"]["retention"]["f1"] = 0.98;
  sparse["groups"]["qa"]["retention_ci95"] = {0.96, 1.001};
  sparse["groups"]["qa"]["paper_retention"] = {{"value", 0.9986}, {"what", "SQuAD F1"}};
  Json qat = {{"name", "85% + QAT"}, {"groups", Json::object()}};
  qat["groups"]["qa"] = Group("question_answering", "f1", 56.0, 0.85, true);
  qat["groups"]["qa"]["retention"]["f1"] = 56.0 / 60.0;
  qat["groups"]["qa"]["retention_ci95"] = {0.9, 0.96};
  qat["groups"]["qa"]["paper_retention"] = {{"value", 0.9986}, {"what", "SQuAD F1"}};
  qat["groups"]["qa"]["fp32_row"] = "85%";
  const Json rows = {dense, sparse, qat};
  const std::string text = WhatThisRunShows(rows, {"qa", "cls"}, "dense");
  EXPECT_NE(text.find("85%, qa (85.0% sparse): F1 retention 0.980 [0.960, 1.001] contains the "
                      "paper's 0.999 (SQuAD F1)."),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("[0.900, 0.960] does not contain the paper's 0.999 (SQuAD F1): this run "
                      "retains less."),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("F1 56.00 vs 58.80 for its fp32 row 85% (-2.80 points): not within 1 "
                      "point."),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("cls: the dense baseline is close to chance: its accuracy 52.00 [45.00, "
                      "60.00] against a majority-class rate (always predicting the most "
                      "frequent dev label) of 50.00, which its interval reaches"),
            std::string::npos)
      << text;
}

}  // namespace
}  // namespace recipes
