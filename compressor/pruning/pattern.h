// Sparsity patterns: which groups of weights are pruned together. A pattern turns
// per-weight importance scores into one score per prunable unit and a set of pruned units
// back into a weight mask, so criteria (magnitude, snip_momentum) and scope (local,
// global) work the same for every pattern.
//
// Names as INC users write them: "unstructured" (alias "1x1"); "NxM" blocks of N output
// rows by M input columns ("4x1", "1x4", "2x2"); "N:M" (keep N of every M consecutive
// input weights, e.g. "2:4"); "channelx1" (all rows x 1 column: a whole input channel)
// and "1xchannel" (a whole output channel, i.e. a row). Weights of more than two
// dimensions (convolutions) are viewed as [out, everything else].
//
//   ASSIGN_OR_RETURN(auto pattern, PruningPattern::Create("4x1"));
//   at::Tensor unit_scores = pattern->UnitScores(weight.abs());
#ifndef COMPRESSOR_PRUNING_PATTERN_H_
#define COMPRESSOR_PRUNING_PATTERN_H_

#include <memory>
#include <string>

#include <ATen/core/Tensor.h>

#include "absl/status/statusor.h"

namespace compressor {

class PruningPattern {
 public:
  virtual ~PruningPattern() = default;

  static absl::StatusOr<std::unique_ptr<PruningPattern>> Create(const std::string& name);

  virtual std::string name() const = 0;
  // Whether a weight of this shape can be tiled by the pattern; the error names `layer`.
  virtual absl::Status CheckShape(at::IntArrayRef shape, const std::string& layer) const = 0;
  // Per-weight scores (weight's shape) -> one score per unit, 1-D. Low scores go first.
  virtual at::Tensor UnitScores(const at::Tensor& scores) const = 0;
  // Boolean 1-D `pruned` over units -> keep-mask (bool, weight's shape). `scores` decides
  // which weights inside a pruned N:M group are dropped.
  virtual at::Tensor KeepMask(const at::Tensor& pruned, const at::Tensor& scores) const = 0;
  // Weights zeroed per pruned unit, and the sparsity when every unit is pruned.
  virtual int64_t WeightsPerPrunedUnit(at::IntArrayRef shape) const = 0;
  virtual double MaxSparsity() const { return 1.0; }
};

}  // namespace compressor

#endif  // COMPRESSOR_PRUNING_PATTERN_H_
