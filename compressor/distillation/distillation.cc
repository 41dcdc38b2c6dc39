#include "compressor/distillation/distillation.h"

#include <cmath>
#include <filesystem>
#include <set>
#include <system_error>
#include <utility>

#include <ATen/ATen.h>
#include <torch/utils.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/labels.h"
#include "base/safetensors.h"
#include "base/status_macros.h"
#include "compressor/distillation/kd_loss.h"

namespace compressor {
namespace {

using base::kIgnoreIndex;

std::string Keys(const TensorMap& map) {
  std::vector<std::string> keys;
  for (const auto& [key, value] : map) keys.push_back(key);
  return absl::StrCat("[", absl::StrJoin(keys, ", "), "]");
}

// `what` is e.g. "student output"; the message lists what exists, as a wrong name in a
// recipe is the usual cause.
const at::Tensor& Lookup(const TensorMap& map, const std::string& key, const char* what) {
  auto it = map.find(key);
  TORCH_CHECK(it != map.end() && it->second.defined(), "distillation: ", what, " \"", key,
              "\" not found; available: ", Keys(map));
  return it->second;
}

std::string Shape(const at::Tensor& t) {
  return absl::StrCat("[", absl::StrJoin(t.sizes(), ", "), "]");
}

bool IsWeight(double w) { return std::isfinite(w) && w >= 0; }

// The teacher outputs the losses read, each once (a logit may also be a layer target).
std::vector<std::string> NeededTeacherOutputs(const DistillationConfig& config) {
  std::vector<std::string> needed;
  std::set<std::string> seen;
  auto add = [&](const std::string& name) {
    if (seen.insert(name).second) needed.push_back(name);
  };
  for (const std::string& name : config.logit_names) add(name);
  for (const LayerMapping& m : config.layer_mappings) add(m.teacher_output);
  return needed;
}

// Deleting a bad file is the fix for every cache read error, so the messages say so.
constexpr char kDeleteHint[] = "; delete it to recompute the teacher outputs";

}  // namespace

const std::string& DistillationConfig::loss_type(size_t i) const {
  return loss_types.size() == 1 ? loss_types[0] : loss_types.at(i);
}

bool DistillationConfig::has_projection(size_t i) const {
  const LayerMapping& m = layer_mappings.at(i);
  return m.student_width > 0 && m.teacher_width > 0 && m.student_width != m.teacher_width;
}

absl::Status DistillationConfig::Validate(const std::string& source) const {
  auto error = [&](const std::string& key, const auto&... problem) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": ", key, " ", problem...));
  };
  if (!(temperature > 0) || !std::isfinite(temperature)) {
    return error("temperature", "must be > 0, got ", temperature);
  }
  if (logit_names.empty() && layer_mappings.empty()) {
    return error("logit_names", "and layer_mappings are both empty: nothing to distill");
  }
  std::set<std::string> seen;
  for (size_t i = 0; i < logit_names.size(); ++i) {
    if (logit_names[i].empty()) return error(absl::StrCat("logit_names[", i, "]"), "is empty");
    if (!seen.insert(logit_names[i]).second) {
      return error("logit_names", "lists \"", logit_names[i], "\" twice");
    }
  }
  if (loss_types.empty() ||
      (!logit_names.empty() && loss_types.size() != 1 && loss_types.size() != logit_names.size())) {
    return error("loss_types", "has ", loss_types.size(),
                 " entries; expected 1 (for all) or one per logit name (", logit_names.size(), ")");
  }
  for (size_t i = 0; i < loss_types.size(); ++i) {
    if (!IsLogitLossType(loss_types[i])) {
      return error(absl::StrCat("loss_types[", i, "]"), "is \"", loss_types[i],
                   "\"; supported: CE, KL, MSE");
    }
  }
  if (loss_weights.size() != 2) {
    return error("loss_weights", "has ", loss_weights.size(),
                 " values; expected 2: [task loss weight, KD weight]");
  }
  if (!IsWeight(loss_weights[0]) || !IsWeight(loss_weights[1])) {
    return error("loss_weights", "must be finite and >= 0, got [", loss_weights[0], ", ",
                 loss_weights[1], "]");
  }
  seen.clear();
  for (size_t i = 0; i < layer_mappings.size(); ++i) {
    const LayerMapping& m = layer_mappings[i];
    const std::string key = absl::StrCat("layer_mappings[", i, "]");
    if (m.student_output.empty() || m.teacher_output.empty()) {
      return error(key, "needs both student_output and teacher_output, got \"", m.student_output,
                   "\" and \"", m.teacher_output, "\"");
    }
    // The student output names the logged loss ("loss/layer/<name>"), so it must be unique.
    if (!seen.insert(m.student_output).second) {
      return error(key + ".student_output", "\"", m.student_output,
                   "\" is already mapped by an earlier entry");
    }
    if (!IsLayerLossType(m.loss_type)) {
      return error(key + ".loss_type", "is \"", m.loss_type, "\"; supported: MSE, L1, KL");
    }
    if (!IsWeight(m.weight)) {
      return error(key + ".weight", "must be finite and >= 0, got ", m.weight);
    }
    if (m.student_width < 0 || m.teacher_width < 0 ||
        (m.student_width == 0) != (m.teacher_width == 0)) {
      return error(key + ".student_width/teacher_width",
                   "must be both 0 (same width) or both > 0, got ", m.student_width, " and ",
                   m.teacher_width);
    }
    if (has_projection(i) && m.loss_type == "KL") {
      return error(key + ".loss_type", "KL compares distributions and cannot follow a learned ",
                   "projection (widths ", m.student_width, " -> ", m.teacher_width, ")");
    }
  }
  if (!teacher_cache_dir.empty() && teacher_cache_key.empty()) {
    return error("teacher_cache_dir", "is \"", teacher_cache_dir,
                 "\" but teacher_cache_key is empty; set the input key identifying examples");
  }
  return absl::OkStatus();
}

