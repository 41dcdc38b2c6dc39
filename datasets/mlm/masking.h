// Masked-language-model masking (BERT's 80/10/10 rule, optional whole-word masking) for
// sequences already framed with [CLS]/[SEP], as Google's create_pretraining_data.py
// create_masked_lm_predictions does, so the pre-training stream can re-mask every epoch.
//
//   ASSIGN_OR_RETURN(Masker masker, Masker::Create(tokenizer, MaskingOptions()));
//   std::mt19937_64 rng(seed);
//   std::vector<int64_t> labels = masker.Mask(&input_ids, rng);
//   // input_ids now has ~15% of its text tokens replaced; labels holds their original ids
//   // and kIgnoreIndex (-100) everywhere else.
#ifndef DATASETS_MLM_MASKING_H_
#define DATASETS_MLM_MASKING_H_

#include <cstdint>
#include <random>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/labels.h"
#include "models/tokenizers/tokenizer.h"

namespace datasets::mlm {

using base::kIgnoreIndex;  // Label of positions the loss ignores.

struct MaskingOptions {
  double masked_lm_prob = 0.15;          // Share of a sequence's length to predict, in (0, 1].
  int64_t max_predictions_per_seq = 20;  // Cap per sequence: 20 suits length 128, 80 suits 512.
  bool do_whole_word_mask = false;       // Select a word's "##" pieces together with it.
};

// InvalidArgument naming the field and value when an option is out of range.
absl::Status ValidateMaskingOptions(const MaskingOptions& options);

// Chooses and replaces the positions to predict. Thread-compatible: Mask() is const and
// keeps no state besides the caller's engine.
//
// Per sequence of length n it predicts min(max_predictions_per_seq,
// max(1, round(n * masked_lm_prob))) positions (n counts [CLS]/[SEP], as the reference),
// fewer when the sequence has fewer candidates or, with whole-word masking, when the
// remaining budget cannot fit a whole word (the reference skips such words). [CLS], [SEP],
// [PAD] and [MASK] are never candidates. Each chosen position becomes [MASK] with
// probability 0.8, keeps its token with 0.1, and gets a token drawn uniformly from the
// vocabulary minus the special ids ([PAD] [UNK] [CLS] [SEP] [MASK]) with 0.1; the decision
// is per position, also inside a whole word, as in the reference.
//
// A word is a token plus the "##"-prefixed (WordPiece continuation) tokens that follow it
// without a special token between them.
class Masker {
 public:
  // Fails when the options are invalid or the tokenizer's special ids fall outside
  // [0, vocab_size) or leave no ordinary token to draw random replacements from.
  static absl::StatusOr<Masker> Create(const tokenizers::Tokenizer& tokenizer,
                                       MaskingOptions options);

  // Masks *input_ids in place and returns labels of the same length: the original id at
  // each predicted position, kIgnoreIndex elsewhere. Ids outside the vocabulary are
  // treated as ordinary single-token words.
  std::vector<int64_t> Mask(std::vector<int64_t>* input_ids, std::mt19937_64& rng) const;

  // How many positions a sequence of `length` tokens predicts at most.
  int64_t NumToPredict(int64_t length) const;

  const MaskingOptions& options() const { return options_; }

 private:
  Masker() = default;

  bool IsCandidate(int64_t id) const;
  bool IsContinuation(int64_t id) const;
  int64_t RandomOrdinaryToken(std::mt19937_64& rng) const;

  MaskingOptions options_;
  int64_t vocab_size_ = 0;
  int64_t cls_id_ = 0;
  int64_t sep_id_ = 0;
  int64_t pad_id_ = 0;
  int64_t mask_id_ = 0;
  std::vector<int64_t> excluded_ids_;  // Sorted, unique special ids (never drawn at random).
  std::vector<bool> is_continuation_;  // By id: the token starts with "##".
};

}  // namespace datasets::mlm

#endif  // DATASETS_MLM_MASKING_H_
