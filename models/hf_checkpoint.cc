#include "models/hf_checkpoint.h"

#include <filesystem>
#include <map>
#include <set>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>
#include <torch/utils.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/atomic_file.h"
#include "base/safetensors.h"
#include "base/status_macros.h"
#include "models/auto_model.h"
#include "models/bert_config.h"

namespace models {
namespace {

namespace fs = std::filesystem;

std::string ShapeString(at::IntArrayRef shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

// transformers renames TF-era LayerNorm parameters on load.
std::string FixLegacyName(const std::string& key) {
  if (absl::EndsWith(key, ".gamma")) return key.substr(0, key.size() - 6) + ".weight";
  if (absl::EndsWith(key, ".beta")) return key.substr(0, key.size() - 5) + ".bias";
  return key;
}

bool AnyStartsWith(const std::vector<std::string>& keys, const std::string& prefix) {
  for (const std::string& key : keys) {
    if (absl::StartsWith(key, prefix)) return true;
  }
  return false;
}

// Lists the safetensors files of a model directory: the single file, or the shards named
// by the index (each checked to exist).
absl::StatusOr<std::vector<std::string>> CheckpointFiles(const std::string& model_dir) {
  const fs::path dir(model_dir);
  const fs::path single = dir / "model.safetensors";
  const fs::path index = dir / "model.safetensors.index.json";
  std::error_code ec;
  if (fs::exists(single, ec)) return std::vector<std::string>{single.string()};
  if (!fs::exists(index, ec)) {
    if (fs::exists(dir / "pytorch_model.bin", ec)) {
      return absl::UnimplementedError(absl::StrCat(
          model_dir, ": only safetensors checkpoints are read; pytorch_model.bin found "
                     "(convert it with transformers: model.save_pretrained(dir, "
                     "safe_serialization=True))"));
    }
    return absl::NotFoundError(absl::StrCat(
        model_dir, ": no model.safetensors or model.safetensors.index.json"));
  }
  ASSIGN_OR_RETURN(const std::string text, base::ReadFileToString(index.string()));
  const nlohmann::json parsed = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_object() || !parsed.contains("weight_map") ||
      !parsed["weight_map"].is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(index.string(), ": field 'weight_map' is missing or not an object"));
  }
  std::set<std::string> shards;
  for (const auto& [key, file] : parsed["weight_map"].items()) {
    if (!file.is_string()) {
      return absl::InvalidArgumentError(absl::StrCat(
          index.string(), ": field 'weight_map' maps '", key, "' to a non-string"));
    }
    shards.insert(file.get<std::string>());
  }
  std::vector<std::string> files;
  for (const std::string& shard : shards) {
    const fs::path path = dir / shard;
    if (shard.find('/') != std::string::npos || !fs::exists(path, ec)) {
      return absl::NotFoundError(absl::StrCat(index.string(), ": shard '", shard,
                                              "' named in 'weight_map' does not exist"));
    }
    files.push_back(path.string());
  }
  return files;
}

}  // namespace

std::string LoadReport::ToString() const {
  std::string text;
  if (!unexpected_keys.empty()) {
    absl::StrAppend(&text, "Some weights of the model checkpoint at ", source,
                    " were not used when initializing ", architecture, ": [",
                    absl::StrJoin(unexpected_keys, ", "), "]\n");
  }
  if (!missing_keys.empty()) {
    absl::StrAppend(&text, "Some weights of ", architecture,
                    " were not initialized from the model checkpoint at ", source,
                    " and are newly initialized: [", absl::StrJoin(missing_keys, ", "), "]\n");
  }
  return text;
}

std::vector<std::pair<std::string, at::Tensor>> StateDict(const torch::nn::Module& module) {
  std::vector<std::pair<std::string, at::Tensor>> state;
  for (const auto& item : module.named_parameters()) state.emplace_back(item.key(), item.value());
  for (const auto& item : module.named_buffers()) state.emplace_back(item.key(), item.value());
  return state;
}

