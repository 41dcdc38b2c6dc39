// Scores SQuAD predictions exactly like the official evaluate-v1.1.py / evaluate-v2.0.py and
// prints the same JSON: {"exact_match": .., "f1": ..} for v1.1 files, the v2.0 field set
// (exact, f1, total, HasAns_*, NoAns_*) for files whose questions carry "is_impossible".
//
//   bazel run //datasets:squad_evaluate -- dev-v1.1.json predictions.json
//
// Errors are one line on stderr with a non-zero exit status.
#include <cstdlib>
#include <iostream>
#include <map>
#include <string>

#include "absl/status/status.h"
#include "datasets/squad/squad_data.h"
#include "datasets/squad/squad_metrics.h"

namespace {

// `bazel run` starts binaries in their runfiles tree; resolve relative paths against the
// directory the user ran it from.
std::string ResolvePath(const std::string& path) {
  const char* working_directory = std::getenv("BUILD_WORKING_DIRECTORY");
  if (path.empty() || path[0] == '/' || working_directory == nullptr) return path;
  return std::string(working_directory) + "/" + path;
}

int Fail(const absl::Status& status) {
  std::cerr << "squad_evaluate: " << status.message() << std::endl;
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: squad_evaluate DATASET_JSON PREDICTIONS_JSON" << std::endl;
    return 2;
  }
  datasets::SquadLoadOptions options;
  options.check_answer_spans = false;  // The official scripts read only the answer texts.
  absl::StatusOr<datasets::SquadData> data = datasets::LoadSquadJson(ResolvePath(argv[1]), options);
  if (!data.ok()) return Fail(data.status());
  absl::StatusOr<std::map<std::string, std::string>> predictions =
      datasets::LoadSquadPredictions(ResolvePath(argv[2]));
  if (!predictions.ok()) return Fail(predictions.status());
  absl::StatusOr<datasets::SquadMetrics> metrics = datasets::EvaluateSquad(*data, *predictions);
  if (!metrics.ok()) return Fail(metrics.status());
  for (const std::string& id : metrics->missing_ids) {
    // The scripts' own messages (v2.0's goes to stdout there; here stdout stays pure JSON).
    if (metrics->version_2) {
      std::cerr << "Missing prediction for " << id << std::endl;
    } else {
      std::cerr << "Unanswered question " << id << " will receive score 0." << std::endl;
    }
  }
  std::cout << datasets::SquadMetricsToJson(*metrics) << std::flush;
  return 0;
}
