#include "datasets/mlm/masking.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "datasets/mlm/rng.h"

namespace datasets::mlm {

absl::Status ValidateMaskingOptions(const MaskingOptions& options) {
  if (!(options.masked_lm_prob > 0.0 && options.masked_lm_prob <= 1.0)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "MaskingOptions.masked_lm_prob must be in (0, 1], got ", options.masked_lm_prob));
  }
  if (options.max_predictions_per_seq < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("MaskingOptions.max_predictions_per_seq must be >= 1, got ",
                     options.max_predictions_per_seq));
  }
  return absl::OkStatus();
}

absl::StatusOr<Masker> Masker::Create(const tokenizers::Tokenizer& tokenizer,
                                      MaskingOptions options) {
  absl::Status status = ValidateMaskingOptions(options);
  if (!status.ok()) return status;
  Masker masker;
  masker.options_ = options;
  masker.vocab_size_ = tokenizer.vocab_size();
  masker.cls_id_ = tokenizer.cls_id();
  masker.sep_id_ = tokenizer.sep_id();
  masker.pad_id_ = tokenizer.pad_id();
  masker.mask_id_ = tokenizer.mask_id();
  const std::pair<const char*, int64_t> specials[] = {{"cls_id", masker.cls_id_},
                                                      {"sep_id", masker.sep_id_},
                                                      {"pad_id", masker.pad_id_},
                                                      {"mask_id", masker.mask_id_},
                                                      {"unk_id", tokenizer.unk_id()}};
  for (const auto& [name, id] : specials) {
    if (id < 0 || id >= masker.vocab_size_) {
      return absl::InvalidArgumentError(absl::StrCat("Masker: tokenizer ", name, " ", id,
                                                     " is outside the vocabulary [0, ",
                                                     masker.vocab_size_, ")"));
    }
    masker.excluded_ids_.push_back(id);
  }
  std::sort(masker.excluded_ids_.begin(), masker.excluded_ids_.end());
  masker.excluded_ids_.erase(std::unique(masker.excluded_ids_.begin(), masker.excluded_ids_.end()),
                             masker.excluded_ids_.end());
  if (masker.vocab_size_ <= static_cast<int64_t>(masker.excluded_ids_.size())) {
    return absl::InvalidArgumentError(
        absl::StrCat("Masker: vocabulary of ", masker.vocab_size_,
                     " tokens has no ordinary token besides the special ones"));
  }
  // Looked up once: IdToToken may build a string per call.
  masker.is_continuation_.resize(static_cast<size_t>(masker.vocab_size_));
  for (int64_t id = 0; id < masker.vocab_size_; ++id) {
    masker.is_continuation_[static_cast<size_t>(id)] =
        absl::StartsWith(tokenizer.IdToToken(id), "##");
  }
  return masker;
}

int64_t Masker::NumToPredict(int64_t length) const {
  const auto by_share =
      static_cast<int64_t>(std::llround(static_cast<double>(length) * options_.masked_lm_prob));
  return std::min(options_.max_predictions_per_seq, std::max<int64_t>(1, by_share));
}

bool Masker::IsCandidate(int64_t id) const {
  return id != cls_id_ && id != sep_id_ && id != pad_id_ && id != mask_id_;
}

bool Masker::IsContinuation(int64_t id) const {
  return id >= 0 && id < vocab_size_ && is_continuation_[static_cast<size_t>(id)];
}

int64_t Masker::RandomOrdinaryToken(std::mt19937_64& rng) const {
  // Draw among the ordinary ids by rank, then step over the excluded ids below it.
  const uint64_t ordinary = static_cast<uint64_t>(vocab_size_) - excluded_ids_.size();
  auto id = static_cast<int64_t>(UniformInt(rng, ordinary));
  for (const int64_t excluded : excluded_ids_) {
    if (id >= excluded) ++id;
  }
  return id;
}

std::vector<int64_t> Masker::Mask(std::vector<int64_t>* input_ids, std::mt19937_64& rng) const {
  std::vector<int64_t>& ids = *input_ids;
  std::vector<int64_t> labels(ids.size(), kIgnoreIndex);
  // Candidate words as [begin, end) position ranges.
  std::vector<std::pair<size_t, size_t>> words;
  bool previous_is_candidate = false;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (!IsCandidate(ids[i])) {
      previous_is_candidate = false;
      continue;
    }
    if (options_.do_whole_word_mask && previous_is_candidate && IsContinuation(ids[i])) {
      words.back().second = i + 1;
    } else {
      words.emplace_back(i, i + 1);
    }
    previous_is_candidate = true;
  }
  Shuffle(words, rng);

  const auto num_to_predict = static_cast<size_t>(NumToPredict(static_cast<int64_t>(ids.size())));
  size_t num_predicted = 0;
  for (const auto& [begin, end] : words) {
    if (num_predicted >= num_to_predict) break;
    if (num_predicted + (end - begin) > num_to_predict) continue;
    for (size_t i = begin; i < end; ++i) {
      labels[i] = ids[i];
      if (UniformDouble(rng) < 0.8) {
        ids[i] = mask_id_;
      } else if (UniformDouble(rng) < 0.5) {
        // Kept: the model must also predict tokens it can see.
      } else {
        ids[i] = RandomOrdinaryToken(rng);
      }
      ++num_predicted;
    }
  }
  return labels;
}

}  // namespace datasets::mlm
