#include "models/bert.h"

#include <cmath>

#include <ATen/ATen.h>

#include "base/unary_module.h"
#include "layers/fp32_backend.h"
#include "models/modeling_utils.h"

namespace models {
namespace {

torch::nn::LayerNorm MakeLayerNorm(const BertConfig& config) {
  return torch::nn::LayerNorm(
      torch::nn::LayerNormOptions({config.hidden_size}).eps(config.layer_norm_eps));
}

}  // namespace

void BertEmbeddingsImpl::reset() {
  word_embeddings = register_module(
      "word_embeddings",
      MakeWordEmbeddings(config_.vocab_size, config_.hidden_size, config_.pad_token_id));
  position_embeddings = register_module(
      "position_embeddings",
      MakePositionEmbeddings(config_.max_position_embeddings, config_.hidden_size));
  token_type_embeddings = register_module(
      "token_type_embeddings",
      torch::nn::Embedding(config_.type_vocab_size, config_.hidden_size));
  LayerNorm = register_module("LayerNorm", MakeLayerNorm(config_));
  dropout = register_module("dropout", torch::nn::Dropout(config_.hidden_dropout_prob));
}

at::Tensor BertEmbeddingsImpl::forward(const at::Tensor& input_ids,
                                       const at::Tensor& token_type_ids) {
  const int64_t seq = input_ids.size(1);
  const at::Tensor positions = at::arange(seq, input_ids.options());
  at::Tensor embeddings = word_embeddings->forward(input_ids) +
                          position_embeddings->forward(positions).unsqueeze(0);
  if (token_type_ids.defined()) {
    embeddings = embeddings + token_type_embeddings->forward(token_type_ids);
  } else {
    // Token type 0 everywhere, as Hugging Face's default buffer.
    embeddings = embeddings + token_type_embeddings->weight[0];
  }
  return dropout->forward(LayerNorm->forward(embeddings));
}

void BertSelfAttentionImpl::reset() {
  const int64_t hidden = config_.hidden_size;
  register_module("query", MakeLinear(hidden, hidden));
  register_module("key", MakeLinear(hidden, hidden));
  register_module("value", MakeLinear(hidden, hidden));
  // The two activation products, as parameter-free layers (no state_dict entries) named
  // as INC's FX tracer names them; a transform may change their kernel (quantized matmuls).
  matmul = register_module("matmul", layers::MatMul());      // Q K^T
  matmul_1 = register_module("matmul_1", layers::MatMul());  // P V
  dropout =
      register_module("dropout", torch::nn::Dropout(config_.attention_probs_dropout_prob));
}

at::Tensor BertSelfAttentionImpl::forward(const at::Tensor& hidden,
                                          const at::Tensor& extended_mask, at::Tensor* probs) {
  const int64_t batch = hidden.size(0), seq = hidden.size(1);
  const int64_t heads = config_.num_attention_heads, head_dim = config_.head_dim();
  auto split_heads = [&](const at::Tensor& x) {
    return x.view({batch, seq, heads, head_dim}).transpose(1, 2);  // [b, h, s, d]
  };
  const at::Tensor q = split_heads(base::ForwardChild(*this, "query", hidden));
  const at::Tensor k = split_heads(base::ForwardChild(*this, "key", hidden));
  const at::Tensor v = split_heads(base::ForwardChild(*this, "value", hidden));
  at::Tensor scores = matmul->forward(q, k.transpose(-1, -2)) /
                      std::sqrt(double(head_dim));
  if (extended_mask.defined()) scores = scores + extended_mask;
  at::Tensor attention = at::softmax(scores, -1);
  if (probs != nullptr) *probs = attention;
  attention = dropout->forward(attention);
  return matmul_1->forward(attention, v)
      .transpose(1, 2)
      .reshape({batch, seq, config_.hidden_size});
}

void BertSelfOutputImpl::reset() {
  register_module("dense", MakeLinear(in_features_, config_.hidden_size));
  LayerNorm = register_module("LayerNorm", MakeLayerNorm(config_));
  dropout = register_module("dropout", torch::nn::Dropout(config_.hidden_dropout_prob));
}

at::Tensor BertSelfOutputImpl::forward(const at::Tensor& hidden, const at::Tensor& residual) {
  return LayerNorm->forward(
      dropout->forward(base::ForwardChild(*this, "dense", hidden)) + residual);
}

void BertAttentionImpl::reset() {
  self = register_module("self", BertSelfAttention(config_));
  output = register_module("output", BertSelfOutput(config_, config_.hidden_size));
}

at::Tensor BertAttentionImpl::forward(const at::Tensor& hidden,
                                      const at::Tensor& extended_mask, at::Tensor* probs) {
  return output->forward(self->forward(hidden, extended_mask, probs), hidden);
}

void BertIntermediateImpl::reset() {
  register_module("dense", MakeLinear(config_.hidden_size, config_.intermediate_size));
}

at::Tensor BertIntermediateImpl::forward(const at::Tensor& hidden) {
  return Activation(config_.hidden_act, base::ForwardChild(*this, "dense", hidden));
}

void BertLayerImpl::reset() {
  attention = register_module("attention", BertAttention(config_));
  intermediate = register_module("intermediate", BertIntermediate(config_));
  output = register_module("output", BertOutput(config_, config_.intermediate_size));
}

at::Tensor BertLayerImpl::forward(const at::Tensor& hidden, const at::Tensor& extended_mask,
                                  at::Tensor* probs) {
  const at::Tensor attended = attention->forward(hidden, extended_mask, probs);
  return output->forward(intermediate->forward(attended), attended);
}

void BertEncoderImpl::reset() {
  layer = register_module("layer", torch::nn::ModuleList());
  for (int64_t i = 0; i < config_.num_hidden_layers; ++i) layer->push_back(BertLayer(config_));
}

at::Tensor BertEncoderImpl::forward(at::Tensor hidden, const at::Tensor& extended_mask,
                                    std::vector<at::Tensor>* hidden_states,
                                    std::vector<at::Tensor>* attentions) {
  if (hidden_states != nullptr) hidden_states->push_back(hidden);
  for (const auto& module : *layer) {
    at::Tensor probs;
    hidden = module->as<BertLayer>()->forward(hidden, extended_mask,
                                              attentions != nullptr ? &probs : nullptr);
    if (hidden_states != nullptr) hidden_states->push_back(hidden);
    if (attentions != nullptr) attentions->push_back(probs);
  }
  return hidden;
}

void BertPoolerImpl::reset() {
  register_module("dense", MakeLinear(config_.hidden_size, config_.hidden_size));
}

at::Tensor BertPoolerImpl::forward(const at::Tensor& hidden) {
  return at::tanh(base::ForwardChild(*this, "dense", hidden.select(1, 0)));
}

BertModelImpl::BertModelImpl(const BertConfig& config, bool add_pooling_layer)
    : PreTrainedModel(config, "BertModel") {
  embeddings = register_module("embeddings", BertEmbeddings(config));
  encoder = register_module("encoder", BertEncoder(config));
  if (add_pooling_layer) pooler = register_module("pooler", BertPooler(config));
  InitTransformerWeights(*this, config.initializer_range);
}

ModelOutput BertModelImpl::forward(const ModelInput& input) {
  CheckModelInput(input.input_ids, input.token_type_ids, input.attention_mask,
                  config().vocab_size, config().max_position_embeddings,
                  config().type_vocab_size);
  ModelOutput out;
  const at::Tensor hidden = embeddings->forward(input.input_ids, input.token_type_ids);
  out.last_hidden_state =
      encoder->forward(hidden, ExtendedAttentionMask(input.attention_mask),
                       input.output_hidden_states ? &out.hidden_states : nullptr,
                       input.output_attentions ? &out.attentions : nullptr);
  if (pooler) out.pooler_output = pooler->forward(out.last_hidden_state);
  return out;
}

void BertPredictionHeadTransformImpl::reset() {
  register_module("dense", MakeLinear(config_.hidden_size, config_.hidden_size));
  LayerNorm = register_module("LayerNorm", MakeLayerNorm(config_));
}

at::Tensor BertPredictionHeadTransformImpl::forward(const at::Tensor& hidden) {
  return LayerNorm->forward(
      Activation(config_.hidden_act, base::ForwardChild(*this, "dense", hidden)));
}

void BertLMPredictionHeadImpl::reset() {
  // Registered before "transform" so the parameter order matches Hugging Face's.
  bias = register_parameter("bias", at::zeros({config_.vocab_size}));
  transform = register_module("transform", BertPredictionHeadTransform(config_));
}

at::Tensor BertLMPredictionHeadImpl::forward(const at::Tensor& hidden,
                                             const at::Tensor& decoder_weight) {
  return layers::LinearForward(transform->forward(hidden), decoder_weight, bias);
}

void BertOnlyMLMHeadImpl::reset() {
  predictions = register_module("predictions", BertLMPredictionHead(config_));
}

void BertPreTrainingHeadsImpl::reset() {
  predictions = register_module("predictions", BertLMPredictionHead(config_));
  register_module("seq_relationship", MakeLinear(config_.hidden_size, 2));
}

at::Tensor BertPreTrainingHeadsImpl::SeqRelationship(const at::Tensor& pooled) {
  return base::ForwardChild(*this, "seq_relationship", pooled);
}

namespace {

// Hugging Face's names for the decoder tied to the word embeddings.
std::vector<std::pair<std::string, std::string>> MlmDecoderAliases() {
  return {{"cls.predictions.decoder.weight", "bert.embeddings.word_embeddings.weight"},
          {"cls.predictions.decoder.bias", "cls.predictions.bias"}};
}

}  // namespace

BertForMaskedLMImpl::BertForMaskedLMImpl(const BertConfig& config)
    : PreTrainedModel(config, "BertForMaskedLM") {
  bert = register_module("bert", BertModel(config, /*add_pooling_layer=*/false));
  cls = register_module("cls", BertOnlyMLMHead(config));
  InitTransformerWeights(*this, config.initializer_range);
}

ModelOutput BertForMaskedLMImpl::forward(const ModelInput& input) {
  ModelOutput out = bert->forward(input);
  out.logits = cls->predictions->forward(PredictionRows(out.last_hidden_state, input.prediction_mask),
                                         bert->embeddings->word_embeddings->weight);
  return out;
}

std::vector<std::pair<std::string, std::string>> BertForMaskedLMImpl::tied_weight_aliases()
    const {
  return MlmDecoderAliases();
}

BertForPreTrainingImpl::BertForPreTrainingImpl(const BertConfig& config)
    : PreTrainedModel(config, "BertForPreTraining") {
  bert = register_module("bert", BertModel(config, /*add_pooling_layer=*/true));
  cls = register_module("cls", BertPreTrainingHeads(config));
  InitTransformerWeights(*this, config.initializer_range);
}

ModelOutput BertForPreTrainingImpl::forward(const ModelInput& input) {
  ModelOutput out = bert->forward(input);
  out.prediction_logits =
      cls->predictions->forward(PredictionRows(out.last_hidden_state, input.prediction_mask),
                                bert->embeddings->word_embeddings->weight);
  out.seq_relationship_logits = cls->SeqRelationship(out.pooler_output);
  return out;
}

std::vector<std::pair<std::string, std::string>>
BertForPreTrainingImpl::tied_weight_aliases() const {
  return MlmDecoderAliases();
}

BertForQuestionAnsweringImpl::BertForQuestionAnsweringImpl(const BertConfig& config)
    : PreTrainedModel(config, "BertForQuestionAnswering") {
  bert = register_module("bert", BertModel(config, /*add_pooling_layer=*/false));
  register_module("qa_outputs", MakeLinear(config.hidden_size, 2));
  InitTransformerWeights(*this, config.initializer_range);
}

ModelOutput BertForQuestionAnsweringImpl::forward(const ModelInput& input) {
  ModelOutput out = bert->forward(input);
  const at::Tensor logits = base::ForwardChild(*this, "qa_outputs", out.last_hidden_state);
  out.start_logits = logits.select(-1, 0).contiguous();
  out.end_logits = logits.select(-1, 1).contiguous();
  return out;
}

BertForSequenceClassificationImpl::BertForSequenceClassificationImpl(const BertConfig& config)
    : PreTrainedModel(config, "BertForSequenceClassification") {
  bert = register_module("bert", BertModel(config, /*add_pooling_layer=*/true));
  dropout = register_module(
      "dropout",
      torch::nn::Dropout(config.classifier_dropout.value_or(config.hidden_dropout_prob)));
  register_module("classifier", MakeLinear(config.hidden_size, config.num_labels));
  InitTransformerWeights(*this, config.initializer_range);
}

ModelOutput BertForSequenceClassificationImpl::forward(const ModelInput& input) {
  ModelOutput out = bert->forward(input);
  out.logits = base::ForwardChild(*this, "classifier", dropout->forward(out.pooler_output));
  return out;
}

}  // namespace models
