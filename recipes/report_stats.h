// The report's statistics: percentile bootstrap intervals of a mean and of a paired ratio of
// means (retention = row metric / baseline metric, both resampled with the same dev-example
// indices), and the "What this run shows" paragraph generated from the figures in
// results.json's rows (no hand-written claims).
//
//   BootstrapOptions options;  // 1000 resamples, fixed seed, 95%.
//   std::optional<Interval> ci = PairedBootstrapRatioCi(row_f1, dense_f1, options);
#ifndef RECIPES_REPORT_STATS_H_
#define RECIPES_REPORT_STATS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace recipes {

struct BootstrapOptions {
  int64_t resamples = 1000;  // Resamples of the examples, with replacement.
  uint64_t seed = 1;         // The indices depend only on (seed, n, resample), so every row
                             // of a column is resampled with the same indices.
  double level = 0.95;       // Central coverage of the percentile interval.
};

struct Interval {
  double lo = 0;
  double hi = 0;
};

// Percentile interval of the mean of `values`; nullopt when empty or resamples is 0.
std::optional<Interval> BootstrapMeanCi(const std::vector<double>& values,
                                        const BootstrapOptions& options);

// Percentile interval of mean(row) / mean(base), row[i] and base[i] scoring the same example
// and each resample drawing the same indices for both (paired). nullopt when the sizes differ,
// they are empty, resamples is 0, or some resample's baseline mean is 0 (the ratio is then
// unbounded and no interval is honest).
std::optional<Interval> PairedBootstrapRatioCi(const std::vector<double>& row,
                                               const std::vector<double>& base,
                                               const BootstrapOptions& options);

// `values` (scoring `ids`) reordered to `order`'s ids; nullopt unless both hold the same ids.
std::optional<std::vector<double>> AlignToIds(const std::vector<std::string>& ids,
                                              const std::vector<double>& values,
                                              const std::vector<std::string>& order);

// Points of a task's metric per stored unit: 1 for QA (already 0..100), 100 for fractions.
double PointsPerUnit(const std::string& task);

// The paragraph, from results.json's "rows" (each group as report.cc writes it: "metric",
// "metrics", "retention", "retention_ci95", "metric_ci95", "sparsity", "int8", "task", and
// when known "paper_retention" {"value", "what"}, "fp32_row", "majority_rate"), for the
// column groups in `groups` order. Says, per sparse row and group, whether the retention
// interval contains the paper's retention; per INT8 row whether it is within 1 point of its
// fp32 row; and when the baseline is weak (classification: within 5 points of the
// majority-class rate or its interval reaching it; QA: F1 under 10 points).
std::string WhatThisRunShows(const nlohmann::json& rows, const std::vector<std::string>& groups,
                             const std::string& baseline_row);

}  // namespace recipes

#endif  // RECIPES_REPORT_STATS_H_
