#include "recipes/tasks/test_util.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <set>
#include <utility>

#include "models/tokenizers/vocab.h"

namespace recipes::testing {

std::unique_ptr<tokenizers::BertTokenizer> TokenizerForTexts(
    const std::vector<std::string>& texts) {
  const std::vector<std::string> specials = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
  auto bootstrap_vocab = tokenizers::Vocab::FromTokens(specials, "specials");
  EXPECT_TRUE(bootstrap_vocab.ok()) << bootstrap_vocab.status();
  auto bootstrap = tokenizers::BertTokenizer::Create(*std::move(bootstrap_vocab), {});
  EXPECT_TRUE(bootstrap.ok()) << bootstrap.status();
  std::set<std::string> words;
  for (const std::string& text : texts) {
    for (const std::string& word : (*bootstrap)->BasicTokenize(text).tokens) words.insert(word);
  }
  std::vector<std::string> tokens = specials;
  for (const std::string& word : words) {
    if (std::find(specials.begin(), specials.end(), word) == specials.end()) tokens.push_back(word);
  }
  auto vocab = tokenizers::Vocab::FromTokens(std::move(tokens), "test words");
  EXPECT_TRUE(vocab.ok()) << vocab.status();
  auto tokenizer = tokenizers::BertTokenizer::Create(*std::move(vocab), {});
  EXPECT_TRUE(tokenizer.ok()) << tokenizer.status();
  return *std::move(tokenizer);
}

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string(dir != nullptr ? dir : "/tmp") + "/" + name;
}

std::string WriteTempFile(const std::string& name, const std::string& contents) {
  const std::string path = TempPath(name);
  std::ofstream out(path, std::ios::binary);
  out << contents;
  EXPECT_TRUE(out.good()) << path;
  return path;
}

}  // namespace recipes::testing