Distillation::Distillation(DistillationConfig config, std::shared_ptr<torch::nn::Module> teacher,
                           ForwardFunction teacher_forward)
    : config_(std::move(config)),
      teacher_(std::move(teacher)),
      teacher_forward_(std::move(teacher_forward)) {
  for (size_t i = 0; i < config_.layer_mappings.size(); ++i) {
    const LayerMapping& m = config_.layer_mappings[i];
    projections_.emplace_back(nullptr);
    if (config_.has_projection(i)) {
      projections_.back() = torch::nn::Linear(m.student_width, m.teacher_width);
    }
  }
}

std::vector<at::Tensor> Distillation::trainable_parameters() const {
  std::vector<at::Tensor> parameters;
  for (const torch::nn::Linear& projection : projections_) {
    if (projection.is_empty()) continue;
    parameters.push_back(projection->weight);
    parameters.push_back(projection->bias);
  }
  return parameters;
}

absl::Status Distillation::on_train_begin(TrainState& state) {
  RETURN_IF_ERROR(config_.Validate("distillation config"));
  if (teacher_ == nullptr || !teacher_forward_) {
    return absl::FailedPreconditionError("distillation: no teacher model or forward function");
  }
  if (state.model == teacher_) {
    return absl::InvalidArgumentError(
        "distillation: the teacher is the student model itself; pass a separate copy");
  }
  // A shared tensor would be frozen with the teacher, and the student's updates would
  // move the teacher's target.
  if (state.model != nullptr) {
    std::map<const void*, std::string> student;
    for (const auto& item : state.model->named_parameters()) {
      if (item.value().numel() > 0) student[item.value().data_ptr()] = item.key();
    }
    for (const auto& item : teacher_->named_parameters()) {
      auto it = student.find(item.value().data_ptr());
      if (item.value().numel() > 0 && it != student.end()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "distillation: teacher parameter \"", item.key(), "\" shares memory with student ",
            "parameter \"", it->second, "\"; give the student its own copy"));
      }
    }
  }
  teacher_->eval();
  for (at::Tensor& parameter : teacher_->parameters()) parameter.set_requires_grad(false);
  return EnsureCacheDir();
}

absl::Status Distillation::EnsureCacheDir() {
  if (config_.teacher_cache_dir.empty() || cache_dir_ready_) return absl::OkStatus();
  std::error_code error;
  std::filesystem::create_directories(config_.teacher_cache_dir, error);
  if (error) {
    return absl::FailedPreconditionError(
        absl::StrCat("distillation: cannot create teacher_cache_dir \"",
                     config_.teacher_cache_dir, "\": ", error.message()));
  }
  cache_dir_ready_ = true;
  return absl::OkStatus();
}

std::string Distillation::CacheSource(int64_t id) const {
  if (config_.teacher_cache_dir.empty()) {
    return absl::StrCat("example ", id, " (", config_.teacher_cache_key, ")");
  }
  return absl::StrCat(config_.teacher_cache_dir, "/", id, ".safetensors");
}

