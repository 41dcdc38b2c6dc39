#include "datasets/corpora/email.h"

#include <cstdint>
#include <map>
#include <utility>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "base/atomic_file.h"
#include "base/status_macros.h"
#include "datasets/corpora/text_utils.h"
#include "models/tokenizers/unicode.h"

namespace datasets {
namespace corpora {
namespace {

// Deeper MIME nesting than this is malformed or hostile; such parts are ignored.
constexpr int kMaxMimeDepth = 8;

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Appends a character reference's code point; NUL, surrogates and values beyond U+10FFFF
// are dropped rather than replaced.
void AppendCodePoint(uint32_t code_point, std::string* out) {
  if (code_point == 0 || code_point > 0x10FFFF || (code_point >= 0xD800 && code_point <= 0xDFFF)) {
    return;
  }
  tokenizers::AppendUtf8(code_point, out);
}

struct Part {
  std::map<std::string, std::string> headers;  // Lower-case names, unfolded values.
  absl::string_view body;
};

// Splits a message (or MIME part) into headers and body at the first empty line. Lines
// that are not "Name: value" (the mbox "From " line) are skipped.
Part SplitPart(absl::string_view text) {
  Part part;
  size_t header_end = 0;
  size_t body_start = text.size();
  if (absl::StartsWith(text, "\n")) {
    body_start = 1;
  } else {
    const size_t blank = text.find("\n\n");
    if (blank != absl::string_view::npos) {
      header_end = blank;
      body_start = blank + 2;
    } else {
      header_end = text.size();
    }
  }
  part.body = body_start < text.size() ? text.substr(body_start) : absl::string_view();
  std::string* last = nullptr;
  for (absl::string_view line : absl::StrSplit(text.substr(0, header_end), '\n')) {
    if (!line.empty() && (line[0] == ' ' || line[0] == '\t')) {
      if (last != nullptr) absl::StrAppend(last, " ", absl::StripAsciiWhitespace(line));
      continue;
    }
    const size_t colon = line.find(':');
    if (colon == absl::string_view::npos || colon == 0 ||
        line.substr(0, colon).find(' ') != absl::string_view::npos) {
      last = nullptr;
      continue;
    }
    const std::string name = absl::AsciiStrToLower(line.substr(0, colon));
    // The first occurrence of a header wins (later ones are usually forwarded copies).
    auto [it, inserted] =
        part.headers.emplace(name, std::string(absl::StripAsciiWhitespace(line.substr(colon + 1))));
    last = inserted ? &it->second : nullptr;
  }
  return part;
}

std::string Header(const Part& part, const std::string& name) {
  auto it = part.headers.find(name);
  return it == part.headers.end() ? "" : it->second;
}

// "text/html; charset=x; boundary=\"y\"" -> type "text/html" and the named parameter.
std::string MimeType(const std::string& content_type) {
  const absl::string_view view = content_type;
  return absl::AsciiStrToLower(absl::StripAsciiWhitespace(view.substr(0, view.find(';'))));
}

std::string MimeParameter(const std::string& content_type, absl::string_view name) {
  for (absl::string_view item : absl::StrSplit(content_type, ';')) {
    item = absl::StripAsciiWhitespace(item);
    const size_t equals = item.find('=');
    if (equals == absl::string_view::npos) continue;
    if (!absl::EqualsIgnoreCase(absl::StripAsciiWhitespace(item.substr(0, equals)), name)) {
      continue;
    }
    absl::string_view value = absl::StripAsciiWhitespace(item.substr(equals + 1));
    if (value.size() >= 2 && value.front() == '"') {
      value.remove_prefix(1);
      const size_t quote = value.find('"');
      if (quote != absl::string_view::npos) value = value.substr(0, quote);
    }
    return std::string(value);
  }
  return "";
}

std::string DecodeBody(const Part& part) {
  const std::string encoding =
      absl::AsciiStrToLower(absl::StripAsciiWhitespace(Header(part, "content-transfer-encoding")));
  if (encoding == "quoted-printable") return DecodeQuotedPrintable(part.body);
  if (encoding == "base64") return DecodeBase64(part.body);
  return std::string(part.body);
}

// Walks the MIME tree, keeping the first text/plain and the first text/html body.
void CollectText(absl::string_view text, int depth, std::string* plain, std::string* html) {
  const Part part = SplitPart(text);
  const std::string content_type = Header(part, "content-type");
  const std::string type = content_type.empty() ? "text/plain" : MimeType(content_type);
  if (absl::StartsWith(type, "multipart/")) {
    const std::string boundary = MimeParameter(content_type, "boundary");
    if (boundary.empty() || depth >= kMaxMimeDepth) return;
    const std::string delimiter = absl::StrCat("--", boundary);
    size_t part_start = absl::string_view::npos;
    size_t position = 0;
    while (position <= part.body.size()) {
      size_t line_end = part.body.find('\n', position);
      if (line_end == absl::string_view::npos) line_end = part.body.size();
      const absl::string_view line =
          absl::StripTrailingAsciiWhitespace(part.body.substr(position, line_end - position));
      if (absl::StartsWith(line, delimiter)) {
        if (part_start != absl::string_view::npos) {
          CollectText(part.body.substr(part_start, position - part_start), depth + 1, plain,
                      html);
        }
        if (line == absl::StrCat(delimiter, "--")) return;
        part_start = line_end + 1;
      }
      position = line_end + 1;
    }
    if (part_start != absl::string_view::npos && part_start < part.body.size()) {
      CollectText(part.body.substr(part_start), depth + 1, plain, html);
    }
    return;
  }
  if (type == "text/plain" && plain->empty()) {
    *plain = CollapseWhitespace(SanitizeUtf8(DecodeBody(part)));
  } else if (type == "text/html" && html->empty()) {
    *html = CollapseWhitespace(SanitizeUtf8(HtmlToText(DecodeBody(part))));
  }
}

// Removes every `open`...`close` block (case-insensitive), e.g. <script ...>...</script>.
std::string RemoveBlocks(absl::string_view text, absl::string_view open, absl::string_view close) {
  const std::string lower = absl::AsciiStrToLower(text);
  std::string out;
  size_t position = 0;
  while (position < text.size()) {
    const size_t start = lower.find(std::string(open), position);
    if (start == std::string::npos) break;
    out.append(text.data() + position, start - position);
    out.push_back(' ');
    const size_t end = lower.find(std::string(close), start + open.size());
    position = end == std::string::npos ? text.size() : end + close.size();
  }
  if (position < text.size()) out.append(text.data() + position, text.size() - position);
  return out;
}

void AppendEntity(absl::string_view name, std::string* out) {
  static const auto* const kNamed = new std::map<std::string, uint32_t>{
      {"nbsp", ' '},     {"amp", '&'},      {"lt", '<'},       {"gt", '>'},
      {"quot", '"'},     {"apos", '\''},    {"copy", 0xA9},    {"reg", 0xAE},
      {"trade", 0x2122}, {"mdash", 0x2014}, {"ndash", 0x2013}, {"hellip", 0x2026},
      {"rsquo", 0x2019}, {"lsquo", 0x2018}, {"rdquo", 0x201D}, {"ldquo", 0x201C},
      {"bull", 0x2022},  {"middot", 0xB7},  {"euro", 0x20AC},  {"pound", 0xA3}};
  uint32_t code_point = 0;
  if (absl::ConsumePrefix(&name, "#")) {
    const bool hex = absl::ConsumePrefix(&name, "x") || absl::ConsumePrefix(&name, "X");
    if (!(hex ? absl::SimpleHexAtoi(name, &code_point) : absl::SimpleAtoi(name, &code_point))) {
      return;
    }
  } else {
    auto it = kNamed->find(absl::AsciiStrToLower(name));
    if (it == kNamed->end()) return;
    code_point = it->second;
  }
  AppendCodePoint(code_point, out);
}

}  // namespace

std::string DecodeQuotedPrintable(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '=') {
      out.push_back(text[i]);
      continue;
    }
    // Soft line break: '=' then optional spaces then a newline.
    size_t j = i + 1;
    while (j < text.size() && (text[j] == ' ' || text[j] == '\t' || text[j] == '\r')) ++j;
    if (j < text.size() && text[j] == '\n') {
      i = j;
      continue;
    }
    if (i + 2 < text.size() && HexValue(text[i + 1]) >= 0 && HexValue(text[i + 2]) >= 0) {
      out.push_back(static_cast<char>(HexValue(text[i + 1]) * 16 + HexValue(text[i + 2])));
      i += 2;
      continue;
    }
    out.push_back('=');
  }
  return out;
}

