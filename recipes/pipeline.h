// Runs a parsed recipe (recipe.h): every stage in order — build or load the model, build the
// task's data and the shots' components, train through compressor::Scheduler with the
// built-in Trainer, evaluate, save the output model — then writes the report (results.json,
// results.md, plots) when the recipe has one. A stage is finished when its
// <output_dir>/<stage>/result.json exists (written atomically, last); --resume skips
// finished stages and continues an interrupted one from its Trainer checkpoint. With a
// process group (RunOptions::process_group, e.g. `recipes:run --nproc_per_node=2`) every
// rank runs it data-parallel.
//
//   ASSIGN_OR_RETURN(Recipe recipe, LoadRecipe(path, overrides));
//   RunOptions options;
//   options.resume = true;
//   ASSIGN_OR_RETURN(RunSummary run, RunRecipe(recipe, options));
#ifndef RECIPES_PIPELINE_H_
#define RECIPES_PIPELINE_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "recipes/recipe.h"

namespace compressor {
class ProcessGroup;
}  // namespace compressor

namespace recipes {

struct RunOptions {
  bool resume = false;   // Skip finished stages; continue an interrupted one from its checkpoint.
  bool dry_run = false;  // Validate, build every stage's model/data/components, print the plan.
  bool progress = true;  // Progress lines on stderr.
  // Data-parallel run (not owned; null: one process). Every rank runs every stage: the
  // training shots on its shard of the batches (global batch = batch_size x world size x
  // gradient_accumulation_steps) with gradients averaged over the ranks; calibration and
  // evaluation on the same, whole data on every rank (identical models give identical
  // results). Rank 0 alone writes checkpoints, models, result.json and the report; stage
  // boundaries are barriers, so every rank sees the same files and resumes from them.
  compressor::ProcessGroup* process_group = nullptr;
  // Data-parallel: start each gradient bucket's all-reduce from autograd hooks as soon as
  // backward produced it (overlapped with the rest of backward), else all after backward.
  bool overlap_allreduce = true;
};

struct StageResult {
  std::string name;
  bool skipped = false;       // Finished in an earlier run (resume).
  double seconds = 0.0;
  std::string model_dir;      // Where its output model is.
  bool int8 = false;          // The output model runs INT8 Linears.
  std::map<std::string, double> metrics_before;
  std::map<std::string, double> metrics_after;
  double sparsity = 0.0;      // Measured over the prunable Linear weights of the output.
};

struct RunSummary {
  std::vector<StageResult> stages;
  std::string plan;          // The dry run's plan (shots, steps, schedules), as printed.
  std::string results_json;  // <output_dir>/results.json (with a report).
  std::string results_md;    // <output_dir>/results.md.
  double seconds = 0.0;
};

// Runs (or, with dry_run, plans) every stage in order and writes the report.
absl::StatusOr<RunSummary> RunRecipe(const Recipe& recipe, const RunOptions& options);

}  // namespace recipes

#endif  // RECIPES_PIPELINE_H_
