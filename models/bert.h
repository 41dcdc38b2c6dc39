// BERT (Devlin et al.) in the LibTorch frontend, module for module as Hugging Face writes
// it, so named_parameters() yields checkpoint keys such as
// "bert.encoder.layer.0.attention.self.query.weight" with no renaming table.
//
// Linear layers are registered children without typed members, and are called through the
// registry (base::ForwardUnary), so a transform may replace any of them in place (QAT,
// INT8 conversion) and the model runs the replacement. Reach them by name:
// model->named_modules()["bert.encoder.layer.0.attention.self.query"].
//
//   BertConfig config = *BertConfigPreset("bert-mini");
//   auto model = std::make_shared<BertForQuestionAnsweringImpl>(config);
//   ModelOutput out = model->forward({.input_ids = ids});  // out.start_logits, ...
#ifndef MODELS_BERT_H_
#define MODELS_BERT_H_

#include <vector>

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

// word + position + token-type embeddings -> LayerNorm -> dropout.
class BertEmbeddingsImpl : public torch::nn::Cloneable<BertEmbeddingsImpl> {
 public:
  explicit BertEmbeddingsImpl(const BertConfig& config) : config_(config) { reset(); }
  void reset() override;
  at::Tensor forward(const at::Tensor& input_ids, const at::Tensor& token_type_ids);

  torch::nn::Embedding word_embeddings{nullptr};
  torch::nn::Embedding position_embeddings{nullptr};
  torch::nn::Embedding token_type_embeddings{nullptr};
  torch::nn::LayerNorm LayerNorm{nullptr};  // NOLINT: the checkpoint key is "LayerNorm".
  torch::nn::Dropout dropout{nullptr};

 private:
  BertConfig config_;
};
TORCH_MODULE(BertEmbeddings);

// Multi-head scaled dot-product attention: query/key/value projections.
class BertSelfAttentionImpl : public torch::nn::Cloneable<BertSelfAttentionImpl> {
 public:
  explicit BertSelfAttentionImpl(const BertConfig& config) : config_(config) { reset(); }
  void reset() override;
  // Returns the context [b, s, hidden]; writes the probabilities to *probs when non-null.
  at::Tensor forward(const at::Tensor& hidden, const at::Tensor& extended_mask,
                     at::Tensor* probs = nullptr);

  layers::MatMul matmul{nullptr};        // Q K^T.
  layers::MatMul matmul_1{nullptr};      // P V.
  torch::nn::Dropout dropout{nullptr};  // Children "query", "key", "value": Linear.

 private:
  BertConfig config_;
};
TORCH_MODULE(BertSelfAttention);

// dense -> dropout -> residual add -> LayerNorm. Serves both "attention.output" (dense
// hidden->hidden) and "output" (dense intermediate->hidden), which differ only in width.
class BertSelfOutputImpl : public torch::nn::Cloneable<BertSelfOutputImpl> {
 public:
  BertSelfOutputImpl(const BertConfig& config, int64_t in_features)
      : config_(config), in_features_(in_features) {
    reset();
  }
  void reset() override;
  at::Tensor forward(const at::Tensor& hidden, const at::Tensor& residual);

  torch::nn::LayerNorm LayerNorm{nullptr};  // NOLINT. Child "dense": Linear.
  torch::nn::Dropout dropout{nullptr};

 private:
  BertConfig config_;
  int64_t in_features_;
};
TORCH_MODULE(BertSelfOutput);

// BertOutput is the same computation as BertSelfOutput on the feed-forward width.
using BertOutputImpl = BertSelfOutputImpl;
using BertOutput = BertSelfOutput;

class BertAttentionImpl : public torch::nn::Cloneable<BertAttentionImpl> {
 public:
  explicit BertAttentionImpl(const BertConfig& config) : config_(config) { reset(); }
  void reset() override;
  at::Tensor forward(const at::Tensor& hidden, const at::Tensor& extended_mask,
                     at::Tensor* probs = nullptr);

  BertSelfAttention self{nullptr};  // Registered as "self", as in the checkpoints.
  BertSelfOutput output{nullptr};

 private:
  BertConfig config_;
};
TORCH_MODULE(BertAttention);

// dense hidden->intermediate, then the configured activation.
class BertIntermediateImpl : public torch::nn::Cloneable<BertIntermediateImpl> {
 public:
  explicit BertIntermediateImpl(const BertConfig& config) : config_(config) { reset(); }
  void reset() override;
  at::Tensor forward(const at::Tensor& hidden);  // Child "dense": Linear.

 private:
  BertConfig config_;
};
TORCH_MODULE(BertIntermediate);

class BertLayerImpl : public torch::nn::Cloneable<BertLayerImpl> {
 public:
  explicit BertLayerImpl(const BertConfig& config) : config_(config) { reset(); }
  void reset() override;
  at::Tensor forward(const at::Tensor& hidden, const at::Tensor& extended_mask,
                     at::Tensor* probs = nullptr);

  BertAttention attention{nullptr};
  BertIntermediate intermediate{nullptr};
  BertOutput output{nullptr};

 private:
  BertConfig config_;
};
TORCH_MODULE(BertLayer);

class BertEncoderImpl : public torch::nn::Cloneable<BertEncoderImpl> {
 public:
  explicit BertEncoderImpl(const BertConfig& config) : config_(config) { reset(); }
  void reset() override;
  // Runs every layer; appends to `hidden_states` / `attentions` when they are non-null.
  at::Tensor forward(at::Tensor hidden, const at::Tensor& extended_mask,
                     std::vector<at::Tensor>* hidden_states,
                     std::vector<at::Tensor>* attentions);

  torch::nn::ModuleList layer{nullptr};

