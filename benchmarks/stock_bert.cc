#include "benchmarks/stock_bert.h"

#include <cmath>
#include <string>

#include <ATen/ATen.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>

namespace benchmarks {
namespace {

using torch::nn::Dropout;
using torch::nn::Embedding;
using torch::nn::LayerNorm;
using torch::nn::LayerNormOptions;
using torch::nn::Linear;

}  // namespace

// One encoder layer as Hugging Face's BertLayer lays it out, flattened into one module whose
// children carry the nested names (attention.self.query, ...), so state_dict keys match.
class StockLayerImpl : public torch::nn::Module {
 public:
  explicit StockLayerImpl(const models::BertConfig& c) : config_(c) {
    const int64_t h = c.hidden_size;
    auto attention = register_module("attention", std::make_shared<torch::nn::Module>());
    auto self = attention->register_module("self", std::make_shared<torch::nn::Module>());
    query_ = self->register_module("query", Linear(h, h));
    key_ = self->register_module("key", Linear(h, h));
    value_ = self->register_module("value", Linear(h, h));
    auto attention_output =
        attention->register_module("output", std::make_shared<torch::nn::Module>());
    attention_dense_ = attention_output->register_module("dense", Linear(h, h));
    attention_norm_ = attention_output->register_module(
        "LayerNorm", LayerNorm(LayerNormOptions({h}).eps(c.layer_norm_eps)));
    auto intermediate = register_module("intermediate", std::make_shared<torch::nn::Module>());
    intermediate_ = intermediate->register_module("dense", Linear(h, c.intermediate_size));
    auto output = register_module("output", std::make_shared<torch::nn::Module>());
    output_dense_ = output->register_module("dense", Linear(c.intermediate_size, h));
    output_norm_ = output->register_module(
        "LayerNorm", LayerNorm(LayerNormOptions({h}).eps(c.layer_norm_eps)));
    hidden_dropout_ = register_module("hidden_dropout", Dropout(c.hidden_dropout_prob));
    attention_dropout_ =
        register_module("attention_dropout", Dropout(c.attention_probs_dropout_prob));
  }

  at::Tensor forward(const at::Tensor& x) {
    const int64_t batch = x.size(0), seq = x.size(1), heads = config_.num_attention_heads;
    const int64_t head_size = config_.hidden_size / heads;
    auto split = [&](const at::Tensor& t) {
      return t.view({batch, seq, heads, head_size}).permute({0, 2, 1, 3});
    };
    const at::Tensor q = split(query_->forward(x)), k = split(key_->forward(x)),
                     v = split(value_->forward(x));
    at::Tensor scores = at::matmul(q, k.transpose(-1, -2)) / std::sqrt(double(head_size));
    at::Tensor probs = attention_dropout_->forward(at::softmax(scores, -1));
    at::Tensor context = at::matmul(probs, v).permute({0, 2, 1, 3}).reshape(
        {batch, seq, config_.hidden_size});
    at::Tensor attended = attention_norm_->forward(
        hidden_dropout_->forward(attention_dense_->forward(context)) + x);
    at::Tensor inner = at::gelu(intermediate_->forward(attended));
    return output_norm_->forward(hidden_dropout_->forward(output_dense_->forward(inner)) +
                                 attended);
  }

 private:
  models::BertConfig config_;
  Linear query_{nullptr}, key_{nullptr}, value_{nullptr}, attention_dense_{nullptr},
      intermediate_{nullptr}, output_dense_{nullptr};
  LayerNorm attention_norm_{nullptr}, output_norm_{nullptr};
  Dropout hidden_dropout_{nullptr}, attention_dropout_{nullptr};
};

StockBertForQuestionAnsweringImpl::StockBertForQuestionAnsweringImpl(
    const models::BertConfig& config)
    : config_(config) {
  const int64_t h = config.hidden_size;
  auto bert = register_module("bert", std::make_shared<torch::nn::Module>());
  auto embeddings = bert->register_module("embeddings", std::make_shared<torch::nn::Module>());
  word_embeddings_ = embeddings->register_module(
      "word_embeddings",
      Embedding(torch::nn::EmbeddingOptions(config.vocab_size, h).padding_idx(config.pad_token_id)));
  position_embeddings_ = embeddings->register_module(
      "position_embeddings", Embedding(config.max_position_embeddings, h));
  token_type_embeddings_ =
      embeddings->register_module("token_type_embeddings", Embedding(config.type_vocab_size, h));
  embeddings_norm_ = embeddings->register_module(
      "LayerNorm", LayerNorm(LayerNormOptions({h}).eps(config.layer_norm_eps)));
  embeddings_dropout_ =
      embeddings->register_module("dropout", Dropout(config.hidden_dropout_prob));
  auto encoder = bert->register_module("encoder", std::make_shared<torch::nn::Module>());
  auto layers = encoder->register_module("layer", torch::nn::ModuleList());
  for (int64_t i = 0; i < config.num_hidden_layers; ++i) {
    layers_.push_back(std::make_shared<StockLayerImpl>(config));
    layers->push_back(layers_.back());
  }
  qa_outputs_ = register_module("qa_outputs", Linear(h, 2));
}

std::pair<at::Tensor, at::Tensor> StockBertForQuestionAnsweringImpl::forward(
    const at::Tensor& input_ids) {
  const at::Tensor positions = at::arange(input_ids.size(1), input_ids.options());
  at::Tensor x = word_embeddings_->forward(input_ids) + position_embeddings_->forward(positions) +
                 token_type_embeddings_->weight[0];
  x = embeddings_dropout_->forward(embeddings_norm_->forward(x));
  for (const auto& layer : layers_) x = layer->forward(x);
  const at::Tensor logits = qa_outputs_->forward(x);
  return {logits.select(-1, 0), logits.select(-1, 1)};
}

}  // namespace benchmarks
