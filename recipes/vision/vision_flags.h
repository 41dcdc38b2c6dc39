// The abseil flags the vision recipe binaries share, turned into a VisionRecipeConfig.
#ifndef RECIPES_VISION_VISION_FLAGS_H_
#define RECIPES_VISION_VISION_FLAGS_H_

#include "absl/status/statusor.h"
#include "recipes/vision/vision_recipes.h"

namespace recipes {

// Reads the flags (defaults as VisionRecipeConfig; --quick applies ApplyQuick() first, and
// explicitly set flags override it). Errors name the flag.
absl::StatusOr<VisionRecipeConfig> VisionConfigFromFlags();

}  // namespace recipes

#endif  // RECIPES_VISION_VISION_FLAGS_H_
