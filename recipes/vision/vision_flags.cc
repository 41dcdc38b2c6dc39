#include "recipes/vision/vision_flags.h"

#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_split.h"

ABSL_FLAG(std::string, output_dir, "", "Directory for results.json, results.md and models.");
ABSL_FLAG(std::string, data_dir, "/usr/share/datasets/fashion-mnist",
          "Directory of the Fashion-MNIST IDX files (Debian's dataset-fashion-mnist).");
ABSL_FLAG(std::string, model, "resnet10-w16",
          "Model preset: resnet18, resnet18-w32, resnet18-w16, resnet10-w16, resnet10-w8.");
ABSL_FLAG(std::string, dense_model, "",
          "A trained dense model (safetensors from //recipes/vision:train_dense); empty: train "
          "one first.");
ABSL_FLAG(bool, quick, false, "Small profile: 4,096 train / 1,000 test images, 1 epoch each.");
ABSL_FLAG(int64_t, train_limit, -1, "First N training images (0: all; -1: default).");
ABSL_FLAG(int64_t, test_limit, -1, "First N test images (0: all; -1: default).");
ABSL_FLAG(int64_t, batch_size, 128, "Training batch size.");
ABSL_FLAG(int64_t, dense_epochs, -1, "Dense training epochs (-1: default 3, quick 1).");
ABSL_FLAG(double, dense_lr, 2e-3, "Dense training peak learning rate (AdamW).");
ABSL_FLAG(int64_t, prune_epochs, -1, "Pruning / QAT epochs (-1: default 3, quick 1).");
ABSL_FLAG(double, prune_lr, 5e-4, "Pruning / QAT peak learning rate.");
ABSL_FLAG(double, target_sparsity, 0.5, "Target sparsity of the pruned convolutions.");
ABSL_FLAG(std::string, pattern, "unstructured",
          "Pruning pattern: unstructured, NxM (e.g. 4x1), N:M (2:4), 1xchannel (filters).");
ABSL_FLAG(std::string, prune_op_names, "^layer",
          "Comma-separated regexes of the pruned Conv2d modules.");
ABSL_FLAG(int64_t, calibration_batches, -1, "Static PTQ calibration batches (-1: default).");
ABSL_FLAG(int64_t, latency_batch, -1, "Batch size of the second latency figure (-1: default).");
ABSL_FLAG(int, latency_iterations, -1, "Timed forward passes per latency figure (-1: default).");
ABSL_FLAG(uint64_t, seed, 42, "Seed of initialisation and data order.");

namespace recipes {

absl::StatusOr<VisionRecipeConfig> VisionConfigFromFlags() {
  VisionRecipeConfig config;
  if (absl::GetFlag(FLAGS_quick)) config.ApplyQuick();
  config.output_dir = absl::GetFlag(FLAGS_output_dir);
  config.data_dir = absl::GetFlag(FLAGS_data_dir);
  config.model_preset = absl::GetFlag(FLAGS_model);
  config.dense_model = absl::GetFlag(FLAGS_dense_model);
  auto set = [](int64_t flag, auto* field) {
    if (flag >= 0) *field = static_cast<std::remove_pointer_t<decltype(field)>>(flag);
  };
  set(absl::GetFlag(FLAGS_train_limit), &config.train_limit);
  set(absl::GetFlag(FLAGS_test_limit), &config.test_limit);
  set(absl::GetFlag(FLAGS_dense_epochs), &config.dense_epochs);
  set(absl::GetFlag(FLAGS_prune_epochs), &config.prune_epochs);
  set(absl::GetFlag(FLAGS_calibration_batches), &config.calibration_batches);
  set(absl::GetFlag(FLAGS_latency_batch), &config.latency_batch);
  set(absl::GetFlag(FLAGS_latency_iterations), &config.latency_iterations);
  config.batch_size = absl::GetFlag(FLAGS_batch_size);
  config.dense_learning_rate = absl::GetFlag(FLAGS_dense_lr);
  config.prune_learning_rate = absl::GetFlag(FLAGS_prune_lr);
  config.target_sparsity = absl::GetFlag(FLAGS_target_sparsity);
  config.pattern = absl::GetFlag(FLAGS_pattern);
  config.prune_op_names =
      absl::StrSplit(absl::GetFlag(FLAGS_prune_op_names), ',', absl::SkipEmpty());
  config.seed = absl::GetFlag(FLAGS_seed);
  if (config.output_dir.empty()) {
    return absl::InvalidArgumentError("--output_dir is required (e.g. --output_dir=$PWD/out/vision)");
  }
  if (absl::Status status = config.Validate(); !status.ok()) return status;
  return config;
}

}  // namespace recipes
