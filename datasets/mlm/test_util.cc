#include "datasets/mlm/test_util.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace datasets::mlm::testing {

FakeTokenizer::FakeTokenizer(const std::vector<std::string>& words) {
  tokens_ = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
  tokens_.insert(tokens_.end(), words.begin(), words.end());
  for (size_t id = 0; id < tokens_.size(); ++id) {
    ids_.emplace(tokens_[id], static_cast<int64_t>(id));
  }
}

tokenizers::Encoding FakeTokenizer::Encode(absl::string_view text) const {
  tokenizers::Encoding encoding;
  size_t position = 0;
  while (position < text.size()) {
    if (text[position] == ' ' || text[position] == '\t') {
      ++position;
      continue;
    }
    size_t word_end = position;
    while (word_end < text.size() && text[word_end] != ' ' && text[word_end] != '\t') {
      ++word_end;
    }
    size_t piece_begin = position;
    bool first_piece = true;
    while (piece_begin <= word_end) {
      size_t piece_end = text.find('+', piece_begin);
      if (piece_end == absl::string_view::npos || piece_end > word_end) piece_end = word_end;
      const absl::string_view piece = text.substr(piece_begin, piece_end - piece_begin);
      const std::string token = first_piece ? std::string(piece) : absl::StrCat("##", piece);
      encoding.tokens.push_back(token);
      encoding.ids.push_back(TokenToId(token));
      // The test corpora are ASCII: bytes are characters.
      encoding.offsets.emplace_back(static_cast<int64_t>(piece_begin),
                                    static_cast<int64_t>(piece_end));
      first_piece = false;
      piece_begin = piece_end + 1;
    }
    position = word_end;
  }
  return encoding;
}

std::string FakeTokenizer::Decode(const std::vector<int64_t>& ids, bool skip_special_tokens) const {
  std::string text;
  for (const int64_t id : ids) {
    if (skip_special_tokens && id >= 0 && id < kNumSpecial) continue;
    const std::string token = IdToToken(id);
    if (absl::StartsWith(token, "##")) {
      text += token.substr(2);
    } else {
      if (!text.empty()) text += ' ';
      text += token;
    }
  }
  return text;
}

int64_t FakeTokenizer::TokenToId(absl::string_view token) const {
  auto it = ids_.find(token);
  return it == ids_.end() ? kUnk : it->second;
}

std::string FakeTokenizer::IdToToken(int64_t id) const {
  if (id < 0 || id >= vocab_size()) return "";
  return tokens_[static_cast<size_t>(id)];
}

int64_t SyntheticCorpus::TokenIndex(int64_t id) const {
  const int64_t index = id - FakeTokenizer::kNumSpecial;
  if (index < 0) return -1;
  return index < num_tokens ? index : index - num_tokens;
}

SyntheticCorpus MakeCorpus(const std::vector<std::vector<int>>& sentence_lengths) {
  SyntheticCorpus corpus;
  for (const auto& document : sentence_lengths) {
    for (const int length : document) corpus.num_tokens += length;
  }
  for (int64_t k = 0; k < corpus.num_tokens; ++k) {
    corpus.vocab_words.push_back(absl::StrCat("t", k));
  }
  for (int64_t k = 0; k < corpus.num_tokens; ++k) {
    corpus.vocab_words.push_back(absl::StrCat("##t", k));
  }
  int64_t k = 0;
  for (size_t d = 0; d < sentence_lengths.size(); ++d) {
    if (d > 0) corpus.text += "\n";  // Blank line between documents.
    for (size_t s = 0; s < sentence_lengths[d].size(); ++s) {
      std::string line;
      for (int position = 0; position < sentence_lengths[d][s]; ++position, ++k) {
        const bool continues = position > 0 && k % 3 == 2;
        if (continues) {
          line += absl::StrCat("+t", k);
        } else {
          if (position > 0) line += ' ';
          line += absl::StrCat("t", k);
        }
        corpus.document_of_token.push_back(static_cast<int64_t>(d));
        corpus.starts_sentence.push_back(position == 0);
      }
      corpus.text += line + "\n";
    }
  }
  return corpus;
}

std::string WriteTestFile(const std::string& name, const std::string& contents) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string path = absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/", name);
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  file << contents;
  file.close();
  if (!file) {
    std::fprintf(stderr, "cannot write test file %s\n", path.c_str());
    std::abort();
  }
  return path;
}

}  // namespace datasets::mlm::testing
