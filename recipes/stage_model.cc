#include "recipes/stage_model.h"

#include <c10/util/Exception.h>
#include <torch/nn/modules/linear.h>
#include <torch/utils.h>

#include <filesystem>
#include <regex>
#include <set>
#include <system_error>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/atomic_file.h"
#include "base/status_macros.h"
#include "compressor/pruning/pruner.h"
#include "compressor/quantization/convert.h"
#include "compressor/quantization/int8_io.h"
#include "compressor/quantization/qat.h"
#include "layers/linear.h"
#include "models/auto_model.h"
#include "models/hf_checkpoint.h"
#include "models/tokenizers/tokenizer_json.h"
#include <nlohmann/json.hpp>

namespace recipes {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

// "file:line: key" of the spec (SourceLocation::ToString lives with the parser).
std::string Where(const ModelSpec& spec) {
  const SourceLocation& location = spec.location;
  std::string where = location.file;
  if (location.line > 0) absl::StrAppend(&where, ":", location.line);
  if (!location.key.empty()) absl::StrAppend(&where, where.empty() ? "" : ": ", location.key);
  return where.empty() ? "model" : where;
}

// Prefixes a status message with the spec's location.
absl::Status WithContext(const absl::Status& status, const std::string& context) {
  if (status.ok()) return status;
  return absl::Status(status.code(), absl::StrCat(context, ": ", status.message()));
}

// The directory a spec loads weights from ("" for preset / config_file).
std::string SourceDir(const ModelSpec& spec, const ModelSources& sources) {
  if (!spec.from_stage.empty()) return sources(spec.from_stage);
  return spec.model_dir;
}

// The safetensors files of a Hugging Face directory (one file or the sharded index).
absl::StatusOr<std::vector<std::string>> WeightFiles(const std::string& dir) {
  const fs::path single = fs::path(dir) / "model.safetensors";
  if (fs::exists(single)) return std::vector<std::string>{single.string()};
  const fs::path index = fs::path(dir) / "model.safetensors.index.json";
  if (!fs::exists(index)) {
    return absl::NotFoundError(
        absl::StrCat(dir, ": no model.safetensors, model.safetensors.index.json or ",
                     kInt8ModelFile));
  }
  ASSIGN_OR_RETURN(const std::string text, base::ReadFileToString(index.string()));
  const Json parsed = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_object() || !parsed.contains("weight_map") || !parsed["weight_map"].is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(index.string(), ": field 'weight_map' is missing or not an object"));
  }
  std::set<std::string> files;
  for (const auto& [key, file] : parsed["weight_map"].items()) {
    if (file.is_string()) files.insert((fs::path(dir) / file.get<std::string>()).string());
  }
  return std::vector<std::string>(files.begin(), files.end());
}

bool IsExcludedFromSparsity(const std::string& name) {
  static const std::vector<std::regex>* const excluded = [] {
    auto* patterns = new std::vector<std::regex>();
    for (const std::string& pattern : compressor::PruningConfig().excluded_op_names) {
      patterns->emplace_back(pattern);
    }
    return patterns;
  }();
  for (const std::regex& pattern : *excluded) {
    if (std::regex_search(name, pattern)) return true;
  }
  return false;
}

}  // namespace

