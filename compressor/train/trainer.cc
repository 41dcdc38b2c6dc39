#include "compressor/train/trainer.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/adamw.h>
#include <torch/optim/sgd.h>
#include <torch/utils.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_format.h"
#include "base/status_macros.h"
#include "compressor/train/checkpoint.h"
#include "compressor/train/lr_schedule.h"

namespace compressor {
namespace {

// Stands in for "no component" so the loop calls hooks unconditionally.
class NoHooks : public Component {
 public:
  std::string kind() const override { return "none"; }
};

std::unique_ptr<torch::optim::Optimizer> MakeOptimizer(const TrainerConfig& config,
                                                       torch::nn::Module& model,
                                                       const std::vector<at::Tensor>& extra) {
  std::vector<at::Tensor> decay, no_decay;
  for (const auto& item : model.named_parameters()) {
    if (!item.value().requires_grad()) continue;
    const bool skip = std::any_of(config.no_decay.begin(), config.no_decay.end(),
                                  [&](const std::string& s) { return absl::EndsWith(item.key(), s); });
    (skip ? no_decay : decay).push_back(item.value());
  }
  for (const at::Tensor& p : extra) decay.push_back(p);
  if (config.optimizer == "sgd") {
    auto options = torch::optim::SGDOptions(config.learning_rate)
                       .momentum(config.sgd_momentum)
                       .weight_decay(config.weight_decay);
    auto no_decay_options = options;
    no_decay_options.weight_decay(0.0);
    std::vector<torch::optim::OptimizerParamGroup> groups;
    groups.emplace_back(decay, std::make_unique<torch::optim::SGDOptions>(options));
    groups.emplace_back(no_decay, std::make_unique<torch::optim::SGDOptions>(no_decay_options));
    return std::make_unique<torch::optim::SGD>(groups, options);
  }
  auto options = torch::optim::AdamWOptions(config.learning_rate)
                     .betas({config.adam_beta1, config.adam_beta2})
                     .eps(config.adam_epsilon)
                     .weight_decay(config.weight_decay);
  auto no_decay_options = options;
  no_decay_options.weight_decay(0.0);
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(decay, std::make_unique<torch::optim::AdamWOptions>(options));
  groups.emplace_back(no_decay, std::make_unique<torch::optim::AdamWOptions>(no_decay_options));
  return std::make_unique<torch::optim::AdamW>(groups, options);
}

std::string Duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const int64_t s = static_cast<int64_t>(seconds);
  if (s >= 3600) return absl::StrFormat("%dh%02dm", s / 3600, (s % 3600) / 60);
  if (s >= 60) return absl::StrFormat("%dm%02ds", s / 60, s % 60);
  return absl::StrFormat("%ds", s);
}

}  // namespace

absl::Status TrainerConfig::Validate(const std::string& source) const {
  auto error = [&](const char* key, const auto&... problem) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": ", key, " ", problem...));
  };
  if (optimizer != "adamw" && optimizer != "sgd") {
    return error("optimizer", "is \"", optimizer, "\"; supported: adamw, sgd");
  }
  if (!(learning_rate > 0)) return error("learning_rate", "must be positive, got ", learning_rate);
  if (weight_decay < 0) return error("weight_decay", "must not be negative, got ", weight_decay);
  if (auto s = LrSchedule::Validate(lr_scheduler_type); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": ", s.message()));
  }
  if (warmup_steps < 0) return error("warmup_steps", "must not be negative, got ", warmup_steps);
  if (!(warmup_ratio >= 0 && warmup_ratio < 1)) {
    return error("warmup_ratio", "must be in [0, 1), got ", warmup_ratio);
  }
  if (gradient_accumulation_steps < 1) {
    return error("gradient_accumulation_steps", "must be at least 1, got ",
                 gradient_accumulation_steps);
  }
  if (num_train_epochs < 1 && max_steps <= 0) {
    return error("num_train_epochs", "must be at least 1 (or set max_steps), got ",
                 num_train_epochs);
  }
  if (logging_steps < 1) return error("logging_steps", "must be at least 1, got ", logging_steps);
  if (eval_steps < 0) return error("eval_steps", "must not be negative, got ", eval_steps);
  if (save_steps < 0) return error("save_steps", "must not be negative, got ", save_steps);
  if (resume && output_dir.empty()) return error("resume", "needs output_dir");
  if (nan_policy != "stop" && nan_policy != "skip") {
    return error("nan_policy", "is \"", nan_policy, "\"; supported: stop, skip");
  }
  return absl::OkStatus();
}

