#include "datasets/corpora/text_utils.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace datasets {
namespace corpora {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(TextUtilsTest, SanitizeUtf8KeepsValidTextAndReadsOtherBytesAsLatin1) {
  EXPECT_EQ(SanitizeUtf8("caf\xC3\xA9 \xE2\x82\xAC"), "caf\xC3\xA9 \xE2\x82\xAC");
  EXPECT_EQ(SanitizeUtf8("caf\xE9"), "caf\xC3\xA9");           // Latin-1 e-acute.
  EXPECT_EQ(SanitizeUtf8("a\xE2\x82"), "a\xC3\xA2 ");  // Truncated; U+0082 is a control.
  EXPECT_EQ(SanitizeUtf8("a\x01" "b\tc\nd\x7F"), "a b\tc\nd ");  // Controls but tab/newline.
  EXPECT_EQ(SanitizeUtf8("\xC0\xAF"), "\xC3\x80\xC2\xAF");      // Overlong '/': not UTF-8.
}

TEST(TextUtilsTest, CollapseWhitespaceFoldsRunsAndTrims) {
  EXPECT_EQ(CollapseWhitespace("  a \t b\n\n c\r\n"), "a b c");
  EXPECT_EQ(CollapseWhitespace("x\xC2\xA0\xC2\xA0y"), "x y");  // No-break spaces.
  EXPECT_EQ(CollapseWhitespace(" \n "), "");
}

TEST(TextUtilsTest, CountsCharactersAsPythonDoes) {
  EXPECT_EQ(Utf8CharCount(""), 0u);
  EXPECT_EQ(Utf8CharCount("abc"), 3u);
  EXPECT_EQ(Utf8CharCount("caf\xC3\xA9\xE2\x82\xAC"), 5u);
}

TEST(TextUtilsTest, TruncateAtWordCutsAtASpaceAndNeverInsideACharacter) {
  EXPECT_EQ(TruncateAtWord("hello world foo", 100), "hello world foo");
  EXPECT_EQ(TruncateAtWord("hello world foo", 13), "hello world");
  EXPECT_EQ(TruncateAtWord("hello world foo", 11), "hello world");
  EXPECT_EQ(TruncateAtWord("abcdefgh", 3), "abc");
  EXPECT_EQ(TruncateAtWord("\xC3\xA9\xC3\xA9\xC3\xA9", 2), "\xC3\xA9\xC3\xA9");
}

TEST(TextUtilsTest, CountWordsCountsSpaceSeparatedRuns) {
  EXPECT_EQ(CountWords(""), 0u);
  EXPECT_EQ(CountWords("  one two\tthree\n"), 3u);
}

TEST(TextUtilsTest, SplitSentencesFollowsTheDocumentedRule) {
  EXPECT_THAT(SplitSentences("Mr. Smith went to the U.S. Capitol. He met J. Doe there! Why? "
                             "Nobody knows.\"  \"Really,\" she said. 1790 was a year."),
              ElementsAre("Mr. Smith went to the U.S. Capitol.", "He met J. Doe there!", "Why?",
                          "Nobody knows.\"", "\"Really,\" she said.", "1790 was a year."));
  // No split before a lower-case word, or without a space.
  EXPECT_THAT(SplitSentences("It ended at 5 p.m. on Monday. The end...? Yes.x"),
              ElementsAre("It ended at 5 p.m. on Monday.", "The end...?", "Yes.x"));
  // Newlines always end a sentence; blank lines give nothing.
  EXPECT_THAT(SplitSentences("A title\n\n  Call me Ishmael.  \n"),
              ElementsAre("A title", "Call me Ishmael."));
  EXPECT_TRUE(SplitSentences("").empty());
}

TEST(TextUtilsTest, JsonErrorsNameTheSourceAndLine) {
  EXPECT_TRUE(ParseJsonText("[1, 2]", "x.json").ok());
  const auto result = ParseJsonText("[1,\n2,\n3 4]", "x.json");
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(result.status().message(), HasSubstr("x.json:3: not valid JSON"));
  EXPECT_EQ(std::string(result.status().message()).find('\n'), std::string::npos);
}

TEST(TextUtilsTest, ReadJsonFileReportsAMissingFile) {
  const auto result = ReadJsonFile("/nonexistent/dir/file.json");
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(result.status().message(), HasSubstr("/nonexistent/dir/file.json"));
}

}  // namespace
}  // namespace corpora
}  // namespace datasets
