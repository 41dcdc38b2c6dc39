// The forward function every task adapter shares: named batch tensors in, the model's named
// outputs out, for any models::PreTrainedModel (BERT or DistilBERT, any head). It is what
// compressor::TaskFunctions::forward and a distillation teacher's forward both take.
//
//   compressor::TaskFunctions task;
//   task.forward = recipes::ForwardBertClass;
//   auto kd = std::make_shared<compressor::Distillation>(kd_config, teacher,
//                                                        recipes::ForwardBertClass);
#ifndef RECIPES_TASKS_MODEL_IO_H_
#define RECIPES_TASKS_MODEL_IO_H_

#include <ATen/core/grad_mode.h>
#include <c10/util/Exception.h>
#include <torch/nn/module.h>

#include <string>

#include "absl/status/status.h"
#include "compressor/component.h"
#include "models/pretrained_model.h"

namespace recipes {

// input_ids (required), token_type_ids and attention_mask (optional) of `batch` as a
// ModelInput; other keys (labels, start_positions, ...) are ignored. token_type_ids are left
// out for models without token types (DistilBERT, type_vocab_size 0), as Hugging Face's
// DistilBERT tokenizer never produces them. Throws c10::Error when input_ids is missing.
models::ModelInput BatchToModelInput(const compressor::TensorMap& batch,
                                     const models::BertConfig& config);

// Runs `model` (which must be a models::PreTrainedModel) on `batch` and returns
// ModelOutput::Named(): "start_logits"/"end_logits", "logits", "prediction_logits",
// "seq_relationship_logits", "last_hidden_state", "pooler_output" as the head defines them.
// Throws c10::Error naming the module's type when it is not a PreTrainedModel.
compressor::TensorMap ForwardBertClass(torch::nn::Module& model,
                                       const compressor::TensorMap& batch);
// The same with ModelInput::prediction_mask set (undefined = every position).
compressor::TensorMap ForwardBertClassWithMask(torch::nn::Module& model,
                                               const compressor::TensorMap& batch,
                                               const at::Tensor& prediction_mask);

// For the lifetime of the guard: `model` in eval mode and gradients off; the model's
// previous training mode is restored afterwards. What every task's evaluate needs, also
// when it is called outside the Trainer.
class ScopedEvalMode {
 public:
  explicit ScopedEvalMode(torch::nn::Module& model)
      : model_(model), was_training_(model.is_training()) {
    model_.eval();
  }
  ~ScopedEvalMode() { model_.train(was_training_); }
  ScopedEvalMode(const ScopedEvalMode&) = delete;
  ScopedEvalMode& operator=(const ScopedEvalMode&) = delete;

 private:
  at::NoGradGuard no_grad_;
  torch::nn::Module& model_;
  bool was_training_;
};

// "input_ids, labels, ...": the keys of `map` for error messages ("none" when empty).
std::string TensorMapKeys(const compressor::TensorMap& map);

// map[key], or a c10::Error "<task>: '<key>' is missing from the <what> (keys: ...)<hint>"
// when it is missing or undefined: how task losses name a batch or output key they lack.
const at::Tensor& RequireTensor(const compressor::TensorMap& map, const std::string& key,
                                const std::string& task, const std::string& what,
                                const std::string& hint = "");

// A c10::Error caught at a Status boundary: InvalidArgument "<context>: <message>", the
// message without LibTorch's backtrace, on one line.
absl::Status StatusFromTorchError(const c10::Error& error, const std::string& context);

}  // namespace recipes

#endif  // RECIPES_TASKS_MODEL_IO_H_
