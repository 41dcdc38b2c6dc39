// A tiny deterministic Tokenizer for the SQuAD tests, so they do not depend on a real
// vocabulary: lower-cases ASCII, splits on whitespace, makes each punctuation character
// (ASCII or U+2000..U+206F, e.g. "—") its own token, and splits chosen words into a head
// piece and a "##" continuation to exercise WordPiece-style offsets.
//
//   FakeTokenizer tokenizer({"Zürich is big."}, /*splits=*/{{"zürich", 2}});
//   tokenizer.Encode("Zürich is big.").tokens;  // {"zü", "##rich", "is", "big", "."}
#ifndef DATASETS_SQUAD_FAKE_TOKENIZER_H_
#define DATASETS_SQUAD_FAKE_TOKENIZER_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "models/tokenizers/tokenizer.h"

namespace datasets {

class FakeTokenizer : public tokenizers::Tokenizer {
 public:
  // The vocabulary holds [PAD]=0, [UNK]=1, [CLS]=2, [SEP]=3, [MASK]=4, then every piece of
  // `texts` in order of first appearance. A (lower-cased) word listed in `splits` becomes its
  // first N characters plus "##" and the rest.
  explicit FakeTokenizer(const std::vector<std::string>& texts,
                         std::map<std::string, int64_t> splits = {});

  tokenizers::Encoding Encode(absl::string_view text) const override;
  std::string Decode(const std::vector<int64_t>& ids,
                     bool skip_special_tokens = true) const override;
  int64_t vocab_size() const override { return static_cast<int64_t>(vocab_.size()); }
  int64_t TokenToId(absl::string_view token) const override;
  std::string IdToToken(int64_t id) const override;
  int64_t cls_id() const override { return 2; }
  int64_t sep_id() const override { return 3; }
  int64_t pad_id() const override { return 0; }
  int64_t mask_id() const override { return 4; }
  int64_t unk_id() const override { return 1; }

  // The token strings of `ids`, for readable test expectations.
  std::vector<std::string> Tokens(const std::vector<int64_t>& ids) const;

 private:
  // Pieces of `text` with character offsets, before id lookup.
  tokenizers::Encoding Split(absl::string_view text) const;

  std::map<std::string, int64_t> splits_;
  std::vector<std::string> vocab_;
  std::map<std::string, int64_t, std::less<>> ids_;
};

}  // namespace datasets

#endif  // DATASETS_SQUAD_FAKE_TOKENIZER_H_
