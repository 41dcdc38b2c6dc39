// Noun phrases found from Brown part-of-speech tags alone (no parser): the candidate answers
// of the cloze QA set. A phrase is a maximal run of determiners, quantifiers, numbers,
// adjectives, possessives and nouns that ends in a noun or number; a determiner after a
// noun starts a new phrase ("gave [the boy] [a book]").
//
//   for (const NounPhrase& phrase : FindNounPhrases(sentence.tokens)) { ... }
#ifndef DATASETS_CORPORA_NOUN_PHRASES_H_
#define DATASETS_CORPORA_NOUN_PHRASES_H_

#include <cstddef>
#include <vector>

#include "datasets/corpora/brown.h"

namespace datasets {
namespace corpora {

// What a phrase names, as far as the tags tell; it picks the question word.
enum class PhraseKind {
  kProperName,  // Head is a proper noun (np, nps) or a title word (-tl): "Fulton County Jury".
  kCount,       // A cardinal counting a plural head: "two offices" (number = "two").
  kNumber,      // A cardinal heading the phrase: "1961", "14".
  kCommon,      // Anything else: "the jury", "term-end presentments".
};

// Token ranges are [begin, end) indices into the sentence's tokens.
struct NounPhrase {
  size_t begin = 0;         // First token (leading determiners included).
  size_t end = 0;           // One past the head.
  size_t core_begin = 0;    // First token after leading determiners / possessive pronouns.
  size_t number_begin = 0;  // The cardinal run, for kCount and kNumber (else empty).
  size_t number_end = 0;
  PhraseKind kind = PhraseKind::kCommon;
};

// All noun phrases of a sentence, left to right, not overlapping. Foreign words (fw-),
// adverbial nouns (nr: "Friday", "home") and verb forms end a phrase.
std::vector<NounPhrase> FindNounPhrases(const std::vector<BrownToken>& tokens);

// Is this (base) tag a determiner-like word that may start a phrase: at, dt*, abn, abx, pp$?
bool IsDeterminerTag(const TagParts& tag);

// Is this tag a possible phrase head: nn, nns, np, nps, cd?
bool IsHeadTag(const TagParts& tag);

}  // namespace corpora
}  // namespace datasets

#endif  // DATASETS_CORPORA_NOUN_PHRASES_H_
