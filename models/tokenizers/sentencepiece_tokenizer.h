// A Tokenizer over a sentencepiece model (unigram or BPE, e.g. ALBERT's spiece.model or one
// trained here on a local corpus), and sentencepiece training.
//
//   tokenizers::SentencePieceTrainOptions train;
//   train.input_files = {"corpus.txt"};
//   train.model_prefix = "/tmp/spm";  // writes /tmp/spm.model and /tmp/spm.vocab
//   RETURN_IF_ERROR(tokenizers::TrainSentencePiece(train));
//   ASSIGN_OR_RETURN(auto tokenizer, tokenizers::SentencePieceTokenizer::Load("/tmp/spm.model"));
//   tokenizers::Encoding encoding = tokenizer->Encode("Hello world");
//   // e.g. tokens "▁Hello" "▁world", offsets (0,5) (5,11)
//
// Offsets are the character span of each piece's surface in the original text, so a piece
// that starts a word also covers the whitespace before it (" world" above), as
// sentencepiece reports it.
#ifndef MODELS_TOKENIZERS_SENTENCEPIECE_TOKENIZER_H_
#define MODELS_TOKENIZERS_SENTENCEPIECE_TOKENIZER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "models/tokenizers/tokenizer.h"

namespace tokenizers {

namespace internal {
class SentencePieceBridge;
}  // namespace internal

struct SentencePieceTrainOptions {
  // Plain-text files, one sentence per line (no commas in the paths).
  std::vector<std::string> input_files;
  // Output path prefix: writes <model_prefix>.model and <model_prefix>.vocab.
  std::string model_prefix;
  // Pieces in the vocabulary, the special ones included.
  int vocab_size = 8000;
  // "unigram" or "bpe".
  std::string model_type = "unigram";
  // Share of characters the vocabulary covers; rarer characters become <unk>.
  double character_coverage = 0.9995;
  // sentencepiece's normalization_rule_name: "nmt_nfkc" (its default), "nfkc", "nmt_nfkc_cf",
  // "nfkc_cf" or "identity" (no normalization; the model then carries no ~240 KB charsmap).
  std::string normalization_rule_name = "nmt_nfkc";
  // Always kept as single pieces, wherever they appear in the text.
  std::vector<std::string> user_defined_symbols = {"[CLS]", "[SEP]", "[PAD]", "[MASK]"};
  // Seeds sentencepiece's random generator (sentence sampling and shuffling).
  unsigned int seed = 42;
  // Training threads; 1 keeps the result independent of scheduling.
  int num_threads = 1;
  // When false, vocab_size is an upper bound instead of an exact size (tiny corpora).
  bool hard_vocab_limit = true;
  // Sentences sampled from the input; 0 uses all of them.
  int64_t input_sentence_size = 0;
  // Prints sentencepiece's progress log on stderr.
  bool verbose = false;
};

// Trains and writes the model. Errors name the offending option or sentencepiece's message.
absl::Status TrainSentencePiece(const SentencePieceTrainOptions& options);

class SentencePieceTokenizer : public Tokenizer {
 public:
  // Special ids are looked up by piece: [CLS] (else <cls>, else the model's bos), [SEP]
  // (else <sep>, else eos), [PAD] (else <pad>, else the model's pad), [MASK] (else <mask>);
  // whatever is still missing falls back to the unknown piece.
  static absl::StatusOr<std::unique_ptr<SentencePieceTokenizer>> Load(
      const std::string& model_path);

  ~SentencePieceTokenizer() override;

  Encoding Encode(absl::string_view text) const override;
  // Skipping drops control pieces (<s>, </s>), the unknown piece and the ids above.
  std::string Decode(const std::vector<int64_t>& ids,
                     bool skip_special_tokens = true) const override;

  int64_t vocab_size() const override;
  int64_t TokenToId(absl::string_view token) const override;
  std::string IdToToken(int64_t id) const override;

  int64_t cls_id() const override { return cls_id_; }
  int64_t sep_id() const override { return sep_id_; }
  int64_t pad_id() const override { return pad_id_; }
  int64_t mask_id() const override { return mask_id_; }
  int64_t unk_id() const override { return unk_id_; }

 private:
  explicit SentencePieceTokenizer(std::unique_ptr<internal::SentencePieceBridge> bridge);
  // The id of the first of `pieces` the model has, else `fallback` when >= 0, else unk.
  int64_t FindSpecial(const std::vector<std::string>& pieces, int fallback) const;

  std::unique_ptr<internal::SentencePieceBridge> bridge_;
  int64_t unk_id_ = 0, cls_id_ = 0, sep_id_ = 0, pad_id_ = 0, mask_id_ = 0;
};

}  // namespace tokenizers

#endif  // MODELS_TOKENIZERS_SENTENCEPIECE_TOKENIZER_H_
