#include "benchmarks/magnitude_prune.h"

#include <ATen/ATen.h>
#include <torch/nn/modules/linear.h>

#include "absl/strings/str_cat.h"
#include "layers/linear.h"

namespace benchmarks {

absl::Status MagnitudePrune(torch::nn::Module& model, double sparsity, const std::string& pattern,
                            const std::string& name_filter) {
  if (!(sparsity >= 0.0 && sparsity < 1.0)) {
    return absl::InvalidArgumentError(absl::StrCat("prune sparsity ", sparsity, ": expected [0, 1)"));
  }
  if (pattern != "unstructured" && pattern != "4x1" && pattern != "1x4") {
    return absl::InvalidArgumentError(
        absl::StrCat("prune pattern \"", pattern, "\": expected unstructured, 4x1 or 1x4"));
  }
  if (sparsity == 0.0) return absl::OkStatus();
  c10::NoGradGuard no_grad;
  for (const auto& item : model.named_modules()) {
    auto* linear = item.value()->as<layers::Linear>();
    if (linear == nullptr || item.key().find(name_filter) == std::string::npos) continue;
    at::Tensor w = linear->weight;
    const int64_t n = w.size(0), k = w.size(1);
    at::Tensor score = w.abs();
    if (pattern == "4x1") {
      if (n % 4 != 0) {
        return absl::InvalidArgumentError(absl::StrCat(item.key(), ": ", n, " rows are not a multiple of 4"));
      }
      score = score.reshape({n / 4, 4, k}).sum(1, true).expand({n / 4, 4, k}).reshape({n, k});
    } else if (pattern == "1x4") {
      if (k % 4 != 0) {
        return absl::InvalidArgumentError(absl::StrCat(item.key(), ": ", k, " columns are not a multiple of 4"));
      }
      score = score.reshape({n, k / 4, 4}).sum(2, true).expand({n, k / 4, 4}).reshape({n, k});
    }
    const int64_t drop = static_cast<int64_t>(static_cast<double>(n * k) * sparsity);
    if (drop == 0) continue;
    const at::Tensor threshold = std::get<0>(score.flatten().kthvalue(drop));
    w.mul_(score > threshold);
  }
  return absl::OkStatus();
}

}  // namespace benchmarks
