// Times a model's forward pass at a given batch x seq and prints latency percentiles and
// throughput, as text and as one JSON line (the recipes' latency column reads the JSON).
//
//   bazel run //benchmarks:model_latency -- --model_dir=DIR --seq=128 --batch=1 \
//       [--precision=int8] [--kernel=auto|sparse|dense|torch] [--prune=0.9 --pattern=4x1]
//   bazel run //benchmarks:model_latency -- --preset=bert-base --prune=0.9 --precision=int8
//   bazel run //benchmarks:model_latency -- --model_dir=DIR --sparse_model=FILE
//
// The model comes from --model_dir (Hugging Face directory) or --preset (random weights).
// --prune magnitude-prunes the Linears whose name contains --prune_filter (one shot, for
// measuring; a model pruned during training needs no --prune: its zeros are in the weights).
// Unless --kernel=torch, every Linear is then converted (compressor/deploy) to the kernel
// chosen per layer (auto: timed at load), in fp32 or --precision=int8 (per-channel weights,
// dynamic uint8 activations); --sparse_model loads a file written with --save_sparse instead.
//
// JSON fields (stable): model, architecture, batch, seq, precision, kernel, threads, iters,
// p50_ms, p90_ms, p99_ms, mean_ms, min_ms, sequences_per_s, tokens_per_s, cpu,
// layers (kernel name -> count), linear_weight_bytes (of the converted Linears as stored by
// the compact format: 0 when not converted), dense_fp32_linear_bytes.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <unistd.h>
#include <nlohmann/json.hpp>
#include <torch/nn/modules/linear.h>
#include <torch/utils.h>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "base/blas_check.h"
#include "base/cli.h"
#include "base/status_macros.h"
#include "benchmarks/magnitude_prune.h"
#include "compressor/deploy/inference_linear.h"
#include "compressor/deploy/latency.h"
#include "compressor/deploy/sparse_format.h"
#include "layers/linear.h"
#include "models/auto_model.h"
#include "models/hf_checkpoint.h"

ABSL_FLAG(std::string, model_dir, "", "Hugging Face model directory (config.json + weights).");
ABSL_FLAG(std::string, preset, "", "Instead of --model_dir: a random-weight preset (bert-base...).");
ABSL_FLAG(std::string, architecture, "", "Head to build (default: config.json's / BertModel).");
ABSL_FLAG(int64_t, seq, 128, "Sequence length.");
ABSL_FLAG(int64_t, batch, 1, "Batch size.");
ABSL_FLAG(int64_t, iters, 30, "Timed forward passes.");
ABSL_FLAG(int64_t, warmup, 3, "Untimed forward passes first.");
ABSL_FLAG(std::string, precision, "fp32", "fp32 or int8 (dynamic uint8 activations).");
ABSL_FLAG(std::string, kernel, "auto", "auto, sparse, dense, or torch (no conversion).");
ABSL_FLAG(double, prune, 0.0, "One-shot magnitude pruning to this sparsity before converting.");
ABSL_FLAG(std::string, pattern, "unstructured", "Pruning unit: unstructured, 4x1 or 1x4.");
ABSL_FLAG(std::string, prune_filter, "encoder", "Prune Linears whose name contains this.");
ABSL_FLAG(std::string, convert_filter, "", "Convert Linears whose name contains this (all).");
ABSL_FLAG(std::string, sparse_model, "", "Load this file (from --save_sparse) into the model.");
ABSL_FLAG(std::string, save_sparse, "", "Write the converted model in the compact format.");
ABSL_FLAG(std::string, json_out, "", "Also write the JSON line to this file.");

