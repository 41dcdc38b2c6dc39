// Test helpers for datasets/mlm: a whitespace tokenizer over a test-built vocabulary (the
// real WordPiece tokenizer is not a dependency of this package) and synthetic corpora whose
// every token is unique, so a test can map any id back to its document and sentence.
//
//   SyntheticCorpus corpus = MakeCorpus({{4, 4}, {4, 4, 4}});  // Tokens per sentence.
//   FakeTokenizer tokenizer(corpus.vocab_words);
//   const std::string path = WriteTestFile("corpus.txt", corpus.text);
#ifndef DATASETS_MLM_TEST_UTIL_H_
#define DATASETS_MLM_TEST_UTIL_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "models/tokenizers/tokenizer.h"

namespace datasets::mlm::testing {

// Vocabulary: [PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3 [MASK]=4, then the given words in order.
// Encode() splits on spaces and tabs; a word "ab+cd" becomes the pieces "ab" "##cd"
// (WordPiece continuations). Unknown pieces map to [UNK].
class FakeTokenizer : public tokenizers::Tokenizer {
 public:
  static constexpr int64_t kPad = 0, kUnk = 1, kCls = 2, kSep = 3, kMask = 4;
  static constexpr int64_t kNumSpecial = 5;

  explicit FakeTokenizer(const std::vector<std::string>& words);

  tokenizers::Encoding Encode(absl::string_view text) const override;
  std::string Decode(const std::vector<int64_t>& ids,
                     bool skip_special_tokens = true) const override;
  int64_t vocab_size() const override { return static_cast<int64_t>(tokens_.size()); }
  int64_t TokenToId(absl::string_view token) const override;
  std::string IdToToken(int64_t id) const override;
  int64_t cls_id() const override { return kCls; }
  int64_t sep_id() const override { return kSep; }
  int64_t pad_id() const override { return kPad; }
  int64_t mask_id() const override { return kMask; }
  int64_t unk_id() const override { return kUnk; }

 private:
  std::vector<std::string> tokens_;
  std::map<std::string, int64_t, std::less<>> ids_;
};

// A corpus in the converters' format where token k (0-based, in corpus order) is "t<k>"
// or, when it continues a word, "##t<k>". Every third token that is not first in its
// sentence continues the previous word, so whole words of two pieces occur throughout.
struct SyntheticCorpus {
  std::string text;                        // Sentences one per line, blank line between documents.
  std::vector<std::string> vocab_words;    // For FakeTokenizer: "t<k>" and "##t<k>" for every k.
  std::vector<int64_t> document_of_token;  // Token index k -> its document.
  std::vector<bool> starts_sentence;       // Token index k is its sentence's first token.
  int64_t num_tokens = 0;

  // Token index k of an id of this corpus, or -1 for special ids.
  int64_t TokenIndex(int64_t id) const;
};

// sentence_lengths[d][s] = number of tokens (not words) in sentence s of document d.
SyntheticCorpus MakeCorpus(const std::vector<std::vector<int>>& sentence_lengths);

// Writes `contents` to $TEST_TMPDIR/`name` (a fresh file) and returns the path.
std::string WriteTestFile(const std::string& name, const std::string& contents);

}  // namespace datasets::mlm::testing

#endif  // DATASETS_MLM_TEST_UTIL_H_
