// Expected values follow Hugging Face's BertTokenizer (tests/models/bert/
// test_tokenization_bert.py and its docstrings) on testdata/vocab.txt, whose first 15
// entries are HF's test vocabulary (ids differ: ours starts with [PAD]).
#include "models/tokenizers/wordpiece_tokenizer.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "models/tokenizers/unicode.h"

namespace tokenizers {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using Offsets = std::vector<std::pair<int64_t, int64_t>>;

constexpr char kVocabPath[] = "models/tokenizers/testdata/vocab.txt";

std::unique_ptr<BertTokenizer> MakeTokenizer(BertTokenizerOptions options = {}) {
  absl::StatusOr<std::unique_ptr<BertTokenizer>> tokenizer =
      BertTokenizer::FromFile(kVocabPath, std::move(options));
  EXPECT_TRUE(tokenizer.ok()) << tokenizer.status();
  return tokenizer.ok() ? std::move(*tokenizer) : nullptr;
}

std::vector<std::string> BasicTokens(const BertTokenizer& tokenizer, absl::string_view text) {
  return tokenizer.BasicTokenize(text).tokens;
}

TEST(BertTokenizerTest, MatchesHuggingFaceFullTokenizerExample) {
  auto tokenizer = MakeTokenizer();
  const Encoding encoding = tokenizer->Encode("UNwant\u00E9d,running");
  EXPECT_THAT(encoding.tokens, ElementsAre("un", "##want", "##ed", ",", "runn", "##ing"));
  EXPECT_THAT(encoding.ids, ElementsAre(9, 6, 7, 12, 10, 11));
  EXPECT_EQ(encoding.offsets, (Offsets{{0, 2}, {2, 6}, {6, 8}, {8, 9}, {9, 13}, {13, 16}}));
}

TEST(BertTokenizerTest, SplitsUnaffableLikeTheDocstring) {
  auto tokenizer = MakeTokenizer();
  const Encoding encoding = tokenizer->Encode("unaffable");
  EXPECT_THAT(encoding.tokens, ElementsAre("un", "##aff", "##able"));
  EXPECT_THAT(encoding.ids, ElementsAre(9, 15, 16));
  EXPECT_EQ(encoding.offsets, (Offsets{{0, 2}, {2, 5}, {5, 9}}));
}

TEST(BertTokenizerTest, ReplacesWordsWithoutSegmentationByUnk) {
  auto tokenizer = MakeTokenizer();
  EXPECT_TRUE(tokenizer->Encode("").tokens.empty());
  EXPECT_THAT(tokenizer->Encode("unwanted running").tokens,
              ElementsAre("un", "##want", "##ed", "runn", "##ing"));
  const Encoding encoding = tokenizer->Encode("unwantedX running");
  EXPECT_THAT(encoding.tokens, ElementsAre("[UNK]", "runn", "##ing"));
  EXPECT_THAT(encoding.ids, ElementsAre(1, 10, 11));
  EXPECT_EQ(encoding.offsets, (Offsets{{0, 9}, {10, 14}, {14, 17}}));
  // A prefix matches ("hello") but the rest does not: the whole word is one [UNK].
  EXPECT_THAT(tokenizer->Encode("hellox").tokens, ElementsAre("[UNK]"));
}

TEST(BertTokenizerTest, LimitsWordLengthTo100Characters) {
  auto tokenizer = MakeTokenizer();
  std::string word_100;
  for (int i = 0; i < 25; ++i) word_100 += "want";
  const Encoding encoding = tokenizer->Encode(word_100);
  ASSERT_EQ(encoding.tokens.size(), 25u);
  EXPECT_EQ(encoding.tokens[0], "want");
  EXPECT_EQ(encoding.tokens[24], "##want");
  EXPECT_EQ(encoding.offsets[24], std::make_pair(int64_t{96}, int64_t{100}));

  const Encoding too_long = tokenizer->Encode(word_100 + "s hello");  // "##s" exists.
  EXPECT_THAT(too_long.tokens, ElementsAre("[UNK]", "hello"));
  EXPECT_EQ(too_long.offsets, (Offsets{{0, 101}, {102, 107}}));

  BertTokenizerOptions options;
  options.max_input_chars_per_word = 4;
  EXPECT_THAT(MakeTokenizer(options)->Encode("want wanted").tokens,
              ElementsAre("want", "[UNK]"));
}

TEST(BertTokenizerTest, LowerCasesAndStripsAccentsByDefault) {
  auto tokenizer = MakeTokenizer();
  EXPECT_THAT(BasicTokens(*tokenizer, " \tHeLLo!how  \n Are yoU?  "),
              ElementsAre("hello", "!", "how", "are", "you", "?"));
  EXPECT_EQ(tokenizer->BasicTokenize(" \tHeLLo!how  \n Are yoU?  ").offsets,
            (Offsets{{2, 7}, {7, 8}, {8, 11}, {15, 18}, {19, 22}, {22, 23}}));

  Encoding encoding = tokenizer->Encode("H\u00E9llo");
  EXPECT_THAT(encoding.tokens, ElementsAre("hello"));
  EXPECT_THAT(encoding.ids, ElementsAre(17));
  EXPECT_EQ(encoding.offsets, (Offsets{{0, 5}}));
  // Decomposed input: the combining accent is dropped but stays inside the offsets.
  encoding = tokenizer->Encode("He\u0301llo");
  EXPECT_THAT(encoding.tokens, ElementsAre("hello"));
  EXPECT_EQ(encoding.offsets, (Offsets{{0, 6}}));
  EXPECT_THAT(BasicTokens(*tokenizer, " \tH\u00E4LLo!how  \n Are yoU?  "),
              ElementsAre("hallo", "!", "how", "are", "you", "?"));
  // İ lower-cases to "i" + U+0307, whose mark is then stripped.
  EXPECT_THAT(BasicTokens(*tokenizer, "\u0130stanbul"), ElementsAre("istanbul"));
}

TEST(BertTokenizerTest, HonoursStripAccentsAndCaseOptions) {
  BertTokenizerOptions lower_keep_accents;
  lower_keep_accents.strip_accents = false;
  auto tokenizer = MakeTokenizer(lower_keep_accents);
  EXPECT_THAT(BasicTokens(*tokenizer, " \tH\u00E4LLo!how  \n Are yoU?  "),
              ElementsAre("h\u00E4llo", "!", "how", "are", "you", "?"));
  EXPECT_THAT(BasicTokens(*tokenizer, "H\u00E9llo"), ElementsAre("h\u00E9llo"));

  BertTokenizerOptions cased;
  cased.do_lower_case = false;
  tokenizer = MakeTokenizer(cased);
  EXPECT_THAT(BasicTokens(*tokenizer, " \tHeLLo!how  \n Are yoU?  "),
              ElementsAre("HeLLo", "!", "how", "Are", "yoU", "?"));
  EXPECT_THAT(BasicTokens(*tokenizer, "H\u00E9llo"), ElementsAre("H\u00E9llo"));
  EXPECT_EQ(tokenizer->BasicTokenize("H\u00E9llo").offsets, (Offsets{{0, 5}}));

  BertTokenizerOptions cased_strip;
  cased_strip.do_lower_case = false;
  cased_strip.strip_accents = true;
  tokenizer = MakeTokenizer(cased_strip);
  EXPECT_THAT(BasicTokens(*tokenizer, " \tH\u00E4LLo!how  \n Are yoU?  "),
              ElementsAre("HaLLo", "!", "how", "Are", "yoU", "?"));
}

TEST(BertTokenizerTest, SplitsChineseCharacters) {
  auto tokenizer = MakeTokenizer();
  const Encoding basic = tokenizer->BasicTokenize("ah\u535A\u63A8zz");
  EXPECT_THAT(basic.tokens, ElementsAre("ah", "\u535A", "\u63A8", "zz"));
  EXPECT_EQ(basic.offsets, (Offsets{{0, 2}, {2, 3}, {3, 4}, {4, 6}}));
  const Encoding encoding = tokenizer->Encode("\u4E2D\u56FD");
  EXPECT_THAT(encoding.tokens, ElementsAre("\u4E2D", "\u56FD"));
  EXPECT_THAT(encoding.ids, ElementsAre(35, 36));
  EXPECT_EQ(encoding.offsets, (Offsets{{0, 1}, {1, 2}}));
  // Kana are not "Chinese characters" to BERT, and accent stripping takes the voicing
  // mark (U+3099, Mn) off "が" after NFD, as bert-base-uncased does.
  EXPECT_THAT(BasicTokens(*tokenizer, "\u3072\u3089\u304C\u306A"),
              ElementsAre("\u3072\u3089\u304B\u306A"));

  BertTokenizerOptions options;
  options.tokenize_chinese_chars = false;
  EXPECT_THAT(BasicTokens(*MakeTokenizer(options), "ah\u535A\u63A8zz"),
              ElementsAre("ah\u535A\u63A8zz"));
}

TEST(BertTokenizerTest, SplitsOnAsciiAndUnicodePunctuation) {
  auto tokenizer = MakeTokenizer();
  const Encoding encoding = tokenizer->Encode("\u00BFhello\u2014world\u2026");
  EXPECT_THAT(encoding.tokens,
              ElementsAre("\u00BF", "hello", "\u2014", "world", "\u2026"));
  EXPECT_THAT(encoding.ids, ElementsAre(37, 17, 38, 18, 39));
  EXPECT_EQ(encoding.offsets, (Offsets{{0, 1}, {1, 6}, {6, 7}, {7, 12}, {12, 13}}));
  // "$" and "^" are symbols (Sc, Sk) in Unicode, punctuation to BERT; "©" (So) is not.
  EXPECT_THAT(BasicTokens(*tokenizer, "a$b^c\u00A9d"),
              ElementsAre("a", "$", "b", "^", "c\u00A9d"));
  EXPECT_THAT(BasicTokens(*tokenizer, "don't...!"),
              ElementsAre("don", "'", "t", ".", ".", ".", "!"));
}

TEST(BertTokenizerTest, RemovesControlCharactersAndSplitsOnWhitespace) {
  auto tokenizer = MakeTokenizer();
  // NUL, U+0001 and zero-width space (Cf) vanish without splitting the word.
  Encoding encoding = tokenizer->Encode(std::string("hel\0lo\x01 wor\u200Bld", 16));
  EXPECT_THAT(encoding.tokens, ElementsAre("hello", "world"));
  EXPECT_EQ(encoding.offsets, (Offsets{{0, 6}, {8, 14}}));
  // HF's test_clean_text: a soft hyphen alone gives no token at all.
  EXPECT_TRUE(tokenizer->Encode("\u00AD").tokens.empty());
  EXPECT_THAT(tokenizer->Encode("Test").tokens, ElementsAre("[UNK]"));
  // Ill-formed UTF-8 decodes to U+FFFD, which _clean_text drops.
  encoding = tokenizer->Encode("hel\xFFlo");
  EXPECT_THAT(encoding.tokens, ElementsAre("hello"));
  EXPECT_EQ(encoding.offsets, (Offsets{{0, 6}}));
  // Non-breaking and ideographic spaces (Zs), and U+2028 (str.split() breaks there too).
  EXPECT_THAT(tokenizer->Encode("hello\u00A0world\u3000hello\u2028world\r\nhello").tokens,
              ElementsAre("hello", "world", "hello", "world", "hello"));
}

TEST(BertTokenizerTest, KeepsSpecialTokensWhole) {
  auto tokenizer = MakeTokenizer();
  Encoding encoding = tokenizer->Encode("[CLS] hello [SEP]");
  EXPECT_THAT(encoding.tokens, ElementsAre("[CLS]", "hello", "[SEP]"));
  EXPECT_THAT(encoding.ids, ElementsAre(2, 17, 3));
  EXPECT_EQ(encoding.offsets, (Offsets{{0, 5}, {6, 11}, {12, 17}}));
  // Split out even inside a word, and never lower-cased.
  encoding = tokenizer->Encode("hello[MASK]world");
  EXPECT_THAT(encoding.tokens, ElementsAre("hello", "[MASK]", "world"));
  EXPECT_EQ(encoding.offsets, (Offsets{{0, 5}, {5, 11}, {11, 16}}));
  // Matching is case-sensitive, as in HF.
  EXPECT_THAT(BasicTokens(*tokenizer, "[mask]"), ElementsAre("[", "mask", "]"));

  // HF's test_basic_tokenizer_respects_never_split_tokens.
  BertTokenizerOptions options;
  options.do_lower_case = false;
  options.never_split = {"HeLLo!"};
  tokenizer = MakeTokenizer(options);
  EXPECT_THAT(BasicTokens(*tokenizer, " \tHeLLo!how  \n Are yoU? [UNK]"),
              ElementsAre("HeLLo", "!", "how", "Are", "yoU", "?", "[UNK]"));
  // A never_split word passes whole; its id is [UNK]'s when the vocabulary lacks it.
  encoding = tokenizer->Encode("HeLLo! world");
  EXPECT_THAT(encoding.tokens, ElementsAre("HeLLo!", "world"));
  EXPECT_THAT(encoding.ids, ElementsAre(1, 18));
}

// HF's test_offsets_with_special_characters (fast tokenizer offsets).
TEST(BertTokenizerTest, OffsetsMatchHuggingFaceFast) {
  const std::string text = "A, na\u00EFve [MASK] AllenNLP sentence.";
  Encoding encoding = MakeTokenizer()->Encode(text);
  EXPECT_THAT(encoding.tokens, ElementsAre("a", ",", "naive", "[MASK]", "allen", "##nl", "##p",
                                           "sentence", "."));
  EXPECT_EQ(encoding.offsets, (Offsets{{0, 1}, {1, 2}, {3, 8}, {9, 15}, {16, 21}, {21, 23},
                                       {23, 24}, {25, 33}, {33, 34}}));
  BertTokenizerOptions cased;
  cased.do_lower_case = false;
  encoding = MakeTokenizer(cased)->Encode(text);
  EXPECT_THAT(encoding.tokens, ElementsAre("A", ",", "na", "##\u00EF", "##ve", "[MASK]", "Allen",
                                           "##NL", "##P", "sentence", "."));
  EXPECT_EQ(encoding.offsets,
            (Offsets{{0, 1}, {1, 2}, {3, 5}, {5, 6}, {6, 8}, {9, 15}, {16, 21}, {21, 23},
                     {23, 24}, {25, 33}, {33, 34}}));
}

// Lower-cases and strips accents the way the tokenizer does, for comparing surfaces.
std::string Normalize(absl::string_view text) {
  std::u32string lower;
  for (char32_t c : DecodeUtf8(text)) AppendLowercase(c, &lower);
  std::u32string kept;
  for (char32_t c : Nfd(lower)) {
    if (!IsNonspacingMark(c)) kept.push_back(c);
  }
  return EncodeUtf8(kept);
}

TEST(BertTokenizerTest, OffsetsSliceTheOriginalText) {
  const std::string text =
      "  \u00C9 [CLS]UNwant\u00E9d,Running\u2014the H\u00C9LLO-world\u2026 \u4E2D\u56FD's ";
  const Encoding encoding = MakeTokenizer()->Encode(text);
  ASSERT_EQ(encoding.tokens.size(), 18u);
  EXPECT_EQ(encoding.tokens[0], "[UNK]");
  const std::vector<int64_t> char_to_byte = Utf8CharToByte(text);
  for (size_t i = 0; i < encoding.tokens.size(); ++i) {
    const auto [begin, end] = encoding.offsets[i];
    ASSERT_LT(begin, end);
    const std::string slice =
        text.substr(char_to_byte[begin], char_to_byte[end] - char_to_byte[begin]);
    std::string token = encoding.tokens[i];
    if (token == "[UNK]") {
      EXPECT_TRUE(slice == "\u00C9" || slice == "-") << slice;  // Not in the vocabulary.
    } else if (token == "[CLS]") {
      EXPECT_EQ(slice, "[CLS]");
    } else {
      if (token.rfind("##", 0) == 0) token = token.substr(2);
      EXPECT_EQ(Normalize(slice), token) << "token " << i << " slice \"" << slice << "\"";
    }
  }
}

TEST(BertTokenizerTest, DecodesLikeHuggingFace) {
  auto tokenizer = MakeTokenizer();
  const std::vector<int64_t> ids = {2, 9, 6, 7, 12, 10, 11, 42, 43, 1, 20, 3};
  EXPECT_EQ(tokenizer->Decode(ids), "unwanted, running's.");
  EXPECT_EQ(tokenizer->Decode(ids, /*skip_special_tokens=*/false),
            "[CLS] unwanted, running's [UNK]. [SEP]");
  BertTokenizerOptions options;
  options.clean_up_tokenization_spaces = false;
  EXPECT_EQ(MakeTokenizer(options)->Decode(ids), "unwanted , running ' s .");
  EXPECT_EQ(tokenizer->Decode({17, -1, 1000, 18}), "hello world");  // Bad ids skipped.
  EXPECT_EQ(BertTokenizer::ConvertTokensToString({"un", "##aff", "##able", "!"}),
            "unaffable !");
}

TEST(BertTokenizerTest, ExposesVocabularyAndSpecialIds) {
  auto tokenizer = MakeTokenizer();
  EXPECT_EQ(tokenizer->vocab_size(), 44);
  EXPECT_EQ(tokenizer->pad_id(), 0);
  EXPECT_EQ(tokenizer->unk_id(), 1);
  EXPECT_EQ(tokenizer->cls_id(), 2);
  EXPECT_EQ(tokenizer->sep_id(), 3);
  EXPECT_EQ(tokenizer->mask_id(), 4);
  EXPECT_EQ(tokenizer->TokenToId("##aff"), 15);
  EXPECT_EQ(tokenizer->TokenToId("absent"), 1);
  EXPECT_EQ(tokenizer->IdToToken(17), "hello");
  EXPECT_EQ(tokenizer->IdToToken(44), "");
}

TEST(BertTokenizerTest, RejectsVocabularyWithoutSpecialTokens) {
  absl::StatusOr<Vocab> vocab =
      ParseVocabTxt("[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\n", "my_vocab.txt");
  ASSERT_TRUE(vocab.ok());
  absl::StatusOr<std::unique_ptr<BertTokenizer>> tokenizer =
      BertTokenizer::Create(*vocab, {}, "my_vocab.txt");
  EXPECT_EQ(tokenizer.status().message(),
            "my_vocab.txt: the vocabulary lacks the special token \"[MASK]\" "
            "(BertTokenizerOptions.mask_token)");
  BertTokenizerOptions options;
  options.mask_token = "[SEP]";  // Any present token will do.
  EXPECT_TRUE(BertTokenizer::Create(*vocab, options, "my_vocab.txt").ok());
  options.max_input_chars_per_word = 0;
  EXPECT_THAT(BertTokenizer::Create(*vocab, options).status().message(),
              HasSubstr("max_input_chars_per_word must be positive"));
  EXPECT_EQ(BertTokenizer::FromFile("/nonexistent/vocab.txt").status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace tokenizers
