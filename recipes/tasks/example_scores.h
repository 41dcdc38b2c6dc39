// Per-example scores of an evaluation (per SQuAD question: EM and F1; per classification
// row: correct or not), kept beside the aggregate metrics so the report can put bootstrap
// confidence intervals on them and on retention ratios. Each score is on its metric's own
// scale, so the mean over the examples is the metric itself (QA 0..100, accuracy 0/1).
//
//   ASSIGN_OR_RETURN(ScoredEvaluation scored, evaluate(model));
//   RETURN_IF_ERROR(base::WriteStringToFileAtomically(dir + "/" + kEvalScoresFile,
//                                                     ExampleScoresToJson(scored.examples)));
#ifndef RECIPES_TASKS_EXAMPLE_SCORES_H_
#define RECIPES_TASKS_EXAMPLE_SCORES_H_

#include <torch/nn/module.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace recipes {

// The file a stage writes them to, next to its result.json.
inline constexpr char kEvalScoresFile[] = "eval_scores.json";

struct ExampleScores {
  std::string task;               // "question_answering" or "classification".
  std::vector<std::string> ids;   // Question id, or the row's index in the eval file order.
  // Metric key (as the evaluate map names it) -> one score per id.
  std::map<std::string, std::vector<double>> scores;
  std::vector<int64_t> labels;    // Classification: gold label id per row (chance rates).
  bool empty() const { return ids.empty(); }
};

struct ScoredEvaluation {
  std::map<std::string, double> metrics;  // Exactly what the task's evaluate reports.
  ExampleScores examples;
};

// An evaluate function that also returns the per-example scores.
using ScoredEvaluateFunction =
    std::function<absl::StatusOr<ScoredEvaluation>(torch::nn::Module& model)>;

// {"task": ..., "ids": [...], "scores": {"f1": [...], ...}, "labels": [...]} (one line per
// array, so a 10k-question file stays readable and small).
std::string ExampleScoresToJson(const ExampleScores& scores);

// The inverse. InvalidArgument naming `source` and the field when the JSON is malformed or
// a score array's length differs from ids'.
absl::StatusOr<ExampleScores> ParseExampleScores(absl::string_view text,
                                                 absl::string_view source);

}  // namespace recipes

#endif  // RECIPES_TASKS_EXAMPLE_SCORES_H_
