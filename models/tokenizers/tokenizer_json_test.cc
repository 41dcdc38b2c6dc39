#include "models/tokenizers/tokenizer_json.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tokenizers {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using Json = nlohmann::json;

constexpr char kVocabPath[] = "models/tokenizers/testdata/vocab.txt";

std::unique_ptr<BertTokenizer> FromVocab(BertTokenizerOptions options = {}) {
  auto tokenizer = BertTokenizer::FromFile(kVocabPath, std::move(options));
  EXPECT_TRUE(tokenizer.ok()) << tokenizer.status();
  return tokenizer.ok() ? std::move(*tokenizer) : nullptr;
}

Json DocumentOf(const BertTokenizer& tokenizer) {
  absl::StatusOr<std::string> text = TokenizerJson(tokenizer);
  EXPECT_TRUE(text.ok()) << text.status();
  return Json::parse(text.ok() ? *text : "{}");
}

std::string TempDir(const std::string& name) {
  const char* root = std::getenv("TEST_TMPDIR");
  const std::string dir = std::string(root != nullptr ? root : "/tmp") + "/" + name;
  std::filesystem::create_directories(dir);
  return dir;
}

Json ReadJson(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return Json::parse(text.str());
}

const std::vector<std::string> kTexts = {
    "UNwant\u00E9d,running", "Allen allen  NAIVE na\u00EFve", "hello [MASK] world!",
    "\u4E2D\u56FD\u00BF", "lowest wa unaffable", "", "a[SEP]b"};

void ExpectSameEncodings(const BertTokenizer& a, const BertTokenizer& b) {
  for (const std::string& text : kTexts) {
    EXPECT_EQ(a.Encode(text).ids, b.Encode(text).ids) << text;
    EXPECT_EQ(a.Encode(text).offsets, b.Encode(text).offsets) << text;
  }
}

TEST(TokenizerJsonTest, WritesHuggingFaceBertLayout) {
  auto tokenizer = FromVocab();
  const Json json = DocumentOf(*tokenizer);
  EXPECT_EQ(json["model"]["type"], "WordPiece");
  EXPECT_EQ(json["model"]["unk_token"], "[UNK]");
  EXPECT_EQ(json["model"]["continuing_subword_prefix"], "##");
  EXPECT_EQ(json["model"]["max_input_chars_per_word"], 100);
  EXPECT_EQ(json["model"]["vocab"].size(), 44u);
  EXPECT_EQ(json["model"]["vocab"]["##want"], 6);
  EXPECT_EQ(json["normalizer"],
            Json::parse(R"({"type": "BertNormalizer", "clean_text": true,
                            "handle_chinese_chars": true, "strip_accents": null,
                            "lowercase": true})"));
  EXPECT_EQ(json["pre_tokenizer"]["type"], "BertPreTokenizer");
  EXPECT_EQ(json["post_processor"]["type"], "TemplateProcessing");
  EXPECT_EQ(json["post_processor"]["pair"][3],
            Json::parse(R"({"Sequence": {"id": "B", "type_id": 1}})"));
  EXPECT_EQ(json["post_processor"]["special_tokens"]["[SEP]"]["ids"], Json::array({3}));
  ASSERT_EQ(json["added_tokens"].size(), 5u);
  EXPECT_EQ(json["added_tokens"][0]["content"], "[PAD]");
  EXPECT_EQ(json["added_tokens"][4]["id"], 4);
  EXPECT_EQ(json["added_tokens"][4]["special"], true);
}

TEST(TokenizerJsonTest, RoundTripsOptionsAndEncodings) {
  BertTokenizerOptions cased;
  cased.do_lower_case = false;
  cased.strip_accents = true;
  cased.max_input_chars_per_word = 7;
  auto original = FromVocab(cased);
  absl::StatusOr<std::string> text = TokenizerJson(*original);
  ASSERT_TRUE(text.ok()) << text.status();
  auto parsed = ParseTokenizerJson(*text, "t/tokenizer.json");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_FALSE((*parsed)->options().do_lower_case);
  EXPECT_EQ((*parsed)->options().strip_accents, std::optional<bool>(true));
  EXPECT_EQ((*parsed)->options().max_input_chars_per_word, 7);
  EXPECT_EQ((*parsed)->vocab().tokens(), original->vocab().tokens());
  ExpectSameEncodings(*original, **parsed);
  // Cased: "Allen" stays whole, the accent goes.
  EXPECT_THAT((*parsed)->Encode("Allen na\u00EFve").tokens, ElementsAre("Allen", "naive"));
}

