// Pieces shared by the BERT and DistilBERT implementations: activations by config name,
// the Hugging Face attention-mask convention and weight initialisation.
#ifndef MODELS_MODELING_UTILS_H_
#define MODELS_MODELING_UTILS_H_

#include <string>

#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/embedding.h>

#include "layers/linear.h"

namespace models {

// Builders shared by BERT and DistilBERT: a Linear in -> out, the word embedding (padding
// row = pad_token_id) and the absolute position embedding.
layers::Linear MakeLinear(int64_t in, int64_t out);
torch::nn::Embedding MakeWordEmbeddings(int64_t vocab_size, int64_t dim, int64_t pad_token_id);
torch::nn::Embedding MakePositionEmbeddings(int64_t max_positions, int64_t dim);

// Applies the activation named in config.json (gelu = exact erf form; gelu_new,
// gelu_pytorch_tanh and gelu_fast = tanh approximation; relu; silu/swish; tanh).
// The name must have passed ValidateBertConfig.
at::Tensor Activation(const std::string& name, const at::Tensor& x);

// [batch, seq] mask of 1 (attend) / 0 (padding) -> [batch, 1, 1, seq] float tensor with 0
// for kept keys and the lowest float for padded keys, added to attention scores as Hugging
// Face does. Undefined mask -> undefined result (nothing masked).
at::Tensor ExtendedAttentionMask(const at::Tensor& attention_mask);

// Hugging Face's _init_weights: Linear and Embedding weights ~ N(0, range), biases zero,
// the padding row of `padding_embeddings` zero, LayerNorm weight one and bias zero. Uses
// the global torch generator, so seed it for determinism.
void InitTransformerWeights(torch::nn::Module& module, double initializer_range);

// The rows of hidden [batch, seq, hidden] where ModelInput::prediction_mask is true, as
// [n, hidden] in row-major order; all of hidden when the mask is undefined. The masked-LM
// heads transform and project only these rows. A mask of another shape or dtype throws.
at::Tensor PredictionRows(const at::Tensor& hidden, const at::Tensor& prediction_mask);

// Checks input_ids / token_type_ids / attention_mask shapes and ranges against the config
// limits, so a bad input gives a one-line error (c10::Error) rather than an index fault.
void CheckModelInput(const at::Tensor& input_ids, const at::Tensor& token_type_ids,
                     const at::Tensor& attention_mask, int64_t vocab_size,
                     int64_t max_positions, int64_t type_vocab_size);

}  // namespace models

#endif  // MODELS_MODELING_UTILS_H_
