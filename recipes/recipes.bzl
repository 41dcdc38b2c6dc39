"""recipe_binary: a named `bazel run` target for one shipped recipe.

    recipe_binary(name = "prune_once_for_all", recipe = "prune_once_for_all.yaml")

makes `bazel run //recipes:prune_once_for_all [-- --quick --resume ...]` the runner
(run_main.cc) with --recipe=recipes/prune_once_for_all.yaml; the YAML is a data dependency,
so editing it never needs a rebuild and the path is the same in the runfiles tree and in
the workspace root the runner works in.
"""

load("//third_party:copts.bzl", "COPTS")

def recipe_binary(name, recipe, visibility = None):
    native.cc_binary(
        name = name,
        args = ["--recipe=$(location %s)" % recipe],
        copts = COPTS,
        data = [recipe],
        visibility = visibility,
        deps = [":run_main"],
    )
