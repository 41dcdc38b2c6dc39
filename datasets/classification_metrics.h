// Evaluation metrics of sentence classification and regression tasks, matching Hugging
// Face's glue_compute_metrics (scikit-learn / scipy definitions), so our numbers can be
// compared with published GLUE results.
//
// Every metric is a fraction (accuracy 0.84, not 84) as Hugging Face reports them.
//
//   ASSIGN_OR_RETURN(Metrics metrics, GlueComputeMetrics("mrpc", predictions, labels));
//   // metrics: {"acc": 0.86, "acc_and_f1": 0.88, "f1": 0.90}
#ifndef DATASETS_CLASSIFICATION_METRICS_H_
#define DATASETS_CLASSIFICATION_METRICS_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace datasets {

// Metric name -> value, with Hugging Face's names ("acc", "f1", "mnli/acc", ...).
using Metrics = std::map<std::string, double>;

// All functions fail with InvalidArgument when predictions and labels differ in size or
// are empty.

// Fraction of predictions equal to their label.
absl::StatusOr<double> Accuracy(const std::vector<int64_t>& predictions,
                                const std::vector<int64_t>& labels);

// F1 of the positive class 1, as scikit-learn's f1_score(average="binary"): 0 when there
// are no true positives. InvalidArgument for a value other than 0 or 1.
absl::StatusOr<double> BinaryF1(const std::vector<int64_t>& predictions,
                                const std::vector<int64_t>& labels);

// {"acc", "f1", "acc_and_f1" (their mean)}: what QQP and MRPC report.
absl::StatusOr<Metrics> AccuracyAndF1(const std::vector<int64_t>& predictions,
                                      const std::vector<int64_t>& labels);

// Matthews correlation coefficient in [-1, 1] (multi-class form, as scikit-learn's
// matthews_corrcoef): 0 when every prediction or every label is one class.
absl::StatusOr<double> MatthewsCorrelation(const std::vector<int64_t>& predictions,
                                           const std::vector<int64_t>& labels);

// Pearson's r; NaN when either side is constant (as scipy.stats.pearsonr).
absl::StatusOr<double> PearsonCorrelation(const std::vector<float>& predictions,
                                          const std::vector<float>& labels);

// Spearman's rho: Pearson's r of the ranks, ties given their average rank (as
// scipy.stats.spearmanr); NaN when either side is constant.
absl::StatusOr<double> SpearmanCorrelation(const std::vector<float>& predictions,
                                           const std::vector<float>& labels);

// {"pearson", "spearmanr", "corr" (their mean)}: what STS-B reports.
absl::StatusOr<Metrics> PearsonAndSpearman(const std::vector<float>& predictions,
                                           const std::vector<float>& labels);

// The metrics Hugging Face's glue_compute_metrics reports for a classification task, from
// predicted class ids: cola {"mcc"}; sst-2, qnli, rte, wnli {"acc"}; mnli {"mnli/acc"};
// mnli-mm {"mnli-mm/acc"}; mrpc, qqp AccuracyAndF1. Hugging Face datasets' names (sst2,
// mnli_matched, mnli_mismatched) are accepted too. NotFound for an unknown task;
// InvalidArgument for sts-b, which needs GlueComputeRegressionMetrics.
absl::StatusOr<Metrics> GlueComputeMetrics(absl::string_view task_name,
                                           const std::vector<int64_t>& predictions,
                                           const std::vector<int64_t>& labels);

// The metrics of a regression task from predicted scores: sts-b (or stsb)
// PearsonAndSpearman. InvalidArgument for classification tasks.
absl::StatusOr<Metrics> GlueComputeRegressionMetrics(absl::string_view task_name,
                                                     const std::vector<float>& predictions,
                                                     const std::vector<float>& labels);

}  // namespace datasets

#endif  // DATASETS_CLASSIFICATION_METRICS_H_