namespace {

absl::Status Run() {
  const std::string model_dir = absl::GetFlag(FLAGS_model_dir);
  const std::string preset = absl::GetFlag(FLAGS_preset);
  const int64_t seq = absl::GetFlag(FLAGS_seq), batch = absl::GetFlag(FLAGS_batch);
  const int64_t iters = absl::GetFlag(FLAGS_iters), warmup = absl::GetFlag(FLAGS_warmup);
  const std::string precision = absl::GetFlag(FLAGS_precision);
  const std::string kernel = absl::GetFlag(FLAGS_kernel);
  if (model_dir.empty() == preset.empty()) {
    return absl::InvalidArgumentError("give exactly one of --model_dir and --preset");
  }
  if (seq < 1 || batch < 1 || iters < 1 || warmup < 0) {
    return absl::InvalidArgumentError(absl::StrCat("--seq=", seq, " --batch=", batch, " --iters=",
                                                   iters, " --warmup=", warmup,
                                                   ": expected positive values"));
  }
  if (precision != "fp32" && precision != "int8") {
    return absl::InvalidArgumentError(absl::StrCat("--precision=", precision, ": expected fp32 or int8"));
  }
  if (kernel != "auto" && kernel != "sparse" && kernel != "dense" && kernel != "torch") {
    return absl::InvalidArgumentError(
        absl::StrCat("--kernel=", kernel, ": expected auto, sparse, dense or torch"));
  }
  if (kernel == "torch" && precision == "int8") {
    return absl::InvalidArgumentError("--kernel=torch runs fp32 only; drop --precision=int8");
  }

  std::shared_ptr<models::PreTrainedModel> model;
  if (!model_dir.empty()) {
    models::LoadOptions options;
    options.architecture = absl::GetFlag(FLAGS_architecture);
    ASSIGN_OR_RETURN(models::LoadedModel loaded, models::LoadPretrained(model_dir, options));
    model = loaded.model;
  } else {
    ASSIGN_OR_RETURN(models::BertConfig config, models::BertConfigPreset(preset));
    torch::manual_seed(0);
    ASSIGN_OR_RETURN(model, models::CreateModel(config, absl::GetFlag(FLAGS_architecture)));
  }
  model->eval();
  const models::BertConfig& config = model->config();
  if (seq > config.max_position_embeddings) {
    return absl::InvalidArgumentError(absl::StrCat("--seq=", seq, " exceeds the model's ",
                                                   "max_position_embeddings ",
                                                   config.max_position_embeddings));
  }
  RETURN_IF_ERROR(benchmarks::MagnitudePrune(*model, absl::GetFlag(FLAGS_prune),
                                             absl::GetFlag(FLAGS_pattern),
                                             absl::GetFlag(FLAGS_prune_filter)));
  int64_t dense_fp32_bytes = 0;
  for (const auto& item : model->named_modules()) {
    if (auto* linear = item.value()->as<layers::Linear>()) {
      if (item.key().find(absl::GetFlag(FLAGS_convert_filter)) != std::string::npos) {
        dense_fp32_bytes += linear->weight.numel() * 4;
      }
    }
  }
  const auto load_start = std::chrono::steady_clock::now();
  if (!absl::GetFlag(FLAGS_sparse_model).empty()) {
    RETURN_IF_ERROR(compressor::LoadInferenceModel(*model, absl::GetFlag(FLAGS_sparse_model)).status());
  } else if (kernel != "torch") {
    compressor::InferenceOptions options;
    options.int8 = precision == "int8";
    options.kernel = kernel;
    RETURN_IF_ERROR(
        compressor::ConvertForInference(*model, options, absl::GetFlag(FLAGS_convert_filter)).status());
  }
  const double convert_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - load_start).count();
  const std::map<std::string, int> layers = compressor::CountKernels(*model);
  int64_t linear_bytes = 0;
  if (!layers.empty()) {
    std::string path = absl::GetFlag(FLAGS_save_sparse);
    const bool temporary = path.empty();
    if (temporary) path = absl::StrCat("/tmp/model_latency_", getpid(), ".safetensors");
    RETURN_IF_ERROR(compressor::SaveInferenceModel(*model, path));
    ASSIGN_OR_RETURN(linear_bytes, compressor::InferenceModelLinearBytes(path));
    if (temporary) std::remove(path.c_str());
  }

  models::ModelInput input;
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(0);
  input.input_ids = at::randint(1000, std::max<int64_t>(1001, config.vocab_size), {batch, seq},
                                gen, at::kLong);
  torch::NoGradGuard no_grad;
  const compressor::LatencyStats stats =
      compressor::TimeForward([&] { model->forward(input); }, warmup, iters);
  const double p50 = stats.p50_ms, mean = stats.mean_ms;

  nlohmann::json j;
  j["model"] = model_dir.empty() ? preset : model_dir;
  j["architecture"] = model->architecture();
  j["batch"] = batch;
  j["seq"] = seq;
  j["precision"] = kernel == "torch" ? "fp32" : precision;
  j["kernel"] = absl::GetFlag(FLAGS_sparse_model).empty() ? kernel : "loaded";
  j["threads"] = at::get_num_threads();
  j["iters"] = iters;
  j["p50_ms"] = p50;
  j["p90_ms"] = stats.p90_ms;
  j["p99_ms"] = stats.p99_ms;
  j["mean_ms"] = mean;
  j["min_ms"] = stats.min_ms;
  j["sequences_per_s"] = 1000.0 * static_cast<double>(batch) / p50;
  j["tokens_per_s"] = 1000.0 * static_cast<double>(batch * seq) / p50;
  j["cpu"] = base::CpuModelName();
  j["blas"] = base::BlasDescription();
  j["layers"] = layers;
  j["linear_weight_bytes"] = linear_bytes;
  j["dense_fp32_linear_bytes"] = dense_fp32_bytes;

  std::printf("model %s (%s), batch %ld x seq %ld, %s, kernel %s, %d threads, %s\n",
              j["model"].get<std::string>().c_str(), model->architecture().c_str(),
              static_cast<long>(batch), static_cast<long>(seq), j["precision"].get<std::string>().c_str(),
              j["kernel"].get<std::string>().c_str(), at::get_num_threads(), base::CpuModelName().c_str());
  for (const auto& [name, count] : layers) std::printf("  %3d Linears on %s\n", count, name.c_str());
  if (!layers.empty()) {
    std::printf("  conversion %.1f s; Linear weights %.2f MB (dense fp32 %.2f MB, %.1fx smaller)\n",
                convert_s, linear_bytes / 1e6, dense_fp32_bytes / 1e6,
                linear_bytes > 0 ? static_cast<double>(dense_fp32_bytes) / linear_bytes : 0.0);
  }
  std::printf("latency over %ld runs: p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, mean %.2f ms\n",
              static_cast<long>(iters), p50, j["p90_ms"].get<double>(), j["p99_ms"].get<double>(),
              mean);
  std::printf("throughput: %.2f sequences/s, %.0f tokens/s\n", j["sequences_per_s"].get<double>(),
              j["tokens_per_s"].get<double>());
  std::printf("%s\n", j.dump().c_str());
  std::fflush(stdout);
  const std::string json_out = absl::GetFlag(FLAGS_json_out);
  if (!json_out.empty()) {
    std::ofstream out(json_out);
    out << j.dump() << "\n";
    if (!out) return absl::PermissionDeniedError(absl::StrCat("cannot write --json_out=", json_out));
  }
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  base::InitMain(argc, argv,
                 "Usage: model_latency (--model_dir=DIR | --preset=NAME) [--seq=128] [--batch=1] "
                 "[--precision=fp32|int8] [--kernel=auto|sparse|dense|torch] [--prune=0.9]");
  return base::RunMain(Run);
}
