#include "datasets/corpora/cloze.h"

#include <cstddef>
#include <set>
#include <utility>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "datasets/corpora/noun_phrases.h"
#include "datasets/corpora/splits.h"
#include "datasets/corpora/text_utils.h"

namespace datasets {
namespace corpora {
namespace {

// Words before a name that make it a place or thing rather than a person ("in Atlanta").
bool IsPlacePreposition(const std::string& word) {
  static const auto* const kPrepositions = new std::set<std::string>{
      "in",   "at",     "on",      "from",    "to",      "into",   "onto",  "near",
      "of",   "across", "through", "toward",  "towards", "within", "around", "throughout",
      "over", "under",  "inside",  "outside", "along",   "beyond"};
  return kPrepositions->count(absl::AsciiStrToLower(word)) > 0;
}

// "Mrs. Ortega" names a person wherever it stands ("to Mrs. Ortega").
bool IsPersonalTitle(const std::string& word) {
  static const auto* const kTitles =
      new std::set<std::string>{"Mr.", "Mrs.", "Miss", "Ms.", "Dr.", "Mister", "Madame"};
  return kTitles->count(word) > 0;
}

bool IsYear(absl::string_view word) {
  int year = 0;
  return word.size() == 4 && absl::SimpleAtoi(word, &year) && year >= 1500 && year <= 2099;
}

bool IsClosingToken(const BrownToken& token) {
  return token.word == "''" || token.word == "'" || token.word == ")";
}

bool IsOpeningToken(const BrownToken& token) {
  return token.word == "``" || token.word == "'" || token.word == "(";
}

// A usable candidate: which tokens the question word replaces, which are the answer.
struct Candidate {
  size_t replace_begin;
  size_t replace_end;
  size_t answer_begin;
  size_t answer_end;
  std::string wh_word;
  bool preferred;  // A named entity or a number.
};

Candidate CandidateFor(const NounPhrase& phrase, const std::vector<BrownToken>& tokens) {
  Candidate candidate{phrase.begin, phrase.end, phrase.core_begin, phrase.end, "what", false};
  switch (phrase.kind) {
    case PhraseKind::kProperName: {
      candidate.preferred = true;
      const TagParts head = SplitTag(tokens[phrase.end - 1].tag);
      const bool titled = IsPersonalTitle(tokens[phrase.core_begin].word);
      const bool person_like =
          titled || ((head.base == "np" || head.base == "nps") && !head.title &&
                     SplitTag(tokens[phrase.begin].tag).base != "at" &&
                     !(phrase.begin > 0 && IsPlacePreposition(tokens[phrase.begin - 1].word)));
      candidate.wh_word = person_like ? "who" : "what";
      break;
    }
    case PhraseKind::kCount: {
      candidate.preferred = true;
      candidate.wh_word = "how many";
      candidate.answer_begin = phrase.number_begin;
      candidate.answer_end = phrase.number_end;
      // "these two offices" -> "how many offices": determiners before the number go too;
      // other words before it ("Georgia's two senators") stay.
      bool only_determiners = true;
      for (size_t k = phrase.begin; k < phrase.number_begin; ++k) {
        only_determiners = only_determiners && IsDeterminerTag(SplitTag(tokens[k].tag));
      }
      candidate.replace_begin = only_determiners ? phrase.begin : phrase.number_begin;
      candidate.replace_end = phrase.number_end;
      break;
    }
    case PhraseKind::kNumber: {
      candidate.preferred = true;
      candidate.answer_begin = phrase.number_begin;
      candidate.answer_end = phrase.number_end;
      const bool year = phrase.number_end - phrase.number_begin == 1 &&
                        IsYear(tokens[phrase.number_begin].word);
      candidate.wh_word = year ? "what year" : "how many";
      break;
    }
    case PhraseKind::kCommon:
      break;
  }
  return candidate;
}

// The question text: tokens with [replace_begin, replace_end) replaced by the wh-word and the
// sentence's final punctuation turned into '?'.
std::string BuildQuestion(const std::vector<BrownToken>& tokens, const Candidate& candidate) {
  bool at_start = true;
  for (size_t k = 0; k < candidate.replace_begin; ++k) {
    at_start = at_start && IsOpeningToken(tokens[k]);
  }
  std::string wh_word = candidate.wh_word;
  if (at_start) wh_word[0] = absl::ascii_toupper(static_cast<unsigned char>(wh_word[0]));

  std::vector<BrownToken> question;
  question.reserve(tokens.size());
  for (size_t k = 0; k < tokens.size(); ++k) {
    if (k == candidate.replace_begin) question.push_back({wh_word, "wh"});
    if (k >= candidate.replace_begin && k < candidate.replace_end) continue;
    question.push_back(tokens[k]);
  }
  // Final punctuation: the last token before any closing quotes/brackets, when it is a
  // sentence mark or a dangling ':' ',' '--' (Brown sentences may end "this way:").
  size_t last = question.size();
  while (last > 0 && IsClosingToken(question[last - 1])) --last;
  const std::string final_tag = last > 0 ? SplitTag(question[last - 1].tag).base : "";
  if (final_tag == "." || final_tag == ":" || final_tag == "," || final_tag == "--") {
    question[last - 1].word = "?";
    // Brown's doubled final marks ("! !"): the one before would print as "!?".
    while (last > 1 && SplitTag(question[last - 2].tag).base == ".") {
      question.erase(question.begin() + static_cast<std::ptrdiff_t>(last - 2));
      --last;
    }
  } else {
    question.push_back({"?", "."});
  }
  return DetokenizeBrown(question).text;
}

}  // namespace

std::optional<ClozeSentenceQuestion> ClozeQuestionFor(const BrownSentence& sentence,
                                                      std::mt19937_64& rng,
                                                      const ClozeOptions& options) {
  const std::vector<BrownToken>& tokens = sentence.tokens;
  if (sentence.IsHeading() || tokens.size() < options.min_sentence_tokens) return std::nullopt;
  std::vector<Candidate> preferred;
  std::vector<Candidate> common;
  for (const NounPhrase& phrase : FindNounPhrases(tokens)) {
    // A bare number before a determiner is a pronoun ("one another"), not a quantity.
    if (phrase.kind == PhraseKind::kNumber && phrase.end < tokens.size() &&
        IsDeterminerTag(SplitTag(tokens[phrase.end].tag))) {
      continue;
    }
    Candidate candidate = CandidateFor(phrase, tokens);
    const size_t answer_length = candidate.answer_end - candidate.answer_begin;
    const size_t replaced = candidate.replace_end - candidate.replace_begin;
    if (answer_length == 0 || answer_length > options.max_answer_tokens) continue;
    if (tokens.size() - replaced < options.min_context_tokens_left) continue;
    (candidate.preferred ? preferred : common).push_back(std::move(candidate));
  }
  const std::vector<Candidate>& pool = preferred.empty() ? common : preferred;
  if (pool.empty()) return std::nullopt;
  const Candidate& chosen = pool[UniformIndex(rng, pool.size())];
  ClozeSentenceQuestion result;
  result.question = BuildQuestion(tokens, chosen);
  result.wh_word = chosen.wh_word;
  result.answer_begin = chosen.answer_begin;
  result.answer_end = chosen.answer_end;
  // A question word always replaces a noun, so this only guards against a future rule change.
  if (result.question == BrownSentenceText(sentence)) return std::nullopt;
  return result;
}

ClozeArticle MakeClozeArticle(const BrownDocument& document, uint64_t seed,
                              const ClozeOptions& options) {
  ClozeArticle article;
  article.title = document.id;
  std::mt19937_64 rng = SeededRng(seed, absl::StrCat("cloze/", document.id));
  const auto passages =
      GroupIntoPassages(document, options.context_min_words, options.context_max_words);
  for (size_t p = 0; p < passages.size(); ++p) {
    ClozeParagraph paragraph;
    for (size_t s = 0; s < passages[p].size(); ++s) {
      const BrownSentence& sentence = *passages[p][s];
      const DetokenizedText text = DetokenizeBrown(sentence.tokens);
      if (!paragraph.context.empty()) paragraph.context.push_back(' ');
      const size_t sentence_offset = paragraph.context.size();
      paragraph.context += text.text;
      std::optional<ClozeSentenceQuestion> question = ClozeQuestionFor(sentence, rng, options);
      if (!question) continue;
      const size_t begin = sentence_offset + text.spans[question->answer_begin].first;
      const size_t end = sentence_offset + text.spans[question->answer_end - 1].second;
      ClozeQa qa;
      qa.id = absl::StrFormat("%s-%03d-%d", document.id, p, s);
      qa.question = std::move(question->question);
      qa.wh_word = std::move(question->wh_word);
      qa.answer.text = paragraph.context.substr(begin, end - begin);
      qa.answer.answer_start = Utf8CharCount(absl::string_view(paragraph.context).substr(0, begin));
      paragraph.qas.push_back(std::move(qa));
    }
    if (!paragraph.qas.empty()) article.paragraphs.push_back(std::move(paragraph));
  }
  return article;
}

absl::StatusOr<std::string> ClozeToSquadJson(const std::vector<ClozeArticle>& articles) {
  using Json = nlohmann::ordered_json;
  Json data = Json::array();
  for (const ClozeArticle& article : articles) {
    Json paragraphs = Json::array();
    for (const ClozeParagraph& paragraph : article.paragraphs) {
      Json qas = Json::array();
      for (const ClozeQa& qa : paragraph.qas) {
        Json answer = Json::object();
        answer["text"] = qa.answer.text;
        answer["answer_start"] = qa.answer.answer_start;
        Json item = Json::object();
        item["id"] = qa.id;
        item["question"] = qa.question;
        item["answers"] = Json::array({answer});
        qas.push_back(std::move(item));
      }
      Json entry = Json::object();
      entry["context"] = paragraph.context;
      entry["qas"] = std::move(qas);
      paragraphs.push_back(std::move(entry));
    }
    Json entry = Json::object();
    entry["title"] = article.title;
    entry["paragraphs"] = std::move(paragraphs);
    data.push_back(std::move(entry));
  }
  Json root = Json::object();
  root["version"] = "1.1";
  root["data"] = std::move(data);
  try {
    return root.dump() + "\n";
  } catch (const Json::exception& e) {
    return absl::InternalError(absl::StrCat("cannot write the cloze QA JSON: ", e.what()));
  }
}

}  // namespace corpora
}  // namespace datasets
