// Small text helpers shared by the corpus converters: UTF-8 repair (e-mail bodies arrive in
// any charset), whitespace folding, a rule-based sentence splitter for running prose (SOTU,
// Moby Dick), character (code point) offsets as Python counts them, and a JSON parser whose
// errors name the file and line.
#ifndef DATASETS_CORPORA_TEXT_UTILS_H_
#define DATASETS_CORPORA_TEXT_UTILS_H_

#include <cstddef>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace datasets {
namespace corpora {

// Returns valid UTF-8: well-formed sequences are kept, every other byte is read as
// Latin-1 (the commonest charset of old e-mail). C0/C1 control characters other than tab
// and newline become spaces, so the result is safe for one-line TSV and JSON output.
std::string SanitizeUtf8(absl::string_view bytes);

// Replaces every run of whitespace (ASCII whitespace and U+00A0) with one space and trims
// both ends.
std::string CollapseWhitespace(absl::string_view text);

// Number of Unicode code points in valid UTF-8 text: the unit of Python string indices,
// which SQuAD's answer_start uses.
size_t Utf8CharCount(absl::string_view text);

// Cuts `text` (valid UTF-8, collapsed whitespace) to at most `max_chars` code points,
// at the last space before the limit when there is one, never inside a character.
std::string TruncateAtWord(absl::string_view text, size_t max_chars);

// Number of space-separated words.
size_t CountWords(absl::string_view text);

// Splits running prose into sentences. The rule: a sentence ends after '.', '!' or '?'
// (plus any closing quotes or brackets) when whitespace follows and the next word starts
// with an upper-case letter, a digit or an opening quote/bracket, unless the word carrying
// the '.' is a known abbreviation (Mr., Dr., St., Gen., ...), a single letter (an initial)
// or a dotted initialism (U.S.). Newlines always end a sentence. Each sentence comes back
// with collapsed whitespace; empty ones are dropped.
std::vector<std::string> SplitSentences(absl::string_view text);

// Parses JSON text; the error names `source`, the 1-based line of the failure and the
// parser's reason.
absl::StatusOr<nlohmann::json> ParseJsonText(absl::string_view text, absl::string_view source);

// Reads and parses a JSON file (errors as ParseJsonText, or NotFound naming the path).
absl::StatusOr<nlohmann::json> ReadJsonFile(const std::string& path);

}  // namespace corpora
}  // namespace datasets

#endif  // DATASETS_CORPORA_TEXT_UTILS_H_
