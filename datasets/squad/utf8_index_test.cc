#include "datasets/squad/utf8_index.h"

#include <string>

#include "gtest/gtest.h"

namespace datasets {
namespace {

TEST(Utf8IndexTest, MapsCharactersToBytes) {
  const std::string text = "Zürich — 1896";  // ü is 2 bytes, — is 3.
  const Utf8Index index(text);
  EXPECT_EQ(index.num_chars(), 13);
  EXPECT_EQ(index.ByteOffset(0), 0u);
  EXPECT_EQ(index.ByteOffset(2), 3u);   // "r"
  EXPECT_EQ(index.ByteOffset(7), 8u);   // "—"
  EXPECT_EQ(index.ByteOffset(9), 12u);  // "1"
  EXPECT_EQ(index.ByteOffset(13), text.size());
  EXPECT_EQ(index.Substr(0, 6), "Zürich");
  EXPECT_EQ(index.Substr(7, 8), "—");
  EXPECT_EQ(index.Substr(9, 13), "1896");
}

TEST(Utf8IndexTest, ClampsOutOfRangeOffsets) {
  const Utf8Index index("abc");
  EXPECT_EQ(index.ByteOffset(-4), 0u);
  EXPECT_EQ(index.ByteOffset(10), 3u);
  EXPECT_EQ(index.Substr(2, 99), "c");
  EXPECT_EQ(index.Substr(3, 1), "");
}

TEST(Utf8IndexTest, CountsIllFormedSubsequencesLikeTheTokenizers) {
  // "\xC3" before "z" is one replaced byte; the truncated "\xE2\x80" is one maximal
  // subpart, i.e. one character (Python's errors="replace" gives the same 4 characters).
  const std::string text = "a\xC3z\xE2\x80";
  const Utf8Index index(text);
  EXPECT_EQ(index.num_chars(), 4);
  EXPECT_EQ(index.Substr(2, 3), "z");
  EXPECT_EQ(index.Substr(3, 4), "\xE2\x80");
}

}  // namespace
}  // namespace datasets
