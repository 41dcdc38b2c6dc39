#include "compressor/train/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <nlohmann/json.hpp>
#include <torch/serialize/archive.h>
#include <torch/utils.h>
#include <zlib.h>

#include "absl/strings/str_cat.h"
#include "base/atomic_file.h"
#include "base/safetensors.h"
#include "base/status_macros.h"

namespace compressor {
namespace {

namespace fs = std::filesystem;

constexpr char kRngKey[] = "__rng_cpu__";
// The files of a checkpoint besides trainer_state.json (which is written last and lists them).
constexpr const char* kCheckpointFiles[] = {"model.safetensors", "components.safetensors",
                                            "optimizer.pt"};

// Step of a complete checkpoint directory's name ("checkpoint-1200"), or -1 (other names,
// unfinished "checkpoint-1200.tmp-<pid>" directories).
int64_t CheckpointStep(const std::string& name) {
  constexpr char kPrefix[] = "checkpoint-";
  if (name.rfind(kPrefix, 0) != 0 || name.size() == sizeof(kPrefix) - 1) return -1;
  int64_t step = 0;
  for (size_t i = sizeof(kPrefix) - 1; i < name.size(); ++i) {
    if (name[i] < '0' || name[i] > '9') return -1;
    step = step * 10 + (name[i] - '0');
  }
  return step;
}

// The complete checkpoint-<step> directories of output_dir, oldest first.
std::vector<std::pair<int64_t, fs::path>> CompleteCheckpoints(const std::string& output_dir) {
  std::vector<std::pair<int64_t, fs::path>> checkpoints;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(output_dir, ec)) {
    const int64_t step = CheckpointStep(entry.path().filename().string());
    if (step >= 0 && entry.is_directory(ec)) checkpoints.emplace_back(step, entry.path());
  }
  std::sort(checkpoints.begin(), checkpoints.end());
  return checkpoints;
}

uint32_t Crc32(const std::string& bytes) {
  return static_cast<uint32_t>(
      crc32_z(0L, reinterpret_cast<const Bytef*>(bytes.data()), bytes.size()));
}

// trainer_state.json carries the CRC-32 of its own other fields ("crc32"), so an edited or
// bit-flipped step or file size is caught like a damaged weight file.
std::string TrainerStateText(nlohmann::json state) {
  state.erase("crc32");
  state["crc32"] = Crc32(state.dump());
  return state.dump(2);
}

absl::StatusOr<nlohmann::json> ReadTrainerState(const std::string& path) {
  ASSIGN_OR_RETURN(const std::string text, base::ReadFileToString(path));
  nlohmann::json state = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!state.is_object()) return absl::DataLossError(absl::StrCat(path, ": malformed JSON"));
  if (state.contains("crc32")) {  // Absent in checkpoints written before it was recorded.
    nlohmann::json fields = state;
    fields.erase("crc32");
    if (!state["crc32"].is_number_unsigned() ||
        state["crc32"].get<uint32_t>() != Crc32(fields.dump())) {
      return absl::DataLossError(absl::StrCat(path, ": CRC-32 mismatch (corrupted)"));
    }
  }
  return state;
}

absl::Status SyncPath(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY);
  if (fd < 0) return absl::InternalError(absl::StrCat(path, ": cannot open to sync"));
  const int rc = fsync(fd);
  close(fd);
  if (rc != 0) return absl::InternalError(absl::StrCat(path, ": fsync failed"));
  return absl::OkStatus();
}

std::vector<std::pair<std::string, at::Tensor>> ToList(const TensorMap& map) {
  std::vector<std::pair<std::string, at::Tensor>> list;
  for (const auto& [name, tensor] : map) list.emplace_back(name, tensor.detach().cpu().contiguous());
  return list;
}

absl::StatusOr<TensorMap> ReadAll(const std::string& path) {
  ASSIGN_OR_RETURN(auto reader, base::SafetensorsReader::Open(path));
  TensorMap map;
  for (const auto& info : reader->tensors()) {
    ASSIGN_OR_RETURN(map[info.name], reader->Load(info.name));
  }
  return map;
}

struct FileDigest {
  int64_t bytes = 0;
  uint32_t crc32 = 0;
};

absl::StatusOr<FileDigest> Digest(const std::string& path) {
  ASSIGN_OR_RETURN(const std::string bytes, base::ReadFileToString(path));
  FileDigest digest;
  digest.bytes = static_cast<int64_t>(bytes.size());
  digest.crc32 = Crc32(bytes);
  return digest;
}

}  // namespace

TensorMap ModuleState(const torch::nn::Module& model) {
  TensorMap state;
  for (const auto& item : model.named_parameters()) state[item.key()] = item.value();
  for (const auto& item : model.named_buffers()) state[item.key()] = item.value();
  return state;
}

