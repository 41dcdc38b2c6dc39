// WordPiece tokenization equal to Hugging Face's BertTokenizer (the Python "slow" one), with
// character offsets into the original text like its fast tokenizer's offset_mapping.
//
//   ASSIGN_OR_RETURN(auto tokenizer, tokenizers::BertTokenizer::FromFile("vocab.txt"));
//   tokenizers::Encoding encoding = tokenizer->Encode("Héllo, [MASK]!");
//   // tokens  hello  ,      [MASK]  !
//   // offsets (0,5)  (5,6)  (7,13)  (13,14)
//
// Pipeline (BasicTokenizer, then WordpieceTokenizer, as in tokenization_bert.py):
//   1. The special tokens ([UNK] [SEP] [PAD] [CLS] [MASK]) are split out of the text first,
//      matched case-sensitively anywhere, and kept whole ("a[SEP]b" -> a, [SEP], b).
//   2. _clean_text: U+0000, U+FFFD and control characters are dropped; whitespace separates.
//   3. Each CJK ideograph becomes a word of its own.
//   4. Words listed in never_split pass through unchanged. Others are lower-cased and/or
//      accent-stripped (NFD, then marks of category Mn dropped), then split around every
//      punctuation character.
//   5. WordPiece: greedy longest-match-first with "##" continuations; a word longer than
//      max_input_chars_per_word characters, or with no full segmentation, becomes [UNK].
// Each token's offsets cover the original characters it came from, whatever lower-casing
// and accent stripping did to them; a "##" piece covers only its own characters.
//
// Known difference: transformers >= 4.31 NFC-composes the text before splitting, which
// only matters for decomposed input with do_lower_case = false and no accent stripping.
#ifndef MODELS_TOKENIZERS_WORDPIECE_TOKENIZER_H_
#define MODELS_TOKENIZERS_WORDPIECE_TOKENIZER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "models/tokenizers/tokenizer.h"
#include "models/tokenizers/vocab.h"

namespace tokenizers {

// Constructor arguments of Hugging Face's BertTokenizer, same names and defaults.
struct BertTokenizerOptions {
  // Lower-cases words (and strips accents unless strip_accents is false).
  bool do_lower_case = true;
  // Strips accents (NFD, drop Mn); unset follows do_lower_case.
  std::optional<bool> strip_accents;
  // Makes every CJK ideograph its own word (off for Japanese, as HF advises).
  bool tokenize_chinese_chars = true;
  // Whitespace-delimited words kept whole: not lower-cased, not split on punctuation.
  std::vector<std::string> never_split;
  std::string unk_token = "[UNK]";    // Replaces words WordPiece cannot segment.
  std::string sep_token = "[SEP]";    // Ends each sequence.
  std::string pad_token = "[PAD]";    // Fills up to a fixed length.
  std::string cls_token = "[CLS]";    // Starts the input.
  std::string mask_token = "[MASK]";  // Masked-LM target placeholder.
  // Longer words (in characters, after normalization) become one [UNK].
  int max_input_chars_per_word = 100;
  // Decode() removes the spaces before . ? ! , and 's n't 'm 've 're, like HF's default.
  bool clean_up_tokenization_spaces = true;
};

class BertTokenizer : public Tokenizer {
 public:
  // Fails, naming `source`, when a special token of `options` is missing from `vocab`.
  static absl::StatusOr<std::unique_ptr<BertTokenizer>> Create(
      Vocab vocab, BertTokenizerOptions options, absl::string_view source = "vocabulary");
  // LoadVocab (vocab.txt or JSON) + Create.
  static absl::StatusOr<std::unique_ptr<BertTokenizer>> FromFile(
      const std::string& vocab_path, BertTokenizerOptions options = {});

  Encoding Encode(absl::string_view text) const override;
  // Only steps 1-4 (HF's basic_tokenizer.tokenize): the words WordPiece would see, with
  // their offsets and whole-word ids (unk_id() when the vocabulary lacks the word).
  Encoding BasicTokenize(absl::string_view text) const;

  std::string Decode(const std::vector<int64_t>& ids,
                     bool skip_special_tokens = true) const override;
  // HF's convert_tokens_to_string: joined by spaces, " ##" removed, no other clean-up.
  static std::string ConvertTokensToString(const std::vector<std::string>& tokens);

  int64_t vocab_size() const override { return vocab_.size(); }
  int64_t TokenToId(absl::string_view token) const override;
  std::string IdToToken(int64_t id) const override { return vocab_.token(id); }

  int64_t cls_id() const override { return cls_id_; }
  int64_t sep_id() const override { return sep_id_; }
  int64_t pad_id() const override { return pad_id_; }
  int64_t mask_id() const override { return mask_id_; }
  int64_t unk_id() const override { return unk_id_; }

  const Vocab& vocab() const { return vocab_; }
  const BertTokenizerOptions& options() const { return options_; }

 private:
  struct Word;

  BertTokenizer(Vocab vocab, BertTokenizerOptions options);

  // Appends the words of chars[begin, end), which holds no special token, to `words`.
  void SplitWords(const std::u32string& chars, size_t begin, size_t end,
                  std::vector<Word>* words) const;
  // Lower-cases / strips accents of one whitespace-delimited word, then splits it on
  // punctuation.
  void NormalizeAndSplit(const Word& word, std::vector<Word>* words) const;
  void AppendWordPieces(const Word& word, Encoding* encoding) const;
  // Steps 1-4 over the whole text; special tokens come back as never-split words.
  std::vector<Word> Words(absl::string_view text) const;

  Vocab vocab_;
  BertTokenizerOptions options_;
  bool strip_accents_ = true;
  std::vector<std::u32string> special_tokens_;  // Longest first, for splitting them out.
  std::unordered_set<std::string> never_split_;
  int64_t unk_id_ = 0, sep_id_ = 0, pad_id_ = 0, cls_id_ = 0, mask_id_ = 0;
};

}  // namespace tokenizers

#endif  // MODELS_TOKENIZERS_WORDPIECE_TOKENIZER_H_
