#include "models/bert_config.h"

#include <gtest/gtest.h>

#include <string>

namespace models {
namespace {

constexpr char kBertBase[] = R"({
  "architectures": ["BertForQuestionAnswering"],
  "attention_probs_dropout_prob": 0.1,
  "classifier_dropout": null,
  "hidden_act": "gelu",
  "hidden_dropout_prob": 0.1,
  "hidden_size": 768,
  "initializer_range": 0.02,
  "intermediate_size": 3072,
  "layer_norm_eps": 1e-12,
  "max_position_embeddings": 512,
  "model_type": "bert",
  "num_attention_heads": 12,
  "num_hidden_layers": 12,
  "pad_token_id": 0,
  "position_embedding_type": "absolute",
  "torch_dtype": "float32",
  "transformers_version": "4.30.2",
  "type_vocab_size": 2,
  "use_cache": true,
  "vocab_size": 30522
})";

constexpr char kDistilBert[] = R"({
  "activation": "gelu", "architectures": ["DistilBertForSequenceClassification"],
  "attention_dropout": 0.1, "dim": 768, "dropout": 0.1, "hidden_dim": 3072,
  "id2label": {"0": "NEGATIVE", "1": "POSITIVE"}, "label2id": {"NEGATIVE": 0, "POSITIVE": 1},
  "initializer_range": 0.02, "max_position_embeddings": 512, "model_type": "distilbert",
  "n_heads": 12, "n_layers": 6, "pad_token_id": 0, "qa_dropout": 0.1,
  "seq_classif_dropout": 0.2, "sinusoidal_pos_embds": false, "vocab_size": 30522
})";

TEST(BertConfigTest, ReadsHuggingFaceBertConfig) {
  auto config = BertConfigFromJson(kBertBase, "config.json");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->architecture(), "BertForQuestionAnswering");
  EXPECT_EQ(config->hidden_size, 768);
  EXPECT_EQ(config->num_hidden_layers, 12);
  EXPECT_EQ(config->head_dim(), 64);
  EXPECT_DOUBLE_EQ(config->layer_norm_eps, 1e-12);
  EXPECT_FALSE(config->classifier_dropout.has_value());
  EXPECT_EQ(config->extra.at("transformers_version"), "\"4.30.2\"");
}

TEST(BertConfigTest, ReadsDistilBertNamesIntoSharedFields) {
  auto config = BertConfigFromJson(kDistilBert, "config.json");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(config->is_distilbert());
  EXPECT_EQ(config->hidden_size, 768);
  EXPECT_EQ(config->num_hidden_layers, 6);
  EXPECT_EQ(config->intermediate_size, 3072);
  EXPECT_EQ(config->type_vocab_size, 0);
  EXPECT_EQ(config->num_labels, 2);
  EXPECT_EQ(config->id2label, (std::vector<std::string>{"NEGATIVE", "POSITIVE"}));
}

TEST(BertConfigTest, RoundTripKeepsEveryField) {
  for (const char* text : {kBertBase, kDistilBert}) {
    auto config = BertConfigFromJson(text, "a.json");
    ASSERT_TRUE(config.ok()) << config.status();
    config->classifier_dropout = config->is_distilbert() ? std::nullopt
                                                         : std::optional<double>(0.3);
    config->id2label = {"a", "b", "c"};
    config->num_labels = 3;
    const std::string json = BertConfigToJson(*config);
    auto again = BertConfigFromJson(json, "b.json");
    ASSERT_TRUE(again.ok()) << again.status() << json;
    EXPECT_EQ(BertConfigToJson(*again), json);
    EXPECT_EQ(again->id2label, config->id2label);
    EXPECT_EQ(again->classifier_dropout, config->classifier_dropout);
    EXPECT_EQ(again->extra, config->extra);
  }
}