absl::Status LoadModuleState(torch::nn::Module& model, const TensorMap& state,
                             const std::string& source) {
  torch::NoGradGuard no_grad;
  TensorMap targets = ModuleState(model);
  for (auto& [name, target] : targets) {
    auto it = state.find(name);
    if (it == state.end()) {
      return absl::DataLossError(absl::StrCat(source, ": tensor '", name, "' is missing"));
    }
    if (it->second.sizes() != target.sizes()) {
      return absl::DataLossError(absl::StrCat(source, ": tensor '", name, "' has the wrong shape"));
    }
    target.copy_(it->second);
  }
  return absl::OkStatus();
}

absl::Status SaveTrainingCheckpoint(const std::string& output_dir, const torch::nn::Module& model,
                                    const torch::optim::Optimizer& optimizer,
                                    const TensorMap& component_state,
                                    const TrainerPosition& position, int64_t keep) {
  std::error_code ec;
  fs::create_directories(output_dir, ec);
  if (ec) {
    return absl::PermissionDeniedError(
        absl::StrCat(output_dir, ": cannot create output directory: ", ec.message()));
  }
  const std::string name = absl::StrCat("checkpoint-", position.step);
  const fs::path final_dir = fs::path(output_dir) / name;
  const fs::path temp_dir = fs::path(output_dir) / absl::StrCat(name, ".tmp-", getpid());
  fs::remove_all(temp_dir, ec);
  fs::create_directories(temp_dir, ec);
  if (ec) {
    return absl::PermissionDeniedError(
        absl::StrCat(temp_dir.string(), ": cannot create checkpoint directory: ", ec.message()));
  }
  auto fail = [&](const absl::Status& status) {
    std::error_code ignored;
    fs::remove_all(temp_dir, ignored);
    return status;
  };
  if (auto s = base::WriteSafetensors((temp_dir / "model.safetensors").string(),
                                      ToList(ModuleState(model)));
      !s.ok()) {
    return fail(s);
  }
  TensorMap components = component_state;
  at::Generator generator = at::detail::getDefaultCPUGenerator();  // A handle, shared.
  components[kRngKey] = generator.get_state();
  if (auto s = base::WriteSafetensors((temp_dir / "components.safetensors").string(),
                                      ToList(components));
      !s.ok()) {
    return fail(s);
  }
  const std::string optimizer_path = (temp_dir / "optimizer.pt").string();
  try {
    torch::serialize::OutputArchive archive;
    optimizer.save(archive);
    archive.save_to(optimizer_path);
  } catch (const c10::Error& e) {
    return fail(absl::InternalError(
        absl::StrCat(optimizer_path, ": cannot write optimizer state: ", e.what_without_backtrace())));
  }
  if (auto s = SyncPath(optimizer_path); !s.ok()) return fail(s);
  nlohmann::json trainer_state = {
      {"step", position.step},           {"epoch", position.epoch},
      {"batch_in_epoch", position.batch_in_epoch}, {"lr_origin", position.lr_origin},
      {"has_best", position.has_best},   {"best_metric", position.best_metric},
      {"best_step", position.best_step}};
  // Sizes and checksums of the files as they are on disk, so a resume can tell a truncated
  // or corrupted checkpoint from a good one before loading it.
  for (const char* file : kCheckpointFiles) {
    absl::StatusOr<FileDigest> digest = Digest((temp_dir / file).string());
    if (!digest.ok()) return fail(digest.status());
    trainer_state["files"][file] = {{"bytes", digest->bytes}, {"crc32", digest->crc32}};
  }
  if (auto s = base::WriteStringToFileAtomically((temp_dir / "trainer_state.json").string(),
                                                 TrainerStateText(trainer_state));
      !s.ok()) {
    return fail(s);
  }
  fs::remove_all(final_dir, ec);
  fs::rename(temp_dir, final_dir, ec);
  if (ec) {
    return fail(absl::InternalError(
        absl::StrCat(final_dir.string(), ": cannot move checkpoint into place: ", ec.message())));
  }
  RETURN_IF_ERROR(SyncPath(output_dir));
  RETURN_IF_ERROR(base::WriteStringToFileAtomically(
      (fs::path(output_dir) / "latest_checkpoint").string(), name));
  if (keep > 0) {
    const auto existing = CompleteCheckpoints(output_dir);
    for (size_t i = 0; i + keep < existing.size(); ++i) fs::remove_all(existing[i].second, ec);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> LatestCheckpoint(const std::string& output_dir) {
  const std::string pointer = (fs::path(output_dir) / "latest_checkpoint").string();
  absl::StatusOr<std::string> name = base::ReadFileToString(pointer);
  if (!name.ok()) {
    return absl::NotFoundError(absl::StrCat(output_dir, ": no checkpoint to resume from"));
  }
  const std::string dir = (fs::path(output_dir) / *name).string();
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return absl::DataLossError(absl::StrCat(pointer, " names '", *name, "', which does not exist"));
  }
  return dir;
}

absl::Status LoadTrainingCheckpoint(const std::string& checkpoint_dir, torch::nn::Module& model,
                                    torch::optim::Optimizer& optimizer, TensorMap* component_state,
                                    TrainerPosition* position) {
  const fs::path dir(checkpoint_dir);
  ASSIGN_OR_RETURN(TensorMap weights, ReadAll((dir / "model.safetensors").string()));
  RETURN_IF_ERROR(LoadModuleState(model, weights, (dir / "model.safetensors").string()));
  ASSIGN_OR_RETURN(*component_state, ReadAll((dir / "components.safetensors").string()));
  if (auto rng = component_state->find(kRngKey); rng != component_state->end()) {
    at::Generator generator = at::detail::getDefaultCPUGenerator();
    try {
      generator.set_state(rng->second);
    } catch (const c10::Error& e) {  // Wrong size or dtype (found by //fuzz:checkpoint_fuzzer).
      return absl::DataLossError(absl::StrCat((dir / "components.safetensors").string(), ": ",
                                              kRngKey, " is not a CPU generator state (",
                                              e.what_without_backtrace(), ")"));
    }
    component_state->erase(rng);
  }
  const std::string optimizer_path = (dir / "optimizer.pt").string();
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(optimizer_path);
    optimizer.load(archive);
  } catch (const c10::Error& e) {
    return absl::DataLossError(absl::StrCat(optimizer_path, ": cannot read optimizer state: ",
                                            e.what_without_backtrace()));
  }
  const std::string state_path = (dir / "trainer_state.json").string();
  ASSIGN_OR_RETURN(const nlohmann::json state, ReadTrainerState(state_path));
  try {
    position->step = state.at("step").get<int64_t>();
    position->epoch = state.at("epoch").get<int64_t>();
    position->batch_in_epoch = state.at("batch_in_epoch").get<int64_t>();
    position->lr_origin = state.at("lr_origin").get<int64_t>();
    position->has_best = state.at("has_best").get<bool>();
    position->best_metric = state.at("best_metric").get<double>();
    position->best_step = state.at("best_step").get<int64_t>();
  } catch (const nlohmann::json::exception& e) {
    return absl::DataLossError(absl::StrCat(state_path, ": malformed: ", e.what()));
  }
  return absl::OkStatus();
}

