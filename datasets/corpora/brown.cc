#include "datasets/corpora/brown.h"

#include <algorithm>
#include <filesystem>
#include <system_error>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "base/atomic_file.h"
#include "base/status_macros.h"
#include "datasets/corpora/text_utils.h"

namespace datasets {
namespace corpora {
namespace {

constexpr absl::string_view kGenreLetters = "abcdefghjklmnpr";

bool LooksLikeBrownFileName(absl::string_view name) {
  return name.size() == 4 && name[0] == 'c' && name[1] >= 'a' && name[1] <= 'z' &&
         absl::ascii_isdigit(static_cast<unsigned char>(name[2])) &&
         absl::ascii_isdigit(static_cast<unsigned char>(name[3]));
}

bool IsBlank(absl::string_view line) {
  return std::all_of(line.begin(), line.end(), [](char c) {
    return c == ' ' || c == '\t' || c == '\r';
  });
}

}  // namespace

bool BrownSentence::IsHeading() const {
  return !tokens.empty() && std::all_of(tokens.begin(), tokens.end(), [](const BrownToken& t) {
    return SplitTag(t.tag).headline;
  });
}

TagParts SplitTag(absl::string_view tag) {
  TagParts parts;
  if (absl::ConsumePrefix(&tag, "fw-")) parts.foreign = true;
  // Suffixes may stack ("nn-tl-hl"); strip from the right.
  while (true) {
    if (absl::ConsumeSuffix(&tag, "-tl")) {
      parts.title = true;
    } else if (absl::ConsumeSuffix(&tag, "-hl")) {
      parts.headline = true;
    } else if (absl::ConsumeSuffix(&tag, "-nc")) {
      parts.cited = true;
    } else {
      break;
    }
  }
  parts.base = std::string(tag);
  return parts;
}

const std::vector<std::string>& BrownGenres() {
  static const auto* const kGenres = new std::vector<std::string>{
      "news",       "editorial", "reviews", "religion",        "hobbies",
      "lore",       "belles_lettres", "government", "learned", "fiction",
      "mystery",    "science_fiction", "adventure", "romance", "humor"};
  return *kGenres;
}

absl::StatusOr<std::string> BrownGenre(absl::string_view file_name) {
  const size_t letter = LooksLikeBrownFileName(file_name)
                            ? kGenreLetters.find(file_name[1])
                            : absl::string_view::npos;
  if (letter == absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Brown file name '", file_name,
        "' is not c<category><2 digits> with a category letter among ", kGenreLetters));
  }
  return BrownGenres()[letter];
}

absl::StatusOr<BrownDocument> ParseBrownDocument(absl::string_view text, absl::string_view id,
                                                 absl::string_view source) {
  BrownDocument document;
  document.id = std::string(id);
  ASSIGN_OR_RETURN(document.genre, BrownGenre(id));
  BrownParagraph paragraph;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    if (IsBlank(line)) {
      if (!paragraph.sentences.empty()) document.paragraphs.push_back(std::move(paragraph));
      paragraph = BrownParagraph();
      continue;
    }
    BrownSentence sentence;
    sentence.line = line_number;
    for (absl::string_view token :
         absl::StrSplit(line, absl::ByAnyChar(" \t\r"), absl::SkipEmpty())) {
      const size_t slash = token.rfind('/');
      if (slash == absl::string_view::npos || slash == 0 || slash + 1 == token.size()) {
        return absl::InvalidArgumentError(absl::StrCat(
            source, ":", line_number, ": token '", token,
            "' is not word/tag (Brown tokens carry a part-of-speech tag after the last '/')"));
      }
      sentence.tokens.push_back(
          {std::string(token.substr(0, slash)), std::string(token.substr(slash + 1))});
    }
    paragraph.sentences.push_back(std::move(sentence));
  }
  if (!paragraph.sentences.empty()) document.paragraphs.push_back(std::move(paragraph));
  return document;
}

absl::StatusOr<std::vector<BrownDocument>> LoadBrownCorpus(const std::string& dir) {
  std::vector<std::string> names;
  std::error_code error;
  for (std::filesystem::directory_iterator it(dir, error), end; !error && it != end;
       it.increment(error)) {
    const std::string name = it->path().filename().string();
    if (LooksLikeBrownFileName(name)) names.push_back(name);
  }
  if (error) {
    return absl::NotFoundError(
        absl::StrCat("cannot list the Brown corpus directory ", dir, ": ", error.message()));
  }
  if (names.empty()) {
    return absl::NotFoundError(absl::StrCat(
        "no Brown corpus files (ca01 ... cr09) in ", dir, "; run tools/fetch_data.sh"));
  }
  std::sort(names.begin(), names.end());
  std::vector<BrownDocument> documents;
  documents.reserve(names.size());
  for (const std::string& name : names) {
    const std::string path = dir + "/" + name;
    ASSIGN_OR_RETURN(std::string text, base::ReadFileToString(path));
    ASSIGN_OR_RETURN(BrownDocument document, ParseBrownDocument(text, name, path));
    documents.push_back(std::move(document));
  }
  return documents;
}

