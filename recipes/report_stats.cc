#include "recipes/report_stats.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace recipes {
namespace {

using Json = nlohmann::json;

// Calls visit(indices) for each resample. std::mt19937_64's sequence is fixed by the C++
// standard (unlike the distributions'), and `% n` is unbiased to ~n / 2^64, so the intervals
// are the same on every platform.
template <typename Visit>
void ForEachResample(size_t n, const BootstrapOptions& options, Visit visit) {
  std::mt19937_64 rng(options.seed);
  std::vector<size_t> indices(n);
  for (int64_t b = 0; b < options.resamples; ++b) {
    for (size_t& index : indices) index = static_cast<size_t>(rng() % n);
    visit(indices);
  }
}

// numpy.percentile's default (linear interpolation between order statistics).
double Quantile(const std::vector<double>& sorted, double q) {
  const double position = q * static_cast<double>(sorted.size() - 1);
  const size_t below = static_cast<size_t>(std::floor(position));
  const size_t above = std::min(below + 1, sorted.size() - 1);
  return sorted[below] + (position - below) * (sorted[above] - sorted[below]);
}

Interval Percentiles(std::vector<double> samples, double level) {
  std::sort(samples.begin(), samples.end());
  const double tail = (1.0 - level) / 2;
  return {Quantile(samples, tail), Quantile(samples, 1.0 - tail)};
}

double Sum(const std::vector<double>& values, const std::vector<size_t>& indices) {
  double sum = 0;
  for (size_t i : indices) sum += values[i];
  return sum;
}

double Number(const Json& json, const std::string& key) {
  if (!json.is_object() || !json.contains(key) || !json[key].is_number()) return std::nan("");
  return json[key].get<double>();
}

std::optional<Interval> IntervalOf(const Json& json) {
  if (!json.is_array() || json.size() != 2 || !json[0].is_number() || !json[1].is_number()) {
    return std::nullopt;
  }
  return Interval{json[0].get<double>(), json[1].get<double>()};
}

std::string IntervalText(const Interval& ci, int decimals) {
  return absl::StrFormat("[%.*f, %.*f]", decimals, ci.lo, decimals, ci.hi);
}

// "F1" / "EM" / "accuracy" for sentences.
std::string MetricName(const std::string& key) {
  if (key == "f1") return "F1";
  if (key == "exact_match") return "EM";
  return key;
}

// Classification baselines this close to always predicting the majority class (in points)
// say little; QA baselines under this F1 (points) hardly find answers at all.
constexpr double kNearChancePoints = 5.0;
constexpr double kWeakQaF1 = 10.0;

}  // namespace

std::optional<Interval> BootstrapMeanCi(const std::vector<double>& values,
                                        const BootstrapOptions& options) {
  if (values.empty() || options.resamples < 1) return std::nullopt;
  std::vector<double> means;
  means.reserve(options.resamples);
  const double n = static_cast<double>(values.size());
  ForEachResample(values.size(), options,
                  [&](const std::vector<size_t>& indices) { means.push_back(Sum(values, indices) / n); });
  return Percentiles(std::move(means), options.level);
}

std::optional<Interval> PairedBootstrapRatioCi(const std::vector<double>& row,
                                               const std::vector<double>& base,
                                               const BootstrapOptions& options) {
  if (row.empty() || row.size() != base.size() || options.resamples < 1) return std::nullopt;
  std::vector<double> ratios;
  ratios.reserve(options.resamples);
  bool bounded = true;
  // The 1/n of both means cancels: the ratio of sums is the ratio of means.
  ForEachResample(row.size(), options, [&](const std::vector<size_t>& indices) {
    const double base_sum = Sum(base, indices);
    if (base_sum == 0) bounded = false;
    if (bounded) ratios.push_back(Sum(row, indices) / base_sum);
  });
  if (!bounded) return std::nullopt;
  return Percentiles(std::move(ratios), options.level);
}

std::optional<std::vector<double>> AlignToIds(const std::vector<std::string>& ids,
                                              const std::vector<double>& values,
                                              const std::vector<std::string>& order) {
  if (ids.size() != values.size() || ids.size() != order.size()) return std::nullopt;
  if (ids == order) return values;
  std::map<std::string, double> by_id;
  for (size_t i = 0; i < ids.size(); ++i) by_id[ids[i]] = values[i];
  if (by_id.size() != ids.size()) return std::nullopt;  // Repeated ids: no pairing.
  std::vector<double> aligned;
  for (const std::string& id : order) {
    auto it = by_id.find(id);
    if (it == by_id.end()) return std::nullopt;
    aligned.push_back(it->second);
  }
  return aligned;
}

double PointsPerUnit(const std::string& task) {
  return task == "question_answering" ? 1.0 : 100.0;
}

