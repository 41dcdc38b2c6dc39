// The models a recipe stage reads and writes: building a stage's model (or teacher) from a
// ModelSpec, saving a stage's output model (a Hugging Face directory for fp32 models, or
// config.json + model.int8.safetensors for INT8-converted ones) and loading it back, and
// the measurements the report makes on it (Linear sparsity, INT8 layers, size on disk).
//
//   ModelSources sources = [&](const std::string& stage) { return out + "/" + stage + "/model"; };
//   ASSIGN_OR_RETURN(BuiltModel built, BuildModel(stage.model, sources));
//   ... train ...
//   RETURN_IF_ERROR(SaveStageModel(*built.model, *tokenizer, out + "/qa_dense/model"));
//   ASSIGN_OR_RETURN(auto model, LoadStageModel(out + "/qa_dense/model"));
#ifndef RECIPES_STAGE_MODEL_H_
#define RECIPES_STAGE_MODEL_H_

#include <torch/nn/module.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "compressor/deploy/inference_linear.h"
#include "export/onnx_export.h"
#include "models/bert_config.h"
#include "models/pretrained_model.h"
#include "models/tokenizers/wordpiece_tokenizer.h"
#include "recipes/recipe.h"

namespace recipes {

// File name of an INT8-converted model inside a stage's model directory.
inline constexpr char kInt8ModelFile[] = "model.int8.safetensors";
// Where Hugging Face's ONNX clients (transformers.js, optimum) look for the graph.
inline constexpr char kOnnxModelFile[] = "onnx/model.onnx";

// The model directory of an earlier stage's output (it may not exist yet).
using ModelSources = std::function<std::string(const std::string& stage)>;

struct BuiltModel {
  std::shared_ptr<models::PreTrainedModel> model;
  std::string source;  // "preset bert-mini", "stage teacher (DIR)", "DIR", ...
  // Parameters that were freshly initialised (a new head on a loaded encoder).
  std::vector<std::string> new_parameters;
  bool int8 = false;   // Loaded from an INT8 file: its Linears run in INT8.
};

// The config a spec describes, without building weights: the source's config (preset,
// config_file, the model directory's config.json) with config_overrides applied.
// `architecture` receives the head to build. Overriding num_labels drops the source's
// id2label (the new head's labels are unknown until the data names them).
absl::StatusOr<models::BertConfig> ResolveModelConfig(const ModelSpec& spec,
                                                      const ModelSources& sources,
                                                      std::string* architecture);

// Builds the model `spec` describes: random init (seeded with spec.seed) for preset /
// config_file; weights loaded from from_stage / model_dir with the head changed to
// spec.architecture when it differs (new weights initialised from spec.seed and listed in
// new_parameters). Errors name spec.location.
absl::StatusOr<BuiltModel> BuildModel(const ModelSpec& spec, const ModelSources& sources);

// Writes `model` to `dir` as a Hugging Face model repository: config.json +
// model.safetensors (SavePretrained) when it has no INT8 Linears, else config.json +
// model.int8.safetensors (SaveQuantizedState); then the tokenizer's vocab.txt,
// tokenizer.json, tokenizer_config.json and special_tokens_map.json. Fake-quant (QAT, not
// converted) models are saved as their fp32 weights. The one place a recipe or tool
// publishes a model directory.
absl::Status SaveStageModel(const models::PreTrainedModel& model,
                            const tokenizers::BertTokenizer& tokenizer, const std::string& dir);

// Loads what SaveStageModel wrote (or any Hugging Face directory), INT8 layers rebuilt.
absl::StatusOr<BuiltModel> LoadStageModel(const std::string& dir);

// Writes `dir`/onnx/model.onnx (exporter::ExportOnnx, opset 13): the fp32 graph for a dense
// or pruned model, the QDQ graph for one with INT8 Linears, its int8 initializers the saved
// integers. Pass the model as LoadStageModel loaded it from `dir`, so the graph is the
// directory's weights (a QAT model not converted to INT8 is saved, and so exported, as fp32).
// Errors name the file.
absl::StatusOr<exporter::OnnxExportSummary> ExportStageOnnx(models::PreTrainedModel& model,
                                                            const std::string& dir);

// LoadStageModel, then its Linears converted for inference (compressor::ConvertForInference:
// per layer dense oneDNN or our sparse kernel; fp32 stays fp32 unless options.int8, INT8
// Linears run INT8 kernels with their own qparams): the model as a deployment runs it, what
// the report times and tools:predict answers with. INT8 Linears that re-quantize their
// output have no deploy kernel and keep running as Int8LinearModules. Errors name `dir`.
absl::StatusOr<BuiltModel> LoadDeployModel(const std::string& dir,
                                           const compressor::InferenceOptions& options = {});

struct LinearSparsity {
  int64_t numel = 0;  // Weights of the prunable Linears (fp32, fake-quant or INT8).
  int64_t zeros = 0;  // Exactly-zero weights among them.
  int64_t layers = 0;
  double sparsity() const { return numel ? double(zeros) / double(numel) : 0.0; }
};

// Sparsity of the Linear weights that Prune Once for All prunes: every layers::Linear
// (fp32 or fake-quant) or Int8LinearModule whose name is not excluded by PruningConfig's
// default excluded_op_names (embeddings, heads, pooler).
LinearSparsity MeasureLinearSparsity(const torch::nn::Module& model);

// Linears of `model` that run as Int8LinearModule.
int64_t CountInt8Linears(const torch::nn::Module& model);

// Bytes of the weight files in a stage's model directory (model.safetensors or the INT8
// file; config.json excluded). 0 when there is none.
int64_t ModelBytesOnDisk(const std::string& dir);

// Number of parameters plus INT8 weights (so an INT8 model counts like its fp32 source).
int64_t CountWeights(const torch::nn::Module& model);

}  // namespace recipes

#endif  // RECIPES_STAGE_MODEL_H_
