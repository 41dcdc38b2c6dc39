#include "compressor/pruning/pruner.h"

#include <algorithm>
#include <cmath>
#include <regex>

#include <ATen/ATen.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/utils.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "compressor/module_selection.h"
#include "layers/linear.h"

namespace compressor {
namespace {

bool HasType(const torch::nn::Module& module, const std::string& type) {
  // layers::Linear (what models hold) or a plain torch::nn::Linear: pruning only edits
  // weights in place, which works on either.
  if (type == "Linear") {
    return module.as<layers::Linear>() != nullptr || module.as<torch::nn::Linear>() != nullptr;
  }
  if (type == "Conv1d") return module.as<torch::nn::Conv1d>() != nullptr;
  if (type == "Conv2d") return module.as<torch::nn::Conv2d>() != nullptr;
  return false;
}

}  // namespace

SparsitySchedule PruningConfig::schedule() const {
  SparsitySchedule s;
  s.decay_type = sparsity_decay_type;
  s.initial_sparsity = initial_sparsity;
  s.target_sparsity = target_sparsity;
  s.start_step = start_step;
  s.end_step = end_step;
  s.pruning_frequency = pruning_frequency;
  return s;
}

absl::Status PruningConfig::Validate(const std::string& source) const {
  auto error = [&](const char* key, const auto&... problem) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": ", key, " ", problem...));
  };
  if (pruning_type != "magnitude" && pruning_type != "snip_momentum" &&
      pruning_type != "pattern_lock") {
    return error("pruning_type", "is \"", pruning_type,
                 "\"; supported: magnitude, snip_momentum, pattern_lock");
  }
  if (pruning_scope != "local" && pruning_scope != "global") {
    return error("pruning_scope", "is \"", pruning_scope, "\"; supported: local, global");
  }
  for (const std::string& type : op_types) {
    if (type != "Linear" && type != "Conv1d" && type != "Conv2d") {
      return error("op_types", "contains \"", type, "\"; supported: Linear, Conv1d, Conv2d");
    }
  }
  if (!(min_sparsity_ratio_per_op >= 0 && min_sparsity_ratio_per_op <= max_sparsity_ratio_per_op &&
        max_sparsity_ratio_per_op < 1)) {
    return error("min_sparsity_ratio_per_op", "/max_sparsity_ratio_per_op must satisfy 0 <= ",
                 min_sparsity_ratio_per_op, " <= ", max_sparsity_ratio_per_op, " < 1");
  }
  if (!(snip_momentum_beta >= 0 && snip_momentum_beta < 1)) {
    return error("snip_momentum_beta", "must be in [0, 1), got ", snip_momentum_beta);
  }
  auto created = PruningPattern::Create(pattern);
  if (!created.ok()) return error("pattern", created.status().message());
  if (pruning_type != "pattern_lock" && target_sparsity > (*created)->MaxSparsity() + 1e-9) {
    return error("target_sparsity", target_sparsity, " exceeds what pattern ", this->pattern,
                 " allows (", (*created)->MaxSparsity(), ")");
  }
  if (auto status = schedule().Validate(source); !status.ok()) return status;
  if (auto filter = ModuleFilter::Create(op_names, excluded_op_names, source); !filter.ok()) {
    return filter.status();
  }
  return absl::OkStatus();
}

absl::StatusOr<Pruner> Pruner::Create(torch::nn::Module& model, const PruningConfig& config) {
  if (auto status = config.Validate("pruning config"); !status.ok()) return status;
  auto pattern = PruningPattern::Create(config.pattern);
  if (!pattern.ok()) return pattern.status();
  auto filter = ModuleFilter::Create(config.op_names, config.excluded_op_names, "pruning config");
  if (!filter.ok()) return filter.status();

  Pruner pruner(config, std::move(*pattern));
  for (const auto& item : model.named_modules(/*name_prefix=*/"", /*include_self=*/false)) {
    const std::string& name = item.key();
    const torch::nn::Module& module = *item.value();
    if (std::none_of(config.op_types.begin(), config.op_types.end(),
                     [&](const std::string& t) { return HasType(module, t); })) {
      continue;
    }
    if (!filter->Selects(name)) continue;
    const std::string param = name + ".weight";
    at::Tensor weight = module.named_parameters(/*recurse=*/false)["weight"];
    if (auto status = pruner.pattern_->CheckShape(weight.sizes(), param); !status.ok()) {
      return status;
    }
    Layer layer{param, weight, at::ones_like(weight, weight.options().dtype(at::kBool)), {}};
    if (config.pruning_type == "pattern_lock") layer.mask = weight.detach().ne(0);
    if (config.pruning_type == "snip_momentum") layer.score = at::zeros_like(weight.detach());
    pruner.layers_.push_back(std::move(layer));
  }
  if (pruner.layers_.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "pruning config: no module matches op_types [", absl::StrJoin(config.op_types, ", "),
        "], op_names [", absl::StrJoin(config.op_names, ", "), "] outside excluded_op_names [",
        absl::StrJoin(config.excluded_op_names, ", "), "]"));
  }
  return pruner;
}

at::Tensor Pruner::Scores(const Layer& layer) const {
  if (layer.score.defined()) return layer.score;
  return layer.weight.detach().abs();
}

