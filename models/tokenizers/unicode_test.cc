#include "models/tokenizers/unicode.h"

#include <string>
#include <string_view>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tokenizers {
namespace {

using ::testing::ElementsAre;

TEST(UnicodeTest, DecodesAndEncodesUtf8) {
  // "Héllo 😀": é is two bytes, the emoji four.
  const std::string text = "H\xC3\xA9llo \xF0\x9F\x98\x80";
  EXPECT_EQ(DecodeUtf8(text), U"H\u00E9llo \U0001F600");
  EXPECT_EQ(EncodeUtf8(DecodeUtf8(text)), text);
  EXPECT_EQ(Utf8Length(text), 7);
  EXPECT_EQ(FindInvalidUtf8(text), std::nullopt);
}

// Expected values are Python's bytes.decode("utf-8", errors="replace").
TEST(UnicodeTest, ReplacesIllFormedUtf8LikePython) {
  EXPECT_EQ(DecodeUtf8("a\xE2\x82" "b\xFF" "c\xF0\x9F\x98"), U"a\uFFFDb\uFFFDc\uFFFD");
  EXPECT_EQ(DecodeUtf8("\xED\xA0\x80"), U"\uFFFD\uFFFD\uFFFD");       // A surrogate.
  EXPECT_EQ(DecodeUtf8("\xC0\xAF"), U"\uFFFD\uFFFD");                 // Overlong "/".
  EXPECT_EQ(DecodeUtf8("\xF4\x90\x80\x80"), U"\uFFFD\uFFFD\uFFFD\uFFFD");  // > U+10FFFF.
  EXPECT_EQ(FindInvalidUtf8("ab\xE2\x82"), 2u);
  EXPECT_EQ(FindInvalidUtf8("x\xC0\xAF"), 1u);          // Overlong.
  EXPECT_EQ(FindInvalidUtf8("xy\xED\xA0\x80"), 2u);     // Surrogate.
  EXPECT_EQ(FindInvalidUtf8("\xF4\x90\x80\x80"), 0u);  // > U+10FFFF.
  EXPECT_EQ(FindInvalidUtf8("a\x80"), 1u);               // Lone continuation byte.
  EXPECT_EQ(FindInvalidUtf8("\xEF\xBF\xBD"), std::nullopt);  // A real U+FFFD is valid.
  EXPECT_EQ(EncodeUtf8(U"\xD800"), "\xEF\xBF\xBD");
}

TEST(UnicodeTest, MapsCharactersToBytesAndBack) {
  const std::string text = "H\xC3\xA9llo";  // "Héllo"
  EXPECT_THAT(Utf8CharToByte(text), ElementsAre(0, 1, 3, 4, 5, 6));
  EXPECT_THAT(Utf8ByteToChar(text), ElementsAre(0, 1, 1, 2, 3, 4, 5));
  EXPECT_THAT(Utf8CharToByte(""), ElementsAre(0));
  // An ill-formed two-byte prefix is one character.
  EXPECT_THAT(Utf8CharToByte("a\xE2\x82" "b"), ElementsAre(0, 1, 3, 4));
}

TEST(UnicodeTest, ClassifiesLikeBert) {
  EXPECT_TRUE(IsPunctuation('$'));  // Category Sc, but punctuation to BERT.
  EXPECT_FALSE(IsUnicodePunctuation('$'));
  EXPECT_TRUE(IsPunctuation('`'));
  EXPECT_TRUE(IsPunctuation(U'\u00BF'));   // ¿ Po
  EXPECT_TRUE(IsPunctuation(U'\u2014'));   // — Pd
  EXPECT_TRUE(IsPunctuation(U'\u2026'));   // … Po
  EXPECT_TRUE(IsPunctuation(U'\u00AB'));   // « Pi
  EXPECT_TRUE(IsPunctuation(U'\u3002'));   // 。 Po
  EXPECT_FALSE(IsPunctuation('a'));
  EXPECT_FALSE(IsPunctuation(U'\u00A9'));  // © So

  EXPECT_TRUE(IsControl(0));
  EXPECT_TRUE(IsControl(0x7F));
  EXPECT_TRUE(IsControl(U'\u200B'));     // Zero-width space, Cf.
  EXPECT_TRUE(IsControl(U'\uE000'));     // Private use, Co.
  EXPECT_TRUE(IsControl(U'\u0378'));     // Unassigned, Cn.
  EXPECT_FALSE(IsControl('\t'));
  EXPECT_FALSE(IsControl('\n'));
  EXPECT_FALSE(IsControl('a'));

  EXPECT_TRUE(IsWhitespace(' '));
  EXPECT_TRUE(IsWhitespace('\r'));
  EXPECT_TRUE(IsWhitespace(U'\u00A0'));
  EXPECT_TRUE(IsWhitespace(U'\u3000'));
  EXPECT_FALSE(IsWhitespace(U'\u2028'));  // Zl, not Zs.
  EXPECT_FALSE(IsWhitespace('\x0B'));     // A control to BERT.

  EXPECT_TRUE(IsNonspacingMark(U'\u0301'));
  EXPECT_FALSE(IsNonspacingMark(U'\u0903'));  // Mc.

  EXPECT_TRUE(IsChineseChar(U'\u4E2D'));
  EXPECT_TRUE(IsChineseChar(U'\U00020000'));
  EXPECT_TRUE(IsChineseChar(U'\uF900'));
  EXPECT_FALSE(IsChineseChar(U'\u3042'));  // Hiragana.
  EXPECT_FALSE(IsChineseChar(U'\uAC00'));  // Hangul.
}

// Expected values are Python's str.lower() and unicodedata.normalize("NFD", ...).
TEST(UnicodeTest, LowerCasesLikePython) {
  std::u32string out;
  for (char32_t c : std::u32string_view(U"AZaz1\u00C9\u03A3\u1E9E\u01C5\u2126")) {
    AppendLowercase(c, &out);
  }
  EXPECT_EQ(out, U"azaz1\u00E9\u03C3\u00DF\u01C6\u03C9");
  out.clear();
  AppendLowercase(U'\u0130', &out);  // İ lower-cases to two characters.
  EXPECT_EQ(out, U"i\u0307");
}

TEST(UnicodeTest, DecomposesLikePython) {
  EXPECT_EQ(Nfd(U"\u00E9"), U"e\u0301");
  EXPECT_EQ(Nfd(U"\u1E69"), U"s\u0323\u0307");
  EXPECT_EQ(Nfd(U"\u1F82"), U"\u03B1\u0313\u0300\u0345");
  EXPECT_EQ(Nfd(U"\u0344"), U"\u0308\u0301");
  EXPECT_EQ(Nfd(U"\uF900"), U"\u8C48");
  EXPECT_EQ(Nfd(U"\uD55C\uAC00"), U"\u1112\u1161\u11AB\u1100\u1161");  // Hangul.
  EXPECT_EQ(Nfd(U"a\u0301\u0323"), U"a\u0323\u0301");                 // Reordered.
  EXPECT_EQ(Nfd(U"abc"), U"abc");
  EXPECT_EQ(CanonicalCombiningClass(U'\u0301'), 230);
  EXPECT_EQ(CanonicalCombiningClass(U'\u0323'), 220);
  EXPECT_EQ(CanonicalCombiningClass(U'\U0001D165'), 216);
  EXPECT_EQ(CanonicalCombiningClass('a'), 0);
}

TEST(UnicodeTest, CanonicalOrderCarriesCompanions) {
  std::u32string chars = U"a\u0301\u0323b";
  std::vector<int64_t> origin = {0, 1, 2, 3};
  CanonicalOrder(&chars, &origin);
  EXPECT_EQ(chars, U"a\u0323\u0301b");
  EXPECT_THAT(origin, ElementsAre(0, 2, 1, 3));
}

TEST(UnicodeTest, NamesTheTableVersion) { EXPECT_STREQ(UnicodeVersion(), "14.0.0"); }

}  // namespace
}  // namespace tokenizers
