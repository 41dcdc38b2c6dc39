#include "datasets/squad/utf8_index.h"

#include <algorithm>

#include "models/tokenizers/unicode.h"

namespace datasets {

Utf8Index::Utf8Index(absl::string_view text)
    : text_(text), char_starts_(tokenizers::Utf8CharToByte(text)) {}

size_t Utf8Index::ByteOffset(int64_t char_offset) const {
  char_offset = std::clamp<int64_t>(char_offset, 0, num_chars());
  return static_cast<size_t>(char_starts_[char_offset]);
}

absl::string_view Utf8Index::Substr(int64_t begin, int64_t end) const {
  const size_t begin_byte = ByteOffset(begin);
  const size_t end_byte = std::max(begin_byte, ByteOffset(end));
  return text_.substr(begin_byte, end_byte - begin_byte);
}

}  // namespace datasets
