#include "models/tokenizers/wordpiece_tokenizer.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "base/status_macros.h"
#include "models/tokenizers/unicode.h"

namespace tokenizers {

// A word on its way through the pipeline: its (normalized) characters and, for each, the
// index of the original character it came from.
struct BertTokenizer::Word {
  std::u32string chars;
  std::vector<int64_t> origins;
  bool keep_whole = false;  // A special or never_split token: no normalization, no WordPiece.

  void Append(char32_t c, int64_t origin) {
    chars.push_back(c);
    origins.push_back(origin);
  }
  std::pair<int64_t, int64_t> Span(size_t begin, size_t end) const {
    const auto [low, high] =
        std::minmax_element(origins.begin() + begin, origins.begin() + end);
    return {*low, *high + 1};
  }
};

namespace {

// Python's str.split() also breaks at these (line and paragraph separators, category Zl and
// Zp), which BERT's _clean_text leaves in the text.
bool IsLineSeparator(char32_t c) { return c == 0x2028 || c == 0x2029; }

}  // namespace

BertTokenizer::BertTokenizer(Vocab vocab, BertTokenizerOptions options)
    : vocab_(std::move(vocab)), options_(std::move(options)) {
  strip_accents_ = options_.strip_accents.value_or(options_.do_lower_case);
  for (const std::string* token : {&options_.unk_token, &options_.sep_token,
                                   &options_.pad_token, &options_.cls_token,
                                   &options_.mask_token}) {
    special_tokens_.push_back(DecodeUtf8(*token));
    never_split_.insert(*token);
  }
  std::stable_sort(special_tokens_.begin(), special_tokens_.end(),
                   [](const std::u32string& a, const std::u32string& b) {
                     return a.size() > b.size();
                   });
  for (const std::string& token : options_.never_split) never_split_.insert(token);
}

absl::StatusOr<std::unique_ptr<BertTokenizer>> BertTokenizer::Create(
    Vocab vocab, BertTokenizerOptions options, absl::string_view source) {
  const std::pair<const char*, const std::string*> specials[] = {
      {"unk_token", &options.unk_token},
      {"sep_token", &options.sep_token},
      {"pad_token", &options.pad_token},
      {"cls_token", &options.cls_token},
      {"mask_token", &options.mask_token}};
  int64_t ids[5];
  for (int i = 0; i < 5; ++i) {
    const auto& [field, token] = specials[i];
    std::optional<int64_t> id = vocab.Find(*token);
    if (!id) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ": the vocabulary lacks the special token \"", *token,
                       "\" (BertTokenizerOptions.", field, ")"));
    }
    ids[i] = *id;
  }
  if (options.max_input_chars_per_word <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("BertTokenizerOptions.max_input_chars_per_word must be positive, got ",
                     options.max_input_chars_per_word));
  }
  std::unique_ptr<BertTokenizer> tokenizer(
      new BertTokenizer(std::move(vocab), std::move(options)));
  tokenizer->unk_id_ = ids[0];
  tokenizer->sep_id_ = ids[1];
  tokenizer->pad_id_ = ids[2];
  tokenizer->cls_id_ = ids[3];
  tokenizer->mask_id_ = ids[4];
  return tokenizer;
}

absl::StatusOr<std::unique_ptr<BertTokenizer>> BertTokenizer::FromFile(
    const std::string& vocab_path, BertTokenizerOptions options) {
  ASSIGN_OR_RETURN(Vocab vocab, LoadVocab(vocab_path));
  return Create(std::move(vocab), std::move(options), vocab_path);
}

std::vector<BertTokenizer::Word> BertTokenizer::Words(absl::string_view text) const {
  const std::u32string chars = DecodeUtf8(text);
  std::vector<Word> words;
  size_t segment_begin = 0;
  size_t i = 0;
  while (i < chars.size()) {
    const std::u32string* special = nullptr;
    for (const std::u32string& candidate : special_tokens_) {
      if (!candidate.empty() && chars.compare(i, candidate.size(), candidate) == 0) {
        special = &candidate;
        break;
      }
    }
    if (special == nullptr) {
      ++i;
      continue;
    }
    SplitWords(chars, segment_begin, i, &words);
    Word word;
    word.keep_whole = true;
    for (size_t j = 0; j < special->size(); ++j) word.Append(chars[i + j], i + j);
    words.push_back(std::move(word));
    i += special->size();
    segment_begin = i;
  }
  SplitWords(chars, segment_begin, chars.size(), &words);
  return words;
}

void BertTokenizer::SplitWords(const std::u32string& chars, size_t begin, size_t end,
                               std::vector<Word>* words) const {
  Word word;
  const auto flush = [&]() {
    if (!word.chars.empty()) NormalizeAndSplit(word, words);
    word = Word();
  };
  for (size_t i = begin; i < end; ++i) {
    const char32_t c = chars[i];
    const int64_t origin = static_cast<int64_t>(i);
    if (c == 0 || c == kReplacementCharacter || IsControl(c)) continue;
    if (IsWhitespace(c) || IsLineSeparator(c)) {
      flush();
    } else if (options_.tokenize_chinese_chars && IsChineseChar(c)) {
      flush();
      word.Append(c, origin);
      flush();
    } else {
      word.Append(c, origin);
    }
  }
  flush();
}

