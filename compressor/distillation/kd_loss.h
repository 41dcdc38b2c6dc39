// Knowledge-distillation losses between a student's and a teacher's tensors, in INC's
// vocabulary: logit losses "CE", "KL", "MSE" at a temperature T (Hinton et al.; CE and KL
// are scaled by T^2 so their gradients keep the same magnitude as T changes), and
// intermediate-layer losses "MSE", "L1", "KL" on hidden states or attention
// probabilities, optionally through a learned projection when the widths differ.
//
//   // QA: start logits [B, S], softmax over S; MLM: [B, S, V] with the -100 labels masked.
//   at::Tensor kd = LogitDistillationLoss(student_logits, teacher_logits.detach(), "KL",
//                                         /*temperature=*/2.0, labels.ne(-100));
//   at::Tensor hidden = LayerDistillationLoss(student_hidden, teacher_hidden, "MSE",
//                                             projection);  // Linear(256 -> 768).
//
// Both functions take the teacher as the fixed target: callers detach it when it must
// not receive gradients. Shapes are checked with TORCH_CHECK (c10::Error).
#ifndef COMPRESSOR_DISTILLATION_KD_LOSS_H_
#define COMPRESSOR_DISTILLATION_KD_LOSS_H_

#include <string>

#include <ATen/core/Tensor.h>
#include <torch/nn/modules/linear.h>

namespace compressor {

// True for "CE", "KL", "MSE".
bool IsLogitLossType(const std::string& loss_type);
// True for "MSE", "L1", "KL".
bool IsLayerLossType(const std::string& loss_type);

// Distillation loss between logits of shape [..., C] (a distribution over the last dim),
// averaged over the positions (all leading dims):
//   "CE":  T^2 * -sum_c softmax(t/T)_c * log_softmax(s/T)_c
//   "KL":  T^2 * sum_c softmax(t/T)_c * (log_softmax(t/T)_c - log_softmax(s/T)_c)
//   "MSE": mean over C of (s - t)^2 on the raw logits (no temperature, no scaling).
// `mask` (bool, the logits' shape without the last dim) selects the positions that count;
// when no position is selected the loss is 0. Undefined = every position.
at::Tensor LogitDistillationLoss(const at::Tensor& student_logits, const at::Tensor& teacher_logits,
                                 const std::string& loss_type, double temperature,
                                 const at::Tensor& mask = {});

// Loss between intermediate tensors [..., H] (hidden states) or [..., L] (attention
// probabilities), averaged over the positions (all leading dims):
//   "MSE": mean over H of (s - t)^2;  "L1": mean over H of |s - t|;
//   "KL":  sum_c t_c * (log t_c - log s_c) for probabilities (KL(teacher || student));
//          student probabilities are clamped to 1e-12 first, so exactly-zero attention
//          (masked keys) gives a finite loss and finite gradients.
// A defined `projection` maps the student's last dim to the teacher's first (for a
// narrower student); it is not meaningful with "KL", whose inputs must be probabilities.
// `mask` as for LogitDistillationLoss.
at::Tensor LayerDistillationLoss(const at::Tensor& student, const at::Tensor& teacher,
                                 const std::string& loss_type,
                                 const torch::nn::Linear& projection = nullptr,
                                 const at::Tensor& mask = {});

}  // namespace compressor

#endif  // COMPRESSOR_DISTILLATION_KD_LOSS_H_