absl::StatusOr<models::BertConfig> ResolveModelConfig(const ModelSpec& spec,
                                                      const ModelSources& sources,
                                                      std::string* architecture) {
  const int sources_set = !spec.from_stage.empty() + !spec.model_dir.empty() +
                          !spec.preset.empty() + !spec.config_file.empty();
  if (sources_set != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        Where(spec), ": exactly one of from_stage, model_dir, preset, config_file must be set (",
        sources_set, " are)"));
  }
  std::string json_text;
  std::string source;
  if (!spec.preset.empty()) {
    absl::StatusOr<models::BertConfig> preset = models::BertConfigPreset(spec.preset);
    if (!preset.ok()) return WithContext(preset.status(), Where(spec));
    json_text = models::BertConfigToJson(*preset);
    source = absl::StrCat("preset ", spec.preset);
  } else {
    const std::string path = spec.config_file.empty()
                                 ? (fs::path(SourceDir(spec, sources)) / "config.json").string()
                                 : spec.config_file;
    absl::StatusOr<std::string> text = base::ReadFileToString(path);
    if (!text.ok()) {
      if (!spec.from_stage.empty() && absl::IsNotFound(text.status())) {
        return absl::NotFoundError(absl::StrCat(Where(spec), ": stage '", spec.from_stage,
                                                "' has no output model yet (", path, ")"));
      }
      return WithContext(text.status(), Where(spec));
    }
    json_text = *std::move(text);
    source = path;
  }
  Json json = Json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (!json.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": not a JSON object"));
  }
  for (const auto& [key, value_text] : spec.config_overrides) {
    Json value = Json::parse(value_text, nullptr, /*allow_exceptions=*/false);
    if (value.is_discarded()) value = value_text;  // A bare string such as gelu.
    json[key] = value;
  }
  if (spec.config_overrides.count("num_labels") && !spec.config_overrides.count("id2label")) {
    json.erase("id2label");
    json.erase("label2id");
  }
  absl::StatusOr<models::BertConfig> config =
      models::BertConfigFromJson(json.dump(), absl::StrCat(Where(spec), " (", source, ")"));
  if (!config.ok()) return config.status();
  std::string arch = spec.architecture;
  if (arch.empty()) {
    if (!spec.preset.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(Where(spec), ": preset '", spec.preset, "' needs an architecture"));
    }
    arch = config->architecture();
  }
  RETURN_IF_ERROR(WithContext(
      models::ValidateBertConfig(*config, absl::StrCat(Where(spec), " (", source, ")")), ""));
  if (architecture != nullptr) *architecture = arch;
  return config;
}

absl::StatusOr<BuiltModel> BuildModel(const ModelSpec& spec, const ModelSources& sources) {
  const std::string dir = SourceDir(spec, sources);
  if (!dir.empty() && fs::exists(fs::path(dir) / kInt8ModelFile)) {
    // An INT8 model is loaded as it was saved: its head and config are fixed.
    ASSIGN_OR_RETURN(BuiltModel loaded, LoadStageModel(dir));
    if (!spec.architecture.empty() && spec.architecture != loaded.model->architecture()) {
      return absl::InvalidArgumentError(absl::StrCat(
          Where(spec), ": ", dir, " is an INT8 model of architecture ",
          loaded.model->architecture(), "; it cannot be rebuilt as ", spec.architecture));
    }
    if (!spec.config_overrides.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(Where(spec), ": config_overrides cannot change the INT8 model ", dir));
    }
    if (!spec.from_stage.empty()) loaded.source = absl::StrCat("stage ", spec.from_stage, " (", dir, ")");
    return loaded;
  }
  std::string architecture;
  ASSIGN_OR_RETURN(models::BertConfig config, ResolveModelConfig(spec, sources, &architecture));
  BuiltModel built;
  torch::manual_seed(spec.seed);
  absl::StatusOr<std::shared_ptr<models::PreTrainedModel>> model =
      models::CreateModel(config, architecture);
  if (!model.ok()) return WithContext(model.status(), Where(spec));
  built.model = *std::move(model);
  if (dir.empty()) {
    built.source = spec.preset.empty() ? spec.config_file : absl::StrCat("preset ", spec.preset);
    return built;
  }
  ASSIGN_OR_RETURN(const std::vector<std::string> files, WeightFiles(dir));
  models::LoadReport report;
  try {
    RETURN_IF_ERROR(
        WithContext(models::LoadSafetensorsInto(*built.model, files, &report), Where(spec)));
  } catch (const c10::Error& error) {
    return absl::InvalidArgumentError(
        absl::StrCat(Where(spec), ": loading ", dir, ": ", error.what_without_backtrace()));
  }
  built.new_parameters = report.missing_keys;
  built.source = spec.from_stage.empty() ? dir : absl::StrCat("stage ", spec.from_stage, " (", dir, ")");
  built.model->eval();
  return built;
}

namespace {

absl::Status SaveWeights(const models::PreTrainedModel& model, const std::string& dir) {
  if (CountInt8Linears(model) == 0) return models::SavePretrained(model, dir);
  // Remove a stale fp32 file so the directory is unambiguous.
  std::error_code error;
  fs::remove(fs::path(dir) / "model.safetensors", error);
  RETURN_IF_ERROR(
      models::SaveBertConfig(model.config(), (fs::path(dir) / "config.json").string()));
  return compressor::SaveQuantizedState(model, (fs::path(dir) / kInt8ModelFile).string());
}

}  // namespace

