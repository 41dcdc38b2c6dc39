#include "datasets/classification_metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace datasets {
namespace {

template <typename T>
absl::Status CheckSizes(const char* metric, const std::vector<T>& predictions,
                        const std::vector<T>& labels) {
  if (predictions.size() != labels.size()) {
    return absl::InvalidArgumentError(absl::StrCat(metric, ": ", predictions.size(),
                                                   " predictions but ", labels.size(), " labels"));
  }
  if (predictions.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(metric, ": no predictions"));
  }
  return absl::OkStatus();
}

double Pearson(const std::vector<double>& x, const std::vector<double>& y) {
  const double n = static_cast<double>(x.size());
  const double mean_x = std::accumulate(x.begin(), x.end(), 0.0) / n;
  const double mean_y = std::accumulate(y.begin(), y.end(), 0.0) / n;
  double sxy = 0.0, sxx = 0.0, syy = 0.0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double dx = x[i] - mean_x;
    const double dy = y[i] - mean_y;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  if (sxx == 0.0 || syy == 0.0) return std::numeric_limits<double>::quiet_NaN();
  // Rounding can push |r| a hair past 1 for perfectly correlated data.
  return std::clamp(sxy / std::sqrt(sxx * syy), -1.0, 1.0);
}

// 1-based ranks, ties sharing the mean of the ranks they span (scipy's "average").
std::vector<double> AverageRanks(const std::vector<float>& values) {
  std::vector<size_t> order(values.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return values[a] < values[b]; });
  std::vector<double> ranks(values.size());
  for (size_t begin = 0; begin < order.size();) {
    size_t end = begin + 1;
    while (end < order.size() && values[order[end]] == values[order[begin]]) ++end;
    const double rank = (static_cast<double>(begin + 1) + static_cast<double>(end)) / 2.0;
    for (size_t i = begin; i < end; ++i) ranks[order[i]] = rank;
    begin = end;
  }
  return ranks;
}

// Hugging Face datasets' config names to glue_compute_metrics' names.
absl::string_view CanonicalTaskName(absl::string_view name) {
  if (name == "sst2") return "sst-2";
  if (name == "stsb") return "sts-b";
  if (name == "mnli_matched") return "mnli";
  if (name == "mnli_mismatched") return "mnli-mm";
  return name;
}

}  // namespace

absl::StatusOr<double> Accuracy(const std::vector<int64_t>& predictions,
                                const std::vector<int64_t>& labels) {
  RETURN_IF_ERROR(CheckSizes("accuracy", predictions, labels));
  size_t correct = 0;
  for (size_t i = 0; i < labels.size(); ++i) correct += predictions[i] == labels[i];
  return static_cast<double>(correct) / static_cast<double>(labels.size());
}

absl::StatusOr<double> BinaryF1(const std::vector<int64_t>& predictions,
                                const std::vector<int64_t>& labels) {
  RETURN_IF_ERROR(CheckSizes("f1", predictions, labels));
  int64_t true_positives = 0, predicted_positives = 0, actual_positives = 0;
  for (size_t i = 0; i < labels.size(); ++i) {
    const bool prediction_ok = predictions[i] == 0 || predictions[i] == 1;
    if (!prediction_ok || (labels[i] != 0 && labels[i] != 1)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "f1: binary F1 needs classes 0 and 1, got ", prediction_ok ? "label " : "prediction ",
          prediction_ok ? labels[i] : predictions[i], " at index ", i));
    }
    true_positives += predictions[i] == 1 && labels[i] == 1;
    predicted_positives += predictions[i] == 1;
    actual_positives += labels[i] == 1;
  }
  if (true_positives == 0) return 0.0;
  // F1 = 2PR/(P+R) = 2TP / (predicted positives + actual positives).
  return 2.0 * static_cast<double>(true_positives) /
         static_cast<double>(predicted_positives + actual_positives);
}

absl::StatusOr<Metrics> AccuracyAndF1(const std::vector<int64_t>& predictions,
                                      const std::vector<int64_t>& labels) {
  ASSIGN_OR_RETURN(const double accuracy, Accuracy(predictions, labels));
  ASSIGN_OR_RETURN(const double f1, BinaryF1(predictions, labels));
  return Metrics{{"acc", accuracy}, {"f1", f1}, {"acc_and_f1", (accuracy + f1) / 2.0}};
}

