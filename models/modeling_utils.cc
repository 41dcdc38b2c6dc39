#include "models/modeling_utils.h"

#include <cmath>
#include <limits>

#include <ATen/ATen.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/normalization.h>
#include <torch/utils.h>

namespace models {

layers::Linear MakeLinear(int64_t in, int64_t out) {
  return layers::Linear(torch::nn::LinearOptions(in, out));
}

torch::nn::Embedding MakeWordEmbeddings(int64_t vocab_size, int64_t dim, int64_t pad_token_id) {
  return torch::nn::Embedding(torch::nn::EmbeddingOptions(vocab_size, dim).padding_idx(pad_token_id));
}

torch::nn::Embedding MakePositionEmbeddings(int64_t max_positions, int64_t dim) {
  return torch::nn::Embedding(max_positions, dim);
}

at::Tensor Activation(const std::string& name, const at::Tensor& x) {
  if (name == "gelu") return at::gelu(x);
  if (name == "gelu_new" || name == "gelu_pytorch_tanh" || name == "gelu_fast") {
    return at::gelu(x, "tanh");
  }
  if (name == "relu") return at::relu(x);
  if (name == "silu" || name == "swish") return at::silu(x);
  if (name == "tanh") return at::tanh(x);
  TORCH_CHECK(false, "unknown activation \"", name, "\"");
}

at::Tensor ExtendedAttentionMask(const at::Tensor& attention_mask) {
  if (!attention_mask.defined()) return {};
  const at::Tensor mask = attention_mask.to(at::kFloat).unsqueeze(1).unsqueeze(2);
  return (1.0 - mask) * std::numeric_limits<float>::lowest();
}

void InitTransformerWeights(torch::nn::Module& module, double initializer_range) {
  torch::NoGradGuard no_grad;
  for (const auto& child : module.modules(/*include_self=*/false)) {
    if (auto* linear = child->as<layers::Linear>()) {
      linear->weight.normal_(0.0, initializer_range);
      if (linear->bias.defined()) linear->bias.zero_();
    } else if (auto* embedding = child->as<torch::nn::Embedding>()) {
      embedding->weight.normal_(0.0, initializer_range);
      if (auto pad = embedding->options.padding_idx()) embedding->weight[*pad].zero_();
    } else if (auto* norm = child->as<torch::nn::LayerNorm>()) {
      norm->weight.fill_(1.0);
      norm->bias.zero_();
    }
  }
}

void CheckModelInput(const at::Tensor& input_ids, const at::Tensor& token_type_ids,
                     const at::Tensor& attention_mask, int64_t vocab_size,
                     int64_t max_positions, int64_t type_vocab_size) {
  TORCH_CHECK(input_ids.defined() && input_ids.dim() == 2,
              "input_ids must be a [batch, seq] tensor, got ",
              input_ids.defined() ? input_ids.sizes() : at::IntArrayRef{});
  TORCH_CHECK(input_ids.scalar_type() == at::kLong, "input_ids must be int64, got ",
              input_ids.scalar_type());
  const int64_t seq = input_ids.size(1);
  TORCH_CHECK(seq >= 1 && seq <= max_positions, "sequence length ", seq,
              " is outside [1, max_position_embeddings=", max_positions, "]");
  if (input_ids.numel() > 0) {
    const int64_t low = input_ids.min().item<int64_t>();
    const int64_t high = input_ids.max().item<int64_t>();
    TORCH_CHECK(low >= 0 && high < vocab_size, "input_ids must be in [0, vocab_size=",
                vocab_size, "), got values from ", low, " to ", high);
  }
  if (token_type_ids.defined()) {
    TORCH_CHECK(token_type_ids.sizes() == input_ids.sizes(), "token_type_ids shape ",
                token_type_ids.sizes(), " differs from input_ids shape ", input_ids.sizes());
    TORCH_CHECK(type_vocab_size > 0, "this model has no token types (type_vocab_size=0)");
    const int64_t low = token_type_ids.min().item<int64_t>();
    const int64_t high = token_type_ids.max().item<int64_t>();
    TORCH_CHECK(low >= 0 && high < type_vocab_size,
                "token_type_ids must be in [0, type_vocab_size=", type_vocab_size,
                "), got values from ", low, " to ", high);
  }
  if (attention_mask.defined()) {
    TORCH_CHECK(attention_mask.sizes() == input_ids.sizes(), "attention_mask shape ",
                attention_mask.sizes(), " differs from input_ids shape ", input_ids.sizes());
  }
}

at::Tensor PredictionRows(const at::Tensor& hidden, const at::Tensor& prediction_mask) {
  if (!prediction_mask.defined()) return hidden;
  TORCH_CHECK(prediction_mask.scalar_type() == at::kBool && hidden.dim() == 3 &&
                  prediction_mask.sizes() == hidden.sizes().slice(0, 2),
              "prediction_mask must be a bool [batch, seq] tensor matching the hidden states ",
              hidden.sizes(), "; got ", prediction_mask.scalar_type(), " ", prediction_mask.sizes());
  const at::Tensor rows = prediction_mask.reshape({-1}).nonzero().squeeze(1);
  return hidden.reshape({-1, hidden.size(-1)}).index_select(0, rows);
}

}  // namespace models
