// The dense baseline both compression recipes start from: trains the CNN on Fashion-MNIST and measures it; pass its dense_model.safetensors to the recipes with --dense_model.
// Prints accuracy, sparsity, size and CPU latency before/after and writes results.json and
// results.md into --output_dir.
//
//   bazel run //recipes/vision:train_dense -- --output_dir=$PWD/out/vision/train_dense [--quick]
#include <iostream>

#include "base/cli.h"
#include "recipes/vision/vision_flags.h"
#include "recipes/vision/vision_recipes.h"

int main(int argc, char** argv) {
  base::InitMain(argc, argv,
                 "Usage: train_dense --output_dir=DIR [--quick] [--dense_model=FILE] [--data_dir=DIR]");
  return base::RunMain([]() -> absl::Status {
    absl::StatusOr<recipes::VisionRecipeConfig> config = recipes::VisionConfigFromFlags();
    if (!config.ok()) return config.status();
    absl::StatusOr<recipes::VisionRecipeResult> result =
        recipes::RunVisionRecipe("dense", *config);
    if (!result.ok()) return result.status();
    std::cout << recipes::FormatResult(*result);
    return absl::OkStatus();
  });
}