TEST(TokenizerJsonTest, SavesTheFilesTransformersWrites) {
  auto tokenizer = FromVocab();
  const std::string dir = TempDir("saved");
  ASSERT_TRUE(SaveTokenizerFiles(*tokenizer, dir, 128).ok());
  const Json config = ReadJson(dir + "/tokenizer_config.json");
  EXPECT_EQ(config["tokenizer_class"], "BertTokenizer");
  EXPECT_EQ(config["do_lower_case"], true);
  EXPECT_EQ(config["model_max_length"], 128);
  EXPECT_EQ(config["added_tokens_decoder"]["4"]["content"], "[MASK]");
  EXPECT_EQ(ReadJson(dir + "/special_tokens_map.json"),
            Json::parse(R"({"cls_token": "[CLS]", "mask_token": "[MASK]", "pad_token": "[PAD]",
                            "sep_token": "[SEP]", "unk_token": "[UNK]"})"));
  auto from_vocab_txt = BertTokenizer::FromFile(dir + "/vocab.txt");
  ASSERT_TRUE(from_vocab_txt.ok()) << from_vocab_txt.status();
  EXPECT_EQ((*from_vocab_txt)->vocab().tokens(), tokenizer->vocab().tokens());
  auto loaded = LoadTokenizerJson(dir + "/tokenizer.json");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ExpectSameEncodings(*tokenizer, **loaded);
}

TEST(TokenizerJsonTest, TokenizerConfigNamesTheSpecialTokens) {
  Json json = DocumentOf(*FromVocab());
  // A checkpoint whose mask token is "the" by tokenizer_config.json: it is split out whole.
  json["added_tokens"][4] = {{"id", 41}, {"content", "the"}};
  auto parsed = ParseTokenizerJson(json.dump(), "t/tokenizer.json",
                                   R"({"mask_token": {"content": "the"}})");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ((*parsed)->mask_id(), 41);
  EXPECT_EQ((*parsed)->options().mask_token, "the");
}

TEST(TokenizerJsonTest, ReadsBertProcessing) {
  Json json = DocumentOf(*FromVocab());
  json["post_processor"] = Json::parse(
      R"({"type": "BertProcessing", "sep": ["[CLS]", 2], "cls": ["[SEP]", 3]})");
  auto parsed = ParseTokenizerJson(json.dump(), "t/tokenizer.json");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ((*parsed)->cls_id(), 3);
  EXPECT_EQ((*parsed)->sep_id(), 2);
}

// Each unsupported kind fails naming the file, the field and the value.
TEST(TokenizerJsonTest, RejectsWhatBertTokenizerCannotDo) {
  const Json good = DocumentOf(*FromVocab());
  struct Case {
    const char* pointer;
    Json value;
    const char* message;
  };
  const std::vector<Case> cases = {
      {"/model/type", "BPE",
       "t/tokenizer.json: model.type \"BPE\" is not supported (only WordPiece"},
      {"/model/type", "Unigram", "model.type \"Unigram\" is not supported"},
      {"/model/continuing_subword_prefix", "\u0120",
       "model.continuing_subword_prefix \"\u0120\" is not supported"},
      {"/normalizer", Json::parse(R"({"type": "Sequence", "normalizers": []})"),
       "normalizer.type \"Sequence\" is not supported"},
      {"/normalizer", nullptr, "normalizer null is not supported"},
      {"/normalizer/lowercase", "yes", "normalizer.lowercase must be true or false, got \"yes\""},
      {"/pre_tokenizer", Json::parse(R"({"type": "ByteLevel"})"),
       "pre_tokenizer.type \"ByteLevel\" is not supported"},
      {"/post_processor", Json::parse(R"({"type": "RobertaProcessing"})"),
       "post_processor.type \"RobertaProcessing\" is not supported"},
      {"/added_tokens/5", Json::parse(R"({"id": 44, "content": "<extra>"})"),
       "added_tokens[5].content \"<extra>\" is not supported"},
      {"/added_tokens/0/id", 7, "added_tokens[0].id 7 differs from \"[PAD]\"'s id 0"},
      {"/model/vocab/want", 0, "t/tokenizer.json model.vocab: tokens"},
  };
  for (const Case& c : cases) {
    Json json = good;
    json[Json::json_pointer(c.pointer)] = c.value;
    auto parsed = ParseTokenizerJson(json.dump(), "t/tokenizer.json");
    ASSERT_FALSE(parsed.ok()) << c.pointer;
    EXPECT_THAT(std::string(parsed.status().message()), HasSubstr(c.message)) << c.pointer;
  }
  auto broken = ParseTokenizerJson("{\"model\": ", "t/tokenizer.json");
  EXPECT_THAT(std::string(broken.status().message()), HasSubstr("t/tokenizer.json: not a JSON"));
}

TEST(TokenizerJsonTest, NeverSplitHasNoTokenizerJsonForm) {
  BertTokenizerOptions options;
  options.never_split = {"allen"};
  auto written = TokenizerJson(*FromVocab(options));
  ASSERT_FALSE(written.ok());
  EXPECT_THAT(std::string(written.status().message()), HasSubstr("never_split"));
}

}  // namespace
}  // namespace tokenizers
