#include "datasets/corpora/text_sources.h"

#include <algorithm>
#include <filesystem>
#include <system_error>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "base/atomic_file.h"
#include "base/status_macros.h"
#include "datasets/corpora/text_utils.h"

namespace datasets {
namespace corpora {
namespace {

// File names (not paths) in `dir` ending in `suffix`, sorted.
absl::StatusOr<std::vector<std::string>> ListFiles(const std::string& dir,
                                                   absl::string_view suffix) {
  std::vector<std::string> names;
  std::error_code error;
  for (std::filesystem::directory_iterator it(dir, error), end; !error && it != end;
       it.increment(error)) {
    const std::string name = it->path().filename().string();
    if (absl::EndsWith(name, suffix) && it->is_regular_file()) names.push_back(name);
  }
  if (error) {
    return absl::NotFoundError(absl::StrCat("cannot list ", dir, ": ", error.message(),
                                            "; run tools/fetch_data.sh"));
  }
  std::sort(names.begin(), names.end());
  return names;
}

absl::StatusOr<TextDocument> ReadProse(const std::string& path, std::string id,
                                       bool drop_title_line) {
  ASSIGN_OR_RETURN(std::string raw, base::ReadFileToString(path));
  std::string text = SanitizeUtf8(raw);
  if (drop_title_line) {
    const size_t start = text.find_first_not_of(" \t\n");
    const size_t newline = start == std::string::npos ? start : text.find('\n', start);
    text = newline == std::string::npos ? "" : text.substr(newline + 1);
  }
  TextDocument document;
  document.id = std::move(id);
  document.sentences = SplitSentences(RemoveStageDirections(text));
  return document;
}

}  // namespace

std::string RemoveStageDirections(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t position = 0;
  while (position < text.size()) {
    const size_t open = text.find('(', position);
    if (open == absl::string_view::npos) break;
    const size_t close = text.find(')', open + 1);
    const std::string inner =
        close == absl::string_view::npos
            ? ""
            : absl::AsciiStrToLower(absl::StripAsciiWhitespace(text.substr(open + 1, close - open - 1)));
    const bool note = absl::StartsWith(inner, "applause") || absl::StartsWith(inner, "laughter");
    out.append(text.data() + position, open - position);
    if (note) {
      position = close + 1;
    } else {
      out.push_back('(');
      position = open + 1;
    }
  }
  if (position < text.size()) out.append(text.data() + position, text.size() - position);
  return out;
}

absl::StatusOr<std::vector<TextDocument>> LoadSotu(const std::string& dir) {
  const std::string data = dir + "/data";
  ASSIGN_OR_RETURN(std::vector<std::string> names, ListFiles(data, ".txt"));
  if (names.empty()) {
    return absl::NotFoundError(absl::StrCat("no State of the Union addresses (*.txt) in ", data,
                                            "; run tools/fetch_data.sh"));
  }
  std::vector<TextDocument> documents;
  for (const std::string& name : names) {
    ASSIGN_OR_RETURN(TextDocument document,
                     ReadProse(data + "/" + name,
                               absl::StrCat("sotu/", absl::StripSuffix(name, ".txt")),
                               /*drop_title_line=*/false));
    if (!document.sentences.empty()) documents.push_back(std::move(document));
  }
  return documents;
}

absl::StatusOr<std::vector<TextDocument>> LoadMobyDick(const std::string& dir) {
  const std::string data = dir + "/data";
  ASSIGN_OR_RETURN(std::vector<std::string> names, ListFiles(data, ".txt"));
  std::vector<std::pair<int, std::string>> chapters;
  for (const std::string& name : names) {
    absl::string_view stem = name;
    int number = 0;
    if (absl::ConsumePrefix(&stem, "chapter_") && absl::ConsumeSuffix(&stem, ".txt") &&
        absl::SimpleAtoi(stem, &number)) {
      chapters.emplace_back(number, name);
    }
  }
  if (chapters.empty()) {
    return absl::NotFoundError(absl::StrCat("no Moby Dick chapters (chapter_<n>.txt) in ", data,
                                            "; run tools/fetch_data.sh"));
  }
  std::sort(chapters.begin(), chapters.end());
  if (std::find(names.begin(), names.end(), "epilogue.txt") != names.end()) {
    chapters.emplace_back(chapters.back().first + 1, "epilogue.txt");
  }
  std::vector<TextDocument> documents;
  for (const auto& chapter : chapters) {
    const std::string& name = chapter.second;
    ASSIGN_OR_RETURN(TextDocument document,
                     ReadProse(data + "/" + name,
                               absl::StrCat("moby-dick/", absl::StripSuffix(name, ".txt")),
                               /*drop_title_line=*/true));
    if (!document.sentences.empty()) documents.push_back(std::move(document));
  }
  return documents;
}

}  // namespace corpora
}  // namespace datasets