std::string DecodeBase64(absl::string_view text) {
  std::string out;
  uint32_t buffer = 0;
  int bits = 0;
  for (char c : text) {
    int value = -1;
    if (c >= 'A' && c <= 'Z') value = c - 'A';
    else if (c >= 'a' && c <= 'z') value = c - 'a' + 26;
    else if (c >= '0' && c <= '9') value = c - '0' + 52;
    else if (c == '+') value = 62;
    else if (c == '/') value = 63;
    else if (c == '=') break;
    if (value < 0) continue;
    buffer = (buffer << 6) | static_cast<uint32_t>(value);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> bits) & 0xFF));
    }
  }
  return out;
}

std::string DecodeMimeWords(absl::string_view header) {
  std::string out;
  size_t position = 0;
  while (position < header.size()) {
    const size_t start = header.find("=?", position);
    if (start == absl::string_view::npos) break;
    // =?charset?encoding?text?=
    const size_t q1 = header.find('?', start + 2);
    const size_t q2 = q1 == absl::string_view::npos ? q1 : header.find('?', q1 + 1);
    const size_t end = q2 == absl::string_view::npos ? q2 : header.find("?=", q2 + 1);
    if (end == absl::string_view::npos || q2 != q1 + 2) {
      out.append(header.data() + position, start + 2 - position);
      position = start + 2;
      continue;
    }
    out.append(header.data() + position, start - position);
    const char encoding = absl::ascii_toupper(static_cast<unsigned char>(header[q1 + 1]));
    const absl::string_view payload = header.substr(q2 + 1, end - q2 - 1);
    if (encoding == 'B') {
      out += DecodeBase64(payload);
    } else if (encoding == 'Q') {
      out += DecodeQuotedPrintable(absl::StrReplaceAll(payload, {{"_", " "}}));
    } else {
      out.append(header.data() + start, end + 2 - start);
    }
    position = end + 2;
  }
  if (position < header.size()) out.append(header.data() + position, header.size() - position);
  return out;
}

