// One-shot magnitude pruning of a model's Linears for benchmarks and the latency tool: makes
// random (or trained-dense) weights as sparse as a pruned model would be, without training.
// Real pruning (schedules, criteria, masks during fine-tuning) is compressor/pruning.
//
//   RETURN_IF_ERROR(benchmarks::MagnitudePrune(*model, 0.9, "4x1", "encoder"));
#ifndef BENCHMARKS_MAGNITUDE_PRUNE_H_
#define BENCHMARKS_MAGNITUDE_PRUNE_H_

#include <string>

#include <torch/nn/module.h>

#include "absl/status/status.h"

namespace benchmarks {

// Zeroes, in every torch::nn::Linear whose name contains `name_filter`, the `sparsity`
// fraction of weights with the smallest magnitude, in units of `pattern`: "unstructured"
// (single weights), "4x1" (4 consecutive output rows x 1 input column) or "1x4" (1 row x 4
// consecutive inputs), scored by the sum of |w| over the unit. InvalidArgument for an
// unknown pattern, a sparsity outside [0, 1), or a shape the pattern does not tile.
absl::Status MagnitudePrune(torch::nn::Module& model, double sparsity, const std::string& pattern,
                            const std::string& name_filter);

}  // namespace benchmarks

#endif  // BENCHMARKS_MAGNITUDE_PRUNE_H_
