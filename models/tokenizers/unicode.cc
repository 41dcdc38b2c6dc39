#include "models/tokenizers/unicode.h"

#include <algorithm>
#include <iterator>
#include <numeric>

namespace tokenizers {
namespace {

struct CodePointRange {
  char32_t first;
  char32_t last;
};

struct CombiningClassRange {
  char32_t first;
  char32_t last;
  uint8_t combining_class;
};

struct CodePointMapping {
  char32_t code_point;
  uint16_t offset;
  uint8_t length;
};

#include "models/tokenizers/unicode_tables.inc"

template <typename Range, size_t N>
const Range* FindRange(const Range (&table)[N], char32_t c) {
  // The first range whose last >= c; it contains c when its first <= c.
  const Range* it = std::lower_bound(
      std::begin(table), std::end(table), c,
      [](const Range& range, char32_t value) { return range.last < value; });
  return it != std::end(table) && it->first <= c ? it : nullptr;
}

template <size_t N>
bool InRanges(const CodePointRange (&table)[N], char32_t c) {
  return FindRange(table, c) != nullptr;
}

template <size_t N, size_t M>
bool AppendMapping(const CodePointMapping (&table)[N], const char32_t (&pool)[M], char32_t c,
                   std::u32string* out) {
  const CodePointMapping* it = std::lower_bound(
      std::begin(table), std::end(table), c,
      [](const CodePointMapping& mapping, char32_t value) { return mapping.code_point < value; });
  if (it == std::end(table) || it->code_point != c) return false;
  out->append(pool + it->offset, it->length);
  return true;
}

// Hangul syllables decompose arithmetically (Unicode 3.12), so they need no table.
constexpr char32_t kHangulBase = 0xAC00;
constexpr char32_t kHangulLeadBase = 0x1100;
constexpr char32_t kHangulVowelBase = 0x1161;
constexpr char32_t kHangulTrailBase = 0x11A7;
constexpr char32_t kHangulVowelCount = 21;
constexpr char32_t kHangulTrailCount = 28;
constexpr char32_t kHangulSyllableCount = 19 * kHangulVowelCount * kHangulTrailCount;

bool IsContinuation(unsigned char byte, unsigned char low = 0x80, unsigned char high = 0xBF) {
  return byte >= low && byte <= high;
}

}  // namespace

size_t DecodeUtf8Char(absl::string_view text, size_t pos, char32_t* code_point) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(text[pos + i]); };
  const unsigned char lead = byte(0);
  if (lead < 0x80) {
    *code_point = lead;
    return 1;
  }
  size_t length = 0;
  // Allowed range of the second byte; it excludes overlong forms, surrogates and values
  // above U+10FFFF (Unicode Table 3-7).
  unsigned char low = 0x80, high = 0xBF;
  char32_t value = 0;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
    value = lead & 0x1F;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    value = lead & 0x0F;
    if (lead == 0xE0) low = 0xA0;
    if (lead == 0xED) high = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    value = lead & 0x07;
    if (lead == 0xF0) low = 0x90;
    if (lead == 0xF4) high = 0x8F;
  } else {
    *code_point = kReplacementCharacter;
    return 1;
  }
  for (size_t i = 1; i < length; ++i) {
    const bool ok = pos + i < text.size() &&
                    (i == 1 ? IsContinuation(byte(i), low, high) : IsContinuation(byte(i)));
    if (!ok) {
      *code_point = kReplacementCharacter;
      return i;
    }
    value = (value << 6) | (byte(i) & 0x3F);
  }
  *code_point = value;
  return length;
}

std::u32string DecodeUtf8(absl::string_view text) {
  std::u32string chars;
  chars.reserve(text.size());
  char32_t c = 0;
  for (size_t pos = 0; pos < text.size();) {
    pos += DecodeUtf8Char(text, pos, &c);
    chars.push_back(c);
  }
  return chars;
}

std::optional<size_t> FindInvalidUtf8(absl::string_view text) {
  char32_t c = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t length = DecodeUtf8Char(text, pos, &c);
    if (c == kReplacementCharacter && text.substr(pos, length) != "\xEF\xBF\xBD") return pos;
    pos += length;
  }
  return std::nullopt;
}

