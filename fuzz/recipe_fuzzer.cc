// The YAML recipe loader (recipes/recipe.h LoadRecipe) on arbitrary file contents, with and
// without the "quick" profile.
#include <cstddef>
#include <cstdint>

#include "fuzz/in_memory_file.h"
#include "recipes/recipe.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::InMemoryFile file(data, size);
  recipes::RecipeOverrides overrides;
  (void)recipes::LoadRecipe(file.path(), overrides);
  overrides.profile = "quick";
  overrides.set = {{"stages.0.training.max_steps", "2"}};
  (void)recipes::LoadRecipe(file.path(), overrides);
  return 0;
}
