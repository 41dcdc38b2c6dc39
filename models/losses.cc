#include "models/losses.h"

#include <ATen/ATen.h>

namespace models {

at::Tensor MaskedLMLoss(const at::Tensor& logits, const at::Tensor& labels) {
  if (logits.dim() == 2) {  // Rows at the predicted positions only (ModelInput::prediction_mask).
    const at::Tensor targets = labels.masked_select(labels != kIgnoreIndex);
    TORCH_CHECK(targets.size(0) == logits.size(0), "MaskedLMLoss: ", logits.size(0),
                " logit rows for ", targets.size(0), " predicted positions of labels ",
                labels.sizes());
    return at::cross_entropy_loss(logits, targets, /*weight=*/{}, at::Reduction::Mean);
  }
  TORCH_CHECK(logits.dim() == 3 && labels.sizes() == logits.sizes().slice(0, 2),
              "MaskedLMLoss: logits ", logits.sizes(), " and labels ", labels.sizes(),
              " do not match");
  return at::cross_entropy_loss(logits.reshape({-1, logits.size(-1)}), labels.reshape({-1}),
                                /*weight=*/{}, at::Reduction::Mean, kIgnoreIndex);
}

at::Tensor QuestionAnsweringLoss(const at::Tensor& start_logits, const at::Tensor& end_logits,
                                 const at::Tensor& start_positions,
                                 const at::Tensor& end_positions) {
  const int64_t ignored = start_logits.size(1);
  const at::Tensor start = start_positions.clamp(0, ignored);
  const at::Tensor end = end_positions.clamp(0, ignored);
  const at::Tensor start_loss =
      at::cross_entropy_loss(start_logits, start, {}, at::Reduction::Mean, ignored);
  const at::Tensor end_loss =
      at::cross_entropy_loss(end_logits, end, {}, at::Reduction::Mean, ignored);
  return (start_loss + end_loss) / 2;
}

at::Tensor SequenceClassificationLoss(const at::Tensor& logits, const at::Tensor& labels,
                                      const BertConfig& config) {
  std::string problem = config.problem_type;
  if (problem.empty()) {
    if (config.num_labels == 1) {
      problem = "regression";
    } else if (at::isIntegralType(labels.scalar_type(), /*includeBool=*/false)) {
      problem = "single_label_classification";
    } else {
      problem = "multi_label_classification";
    }
  }
  if (problem == "regression") {
    const at::Tensor target = labels.to(logits.scalar_type());
    if (config.num_labels == 1) return at::mse_loss(logits.reshape({-1}), target.reshape({-1}));
    return at::mse_loss(logits, target);
  }
  if (problem == "single_label_classification") {
    return at::cross_entropy_loss(logits.reshape({-1, config.num_labels}), labels.reshape({-1}));
  }
  return at::binary_cross_entropy_with_logits(logits, labels.to(logits.scalar_type()));
}

at::Tensor NextSentenceLoss(const at::Tensor& seq_relationship_logits, const at::Tensor& labels) {
  return at::cross_entropy_loss(seq_relationship_logits, labels.reshape({-1}));
}

}  // namespace models