TEST(BertConfigTest, WritesDistilBertKeyNames) {
  auto config = BertConfigFromJson(kDistilBert, "config.json");
  ASSERT_TRUE(config.ok());
  const std::string json = BertConfigToJson(*config);
  EXPECT_NE(json.find("\"n_layers\": 6"), std::string::npos) << json;
  EXPECT_EQ(json.find("num_hidden_layers"), std::string::npos) << json;
}

struct BadConfig {
  std::string from, to;  // Textual edit applied to kBertBase.
  std::string expected;  // Substring of the error.
};

class BadConfigTest : public testing::TestWithParam<BadConfig> {};

TEST_P(BadConfigTest, NamesFileFieldAndValue) {
  std::string text = kBertBase;
  const size_t at = text.find(GetParam().from);
  ASSERT_NE(at, std::string::npos);
  text.replace(at, GetParam().from.size(), GetParam().to);
  auto config = BertConfigFromJson(text, "/m/config.json");
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(config.status().message().find(GetParam().expected), std::string::npos)
      << config.status().message();
  EXPECT_EQ(config.status().message().rfind("/m/config.json", 0), 0u);
}

INSTANTIATE_TEST_SUITE_P(
    Errors, BadConfigTest,
    testing::Values(
        BadConfig{"\"hidden_size\": 768,", "", "required field 'hidden_size' is missing"},
        BadConfig{"\"vocab_size\": 30522", "\"vocab_size\": \"big\"",
                  "field 'vocab_size' must be an integer, got \"big\""},
        BadConfig{"BertForQuestionAnswering", "BertForTokenClassification",
                  "unknown architecture \"BertForTokenClassification\""},
        BadConfig{"\"hidden_act\": \"gelu\"", "\"hidden_act\": \"mish\"",
                  "field 'hidden_act' is \"mish\""},
        BadConfig{"\"num_attention_heads\": 12", "\"num_attention_heads\": 7",
                  "'hidden_size' (768) must be a multiple of num_attention_heads (7)"},
        BadConfig{"\"hidden_dropout_prob\": 0.1", "\"hidden_dropout_prob\": 1.5",
                  "'hidden_dropout_prob' must be in [0, 1), got 1.5"},
        BadConfig{"\"model_type\": \"bert\"", "\"model_type\": \"roberta\"",
                  "field 'model_type' is \"roberta\""},
        BadConfig{"\"absolute\"", "\"relative_key\"",
                  "only \"absolute\" is implemented"},
        BadConfig{"\"num_hidden_layers\": 12", "\"num_hidden_layers\": 0",
                  "'num_hidden_layers' must be positive, got 0"},
        BadConfig{"\"vocab_size\": 30522\n}", "\"vocab_size\": 30522,\n",
                  "not valid JSON"},
        // Found by fuzz/bert_config_fuzzer: the double -> int64 cast was undefined.
        BadConfig{"\"vocab_size\": 30522", "\"vocab_size\": 4e72",
                  "field 'vocab_size' must be a 64-bit integer, got 4e+72"},
        BadConfig{"\"vocab_size\": 30522", "\"vocab_size\": 18446744073709551615",
                  "field 'vocab_size' must be a 64-bit integer, got 18446744073709551615"}));

TEST(BertConfigTest, LoadMissingFileNamesPath) {
  auto config = LoadBertConfig("/nonexistent/dir/config.json");
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.status().message().find("/nonexistent/dir/config.json"), std::string::npos);
}

TEST(BertConfigTest, PresetsAreValid) {
  for (const char* name : {"bert-tiny", "bert-mini", "bert-small", "bert-medium", "bert-base",
                           "bert-large", "distilbert-base"}) {
    auto config = BertConfigPreset(name);
    ASSERT_TRUE(config.ok()) << name;
    EXPECT_TRUE(ValidateBertConfig(*config, name).ok()) << name;
  }
  auto mini = BertConfigPreset("bert-mini");
  EXPECT_EQ(mini->num_hidden_layers, 4);
  EXPECT_EQ(mini->hidden_size, 256);
  EXPECT_FALSE(BertConfigPreset("bert-huge").ok());
}

}  // namespace
}  // namespace models
