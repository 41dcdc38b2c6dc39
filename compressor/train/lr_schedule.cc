#include "compressor/train/lr_schedule.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace compressor {

absl::Status LrSchedule::Validate(const std::string& type) {
  if (type == "linear" || type == "constant" || type == "constant_with_warmup" ||
      type == "cosine") {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "lr_scheduler_type is \"", type,
      "\"; supported: linear, constant, constant_with_warmup, cosine"));
}

// Hugging Face's get_*_schedule_with_warmup lambdas, on steps counted from the last rewind.
double LrSchedule::At(int64_t step) const {
  if (type_ == "constant") return base_lr_;
  const double k = double(std::max<int64_t>(0, step - origin_));
  const double total = double(std::max<int64_t>(1, total_steps_ - origin_));
  const double warmup = double(warmup_steps_);
  if (k < warmup) return base_lr_ * k / std::max(1.0, warmup);
  if (type_ == "constant_with_warmup") return base_lr_;
  const double rest = std::max(1.0, total - warmup);
  if (type_ == "cosine") {
    const double progress = std::min(1.0, (k - warmup) / rest);
    return base_lr_ * 0.5 * (1.0 + std::cos(M_PI * progress));
  }
  return base_lr_ * std::max(0.0, (total - k) / rest);  // linear
}

}  // namespace compressor