 private:
  BertConfig config_;
};
TORCH_MODULE(BertEncoder);

// tanh(dense(first token)).
class BertPoolerImpl : public torch::nn::Cloneable<BertPoolerImpl> {
 public:
  explicit BertPoolerImpl(const BertConfig& config) : config_(config) { reset(); }
  void reset() override;
  at::Tensor forward(const at::Tensor& hidden);  // Child "dense": Linear.

 private:
  BertConfig config_;
};
TORCH_MODULE(BertPooler);

// Embeddings + encoder (+ pooler). As a head's submodule it is registered as "bert".
class BertModelImpl : public PreTrainedModel {
 public:
  explicit BertModelImpl(const BertConfig& config, bool add_pooling_layer = true);
  ModelOutput forward(const ModelInput& input) override;
  std::string base_model_prefix() const override { return "bert"; }

  BertEmbeddings embeddings{nullptr};
  BertEncoder encoder{nullptr};
  BertPooler pooler{nullptr};  // Null when built without the pooling layer.
};
TORCH_MODULE(BertModel);

// dense -> activation -> LayerNorm ("cls.predictions.transform").
class BertPredictionHeadTransformImpl
    : public torch::nn::Cloneable<BertPredictionHeadTransformImpl> {
 public:
  explicit BertPredictionHeadTransformImpl(const BertConfig& config) : config_(config) {
    reset();
  }
  void reset() override;
  at::Tensor forward(const at::Tensor& hidden);

  torch::nn::LayerNorm LayerNorm{nullptr};  // NOLINT. Child "dense": Linear.

 private:
  BertConfig config_;
};
TORCH_MODULE(BertPredictionHeadTransform);

// "cls.predictions": transform, then a decoder whose weight IS the word-embedding matrix
// (tied, so it is not a parameter of its own) plus the bias "cls.predictions.bias".
// The decoder weight is passed to forward() by the owning model rather than stored, so the
// tie cannot go stale when a transform swaps or reloads the embedding module.
class BertLMPredictionHeadImpl : public torch::nn::Cloneable<BertLMPredictionHeadImpl> {
 public:
  explicit BertLMPredictionHeadImpl(const BertConfig& config) : config_(config) { reset(); }
  void reset() override;
  at::Tensor forward(const at::Tensor& hidden, const at::Tensor& decoder_weight);

  at::Tensor bias;
  BertPredictionHeadTransform transform{nullptr};

 private:
  BertConfig config_;
};
TORCH_MODULE(BertLMPredictionHead);

// "cls" of BertForMaskedLM: holds "predictions".
class BertOnlyMLMHeadImpl : public torch::nn::Cloneable<BertOnlyMLMHeadImpl> {
 public:
  explicit BertOnlyMLMHeadImpl(const BertConfig& config) : config_(config) { reset(); }
  void reset() override;

  BertLMPredictionHead predictions{nullptr};

 private:
  BertConfig config_;
};
TORCH_MODULE(BertOnlyMLMHead);

// "cls" of BertForPreTraining: "predictions" (MLM) and "seq_relationship" (NSP).
class BertPreTrainingHeadsImpl : public torch::nn::Cloneable<BertPreTrainingHeadsImpl> {
 public:
  explicit BertPreTrainingHeadsImpl(const BertConfig& config) : config_(config) { reset(); }
  void reset() override;

  BertLMPredictionHead predictions{nullptr};  // Child "seq_relationship": Linear.
  // NSP logits from the pooled output.
  at::Tensor SeqRelationship(const at::Tensor& pooled);

 private:
  BertConfig config_;
};
TORCH_MODULE(BertPreTrainingHeads);

class BertForMaskedLMImpl : public PreTrainedModel {
 public:
  explicit BertForMaskedLMImpl(const BertConfig& config);
  ModelOutput forward(const ModelInput& input) override;  // logits [b, s, vocab].
  std::string base_model_prefix() const override { return "bert"; }
  std::vector<std::pair<std::string, std::string>> tied_weight_aliases() const override;

  BertModel bert{nullptr};
  BertOnlyMLMHead cls{nullptr};
};
TORCH_MODULE(BertForMaskedLM);

class BertForPreTrainingImpl : public PreTrainedModel {
 public:
  explicit BertForPreTrainingImpl(const BertConfig& config);
  // prediction_logits [b, s, vocab], seq_relationship_logits [b, 2].
  ModelOutput forward(const ModelInput& input) override;
  std::string base_model_prefix() const override { return "bert"; }
  std::vector<std::pair<std::string, std::string>> tied_weight_aliases() const override;

  BertModel bert{nullptr};
  BertPreTrainingHeads cls{nullptr};
};
TORCH_MODULE(BertForPreTraining);

class BertForQuestionAnsweringImpl : public PreTrainedModel {
 public:
  explicit BertForQuestionAnsweringImpl(const BertConfig& config);
  ModelOutput forward(const ModelInput& input) override;  // start_logits, end_logits.
  std::string base_model_prefix() const override { return "bert"; }

  BertModel bert{nullptr};  // Child "qa_outputs": Linear.
};
TORCH_MODULE(BertForQuestionAnswering);

class BertForSequenceClassificationImpl : public PreTrainedModel {
 public:
  explicit BertForSequenceClassificationImpl(const BertConfig& config);
  ModelOutput forward(const ModelInput& input) override;  // logits [b, num_labels].
  std::string base_model_prefix() const override { return "bert"; }

  BertModel bert{nullptr};
  torch::nn::Dropout dropout{nullptr};  // Child "classifier": Linear.
};
TORCH_MODULE(BertForSequenceClassification);

}  // namespace models

#endif  // MODELS_BERT_H_
