// Test weights whose outputs are O(1): with BERT's std-0.02 initialisation the logits are
// ~0.05, and a wrong constant in an exported graph or a client's run would hide under any
// absolute tolerance.
//
//   models::UnitGainLinears(*model);  // then compare outputs to 1e-4
#ifndef MODELS_TEST_WEIGHTS_H_
#define MODELS_TEST_WEIGHTS_H_

#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>
#include <torch/utils.h>

#include <cmath>

#include "layers/linear.h"

namespace models {

// Re-initialises every Linear with unit-gain weights (std 1/sqrt(in)) and visible biases
// (std 0.1), from the current torch seed.
inline void UnitGainLinears(torch::nn::Module& model) {
  torch::NoGradGuard no_grad;
  for (const auto& item : model.named_modules()) {
    if (auto* linear = item.value()->as<layers::Linear>()) {
      linear->weight.normal_(0, 1.0 / std::sqrt(double(linear->weight.size(1))));
      linear->bias.normal_(0, 0.1);
    }
  }
}

}  // namespace models

#endif  // MODELS_TEST_WEIGHTS_H_
