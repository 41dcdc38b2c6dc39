// How much of a layer is pruned at a given training step: the sparsity schedules users
// know from INC (exp, cos, cube, linear) and the paper's Zhu & Gupta cubic, plus which
// steps recompute masks. Kept apart from pruning criteria and patterns, like LR schedules
// are kept apart from optimizers.
//
//   SparsitySchedule schedule{.decay_type = "zhu_gupta", .initial_sparsity = 0,
//                             .target_sparsity = 0.9, .start_step = 0, .end_step = 80000,
//                             .pruning_frequency = 1000};
//   double s = schedule.SparsityAt(40000);   // 0.7875
#ifndef COMPRESSOR_PRUNING_SCHEDULE_H_
#define COMPRESSOR_PRUNING_SCHEDULE_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"

namespace compressor {

struct SparsitySchedule {
  // zhu_gupta: s_f + (s_i - s_f)(1 - k/n)^3 (Zhu & Gupta 2017; Prune Once for All).
  // cube (INC): (s_f - s_i)(k/n)^3 + s_i.   exp (INC): 1 - (1 - s_i)((1 - s_f)/(1 - s_i))^(k/n).
  // cos (INC): (s_f - s_i)(1 - cos(k/n * pi/2)) + s_i.   linear: s_i + (s_f - s_i) k/n.
  // oneshot: s_f from start_step on.   (k = step - start_step, n = end_step - start_step.)
  std::string decay_type = "zhu_gupta";
  double initial_sparsity = 0.0;  // s_i, in effect at start_step.
  double target_sparsity = 0.9;   // s_f, reached at end_step.
  int64_t start_step = 0;         // First step that prunes.
  int64_t end_step = 0;           // Step at which target_sparsity is reached.
  int64_t pruning_frequency = 1;  // Masks are recomputed every this many steps.

  // Checks ranges (sparsities in [0, 1), end >= start, frequency >= 1, known decay type);
  // `source` prefixes messages, e.g. the recipe file and key.
  absl::Status Validate(const std::string& source) const;

  // Target sparsity at `step` (clamped to [start, end]); 0 before start_step.
  double SparsityAt(int64_t step) const;

  // True at the steps that recompute masks: start_step, start_step + frequency, ...,
  // and end_step itself.
  bool IsPruningStep(int64_t step) const;
};

}  // namespace compressor

#endif  // COMPRESSOR_PRUNING_SCHEDULE_H_
