#include "datasets/corpora/noun_phrases.h"

#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "gtest/gtest.h"

namespace datasets {
namespace corpora {
namespace {

// "The/at jury/nn ..." -> tokens.
std::vector<BrownToken> Parse(const std::string& tagged) {
  std::vector<BrownToken> tokens;
  for (absl::string_view token : absl::StrSplit(tagged, ' ', absl::SkipEmpty())) {
    const size_t slash = token.rfind('/');
    tokens.push_back({std::string(token.substr(0, slash)), std::string(token.substr(slash + 1))});
  }
  return tokens;
}

std::string Words(const std::vector<BrownToken>& tokens, size_t begin, size_t end) {
  std::string out;
  for (size_t i = begin; i < end; ++i) out += (i > begin ? " " : "") + tokens[i].word;
  return out;
}

TEST(NounPhrasesTest, FindsMaximalRunsEndingInANoun) {
  const auto tokens = Parse(
      "The/at jury/nn said/vbd it/pps believes/vbz ``/`` these/dts two/cd offices/nns should/md "
      "be/be merged/vbn ''/'' ./.");
  const auto phrases = FindNounPhrases(tokens);
  ASSERT_EQ(phrases.size(), 2u);
  EXPECT_EQ(Words(tokens, phrases[0].begin, phrases[0].end), "The jury");
  EXPECT_EQ(Words(tokens, phrases[0].core_begin, phrases[0].end), "jury");
  EXPECT_EQ(phrases[0].kind, PhraseKind::kCommon);
  EXPECT_EQ(Words(tokens, phrases[1].begin, phrases[1].end), "these two offices");
  EXPECT_EQ(phrases[1].kind, PhraseKind::kCount);
  EXPECT_EQ(Words(tokens, phrases[1].number_begin, phrases[1].number_end), "two");
}

TEST(NounPhrasesTest, TellsProperNamesAndNumbers) {
  const auto tokens = Parse(
      "Senator/nn-tl Ruth/np Hale/np said/vbd the/at Dalton/np-tl County/nn-tl bridge/nn-tl "
      "was/bedz built/vbn in/in 1921/cd ./.");
  const auto phrases = FindNounPhrases(tokens);
  ASSERT_EQ(phrases.size(), 3u);
  EXPECT_EQ(Words(tokens, phrases[0].begin, phrases[0].end), "Senator Ruth Hale");
  EXPECT_EQ(phrases[0].kind, PhraseKind::kProperName);
  EXPECT_EQ(Words(tokens, phrases[1].core_begin, phrases[1].end), "Dalton County bridge");
  EXPECT_EQ(phrases[1].kind, PhraseKind::kProperName);  // A title word heads it.
  EXPECT_EQ(Words(tokens, phrases[2].begin, phrases[2].end), "1921");
  EXPECT_EQ(phrases[2].kind, PhraseKind::kNumber);
  EXPECT_EQ(Words(tokens, phrases[2].number_begin, phrases[2].number_end), "1921");
}

TEST(NounPhrasesTest, ADeterminerAfterANounStartsANewPhrase) {
  const auto tokens = Parse("He/pps gave/vbd the/at boy/nn a/at red/jj book/nn ./.");
  const auto phrases = FindNounPhrases(tokens);
  ASSERT_EQ(phrases.size(), 2u);
  EXPECT_EQ(Words(tokens, phrases[0].begin, phrases[0].end), "the boy");
  EXPECT_EQ(Words(tokens, phrases[1].begin, phrases[1].end), "a red book");
  EXPECT_EQ(Words(tokens, phrases[1].core_begin, phrases[1].end), "red book");
}

TEST(NounPhrasesTest, KeepsPossessivesAndTrimsTrailingModifiers) {
  const auto tokens = Parse(
      "an/at inquiry/nn of/in Macon's/np$ recent/jj city/nn election/nn found/vbd the/at "
      "building/nn old/jj and/cc the/at new/jj ./.");
  const auto phrases = FindNounPhrases(tokens);
  ASSERT_EQ(phrases.size(), 3u);
  EXPECT_EQ(Words(tokens, phrases[0].begin, phrases[0].end), "an inquiry");
  EXPECT_EQ(Words(tokens, phrases[1].begin, phrases[1].end), "Macon's recent city election");
  EXPECT_EQ(phrases[1].kind, PhraseKind::kCommon);  // Headed by a common noun.
  EXPECT_EQ(Words(tokens, phrases[2].begin, phrases[2].end), "the building");
}

TEST(NounPhrasesTest, AdverbialNounsForeignWordsAndVerbsEndAPhrase) {
  const auto tokens = Parse(
      "said/vbd Monday/nr an/at ad/fw-nn hoc/fw-nn committee/nn running/vbg costs/nns ./.");
  const auto phrases = FindNounPhrases(tokens);
  ASSERT_EQ(phrases.size(), 2u);
  EXPECT_EQ(Words(tokens, phrases[0].begin, phrases[0].end), "committee");
  EXPECT_EQ(Words(tokens, phrases[1].begin, phrases[1].end), "costs");
}

TEST(NounPhrasesTest, ClassifiesTags) {
  EXPECT_TRUE(IsDeterminerTag(SplitTag("at")));
  EXPECT_TRUE(IsDeterminerTag(SplitTag("pp$")));
  EXPECT_FALSE(IsDeterminerTag(SplitTag("jj")));
  EXPECT_TRUE(IsHeadTag(SplitTag("nns-tl")));
  EXPECT_TRUE(IsHeadTag(SplitTag("cd")));
  EXPECT_FALSE(IsHeadTag(SplitTag("np$")));
}

}  // namespace
}  // namespace corpora
}  // namespace datasets
