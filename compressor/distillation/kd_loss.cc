#include "compressor/distillation/kd_loss.h"

#include <algorithm>

#include <ATen/ATen.h>

namespace compressor {
namespace {

// Mean of `per_position` over the positions `mask` selects (all when undefined). An empty
// selection gives 0 rather than the NaN of an empty mean: a batch without any labelled
// MLM position must not poison the running loss.
at::Tensor MaskedMean(const at::Tensor& per_position, const at::Tensor& mask, const char* caller) {
  if (!mask.defined()) return per_position.mean();
  TORCH_CHECK(mask.sizes() == per_position.sizes(), caller, ": mask ", mask.sizes(),
              " must have the input's shape without the last dim ", per_position.sizes());
  TORCH_CHECK(mask.scalar_type() == at::kBool, caller, ": mask must be bool, got ",
              mask.scalar_type());
  const at::Tensor selected = per_position.masked_select(mask);
  return selected.sum() / static_cast<double>(std::max<int64_t>(selected.numel(), 1));
}

void CheckSameShape(const at::Tensor& student, const at::Tensor& teacher, const char* caller) {
  TORCH_CHECK(student.defined() && teacher.defined(), caller,
              ": student and teacher tensors must be defined");
  TORCH_CHECK(student.dim() >= 1 && student.sizes() == teacher.sizes(), caller, ": student ",
              student.sizes(), " and teacher ", teacher.sizes(), " must have one shape");
}

}  // namespace

bool IsLogitLossType(const std::string& loss_type) {
  return loss_type == "CE" || loss_type == "KL" || loss_type == "MSE";
}

bool IsLayerLossType(const std::string& loss_type) {
  return loss_type == "MSE" || loss_type == "L1" || loss_type == "KL";
}

at::Tensor LogitDistillationLoss(const at::Tensor& student_logits, const at::Tensor& teacher_logits,
                                 const std::string& loss_type, double temperature,
                                 const at::Tensor& mask) {
  constexpr const char* kCaller = "LogitDistillationLoss";
  CheckSameShape(student_logits, teacher_logits, kCaller);
  TORCH_CHECK(temperature > 0, kCaller, ": temperature must be > 0, got ", temperature);
  if (loss_type == "MSE") {
    return MaskedMean((student_logits - teacher_logits).pow(2).mean(-1), mask, kCaller);
  }
  TORCH_CHECK(loss_type == "CE" || loss_type == "KL", kCaller, ": unknown loss type \"", loss_type,
              "\"; supported: CE, KL, MSE");
  const at::Tensor log_q = at::log_softmax(student_logits / temperature, -1);
  const at::Tensor log_p = at::log_softmax(teacher_logits / temperature, -1);
  const at::Tensor p = log_p.exp();
  // KL from log-probabilities on both sides: exact where p underflows to 0 (0 * -inf would
  // be NaN with log(p)).
  const at::Tensor per_position =
      loss_type == "CE" ? -(p * log_q).sum(-1) : (p * (log_p - log_q)).sum(-1);
  return MaskedMean(per_position, mask, kCaller) * (temperature * temperature);
}

at::Tensor LayerDistillationLoss(const at::Tensor& student, const at::Tensor& teacher,
                                 const std::string& loss_type, const torch::nn::Linear& projection,
                                 const at::Tensor& mask) {
  constexpr const char* kCaller = "LayerDistillationLoss";
  at::Tensor projected = student;
  if (!projection.is_empty()) {
    TORCH_CHECK(loss_type != "KL", kCaller,
                ": a projection's output is not a distribution; KL needs none");
    const at::Tensor& weight = projection->weight;
    TORCH_CHECK(student.defined() && student.dim() >= 1 && student.size(-1) == weight.size(1),
                kCaller, ": student ", student.defined() ? student.sizes() : at::IntArrayRef{},
                " does not fit the projection's weight ", weight.sizes(),
                " (last dim must be in_features)");
    projected = projection.ptr()->forward(student);
  }
  CheckSameShape(projected, teacher, kCaller);
  if (loss_type == "MSE") return MaskedMean((projected - teacher).pow(2).mean(-1), mask, kCaller);
  if (loss_type == "L1") return MaskedMean((projected - teacher).abs().mean(-1), mask, kCaller);
  TORCH_CHECK(loss_type == "KL", kCaller, ": unknown loss type \"", loss_type,
              "\"; supported: MSE, L1, KL");
  // xlogy(t, t) is 0 where t is 0, as KL's 0 * log 0 must be.
  const at::Tensor per_position =
      (at::xlogy(teacher, teacher) - teacher * projected.clamp_min(1e-12).log()).sum(-1);
  return MaskedMean(per_position, mask, kCaller);
}

}  // namespace compressor
