// Unicode support for the tokenizers without ICU: UTF-8 decoding and encoding, the
// character classes of BERT's BasicTokenizer, per-character lower-casing and NFD. The data
// comes from Python's unicodedata (gen_unicode_tables.py), so results match Hugging Face's
// Python tokenizers for the Unicode version UnicodeVersion() names.
//
// Character offsets throughout the tokenizers count what DecodeUtf8 yields: one per code
// point, and one per replaced ill-formed subsequence. To slice a std::string by them:
//
//   std::vector<int64_t> char_to_byte = tokenizers::Utf8CharToByte(context);
//   std::string answer = context.substr(char_to_byte[begin],
//                                       char_to_byte[end] - char_to_byte[begin]);
#ifndef MODELS_TOKENIZERS_UNICODE_H_
#define MODELS_TOKENIZERS_UNICODE_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/string_view.h"

namespace tokenizers {

inline constexpr char32_t kReplacementCharacter = 0xFFFD;

// Decodes the character starting at byte `pos` (< text.size()) into `*code_point` and
// returns its length in bytes (>= 1). An ill-formed subsequence decodes to U+FFFD and spans
// the bytes Python's errors="replace" would replace with one U+FFFD ("maximal subpart").
size_t DecodeUtf8Char(absl::string_view text, size_t pos, char32_t* code_point);

// Decodes all of `text`; never fails (see DecodeUtf8Char for ill-formed input).
std::u32string DecodeUtf8(absl::string_view text);

// Byte offset of the first ill-formed subsequence, or nullopt when `text` is valid UTF-8.
std::optional<size_t> FindInvalidUtf8(absl::string_view text);

// Appends the UTF-8 form of `code_point`; surrogates and values above U+10FFFF become
// U+FFFD.
void AppendUtf8(char32_t code_point, std::string* out);
std::string EncodeUtf8(std::u32string_view chars);

// Number of characters DecodeUtf8 would return.
int64_t Utf8Length(absl::string_view text);

// Character index -> byte offset: element i is where character i starts, and the extra
// last element is text.size(), so [begin, end) character offsets slice as shown above.
std::vector<int64_t> Utf8CharToByte(absl::string_view text);

// Byte offset -> character index: element b is the character containing byte b, and the
// extra last element is the number of characters.
std::vector<int64_t> Utf8ByteToChar(absl::string_view text);

// BERT's _is_punctuation: general category P*, plus every non-alphanumeric printable ASCII
// character ("$", "+", "^", "`" are symbols in Unicode but punctuation to BERT).
bool IsPunctuation(char32_t c);
// General category P* only.
bool IsUnicodePunctuation(char32_t c);
// BERT's _is_control: general category C* (controls, format characters, private use,
// unassigned) except tab, newline and carriage return, which BERT treats as whitespace.
bool IsControl(char32_t c);
// BERT's _is_whitespace: space, tab, newline, carriage return and category Zs.
bool IsWhitespace(char32_t c);
// General category Mn: what BERT drops after NFD when stripping accents.
bool IsNonspacingMark(char32_t c);
// BERT's _is_chinese_char: the CJK Unified Ideographs blocks (not kana, not Hangul).
bool IsChineseChar(char32_t c);

// Canonical combining class (0 for starters).
int CanonicalCombiningClass(char32_t c);

// Appends Python's str.lower() of the single character `c` (usually one character;
// U+0130 "İ" gives two).
void AppendLowercase(char32_t c, std::u32string* out);

// Appends the full canonical decomposition of `c` (itself when it has none). Canonical
// ordering needs the neighbours too: see CanonicalOrder and Nfd.
void AppendDecomposition(char32_t c, std::u32string* out);

// Stably sorts each run of non-starters by combining class (the last step of NFD).
// `companions`, when not null, has one element per character and is permuted alike,
// which lets callers carry the original position of each character through.
void CanonicalOrder(std::u32string* chars, std::vector<int64_t>* companions = nullptr);

// Unicode Normalization Form D, as unicodedata.normalize("NFD", text).
std::u32string Nfd(std::u32string_view text);

// The Unicode version of the generated tables, e.g. "14.0.0".
const char* UnicodeVersion();

}  // namespace tokenizers

#endif  // MODELS_TOKENIZERS_UNICODE_H_
