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

TEST(Utf8IndexTest, CountsInvalidBytesAsOneCharacterEach) {
  const std::string text = "a\xC3z\xE2\x80";  // Truncated sequences.
  const Utf8Index index(text);
  EXPECT_EQ(index.num_chars(), 5);
  size_t pos = 1;
  EXPECT_EQ(DecodeUtf8(text, &pos), 0xC3u);
  EXPECT_EQ(pos, 2u);
}

TEST(Utf8IndexTest, ValidatesUtf8) {
  EXPECT_TRUE(IsValidUtf8("Zürich — 😀"));
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_FALSE(IsValidUtf8("\xC0\xAF"));          // Overlong "/".
  EXPECT_FALSE(IsValidUtf8("\xED\xA0\x80"));      // Surrogate U+D800.
  EXPECT_FALSE(IsValidUtf8("\xF4\x90\x80\x80"));  // U+110000.
  EXPECT_FALSE(IsValidUtf8("ab\xE2\x80"));        // Truncated.
  EXPECT_FALSE(IsValidUtf8("\x80"));              // Lone continuation byte.
}

TEST(Utf8IndexTest, EncodesCodePoints) {
  std::string out;
  for (uint32_t c : {0x5Au, 0xFCu, 0x2014u, 0x1F600u}) AppendUtf8(c, &out);
  EXPECT_EQ(out, "Zü—😀");
}

}  // namespace
}  // namespace datasets
