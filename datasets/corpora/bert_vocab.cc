#include "datasets/corpora/bert_vocab.h"

#include <map>
#include <utility>

#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/strip.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "datasets/corpora/text_utils.h"

namespace datasets {
namespace corpora {
namespace {

constexpr absl::string_view kWordStart = "\xE2\x96\x81";  // U+2581 LOWER ONE EIGHTH BLOCK.

bool HasWhitespace(absl::string_view text) {
  for (char c : text) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f') return true;
  }
  return false;
}

}  // namespace

std::string ConvertVocabPiece(absl::string_view piece) {
  if (piece == kWordStart) return "[unused0]";
  if (absl::ConsumePrefix(&piece, kWordStart)) return std::string(piece);
  if (piece.size() >= 3 && piece.front() == '[' && piece.back() == ']') {
    return std::string(piece);
  }
  return absl::StrCat("##", piece);
}

absl::StatusOr<std::vector<std::string>> ConvertSentencePieceVocab(absl::string_view json_text,
                                                                   absl::string_view source) {
  ASSIGN_OR_RETURN(nlohmann::json list, ParseJsonText(json_text, source));
  if (!list.is_array()) {
    return absl::InvalidArgumentError(absl::StrCat(
        source, ": expected a JSON list of vocabulary pieces, got a ", list.type_name()));
  }
  std::vector<std::string> tokens;
  tokens.reserve(list.size());
  std::map<std::string, size_t> seen;
  for (size_t id = 0; id < list.size(); ++id) {
    const nlohmann::json& entry = list[id];
    if (!entry.is_string() || entry.get_ref<const std::string&>().empty() ||
        HasWhitespace(entry.get_ref<const std::string&>())) {
      std::string shown = entry.dump();
      if (shown.size() > 40) shown = shown.substr(0, 37) + "...";
      return absl::InvalidArgumentError(absl::StrCat(
          source, ": entry ", id, " must be a non-empty string without whitespace, got ",
          shown));
    }
    std::string token = ConvertVocabPiece(entry.get_ref<const std::string&>());
    const auto [it, inserted] = seen.emplace(token, id);
    if (!inserted) {
      return absl::InvalidArgumentError(absl::StrCat(source, ": entries ", it->second, " and ",
                                                     id, " both convert to '", token, "'"));
    }
    tokens.push_back(std::move(token));
  }
  return tokens;
}

absl::Status CheckBertUncasedVocab(const std::vector<std::string>& tokens,
                                   absl::string_view source) {
  constexpr size_t kSize = 30522;
  if (tokens.size() != kSize) {
    return absl::FailedPreconditionError(absl::StrCat(
        source, ": has ", tokens.size(), " tokens; bert-base-uncased has ", kSize));
  }
  const std::pair<size_t, const char*> anchors[] = {
      {0, "[PAD]"},   {100, "[UNK]"}, {101, "[CLS]"}, {102, "[SEP]"},
      {103, "[MASK]"}, {1996, "the"}, {2015, "##s"},  {7592, "hello"}};
  for (const auto& [id, expected] : anchors) {
    if (tokens[id] != expected) {
      return absl::FailedPreconditionError(
          absl::StrCat(source, ": token ", id, " is '", tokens[id], "', expected '", expected,
                       "' (not bert-base-uncased, or the conversion rule is wrong)"));
    }
  }
  return absl::OkStatus();
}

std::string VocabToText(const std::vector<std::string>& tokens) {
  std::string text;
  for (const std::string& token : tokens) absl::StrAppend(&text, token, "\n");
  return text;
}

}  // namespace corpora
}  // namespace datasets
