#include "datasets/corpora/noun_phrases.h"

#include <set>
#include <string>

namespace datasets {
namespace corpora {
namespace {

bool IsIn(const std::string& base, const std::set<std::string>& tags) {
  return tags.count(base) > 0;
}

// Modifiers that may sit inside a phrase before its head.
bool IsModifierTag(const TagParts& tag) {
  static const auto* const kModifiers = new std::set<std::string>{
      "ap",  "od",  "jj",  "jjr", "jjs", "jjt",                 // quantifiers, adjectives
      "nn$", "nns$", "np$", "nps$"};                            // possessive nouns
  return IsIn(tag.base, *kModifiers);
}

bool IsMember(const TagParts& tag) {
  if (tag.foreign) return false;
  return IsDeterminerTag(tag) || IsModifierTag(tag) || IsHeadTag(tag);
}

bool IsCardinal(const TagParts& tag) { return tag.base == "cd"; }

bool IsProperHead(const TagParts& tag) {
  if (tag.base == "np" || tag.base == "nps") return true;
  return tag.title && (tag.base == "nn" || tag.base == "nns");
}

bool IsPluralHead(const TagParts& tag) { return tag.base == "nns" || tag.base == "nps"; }

}  // namespace

bool IsDeterminerTag(const TagParts& tag) {
  static const auto* const kDeterminers =
      new std::set<std::string>{"at", "dt", "dti", "dts", "dtx", "abn", "abx", "pp$"};
  return IsIn(tag.base, *kDeterminers);
}

bool IsHeadTag(const TagParts& tag) {
  static const auto* const kHeads = new std::set<std::string>{"nn", "nns", "np", "nps", "cd"};
  return IsIn(tag.base, *kHeads);
}

std::vector<NounPhrase> FindNounPhrases(const std::vector<BrownToken>& tokens) {
  std::vector<TagParts> tags;
  tags.reserve(tokens.size());
  for (const BrownToken& token : tokens) tags.push_back(SplitTag(token.tag));

  std::vector<NounPhrase> phrases;
  size_t i = 0;
  while (i < tokens.size()) {
    if (!IsMember(tags[i])) {
      ++i;
      continue;
    }
    size_t j = i + 1;
    while (j < tokens.size() && IsMember(tags[j]) &&
           !(IsDeterminerTag(tags[j]) && IsHeadTag(tags[j - 1]))) {
      ++j;
    }
    size_t end = j;
    while (end > i && !IsHeadTag(tags[end - 1])) --end;
    if (end > i) {
      NounPhrase phrase;
      phrase.begin = i;
      phrase.end = end;
      phrase.core_begin = i;
      while (phrase.core_begin + 1 < end && IsDeterminerTag(tags[phrase.core_begin])) {
        ++phrase.core_begin;
      }
      const TagParts& head = tags[end - 1];
      if (IsCardinal(head)) {
        phrase.kind = PhraseKind::kNumber;
        phrase.number_end = end;
        phrase.number_begin = end;
        while (phrase.number_begin > phrase.core_begin &&
               IsCardinal(tags[phrase.number_begin - 1])) {
          --phrase.number_begin;
        }
      } else if (IsProperHead(head)) {
        phrase.kind = PhraseKind::kProperName;
      } else if (IsPluralHead(head)) {
        // A cardinal run followed only by modifiers and nouns up to the plural head.
        for (size_t k = phrase.core_begin; k + 1 < end; ++k) {
          if (!IsCardinal(tags[k])) continue;
          size_t number_end = k;
          while (number_end + 1 < end && IsCardinal(tags[number_end])) ++number_end;
          phrase.kind = PhraseKind::kCount;
          phrase.number_begin = k;
          phrase.number_end = number_end;
          break;
        }
      }
      phrases.push_back(phrase);
    }
    i = j;
  }
  return phrases;
}

}  // namespace corpora
}  // namespace datasets
