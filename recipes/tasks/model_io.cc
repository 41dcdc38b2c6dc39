#include "recipes/tasks/model_io.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"

namespace recipes {
namespace {

// An undefined tensor when `key` is absent.
at::Tensor Optional(const compressor::TensorMap& batch, const std::string& key) {
  const auto it = batch.find(key);
  return it == batch.end() ? at::Tensor() : it->second;
}

}  // namespace

std::string TensorMapKeys(const compressor::TensorMap& map) {
  std::string keys;
  for (const auto& [name, tensor] : map) keys += (keys.empty() ? "" : ", ") + name;
  return keys.empty() ? "none" : keys;
}

const at::Tensor& RequireTensor(const compressor::TensorMap& map, const std::string& key,
                                const std::string& task, const std::string& what,
                                const std::string& hint) {
  const auto it = map.find(key);
  TORCH_CHECK(it != map.end() && it->second.defined(), task, ": '", key, "' is missing from the ",
              what, " (keys: ", TensorMapKeys(map), ")", hint);
  return it->second;
}

models::ModelInput BatchToModelInput(const compressor::TensorMap& batch,
                                     const models::BertConfig& config) {
  const auto ids = batch.find("input_ids");
  TORCH_CHECK(ids != batch.end() && ids->second.defined(),
              "ForwardBertClass: the batch has no 'input_ids' (keys: ", TensorMapKeys(batch), ")");
  models::ModelInput input;
  input.input_ids = ids->second;
  input.attention_mask = Optional(batch, "attention_mask");
  if (!config.is_distilbert() && config.type_vocab_size > 0) {
    input.token_type_ids = Optional(batch, "token_type_ids");
  }
  return input;
}

compressor::TensorMap ForwardBertClass(torch::nn::Module& model,
                                       const compressor::TensorMap& batch) {
  return ForwardBertClassWithMask(model, batch, at::Tensor());
}

compressor::TensorMap ForwardBertClassWithMask(torch::nn::Module& model,
                                               const compressor::TensorMap& batch,
                                               const at::Tensor& prediction_mask) {
  auto* bert = dynamic_cast<models::PreTrainedModel*>(&model);
  TORCH_CHECK(bert != nullptr, "ForwardBertClass: the model (", model.name(),
              ") is not a models::PreTrainedModel; BERT-class task adapters need one");
  models::ModelInput input = BatchToModelInput(batch, bert->config());
  input.prediction_mask = prediction_mask;
  compressor::TensorMap outputs;
  for (auto& [name, tensor] : bert->forward(input).Named()) {
    outputs.emplace(std::move(name), std::move(tensor));
  }
  return outputs;
}

absl::Status StatusFromTorchError(const c10::Error& error, const std::string& context) {
  std::string message = error.what_without_backtrace();
  std::replace(message.begin(), message.end(), '\n', ' ');
  return absl::InvalidArgumentError(absl::StrCat(context, ": ", message));
}

}  // namespace recipes