std::string WhatThisRunShows(const Json& rows, const std::vector<std::string>& groups,
                             const std::string& baseline_row) {
  std::vector<std::string> sentences;
  const Json* baseline = nullptr;
  for (const Json& row : rows) {
    if (row.value("name", "") == baseline_row) baseline = &row;
  }
  for (const std::string& group : groups) {
    // The baseline first: whether the ratios below have a meaningful denominator.
    if (baseline != nullptr && (*baseline)["groups"].contains(group)) {
      const Json& g = (*baseline)["groups"][group];
      const std::string task = g.value("task", "");
      const std::string metric = g.value("metric", "");
      const double points = PointsPerUnit(task);
      const double value = Number(g["metrics"], metric);
      const double majority = Number(g, "majority_rate");
      const std::optional<Interval> ci = IntervalOf(g.value("metric_ci95", Json()));
      if (task == "classification" && std::isfinite(value) && std::isfinite(majority)) {
        const bool near = (value - majority) * points < kNearChancePoints;
        const bool reaches = ci && ci->lo <= majority;
        if (near || reaches) {
          sentences.push_back(absl::StrFormat(
              "%s: the %s baseline is close to chance: its %s %.2f%s against a majority-class "
              "rate (always predicting the most frequent dev label) of %.2f%s, so its "
              "retention ratios say little.",
              group, baseline_row, metric, value * points,
              ci ? " " + IntervalText({ci->lo * points, ci->hi * points}, 2) : "",
              majority * points,
              reaches ? ", which its interval reaches"
                      : absl::StrFormat(", less than %.0f points under the %s", kNearChancePoints,
                                        metric)));
        } else {
          sentences.push_back(absl::StrFormat(
              "%s: the %s baseline's %s %.2f is %.2f points above the majority-class rate %.2f.",
              group, baseline_row, metric, value * points, (value - majority) * points,
              majority * points));
        }
      } else if (task == "question_answering" && std::isfinite(Number(g["metrics"], "f1")) &&
                 Number(g["metrics"], "f1") < kWeakQaF1) {
        sentences.push_back(absl::StrFormat(
            "%s: the %s baseline's F1 is %.2f (under %.0f), so it rarely finds answers and its "
            "retention ratios say little.",
            group, baseline_row, Number(g["metrics"], "f1"), kWeakQaF1));
      }
    }
    for (const Json& row : rows) {
      const std::string name = row.value("name", "");
      if (name == baseline_row || !row["groups"].contains(group)) continue;
      const Json& g = row["groups"][group];
      const std::string metric = g.value("metric", "");
      const double points = PointsPerUnit(g.value("task", ""));
      const double retention = Number(g["retention"], metric);
      const std::optional<Interval> ci = IntervalOf(g.value("retention_ci95", Json()));
      const Json paper = g.value("paper_retention", Json::object());
      const double paper_value = Number(paper, "value");
      if (g.value("sparsity", 0.0) > 0.005) {
        std::string text = absl::StrFormat("%s, %s (%.1f%% sparse): %s retention %s", name, group,
                                           100.0 * g.value("sparsity", 0.0), MetricName(metric),
                                           std::isfinite(retention)
                                               ? absl::StrFormat("%.3f", retention)
                                               : std::string("undefined"));
        if (ci) absl::StrAppend(&text, " ", IntervalText(*ci, 3));
        if (!std::isfinite(paper_value)) {
          absl::StrAppend(&text, "; the paper gives no retention to compare with.");
        } else if (!ci) {
          absl::StrAppendFormat(&text,
                                " has no interval (no per-example scores, or a baseline "
                                "resample scoring 0), so it is not compared with the paper's "
                                "%.3f (%s).",
                                paper_value, paper.value("what", ""));
        } else {
          const bool contains = ci->lo <= paper_value && paper_value <= ci->hi;
          absl::StrAppendFormat(&text, " %s the paper's %.3f (%s)%s.",
                                contains ? "contains" : "does not contain", paper_value,
                                paper.value("what", ""),
                                contains ? ""
                                         : paper_value > ci->hi ? ": this run retains less"
                                                                : ": this run retains more");
        }
        sentences.push_back(text);
      }
      const std::string fp32_row = g.value("fp32_row", "");
      if (!g.value("int8", false) || fp32_row.empty()) continue;
      for (const Json& other : rows) {
        if (other.value("name", "") != fp32_row || !other["groups"].contains(group)) continue;
        const double int8_value = Number(g["metrics"], metric) * points;
        const double fp32_value = Number(other["groups"][group]["metrics"], metric) * points;
        if (!std::isfinite(int8_value) || !std::isfinite(fp32_value)) continue;
        const double delta = int8_value - fp32_value;
        sentences.push_back(absl::StrFormat(
            "%s, %s: %s %.2f vs %.2f for its fp32 row %s (%+.2f points): %s 1 point.", name,
            group, MetricName(metric), int8_value, fp32_value, fp32_row, delta,
            std::fabs(delta) <= 1.0 ? "within" : "not within"));
      }
    }
  }
  if (sentences.empty()) return "No sparse or INT8 rows to compare.";
  return absl::StrJoin(sentences, " ");
}

}  // namespace recipes
