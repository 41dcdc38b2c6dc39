// Runs one forward pass of a Hugging Face model directory and prints every output of its
// head as JSON. Outside conformance checks call this exact interface:
//
//   bazel run //models:bert_forward -- --model_dir=DIR --input_ids=101,2054,102
//       [--token_type_ids=0,0,0] [--attention_mask=1,1,1]
//
// prints {"start_logits": [[...]], "end_logits": [[...]], "last_hidden_state": [[[...]]]}
// (QA), "logits" (classification, masked LM), "prediction_logits" and
// "seq_relationship_logits" (pre-training), "pooler_output" where the model has a pooler;
// every tensor keeps its batch dimension of 1, as Hugging Face returns it.
#include <cstdio>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>
#include <torch/utils.h>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "base/cli.h"
#include "base/status_macros.h"
#include "models/hf_checkpoint.h"

ABSL_FLAG(std::string, model_dir, "", "Hugging Face model directory (config.json + weights).");
ABSL_FLAG(std::string, input_ids, "", "Comma-separated token ids of one sequence.");
ABSL_FLAG(std::string, token_type_ids, "", "Comma-separated segment ids (default all 0).");
ABSL_FLAG(std::string, attention_mask, "", "Comma-separated 1/0 mask (default all 1).");
ABSL_FLAG(std::string, architecture, "", "Build this head instead of config.json's.");
ABSL_FLAG(bool, output_hidden_states, false, "Also print hidden_states (embeddings + layers).");
ABSL_FLAG(int32_t, threads, 0, "Intra-op threads (0: LibTorch's default).");

namespace {

nlohmann::json ToJson(const at::Tensor& tensor) {
  const at::Tensor t = tensor.detach().to(at::kDouble).contiguous();
  if (t.dim() == 0) return t.item<double>();
  nlohmann::json list = nlohmann::json::array();
  for (int64_t i = 0; i < t.size(0); ++i) list.push_back(ToJson(t[i]));
  return list;
}

absl::StatusOr<at::Tensor> FlagTensor(const char* flag, const std::string& text,
                                      size_t expected_length) {
  std::vector<int64_t> values;
  RETURN_IF_ERROR(base::ParseIntList(flag, text, &values));
  if (values.empty()) return at::Tensor();
  if (expected_length != 0 && values.size() != expected_length) {
    return absl::InvalidArgumentError(absl::StrCat("--", flag, " has ", values.size(),
                                                   " values but --input_ids has ",
                                                   expected_length));
  }
  return at::tensor(values, at::kLong).view({1, static_cast<int64_t>(values.size())});
}

absl::Status Run() {
  const std::string model_dir = absl::GetFlag(FLAGS_model_dir);
  if (model_dir.empty()) return absl::InvalidArgumentError("--model_dir is required");
  ASSIGN_OR_RETURN(at::Tensor input_ids,
                   FlagTensor("input_ids", absl::GetFlag(FLAGS_input_ids), 0));
  if (!input_ids.defined()) return absl::InvalidArgumentError("--input_ids is required");
  const size_t length = static_cast<size_t>(input_ids.size(1));
  if (absl::GetFlag(FLAGS_threads) > 0) at::set_num_threads(absl::GetFlag(FLAGS_threads));

  models::LoadOptions options;
  options.architecture = absl::GetFlag(FLAGS_architecture);
  ASSIGN_OR_RETURN(models::LoadedModel loaded, models::LoadPretrained(model_dir, options));
  const std::string report = loaded.report.ToString();
  if (!report.empty()) std::fputs(report.c_str(), stderr);

  models::ModelInput input;
  input.input_ids = input_ids;
  ASSIGN_OR_RETURN(input.token_type_ids,
                   FlagTensor("token_type_ids", absl::GetFlag(FLAGS_token_type_ids), length));
  ASSIGN_OR_RETURN(input.attention_mask,
                   FlagTensor("attention_mask", absl::GetFlag(FLAGS_attention_mask), length));
  input.output_hidden_states = absl::GetFlag(FLAGS_output_hidden_states);

  torch::NoGradGuard no_grad;
  const models::ModelOutput output = loaded.model->forward(input);
  nlohmann::json result = nlohmann::json::object();
  for (const auto& [name, tensor] : output.Named()) result[name] = ToJson(tensor);
  if (input.output_hidden_states) {
    nlohmann::json states = nlohmann::json::array();
    for (const at::Tensor& state : output.hidden_states) states.push_back(ToJson(state));
    result["hidden_states"] = states;
  }
  std::printf("%s\n", result.dump().c_str());
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  base::InitMain(argc, argv,
                 "Prints a model's outputs as JSON.\n"
                 "  bert_forward --model_dir=DIR --input_ids=101,2054,102 "
                 "[--token_type_ids=...] [--attention_mask=...]");
  return base::RunMain(Run);
}
