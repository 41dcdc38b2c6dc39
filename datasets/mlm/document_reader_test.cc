#include "datasets/mlm/document_reader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "datasets/mlm/test_util.h"

namespace datasets::mlm {
namespace {

using ::datasets::mlm::testing::FakeTokenizer;
using ::datasets::mlm::testing::WriteTestFile;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Words a..f get ids 5..10.
const std::vector<std::string>& Words() {
  static const auto* const kWords =
      new std::vector<std::string>{"a", "b", "c", "d", "e", "f", "##g"};
  return *kWords;
}

// Reads every document of one pass.
std::vector<Document> ReadAll(DocumentReader& reader) {
  std::vector<Document> documents;
  Document document;
  while (true) {
    absl::StatusOr<bool> more = reader.Next(&document);
    EXPECT_TRUE(more.ok()) << more.status();
    if (!more.ok() || !*more) break;
    documents.push_back(document);
  }
  return documents;
}

TEST(DocumentReaderTest, SplitsOnBlankLinesAndFileEnds) {
  const FakeTokenizer tokenizer(Words());
  // Runs of blank and whitespace-only lines are one separator; a file's end ends its last
  // document even without a blank line, and leading blank lines are ignored.
  const std::string first = WriteTestFile("split_1.txt", "\n\na b\nc\n\n \t\n\nd e+g\n");
  const std::string second = WriteTestFile("split_2.txt", "f\n");
  auto reader = DocumentReader::Create({first, second}, &tokenizer);
  ASSERT_TRUE(reader.ok()) << reader.status();
  const std::vector<Document> documents = ReadAll(**reader);
  ASSERT_EQ(documents.size(), 3u);
  EXPECT_THAT(documents[0].sentences,
              ElementsAre(std::vector<int64_t>{5, 6}, std::vector<int64_t>{7}));
  EXPECT_THAT(documents[1].sentences, ElementsAre(std::vector<int64_t>{8, 9, 11}));
  EXPECT_THAT(documents[2].sentences, ElementsAre(std::vector<int64_t>{10}));
  EXPECT_EQ((*reader)->stats().documents, 3);
  EXPECT_EQ((*reader)->stats().sentences, 4);
  EXPECT_EQ((*reader)->stats().tokens, 7);
}

TEST(DocumentReaderTest, HandlesCrlfBomAndMissingFinalNewline) {
  const FakeTokenizer tokenizer(Words());
  // The BOM is split off so that "a" is not read as part of the hex escape.
  const std::string path =
      WriteTestFile("crlf.txt", std::string("\xEF\xBB\xBF") + "a b\r\nc\r\n\r\nd");
  auto reader = DocumentReader::Create({path}, &tokenizer);
  ASSERT_TRUE(reader.ok()) << reader.status();
  const std::vector<Document> documents = ReadAll(**reader);
  ASSERT_EQ(documents.size(), 2u);
  // With the BOM or "\r" left in, "a" and "c" would be [UNK] (1).
  EXPECT_THAT(documents[0].sentences,
              ElementsAre(std::vector<int64_t>{5, 6}, std::vector<int64_t>{7}));
  EXPECT_THAT(documents[1].sentences, ElementsAre(std::vector<int64_t>{8}));
}

TEST(DocumentReaderTest, RestartRereadsFromTheFirstFile) {
  const FakeTokenizer tokenizer(Words());
  const std::string first = WriteTestFile("restart_1.txt", "a\n\nb\n");
  const std::string second = WriteTestFile("restart_2.txt", "c\n");
  auto reader = DocumentReader::Create({first, second}, &tokenizer);
  ASSERT_TRUE(reader.ok()) << reader.status();
  Document document;
  ASSERT_TRUE((*reader)->Next(&document).value());  // Stop mid-file.
  (*reader)->Restart();
  EXPECT_EQ((*reader)->stats().documents, 0);
  const std::vector<Document> documents = ReadAll(**reader);
  ASSERT_EQ(documents.size(), 3u);
  EXPECT_THAT(documents[0].sentences, ElementsAre(std::vector<int64_t>{5}));
  EXPECT_THAT(documents[2].sentences, ElementsAre(std::vector<int64_t>{7}));
  // The end stays the end until the next Restart().
  EXPECT_FALSE((*reader)->Next(&document).value());
}

TEST(DocumentReaderTest, MissingFileErrorNamesThePath) {
  const FakeTokenizer tokenizer(Words());
  const std::string good = WriteTestFile("exists.txt", "a\n");
  const std::string missing = good + ".missing";
  auto reader = DocumentReader::Create({good, missing}, &tokenizer);
  ASSERT_FALSE(reader.ok());
  EXPECT_EQ(reader.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(reader.status().message(), HasSubstr("'" + missing + "'"));
}

TEST(DocumentReaderTest, RejectsDirectoriesAndEmptyPathLists) {
  const FakeTokenizer tokenizer(Words());
  const std::string file = WriteTestFile("in_dir.txt", "a\n");
  const std::string dir = file.substr(0, file.rfind('/'));
  auto reader = DocumentReader::Create({dir}, &tokenizer);
  ASSERT_FALSE(reader.ok());
  EXPECT_EQ(reader.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(reader.status().message(), HasSubstr("'" + dir + "' is a directory"));
  EXPECT_EQ(DocumentReader::Create({}, &tokenizer).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(DocumentReaderTest, FileRemovedAfterCreateFailsNextWithThePath) {
  const FakeTokenizer tokenizer(Words());
  const std::string first = WriteTestFile("vanish_1.txt", "a\n");
  const std::string second = WriteTestFile("vanish_2.txt", "b\n");
  auto reader = DocumentReader::Create({first, second}, &tokenizer);
  ASSERT_TRUE(reader.ok()) << reader.status();
  ASSERT_EQ(std::remove(second.c_str()), 0);
  Document document;
  ASSERT_TRUE((*reader)->Next(&document).value());
  absl::StatusOr<bool> more = (*reader)->Next(&document);
  ASSERT_FALSE(more.ok());
  EXPECT_EQ(more.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(more.status().message(), HasSubstr(second));
}

// Line 3 holds a lone continuation byte, line 5 an overlong encoding of '/'.
constexpr char kBadUtf8[] = "a\nb\nc \x80 d\n\n\xC0\xAF e\nf \xC3\xA9\n";

TEST(DocumentReaderTest, StrictModeReportsFileLineAndByteOfInvalidUtf8) {
  const FakeTokenizer tokenizer(Words());
  const std::string path = WriteTestFile("bad_strict.txt", kBadUtf8);
  DocumentReaderOptions options;
  options.skip_invalid_utf8 = false;
  auto reader = DocumentReader::Create({path}, &tokenizer, options);
  ASSERT_TRUE(reader.ok()) << reader.status();
  Document document;
  absl::StatusOr<bool> more = (*reader)->Next(&document);
  ASSERT_FALSE(more.ok());
  EXPECT_EQ(more.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(more.status().message(), path + ":3: invalid UTF-8 at byte 3 of the line (0x80)");
}

TEST(DocumentReaderTest, DefaultModeSkipsAndCountsInvalidUtf8Lines) {
  const FakeTokenizer tokenizer(Words());
  const std::string path = WriteTestFile("bad_skip.txt", kBadUtf8);
  auto reader = DocumentReader::Create({path}, &tokenizer);
  ASSERT_TRUE(reader.ok()) << reader.status();
  const std::vector<Document> documents = ReadAll(**reader);
  ASSERT_EQ(documents.size(), 2u);
  EXPECT_THAT(documents[0].sentences,
              ElementsAre(std::vector<int64_t>{5}, std::vector<int64_t>{6}));
  // "f é": valid UTF-8, "é" is not in the vocabulary.
  EXPECT_THAT(documents[1].sentences, ElementsAre(std::vector<int64_t>{10, 1}));
  EXPECT_EQ((*reader)->stats().invalid_utf8_lines, 2);
  EXPECT_EQ((*reader)->stats().first_invalid_utf8, path + ":3");
}

TEST(DocumentReaderTest, FindInvalidUtf8AcceptsWellFormedAndRejectsIllFormed) {
  const std::string good = "plain \xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80";
  EXPECT_EQ(FindInvalidUtf8(good.data(), good.size()), -1);
  const std::vector<std::pair<std::string, int64_t>> bad = {
      {"ab\xFF", 2},            // Never a lead byte.
      {"\xE2\x82", 0},          // Truncated.
      {"x\xED\xA0\x80", 1},     // UTF-16 surrogate U+D800.
      {"\xE0\x80\xAF", 0},      // Overlong.
      {"\xF4\x90\x80\x80", 0},  // Above U+10FFFF.
      {"\xC3(", 0},             // Bad continuation.
  };
  for (const auto& [text, offset] : bad) {
    EXPECT_EQ(FindInvalidUtf8(text.data(), text.size()), offset) << text;
  }
}

}  // namespace
}  // namespace datasets::mlm