absl::Status SaveStageModel(const models::PreTrainedModel& model,
                            const tokenizers::BertTokenizer& tokenizer, const std::string& dir) {
  std::error_code error;
  fs::create_directories(dir, error);
  if (error) {
    return absl::PermissionDeniedError(absl::StrCat(dir, ": cannot create (", error.message(), ")"));
  }
  RETURN_IF_ERROR(SaveWeights(model, dir));
  return tokenizers::SaveTokenizerFiles(tokenizer, dir, model.config().max_position_embeddings);
}

absl::StatusOr<BuiltModel> LoadStageModel(const std::string& dir) {
  const fs::path int8_file = fs::path(dir) / kInt8ModelFile;
  BuiltModel built;
  built.source = dir;
  if (!fs::exists(int8_file)) {
    ASSIGN_OR_RETURN(models::LoadedModel loaded, models::LoadPretrained(dir));
    built.model = std::move(loaded.model);
    built.new_parameters = loaded.report.missing_keys;
    return built;
  }
  ASSIGN_OR_RETURN(models::BertConfig config,
                   models::LoadBertConfig((fs::path(dir) / "config.json").string()));
  ASSIGN_OR_RETURN(built.model, models::CreateModel(config));
  try {
    ASSIGN_OR_RETURN(const std::vector<std::string> converted,
                     compressor::LoadQuantizedState(*built.model, int8_file.string()));
    built.int8 = !converted.empty();
  } catch (const c10::Error& error) {
    return absl::InvalidArgumentError(
        absl::StrCat(int8_file.string(), ": ", error.what_without_backtrace()));
  }
  built.model->eval();
  return built;
}

absl::StatusOr<exporter::OnnxExportSummary> ExportStageOnnx(models::PreTrainedModel& model,
                                                            const std::string& dir) {
  const fs::path path = fs::path(dir) / kOnnxModelFile;
  std::error_code error;
  fs::create_directories(path.parent_path(), error);
  if (error) {
    return absl::PermissionDeniedError(
        absl::StrCat(path.parent_path().string(), ": cannot create (", error.message(), ")"));
  }
  return exporter::ExportOnnx(model, path.string());
}

absl::StatusOr<BuiltModel> LoadDeployModel(const std::string& dir,
                                           const compressor::InferenceOptions& options) {
  ASSIGN_OR_RETURN(BuiltModel built, LoadStageModel(dir));
  built.model->eval();
  if (absl::StatusOr<std::vector<std::string>> converted =
          compressor::ConvertForInference(*built.model, options);
      !converted.ok()) {
    return absl::Status(converted.status().code(),
                        absl::StrCat(dir, ": ", converted.status().message()));
  }
  return built;
}

LinearSparsity MeasureLinearSparsity(const torch::nn::Module& model) {
  LinearSparsity result;
  for (const auto& item : model.named_modules("", /*include_self=*/false)) {
    const std::string& name = item.key();
    if (IsExcludedFromSparsity(name)) continue;
    const torch::nn::Module* module = item.value().get();
    at::Tensor weight;
    if (const auto* linear = dynamic_cast<const layers::LinearImpl*>(module)) {
      weight = linear->weight;  // fp32 or fake-quant: the layer's own weight.
    } else if (const auto* int8 = dynamic_cast<const compressor::Int8LinearModuleImpl*>(module)) {
      result.numel += int8->weight_numel();
      result.zeros += int8->zero_weights();
      ++result.layers;
      continue;
    } else {
      continue;
    }
    result.numel += weight.numel();
    result.zeros += weight.eq(0).sum().item<int64_t>();
    ++result.layers;
  }
  return result;
}

int64_t CountInt8Linears(const torch::nn::Module& model) {
  return static_cast<int64_t>(compressor::Int8Modules(model).size());
}

int64_t ModelBytesOnDisk(const std::string& dir) {
  std::error_code error;
  const fs::path int8_file = fs::path(dir) / kInt8ModelFile;
  if (fs::exists(int8_file, error)) return static_cast<int64_t>(fs::file_size(int8_file, error));
  absl::StatusOr<std::vector<std::string>> files = WeightFiles(dir);
  if (!files.ok()) return 0;
  int64_t bytes = 0;
  for (const std::string& file : *files) {
    const auto size = fs::file_size(file, error);
    if (!error) bytes += static_cast<int64_t>(size);
  }
  return bytes;
}

int64_t CountWeights(const torch::nn::Module& model) {
  int64_t count = 0;
  for (const at::Tensor& parameter : model.parameters()) count += parameter.numel();
  for (const auto& [name, module] : compressor::Int8Modules(model)) {
    count += module->weight_numel();
  }
  return count;
}

}  // namespace recipes
