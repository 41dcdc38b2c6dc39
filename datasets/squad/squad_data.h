// SQuAD v1.1 / v2.0 files (the official nested JSON) as a flat list of questions, validated
// so that a broken answer span is reported with its file and question id instead of silently
// training the model on the wrong tokens.
//
//   SquadLoadOptions options;
//   options.is_training = true;
//   ASSIGN_OR_RETURN(SquadData train, LoadSquadJson("train-v1.1.json", options));
//   for (const SquadExample& example : train.examples) { ... }
//   RETURN_IF_ERROR(WriteSquadJson("subset.json", train));
#ifndef DATASETS_SQUAD_SQUAD_DATA_H_
#define DATASETS_SQUAD_SQUAD_DATA_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace datasets {

struct SquadAnswer {
  std::string text;          // Exactly the context's characters at answer_start.
  int64_t answer_start = 0;  // Character (code point) offset into the context, as in Python.
};

// One question with its paragraph, as in Hugging Face's SquadExample.
struct SquadExample {
  std::string id;        // "id" (the qas_id), unique within a file.
  std::string title;     // Title of the article the paragraph belongs to; "" when absent.
  std::string question;  // "question".
  std::string context;   // The paragraph's "context".
  std::vector<SquadAnswer> answers;            // All gold answers; empty when impossible.
  std::vector<SquadAnswer> plausible_answers;  // v2.0 distractor spans, kept for rewriting.
  bool is_impossible = false;                  // v2.0 "is_impossible".
};

struct SquadData {
  std::string version;  // The file's "version" string ("1.1", "v2.0"); "" when absent.
  // True for SQuAD 2.0-style files: the version starts with "v2"/"2" or a question carries
  // "is_impossible". Decides which official metrics apply and whether the writer emits
  // "is_impossible".
  bool version_2 = false;
  std::vector<SquadExample> examples;  // In file order.
};

struct SquadLoadOptions {
  // A question that is not impossible must have at least one answer (training files;
  // evaluation files may be unlabelled).
  bool is_training = false;
  // Compare each answer's text with the context at answer_start (and reject empty answer
  // texts). The evaluator turns this off: the official scripts only read answer strings.
  bool check_answer_spans = true;
  // Drop malformed questions (whole paragraphs or articles when their structure is broken)
  // and count them in SquadLoadReport instead of failing the load. Invalid JSON and a missing
  // top-level "data" list still fail.
  bool skip_bad_examples = false;
};

struct SquadLoadReport {
  static constexpr int kMaxErrors = 5;  // How many messages first_errors keeps.

  int64_t num_questions = 0;  // Question entries seen in the file.
  int64_t num_loaded = 0;     // Questions returned.
  int64_t num_skipped = 0;    // Questions dropped as malformed (skip_bad_examples only).
  std::vector<std::string> first_errors;  // The first kMaxErrors error messages.
};

// Parses SQuAD JSON text; `source` (usually the path) starts every error message, which also
// names the question id (or the JSON location before the id is known) and the field, e.g.
//   train.json: question "q7": field 'answers[0].answer_start' is 512, past the end of the
//   context (301 characters)
// `report` may be null.
absl::StatusOr<SquadData> ParseSquadJson(absl::string_view json_text, absl::string_view source,
                                         const SquadLoadOptions& options = {},
                                         SquadLoadReport* report = nullptr);

// Reads and parses a SQuAD file (NotFound when it does not exist).
absl::StatusOr<SquadData> LoadSquadJson(const std::string& path,
                                        const SquadLoadOptions& options = {},
                                        SquadLoadReport* report = nullptr);

// Serialises `data` in the official nested format: consecutive examples with the same title
// form an article, consecutive examples with the same context a paragraph. Validates the
// examples as the loader does (ids unique and non-empty, spans matching the context, valid
// UTF-8), so a converter cannot write a file the loader rejects. `source` names the data in
// errors.
absl::StatusOr<std::string> SquadDataToJson(const SquadData& data,
                                            absl::string_view source = "SQuAD data");

// SquadDataToJson written to `path` atomically.
absl::Status WriteSquadJson(const std::string& path, const SquadData& data);

}  // namespace datasets

#endif  // DATASETS_SQUAD_SQUAD_DATA_H_
