// A SQuAD v1.1-format question answering set made from the Brown corpus by cloze
// translation (Lewis et al. 2019, "Unsupervised Question Answering by Cloze Translation"):
// the context is a Brown passage; the question is one of its sentences with a noun phrase
// replaced by a question word chosen by the phrase's kind; the answer is that phrase's exact
// span in the context.
//
//   who/what   proper names: "who" when the name starts with a personal title (Mr., Mrs.,
//              Dr., ...) or is headed by a proper noun without title words, article or a
//              place preposition before it ("in Atlanta" -> what); else "what"
//   how many   a number counting a plural noun ("these two offices" -> "how many offices")
//   what year  a bare four-digit year 1500..2099; other bare numbers: how many
//   what       any other noun phrase
//
// Named entities and numbers are preferred when a sentence has one (picked at random among
// them, with a per-document generator, so the choice does not depend on processing order).
//
//   ClozeArticle article = MakeClozeArticle(document, seed, ClozeOptions());
//   ASSIGN_OR_RETURN(std::string json, ClozeToSquadJson({article}));
#ifndef DATASETS_CORPORA_CLOZE_H_
#define DATASETS_CORPORA_CLOZE_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "datasets/corpora/brown.h"

namespace datasets {
namespace corpora {

struct ClozeOptions {
  size_t context_min_words = 60;      // Paragraphs are merged up to at least this many words.
  size_t context_max_words = 200;     // A context never grows past this (see GroupIntoPassages).
  size_t min_sentence_tokens = 6;     // Shorter sentences (and headings) give no question.
  size_t max_answer_tokens = 6;       // Longer noun phrases are not used as answers.
  size_t min_context_tokens_left = 4;  // Tokens the question keeps besides the question word.
};

// One question made from one sentence, before it is placed in a context.
struct ClozeSentenceQuestion {
  std::string question;     // The sentence with the phrase replaced, ending in '?'.
  std::string wh_word;      // "who", "what", "how many" or "what year".
  size_t answer_begin = 0;  // Token range of the answer in the sentence.
  size_t answer_end = 0;
};

// The question for one sentence, or nullopt when it has no usable noun phrase (too short,
// a heading, phrases too long). Draws from `rng` only to choose among candidates.
std::optional<ClozeSentenceQuestion> ClozeQuestionFor(const BrownSentence& sentence,
                                                      std::mt19937_64& rng,
                                                      const ClozeOptions& options);

struct ClozeAnswer {
  std::string text;         // Exactly context[answer_start : answer_start + len(text)].
  size_t answer_start = 0;  // Offset in characters (code points), as Python indexes strings.
};

struct ClozeQa {
  std::string id;        // Unique: "<document>-<passage>-<sentence>", e.g. "ca01-003-1".
  std::string question;  // See ClozeSentenceQuestion.
  std::string wh_word;   // For statistics.
  ClozeAnswer answer;
};

struct ClozeParagraph {
  std::string context;        // Detokenized sentences of one passage, joined by spaces.
  std::vector<ClozeQa> qas;   // At most one per sentence; may be empty.
};

struct ClozeArticle {
  std::string title;                     // The Brown file name, e.g. "ca01".
  std::vector<ClozeParagraph> paragraphs;  // Passages with at least one question.
};

// All questions of one document. The generator is SeededRng(seed, "cloze/" + id).
ClozeArticle MakeClozeArticle(const BrownDocument& document, uint64_t seed,
                              const ClozeOptions& options);

// The official SQuAD v1.1 layout: {"version": "1.1", "data": [{"title", "paragraphs":
// [{"context", "qas": [{"id", "question", "answers": [{"text", "answer_start"}]}]}]}]},
// on one line plus a newline. Internal error if a text is not valid UTF-8.
absl::StatusOr<std::string> ClozeToSquadJson(const std::vector<ClozeArticle>& articles);

}  // namespace corpora
}  // namespace datasets

#endif  // DATASETS_CORPORA_CLOZE_H_
