// Label conventions shared by the data pipelines, the models' losses and the compressor's
// losses, so that a "no label" position written by one is skipped by all the others.
//
//   labels.masked_fill_(~predicted, base::kIgnoreIndex);
#ifndef BASE_LABELS_H_
#define BASE_LABELS_H_

#include <cstdint>

namespace base {

// Label of positions a loss ignores: PyTorch CrossEntropyLoss's default ignore_index, which
// Hugging Face's data collators write for tokens that are not predicted.
inline constexpr int64_t kIgnoreIndex = -100;

}  // namespace base

#endif  // BASE_LABELS_H_
