#include "models/distilbert.h"

#include <cmath>
#include <limits>

#include <ATen/ATen.h>
#include <torch/utils.h>

#include "base/unary_module.h"
#include "layers/fp32_backend.h"
#include "models/modeling_utils.h"

namespace models {
namespace {

// DistilBERT fixes every LayerNorm epsilon at 1e-12 regardless of the config.
constexpr double kDistilBertLayerNormEps = 1e-12;

torch::nn::LayerNorm MakeLayerNorm(int64_t dim) {
  return torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim}).eps(kDistilBertLayerNormEps));
}

}  // namespace

void DistilBertEmbeddingsImpl::reset() {
  word_embeddings = register_module(
      "word_embeddings",
      MakeWordEmbeddings(config_.vocab_size, config_.hidden_size, config_.pad_token_id));
  position_embeddings = register_module(
      "position_embeddings",
      MakePositionEmbeddings(config_.max_position_embeddings, config_.hidden_size));
  LayerNorm = register_module("LayerNorm", MakeLayerNorm(config_.hidden_size));
  dropout = register_module("dropout", torch::nn::Dropout(config_.hidden_dropout_prob));
}

void DistilBertEmbeddingsImpl::UseSinusoidalPositions() {
  torch::NoGradGuard no_grad;
  const int64_t dim = config_.hidden_size;
  at::Tensor& table = position_embeddings->weight;
  for (int64_t pos = 0; pos < config_.max_position_embeddings; ++pos) {
    for (int64_t j = 0; j < dim; ++j) {
      const double angle = pos / std::pow(10000.0, 2.0 * (j / 2) / double(dim));
      table[pos][j] = j % 2 == 0 ? std::sin(angle) : std::cos(angle);
    }
  }
  table.set_requires_grad(false);
}

at::Tensor DistilBertEmbeddingsImpl::forward(const at::Tensor& input_ids) {
  const at::Tensor positions = at::arange(input_ids.size(1), input_ids.options());
  const at::Tensor embeddings = word_embeddings->forward(input_ids) +
                                position_embeddings->forward(positions).unsqueeze(0);
  return dropout->forward(LayerNorm->forward(embeddings));
}

void MultiHeadSelfAttentionImpl::reset() {
  const int64_t dim = config_.hidden_size;
  register_module("q_lin", MakeLinear(dim, dim));
  register_module("k_lin", MakeLinear(dim, dim));
  register_module("v_lin", MakeLinear(dim, dim));
  register_module("out_lin", MakeLinear(dim, dim));
  // Parameter-free activation products with a pluggable kernel (see models/bert.cc).
  matmul = register_module("matmul", layers::MatMul());      // Q K^T
  matmul_1 = register_module("matmul_1", layers::MatMul());  // weights V
  dropout =
      register_module("dropout", torch::nn::Dropout(config_.attention_probs_dropout_prob));
}

at::Tensor MultiHeadSelfAttentionImpl::forward(const at::Tensor& hidden, const at::Tensor& mask,
                                               at::Tensor* probs) {
  const int64_t batch = hidden.size(0), seq = hidden.size(1);
  const int64_t heads = config_.num_attention_heads, head_dim = config_.head_dim();
  auto split_heads = [&](const at::Tensor& x) {
    return x.view({batch, seq, heads, head_dim}).transpose(1, 2);
  };
  // DistilBERT scales the queries before the product, and fills (not adds) the mask.
  const at::Tensor q =
      split_heads(base::ForwardChild(*this, "q_lin", hidden)) / std::sqrt(double(head_dim));
  const at::Tensor k = split_heads(base::ForwardChild(*this, "k_lin", hidden));
  const at::Tensor v = split_heads(base::ForwardChild(*this, "v_lin", hidden));
  at::Tensor scores = matmul->forward(q, k.transpose(-1, -2));
  if (mask.defined()) {
    const at::Tensor padded = (mask == 0).view({batch, 1, 1, seq});
    scores = scores.masked_fill(padded, std::numeric_limits<float>::lowest());
  }
  at::Tensor weights = at::softmax(scores, -1);
  if (probs != nullptr) *probs = weights;
  weights = dropout->forward(weights);
  const at::Tensor context =
      matmul_1->forward(weights, v)
          .transpose(1, 2)
          .reshape({batch, seq, config_.hidden_size});
  return base::ForwardChild(*this, "out_lin", context);
}

void FFNImpl::reset() {
  register_module("lin1", MakeLinear(config_.hidden_size, config_.intermediate_size));
  register_module("lin2", MakeLinear(config_.intermediate_size, config_.hidden_size));
  dropout = register_module("dropout", torch::nn::Dropout(config_.hidden_dropout_prob));
}

at::Tensor FFNImpl::forward(const at::Tensor& hidden) {
  const at::Tensor inner =
      Activation(config_.hidden_act, base::ForwardChild(*this, "lin1", hidden));
  return dropout->forward(base::ForwardChild(*this, "lin2", inner));
}

void TransformerBlockImpl::reset() {
  attention = register_module("attention", MultiHeadSelfAttention(config_));
  sa_layer_norm = register_module("sa_layer_norm", MakeLayerNorm(config_.hidden_size));
  ffn = register_module("ffn", FFN(config_));
  output_layer_norm = register_module("output_layer_norm", MakeLayerNorm(config_.hidden_size));
}

at::Tensor TransformerBlockImpl::forward(const at::Tensor& hidden, const at::Tensor& mask,
                                         at::Tensor* probs) {
  const at::Tensor attended =
      sa_layer_norm->forward(attention->forward(hidden, mask, probs) + hidden);
  return output_layer_norm->forward(ffn->forward(attended) + attended);
}

