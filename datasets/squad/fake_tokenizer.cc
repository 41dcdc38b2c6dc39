#include "datasets/squad/fake_tokenizer.h"

#include <utility>

#include "datasets/squad/utf8_index.h"
#include "models/tokenizers/unicode.h"

namespace datasets {
namespace {

enum class CharClass { kSpace, kWord, kPunct };

CharClass Classify(uint32_t c) {
  if (c == ' ' || c == '\t' || c == '\n' || c == '\r') return CharClass::kSpace;
  if (c < 0x80) {
    const bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    return alnum ? CharClass::kWord : CharClass::kPunct;
  }
  return (c >= 0x2000 && c <= 0x206F) ? CharClass::kPunct : CharClass::kWord;
}

}  // namespace

FakeTokenizer::FakeTokenizer(const std::vector<std::string>& texts,
                             std::map<std::string, int64_t> splits)
    : splits_(std::move(splits)), vocab_({"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"}) {
  for (size_t i = 0; i < vocab_.size(); ++i) ids_.emplace(vocab_[i], i);
  for (const std::string& text : texts) {
    for (const std::string& token : Split(text).tokens) {
      if (ids_.emplace(token, vocab_.size()).second) vocab_.push_back(token);
    }
  }
}

tokenizers::Encoding FakeTokenizer::Split(absl::string_view text) const {
  tokenizers::Encoding encoding;
  std::string word;
  int64_t word_begin = 0;
  int64_t position = 0;  // In characters.
  auto flush_word = [&] {
    if (word.empty()) return;
    auto split = splits_.find(word);
    const int64_t length = position - word_begin;
    if (split != splits_.end() && split->second > 0 && split->second < length) {
      const Utf8Index index(word);
      encoding.tokens.emplace_back(index.Substr(0, split->second));
      encoding.offsets.emplace_back(word_begin, word_begin + split->second);
      encoding.tokens.push_back("##" + std::string(index.Substr(split->second, length)));
      encoding.offsets.emplace_back(word_begin + split->second, position);
    } else {
      encoding.tokens.push_back(word);
      encoding.offsets.emplace_back(word_begin, position);
    }
    word.clear();
  };
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t start = pos;
    char32_t c = 0;
    pos += tokenizers::DecodeUtf8Char(text, pos, &c);
    const CharClass char_class = Classify(c);
    if (char_class == CharClass::kWord) {
      if (word.empty()) word_begin = position;
      if (c >= 'A' && c <= 'Z') c += 'a' - 'A';
      if (c < 0x80) {
        word.push_back(static_cast<char>(c));
      } else {
        word.append(text.data() + start, pos - start);
      }
    } else {
      flush_word();
      if (char_class == CharClass::kPunct) {
        encoding.tokens.emplace_back(text.substr(start, pos - start));
        encoding.offsets.emplace_back(position, position + 1);
      }
    }
    ++position;
  }
  flush_word();
  return encoding;
}

tokenizers::Encoding FakeTokenizer::Encode(absl::string_view text) const {
  tokenizers::Encoding encoding = Split(text);
  for (const std::string& token : encoding.tokens) encoding.ids.push_back(TokenToId(token));
  return encoding;
}

std::string FakeTokenizer::Decode(const std::vector<int64_t>& ids, bool skip_special_tokens) const {
  std::string text;
  for (int64_t id : ids) {
    if (skip_special_tokens && id >= 0 && id < 5) continue;
    const std::string token = IdToToken(id);
    if (token.rfind("##", 0) == 0) {
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
  return it == ids_.end() ? unk_id() : it->second;
}

std::string FakeTokenizer::IdToToken(int64_t id) const {
  if (id < 0 || id >= vocab_size()) return "";
  return vocab_[id];
}

std::vector<std::string> FakeTokenizer::Tokens(const std::vector<int64_t>& ids) const {
  std::vector<std::string> tokens;
  for (int64_t id : ids) tokens.push_back(IdToToken(id));
  return tokens;
}

}  // namespace datasets
