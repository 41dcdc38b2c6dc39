// DistilBERT (Sanh et al.) in the LibTorch frontend with Hugging Face's module names
// ("distilbert.transformer.layer.0.attention.q_lin.weight", ...). Configured by the same
// BertConfig as BERT (model_type "distilbert"); there are no token types and no pooler.
// As in bert.h, Linear layers are registered children called through base::ForwardUnary,
// so transforms can replace them in place.
#ifndef MODELS_DISTILBERT_H_
#define MODELS_DISTILBERT_H_

#include <ATen/core/Tensor.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>

#include "layers/matmul.h"
#include "models/bert_config.h"
#include "models/pretrained_model.h"

namespace models {

// word + position embeddings -> LayerNorm -> dropout.
class DistilBertEmbeddingsImpl : public torch::nn::Cloneable<DistilBertEmbeddingsImpl> {
 public:
  explicit DistilBertEmbeddingsImpl(const BertConfig& config) : config_(config) { reset(); }
  void reset() override;
  at::Tensor forward(const at::Tensor& input_ids);
  // Fills position_embeddings with the fixed sinusoidal table and freezes it, as
  // sinusoidal_pos_embds asks.
  void UseSinusoidalPositions();

  torch::nn::Embedding word_embeddings{nullptr};
  torch::nn::Embedding position_embeddings{nullptr};
  torch::nn::LayerNorm LayerNorm{nullptr};  // NOLINT: checkpoint key.
  torch::nn::Dropout dropout{nullptr};

 private:
  BertConfig config_;
};
TORCH_MODULE(DistilBertEmbeddings);

class MultiHeadSelfAttentionImpl : public torch::nn::Cloneable<MultiHeadSelfAttentionImpl> {
 public:
  explicit MultiHeadSelfAttentionImpl(const BertConfig& config) : config_(config) { reset(); }
  void reset() override;
  // `mask` is [b, s] (1 keep, 0 pad) or undefined. Writes probabilities to *probs if set.
  at::Tensor forward(const at::Tensor& hidden, const at::Tensor& mask, at::Tensor* probs);

  // Children "q_lin", "k_lin", "v_lin", "out_lin": Linear.
  layers::MatMul matmul{nullptr};    // Q K^T.
  layers::MatMul matmul_1{nullptr};  // weights V.
  torch::nn::Dropout dropout{nullptr};

 private:
  BertConfig config_;
};
TORCH_MODULE(MultiHeadSelfAttention);

// lin1 -> activation -> lin2 -> dropout.
class FFNImpl : public torch::nn::Cloneable<FFNImpl> {
 public:
  explicit FFNImpl(const BertConfig& config) : config_(config) { reset(); }
  void reset() override;
  at::Tensor forward(const at::Tensor& hidden);

  torch::nn::Dropout dropout{nullptr};  // Children "lin1", "lin2": Linear.

 private:
  BertConfig config_;
};
TORCH_MODULE(FFN);

class TransformerBlockImpl : public torch::nn::Cloneable<TransformerBlockImpl> {
 public:
  explicit TransformerBlockImpl(const BertConfig& config) : config_(config) { reset(); }
  void reset() override;
  at::Tensor forward(const at::Tensor& hidden, const at::Tensor& mask, at::Tensor* probs);

  MultiHeadSelfAttention attention{nullptr};
  torch::nn::LayerNorm sa_layer_norm{nullptr};
  FFN ffn{nullptr};
  torch::nn::LayerNorm output_layer_norm{nullptr};

 private:
  BertConfig config_;
};
TORCH_MODULE(TransformerBlock);

// "distilbert.transformer": the stack of blocks under "layer".
class DistilTransformerImpl : public torch::nn::Cloneable<DistilTransformerImpl> {
 public:
  explicit DistilTransformerImpl(const BertConfig& config) : config_(config) { reset(); }
  void reset() override;
  at::Tensor forward(at::Tensor hidden, const at::Tensor& mask,
                     std::vector<at::Tensor>* hidden_states,
                     std::vector<at::Tensor>* attentions);

  torch::nn::ModuleList layer{nullptr};

 private:
  BertConfig config_;
};
TORCH_MODULE(DistilTransformer);

class DistilBertModelImpl : public PreTrainedModel {
 public:
  explicit DistilBertModelImpl(const BertConfig& config);
  ModelOutput forward(const ModelInput& input) override;
  std::string base_model_prefix() const override { return "distilbert"; }

  DistilBertEmbeddings embeddings{nullptr};
  DistilTransformer transformer{nullptr};
};
TORCH_MODULE(DistilBertModel);

// Holds only the bias of a decoder whose weight is tied to the word embeddings
// ("vocab_projector.bias").
class TiedDecoderBiasImpl : public torch::nn::Cloneable<TiedDecoderBiasImpl> {
 public:
  explicit TiedDecoderBiasImpl(int64_t size) : size_(size) { reset(); }
  void reset() override;

  at::Tensor bias;

 private:
  int64_t size_;
};
TORCH_MODULE(TiedDecoderBias);

class DistilBertForMaskedLMImpl : public PreTrainedModel {
 public:
  explicit DistilBertForMaskedLMImpl(const BertConfig& config);
  ModelOutput forward(const ModelInput& input) override;  // logits [b, s, vocab].
  std::string base_model_prefix() const override { return "distilbert"; }
  std::vector<std::pair<std::string, std::string>> tied_weight_aliases() const override;

  DistilBertModel distilbert{nullptr};  // Child "vocab_transform": Linear.
  torch::nn::LayerNorm vocab_layer_norm{nullptr};
  TiedDecoderBias vocab_projector{nullptr};
};
TORCH_MODULE(DistilBertForMaskedLM);

class DistilBertForQuestionAnsweringImpl : public PreTrainedModel {
 public:
  explicit DistilBertForQuestionAnsweringImpl(const BertConfig& config);
  ModelOutput forward(const ModelInput& input) override;  // start_logits, end_logits.
  std::string base_model_prefix() const override { return "distilbert"; }

  DistilBertModel distilbert{nullptr};  // Child "qa_outputs": Linear.
  torch::nn::Dropout dropout{nullptr};
};
TORCH_MODULE(DistilBertForQuestionAnswering);

class DistilBertForSequenceClassificationImpl : public PreTrainedModel {
 public:
  explicit DistilBertForSequenceClassificationImpl(const BertConfig& config);
  ModelOutput forward(const ModelInput& input) override;  // logits [b, num_labels].
  std::string base_model_prefix() const override { return "distilbert"; }

  DistilBertModel distilbert{nullptr};  // Children "pre_classifier", "classifier": Linear.
  torch::nn::Dropout dropout{nullptr};
};
TORCH_MODULE(DistilBertForSequenceClassification);

}  // namespace models

#endif  // MODELS_DISTILBERT_H_