void Pruner::ComputeMasks(double sparsity) {
  torch::NoGradGuard no_grad;
  std::vector<at::Tensor> scores, units;
  for (const Layer& layer : layers_) {
    scores.push_back(Scores(layer));
    units.push_back(pattern_->UnitScores(scores.back()).to(at::kDouble));
  }
  // How many units each layer prunes.
  std::vector<int64_t> counts(layers_.size());
  if (config_.pruning_scope == "local") {
    for (size_t i = 0; i < layers_.size(); ++i) {
      const int64_t per_unit = pattern_->WeightsPerPrunedUnit(layers_[i].weight.sizes());
      counts[i] = std::min<int64_t>(
          units[i].numel(),
          std::llround(sparsity * double(layers_[i].weight.numel()) / double(per_unit)));
    }
  } else {
    // One ranking over all layers by score per zeroed weight; walk it from the lowest,
    // skipping layers at their max ratio, until the zeroed weights reach the target; then
    // raise layers below their min ratio.
    std::vector<at::Tensor> normalized, owners;
    std::vector<int64_t> per_unit(layers_.size()), low(layers_.size()), high(layers_.size());
    double total = 0;
    for (size_t i = 0; i < layers_.size(); ++i) {
      per_unit[i] = pattern_->WeightsPerPrunedUnit(layers_[i].weight.sizes());
      normalized.push_back(units[i] / double(per_unit[i]));
      owners.push_back(at::full({units[i].numel()}, int64_t(i), at::kLong));
      const double n = double(units[i].numel());
      low[i] = int64_t(std::ceil(config_.min_sparsity_ratio_per_op * n - 1e-9));
      high[i] = int64_t(std::floor(config_.max_sparsity_ratio_per_op * n + 1e-9));
      total += double(layers_[i].weight.numel());
    }
    const at::Tensor order = at::argsort(at::cat(normalized));
    const at::Tensor owner = at::cat(owners).index_select(0, order).contiguous();
    const int64_t* owner_data = owner.data_ptr<int64_t>();
    const int64_t goal = std::llround(sparsity * total);
    int64_t removed = 0;
    for (int64_t j = 0; j < owner.numel() && removed < goal; ++j) {
      const int64_t i = owner_data[j];
      if (counts[i] >= high[i] || removed + per_unit[i] > goal) continue;
      ++counts[i];
      removed += per_unit[i];
    }
    for (size_t i = 0; i < layers_.size(); ++i) counts[i] = std::max(counts[i], low[i]);
  }
  for (size_t i = 0; i < layers_.size(); ++i) {
    at::Tensor pruned = at::zeros({units[i].numel()}, at::kBool);
    if (counts[i] > 0) {
      const at::Tensor lowest = std::get<1>(units[i].topk(counts[i], 0, /*largest=*/false));
      pruned.index_fill_(0, lowest, true);
    }
    layers_[i].mask = pattern_->KeepMask(pruned, scores[i]);
  }
}

bool Pruner::UpdateMasks(int64_t step) {
  if (config_.pruning_type == "pattern_lock") return false;
  const SparsitySchedule schedule = config_.schedule();
  if (!schedule.IsPruningStep(step)) return false;
  current_target_ = schedule.SparsityAt(step);
  ComputeMasks(current_target_);
  ApplyMasks();
  return true;
}

void Pruner::MaskGradients() {
  torch::NoGradGuard no_grad;
  for (Layer& layer : layers_) {
    const at::Tensor& grad = layer.weight.grad();
    if (!grad.defined()) continue;
    if (layer.score.defined()) {
      layer.score.mul_(config_.snip_momentum_beta).add_((layer.weight * grad).abs());
    }
    grad.mul_(layer.mask);
  }
}

void Pruner::ApplyMasks() {
  torch::NoGradGuard no_grad;
  for (Layer& layer : layers_) layer.weight.mul_(layer.mask);
}

SparsityReport Pruner::Report() const {
  SparsityReport report;
  for (const Layer& layer : layers_) {
    LayerSparsity entry;
    entry.name = layer.name;
    entry.numel = layer.weight.numel();
    entry.zeros = layer.weight.detach().eq(0).sum().item<int64_t>();
    report.numel += entry.numel;
    report.zeros += entry.zeros;
    report.layers.push_back(entry);
  }
  return report;
}

std::map<std::string, at::Tensor> Pruner::State() const {
  std::map<std::string, at::Tensor> state;
  for (const Layer& layer : layers_) {
    state[layer.name + ".mask"] = layer.mask.to(at::kByte);
    if (layer.score.defined()) state[layer.name + ".score"] = layer.score;
  }
  state["current_target"] = at::tensor({current_target_}, at::kDouble);
  return state;
}

absl::Status Pruner::LoadState(const std::map<std::string, at::Tensor>& state) {
  for (Layer& layer : layers_) {
    auto mask = state.find(layer.name + ".mask");
    if (mask == state.end() || mask->second.sizes() != layer.weight.sizes()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "pruning state: mask of '", layer.name, "' is missing or has the wrong shape"));
    }
    layer.mask = mask->second.to(at::kBool);
    if (layer.score.defined()) {
      auto score = state.find(layer.name + ".score");
      if (score == state.end() || score->second.sizes() != layer.weight.sizes()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "pruning state: snip_momentum score of '", layer.name, "' is missing"));
      }
      layer.score = score->second.clone();
    }
  }
  if (auto target = state.find("current_target"); target != state.end()) {
    current_target_ = target->second.item<double>();
  }
  ApplyMasks();
  return absl::OkStatus();
}

}  // namespace compressor
