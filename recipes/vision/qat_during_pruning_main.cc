// QAT during pruning, one shot: combine(magnitude pruning, quantization-aware training) over --prune_epochs (BatchNorm folded at the start), converted to oneDNN INT8 at the end.
// Prints accuracy, sparsity, size and CPU latency before/after and writes results.json and
// results.md into --output_dir.
//
//   bazel run //recipes/vision:qat_during_pruning -- --output_dir=$PWD/out/vision/qat_during_pruning [--quick]
#include <iostream>

#include "base/cli.h"
#include "recipes/vision/vision_flags.h"
#include "recipes/vision/vision_recipes.h"

int main(int argc, char** argv) {
  base::InitMain(argc, argv,
                 "Usage: qat_during_pruning --output_dir=DIR [--quick] [--dense_model=FILE] [--data_dir=DIR]");
  return base::RunMain([]() -> absl::Status {
    absl::StatusOr<recipes::VisionRecipeConfig> config = recipes::VisionConfigFromFlags();
    if (!config.ok()) return config.status();
    absl::StatusOr<recipes::VisionRecipeResult> result =
        recipes::RunVisionRecipe("qat_during_pruning", *config);
    if (!result.ok()) return result.status();
    std::cout << recipes::FormatResult(*result);
    return absl::OkStatus();
  });
}
