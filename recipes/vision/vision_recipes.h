// The vision multi-shot recipes (issue 9), as INC's torchvision examples: a ResNet-style
// CNN on Fashion-MNIST, compressed by
//   "prune_then_ptq":     dense -> magnitude pruning to a target sparsity over N epochs
//                         (shot 1) -> BatchNorm folding + static post-training quantization
//                         with calibration, converted to oneDNN INT8 (shot 2);
//   "qat_during_pruning": dense -> one shot combine(pruning, quantization-aware training),
//                         BatchNorm folded at its start, converted to INT8 at its end;
//   "dense":              only the dense baseline (trained, or loaded from dense_model).
// Each reports before/after accuracy, sparsity, model size and CPU latency, and writes
// results.json and results.md into output_dir.
//
//   VisionRecipeConfig config;
//   config.output_dir = "out/vision/prune_then_ptq";
//   ASSIGN_OR_RETURN(VisionRecipeResult result, RunVisionRecipe("prune_then_ptq", config));
#ifndef RECIPES_VISION_VISION_RECIPES_H_
#define RECIPES_VISION_VISION_RECIPES_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace recipes {

struct VisionRecipeConfig {
  std::string data_dir = "/usr/share/datasets/fashion-mnist";  // The IDX files.
  std::string output_dir;              // results.json, results.md, dense_model.safetensors.
  std::string model_preset = "resnet10-w16";  // models::ResNetOptions::Preset.
  std::string dense_model;             // A trained dense model (SaveResNet); "" trains one.
  int64_t train_limit = 0;             // > 0: first N training images only.
  int64_t test_limit = 0;              // > 0: first N test images only.
  int64_t batch_size = 128;
  int64_t dense_epochs = 3;            // Dense baseline training (AdamW, linear decay).
  double dense_learning_rate = 2e-3;
  int64_t prune_epochs = 3;            // Pruning (and, one-shot, QAT) fine-tuning epochs.
  double prune_learning_rate = 5e-4;
  double target_sparsity = 0.5;        // Of the pruned convolutions' weights.
  std::string pattern = "unstructured";  // compressor pruning pattern (4x1, 1xchannel, 2:4...).
  // Regexes of the pruned Conv2ds; the 1-channel stem (9 weights per filter) is kept dense.
  std::vector<std::string> prune_op_names = {"^layer"};
  int64_t calibration_batches = 20;    // Static PTQ: training batches observed.
  int64_t latency_batch = 64;          // Latency is measured at batch 1 and at this batch.
  int latency_iterations = 30;
  uint64_t seed = 42;

  // --quick: 4,096 training / 1,000 test images, 1 epoch each, for tests and smoke runs.
  void ApplyQuick();
  absl::Status Validate() const;
};

struct ModelReport {
  double accuracy = 0.0;           // Top-1 on the test images (fraction).
  double sparsity = 0.0;           // Zero fraction of all conv/linear weights.
  int64_t weights = 0;
  int64_t size_bytes = 0;          // Parameters + buffers, dense storage.
  int64_t compressed_bytes = 0;    // ... through zlib.
  double latency_ms_batch1 = 0.0;
  double latency_ms_batch = 0.0;   // At config.latency_batch.
};

struct VisionRecipeResult {
  std::string recipe;
  std::string model;               // ResNetOptions::ToString().
  int64_t train_examples = 0, test_examples = 0;
  ModelReport dense;
  bool has_pruned_fp32 = false;
  ModelReport pruned_fp32;         // prune_then_ptq: after shot 1 (fp32, BatchNorm kept).
  bool has_int8 = false;
  ModelReport int8;                // The converted INT8 model.
  double pruned_layers_sparsity = 0.0;  // Measured over the pruned convolutions only.
  std::vector<std::string> notes;  // Shot summaries, oneDNN implementations, timings.
  std::map<std::string, double> seconds;  // Per stage.
  std::string json_path, markdown_path;
};

// Runs `recipe` ("prune_then_ptq", "qat_during_pruning" or "dense"). Errors (bad config,
// missing or malformed data, a model file that does not load) name the file or field.
absl::StatusOr<VisionRecipeResult> RunVisionRecipe(const std::string& recipe,
                                                   const VisionRecipeConfig& config);

// One line per figure, as printed by the *_main binaries.
std::string FormatResult(const VisionRecipeResult& result);

}  // namespace recipes

#endif  // RECIPES_VISION_VISION_RECIPES_H_