std::optional<TensorMap> Distillation::CachedRow(int64_t id,
                                                 const std::vector<std::string>& names) {
  if (config_.teacher_cache_dir.empty()) {
    auto it = teacher_cache_.find(id);
    if (it == teacher_cache_.end()) return std::nullopt;
    return it->second;
  }
  const std::string path = CacheSource(id);
  absl::StatusOr<std::unique_ptr<base::SafetensorsReader>> reader =
      base::SafetensorsReader::Open(path);
  if (reader.status().code() == absl::StatusCode::kNotFound) return std::nullopt;
  TORCH_CHECK(reader.ok(), "distillation: teacher cache file ", path, " is unreadable (",
              reader.status().message(), ")", kDeleteHint);
  TensorMap row;
  for (const std::string& name : names) {
    if ((*reader)->Find(name) == nullptr) {
      std::vector<std::string> present;
      for (const base::SafetensorsTensorInfo& info : (*reader)->tensors()) {
        present.push_back(info.name);
      }
      TORCH_CHECK(false, "distillation: teacher cache file ", path, " has no tensor \"", name,
                  "\" (it has [", absl::StrJoin(present, ", "), "]); it was written for other ",
                  "outputs", kDeleteHint);
    }
    // Load() copies: no mapping outlives this call.
    absl::StatusOr<at::Tensor> tensor = (*reader)->Load(name);
    TORCH_CHECK(tensor.ok(), "distillation: teacher cache file ", path, " is unreadable (",
                tensor.status().message(), ")", kDeleteHint);
    row[name] = *std::move(tensor);
  }
  ++cache_files_read_;
  return row;
}

void Distillation::StoreRow(int64_t id, const TensorMap& row) {
  if (config_.teacher_cache_dir.empty()) {
    TensorMap& cached = teacher_cache_[id];
    for (const auto& [name, tensor] : row) cached[name] = tensor.detach().clone();
    return;
  }
  const absl::Status ready = EnsureCacheDir();
  TORCH_CHECK(ready.ok(), ready.message());
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  // A row is a view of the batch output; the writer copies only its own bytes.
  for (const auto& [name, tensor] : row) tensors.emplace_back(name, tensor.detach().cpu());
  const std::string path = CacheSource(id);
  const absl::Status written = base::WriteSafetensors(path, tensors);
  TORCH_CHECK(written.ok(), "distillation: cannot write teacher cache file ", path, ": ",
              written.message());
  ++cache_files_written_;
}

TensorMap Distillation::RunTeacher(const TensorMap& inputs) {
  TORCH_CHECK(teacher_ != nullptr && teacher_forward_, "distillation: no teacher model or ",
              "forward function");
  // Dropout in the teacher would make its targets noise.
  if (teacher_->is_training()) teacher_->eval();
  torch::NoGradGuard no_grad;
  ++teacher_forward_calls_;
  return teacher_forward_(*teacher_, inputs);
}

TensorMap Distillation::TeacherOutputs(const TensorMap& inputs) {
  if (config_.teacher_cache_key.empty()) return RunTeacher(inputs);
  const at::Tensor& ids_tensor = Lookup(inputs, config_.teacher_cache_key, "input");
  TORCH_CHECK(ids_tensor.scalar_type() == at::kLong && ids_tensor.dim() == 1,
              "distillation: teacher_cache_key input \"", config_.teacher_cache_key,
              "\" must be int64 [batch], got ", ids_tensor.scalar_type(), " ", Shape(ids_tensor));
  const at::Tensor ids_cpu = ids_tensor.cpu().contiguous();
  const std::vector<int64_t> ids(ids_cpu.data_ptr<int64_t>(),
                                 ids_cpu.data_ptr<int64_t>() + ids_cpu.numel());
  const std::vector<std::string> needed = NeededTeacherOutputs(config_);

  // Every existing entry is read, even when another example of the batch is missing, so
  // a corrupt file is reported the first time its example comes up.
  std::vector<TensorMap> rows;
  std::set<int64_t> missing;
  for (int64_t id : ids) {
    std::optional<TensorMap> row = CachedRow(id, needed);
    if (row.has_value()) {
      rows.push_back(*std::move(row));
    } else {
      missing.insert(id);
    }
  }
  if (!ids.empty() && missing.empty()) {
    TensorMap outputs;
    for (const std::string& name : needed) {
      const at::Tensor& first = rows[0].at(name);
      std::vector<at::Tensor> column;
      for (size_t j = 0; j < rows.size(); ++j) {
        const at::Tensor& row = rows[j].at(name);
        TORCH_CHECK(row.sizes() == first.sizes() && row.scalar_type() == first.scalar_type(),
                    "distillation: cached teacher output \"", name, "\" is ",
                    row.scalar_type(), " ", Shape(row), " in ", CacheSource(ids[j]), " but ",
                    first.scalar_type(), " ", Shape(first), " in ", CacheSource(ids[0]),
                    "; the teacher cache needs inputs of the same length every epoch");
        column.push_back(row);
      }
      outputs[name] = at::stack(column);
    }
    return outputs;
  }
  // The batch's outputs are all fresh, so one step never mixes cached and new rows.
  TensorMap outputs = RunTeacher(inputs);
  const int64_t batch = static_cast<int64_t>(ids.size());
  for (const std::string& name : needed) {
    const at::Tensor& output = Lookup(outputs, name, "teacher output");
    TORCH_CHECK(output.dim() >= 1 && output.size(0) == batch, "distillation: the teacher ",
                "cache needs batch-first outputs; \"", name, "\" is ", Shape(output), " for ",
                batch, " examples of \"", config_.teacher_cache_key, "\"");
  }
  for (int64_t j = 0; j < batch; ++j) {
    // erase(): an example listed twice in the batch is stored once.
    if (missing.erase(ids[j]) == 0) continue;
    TensorMap row;
    for (const std::string& name : needed) row[name] = outputs.at(name).select(0, j);
    StoreRow(ids[j], row);
  }
  return outputs;
}

