// The BERT every unit test builds when it needs a real model but not a realistic one: two
// layers, hidden size 32, four heads, no dropout (so forward passes are deterministic).
// Tests change the fields they care about on the copy:
//
//   models::BertConfig config = models::TinyTestConfig(tokenizer->vocab_size());
//   config.model_type = "distilbert";
#ifndef MODELS_TEST_CONFIG_H_
#define MODELS_TEST_CONFIG_H_

#include <cstdint>

#include "models/bert_config.h"

namespace models {

inline BertConfig TinyTestConfig(int64_t vocab_size = 64, int64_t max_position_embeddings = 64) {
  BertConfig config;
  config.vocab_size = vocab_size;
  config.hidden_size = 32;
  config.num_hidden_layers = 2;
  config.num_attention_heads = 4;
  config.intermediate_size = 64;
  config.max_position_embeddings = max_position_embeddings;
  config.hidden_dropout_prob = 0.0;
  config.attention_probs_dropout_prob = 0.0;
  return config;
}

}  // namespace models

#endif  // MODELS_TEST_CONFIG_H_
