// recipes:run — loads a YAML recipe (recipe.h), applies the command line's overrides and runs
// it (pipeline.h): every stage in order, the report at the end.
//
//   bazel run //recipes:run -- --recipe=recipes/prune_once_for_all.yaml --quick
//   bazel run //recipes:run -- --recipe=recipes/full_scale/squad.yaml --dry_run
//       --model_dir=/models/bert-base-uncased-sparse-90 --data_dir=/data
//   bazel run //recipes:run -- --recipe=... --set stages.teacher.training.max_steps=20
//       --set=stages.qa.task.loader.batch_size=8,seed=3
//   bazel run //recipes:run -- --recipe=... --nproc_per_node=2 [--resume]
//
// Data parallel: --nproc_per_node=N makes this process a launcher (compressor/distributed/
// local_launcher.h) that re-executes the runner as N local ranks with the torchrun
// environment; every rank runs the recipe data-parallel (pipeline.h RunOptions). A process
// started with RANK/WORLD_SIZE/... already set (tools/launch.sh, one launcher per host for
// several machines) is one rank.
//
// Paths: under `bazel run` (BUILD_WORKSPACE_DIRECTORY set) the program works in the
// workspace root, so a recipe's relative paths (data/..., out/...) mean the checkout's
// directories; relative paths given on the command line (--recipe, --*_dir) mean the
// directory `bazel run` was invoked from (BUILD_WORKING_DIRECTORY), and --recipe falls back
// to the workspace root. Run directly, everything is relative to the current directory.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/cli.h"
#include "base/status_macros.h"
#include "compressor/distributed/local_launcher.h"
#include "compressor/distributed/process_group.h"
#include "layers/fp32_backend.h"
#include "recipes/pipeline.h"
#include "recipes/recipe.h"
#include "recipes/recipe_schema.h"

ABSL_FLAG(std::string, recipe, "", "The recipe YAML file.");
// Parsed from argv by CollectSetFlags (abseil keeps only the last occurrence of a flag, and
// splits lists on every comma, also inside [a, b] values); declared for --help.
ABSL_FLAG(std::vector<std::string>, set, {},
          "key=value override of the recipe (dotted key; stages by name or index; value as "
          "YAML, e.g. [a, b]); repeatable, or comma-separated key=value pairs");
ABSL_FLAG(std::string, profile, "", "Applies the recipe's profiles.<name> before --set.");
ABSL_FLAG(bool, quick, false, "Same as --profile=quick.");
ABSL_FLAG(std::string, output_dir, "", "Replaces the recipe's output_dir (${output_dir}).");
ABSL_FLAG(std::string, data_dir, "", "Replaces the recipe's data_dir (${data_dir}).");
ABSL_FLAG(std::string, model_dir, "", "Replaces the recipe's model_dir (${model_dir}).");
ABSL_FLAG(std::string, teacher_dir, "", "Replaces the recipe's teacher_dir (${teacher_dir}).");
ABSL_FLAG(bool, resume, false,
          "Skip finished stages and continue an interrupted one from its checkpoint.");
ABSL_FLAG(bool, dry_run, false,
          "Validate, build every stage's model, data and components, print the plan; no "
          "training.");
ABSL_FLAG(bool, progress, true, "Progress lines on stderr.");
ABSL_FLAG(bool, export_onnx, false,
          "Every stage also writes onnx/model.onnx into its model directory (sets "
          "defaults.export_onnx; a stage's own export_onnx wins).");
ABSL_FLAG(bool, list_keys, false, "Print every key a recipe may hold and exit.");
ABSL_FLAG(int64_t, nproc_per_node, 1,
          "Data parallel: start this many local ranks of the runner (like torchrun); each "
          "trains on its shard of every batch, rank 0 writes the outputs.");
ABSL_FLAG(std::string, master_addr, "",
          "Data parallel: rank 0's host (default: MASTER_ADDR, else 127.0.0.1).");
ABSL_FLAG(int64_t, master_port, -1,
          "Data parallel: rank 0's TCPStore port (default: MASTER_PORT; with "
          "--nproc_per_node, else a free port).");
ABSL_FLAG(double, dist_timeout, 300,
          "Data parallel: seconds after which a rendezvous or collective without every rank "
          "fails (a dead or hung rank).");
ABSL_FLAG(double, bucket_cap_mb, 25, "Data parallel: gradient all-reduce bucket size (MB).");
ABSL_FLAG(std::string, fp32_backend, "onednn",
          "What computes the fp32 Linear products of training and evaluation: onednn "
          "(oneDNN's matmul; faster where the BLAS runs older kernels than the CPU has) or "
          "aten (LibTorch's BLAS, bit for bit torch::nn::Linear). A resume must use the "
          "run's backend for bit-identical results.");
