#include "compressor/combination.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace compressor {

absl::StatusOr<std::shared_ptr<Combination>> Combination::Create(
    std::vector<std::shared_ptr<Component>> parts) {
  if (parts.size() < 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("combine() needs at least two components, got ", parts.size()));
  }
  std::map<std::string, size_t> seen;
  std::map<std::string, std::string> settings;
  std::map<std::string, std::string> setting_owner;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (parts[i] == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("combine(): component ", i + 1, " is null"));
    }
    const std::string kind = parts[i]->kind();
    if (kind == "combination") {
      return absl::InvalidArgumentError(absl::StrCat(
          "combine(): component ", i + 1, " is itself a combination; list its parts instead"));
    }
    if (auto it = seen.find(kind); it != seen.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "combine(): components ", it->second + 1, " and ", i + 1, " are both of kind '",
          kind, "'; each kind may appear at most once"));
    }
    seen[kind] = i;
    for (const auto& [key, value] : parts[i]->train_settings()) {
      auto existing = settings.find(key);
      if (existing != settings.end() && existing->second != value) {
        return absl::InvalidArgumentError(absl::StrCat(
            "combine(): train setting '", key, "' is '", existing->second, "' for ",
            setting_owner[key], " but '", value, "' for ", kind));
      }
      settings[key] = value;
      setting_owner[key] = kind;
    }
  }
  return std::shared_ptr<Combination>(new Combination(std::move(parts), std::move(settings)));
}

bool Combination::needs_training() const {
  for (const auto& part : parts_) {
    if (part->needs_training()) return true;
  }
  return false;
}

bool Combination::needs_calibration() const {
  for (const auto& part : parts_) {
    if (part->needs_calibration()) return true;
  }
  return false;
}

std::vector<at::Tensor> Combination::trainable_parameters() const {
  std::vector<at::Tensor> all;
  for (const auto& part : parts_) {
    for (const at::Tensor& p : part->trainable_parameters()) all.push_back(p);
  }
  return all;
}

absl::Status Combination::on_train_begin(TrainState& state) {
  for (const auto& part : parts_) {
    if (absl::Status status = part->on_train_begin(state); !status.ok()) return status;
  }
  return absl::OkStatus();
}

#define FORWARD_HOOK(name)                                  \
  void Combination::name(TrainState& state) {               \
    for (const auto& part : parts_) part->name(state);      \
  }
FORWARD_HOOK(on_epoch_begin)
FORWARD_HOOK(on_step_begin)
FORWARD_HOOK(on_before_optimizer_step)
FORWARD_HOOK(on_after_optimizer_step)
FORWARD_HOOK(on_step_end)
FORWARD_HOOK(on_epoch_end)
FORWARD_HOOK(on_before_eval)
FORWARD_HOOK(on_after_eval)
#undef FORWARD_HOOK

at::Tensor Combination::on_after_compute_loss(TrainState& state, const TensorMap& inputs,
                                              const TensorMap& student_outputs,
                                              const at::Tensor& student_loss,
                                              const TensorMap* teacher_outputs) {
  at::Tensor loss = student_loss;
  for (const auto& part : parts_) {
    loss = part->on_after_compute_loss(state, inputs, student_outputs, loss, teacher_outputs);
  }
  return loss;
}

absl::Status Combination::on_train_end(TrainState& state) {
  for (const auto& part : parts_) {
    if (absl::Status status = part->on_train_end(state); !status.ok()) return status;
  }
  return absl::OkStatus();
}

std::shared_ptr<torch::nn::Module> Combination::output_model(
    std::shared_ptr<torch::nn::Module> trained) {
  for (const auto& part : parts_) trained = part->output_model(std::move(trained));
  return trained;
}

std::vector<ComponentSummary> Combination::summaries() const {
  std::vector<ComponentSummary> all;
  for (const auto& part : parts_) all.push_back(part->summary());
  return all;
}

ComponentSummary Combination::summary() const {
  ComponentSummary merged{"combination", {}, {}};
  for (const auto& part : parts_) {
    const ComponentSummary s = part->summary();
    for (const auto& [key, value] : s.values) merged.values[s.kind + "/" + key] = value;
    for (const auto& note : s.notes) merged.notes.push_back(s.kind + ": " + note);
  }
  return merged;
}

TensorMap Combination::state() const {
  TensorMap all;
  for (size_t i = 0; i < parts_.size(); ++i) {
    const std::string prefix = absl::StrCat(i, "/", parts_[i]->kind(), "/");
    for (const auto& [name, tensor] : parts_[i]->state()) all[prefix + name] = tensor;
  }
  return all;
}

absl::Status Combination::load_state(const TensorMap& state) {
  for (size_t i = 0; i < parts_.size(); ++i) {
    const std::string prefix = absl::StrCat(i, "/", parts_[i]->kind(), "/");
    TensorMap mine;
    for (const auto& [name, tensor] : state) {
      if (absl::StartsWith(name, prefix)) mine[name.substr(prefix.size())] = tensor;
    }
    if (absl::Status status = parts_[i]->load_state(mine); !status.ok()) return status;
  }
  return absl::OkStatus();
}

}  // namespace compressor
