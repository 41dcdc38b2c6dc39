// BatchNorm folding: merges an inference-mode BatchNorm2d into the convolution before it,
// the standard step before quantizing a CNN (one conv with a bias instead of conv + BN,
// so the INT8 kernel sees the weights the network really applies):
//   f[o]   = gamma[o] / sqrt(running_var[o] + eps)
//   W'[o]  = W[o] * f[o]                      (in place: the same weight tensor)
//   b'[o]  = (b[o] - running_mean[o]) * f[o] + beta[o]
// and the BatchNorm is replaced by an Identity in its parent. Each output channel is only
// scaled, so a pruned (zero) weight stays exactly zero and pruning masks, which hold the
// same weight tensors, still describe the weights.
//
//   std::vector<ConvBnPair> pairs = FindConvBnPairsByName(*model);   // torchvision names
//   ASSIGN_OR_RETURN(std::vector<std::string> folded, FoldBatchNorm(*model, pairs));
//
// The model must call both children through base::ForwardChild (models/vision does) for the
// Identity to take effect. The result equals the eval-mode model; training it afterwards
// trains without BatchNorm.
#ifndef COMPRESSOR_QUANTIZATION_FOLD_BN_H_
#define COMPRESSOR_QUANTIZATION_FOLD_BN_H_

#include <string>
#include <vector>

#include <torch/nn/module.h>

#include "absl/status/statusor.h"

namespace compressor {

struct ConvBnPair {
  std::string conv;  // Module name of a Conv2d, e.g. "layer1.0.conv1".
  std::string bn;    // Module name of the BatchNorm2d applied to its output, "layer1.0.bn1".
};

// Pairs by torchvision's naming: "<prefix>bn<k>" follows "<prefix>conv<k>", and
// "<prefix>downsample.1" follows "<prefix>downsample.0", when both modules exist and are a
// Conv2d and a BatchNorm2d. Other BatchNorms are not paired (list them yourself).
std::vector<ConvBnPair> FindConvBnPairsByName(const torch::nn::Module& model);

// Folds every pair; returns the folded BatchNorm names. All or nothing: a missing module, a
// wrong type, a channel-count mismatch, a BatchNorm without running statistics or affine
// parameters is an error naming the pair, and the model is left unchanged.
absl::StatusOr<std::vector<std::string>> FoldBatchNorm(torch::nn::Module& model,
                                                       const std::vector<ConvBnPair>& pairs);

}  // namespace compressor

#endif  // COMPRESSOR_QUANTIZATION_FOLD_BN_H_
