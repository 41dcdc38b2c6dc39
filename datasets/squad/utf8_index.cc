#include "datasets/squad/utf8_index.h"

#include <algorithm>
#include <string>

namespace datasets {

uint32_t DecodeUtf8(absl::string_view text, size_t* pos) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
  const size_t start = *pos;
  const unsigned char lead = byte(start);
  int length = 0;
  uint32_t c = 0;
  if (lead < 0x80) {
    *pos = start + 1;
    return lead;
  } else if ((lead & 0xE0) == 0xC0) {
    length = 2;
    c = lead & 0x1F;
  } else if ((lead & 0xF0) == 0xE0) {
    length = 3;
    c = lead & 0x0F;
  } else if ((lead & 0xF8) == 0xF0) {
    length = 4;
    c = lead & 0x07;
  }
  if (length == 0 || start + length > text.size()) {
    *pos = start + 1;
    return lead;
  }
  for (int i = 1; i < length; ++i) {
    if ((byte(start + i) & 0xC0) != 0x80) {
      *pos = start + 1;
      return lead;
    }
    c = (c << 6) | (byte(start + i) & 0x3F);
  }
  *pos = start + length;
  return c;
}

bool IsValidUtf8(absl::string_view text) {
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t start = pos;
    const uint32_t c = DecodeUtf8(text, &pos);
    const size_t length = pos - start;
    const bool ascii = static_cast<unsigned char>(text[start]) < 0x80;
    if (length == 1 && !ascii) return false;  // A lone lead or continuation byte.
    const size_t shortest = c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
    if (length != shortest) return false;
    if ((c >= 0xD800 && c <= 0xDFFF) || c > 0x10FFFF) return false;
  }
  return true;
}

void AppendUtf8(uint32_t c, std::string* out) {
  if (c < 0x80) {
    out->push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (c >> 6)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (c >> 12)));
    out->push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (c >> 18)));
    out->push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

Utf8Index::Utf8Index(absl::string_view text) : text_(text) {
  char_starts_.reserve(text.size() + 1);
  size_t pos = 0;
  while (pos < text.size()) {
    char_starts_.push_back(pos);
    DecodeUtf8(text, &pos);
  }
  char_starts_.push_back(text.size());
}

size_t Utf8Index::ByteOffset(int64_t char_offset) const {
  char_offset = std::clamp<int64_t>(char_offset, 0, num_chars());
  return char_starts_[char_offset];
}

absl::string_view Utf8Index::Substr(int64_t begin, int64_t end) const {
  const size_t begin_byte = ByteOffset(begin);
  const size_t end_byte = std::max(begin_byte, ByteOffset(end));
  return text_.substr(begin_byte, end_byte - begin_byte);
}

}  // namespace datasets