void DistilTransformerImpl::reset() {
  layer = register_module("layer", torch::nn::ModuleList());
  for (int64_t i = 0; i < config_.num_hidden_layers; ++i) {
    layer->push_back(TransformerBlock(config_));
  }
}

at::Tensor DistilTransformerImpl::forward(at::Tensor hidden, const at::Tensor& mask,
                                          std::vector<at::Tensor>* hidden_states,
                                          std::vector<at::Tensor>* attentions) {
  if (hidden_states != nullptr) hidden_states->push_back(hidden);
  for (const auto& module : *layer) {
    at::Tensor probs;
    hidden = module->as<TransformerBlock>()->forward(hidden, mask,
                                                     attentions != nullptr ? &probs : nullptr);
    if (hidden_states != nullptr) hidden_states->push_back(hidden);
    if (attentions != nullptr) attentions->push_back(probs);
  }
  return hidden;
}

DistilBertModelImpl::DistilBertModelImpl(const BertConfig& config)
    : PreTrainedModel(config, "DistilBertModel") {
  embeddings = register_module("embeddings", DistilBertEmbeddings(config));
  transformer = register_module("transformer", DistilTransformer(config));
  InitTransformerWeights(*this, config.initializer_range);
  if (config.sinusoidal_pos_embds) embeddings->UseSinusoidalPositions();
}

ModelOutput DistilBertModelImpl::forward(const ModelInput& input) {
  TORCH_CHECK(!input.token_type_ids.defined() ||
                  input.token_type_ids.count_nonzero().item<int64_t>() == 0,
              "DistilBERT has no token types; token_type_ids must be absent or all zero");
  CheckModelInput(input.input_ids, /*token_type_ids=*/{}, input.attention_mask,
                  config().vocab_size, config().max_position_embeddings, 0);
  ModelOutput out;
  out.last_hidden_state =
      transformer->forward(embeddings->forward(input.input_ids), input.attention_mask,
                           input.output_hidden_states ? &out.hidden_states : nullptr,
                           input.output_attentions ? &out.attentions : nullptr);
  return out;
}

void TiedDecoderBiasImpl::reset() { bias = register_parameter("bias", at::zeros({size_})); }

DistilBertForMaskedLMImpl::DistilBertForMaskedLMImpl(const BertConfig& config)
    : PreTrainedModel(config, "DistilBertForMaskedLM") {
  distilbert = register_module("distilbert", DistilBertModel(config));
  register_module("vocab_transform", MakeLinear(config.hidden_size, config.hidden_size));
  vocab_layer_norm = register_module("vocab_layer_norm", MakeLayerNorm(config.hidden_size));
  vocab_projector = register_module("vocab_projector", TiedDecoderBias(config.vocab_size));
  InitTransformerWeights(*this, config.initializer_range);
  if (config.sinusoidal_pos_embds) distilbert->embeddings->UseSinusoidalPositions();
}

ModelOutput DistilBertForMaskedLMImpl::forward(const ModelInput& input) {
  ModelOutput out = distilbert->forward(input);
  const at::Tensor transformed = vocab_layer_norm->forward(
      Activation(config().hidden_act,
                 base::ForwardChild(*this, "vocab_transform",
                                    PredictionRows(out.last_hidden_state, input.prediction_mask))));
  out.logits = layers::LinearForward(transformed, distilbert->embeddings->word_embeddings->weight,
                          vocab_projector->bias);
  return out;
}

std::vector<std::pair<std::string, std::string>>
DistilBertForMaskedLMImpl::tied_weight_aliases() const {
  return {{"vocab_projector.weight", "distilbert.embeddings.word_embeddings.weight"}};
}

DistilBertForQuestionAnsweringImpl::DistilBertForQuestionAnsweringImpl(const BertConfig& config)
    : PreTrainedModel(config, "DistilBertForQuestionAnswering") {
  distilbert = register_module("distilbert", DistilBertModel(config));
  register_module("qa_outputs", MakeLinear(config.hidden_size, 2));
  dropout = register_module("dropout", torch::nn::Dropout(config.qa_dropout));
  InitTransformerWeights(*this, config.initializer_range);
  if (config.sinusoidal_pos_embds) distilbert->embeddings->UseSinusoidalPositions();
}

ModelOutput DistilBertForQuestionAnsweringImpl::forward(const ModelInput& input) {
  ModelOutput out = distilbert->forward(input);
  const at::Tensor logits =
      base::ForwardChild(*this, "qa_outputs", dropout->forward(out.last_hidden_state));
  out.start_logits = logits.select(-1, 0).contiguous();
  out.end_logits = logits.select(-1, 1).contiguous();
  return out;
}

DistilBertForSequenceClassificationImpl::DistilBertForSequenceClassificationImpl(
    const BertConfig& config)
    : PreTrainedModel(config, "DistilBertForSequenceClassification") {
  distilbert = register_module("distilbert", DistilBertModel(config));
  register_module("pre_classifier", MakeLinear(config.hidden_size, config.hidden_size));
  register_module("classifier", MakeLinear(config.hidden_size, config.num_labels));
  dropout = register_module("dropout", torch::nn::Dropout(config.seq_classif_dropout));
  InitTransformerWeights(*this, config.initializer_range);
  if (config.sinusoidal_pos_embds) distilbert->embeddings->UseSinusoidalPositions();
}

ModelOutput DistilBertForSequenceClassificationImpl::forward(const ModelInput& input) {
  ModelOutput out = distilbert->forward(input);
  const at::Tensor pooled = at::relu(
      base::ForwardChild(*this, "pre_classifier", out.last_hidden_state.select(1, 0)));
  out.logits = base::ForwardChild(*this, "classifier", dropout->forward(pooled));
  return out;
}

}  // namespace models
