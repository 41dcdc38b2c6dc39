// Prune, then post-training quantization: magnitude pruning of the CNN's convolutions to --target_sparsity over --prune_epochs, then BatchNorm folding and static PTQ with calibration, converted to oneDNN INT8.
// Prints accuracy, sparsity, size and CPU latency before/after and writes results.json and
// results.md into --output_dir.
//
//   bazel run //recipes/vision:prune_then_ptq -- --output_dir=$PWD/out/vision/prune_then_ptq [--quick]
#include <iostream>

#include "base/cli.h"
#include "recipes/vision/vision_flags.h"
#include "recipes/vision/vision_recipes.h"

int main(int argc, char** argv) {
  base::InitMain(argc, argv,
                 "Usage: prune_then_ptq --output_dir=DIR [--quick] [--dense_model=FILE] [--data_dir=DIR]");
  return base::RunMain([]() -> absl::Status {
    absl::StatusOr<recipes::VisionRecipeConfig> config = recipes::VisionConfigFromFlags();
    if (!config.ok()) return config.status();
    absl::StatusOr<recipes::VisionRecipeResult> result =
        recipes::RunVisionRecipe("prune_then_ptq", *config);
    if (!result.ok()) return result.status();
    std::cout << recipes::FormatResult(*result);
    return absl::OkStatus();
  });
}