DetokenizedText DetokenizeBrown(const std::vector<BrownToken>& tokens) {
  const size_t n = tokens.size();
  const auto word = [&](size_t i) -> const std::string& { return tokens[i].word; };
  // Brown often writes a sentence's final mark twice ("matter '' ? ?", "renovated ; ;") and
  // keeps a sentence period after an abbreviation's own ("Jr. ."): print each once.
  std::vector<bool> skip(n, false);
  for (size_t i = 1; i < n; ++i) {
    const std::string& previous = word(i - 1);
    if (previous == word(i) && SplitTag(tokens[i].tag).base == "." &&
        SplitTag(tokens[i - 1].tag).base == ".") {
      skip[i] = true;
    }
    if (word(i) == "." && previous.size() > 1 && previous.back() == '.') skip[i] = true;
  }
  // It also puts those marks after the closing quote; they belong inside ("matter?\"").
  std::vector<size_t> order;
  order.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    if (word(i) == "''" && i + 1 < n && (word(i + 1) == "?" || word(i + 1) == "!") &&
        !skip[i + 1]) {
      order.push_back(i + 1);
      order.push_back(i);
      ++i;
    } else {
      order.push_back(i);
    }
  }

  DetokenizedText out;
  out.spans.assign(n, {0, 0});
  bool space_allowed = false;  // False at the start and after an opening bracket/quote.
  bool single_quote_open = false;
  for (size_t i : order) {
    if (skip[i]) {
      out.spans[i] = {out.text.size(), out.text.size()};
      continue;
    }
    const std::string& w = word(i);
    std::string surface = w;
    bool attach_left = false;   // No space before this token.
    bool attach_right = false;  // No space after this token.
    if (w == "``") {
      surface = "\"";
      attach_right = true;
    } else if (w == "''") {
      surface = "\"";
      attach_left = true;
    } else if (w == "'") {
      attach_left = single_quote_open;
      attach_right = !single_quote_open;
      single_quote_open = !single_quote_open;
    } else if (w == "(" || w == "[" || w == "{") {
      attach_right = true;
    } else if (w == "," || w == "." || w == ";" || w == ":" || w == "?" || w == "!" ||
               w == ")" || w == "]" || w == "}") {
      attach_left = true;
    }
    if (space_allowed && !attach_left) out.text.push_back(' ');
    const size_t begin = out.text.size();
    out.text += surface;
    out.spans[i] = {begin, out.text.size()};
    space_allowed = !attach_right;
  }
  return out;
}

std::string BrownSentenceText(const BrownSentence& sentence) {
  return DetokenizeBrown(sentence.tokens).text;
}

std::vector<std::vector<const BrownSentence*>> GroupIntoPassages(const BrownDocument& document,
                                                                 size_t min_words,
                                                                 size_t max_words) {
  std::vector<std::vector<const BrownSentence*>> passages;
  std::vector<size_t> passage_words;
  std::vector<const BrownSentence*> current;
  size_t current_words = 0;
  auto flush = [&]() {
    if (!current.empty()) {
      passages.push_back(std::move(current));
      passage_words.push_back(current_words);
    }
    current.clear();
    current_words = 0;
  };
  for (const BrownParagraph& paragraph : document.paragraphs) {
    std::vector<std::pair<const BrownSentence*, size_t>> prose;
    size_t paragraph_words = 0;
    for (const BrownSentence& sentence : paragraph.sentences) {
      if (sentence.IsHeading()) continue;
      const size_t words = CountWords(BrownSentenceText(sentence));
      prose.emplace_back(&sentence, words);
      paragraph_words += words;
    }
    if (prose.empty()) continue;
    if (paragraph_words > max_words) {
      flush();
      for (const auto& [sentence, words] : prose) {
        if (!current.empty() && current_words + words > max_words) flush();
        current.push_back(sentence);
        current_words += words;
      }
      flush();
      continue;
    }
    if (current_words + paragraph_words > max_words) flush();
    for (const auto& entry : prose) current.push_back(entry.first);
    current_words += paragraph_words;
    if (current_words >= min_words) flush();
  }
  // A short tail joins the passage before it when both fit, rather than stand alone.
  if (!current.empty() && !passages.empty() && current_words < min_words &&
      passage_words.back() + current_words <= max_words) {
    passages.back().insert(passages.back().end(), current.begin(), current.end());
    current.clear();
  }
  flush();
  return passages;
}

}  // namespace corpora
}  // namespace datasets