absl::StatusOr<double> MatthewsCorrelation(const std::vector<int64_t>& predictions,
                                           const std::vector<int64_t>& labels) {
  RETURN_IF_ERROR(CheckSizes("matthews_correlation", predictions, labels));
  // Gorodkin's multi-class form over the confusion matrix's row/column sums.
  std::map<int64_t, double> predicted_count, true_count;
  double correct = 0.0;
  for (size_t i = 0; i < labels.size(); ++i) {
    predicted_count[predictions[i]] += 1.0;
    true_count[labels[i]] += 1.0;
    correct += predictions[i] == labels[i];
  }
  const double n = static_cast<double>(labels.size());
  double cross = 0.0, predicted_squares = 0.0, true_squares = 0.0;
  for (const auto& [label, count] : predicted_count) {
    predicted_squares += count * count;
    auto it = true_count.find(label);
    if (it != true_count.end()) cross += count * it->second;
  }
  for (const auto& [label, count] : true_count) true_squares += count * count;
  const double denominator = std::sqrt((n * n - predicted_squares) * (n * n - true_squares));
  if (denominator == 0.0) return 0.0;
  return (correct * n - cross) / denominator;
}

absl::StatusOr<double> PearsonCorrelation(const std::vector<float>& predictions,
                                          const std::vector<float>& labels) {
  RETURN_IF_ERROR(CheckSizes("pearson", predictions, labels));
  return Pearson(std::vector<double>(predictions.begin(), predictions.end()),
                 std::vector<double>(labels.begin(), labels.end()));
}

absl::StatusOr<double> SpearmanCorrelation(const std::vector<float>& predictions,
                                           const std::vector<float>& labels) {
  RETURN_IF_ERROR(CheckSizes("spearmanr", predictions, labels));
  return Pearson(AverageRanks(predictions), AverageRanks(labels));
}

absl::StatusOr<Metrics> PearsonAndSpearman(const std::vector<float>& predictions,
                                           const std::vector<float>& labels) {
  ASSIGN_OR_RETURN(const double pearson, PearsonCorrelation(predictions, labels));
  ASSIGN_OR_RETURN(const double spearman, SpearmanCorrelation(predictions, labels));
  return Metrics{
      {"pearson", pearson}, {"spearmanr", spearman}, {"corr", (pearson + spearman) / 2.0}};
}

absl::StatusOr<Metrics> GlueComputeMetrics(absl::string_view task_name,
                                           const std::vector<int64_t>& predictions,
                                           const std::vector<int64_t>& labels) {
  const absl::string_view task = CanonicalTaskName(task_name);
  if (task == "cola") {
    ASSIGN_OR_RETURN(const double mcc, MatthewsCorrelation(predictions, labels));
    return Metrics{{"mcc", mcc}};
  }
  if (task == "sst-2" || task == "qnli" || task == "rte" || task == "wnli" || task == "mnli" ||
      task == "mnli-mm") {
    ASSIGN_OR_RETURN(const double accuracy, Accuracy(predictions, labels));
    if (task == "mnli") return Metrics{{"mnli/acc", accuracy}};
    if (task == "mnli-mm") return Metrics{{"mnli-mm/acc", accuracy}};
    return Metrics{{"acc", accuracy}};
  }
  if (task == "mrpc" || task == "qqp") return AccuracyAndF1(predictions, labels);
  if (task == "sts-b") {
    return absl::InvalidArgumentError(absl::StrCat(
        "GLUE task \"", task_name,
        "\" is a regression task; use GlueComputeRegressionMetrics with float scores"));
  }
  return absl::NotFoundError(
      absl::StrCat("unknown GLUE task \"", task_name,
                   "\"; known: cola, sst-2, mrpc, sts-b, qqp, mnli, mnli-mm, qnli, rte, wnli"));
}

absl::StatusOr<Metrics> GlueComputeRegressionMetrics(absl::string_view task_name,
                                                     const std::vector<float>& predictions,
                                                     const std::vector<float>& labels) {
  if (CanonicalTaskName(task_name) == "sts-b") return PearsonAndSpearman(predictions, labels);
  return absl::InvalidArgumentError(
      absl::StrCat("GLUE task \"", task_name,
                   "\" is not a regression task (only sts-b is); use GlueComputeMetrics"));
}

}  // namespace datasets