at::Tensor Distillation::on_after_compute_loss(TrainState& state, const TensorMap& inputs,
                                               const TensorMap& student_outputs,
                                               const at::Tensor& student_loss,
                                               const TensorMap* teacher_outputs) {
  TensorMap own_teacher_outputs;
  if (teacher_outputs == nullptr) {
    own_teacher_outputs = TeacherOutputs(inputs);
    teacher_outputs = &own_teacher_outputs;
  }
  const double task_weight = config_.loss_weights.at(0);
  const double kd_weight = config_.loss_weights.at(1);

  at::Tensor mask;
  bool mask_used = false;
  if (!config_.kd_mask_key.empty() && !config_.logit_names.empty()) {
    mask = Lookup(inputs, config_.kd_mask_key, "input (kd_mask_key)").ne(kIgnoreIndex);
  }
  at::Tensor total;
  if (!config_.logit_names.empty()) {
    at::Tensor kd;
    for (size_t i = 0; i < config_.logit_names.size(); ++i) {
      const std::string& name = config_.logit_names[i];
      const at::Tensor& student = Lookup(student_outputs, name, "student output");
      const at::Tensor teacher = Lookup(*teacher_outputs, name, "teacher output").detach();
      // The mask covers the outputs it fits (MLM logits [B, S, V] for labels [B, S]) and
      // not others distilled with them (NSP logits [B, 2]).
      const bool fits = mask.defined() && student.dim() >= 1 &&
                        mask.sizes() == student.sizes().slice(0, student.dim() - 1);
      mask_used = mask_used || fits;
      const at::Tensor term = LogitDistillationLoss(
          student, teacher, config_.loss_type(i), config_.temperature, fits ? mask : at::Tensor());
      kd = kd.defined() ? kd + term : term;
    }
    TORCH_CHECK(!mask.defined() || mask_used, "distillation: kd_mask_key \"", config_.kd_mask_key,
                "\" has shape ", Shape(mask), ", which fits none of the logits ",
                absl::StrJoin(config_.logit_names, ", "));
    kd = kd / static_cast<double>(config_.logit_names.size());
    const double kd_value = kd.item<double>();
    state.logs["loss/kd"] = kd_value;
    kd_loss_sum_ += kd_value;
    ++kd_loss_count_;
    total = kd * kd_weight;
  }
  if (student_loss.defined()) state.logs["loss/task"] = student_loss.item<double>();
  // With a task weight of 0 (INC's SQuAD recipe) batches without labels are fine.
  if (config_.add_origin_loss && (student_loss.defined() || task_weight != 0)) {
    TORCH_CHECK(student_loss.defined(), "distillation: add_origin_loss is set with task ",
                "weight ", task_weight, " but the task loss is undefined (no labels?)");
    const at::Tensor task = student_loss * task_weight;
    total = total.defined() ? total + task : task;
  }
  for (size_t i = 0; i < config_.layer_mappings.size(); ++i) {
    const LayerMapping& m = config_.layer_mappings[i];
    const at::Tensor term =
        LayerDistillationLoss(Lookup(student_outputs, m.student_output, "student output"),
                              Lookup(*teacher_outputs, m.teacher_output, "teacher output").detach(),
                              m.loss_type, projections_[i]);
    state.logs["loss/layer/" + m.student_output] = term.item<double>();
    total = total.defined() ? total + term * m.weight : term * m.weight;
  }
  TORCH_CHECK(total.defined(), "distillation: the config has no loss term (see Validate)");
  return total;
}