std::string HtmlToText(absl::string_view html) {
  std::string text = RemoveBlocks(html, "<!--", "-->");
  text = RemoveBlocks(text, "<script", "</script>");
  text = RemoveBlocks(text, "<style", "</style>");
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    if (c == '<') {
      const size_t close = text.find('>', i + 1);
      if (close == std::string::npos) break;  // An unterminated tag ends the text.
      out.push_back(' ');
      i = close + 1;
    } else if (c == '&') {
      const size_t semicolon = text.find(';', i + 1);
      if (semicolon != std::string::npos && semicolon - i <= 10) {
        const size_t before = out.size();
        AppendEntity(absl::string_view(text).substr(i + 1, semicolon - i - 1), &out);
        if (out.size() > before) {
          i = semicolon + 1;
          continue;
        }
      }
      out.push_back(c);
      ++i;
    } else {
      out.push_back(c);
      ++i;
    }
  }
  return out;
}

EmailText ParseEmail(absl::string_view raw) {
  const std::string text = absl::StrReplaceAll(raw, {{"\r\n", "\n"}});
  EmailText email;
  const Part top = SplitPart(text);
  email.subject = CollapseWhitespace(SanitizeUtf8(DecodeMimeWords(Header(top, "subject"))));
  std::string plain;
  std::string html;
  CollectText(text, 0, &plain, &html);
  email.body = plain.empty() ? html : plain;
  return email;
}

absl::StatusOr<std::vector<SpamMessage>> LoadSpamAssassin(const std::string& dir,
                                                          size_t max_chars) {
  const std::string list_path = dir + "/data/file_list.json";
  ASSIGN_OR_RETURN(nlohmann::json list, ReadJsonFile(list_path));
  if (!list.is_array()) {
    return absl::InvalidArgumentError(
        absl::StrCat(list_path, ": expected a JSON list of message files"));
  }
  std::vector<SpamMessage> messages;
  messages.reserve(list.size());
  for (size_t i = 0; i < list.size(); ++i) {
    if (!list[i].is_string()) {
      return absl::InvalidArgumentError(absl::StrCat(list_path, ": entry ", i,
                                                     " must be a file name, got ",
                                                     list[i].dump()));
    }
    const std::string name = list[i].get<std::string>();
    const size_t slash = name.find('/');
    if (slash == std::string::npos || name.find("..") != std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          list_path, ": entry ", i, " '", name, "' is not <group>/<file> inside the package"));
    }
    const std::string group = name.substr(0, slash);
    ASSIGN_OR_RETURN(std::string raw, base::ReadFileToString(dir + "/data/" + name));
    const EmailText email = ParseEmail(raw);
    std::string joined = CollapseWhitespace(absl::StrCat(email.subject, " ", email.body));
    if (joined.empty()) continue;
    SpamMessage message;
    message.id = name;
    message.label = absl::StrContains(group, "spam") ? "spam" : "ham";
    message.text = TruncateAtWord(joined, max_chars);
    messages.push_back(std::move(message));
  }
  return messages;
}

}  // namespace corpora
}  // namespace datasets
