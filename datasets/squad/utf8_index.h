// Character (code point) <-> byte offsets of a UTF-8 string, because SQuAD's answer_start and
// the Tokenizer's offsets count characters the way Python does while std::string counts bytes.
//
//   Utf8Index index(context);               // "Zürich" has 6 characters, 7 bytes.
//   absl::string_view answer = index.Substr(2, 6);  // "rich"
#ifndef DATASETS_SQUAD_UTF8_INDEX_H_
#define DATASETS_SQUAD_UTF8_INDEX_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace datasets {

// Views `text`, which must outlive the index. Bytes that are not valid UTF-8 count as one
// character each, so a corrupt string still maps every offset somewhere.
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
  std::vector<size_t> char_starts_;  // One per character, then text_.size().
};

// Decodes the code point starting at byte `*pos` and advances `*pos` past it; an invalid
// byte decodes as itself (one byte).
uint32_t DecodeUtf8(absl::string_view text, size_t* pos);

// True when `text` is well-formed UTF-8 (no overlong forms, surrogates or values past
// U+10FFFF), the condition JSON writers impose on strings.
bool IsValidUtf8(absl::string_view text);

// Appends code point `c` encoded as UTF-8.
void AppendUtf8(uint32_t c, std::string* out);

}  // namespace datasets

#endif  // DATASETS_SQUAD_UTF8_INDEX_H_