TrainFunc Trainer::AsTrainFunc() {
  return [this](std::shared_ptr<torch::nn::Module> model,
                Component& hooks) -> absl::StatusOr<int64_t> {
    ASSIGN_OR_RETURN(TrainResult result, Train(std::move(model), &hooks));
    return result.steps;
  };
}

absl::StatusOr<TrainResult> Trainer::Train(std::shared_ptr<torch::nn::Module> model,
                                           Component* hooks_or_null) {
  RETURN_IF_ERROR(config_.Validate("trainer config (" + config_.stage + ")"));
  if (!task_.forward || !task_.loss) {
    return absl::InvalidArgumentError("trainer: task forward and loss functions are required");
  }
  NoHooks no_hooks;
  Component& hooks = hooks_or_null ? *hooks_or_null : no_hooks;
  const auto start_time = std::chrono::steady_clock::now();
  torch::manual_seed(config_.seed);

  TrainState state;
  state.model = model;
  model->train();
  RETURN_IF_ERROR(hooks.on_train_begin(state));
  model = state.model;  // A hook may have replaced modules (QAT); build the optimizer after.
  std::unique_ptr<torch::optim::Optimizer> optimizer =
      MakeOptimizer(config_, *model, hooks.trainable_parameters());
  state.optimizer = optimizer.get();
  // Everything whose gradient a data-parallel run averages: the model's and the hooks'.
  std::vector<at::Tensor> synced_parameters;
  if (sync_) {
    synced_parameters = model->parameters();
    for (const at::Tensor& p : hooks.trainable_parameters()) synced_parameters.push_back(p);
    RETURN_IF_ERROR(sync_->OnTrainBegin(*model, synced_parameters));
  }
  // Other ranks train the same steps but leave checkpoints, logs and progress to rank 0.
  const bool main_process = !sync_ || sync_->is_main_process();

  const std::optional<int64_t> batches = data_->num_batches();
  const int64_t accumulation = config_.gradient_accumulation_steps;
  int64_t total_steps = config_.max_steps;
  if (total_steps <= 0) {
    if (!batches) {
      return absl::InvalidArgumentError(
          "trainer: the data has no known length; set max_steps for streamed data");
    }
    total_steps = (*batches + accumulation - 1) / accumulation * config_.num_train_epochs;
  }
  state.total_steps = total_steps;
  const int64_t warmup = config_.warmup_steps > 0
                             ? config_.warmup_steps
                             : static_cast<int64_t>(std::ceil(config_.warmup_ratio * total_steps));
  LrSchedule lr(config_.lr_scheduler_type, config_.learning_rate, warmup, total_steps);

  TrainResult result;
  TrainerPosition position;
  std::optional<TensorMap> best_weights;
  if (config_.resume) {
    // The newest checkpoint that validates and loads; a broken one is reported in one line
    // and the previous one is used. Checkpoints that exist but none usable is an error (never
    // a silent start from scratch); no checkpoint at all starts from step 0.
    if (absl::StatusOr<std::string> latest = LatestCheckpoint(config_.output_dir);
        !latest.ok() && !absl::IsNotFound(latest.status()) && main_process) {
      std::fprintf(stderr, "[%s] %s\n", config_.stage.c_str(),
                   std::string(latest.status().message()).c_str());
    }
    const std::vector<std::string> candidates = ResumeCandidates(config_.output_dir);
    std::vector<std::string> failures;
    for (const std::string& dir : candidates) {
      position = TrainerPosition();
      TensorMap component_state;
      absl::Status loaded = ValidateTrainingCheckpoint(dir);
      if (loaded.ok()) {
        loaded = LoadTrainingCheckpoint(dir, *model, *optimizer, &component_state, &position);
      }
      if (loaded.ok()) loaded = hooks.load_state(component_state);
      if (!loaded.ok()) {
        failures.push_back(std::string(loaded.message()));
        if (main_process) {
          std::fprintf(stderr, "[%s] cannot resume from %s: %s\n", config_.stage.c_str(),
                       std::filesystem::path(dir).filename().c_str(), failures.back().c_str());
        }
        continue;
      }
      lr.Rewind(position.lr_origin);
      result.resumed = true;
      result.resumed_from_step = position.step;
      if (main_process) {
        std::fprintf(stderr, "[%s] resuming from %s (step %lld)\n", config_.stage.c_str(),
                     dir.c_str(), static_cast<long long>(position.step));
      }
      break;
    }
    if (!candidates.empty() && !result.resumed) {
      return absl::DataLossError(absl::StrCat(config_.output_dir,
                                              ": no valid checkpoint to resume from (",
                                              absl::StrJoin(failures, "; "), ")"));
    }
  }

  std::ofstream metrics_log;
  if (!config_.output_dir.empty() && main_process) {
    std::error_code ec;
    std::filesystem::create_directories(config_.output_dir, ec);
    metrics_log.open(config_.output_dir + "/metrics.jsonl", std::ios::app);
    if (!metrics_log) {
      return absl::PermissionDeniedError(
          absl::StrCat(config_.output_dir, "/metrics.jsonl: cannot open for writing"));
    }
  }
  const bool tty = isatty(fileno(stderr));
  double window_loss = 0.0;
  int64_t window_count = 0;
  auto window_start = std::chrono::steady_clock::now();
  int64_t window_start_step = position.step;
  state.step = position.step;
  state.epoch = position.epoch;

  auto evaluate = [&]() -> absl::Status {
    if (!task_.evaluate) return absl::OkStatus();
    hooks.on_before_eval(state);
    model->eval();
    absl::StatusOr<std::map<std::string, double>> metrics;
    {
      torch::NoGradGuard no_grad;
      metrics = task_.evaluate(*model);
    }
    model->train();
    hooks.on_after_eval(state);
    if (!metrics.ok()) return metrics.status();
    result.final_metrics = *metrics;
    nlohmann::json line = {{"stage", config_.stage}, {"step", state.step}, {"eval", *metrics}};
    if (metrics_log) metrics_log << line.dump() << "\n" << std::flush;
    std::string shown;
    for (const auto& [k, v] : *metrics) absl::StrAppend(&shown, " ", k, "=", absl::StrFormat("%.4f", v));
    if (main_process) {
      std::fprintf(stderr, "%s[%s] eval at step %lld:%s\n", tty ? "\n" : "",
                   config_.stage.c_str(), static_cast<long long>(state.step), shown.c_str());
    }
    const std::string& key = config_.metric_for_best_model;
    if (!key.empty()) {
      auto it = metrics->find(key);
      if (it == metrics->end()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "metric_for_best_model '", key, "' is not among the evaluation metrics"));
      }
      const bool better = !position.has_best || (config_.greater_is_better
                                                     ? it->second > position.best_metric
                                                     : it->second < position.best_metric);
      if (better) {
        position.has_best = true;
        position.best_metric = it->second;
        position.best_step = state.step;
        result.best_metrics = *metrics;
        result.best_step = state.step;
        best_weights = TensorMap();
        for (const auto& [name, tensor] : ModuleState(*model)) (*best_weights)[name] = tensor.detach().clone();
      }
    }
    return absl::OkStatus();
  };

  auto checkpoint = [&](int64_t epoch, int64_t batch_in_epoch) -> absl::Status {
    if (config_.output_dir.empty() || !main_process) return absl::OkStatus();
    position.step = state.step;
    position.epoch = epoch;
    position.batch_in_epoch = batch_in_epoch;
    position.lr_origin = lr.origin();
    return SaveTrainingCheckpoint(config_.output_dir, *model, *optimizer, hooks.state(), position,
                                  config_.save_total_limit);
  };

  auto log_progress = [&]() {
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - window_start).count();
    const double rate = elapsed > 0 ? double(state.step - window_start_step) / elapsed : 0.0;
    const double loss = window_count ? window_loss / window_count : 0.0;
    result.final_loss = loss;
    nlohmann::json line = {{"stage", config_.stage},     {"step", state.step},
                           {"epoch", state.epoch},       {"loss", loss},
                           {"learning_rate", state.learning_rate},
                           {"steps_per_second", rate}};
    for (const auto& [k, v] : state.logs) line[k] = v;
    if (result.skipped_steps > 0) line["skipped_steps"] = result.skipped_steps;
    if (metrics_log) metrics_log << line.dump() << "\n" << std::flush;
    if (config_.progress && main_process) {
      std::string extra;
      if (auto it = state.logs.find("sparsity"); it != state.logs.end()) {
        extra = absl::StrFormat(" | sparsity %.1f%%", 100.0 * it->second);
      }
      const double eta = rate > 0 ? double(total_steps - state.step) / rate : -1;
      std::fprintf(stderr, "%s[%s] step %lld/%lld | loss %.4f | lr %.2e%s | %.2f steps/s | ETA %s%s",
                   tty ? "\r" : "", config_.stage.c_str(), static_cast<long long>(state.step),
                   static_cast<long long>(total_steps), loss, state.learning_rate, extra.c_str(),
                   rate, Duration(eta).c_str(), tty ? "" : "\n");
      std::fflush(stderr);
    }
    window_loss = 0;
    window_count = 0;
    window_start = std::chrono::steady_clock::now();
    window_start_step = state.step;
  };

  optimizer->zero_grad();
  bool done = state.step >= total_steps;
  for (int64_t epoch = position.epoch; !done; ++epoch) {
    state.epoch = epoch;
    data_->Restart(static_cast<uint64_t>(epoch));
    hooks.on_epoch_begin(state);
    int64_t consumed = 0;
    const int64_t skip = epoch == position.epoch ? position.batch_in_epoch : 0;
    int64_t micro = 0;
    bool step_finite = true;  // Every loss of this step's micro-batches was finite.
    std::string non_finite;   // What was not, for the message.
    TensorMap batch;
    while (!done) {
      ASSIGN_OR_RETURN(const bool more, data_->Next(&batch));
      if (!more) break;
      ++consumed;
      if (consumed <= skip) continue;  // Replaying the resumed epoch up to where it stopped.
      if (micro == 0) {
        hooks.on_step_begin(state);
        if (state.rewind_learning_rate) {
          lr.Rewind(state.step);
          state.rewind_learning_rate = false;
        }
        state.learning_rate = lr.At(state.step);
        for (auto& group : optimizer->param_groups()) group.options().set_lr(state.learning_rate);
      }
      const TensorMap outputs = task_.forward(*model, batch);
      at::Tensor loss = task_.loss(outputs, batch);
      loss = hooks.on_after_compute_loss(state, batch, outputs, loss, nullptr);
      const double loss_value = loss.item<double>();
      if (!std::isfinite(loss_value)) {
        const std::string what = absl::StrCat("loss is ", loss_value, " at step ", state.step,
                                              " (epoch ", epoch, ", batch ", consumed, ")");
        if (config_.nan_policy == "stop" && !sync_) {
          return absl::InternalError(absl::StrCat("[", config_.stage, "] ", what, "; stopping"));
        }
        if (step_finite) non_finite = what;
        step_finite = false;  // No backward: this step's gradients are dropped anyway.
      } else {
        if (sync_) sync_->OnBeforeBackward(micro + 1 == accumulation);
        (accumulation > 1 ? loss / double(accumulation) : loss).backward();
        window_loss += loss_value;
        ++window_count;
      }
      if (++micro < accumulation) continue;
      micro = 0;
      bool finite = step_finite;
      if (sync_) {
        // Every rank joins the all-reduce, so all of them stop or skip this step together.
        ASSIGN_OR_RETURN(finite, sync_->Synchronize(synced_parameters, step_finite));
        if (!finite && step_finite) {
          non_finite = absl::StrCat("loss is not finite on another rank at step ", state.step,
                                    " (epoch ", epoch, ")");
        }
      }
      step_finite = true;
      if (finite) {
        hooks.on_before_optimizer_step(state);
        if (config_.max_grad_norm > 0) {
          const double norm =
              torch::nn::utils::clip_grad_norm_(model->parameters(), config_.max_grad_norm);
          if (!std::isfinite(norm)) {
            finite = false;
            non_finite = absl::StrCat("gradient norm is ", norm, " at step ", state.step,
                                      " (epoch ", epoch, ", batch ", consumed, ")");
          }
        }
      }
      if (!finite) {
        if (config_.nan_policy == "stop") {
          return absl::InternalError(
              absl::StrCat("[", config_.stage, "] ", non_finite, "; stopping"));
        }
        optimizer->zero_grad();
        ++result.skipped_steps;
        if (main_process) {
          std::fprintf(stderr, "%s[%s] %s; step skipped (nan_policy skip, %lld so far)\n",
                       tty ? "\n" : "", config_.stage.c_str(), non_finite.c_str(),
                       static_cast<long long>(result.skipped_steps));
        }
        continue;
      }
      optimizer->step();
      hooks.on_after_optimizer_step(state);
      optimizer->zero_grad();
      ++state.step;
      hooks.on_step_end(state);
      if (state.step % config_.logging_steps == 0 || state.step == total_steps) log_progress();
      if (config_.eval_steps > 0 && state.step % config_.eval_steps == 0) RETURN_IF_ERROR(evaluate());
      if (config_.save_steps > 0 && state.step % config_.save_steps == 0) {
        RETURN_IF_ERROR(checkpoint(epoch, consumed));
      }
      done = state.step >= total_steps;
    }
    if (micro > 0) {
      // A partial accumulation at the end of an epoch still takes its step, as HF does.
      return absl::FailedPreconditionError(absl::StrCat(
          "[", config_.stage, "] epoch ", epoch, " ended inside a gradient accumulation of ",
          accumulation, " (", micro, " micro-batches pending); use a batch count divisible by ",
          "gradient_accumulation_steps"));
    }
    hooks.on_epoch_end(state);
    ++result.epochs_completed;
    if (config_.eval_steps == 0) RETURN_IF_ERROR(evaluate());
    if (config_.save_steps == 0) RETURN_IF_ERROR(checkpoint(epoch + 1, 0));
    if (!batches && consumed == 0) break;  // An empty stream would loop forever.
  }
  if (config_.progress && tty) std::fprintf(stderr, "\n");
  if (config_.load_best_model_at_end && best_weights) {
    RETURN_IF_ERROR(LoadModuleState(*model, *best_weights, "best model"));
  }
  if (sync_) RETURN_IF_ERROR(sync_->OnTrainEnd(*model));
  RETURN_IF_ERROR(hooks.on_train_end(state));
  result.steps = state.step;
  result.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_time).count();
  last_result_ = result;
  return result;
}

}  // namespace compressor
