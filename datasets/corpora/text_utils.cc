#include "datasets/corpora/text_utils.h"

#include <algorithm>
#include <cstdint>
#include <set>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "base/atomic_file.h"
#include "base/status_macros.h"
#include "models/tokenizers/unicode.h"

namespace datasets {
namespace corpora {
namespace {

// Decodes one well-formed UTF-8 sequence at text[i]; returns its length, or 0 if it is
// malformed (truncated, overlong, a surrogate or beyond U+10FFFF).
size_t DecodeWellFormed(absl::string_view text, size_t i, uint32_t* code_point) {
  char32_t c = 0;
  const size_t length = tokenizers::DecodeUtf8Char(text, i, &c);
  if (c == tokenizers::kReplacementCharacter && text.substr(i, length) != "\xEF\xBF\xBD") {
    return 0;
  }
  *code_point = c;
  return length;
}

bool IsControl(uint32_t code_point) {
  return (code_point < 0x20 && code_point != '\t' && code_point != '\n') ||
         (code_point >= 0x7F && code_point <= 0x9F);
}

// Length of the whitespace character at text[i] (ASCII, U+00A0, U+2000..U+200A, U+3000), or 0.
size_t WhitespaceLength(absl::string_view text, size_t i) {
  const char c = text[i];
  if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f') return 1;
  const auto byte = [&](size_t k) {
    return k < text.size() ? static_cast<uint8_t>(text[k]) : 0;
  };
  if (byte(i) == 0xC2 && byte(i + 1) == 0xA0) return 2;
  if (byte(i) == 0xE2 && byte(i + 1) == 0x80 && byte(i + 2) >= 0x80 && byte(i + 2) <= 0x8A) {
    return 3;
  }
  if (byte(i) == 0xE3 && byte(i + 1) == 0x80 && byte(i + 2) == 0x80) return 3;
  return 0;
}

bool IsAsciiUpper(char c) { return c >= 'A' && c <= 'Z'; }
bool IsAsciiDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAsciiLetter(char c) { return IsAsciiUpper(c) || (c >= 'a' && c <= 'z'); }

// Closing quotes or brackets that may follow a sentence terminator: " ' ) ] and the
// typographic ’ ” (E2 80 99, E2 80 9D). Returns the byte length, or 0.
size_t ClosingLength(absl::string_view text, size_t i) {
  const char c = text[i];
  if (c == '"' || c == '\'' || c == ')' || c == ']') return 1;
  if (text.substr(i, 3) == "\xE2\x80\x99" || text.substr(i, 3) == "\xE2\x80\x9D") return 3;
  return 0;
}

// Can a sentence start at text[i]? Upper-case letter, digit, or an opening quote/bracket.
bool CanStartSentence(absl::string_view text, size_t i) {
  const char c = text[i];
  if (IsAsciiUpper(c) || IsAsciiDigit(c) || c == '"' || c == '\'' || c == '(' ||
      c == '[') {
    return true;
  }
  return text.substr(i, 3) == "\xE2\x80\x9C" || text.substr(i, 3) == "\xE2\x80\x98";
}

const std::set<std::string>& Abbreviations() {
  static const auto* const kAbbreviations = new std::set<std::string>{
      "Mr",   "Mrs",  "Ms",   "Messrs", "Dr",   "St",   "Jr",   "Sr",   "Gen",  "Gov",
      "Sen",  "Rep",  "Hon",  "Capt",   "Col",  "Lt",   "Maj",  "Sgt",  "Rev",  "Prof",
      "No",   "Nos",  "vs",   "Mt",     "Ft",   "Co",   "Corp", "Inc",  "Ltd",  "Jan",
      "Feb",  "Mar",  "Apr",  "Aug",    "Sept", "Sep",  "Oct",  "Nov",  "Dec",  "viz",
      "cf",   "Vol",  "Art",  "Sec",    "ch",   "Adm",  "Comdr", "Supt", "Esq", "Bros"};
  return *kAbbreviations;
}

// Is `word` (the text before a '.') an abbreviation, an initial or an initialism like U.S?
bool IsAbbreviation(absl::string_view word) {
  while (!word.empty() && (word.front() == '"' || word.front() == '\'' ||
                           word.front() == '(' || word.front() == '[')) {
    word.remove_prefix(1);
  }
  if (word.empty()) return false;
  if (Abbreviations().count(std::string(word)) > 0) return true;
  // One letter, or letters each followed by a dot ("U.S", "e.g").
  for (size_t i = 0; i < word.size(); i += 2) {
    if (!IsAsciiLetter(word[i])) return false;
    if (i + 1 < word.size() && word[i + 1] != '.') return false;
  }
  return true;
}

void SplitLine(absl::string_view line, std::vector<std::string>* out) {
  size_t start = 0;
  size_t i = 0;
  auto emit = [&](size_t end) {
    std::string sentence = CollapseWhitespace(line.substr(start, end - start));
    if (!sentence.empty()) out->push_back(std::move(sentence));
    start = end;
  };
  while (i < line.size()) {
    const char c = line[i];
    if (c != '.' && c != '!' && c != '?') {
      ++i;
      continue;
    }
    const size_t terminator = i;
    size_t j = i + 1;
    while (j < line.size() && (line[j] == '.' || line[j] == '!' || line[j] == '?')) ++j;
    while (j < line.size() && ClosingLength(line, j) > 0) j += ClosingLength(line, j);
    i = j;
    if (j >= line.size()) break;
    const size_t space = WhitespaceLength(line, j);
    if (space == 0) continue;
    size_t k = j;
    while (k < line.size() && WhitespaceLength(line, k) > 0) k += WhitespaceLength(line, k);
    if (k >= line.size() || !CanStartSentence(line, k)) continue;
    if (c == '.' && j == terminator + 1) {
      size_t word_start = terminator;
      while (word_start > start && WhitespaceLength(line, word_start - 1) == 0) --word_start;
      if (IsAbbreviation(line.substr(word_start, terminator - word_start))) continue;
    }
    emit(j);
  }
  emit(line.size());
}

}  // namespace

std::string SanitizeUtf8(absl::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  size_t i = 0;
  while (i < bytes.size()) {
    uint32_t code_point = 0;
    size_t length = DecodeWellFormed(bytes, i, &code_point);
    if (length == 0) {
      code_point = static_cast<uint8_t>(bytes[i]);  // Latin-1.
      length = 1;
    }
    if (IsControl(code_point)) {
      out.push_back(' ');
    } else if (length > 1 || code_point < 0x80) {
      out.append(bytes.data() + i, length);
    } else {
      tokenizers::AppendUtf8(code_point, &out);
    }
    i += length;
  }
  return out;
}

std::string CollapseWhitespace(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  bool pending_space = false;
  size_t i = 0;
  while (i < text.size()) {
    const size_t space = WhitespaceLength(text, i);
    if (space > 0) {
      pending_space = !out.empty();
      i += space;
      continue;
    }
    if (pending_space) out.push_back(' ');
    pending_space = false;
    out.push_back(text[i]);
    ++i;
  }
  return out;
}

size_t Utf8CharCount(absl::string_view text) {
  size_t count = 0;
  for (char c : text) {
    if ((static_cast<uint8_t>(c) & 0xC0) != 0x80) ++count;
  }
  return count;
}

std::string TruncateAtWord(absl::string_view text, size_t max_chars) {
  size_t chars = 0;
  size_t cut = text.size();
  for (size_t i = 0; i < text.size(); ++i) {
    if ((static_cast<uint8_t>(text[i]) & 0xC0) == 0x80) continue;
    if (chars == max_chars) {
      cut = i;
      break;
    }
    ++chars;
  }
  if (cut == text.size()) return std::string(text);
  const size_t space = text.substr(0, cut + 1).rfind(' ');
  if (space != absl::string_view::npos && space > 0) cut = space;
  std::string out(text.substr(0, cut));
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

size_t CountWords(absl::string_view text) {
  size_t words = 0;
  bool in_word = false;
  for (char c : text) {
    const bool space = c == ' ' || c == '\t' || c == '\n' || c == '\r';
    if (!space && !in_word) ++words;
    in_word = !space;
  }
  return words;
}

std::vector<std::string> SplitSentences(absl::string_view text) {
  std::vector<std::string> sentences;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == absl::string_view::npos) end = text.size();
    SplitLine(text.substr(start, end - start), &sentences);
    start = end + 1;
  }
  return sentences;
}

absl::StatusOr<nlohmann::json> ParseJsonText(absl::string_view text, absl::string_view source) {
  try {
    return nlohmann::json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::parse_error& e) {
    // e.byte is the 1-based position of the character the parser stopped at.
    const size_t stop = std::min<size_t>(e.byte == 0 ? 0 : e.byte - 1, text.size());
    const size_t line =
        1 + static_cast<size_t>(std::count(text.begin(), text.begin() + stop, '\n'));
    std::string reason = e.what();
    const size_t bracket = reason.find("] ");
    if (bracket != std::string::npos) reason = reason.substr(bracket + 2);
    return absl::InvalidArgumentError(
        absl::StrCat(source, ":", line, ": not valid JSON: ", reason));
  }
}

absl::StatusOr<nlohmann::json> ReadJsonFile(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, base::ReadFileToString(path));
  return ParseJsonText(text, path);
}

}  // namespace corpora
}  // namespace datasets