void AppendUtf8(char32_t c, std::string* out) {
  if ((c >= 0xD800 && c <= 0xDFFF) || c > 0x10FFFF) c = kReplacementCharacter;
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

std::string EncodeUtf8(std::u32string_view chars) {
  std::string out;
  out.reserve(chars.size());
  for (char32_t c : chars) AppendUtf8(c, &out);
  return out;
}

int64_t Utf8Length(absl::string_view text) {
  int64_t count = 0;
  char32_t c = 0;
  for (size_t pos = 0; pos < text.size(); ++count) pos += DecodeUtf8Char(text, pos, &c);
  return count;
}

std::vector<int64_t> Utf8CharToByte(absl::string_view text) {
  std::vector<int64_t> offsets;
  offsets.reserve(text.size() + 1);
  char32_t c = 0;
  for (size_t pos = 0; pos < text.size(); pos += DecodeUtf8Char(text, pos, &c)) {
    offsets.push_back(static_cast<int64_t>(pos));
  }
  offsets.push_back(static_cast<int64_t>(text.size()));
  return offsets;
}

std::vector<int64_t> Utf8ByteToChar(absl::string_view text) {
  std::vector<int64_t> chars;
  chars.reserve(text.size() + 1);
  char32_t c = 0;
  int64_t index = 0;
  for (size_t pos = 0; pos < text.size(); ++index) {
    const size_t length = DecodeUtf8Char(text, pos, &c);
    chars.insert(chars.end(), length, index);
    pos += length;
  }
  chars.push_back(index);
  return chars;
}

bool IsUnicodePunctuation(char32_t c) { return InRanges(kPunctuationRanges, c); }

bool IsPunctuation(char32_t c) {
  if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) ||
      (c >= 123 && c <= 126)) {
    return true;
  }
  return c >= 0x80 && IsUnicodePunctuation(c);
}

bool IsControl(char32_t c) {
  if (c == '\t' || c == '\n' || c == '\r') return false;
  return InRanges(kOtherRanges, c);
}

bool IsWhitespace(char32_t c) {
  if (c == ' ' || c == '\t' || c == '\n' || c == '\r') return true;
  return c >= 0x80 && InRanges(kSpaceSeparatorRanges, c);
}

bool IsNonspacingMark(char32_t c) { return c >= 0x300 && InRanges(kNonspacingMarkRanges, c); }

bool IsChineseChar(char32_t c) { return c >= 0x3400 && InRanges(kChineseCharRanges, c); }

int CanonicalCombiningClass(char32_t c) {
  if (c < 0x300) return 0;
  const CombiningClassRange* range = FindRange(kCombiningClassRanges, c);
  return range == nullptr ? 0 : range->combining_class;
}

void AppendLowercase(char32_t c, std::u32string* out) {
  if (c < 0x80) {
    out->push_back(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
    return;
  }
  if (!AppendMapping(kLowercaseMappings, kLowercaseMappingsPool, c, out)) out->push_back(c);
}

void AppendDecomposition(char32_t c, std::u32string* out) {
  if (c < 0xC0) {
    out->push_back(c);
    return;
  }
  if (c >= kHangulBase && c < kHangulBase + kHangulSyllableCount) {
    const char32_t index = c - kHangulBase;
    out->push_back(kHangulLeadBase + index / (kHangulVowelCount * kHangulTrailCount));
    out->push_back(kHangulVowelBase + (index % (kHangulVowelCount * kHangulTrailCount)) /
                                          kHangulTrailCount);
    if (index % kHangulTrailCount != 0) {
      out->push_back(kHangulTrailBase + index % kHangulTrailCount);
    }
    return;
  }
  if (!AppendMapping(kDecompositionMappings, kDecompositionMappingsPool, c, out)) {
    out->push_back(c);
  }
}

void CanonicalOrder(std::u32string* chars, std::vector<int64_t>* companions) {
  const size_t n = chars->size();
  size_t start = 0;
  while (start < n) {
    if (CanonicalCombiningClass((*chars)[start]) == 0) {
      ++start;
      continue;
    }
    size_t end = start + 1;
    while (end < n && CanonicalCombiningClass((*chars)[end]) != 0) ++end;
    if (end - start > 1) {
      // Sort a permutation so that companions move with their characters.
      std::vector<size_t> order(end - start);
      std::iota(order.begin(), order.end(), start);
      std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
        return CanonicalCombiningClass((*chars)[a]) < CanonicalCombiningClass((*chars)[b]);
      });
      std::u32string sorted_chars;
      std::vector<int64_t> sorted_companions;
      for (size_t i : order) {
        sorted_chars.push_back((*chars)[i]);
        if (companions != nullptr) sorted_companions.push_back((*companions)[i]);
      }
      std::copy(sorted_chars.begin(), sorted_chars.end(), chars->begin() + start);
      if (companions != nullptr) {
        std::copy(sorted_companions.begin(), sorted_companions.end(),
                  companions->begin() + start);
      }
    }
    start = end;
  }
}

std::u32string Nfd(std::u32string_view text) {
  std::u32string out;
  out.reserve(text.size());
  for (char32_t c : text) AppendDecomposition(c, &out);
  CanonicalOrder(&out);
  return out;
}

const char* UnicodeVersion() { return kUnicodeVersion; }

}  // namespace tokenizers
