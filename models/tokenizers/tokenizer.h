// The tokenizer interface the data pipelines program against, so SQuAD features, GLUE
// inputs and MLM sequences work with WordPiece and sentencepiece vocabularies alike.
//
// Offsets are in Unicode characters (code points) of the original text, like Hugging
// Face's offset_mapping and SQuAD's answer_start; Utf8CharToByte() converts them to byte
// positions for slicing a std::string.
#ifndef MODELS_TOKENIZERS_TOKENIZER_H_
#define MODELS_TOKENIZERS_TOKENIZER_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"

namespace tokenizers {

struct Encoding {
  std::vector<std::string> tokens;
  std::vector<int64_t> ids;
  // [begin, end) character offsets of each token in the encoded text; (0, 0) for special
  // tokens added by BuildModelInputs.
  std::vector<std::pair<int64_t, int64_t>> offsets;
};

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // Tokens of `text` with no special tokens added.
  virtual Encoding Encode(absl::string_view text) const = 0;
  // Joins tokens back into text (WordPiece "##" continuations glued, specials skipped
  // when `skip_special_tokens`).
  virtual std::string Decode(const std::vector<int64_t>& ids,
                             bool skip_special_tokens = true) const = 0;

  virtual int64_t vocab_size() const = 0;
  // Id of `token`, or unk_id() when the vocabulary lacks it.
  virtual int64_t TokenToId(absl::string_view token) const = 0;
  // The token string of `id`; "" when out of range.
  virtual std::string IdToToken(int64_t id) const = 0;

  virtual int64_t cls_id() const = 0;
  virtual int64_t sep_id() const = 0;
  virtual int64_t pad_id() const = 0;
  virtual int64_t mask_id() const = 0;
  virtual int64_t unk_id() const = 0;
};

}  // namespace tokenizers

#endif  // MODELS_TOKENIZERS_TOKENIZER_H_
