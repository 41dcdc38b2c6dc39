// The official SQuAD metrics, reproducing evaluate-v1.1.py and evaluate-v2.0.py exactly
// (answer normalisation, exact match, token F1, max over gold answers, percentages), so
// numbers reported here compare with published ones.
//
//   ASSIGN_OR_RETURN(SquadData dev, LoadSquadJson("dev-v1.1.json"));
//   ASSIGN_OR_RETURN(auto predictions, LoadSquadPredictions("predictions.json"));
//   ASSIGN_OR_RETURN(SquadMetrics metrics, EvaluateSquad(dev, predictions));
//   std::cout << SquadMetricsToJson(metrics);  // {"exact_match": 81.2, "f1": 88.5}
#ifndef DATASETS_SQUAD_SQUAD_METRICS_H_
#define DATASETS_SQUAD_SQUAD_METRICS_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "datasets/squad/squad_data.h"

namespace datasets {

// normalize_answer: lower-case (Unicode, as Python's str.lower), drop ASCII punctuation
// (string.punctuation), replace the words a/an/the (regex \b(a|an|the)\b, Unicode word
// characters) with spaces, and collapse whitespace (Python's str.split()). The Unicode data
// is Python 3.11's (Unicode 14.0.0; see gen_normalize_tables.py).
std::string NormalizeAnswer(absl::string_view text);

// exact_match_score (v1.1) / compute_exact (v2.0): the normalised strings are equal.
bool SquadExactMatch(absl::string_view prediction, absl::string_view ground_truth);

// v1.1 f1_score: token F1 of the normalised strings; 0 when no token is shared, which
// includes two empty answers.
double SquadF1V1(absl::string_view prediction, absl::string_view ground_truth);

// v2.0 compute_f1: like SquadF1V1, except that when either side has no tokens the score is
// 1 if both have none and 0 otherwise.
double SquadF1V2(absl::string_view prediction, absl::string_view ground_truth);

// One question's scores, as the script's per-question exact/f1 before averaging, in percent
// (0 or 100 for exact, 0..100 for f1), so their mean over the questions is the metric.
struct SquadQuestionScore {
  std::string id;
  double exact = 0.0;
  double f1 = 0.0;
};

struct SquadMetrics {
  bool version_2 = false;  // v2.0 field set (SquadData::version_2) rather than v1.1's.
  double exact = 0.0;      // Percent; v1.1 "exact_match", v2.0 "exact".
  double f1 = 0.0;         // Percent.
  int64_t total = 0;       // Questions scored (v2.0 "total").
  // v2.0 split by whether the question has gold answers; *_total is 0 when a group is empty,
  // and then the script (and SquadMetricsToJson) omits the group.
  double has_ans_exact = 0.0;
  double has_ans_f1 = 0.0;
  int64_t has_ans_total = 0;
  double no_ans_exact = 0.0;
  double no_ans_f1 = 0.0;
  int64_t no_ans_total = 0;
  // Questions with no prediction, scored 0 (v1.1 behaviour; the v2.0 script would crash).
  std::vector<std::string> missing_ids;
  // Every question in file order (missing ones score 0): what a paired bootstrap of two
  // models' scores resamples.
  std::vector<SquadQuestionScore> per_question;
};

// Scores `predictions` (question id -> answer text) against `data` with the v1.1 script's
// rules, or the v2.0 script's when data.version_2 (a question without answers then has the
// gold answer ""). Sums run in file order as in the scripts, so the values match them to
// the last bit. Fails on an empty dataset, and for v1.1 on a question without answers.
absl::StatusOr<SquadMetrics> EvaluateSquad(const SquadData& data,
                                           const std::map<std::string, std::string>& predictions);

// The script's output: v1.1 prints json.dumps({"exact_match": .., "f1": ..}) on one line;
// v2.0 prints json.dumps(out_eval, indent=2) with exact, f1, total, then HasAns_* and
// NoAns_* when those groups are non-empty. Ends with a newline.
std::string SquadMetricsToJson(const SquadMetrics& metrics);

// A predictions file: one JSON object mapping question ids to answer strings. `source`
// names it in errors.
absl::StatusOr<std::map<std::string, std::string>> ParseSquadPredictions(
    absl::string_view json_text, absl::string_view source);
absl::StatusOr<std::map<std::string, std::string>> LoadSquadPredictions(const std::string& path);

}  // namespace datasets

#endif  // DATASETS_SQUAD_SQUAD_METRICS_H_