void BertTokenizer::NormalizeAndSplit(const Word& word, std::vector<Word>* words) const {
  if (never_split_.count(EncodeUtf8(word.chars)) != 0) {
    words->push_back(word);
    words->back().keep_whole = true;
    return;
  }
  Word normalized;
  if (options_.do_lower_case) {
    std::u32string lower;
    for (size_t i = 0; i < word.chars.size(); ++i) {
      lower.clear();
      AppendLowercase(word.chars[i], &lower);
      for (char32_t c : lower) normalized.Append(c, word.origins[i]);
    }
  } else {
    normalized = word;
  }
  if (strip_accents_) {
    Word decomposed;
    std::u32string parts;
    for (size_t i = 0; i < normalized.chars.size(); ++i) {
      parts.clear();
      AppendDecomposition(normalized.chars[i], &parts);
      for (char32_t c : parts) decomposed.Append(c, normalized.origins[i]);
    }
    CanonicalOrder(&decomposed.chars, &decomposed.origins);
    normalized = Word();
    for (size_t i = 0; i < decomposed.chars.size(); ++i) {
      if (!IsNonspacingMark(decomposed.chars[i])) {
        normalized.Append(decomposed.chars[i], decomposed.origins[i]);
      }
    }
  }
  // _run_split_on_punc: every punctuation character alone, the runs between as words.
  Word piece;
  for (size_t i = 0; i < normalized.chars.size(); ++i) {
    const char32_t c = normalized.chars[i];
    if (!IsPunctuation(c)) {
      piece.Append(c, normalized.origins[i]);
      continue;
    }
    if (!piece.chars.empty()) words->push_back(std::move(piece));
    piece = Word();
    Word single;
    single.Append(c, normalized.origins[i]);
    words->push_back(std::move(single));
  }
  if (!piece.chars.empty()) words->push_back(std::move(piece));
}

void BertTokenizer::AppendWordPieces(const Word& word, Encoding* encoding) const {
  const auto append = [&](std::string token, int64_t id, std::pair<int64_t, int64_t> span) {
    encoding->tokens.push_back(std::move(token));
    encoding->ids.push_back(id);
    encoding->offsets.push_back(span);
  };
  const size_t n = word.chars.size();
  if (word.keep_whole) {
    std::string token = EncodeUtf8(word.chars);
    const int64_t id = TokenToId(token);
    append(std::move(token), id, word.Span(0, n));
    return;
  }
  if (n > static_cast<size_t>(options_.max_input_chars_per_word)) {
    append(options_.unk_token, unk_id_, word.Span(0, n));
    return;
  }
  // Byte offset of each character in the word's UTF-8 form, for cheap substrings.
  std::string utf8;
  std::vector<size_t> char_to_byte;
  for (char32_t c : word.chars) {
    char_to_byte.push_back(utf8.size());
    AppendUtf8(c, &utf8);
  }
  char_to_byte.push_back(utf8.size());

  const size_t first_piece = encoding->tokens.size();
  std::string candidate;
  size_t start = 0;
  while (start < n) {
    const absl::string_view prefix = start > 0 ? "##" : "";
    std::optional<int64_t> id;
    size_t end = n;
    for (; end > start; --end) {
      const size_t length = prefix.size() + char_to_byte[end] - char_to_byte[start];
      if (length > vocab_.max_token_bytes()) continue;
      candidate.assign(prefix.data(), prefix.size());
      candidate.append(utf8, char_to_byte[start], char_to_byte[end] - char_to_byte[start]);
      id = vocab_.Find(candidate);
      if (id) break;
    }
    if (!id) {
      // No segmentation: the whole word is one [UNK], dropping any pieces found so far.
      encoding->tokens.resize(first_piece);
      encoding->ids.resize(first_piece);
      encoding->offsets.resize(first_piece);
      append(options_.unk_token, unk_id_, word.Span(0, n));
      return;
    }
    append(candidate, *id, word.Span(start, end));
    start = end;
  }
}

Encoding BertTokenizer::Encode(absl::string_view text) const {
  Encoding encoding;
  for (const Word& word : Words(text)) AppendWordPieces(word, &encoding);
  return encoding;
}

Encoding BertTokenizer::BasicTokenize(absl::string_view text) const {
  Encoding encoding;
  for (const Word& word : Words(text)) {
    std::string token = EncodeUtf8(word.chars);
    encoding.ids.push_back(TokenToId(token));
    encoding.tokens.push_back(std::move(token));
    encoding.offsets.push_back(word.Span(0, word.chars.size()));
  }
  return encoding;
}

int64_t BertTokenizer::TokenToId(absl::string_view token) const {
  return vocab_.Find(std::string(token)).value_or(unk_id_);
}

std::string BertTokenizer::ConvertTokensToString(const std::vector<std::string>& tokens) {
  const std::string joined = absl::StrReplaceAll(absl::StrJoin(tokens, " "), {{" ##", ""}});
  return std::string(absl::StripAsciiWhitespace(joined));
}

std::string BertTokenizer::Decode(const std::vector<int64_t>& ids,
                                  bool skip_special_tokens) const {
  std::vector<std::string> tokens;
  for (int64_t id : ids) {
    if (id < 0 || id >= vocab_.size()) continue;
    if (skip_special_tokens && (id == unk_id_ || id == sep_id_ || id == pad_id_ ||
                                id == cls_id_ || id == mask_id_)) {
      continue;
    }
    tokens.push_back(vocab_.token(id));
  }
  std::string text = ConvertTokensToString(tokens);
  if (!options_.clean_up_tokenization_spaces) return text;
  // HF's clean_up_tokenization: one pass per pattern, in this order.
  static constexpr std::pair<const char*, const char*> kCleanUps[] = {
      {" .", "."},     {" ?", "?"},     {" !", "!"},     {" ,", ","},     {" ' ", "'"},
      {" n't", "n't"}, {" 'm", "'m"},   {" 's", "'s"},   {" 've", "'ve"}, {" 're", "'re"}};
  for (const auto& [from, to] : kCleanUps) text = absl::StrReplaceAll(text, {{from, to}});
  return text;
}

}  // namespace tokenizers
