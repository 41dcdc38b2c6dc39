// The training losses Hugging Face's heads compute when labels are given, as free
// functions over ModelOutput fields so a task can pick the one matching its head.
#ifndef MODELS_LOSSES_H_
#define MODELS_LOSSES_H_

#include <ATen/core/Tensor.h>

#include "base/labels.h"
#include "models/bert_config.h"

namespace models {

using base::kIgnoreIndex;  // Label id that masked-LM losses ignore (positions not masked).

// Cross-entropy over [b, s, vocab] logits against [b, s] labels, ignoring kIgnoreIndex; or
// over [n, vocab] rows computed only at the n positions whose label is not kIgnoreIndex
// (ModelInput::prediction_mask = labels != kIgnoreIndex), which gives the same value.
at::Tensor MaskedLMLoss(const at::Tensor& logits, const at::Tensor& labels);

// Mean of start and end cross-entropies; positions outside the sequence are clamped to
// seq_len and ignored, as Hugging Face does for answers cut off by truncation.
at::Tensor QuestionAnsweringLoss(const at::Tensor& start_logits, const at::Tensor& end_logits,
                                 const at::Tensor& start_positions,
                                 const at::Tensor& end_positions);

// problem_type decides, or when empty: num_labels == 1 -> regression (MSE), integer labels
// -> single-label cross-entropy, float multi-hot labels -> BCE with logits.
at::Tensor SequenceClassificationLoss(const at::Tensor& logits, const at::Tensor& labels,
                                      const BertConfig& config);

// Next-sentence prediction cross-entropy over [b, 2] logits.
at::Tensor NextSentenceLoss(const at::Tensor& seq_relationship_logits, const at::Tensor& labels);

}  // namespace models

#endif  // MODELS_LOSSES_H_
