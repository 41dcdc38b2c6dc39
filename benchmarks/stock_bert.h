// The reference a training-speed figure is measured against: BERT for question answering
// written the way a PyTorch user writes it in eager mode, with stock LibTorch modules and ops
// only (torch::nn::Linear / Embedding / LayerNorm / Dropout, at::matmul, at::softmax), and
// none of this project's layers, kernels or hooks. Parameter names are Hugging Face's, the
// same as models::BertForQuestionAnswering's, so one state_dict loads into both and
// stock_bert_test checks that they compute the same thing.
//
//   auto reference = benchmarks::StockBertForQuestionAnswering(config);
//   auto [start_logits, end_logits] = reference->forward(input_ids);
#ifndef BENCHMARKS_STOCK_BERT_H_
#define BENCHMARKS_STOCK_BERT_H_

#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>

#include "models/bert_config.h"

namespace benchmarks {

class StockLayerImpl;

class StockBertForQuestionAnsweringImpl : public torch::nn::Module {
 public:
  explicit StockBertForQuestionAnsweringImpl(const models::BertConfig& config);
  // input_ids [batch, seq] -> (start_logits, end_logits), each [batch, seq]; every token is
  // attended (no padding mask) and token types are 0, as in the training benchmark.
  std::pair<at::Tensor, at::Tensor> forward(const at::Tensor& input_ids);

 private:
  models::BertConfig config_;
  torch::nn::Embedding word_embeddings_{nullptr}, position_embeddings_{nullptr},
      token_type_embeddings_{nullptr};
  torch::nn::LayerNorm embeddings_norm_{nullptr};
  torch::nn::Dropout embeddings_dropout_{nullptr};
  std::vector<std::shared_ptr<StockLayerImpl>> layers_;
  torch::nn::Linear qa_outputs_{nullptr};
};
TORCH_MODULE(StockBertForQuestionAnswering);

}  // namespace benchmarks

#endif  // BENCHMARKS_STOCK_BERT_H_
