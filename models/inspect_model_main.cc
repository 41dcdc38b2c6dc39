// Describes a Hugging Face model directory: architecture, sizes, parameter counts, and the
// sparsity of every Linear weight (what pruning changes), as a table or as JSON.
//
//   bazel run //models:inspect_model -- --model_dir=DIR [--json]
#include <sys/stat.h>

#include <cstdio>
#include <string>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>
#include <torch/nn/modules/linear.h>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/cli.h"
#include "base/status_macros.h"
#include "layers/linear.h"
#include "models/hf_checkpoint.h"

ABSL_FLAG(std::string, model_dir, "", "Hugging Face model directory.");
ABSL_FLAG(bool, json, false, "Print one JSON object instead of a table.");

namespace {

absl::Status Run() {
  const std::string model_dir = absl::GetFlag(FLAGS_model_dir);
  if (model_dir.empty()) return absl::InvalidArgumentError("--model_dir is required");
  ASSIGN_OR_RETURN(models::LoadedModel loaded, models::LoadPretrained(model_dir));
  const models::PreTrainedModel& model = *loaded.model;
  const models::BertConfig& config = model.config();

  nlohmann::json linears = nlohmann::json::array();
  int64_t linear_total = 0, linear_zeros = 0;
  for (const auto& item : model.named_modules()) {
    const auto* linear = item.value()->as<layers::Linear>();
    if (linear == nullptr) continue;
    const int64_t numel = linear->weight.numel();
    const int64_t zeros = linear->weight.eq(0).sum().item<int64_t>();
    linear_total += numel;
    linear_zeros += zeros;
    linears.push_back({{"name", item.key() + ".weight"},
                       {"shape", linear->weight.sizes().vec()},
                       {"sparsity", double(zeros) / double(numel)}});
  }
  int64_t parameters = 0;
  for (const auto& item : model.named_parameters()) parameters += item.value().numel();
  int64_t file_bytes = 0;
  struct stat st;
  if (stat((model_dir + "/model.safetensors").c_str(), &st) == 0) file_bytes = st.st_size;

  nlohmann::json summary = {
      {"model_dir", model_dir},
      {"architecture", model.architecture()},
      {"model_type", config.model_type},
      {"num_hidden_layers", config.num_hidden_layers},
      {"hidden_size", config.hidden_size},
      {"num_attention_heads", config.num_attention_heads},
      {"intermediate_size", config.intermediate_size},
      {"vocab_size", config.vocab_size},
      {"parameters", parameters},
      {"linear_parameters", linear_total},
      {"linear_sparsity", linear_total ? double(linear_zeros) / double(linear_total) : 0.0},
      {"safetensors_bytes", file_bytes},
      {"missing_keys", loaded.report.missing_keys},
      {"unexpected_keys", loaded.report.unexpected_keys},
      {"linear_layers", linears}};
  if (absl::GetFlag(FLAGS_json)) {
    std::printf("%s\n", summary.dump(2).c_str());
    return absl::OkStatus();
  }
  std::printf("%s: %s (%s), %lld layers, hidden %lld, %lld heads, FFN %lld, vocab %lld\n",
              model_dir.c_str(), model.architecture().c_str(), config.model_type.c_str(),
              (long long)config.num_hidden_layers, (long long)config.hidden_size,
              (long long)config.num_attention_heads, (long long)config.intermediate_size,
              (long long)config.vocab_size);
  std::printf("parameters: %lld (%.1f MB fp32 file: %.1f MB), Linear weights: %lld, "
              "Linear sparsity: %.2f%%\n",
              (long long)parameters, parameters * 4 / 1e6, file_bytes / 1e6,
              (long long)linear_total, 100.0 * summary["linear_sparsity"].get<double>());
  std::printf("%-56s %-14s %9s\n", "Linear weight", "shape", "sparsity");
  for (const auto& linear : linears) {
    const std::vector<int64_t> shape = linear["shape"];
    std::printf("%-56s %-14s %8.2f%%\n", linear["name"].get<std::string>().c_str(),
                absl::StrJoin(shape, "x").c_str(), 100.0 * linear["sparsity"].get<double>());
  }
  const std::string report = loaded.report.ToString();
  if (!report.empty()) std::printf("%s", report.c_str());
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  base::InitMain(argc, argv, "Describes a model directory.\n  inspect_model --model_dir=DIR");
  return base::RunMain(Run);
}