ABSL_FLAG(bool, overlap_allreduce, true,
          "Data parallel: start each gradient bucket's all-reduce during backward, as soon as "
          "its gradients are ready (false: all after backward).");

namespace {

namespace fs = std::filesystem;

// Splits "a=1,b=[x, y],c=2" at the commas that start a new key=value pair.
std::vector<std::string> SplitSetList(const std::string& text) {
  std::vector<std::string> items;
  std::string current;
  int depth = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '[' || c == '{') ++depth;
    if ((c == ']' || c == '}') && depth > 0) --depth;
    if (c == ',' && depth == 0) {
      // A new pair only when the rest starts with key=.
      size_t j = i + 1;
      while (j < text.size() && (std::isalnum(static_cast<unsigned char>(text[j])) ||
                                 text[j] == '_' || text[j] == '.' || text[j] == '-')) {
        ++j;
      }
      if (j > i + 1 && j < text.size() && text[j] == '=') {
        items.push_back(current);
        current.clear();
        continue;
      }
    }
    current.push_back(c);
  }
  if (!current.empty()) items.push_back(current);
  return items;
}

// Every --set value of argv, in order ("--set=x", "--set x", "-set ...").
std::vector<std::string> CollectSetFlags(int argc, char** argv) {
  std::vector<std::string> values;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--") break;
    for (const char* prefix : {"--set=", "-set="}) {
      if (absl::StartsWith(arg, prefix)) values.push_back(arg.substr(std::string(prefix).size()));
    }
    if ((arg == "--set" || arg == "-set") && i + 1 < argc) values.push_back(argv[++i]);
  }
  return values;
}

absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ParseSets(
    const std::vector<std::string>& flags) {
  std::vector<std::pair<std::string, std::string>> sets;
  for (const std::string& flag : flags) {
    for (const std::string& item : SplitSetList(flag)) {
      const size_t eq = item.find('=');
      if (eq == std::string::npos || eq == 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("--set: \"", item, "\" is not key=value (e.g. "
                         "stages.teacher.training.max_steps=20)"));
      }
      sets.emplace_back(item.substr(0, eq), item.substr(eq + 1));
    }
  }
  return sets;
}

std::string EnvOr(const char* name, const std::string& fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? value : fallback;
}

// A relative command-line path, against the directory the user ran the command in.
std::string UserPath(const std::string& path, const std::string& user_dir) {
  if (path.empty() || fs::path(path).is_absolute() || user_dir.empty()) return path;
  return (fs::path(user_dir) / path).lexically_normal().string();
}

