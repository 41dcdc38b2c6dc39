// Character (code point) <-> byte offsets of a UTF-8 string, because SQuAD's answer_start and
// the Tokenizer's offsets count characters the way Python does while std::string counts bytes.
// Characters are counted exactly as the tokenizers count them (tokenizers::DecodeUtf8Char:
// one per code point, one per replaced ill-formed subsequence), so a tokenizer offset and a
// SQuAD offset always name the same bytes; the UTF-8 codec itself lives in
// models/tokenizers/unicode.h.
//
//   Utf8Index index(context);               // "Zürich" has 6 characters, 7 bytes.
//   absl::string_view answer = index.Substr(2, 6);  // "rich"
#ifndef DATASETS_SQUAD_UTF8_INDEX_H_
#define DATASETS_SQUAD_UTF8_INDEX_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/strings/string_view.h"

namespace datasets {

// Views `text`, which must outlive the index.
class Utf8Index {
 public:
  explicit Utf8Index(absl::string_view text);

  int64_t num_chars() const { return static_cast<int64_t>(char_starts_.size()) - 1; }
  // Byte offset of character `char_offset`, clamped to [0, num_chars()].
  size_t ByteOffset(int64_t char_offset) const;
  // Characters [begin, end), clamped to the text.
  absl::string_view Substr(int64_t begin, int64_t end) const;

 private:
  absl::string_view text_;
  std::vector<int64_t> char_starts_;  // One per character, then text_.size().
};

}  // namespace datasets

#endif  // DATASETS_SQUAD_UTF8_INDEX_H_