std::vector<std::string> ResumeCandidates(const std::string& output_dir) {
  std::vector<std::string> candidates;
  absl::StatusOr<std::string> latest = LatestCheckpoint(output_dir);
  if (latest.ok()) candidates.push_back(*latest);
  const auto existing = CompleteCheckpoints(output_dir);
  for (auto it = existing.rbegin(); it != existing.rend(); ++it) {  // Newest first.
    const std::string dir = (fs::path(output_dir) / it->second.filename()).string();
    if (!latest.ok() || dir != *latest) candidates.push_back(dir);
  }
  return candidates;
}

absl::Status ValidateTrainingCheckpoint(const std::string& checkpoint_dir) {
  const fs::path dir(checkpoint_dir);
  const std::string state_path = (dir / "trainer_state.json").string();
  ASSIGN_OR_RETURN(const nlohmann::json state, ReadTrainerState(state_path));
  for (const char* file : kCheckpointFiles) {
    const std::string path = (dir / file).string();
    std::error_code ec;
    if (!fs::is_regular_file(path, ec)) return absl::DataLossError(absl::StrCat(path, ": missing"));
    if (!state.contains("files")) continue;  // Written before digests were recorded.
    const nlohmann::json& recorded = state["files"];
    if (!recorded.is_object() || !recorded.contains(file) || !recorded[file].is_object() ||
        !recorded[file].contains("bytes") || !recorded[file].contains("crc32") ||
        !recorded[file]["bytes"].is_number_integer() ||
        !recorded[file]["crc32"].is_number_integer()) {
      return absl::DataLossError(
          absl::StrCat(state_path, ": files.", file, " is missing or malformed"));
    }
    ASSIGN_OR_RETURN(const FileDigest digest, Digest(path));
    const int64_t bytes = recorded[file]["bytes"].get<int64_t>();
    if (digest.bytes != bytes) {
      return absl::DataLossError(
          absl::StrCat(path, ": ", digest.bytes, " bytes, but ", bytes, " were written"));
    }
    if (digest.crc32 != recorded[file]["crc32"].get<uint32_t>()) {  // Same size, other bytes.
      return absl::DataLossError(absl::StrCat(path, ": CRC-32 mismatch (corrupted)"));
    }
  }
  return absl::OkStatus();
}

}  // namespace compressor
