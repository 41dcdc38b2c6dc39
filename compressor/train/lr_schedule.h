// Learning-rate schedules (Hugging Face names): "linear" (warmup, then linear decay to 0),
// "constant", "constant_with_warmup", "cosine". Rewind() restarts the schedule at a step,
// as Prune Once for All's learning-rate rewinding does at every mask update.
#ifndef COMPRESSOR_TRAIN_LR_SCHEDULE_H_
#define COMPRESSOR_TRAIN_LR_SCHEDULE_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"

namespace compressor {

class LrSchedule {
 public:
  // `total_steps` is the length of the whole run; warmup_steps counts from each restart.
  LrSchedule(std::string type, double base_lr, int64_t warmup_steps, int64_t total_steps)
      : type_(std::move(type)), base_lr_(base_lr), warmup_steps_(warmup_steps),
        total_steps_(total_steps) {}

  static absl::Status Validate(const std::string& type);

  // Learning rate for optimizer step `step` (0-based).
  double At(int64_t step) const;
  // The schedule starts over at `step`: warmup again, then decay over the remaining steps.
  void Rewind(int64_t step) { origin_ = step; }
  int64_t origin() const { return origin_; }

 private:
  std::string type_;
  double base_lr_;
  int64_t warmup_steps_;
  int64_t total_steps_;
  int64_t origin_ = 0;
};

}  // namespace compressor

#endif  // COMPRESSOR_TRAIN_LR_SCHEDULE_H_
