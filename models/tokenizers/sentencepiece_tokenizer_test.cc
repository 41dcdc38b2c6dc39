#include "models/tokenizers/sentencepiece_tokenizer.h"

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "models/tokenizers/unicode.h"

namespace tokenizers {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kWordStart[] = "\xE2\x96\x81";  // "▁"

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string(dir != nullptr ? dir : "/tmp") + "/" + name;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

// A few hundred pseudo-random sentences over a small word list (fixed LCG, so every run
// trains on the same text).
const std::string& CorpusPath() {
  static const std::string* const kPath = [] {
    const std::vector<std::string> words = {
        "the",    "quick",  "brown",  "fox",     "jumps",   "over",   "lazy",   "dog",
        "hello",  "world",  "model",  "token",   "tokens",  "piece",  "pieces", "train",
        "trains", "small",  "corpus", "sentence", "words",  "compress", "prune", "bert",
        "h\xC3\xA9llo", "w\xC3\xB6rld", "na\xC3\xAFve", "caf\xC3\xA9", "and",   "of",
        "a",      "is"};
    auto* path = new std::string(TempPath("spm_corpus.txt"));
    std::ofstream out(*path);
    uint32_t state = 12345;
    for (int line = 0; line < 400; ++line) {
      const int length = 4 + line % 9;
      for (int i = 0; i < length; ++i) {
        state = state * 1664525u + 1013904223u;
        out << (i > 0 ? " " : "") << words[(state >> 16) % words.size()];
      }
      out << (line % 5 == 0 ? " [SEP] end.\n" : ".\n");
    }
    return path;
  }();
  return *kPath;
}

SentencePieceTrainOptions TinyOptions(const std::string& model_type, const std::string& name) {
  SentencePieceTrainOptions options;
  options.input_files = {CorpusPath()};
  options.model_prefix = TempPath(name);
  options.vocab_size = 120;
  options.model_type = model_type;
  options.character_coverage = 1.0;
  options.hard_vocab_limit = false;  // The corpus may not support exactly 120 pieces.
  return options;
}

std::unique_ptr<SentencePieceTokenizer> TrainAndLoad(const std::string& model_type) {
  const SentencePieceTrainOptions options = TinyOptions(model_type, "spm_" + model_type);
  const absl::Status trained = TrainSentencePiece(options);
  EXPECT_TRUE(trained.ok()) << trained;
  absl::StatusOr<std::unique_ptr<SentencePieceTokenizer>> tokenizer =
      SentencePieceTokenizer::Load(options.model_prefix + ".model");
  EXPECT_TRUE(tokenizer.ok()) << tokenizer.status();
  return tokenizer.ok() ? std::move(*tokenizer) : nullptr;
}

// Each piece's offsets slice the original text to its surface: the pieces tile the text,
// and a slice is the piece with "▁" for spaces (the first piece's "▁" has no surface).
void ExpectOffsetsSliceSurfaces(const Tokenizer& tokenizer, const std::string& text) {
  const Encoding encoding = tokenizer.Encode(text);
  ASSERT_FALSE(encoding.tokens.empty());
  const std::vector<int64_t> char_to_byte = Utf8CharToByte(text);
  std::string tiled;
  int64_t previous_end = 0;
  for (size_t i = 0; i < encoding.tokens.size(); ++i) {
    const auto [begin, end] = encoding.offsets[i];
    EXPECT_EQ(begin, previous_end) << "piece " << i << " of \"" << text << "\"";
    previous_end = end;
    const std::string slice =
        text.substr(char_to_byte[begin], char_to_byte[end] - char_to_byte[begin]);
    tiled += slice;
    std::string spelled;
    for (char c : slice) spelled += c == ' ' ? std::string(kWordStart) : std::string(1, c);
    const std::string& piece = encoding.tokens[i];
    EXPECT_TRUE(piece == spelled || piece == kWordStart + spelled)
        << "piece \"" << piece << "\" has surface \"" << slice << "\"";
  }
  EXPECT_EQ(tiled, text);
}

void ExpectWorkingModel(const SentencePieceTokenizer& tokenizer) {
  EXPECT_GT(tokenizer.vocab_size(), 40);
  EXPECT_LE(tokenizer.vocab_size(), 120);
  // sentencepiece's defaults: <unk> 0, <s> 1, </s> 2; then the user-defined symbols.
  EXPECT_EQ(tokenizer.unk_id(), 0);
  EXPECT_EQ(tokenizer.IdToToken(0), "<unk>");
  EXPECT_EQ(tokenizer.cls_id(), 3);
  EXPECT_EQ(tokenizer.sep_id(), 4);
  EXPECT_EQ(tokenizer.pad_id(), 5);
  EXPECT_EQ(tokenizer.mask_id(), 6);
  EXPECT_EQ(tokenizer.TokenToId("[MASK]"), 6);
  EXPECT_EQ(tokenizer.TokenToId("no such piece"), 0);
  EXPECT_EQ(tokenizer.IdToToken(-1), "");

  for (const std::string text :
       {"the quick brown fox jumps over the lazy dog.", "h\xC3\xA9llo w\xC3\xB6rld, na\xC3\xAFve caf\xC3\xA9",
        "hello [SEP] world", "prune bert"}) {
    ExpectOffsetsSliceSurfaces(tokenizer, text);
  }
  const std::string text = "the small model trains on a corpus of words.";
  const Encoding encoding = tokenizer.Encode(text);
  EXPECT_EQ(tokenizer.Decode(encoding.ids), text);

  // A user-defined symbol is one piece wherever it appears; skipping drops it.
  const Encoding with_special = tokenizer.Encode("hello [SEP] world");
  int sep_count = 0;
  for (size_t i = 0; i < with_special.ids.size(); ++i) {
    if (with_special.ids[i] != tokenizer.sep_id()) continue;
    ++sep_count;
    EXPECT_EQ(with_special.tokens[i], "[SEP]");
  }
  EXPECT_EQ(sep_count, 1);
  EXPECT_EQ(tokenizer.Decode(with_special.ids, /*skip_special_tokens=*/false),
            "hello [SEP] world");
  EXPECT_THAT(tokenizer.Decode(with_special.ids), Not(HasSubstr("[SEP]")));
  EXPECT_EQ(tokenizer.Decode({-5, 100000}), "");
}

TEST(SentencePieceTokenizerTest, TrainsAndRunsUnigramModel) {
  auto tokenizer = TrainAndLoad("unigram");
  ASSERT_NE(tokenizer, nullptr);
  ExpectWorkingModel(*tokenizer);
}

TEST(SentencePieceTokenizerTest, TrainsAndRunsBpeModel) {
  auto tokenizer = TrainAndLoad("bpe");
  ASSERT_NE(tokenizer, nullptr);
  ExpectWorkingModel(*tokenizer);
}

TEST(SentencePieceTokenizerTest, TrainingIsReproducible) {
  const SentencePieceTrainOptions first = TinyOptions("unigram", "spm_repro_1");
  const SentencePieceTrainOptions second = TinyOptions("unigram", "spm_repro_2");
  ASSERT_TRUE(TrainSentencePiece(first).ok());
  ASSERT_TRUE(TrainSentencePiece(second).ok());
  // The .model embeds model_prefix, so compare the pieces and scores of the .vocab files.
  const std::string vocab = ReadAll(first.model_prefix + ".vocab");
  EXPECT_GT(vocab.size(), 100u);
  EXPECT_TRUE(vocab == ReadAll(second.model_prefix + ".vocab"));
}

TEST(SentencePieceTokenizerTest, NormalizationRuleNameReachesTheModel) {
  // nmt_nfkc (the default) folds the "ﬁ" ligature to "fi"; identity keeps it as it is.
  SentencePieceTrainOptions nfkc = TinyOptions("unigram", "spm_nfkc");
  SentencePieceTrainOptions identity = TinyOptions("unigram", "spm_identity");
  identity.normalization_rule_name = "identity";
  ASSERT_TRUE(TrainSentencePiece(nfkc).ok());
  ASSERT_TRUE(TrainSentencePiece(identity).ok());
  auto folded = SentencePieceTokenizer::Load(nfkc.model_prefix + ".model");
  auto kept = SentencePieceTokenizer::Load(identity.model_prefix + ".model");
  ASSERT_TRUE(folded.ok() && kept.ok());
  EXPECT_EQ((*folded)->Decode((*folded)->Encode("\xef\xac\x81ne").ids), "fine");
  EXPECT_NE((*kept)->Decode((*kept)->Encode("\xef\xac\x81ne").ids), "fine");
  // Without the normalizer's precompiled charsmap the model file is far smaller.
  EXPECT_LT(ReadAll(identity.model_prefix + ".model").size() * 10,
            ReadAll(nfkc.model_prefix + ".model").size());
  identity.normalization_rule_name = "no_such_rule";
  EXPECT_THAT(TrainSentencePiece(identity).message(), HasSubstr("training sentencepiece model"));
}

TEST(SentencePieceTokenizerTest, ReportsBadOptionsAndFiles) {
  SentencePieceTrainOptions options = TinyOptions("wordpiece", "spm_bad");
  EXPECT_EQ(TrainSentencePiece(options).message(),
            "SentencePieceTrainOptions.model_type is \"wordpiece\"; supported: unigram, bpe");
  options = TinyOptions("bpe", "spm_bad");
  options.input_files.clear();
  EXPECT_EQ(TrainSentencePiece(options).message(),
            "SentencePieceTrainOptions.input_files is empty");
  options = TinyOptions("bpe", "spm_bad");
  options.user_defined_symbols = {"[A],[B]"};
  EXPECT_THAT(TrainSentencePiece(options).message(), HasSubstr("user_defined_symbols"));
  options = TinyOptions("bpe", "spm_bad");
  options.input_files = {"/nonexistent/corpus.txt"};
  const absl::Status missing = TrainSentencePiece(options);
  EXPECT_FALSE(missing.ok());
  EXPECT_THAT(missing.message(), HasSubstr("training sentencepiece model"));

  const absl::Status load = SentencePieceTokenizer::Load("/nonexistent/spm.model").status();
  EXPECT_EQ(load.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(load.message(), HasSubstr("/nonexistent/spm.model: cannot load"));
}

}  // namespace
}  // namespace tokenizers
