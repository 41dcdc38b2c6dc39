// Every key a recipe may hold, as dotted paths ("stages[].training.learning_rate"), taken
// from the same field tables LoadRecipe binds with; the run binary prints them
// (--list_keys) and a test checks recipes/README.md documents each one.
#ifndef RECIPES_RECIPE_SCHEMA_H_
#define RECIPES_RECIPE_SCHEMA_H_

#include <string>
#include <vector>

namespace recipes {

std::vector<std::string> RecipeKeyPaths();

}  // namespace recipes

#endif  // RECIPES_RECIPE_SCHEMA_H_