ComponentSummary Distillation::summary() const {
  ComponentSummary summary{kind(), {}, {}};
  summary.values["temperature"] = config_.temperature;
  if (config_.loss_weights.size() == 2) {
    summary.values["loss_weights/task"] = config_.loss_weights[0];
    summary.values["loss_weights/kd"] = config_.loss_weights[1];
  }
  summary.values["add_origin_loss"] = config_.add_origin_loss ? 1.0 : 0.0;
  summary.values["teacher_forward_calls"] = static_cast<double>(teacher_forward_calls_);
  if (kd_loss_count_ > 0) {
    summary.values["loss/kd_mean"] = kd_loss_sum_ / static_cast<double>(kd_loss_count_);
  }
  summary.notes.push_back(absl::StrCat("logit_names: [", absl::StrJoin(config_.logit_names, ", "),
                                       "], loss_types: [", absl::StrJoin(config_.loss_types, ", "),
                                       "]"));
  if (!config_.kd_mask_key.empty()) {
    summary.notes.push_back(absl::StrCat("kd_mask_key: ", config_.kd_mask_key));
  }
  if (!config_.teacher_cache_key.empty() && config_.teacher_cache_dir.empty()) {
    summary.notes.push_back(absl::StrCat("teacher_cache_key: ", config_.teacher_cache_key, " (",
                                         teacher_cache_.size(), " examples cached)"));
  }
  if (!config_.teacher_cache_dir.empty()) {
    summary.values["teacher_cache/files_read"] = static_cast<double>(cache_files_read_);
    summary.values["teacher_cache/files_written"] = static_cast<double>(cache_files_written_);
    summary.notes.push_back(absl::StrCat("teacher_cache_key: ", config_.teacher_cache_key,
                                         ", teacher_cache_dir: ", config_.teacher_cache_dir, " (",
                                         cache_files_read_, " files read, ",
                                         cache_files_written_, " written)"));
  }
  for (size_t i = 0; i < config_.layer_mappings.size(); ++i) {
    const LayerMapping& m = config_.layer_mappings[i];
    summary.notes.push_back(
        absl::StrCat("layer_mapping: ", m.student_output, " -> ", m.teacher_output, " (",
                     m.loss_type, ", weight ", m.weight,
                     projections_[i].is_empty()
                         ? std::string()
                         : absl::StrCat(", projection ", m.student_width, " -> ", m.teacher_width),
                     ")"));
  }
  return summary;
}

TensorMap Distillation::state() const {
  TensorMap state;
  for (size_t i = 0; i < projections_.size(); ++i) {
    if (projections_[i].is_empty()) continue;
    state[absl::StrCat("projection.", i, ".weight")] = projections_[i]->weight.detach();
    state[absl::StrCat("projection.", i, ".bias")] = projections_[i]->bias.detach();
  }
  return state;
}

absl::Status Distillation::load_state(const TensorMap& state) {
  std::set<std::string> expected;
  std::vector<std::pair<at::Tensor, at::Tensor>> copies;  // (live, saved)
  for (size_t i = 0; i < projections_.size(); ++i) {
    if (projections_[i].is_empty()) continue;
    for (const char* part : {"weight", "bias"}) {
      const std::string key = absl::StrCat("projection.", i, ".", part);
      expected.insert(key);
      const at::Tensor& live =
          std::string(part) == "weight" ? projections_[i]->weight : projections_[i]->bias;
      auto it = state.find(key);
      if (it == state.end() || !it->second.defined()) {
        return absl::InvalidArgumentError(
            absl::StrCat("distillation state: \"", key, "\" is missing; have ", Keys(state)));
      }
      if (it->second.sizes() != live.sizes()) {
        return absl::InvalidArgumentError(absl::StrCat("distillation state: \"", key,
                                                       "\" has shape ", Shape(it->second),
                                                       ", expected ", Shape(live)));
      }
      copies.emplace_back(live, it->second);
    }
  }
  for (const auto& [key, value] : state) {
    if (key.rfind("projection.", 0) == 0 && expected.count(key) == 0) {
      return absl::InvalidArgumentError(absl::StrCat("distillation state: \"", key,
                                                     "\" matches no projection of this config's ",
                                                     "layer_mappings"));
    }
  }
  // Checked first, copied after: a failed load leaves the projections untouched.
  torch::NoGradGuard no_grad;
  for (auto& [live, saved] : copies) live.copy_(saved);
  return absl::OkStatus();
}

}  // namespace compressor
