#include "recipes/vision/vision_recipes.h"

#include <ATen/ATen.h>
#include <torch/utils.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <regex>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "base/atomic_file.h"
#include "base/status_macros.h"
#include "compressor/pruning/pruning.h"
#include "compressor/quantization/convert_conv.h"
#include "compressor/quantization/quantization.h"
#include "compressor/scheduler.h"
#include "compressor/train/trainer.h"
#include "datasets/vision/image_dataset.h"
#include "models/vision/resnet.h"
#include "recipes/vision/vision_task.h"

namespace recipes {
namespace {

using Clock = std::chrono::steady_clock;

double Since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

compressor::TrainerConfig TrainerFor(const VisionRecipeConfig& config, int64_t epochs,
                                     double learning_rate, const std::string& stage) {
  compressor::TrainerConfig trainer;
  trainer.optimizer = "adamw";
  trainer.learning_rate = learning_rate;
  trainer.weight_decay = 1e-4;
  trainer.no_decay = {"bias", "bn"};
  trainer.lr_scheduler_type = "linear";
  trainer.warmup_ratio = 0.05;
  trainer.max_grad_norm = 5.0;
  trainer.num_train_epochs = epochs;
  trainer.logging_steps = 50;
  trainer.seed = config.seed;
  trainer.stage = stage;
  return trainer;
}

ModelReport Measure(torch::nn::Module& model, const datasets::ImageClassificationData& test,
                    const VisionRecipeConfig& config, double accuracy) {
  ModelReport report;
  report.accuracy = accuracy;
  const WeightStats weights = MeasureWeights(model);
  report.sparsity = weights.sparsity();
  report.weights = weights.weights;
  const SizeStats size = MeasureSize(model);
  report.size_bytes = size.bytes;
  report.compressed_bytes = size.compressed_bytes;
  const int64_t channels = test.images.size(1), pixels = test.images.size(2);
  report.latency_ms_batch1 =
      MedianLatencyMs(model, 1, channels, pixels, 5, config.latency_iterations);
  report.latency_ms_batch = MedianLatencyMs(model, config.latency_batch, channels, pixels, 3,
                                            config.latency_iterations);
  return report;
}

// Zero fraction of the 4-D weights whose module name matches one of `op_names`.
double PrunedLayersSparsity(torch::nn::Module& model, const std::vector<std::string>& op_names) {
  int64_t numel = 0, zeros = 0;
  auto add = [&](const std::string& name, const at::Tensor& t) {
    if (t.dim() != 4 || name.size() < 7 || name.compare(name.size() - 7, 7, ".weight") != 0) {
      return;
    }
    const std::string module = name.substr(0, name.size() - 7);
    for (const std::string& pattern : op_names) {
      if (std::regex_search(module, std::regex(pattern))) {
        numel += t.numel();
        zeros += t.eq(0).sum().item<int64_t>();
        return;
      }
    }
  };
  for (const auto& p : model.named_parameters()) add(p.key(), p.value());
  for (const auto& b : model.named_buffers()) add(b.key(), b.value());
  return numel ? double(zeros) / double(numel) : 0.0;
}

nlohmann::json ReportJson(const ModelReport& r) {
  return {{"accuracy", r.accuracy},
          {"sparsity", r.sparsity},
          {"weights", r.weights},
          {"size_bytes", r.size_bytes},
          {"compressed_bytes", r.compressed_bytes},
          {"latency_ms_batch1", r.latency_ms_batch1},
          {"latency_ms_batch", r.latency_ms_batch}};
}

absl::Status WriteReports(const VisionRecipeConfig& config, VisionRecipeResult* result) {
  nlohmann::json json;
  json["recipe"] = result->recipe;
  json["model"] = result->model;
  json["data"] = {{"dir", config.data_dir},
                  {"train_examples", result->train_examples},
                  {"test_examples", result->test_examples}};
  json["config"] = {{"batch_size", config.batch_size},
                    {"dense_epochs", config.dense_epochs},
                    {"prune_epochs", config.prune_epochs},
                    {"target_sparsity", config.target_sparsity},
                    {"pattern", config.pattern},
                    {"prune_op_names", config.prune_op_names},
                    {"calibration_batches", config.calibration_batches},
                    {"latency_batch", config.latency_batch},
                    {"seed", config.seed},
                    {"torch_threads", at::get_num_threads()}};
  json["dense"] = ReportJson(result->dense);
  if (result->has_pruned_fp32) json["pruned_fp32"] = ReportJson(result->pruned_fp32);
  if (result->has_int8) {
    json["int8"] = ReportJson(result->int8);
    json["pruned_layers_sparsity"] = result->pruned_layers_sparsity;
    json["accuracy_drop_points"] = 100.0 * (result->dense.accuracy - result->int8.accuracy);
    json["speedup_batch1"] = result->dense.latency_ms_batch1 / result->int8.latency_ms_batch1;
    json["speedup_batch"] = result->dense.latency_ms_batch / result->int8.latency_ms_batch;
    json["size_ratio"] = double(result->dense.size_bytes) / double(result->int8.size_bytes);
  }
  json["notes"] = result->notes;
  json["seconds"] = result->seconds;

  std::string md = absl::StrCat("# Vision recipe: ", result->recipe, "\n\n", result->model,
                                " on ", config.data_dir, " (", result->train_examples,
                                " training / ", result->test_examples, " test images), ",
                                at::get_num_threads(), " threads.\n\n");
  absl::StrAppend(&md, "| model | accuracy | sparsity | size | zlib size | latency b1 | latency b",
                  config.latency_batch, " |\n| --- | --- | --- | --- | --- | --- | --- |\n");
  auto row = [&](const char* name, const ModelReport& r, bool timed) {
    absl::StrAppend(
        &md, absl::StrFormat("| %s | %.2f%% | %.1f%% | %s | %s | %s | %s |\n", name,
                             100 * r.accuracy, 100 * r.sparsity,
                             r.size_bytes ? absl::StrFormat("%.1f KB", r.size_bytes / 1024.0) : "",
                             r.compressed_bytes
                                 ? absl::StrFormat("%.1f KB", r.compressed_bytes / 1024.0)
                                 : "",
                             timed ? absl::StrFormat("%.2f ms", r.latency_ms_batch1) : "",
                             timed ? absl::StrFormat("%.2f ms", r.latency_ms_batch) : ""));
  };
  row("dense fp32", result->dense, true);
  if (result->has_pruned_fp32) row("pruned fp32", result->pruned_fp32, false);
  if (result->has_int8) {
    row("compressed INT8", result->int8, true);
    absl::StrAppend(
        &md, absl::StrFormat(
                 "\nAccuracy change: %+.2f points. Pruned convolutions: %.1f%% zeros. "
                 "Speed-up: %.2fx at batch 1, %.2fx at batch %d. Size: %.2fx smaller.\n",
                 100.0 * (result->int8.accuracy - result->dense.accuracy),
                 100 * result->pruned_layers_sparsity,
                 result->dense.latency_ms_batch1 / result->int8.latency_ms_batch1,
                 result->dense.latency_ms_batch / result->int8.latency_ms_batch,
                 config.latency_batch,
                 double(result->dense.size_bytes) / double(result->int8.size_bytes)));
  }
  if (!result->notes.empty()) {
    absl::StrAppend(&md, "\n", absl::StrJoin(result->notes, "\n", [](std::string* out,
                                                                    const std::string& n) {
                      absl::StrAppend(out, "- ", n);
                    }),
                    "\n");
  }
  result->json_path = config.output_dir + "/results.json";
  result->markdown_path = config.output_dir + "/results.md";
  RETURN_IF_ERROR(base::WriteStringToFileAtomically(result->json_path, json.dump(2) + "\n"));
  return base::WriteStringToFileAtomically(result->markdown_path, md);
}

std::string ShotNote(const compressor::ShotSummary& shot) {
  std::string note = absl::StrFormat("shot %s: %lld steps, %.0f s, accuracy %.2f%% -> %.2f%%",
                                     shot.name, static_cast<long long>(shot.steps), shot.seconds,
                                     100 * shot.metric_before, 100 * shot.metric_after);
  for (const auto& component : shot.components) {
    for (const std::string& n : component.notes) absl::StrAppend(&note, "; ", n);
  }
  return note;
}

}  // namespace

void VisionRecipeConfig::ApplyQuick() {
  train_limit = 4096;
  test_limit = 1000;
  dense_epochs = 1;
  prune_epochs = 1;
  calibration_batches = 4;
  latency_iterations = 10;
  latency_batch = 32;
}

absl::Status VisionRecipeConfig::Validate() const {
  auto error = [](const std::string& field, const auto& value, const char* rule) {
    return absl::InvalidArgumentError(
        absl::StrCat("vision recipe: ", field, " = ", value, " ", rule));
  };
  if (output_dir.empty()) return absl::InvalidArgumentError("vision recipe: output_dir is empty");
  if (batch_size < 1) return error("batch_size", batch_size, "must be >= 1");
  if (dense_epochs < 1) return error("dense_epochs", dense_epochs, "must be >= 1");
  if (prune_epochs < 1) return error("prune_epochs", prune_epochs, "must be >= 1");
  if (!(dense_learning_rate > 0)) return error("dense_learning_rate", dense_learning_rate, "must be > 0");
  if (!(prune_learning_rate > 0)) return error("prune_learning_rate", prune_learning_rate, "must be > 0");
  if (!(target_sparsity >= 0 && target_sparsity < 1)) {
    return error("target_sparsity", target_sparsity, "must be in [0, 1)");
  }
  if (calibration_batches < 1) return error("calibration_batches", calibration_batches, "must be >= 1");
  if (latency_batch < 1) return error("latency_batch", latency_batch, "must be >= 1");
  if (latency_iterations < 1) return error("latency_iterations", latency_iterations, "must be >= 1");
  if (train_limit < 0 || test_limit < 0) return error("train_limit/test_limit", train_limit, "must be >= 0");
  return models::ResNetOptions::Preset(model_preset).status();
}

absl::StatusOr<VisionRecipeResult> RunVisionRecipe(const std::string& recipe,
                                                   const VisionRecipeConfig& config) {
  if (recipe != "prune_then_ptq" && recipe != "qat_during_pruning" && recipe != "dense") {
    return absl::InvalidArgumentError(absl::StrCat(
        "vision recipe \"", recipe, "\" is not one of: prune_then_ptq, qat_during_pruning, dense"));
  }
  RETURN_IF_ERROR(config.Validate());
  std::error_code ec;
  std::filesystem::create_directories(config.output_dir, ec);
  if (ec) {
    return absl::PermissionDeniedError(
        absl::StrCat(config.output_dir, ": cannot create output_dir: ", ec.message()));
  }
  VisionRecipeResult result;
  result.recipe = recipe;
  const auto total_start = Clock::now();

  datasets::ImageLoadOptions load;
  load.limit = config.train_limit;
  ASSIGN_OR_RETURN(const datasets::ImageClassificationData train,
                   datasets::LoadFashionMnist(config.data_dir, "train", load));
  load.limit = config.test_limit;
  ASSIGN_OR_RETURN(const datasets::ImageClassificationData test,
                   datasets::LoadFashionMnist(config.data_dir, "test", load));
  result.train_examples = train.size();
  result.test_examples = test.size();
  if (train.size() < config.batch_size) {
    return absl::InvalidArgumentError(absl::StrCat("vision recipe: batch_size ", config.batch_size,
                                                   " exceeds the ", train.size(),
                                                   " training images"));
  }
  const compressor::TaskFunctions task = ImageClassificationTask();
  auto eval = [&](torch::nn::Module& model) -> absl::StatusOr<double> {
    return Accuracy(model, test, 256);
  };

  // The dense baseline: loaded, or trained and saved for the compressed copy (and reuse).
  std::string dense_path = config.dense_model;
  if (dense_path.empty()) {
    ASSIGN_OR_RETURN(const models::ResNetOptions options,
                     models::ResNetOptions::Preset(config.model_preset));
    torch::manual_seed(config.seed);
    models::ResNet dense(options);
    ImageBatchSource batches(train, config.batch_size, config.seed);
    compressor::Trainer trainer(
        TrainerFor(config, config.dense_epochs, config.dense_learning_rate, "dense"), task,
        &batches);
    const auto start = Clock::now();
    ASSIGN_OR_RETURN(const compressor::TrainResult trained, trainer.Train(dense.ptr(), nullptr));
    result.seconds["dense_training"] = Since(start);
    result.notes.push_back(absl::StrFormat("dense training: %lld steps, %.0f s, final loss %.4f",
                                           static_cast<long long>(trained.steps),
                                           Since(start), trained.final_loss));
    dense_path = config.output_dir + "/dense_model.safetensors";
    RETURN_IF_ERROR(models::SaveResNet(*dense, dense_path));
  }
  ASSIGN_OR_RETURN(models::ResNet dense, models::LoadResNet(dense_path));
  result.model = dense->options().ToString();
  {
    const auto start = Clock::now();
    ASSIGN_OR_RETURN(const double accuracy, eval(*dense));
    result.dense = Measure(*dense, test, config, accuracy);
    result.seconds["dense_measure"] = Since(start);
  }
  if (recipe == "dense") {
    result.seconds["total"] = Since(total_start);
    RETURN_IF_ERROR(WriteReports(config, &result));
    return result;
  }

  ASSIGN_OR_RETURN(models::ResNet model, models::LoadResNet(dense_path));
  ImageBatchSource batches(train, config.batch_size, config.seed + 1);
  const int64_t steps = config.prune_epochs * *batches.num_batches();

  compressor::PruningConfig prune;
  prune.pruning_type = "magnitude";
  prune.pattern = config.pattern;
  prune.target_sparsity = config.target_sparsity;
  prune.op_types = {"Conv2d"};
  prune.op_names = config.prune_op_names;
  prune.excluded_op_names = {};
  prune.sparsity_decay_type = "zhu_gupta";
  prune.start_step = 0;
  // Reach the target after 60% of the steps, then fine-tune at the target sparsity.
  prune.pruning_frequency = std::max<int64_t>(1, steps * 6 / 100);
  prune.end_step = std::max<int64_t>(1, steps * 6 / 10 / prune.pruning_frequency) *
                   prune.pruning_frequency;
  auto pruning = std::make_shared<compressor::Pruning>(prune);

  compressor::QuantizationConfig quant;
  quant.op_types = {"Conv2d", "Linear"};
  quant.weight = compressor::QuantScheme::Int8SymmetricPerChannel(0);
  quant.activation = compressor::QuantScheme::Uint8AffinePerTensor();
  quant.weight_observer = "minmax";
  quant.outputs_not_requantized = {".*"};  // The next layer quantizes its own input.
  quant.fold_batch_norm = true;
  quant.convert_to_int8 = true;
  if (recipe == "prune_then_ptq") {
    quant.approach = "post_training_static_quant";
    quant.activation_observer = "minmax";
  } else {
    quant.approach = "quant_aware_training";
    quant.activation_observer = "moving_average_minmax";
  }
  auto quantization = std::make_shared<compressor::Quantization>(quant);

  compressor::Trainer trainer(
      TrainerFor(config, config.prune_epochs, config.prune_learning_rate, recipe), task,
      &batches);
  compressor::Scheduler scheduler;
  scheduler.set_model(model.ptr());
  scheduler.set_train_func(trainer.AsTrainFunc());
  scheduler.set_eval_func(eval);
  scheduler.set_calibration_func([&](torch::nn::Module& m) -> absl::Status {
    datasets::ImageBatches calibration(train, config.batch_size, /*shuffle=*/true, config.seed + 2);
    m.eval();
    torch::NoGradGuard no_grad;
    std::map<std::string, at::Tensor> batch;
    for (int64_t i = 0; i < config.calibration_batches && calibration.Next(&batch); ++i) {
      ForwardImages(m, batch.at("pixel_values"));
    }
    return absl::OkStatus();
  });
  if (recipe == "prune_then_ptq") {
    scheduler.append(pruning);
    scheduler.append(quantization);
  } else {
    ASSIGN_OR_RETURN(auto one_shot, scheduler.combine({pruning, quantization}));
    scheduler.append(one_shot);
  }
  const auto start = Clock::now();
  ASSIGN_OR_RETURN(const compressor::FitResult fit, scheduler.fit());
  result.seconds["compression"] = Since(start);
  for (const auto& shot : fit.shots) result.notes.push_back(ShotNote(shot));
  if (recipe == "prune_then_ptq") {
    result.has_pruned_fp32 = true;
    result.pruned_fp32.accuracy = fit.shots[0].metric_after;
    result.pruned_fp32.sparsity = -1;
    const auto& values = fit.shots[0].components[0].values;
    if (auto it = values.find("sparsity"); it != values.end()) {
      result.notes.push_back(absl::StrFormat("pruned convolutions after shot 1: %.2f%% zeros",
                                             100 * it->second));
    }
  }
  torch::nn::Module& compressed = *fit.model;
  const auto convs = compressor::Int8ConvModules(compressed);
  if (convs.empty()) {
    return absl::InternalError("vision recipe: the compressed model has no INT8 convolution");
  }
  result.notes.push_back(absl::StrCat(convs.size(), " INT8 convolutions, oneDNN implementation ",
                                      convs[1 % convs.size()].second->impl_info()));
  {
    const auto measure_start = Clock::now();
    result.has_int8 = true;
    result.int8 = Measure(compressed, test, config, fit.shots.back().metric_after);
    result.pruned_layers_sparsity = PrunedLayersSparsity(compressed, config.prune_op_names);
    result.seconds["int8_measure"] = Since(measure_start);
  }
  if (result.has_pruned_fp32) {
    // The fp32 pruned model keeps the dense storage; its sparsity equals the INT8 weights'
    // (quantization keeps zeros exactly, and folding only scales channels).
    result.pruned_fp32.sparsity = result.int8.sparsity;
  }
  result.seconds["total"] = Since(total_start);
  RETURN_IF_ERROR(WriteReports(config, &result));
  return result;
}

std::string FormatResult(const VisionRecipeResult& r) {
  std::string out = absl::StrFormat(
      "%s: %s, %lld train / %lld test images\n"
      "dense fp32:  accuracy %.2f%%, sparsity %.1f%%, size %.1f KB (zlib %.1f KB), latency "
      "%.2f ms (batch 1), %.2f ms (batch N)\n",
      r.recipe, r.model, static_cast<long long>(r.train_examples),
      static_cast<long long>(r.test_examples), 100 * r.dense.accuracy, 100 * r.dense.sparsity,
      r.dense.size_bytes / 1024.0, r.dense.compressed_bytes / 1024.0, r.dense.latency_ms_batch1,
      r.dense.latency_ms_batch);
  if (r.has_pruned_fp32) {
    absl::StrAppend(&out, absl::StrFormat("pruned fp32: accuracy %.2f%%\n",
                                          100 * r.pruned_fp32.accuracy));
  }
  if (r.has_int8) {
    absl::StrAppend(
        &out,
        absl::StrFormat(
            "INT8:        accuracy %.2f%%, sparsity %.1f%% (pruned convs %.1f%%), size %.1f KB "
            "(zlib %.1f KB), latency %.2f ms (batch 1), %.2f ms (batch N)\n"
            "change: accuracy %+.2f points, speed-up %.2fx (batch 1) %.2fx (batch N), size "
            "%.2fx smaller\n",
            100 * r.int8.accuracy, 100 * r.int8.sparsity, 100 * r.pruned_layers_sparsity,
            r.int8.size_bytes / 1024.0, r.int8.compressed_bytes / 1024.0,
            r.int8.latency_ms_batch1, r.int8.latency_ms_batch,
            100 * (r.int8.accuracy - r.dense.accuracy),
            r.dense.latency_ms_batch1 / r.int8.latency_ms_batch1,
            r.dense.latency_ms_batch / r.int8.latency_ms_batch,
            double(r.dense.size_bytes) / double(r.int8.size_bytes)));
  }
  for (const std::string& note : r.notes) absl::StrAppend(&out, "  ", note, "\n");
  absl::StrAppend(&out, "wrote ", r.json_path, " and ", r.markdown_path, "\n");
  return out;
}

}  // namespace recipes