absl::Status Run(int argc, char** argv) {
  layers::Fp32Backend fp32_backend;
  if (!layers::ParseFp32Backend(absl::GetFlag(FLAGS_fp32_backend), &fp32_backend)) {
    return absl::InvalidArgumentError(absl::StrCat("--fp32_backend: \"",
                                                   absl::GetFlag(FLAGS_fp32_backend),
                                                   "\" is not one of onednn, aten"));
  }
  layers::SetFp32Backend(fp32_backend);
  if (absl::GetFlag(FLAGS_list_keys)) {
    for (const std::string& key : recipes::RecipeKeyPaths()) std::printf("%s\n", key.c_str());
    return absl::OkStatus();
  }
  // Under `bazel run` the process starts in the runfiles tree: work in the workspace, read
  // command-line paths from where the user stood.
  const std::string workspace = EnvOr("BUILD_WORKSPACE_DIRECTORY", "");
  const std::string user_dir = EnvOr("BUILD_WORKING_DIRECTORY", "");
  if (!workspace.empty() && chdir(workspace.c_str()) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot change to the workspace ", workspace));
  }
  std::string recipe_path = absl::GetFlag(FLAGS_recipe);
  if (recipe_path.empty()) {
    return absl::InvalidArgumentError("--recipe is required (e.g. recipes/prune_once_for_all.yaml)");
  }
  if (const std::string in_user_dir = UserPath(recipe_path, user_dir);
      in_user_dir != recipe_path && fs::exists(in_user_dir)) {
    recipe_path = in_user_dir;  // Else: relative to the workspace (the named targets' form).
  }

  recipes::RecipeOverrides overrides;
  ASSIGN_OR_RETURN(overrides.set, ParseSets(CollectSetFlags(argc, argv)));
  if (absl::GetFlag(FLAGS_export_onnx)) {
    overrides.set.insert(overrides.set.begin(), {"defaults.export_onnx", "true"});
  }
  overrides.profile = absl::GetFlag(FLAGS_profile);
  if (absl::GetFlag(FLAGS_quick)) {
    if (!overrides.profile.empty() && overrides.profile != "quick") {
      return absl::InvalidArgumentError(absl::StrCat(
          "--quick means --profile=quick, but --profile=", overrides.profile, " is given too"));
    }
    overrides.profile = "quick";
  }
  overrides.output_dir = UserPath(absl::GetFlag(FLAGS_output_dir), user_dir);
  overrides.data_dir = UserPath(absl::GetFlag(FLAGS_data_dir), user_dir);
  overrides.model_dir = UserPath(absl::GetFlag(FLAGS_model_dir), user_dir);
  overrides.teacher_dir = UserPath(absl::GetFlag(FLAGS_teacher_dir), user_dir);

  ASSIGN_OR_RETURN(recipes::Recipe recipe, recipes::LoadRecipe(recipe_path, overrides));
  recipes::RunOptions options;
  options.resume = absl::GetFlag(FLAGS_resume);
  options.dry_run = absl::GetFlag(FLAGS_dry_run);
  options.progress = absl::GetFlag(FLAGS_progress);
  options.overlap_allreduce = absl::GetFlag(FLAGS_overlap_allreduce);

  // Data parallel. The recipe was validated above, so a bad one fails once, here.
  const int64_t nproc = absl::GetFlag(FLAGS_nproc_per_node);
  if (nproc < 1) {
    return absl::InvalidArgumentError(absl::StrCat("--nproc_per_node must be at least 1, got ", nproc));
  }
  if (nproc > 1 && !compressor::IsLaunchedRank() && !options.dry_run) {
    compressor::LocalLaunchOptions launch;
    launch.nproc_per_node = nproc;
    if (!absl::GetFlag(FLAGS_master_addr).empty()) launch.master_addr = absl::GetFlag(FLAGS_master_addr);
    launch.master_port = std::max<int64_t>(0, absl::GetFlag(FLAGS_master_port));
    ASSIGN_OR_RETURN(const int status, compressor::RunLocalRanks(launch, argc, argv));
    if (status != 0) {
      return absl::AbortedError(absl::StrCat("the data-parallel job failed (exit status ", status,
                                             "); rerun with --resume to continue from the last "
                                             "checkpoint"));
    }
    return absl::OkStatus();
  }
  std::unique_ptr<compressor::ProcessGroup> group;
  if (!options.dry_run) {
    compressor::DistributedOptions flags;
    flags.master_addr = absl::GetFlag(FLAGS_master_addr);
    flags.master_port = absl::GetFlag(FLAGS_master_port);
    flags.timeout_seconds = absl::GetFlag(FLAGS_dist_timeout);
    flags.bucket_cap_mb = absl::GetFlag(FLAGS_bucket_cap_mb);
    ASSIGN_OR_RETURN(compressor::DistributedOptions distributed,
                     compressor::ResolveDistributedOptions(flags));
    if (distributed.enabled()) {
      ASSIGN_OR_RETURN(group, compressor::ProcessGroup::Create(distributed));
      options.process_group = group.get();
    }
  }
  absl::StatusOr<recipes::RunSummary> ran = recipes::RunRecipe(recipe, options);
  if (!ran.ok() && group != nullptr &&
      !absl::StrContains(ran.status().message(),
                         absl::StrCat("rank ", group->rank(), " of ", group->world_size()))) {
    return absl::Status(ran.status().code(), absl::StrCat("rank ", group->rank(), " of ",
                                                          group->world_size(), ": ",
                                                          ran.status().message()));
  }
  ASSIGN_OR_RETURN(recipes::RunSummary summary, std::move(ran));
  if (group != nullptr && group->rank() != 0) return absl::OkStatus();
  int skipped = 0;
  for (const recipes::StageResult& stage : summary.stages) skipped += stage.skipped ? 1 : 0;
  std::fprintf(stderr, "[%s] %s: %zu stages (%d finished earlier) in %.1f s%s%s\n",
               recipe.name.c_str(), options.dry_run ? "dry run done" : "done",
               summary.stages.size(), skipped, summary.seconds,
               summary.results_md.empty() ? "" : "; results: ", summary.results_md.c_str());
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  base::InitMain(argc, argv,
                 "Usage: run --recipe=FILE.yaml [--quick | --profile=NAME] [--set key=value ...] "
                 "[--output_dir=DIR] [--data_dir=DIR] [--model_dir=DIR] [--teacher_dir=DIR] "
                 "[--resume] [--dry_run] [--nproc_per_node=N]");
  return base::RunMain([&]() { return Run(argc, argv); });
}
