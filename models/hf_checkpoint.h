// Loads and saves Hugging Face model directories (config.json + model.safetensors, or a
// sharded model.safetensors.index.json) into and from the models of this package.
//
// Key handling follows transformers' from_pretrained: a bare-model checkpoint ("embeddings.*")
// loads into a head ("bert.embeddings.*") and vice versa, LayerNorm gamma/beta are read as
// weight/bias, position_ids buffers are ignored, tied decoder weights are accepted under
// either name, and missing / unexpected keys are reported rather than fatal (a QA head on a
// pre-trained encoder starts from its fresh initialisation).
//
//   ASSIGN_OR_RETURN(LoadedModel loaded,
//                    LoadPretrained(dir, {.architecture = "BertForQuestionAnswering"}));
//   std::cerr << loaded.report.ToString();
//   RETURN_IF_ERROR(SavePretrained(*loaded.model, out_dir));
#ifndef MODELS_HF_CHECKPOINT_H_
#define MODELS_HF_CHECKPOINT_H_

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

#include "absl/status/statusor.h"
#include "models/pretrained_model.h"

namespace models {

struct LoadReport {
  std::string source;                         // The model directory or file.
  std::string architecture;                   // What was built.
  std::vector<std::string> missing_keys;      // Model parameters left at initialisation.
  std::vector<std::string> unexpected_keys;   // Checkpoint tensors the model has no use for.
  std::vector<std::string> ignored_keys;      // position_ids buffers, duplicate tied names.
  // Hugging Face's two warnings ("Some weights of ... were not used / newly initialized"),
  // one line each; empty when everything matched.
  std::string ToString() const;
};

struct LoadOptions {
  std::string architecture;           // Build this head instead of config.architectures[0].
  std::optional<int64_t> num_labels;  // Override the classification head's width.
  bool strict = false;                // Missing or unexpected keys become errors.
};

struct LoadedModel {
  std::shared_ptr<PreTrainedModel> model;  // In eval mode.
  LoadReport report;
};

// Reads DIR/config.json and DIR/model.safetensors (or the sharded index).
absl::StatusOr<LoadedModel> LoadPretrained(const std::string& model_dir,
                                           const LoadOptions& options = {});

// Copies the tensors of the given safetensors files into `model`'s parameters, with the key
// handling described above. Shape or dtype mismatches are errors naming file and key.
absl::Status LoadSafetensorsInto(PreTrainedModel& model, const std::vector<std::string>& files,
                                 LoadReport* report);

// Every parameter and buffer of `module` by name: what a checkpoint stores.
std::vector<std::pair<std::string, at::Tensor>> StateDict(const torch::nn::Module& module);

// Writes DIR/config.json and DIR/model.safetensors (metadata format=pt, as transformers
// requires), each atomically; creates DIR when missing.
absl::Status SavePretrained(const PreTrainedModel& model, const std::string& model_dir);

}  // namespace models

#endif  // MODELS_HF_CHECKPOINT_H_
