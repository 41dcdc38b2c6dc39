#include "compressor/pruning/schedule.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace compressor {

absl::Status SparsitySchedule::Validate(const std::string& source) const {
  auto error = [&](const char* key, const auto&... problem) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": ", key, " ", problem...));
  };
  static const char* const kTypes[] = {"zhu_gupta", "cube", "exp", "cos", "linear", "oneshot"};
  if (std::none_of(std::begin(kTypes), std::end(kTypes),
                   [&](const char* t) { return decay_type == t; })) {
    return error("sparsity_decay_type", "is \"", decay_type,
                 "\"; supported: zhu_gupta, cube, exp, cos, linear, oneshot");
  }
  if (!(target_sparsity >= 0.0 && target_sparsity < 1.0)) {
    return error("target_sparsity", "must be in [0, 1), got ", target_sparsity);
  }
  if (!(initial_sparsity >= 0.0 && initial_sparsity <= target_sparsity)) {
    return error("initial_sparsity", "must be in [0, target_sparsity=", target_sparsity,
                 "], got ", initial_sparsity);
  }
  if (start_step < 0) return error("start_step", "must not be negative, got ", start_step);
  if (end_step < start_step) {
    return error("end_step", "(", end_step, ") must not be before start_step (", start_step,
                 ")");
  }
  if (pruning_frequency < 1) {
    return error("pruning_frequency", "must be at least 1, got ", pruning_frequency);
  }
  return absl::OkStatus();
}

double SparsitySchedule::SparsityAt(int64_t step) const {
  if (step < start_step) return 0.0;
  const double s_i = initial_sparsity, s_f = target_sparsity;
  const int64_t n = end_step - start_step;
  if (n == 0 || decay_type == "oneshot" || step >= end_step) return s_f;
  const double x = double(step - start_step) / double(n);  // In [0, 1).
  if (decay_type == "zhu_gupta") return s_f + (s_i - s_f) * std::pow(1.0 - x, 3);
  if (decay_type == "cube") return (s_f - s_i) * std::pow(x, 3) + s_i;
  if (decay_type == "exp") return 1.0 - (1.0 - s_i) * std::pow((1.0 - s_f) / (1.0 - s_i), x);
  if (decay_type == "cos") return (s_f - s_i) * (1.0 - std::cos(x * M_PI / 2.0)) + s_i;
  return s_i + (s_f - s_i) * x;  // linear
}

bool SparsitySchedule::IsPruningStep(int64_t step) const {
  if (step < start_step || step > end_step) return false;
  return step == end_step || (step - start_step) % pruning_frequency == 0;
}

}  // namespace compressor
