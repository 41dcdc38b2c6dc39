// The interface every BERT-class model implements: one input struct, one output struct,
// and a torch::nn::Module whose parameter names are Hugging Face checkpoint keys.
//
// Heads (question answering, classification, masked LM, pre-training) and base models all
// derive from PreTrainedModel, so tools, data tasks and checkpoint I/O handle any of them:
//
//   ModelInput input{.input_ids = ids, .attention_mask = mask};
//   ModelOutput out = model->forward(input);
//   for (const auto& [name, tensor] : out.Named()) ...   // "start_logits", ...
#ifndef MODELS_PRETRAINED_MODEL_H_
#define MODELS_PRETRAINED_MODEL_H_

#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>

#include "models/bert_config.h"

namespace models {

struct ModelInput {
  at::Tensor input_ids;       // [batch, seq] int64.
  at::Tensor token_type_ids;  // [batch, seq] int64; undefined means all zeros.
  at::Tensor attention_mask;  // [batch, seq], 1 = real token, 0 = padding; undefined = all 1.
  // bool [batch, seq]; when defined, masked-LM heads compute vocabulary logits only where it
  // is true, as rows [n, vocab] in row-major (batch, position) order: the masked positions
  // of pre-training (Google BERT's masked_lm_positions gather). Undefined = every position,
  // [batch, seq, vocab], as Hugging Face's heads return them.
  at::Tensor prediction_mask;
  bool output_hidden_states = false;  // Fill ModelOutput::hidden_states.
  bool output_attentions = false;     // Fill ModelOutput::attentions.
};

// Fields are undefined tensors when the architecture does not produce them. Names follow
// Hugging Face's output classes.
struct ModelOutput {
  at::Tensor last_hidden_state;        // [batch, seq, hidden]; every model.
  at::Tensor pooler_output;            // [batch, hidden]; models with a pooler.
  at::Tensor logits;                   // MaskedLM [b, s, vocab]; classification [b, labels].
  at::Tensor prediction_logits;        // PreTraining MLM logits [b, s, vocab].
  // (MLM logits are [n, vocab] instead when ModelInput::prediction_mask is set.)
  at::Tensor seq_relationship_logits;  // PreTraining NSP logits [b, 2].
  at::Tensor start_logits;             // QuestionAnswering [b, s].
  at::Tensor end_logits;               // QuestionAnswering [b, s].
  std::vector<at::Tensor> hidden_states;  // Embedding output, then each layer's output.
  std::vector<at::Tensor> attentions;     // Each layer's attention probabilities.

  // The defined single-tensor outputs, head outputs first, then last_hidden_state and
  // pooler_output.
  std::vector<std::pair<std::string, at::Tensor>> Named() const;
};

class PreTrainedModel : public torch::nn::Module {
 public:
  PreTrainedModel(BertConfig config, std::string architecture);

  virtual ModelOutput forward(const ModelInput& input) = 0;

  // The config with architectures = {architecture()}; what SavePretrained writes.
  const BertConfig& config() const { return config_; }
  const std::string& architecture() const { return config_.architectures.front(); }
  // Name of the encoder submodule in heads ("bert" / "distilbert"): a checkpoint of the
  // bare model has keys without it.
  virtual std::string base_model_prefix() const = 0;
  // Checkpoint keys that are other names of one of our parameters because the weights are
  // tied, as {alias, parameter name}; e.g. the MLM decoder weight is the word embedding.
  virtual std::vector<std::pair<std::string, std::string>> tied_weight_aliases() const {
    return {};
  }

 private:
  BertConfig config_;
};

}  // namespace models

#endif  // MODELS_PRETRAINED_MODEL_H_
