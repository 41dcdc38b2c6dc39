// Configuration of BERT-class models, read from and written to Hugging Face config.json.
//
// One struct serves BERT and DistilBERT: DistilBERT's config.json spells the shared fields
// differently (dim, n_layers, n_heads, hidden_dim, activation, dropout, attention_dropout),
// and the mapping happens only at the JSON boundary, so model code reads one set of names.
//
//   absl::StatusOr<BertConfig> config = LoadBertConfig("/models/bert/config.json");
//   config->num_hidden_layers = 4;
//   RETURN_IF_ERROR(SaveBertConfig(*config, "/tmp/small/config.json"));
#ifndef MODELS_BERT_CONFIG_H_
#define MODELS_BERT_CONFIG_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace models {

struct BertConfig {
  std::string model_type = "bert";         // "bert" or "distilbert".
  std::vector<std::string> architectures;  // e.g. {"BertForQuestionAnswering"}.
  int64_t vocab_size = 30522;              // Rows of the word embedding.
  int64_t hidden_size = 768;               // DistilBERT: dim.
  int64_t num_hidden_layers = 12;          // DistilBERT: n_layers.
  int64_t num_attention_heads = 12;        // DistilBERT: n_heads.
  int64_t intermediate_size = 3072;        // Feed-forward width. DistilBERT: hidden_dim.
  std::string hidden_act = "gelu";         // gelu (erf), gelu_new (tanh), relu, ... DistilBERT: activation.
  double hidden_dropout_prob = 0.1;        // DistilBERT: dropout.
  double attention_probs_dropout_prob = 0.1;  // DistilBERT: attention_dropout.
  int64_t max_position_embeddings = 512;   // Longest sequence the model accepts.
  int64_t type_vocab_size = 2;             // Segment ids; DistilBERT has none (0).
  double layer_norm_eps = 1e-12;           // DistilBERT fixes it at 1e-12.
  int64_t pad_token_id = 0;                // Row of the word embedding kept at zero gradient.
  double initializer_range = 0.02;         // Std of the normal init of Linear/Embedding weights.
  std::string position_embedding_type = "absolute";  // Only "absolute" is implemented.
  std::optional<double> classifier_dropout;  // BERT classification head; unset: hidden_dropout_prob.
  double qa_dropout = 0.1;                 // DistilBERT QA head dropout.
  double seq_classif_dropout = 0.2;        // DistilBERT classification head dropout.
  bool sinusoidal_pos_embds = false;       // DistilBERT: fixed sinusoidal position table.
  bool tie_word_embeddings = true;         // MLM decoder shares the word embedding matrix.
  int64_t num_labels = 2;                  // Classification outputs; 1 means regression.
  std::vector<std::string> id2label;       // Label names by id; size num_labels.
  std::string problem_type;                // "", regression, single_label_classification,
                                           // multi_label_classification.
  // Keys we do not interpret (transformers_version, torch_dtype, ...), kept verbatim as
  // serialized JSON so a load -> save round trip loses nothing.
  std::map<std::string, std::string> extra;

  int64_t head_dim() const { return hidden_size / num_attention_heads; }
  bool is_distilbert() const { return model_type == "distilbert"; }
  // The head to build: architectures[0], or the bare model of model_type.
  std::string architecture() const;
};

// Architectures the model factory can build, for `model_type` ("bert"/"distilbert").
const std::vector<std::string>& SupportedArchitectures(absl::string_view model_type);

// Parses config.json text. `source` names the file in error messages.
absl::StatusOr<BertConfig> BertConfigFromJson(absl::string_view json_text,
                                              absl::string_view source);
absl::StatusOr<BertConfig> LoadBertConfig(const std::string& path);

// Checks invariants a model needs (sizes positive, heads divide hidden, known activation,
// known architecture, labels consistent). `source` names the file in messages.
absl::Status ValidateBertConfig(const BertConfig& config, absl::string_view source);

// Serializes with the key names of config.model_type, as Hugging Face writes them.
std::string BertConfigToJson(const BertConfig& config);
absl::Status SaveBertConfig(const BertConfig& config, const std::string& path);

// Named sizes users know: bert-tiny (2x128), bert-mini (4x256), bert-small (4x512),
// bert-medium (8x512), bert-base (12x768), bert-large (24x1024), distilbert-base (6x768).
absl::StatusOr<BertConfig> BertConfigPreset(absl::string_view name);

}  // namespace models

#endif  // MODELS_BERT_CONFIG_H_