absl::Status LoadSafetensorsInto(PreTrainedModel& model, const std::vector<std::string>& files,
                                 LoadReport* report) {
  std::map<std::string, at::Tensor> targets;
  std::vector<std::string> expected;
  for (auto& [name, tensor] : StateDict(model)) {
    expected.push_back(name);
    targets[name] = tensor;
  }
  std::vector<std::unique_ptr<base::SafetensorsReader>> readers;
  std::vector<std::string> stored;
  for (const std::string& file : files) {
    ASSIGN_OR_RETURN(auto reader, base::SafetensorsReader::Open(file));
    for (const auto& info : reader->tensors()) stored.push_back(FixLegacyName(info.name));
    readers.push_back(std::move(reader));
  }
  const std::string prefix = model.base_model_prefix() + ".";
  const bool model_has_prefix = AnyStartsWith(expected, prefix);
  const bool checkpoint_has_prefix = AnyStartsWith(stored, prefix);
  const std::set<std::string> stored_set(stored.begin(), stored.end());
  std::map<std::string, std::string> aliases;
  for (const auto& [alias, target] : model.tied_weight_aliases()) aliases[alias] = target;

  // Maps a stored key to the model's name for it ("" = not the model's).
  auto model_key = [&](std::string key) -> std::string {
    if (model_has_prefix && !checkpoint_has_prefix) key = prefix + key;
    if (!model_has_prefix && checkpoint_has_prefix) {
      if (!absl::StartsWith(key, prefix)) return "";
      key = key.substr(prefix.size());
    }
    return key;
  };

  std::set<std::string> loaded;
  torch::NoGradGuard no_grad;
  for (const auto& reader : readers) {
    for (const auto& info : reader->tensors()) {
      const std::string stored_key = FixLegacyName(info.name);
      std::string key = model_key(stored_key);
      if (absl::EndsWith(stored_key, "position_ids")) {
        report->ignored_keys.push_back(info.name);
        continue;
      }
      if (auto alias = aliases.find(key); alias != aliases.end()) {
        // A tied weight stored under its other name: use it only if the primary is absent.
        const bool primary_stored =
            stored_set.count(alias->second) > 0 ||
            (model_has_prefix && !checkpoint_has_prefix &&
             stored_set.count(alias->second.substr(prefix.size())) > 0);
        if (primary_stored || loaded.count(alias->second) > 0) {
          report->ignored_keys.push_back(info.name);
          continue;
        }
        key = alias->second;
      }
      auto target = targets.find(key);
      if (key.empty() || target == targets.end()) {
        report->unexpected_keys.push_back(info.name);
        continue;
      }
      ASSIGN_OR_RETURN(at::Tensor value, reader->View(info.name));
      if (value.sizes() != target->second.sizes()) {
        return absl::InvalidArgumentError(absl::StrCat(
            reader->path(), ": tensor '", info.name, "' has shape ", ShapeString(value.sizes()),
            " but ", model.architecture(), " expects ", ShapeString(target->second.sizes()),
            " for '", key, "' (check config.json)"));
      }
      if (at::isFloatingType(target->second.scalar_type()) &&
          !at::isFloatingType(value.scalar_type())) {
        return absl::InvalidArgumentError(
            absl::StrCat(reader->path(), ": tensor '", info.name, "' has dtype ",
                         base::SafetensorsDtypeName(info.dtype),
                         " but the parameter is floating point"));
      }
      target->second.copy_(value);
      loaded.insert(key);
    }
  }
  for (const std::string& name : expected) {
    if (loaded.count(name) == 0) report->missing_keys.push_back(name);
  }
  return absl::OkStatus();
}

absl::StatusOr<LoadedModel> LoadPretrained(const std::string& model_dir,
                                           const LoadOptions& options) {
  const std::string config_path = (fs::path(model_dir) / "config.json").string();
  ASSIGN_OR_RETURN(BertConfig config, LoadBertConfig(config_path));
  if (options.num_labels) {
    config.num_labels = *options.num_labels;
    if (static_cast<int64_t>(config.id2label.size()) != config.num_labels) config.id2label.clear();
  }
  ASSIGN_OR_RETURN(const std::vector<std::string> files, CheckpointFiles(model_dir));
  LoadedModel loaded;
  ASSIGN_OR_RETURN(loaded.model, CreateModel(config, options.architecture));
  loaded.report.source = model_dir;
  loaded.report.architecture = loaded.model->architecture();
  RETURN_IF_ERROR(LoadSafetensorsInto(*loaded.model, files, &loaded.report));
  if (options.strict &&
      (!loaded.report.missing_keys.empty() || !loaded.report.unexpected_keys.empty())) {
    return absl::FailedPreconditionError(
        absl::StrCat(model_dir, ": strict load failed: ", loaded.report.ToString()));
  }
  loaded.model->eval();
  return loaded;
}

absl::Status SavePretrained(const PreTrainedModel& model, const std::string& model_dir) {
  std::error_code ec;
  fs::create_directories(model_dir, ec);
  if (ec) {
    return absl::PermissionDeniedError(
        absl::StrCat(model_dir, ": cannot create directory: ", ec.message()));
  }
  RETURN_IF_ERROR(SaveBertConfig(model.config(), (fs::path(model_dir) / "config.json").string()));
  return base::WriteSafetensors((fs::path(model_dir) / "model.safetensors").string(),
                                StateDict(model), {{"format", "pt"}});
}

}  // namespace models
