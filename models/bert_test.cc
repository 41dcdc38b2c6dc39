// Parameter names and shapes must equal Hugging Face's for the same config, so checkpoints
// load without a renaming table; plus the behaviour of masks, outputs and losses.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/utils.h>

#include <map>
#include <string>
#include <vector>

#include "models/auto_model.h"
#include "models/bert.h"
#include "models/distilbert.h"
#include "models/losses.h"

namespace models {
namespace {

using Shapes = std::vector<std::pair<std::string, std::vector<int64_t>>>;

// vocab 50, hidden 16, 2 layers, 4 heads, intermediate 24, 20 positions, 2 types, 3 labels.
BertConfig SmallConfig(const std::string& model_type = "bert") {
  BertConfig config;
  config.model_type = model_type;
  config.vocab_size = 50;
  config.hidden_size = 16;
  config.num_hidden_layers = 2;
  config.num_attention_heads = 4;
  config.intermediate_size = 24;
  config.max_position_embeddings = 20;
  config.type_vocab_size = model_type == "bert" ? 2 : 0;
  config.num_labels = 3;
  return config;
}

// Hugging Face BertModel.named_parameters() for SmallConfig, in order, written out.
Shapes BertEncoderNames(const std::string& prefix) {
  Shapes names = {
      {prefix + "embeddings.word_embeddings.weight", {50, 16}},
      {prefix + "embeddings.position_embeddings.weight", {20, 16}},
      {prefix + "embeddings.token_type_embeddings.weight", {2, 16}},
      {prefix + "embeddings.LayerNorm.weight", {16}},
      {prefix + "embeddings.LayerNorm.bias", {16}},
  };
  for (const char* layer : {"0", "1"}) {
    const std::string p = prefix + "encoder.layer." + layer + ".";
    const Shapes per_layer = {
        {p + "attention.self.query.weight", {16, 16}},
        {p + "attention.self.query.bias", {16}},
        {p + "attention.self.key.weight", {16, 16}},
        {p + "attention.self.key.bias", {16}},
        {p + "attention.self.value.weight", {16, 16}},
        {p + "attention.self.value.bias", {16}},
        {p + "attention.output.dense.weight", {16, 16}},
        {p + "attention.output.dense.bias", {16}},
        {p + "attention.output.LayerNorm.weight", {16}},
        {p + "attention.output.LayerNorm.bias", {16}},
        {p + "intermediate.dense.weight", {24, 16}},
        {p + "intermediate.dense.bias", {24}},
        {p + "output.dense.weight", {16, 24}},
        {p + "output.dense.bias", {16}},
        {p + "output.LayerNorm.weight", {16}},
        {p + "output.LayerNorm.bias", {16}},
    };
    names.insert(names.end(), per_layer.begin(), per_layer.end());
  }
  return names;
}

Shapes Concat(Shapes a, const Shapes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

const Shapes kPooler = {{"bert.pooler.dense.weight", {16, 16}}, {"bert.pooler.dense.bias", {16}}};
const Shapes kMlmHead = {
    {"cls.predictions.bias", {50}},
    {"cls.predictions.transform.dense.weight", {16, 16}},
    {"cls.predictions.transform.dense.bias", {16}},
    {"cls.predictions.transform.LayerNorm.weight", {16}},
    {"cls.predictions.transform.LayerNorm.bias", {16}},
};

Shapes DistilBertNames(const std::string& prefix) {
  Shapes names = {
      {prefix + "embeddings.word_embeddings.weight", {50, 16}},
      {prefix + "embeddings.position_embeddings.weight", {20, 16}},
      {prefix + "embeddings.LayerNorm.weight", {16}},
      {prefix + "embeddings.LayerNorm.bias", {16}},
  };
  for (const char* layer : {"0", "1"}) {
    const std::string p = prefix + "transformer.layer." + layer + ".";
    const Shapes per_layer = {
        {p + "attention.q_lin.weight", {16, 16}},   {p + "attention.q_lin.bias", {16}},
        {p + "attention.k_lin.weight", {16, 16}},   {p + "attention.k_lin.bias", {16}},
        {p + "attention.v_lin.weight", {16, 16}},   {p + "attention.v_lin.bias", {16}},
        {p + "attention.out_lin.weight", {16, 16}}, {p + "attention.out_lin.bias", {16}},
        {p + "sa_layer_norm.weight", {16}},         {p + "sa_layer_norm.bias", {16}},
        {p + "ffn.lin1.weight", {24, 16}},          {p + "ffn.lin1.bias", {24}},
        {p + "ffn.lin2.weight", {16, 24}},          {p + "ffn.lin2.bias", {16}},
        {p + "output_layer_norm.weight", {16}},     {p + "output_layer_norm.bias", {16}},
    };
    names.insert(names.end(), per_layer.begin(), per_layer.end());
  }
  return names;
}

Shapes ActualNames(const torch::nn::Module& model) {
  Shapes actual;
  for (const auto& item : model.named_parameters()) {
    actual.emplace_back(item.key(), item.value().sizes().vec());
  }
  return actual;
}

struct NamesCase {
  std::string architecture;
  Shapes expected;
};

void PrintTo(const NamesCase& c, std::ostream* os) { *os << c.architecture; }

class ParameterNamesTest : public testing::TestWithParam<NamesCase> {};

TEST_P(ParameterNamesTest, EqualHuggingFaceNamesShapesAndOrder) {
  const NamesCase& c = GetParam();
  const BertConfig config =
      SmallConfig(c.architecture.rfind("DistilBert", 0) == 0 ? "distilbert" : "bert");
  auto model = CreateModel(config, c.architecture);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ(ActualNames(**model), c.expected);
  EXPECT_EQ((*model)->architecture(), c.architecture);
  EXPECT_TRUE((*model)->named_buffers().is_empty());
}

INSTANTIATE_TEST_SUITE_P(
    AllArchitectures, ParameterNamesTest,
    testing::Values(
        NamesCase{"BertModel", Concat(BertEncoderNames(""),
                                      {{"pooler.dense.weight", {16, 16}},
                                       {"pooler.dense.bias", {16}}})},
        NamesCase{"BertForMaskedLM", Concat(BertEncoderNames("bert."), kMlmHead)},
        NamesCase{"BertForPreTraining",
                  Concat(Concat(Concat(BertEncoderNames("bert."), kPooler), kMlmHead),
                         {{"cls.seq_relationship.weight", {2, 16}},
                          {"cls.seq_relationship.bias", {2}}})},
        NamesCase{"BertForQuestionAnswering",
                  Concat(BertEncoderNames("bert."),
                         {{"qa_outputs.weight", {2, 16}}, {"qa_outputs.bias", {2}}})},
        NamesCase{"BertForSequenceClassification",
                  Concat(Concat(BertEncoderNames("bert."), kPooler),
                         {{"classifier.weight", {3, 16}}, {"classifier.bias", {3}}})},
        NamesCase{"DistilBertModel", DistilBertNames("")},
        NamesCase{"DistilBertForMaskedLM",
                  Concat(DistilBertNames("distilbert."),
                         {{"vocab_transform.weight", {16, 16}},
                          {"vocab_transform.bias", {16}},
                          {"vocab_layer_norm.weight", {16}},
                          {"vocab_layer_norm.bias", {16}},
                          {"vocab_projector.bias", {50}}})},
        NamesCase{"DistilBertForQuestionAnswering",
                  Concat(DistilBertNames("distilbert."),
                         {{"qa_outputs.weight", {2, 16}}, {"qa_outputs.bias", {2}}})},
        NamesCase{"DistilBertForSequenceClassification",
                  Concat(DistilBertNames("distilbert."),
                         {{"pre_classifier.weight", {16, 16}},
                          {"pre_classifier.bias", {16}},
                          {"classifier.weight", {3, 16}},
                          {"classifier.bias", {3}}})}),
    [](const testing::TestParamInfo<NamesCase>& info) { return info.param.architecture; });

ModelInput PaddedBatch() {
  ModelInput input;
  input.input_ids = at::tensor({3, 7, 9, 11, 4, 8, 12, 0}, at::kLong).view({2, 4});
  input.attention_mask = at::tensor({1, 1, 1, 1, 1, 1, 0, 0}, at::kLong).view({2, 4});
  return input;
}

TEST(BertModelTest, PaddedKeysGetZeroAttentionAndDoNotChangeRealTokens) {
  torch::manual_seed(1);
  auto model = CreateModel(SmallConfig(), "BertForQuestionAnswering");
  ASSERT_TRUE(model.ok());
  (*model)->eval();
  ModelInput input = PaddedBatch();
  input.output_attentions = true;
  input.output_hidden_states = true;
  const ModelOutput out = (*model)->forward(input);
  ASSERT_EQ(out.attentions.size(), 2u);
  ASSERT_EQ(out.hidden_states.size(), 3u);
  EXPECT_EQ(out.attentions[0].sizes(), (std::vector<int64_t>{2, 4, 4, 4}));
  EXPECT_EQ(out.attentions[1].index({1, at::indexing::Slice(), at::indexing::Slice(),
                                     at::indexing::Slice(2, 4)})
                .abs()
                .max()
                .item<float>(),
            0.0f);
  // Changing the padded ids must not change the real tokens' outputs.
  ModelInput changed = PaddedBatch();
  changed.input_ids[1][2] = 30;
  changed.input_ids[1][3] = 31;
  const ModelOutput out2 = (*model)->forward(changed);
  EXPECT_TRUE(at::allclose(out.start_logits[1].slice(0, 0, 2),
                           out2.start_logits[1].slice(0, 0, 2), 1e-6, 1e-6));
  EXPECT_FALSE(at::allclose(out.start_logits[1], out2.start_logits[1], 1e-6, 1e-6));
  EXPECT_EQ(out.start_logits.sizes(), (std::vector<int64_t>{2, 4}));
  EXPECT_FALSE(out.pooler_output.defined());
}

TEST(BertModelTest, TiedDecoderFollowsWordEmbeddings) {
  torch::manual_seed(2);
  BertForMaskedLM model(SmallConfig());
  model->eval();
  const ModelInput input = PaddedBatch();
  const at::Tensor before = model->forward(input).logits;
  {
    torch::NoGradGuard no_grad;
    // Not a constant shift: LayerNorm outputs sum to zero, so that would cancel.
    model->bert->embeddings->word_embeddings->weight[5].add_(at::arange(16).to(at::kFloat));
  }
  const at::Tensor after = model->forward(input).logits;
  // Token 5 is not in the input, so only the decoder's row 5 can move the logits.
  EXPECT_GT((after.select(-1, 5) - before.select(-1, 5)).abs().max().item<float>(), 1e-3);
  EXPECT_TRUE(at::allclose(after.select(-1, 6), before.select(-1, 6)));
}

TEST(BertModelTest, PredictionMaskGivesTheFullLogitsRowsAndTheSameLoss) {
  const ModelInput full_input = PaddedBatch();
  const at::Tensor labels =
      at::full(full_input.input_ids.sizes(), kIgnoreIndex, at::kLong).index_put_(
          {at::tensor(std::vector<int64_t>{0, 1, 1}), at::tensor(std::vector<int64_t>{1, 0, 3})},
          at::tensor(std::vector<int64_t>{7, 9, 11}));
  ModelInput masked_input = full_input;
  masked_input.prediction_mask = labels.ne(kIgnoreIndex);
  for (const char* architecture : {"BertForPreTraining", "BertForMaskedLM"}) {
    torch::manual_seed(3);
    auto model = CreateModel(SmallConfig(), architecture);
    ASSERT_TRUE(model.ok());
    (*model)->eval();
    const ModelOutput full = (*model)->forward(full_input);
    const ModelOutput rows = (*model)->forward(masked_input);
    const at::Tensor& full_logits = full.logits.defined() ? full.logits : full.prediction_logits;
    const at::Tensor& row_logits = rows.logits.defined() ? rows.logits : rows.prediction_logits;
    ASSERT_EQ(row_logits.sizes(), (std::vector<int64_t>{3, 50})) << architecture;
    EXPECT_TRUE(at::allclose(row_logits[0], full_logits[0][1], 1e-5, 1e-6)) << architecture;
    EXPECT_TRUE(at::allclose(row_logits[2], full_logits[1][3], 1e-5, 1e-6)) << architecture;
    EXPECT_NEAR(MaskedLMLoss(row_logits, labels).item<double>(),
                MaskedLMLoss(full_logits, labels).item<double>(), 1e-5);
  }
  // DistilBERT's head takes the same mask.
  torch::manual_seed(3);
  auto distil = CreateModel(SmallConfig("distilbert"), "DistilBertForMaskedLM");
  ASSERT_TRUE(distil.ok());
  (*distil)->eval();
  ModelInput distil_full = full_input;
  distil_full.token_type_ids = at::Tensor();
  ModelInput distil_masked = distil_full;
  distil_masked.prediction_mask = masked_input.prediction_mask;
  const at::Tensor all = (*distil)->forward(distil_full).logits;
  const at::Tensor some = (*distil)->forward(distil_masked).logits;
  ASSERT_EQ(some.size(0), 3);
  EXPECT_TRUE(at::allclose(some[1], all[1][0], 1e-5, 1e-6));
  // A mask of the wrong shape is a clear error.
  masked_input.prediction_mask = at::ones({1, 1}, at::kBool);
  auto model = CreateModel(SmallConfig(), "BertForMaskedLM");
  ASSERT_TRUE(model.ok());
  EXPECT_THROW((*model)->forward(masked_input), c10::Error);
}

TEST(BertModelTest, InputErrorsAreClearNotCrashes) {
  auto model = CreateModel(SmallConfig(), "BertModel");
  ASSERT_TRUE(model.ok());
  ModelInput input;
  input.input_ids = at::tensor({3, 70}, at::kLong).view({1, 2});
  try {
    (*model)->forward(input);
    FAIL() << "expected an error";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what_without_backtrace()).find("vocab_size=50"), std::string::npos);
  }
  input.input_ids = at::zeros({1, 21}, at::kLong);
  EXPECT_THROW((*model)->forward(input), c10::Error);  // Longer than 20 positions.
}

TEST(BertModelTest, CreateModelRejectsMismatchedArchitecture) {
  auto model = CreateModel(SmallConfig("bert"), "DistilBertForQuestionAnswering");
  ASSERT_FALSE(model.ok());
  EXPECT_NE(model.status().message().find("DistilBertForQuestionAnswering"), std::string::npos);
}

TEST(BertModelTest, CloneCopiesWeightsIndependently) {
  torch::manual_seed(3);
  auto model = CreateModel(SmallConfig(), "BertForSequenceClassification");
  ASSERT_TRUE(model.ok());
  auto copy = CloneModel(**model);
  ASSERT_TRUE(copy.ok());
  (*model)->eval();
  (*copy)->eval();
  const ModelInput input = PaddedBatch();
  EXPECT_TRUE(at::equal((*model)->forward(input).logits, (*copy)->forward(input).logits));
  {
    torch::NoGradGuard no_grad;
    (*copy)->named_parameters()["classifier.bias"].add_(1.0);
  }
  EXPECT_FALSE(at::equal((*model)->forward(input).logits, (*copy)->forward(input).logits));
}

TEST(BertModelTest, InitialisationFollowsHuggingFace) {
  torch::manual_seed(4);
  BertConfig config = SmallConfig();
  config.vocab_size = 2000;
  BertForQuestionAnswering model(config);
  const at::Tensor words = model->bert->embeddings->word_embeddings->weight;
  EXPECT_NEAR(words.std().item<double>(), 0.02, 0.002);
  EXPECT_EQ(words[config.pad_token_id].abs().sum().item<float>(), 0.0f);
  EXPECT_TRUE(at::equal(model->bert->embeddings->LayerNorm->weight, at::ones({16})));
  EXPECT_EQ(model->named_parameters()["qa_outputs.bias"].abs().sum().item<float>(), 0.0f);
}

TEST(LossesTest, RegressionWhenOneLabelAndIgnoreIndexForMlm) {
  BertConfig config = SmallConfig();
  config.num_labels = 1;
  const at::Tensor logits = at::tensor({1.0f, 3.0f}).view({2, 1});
  const at::Tensor labels = at::tensor({0.0f, 1.0f});
  EXPECT_FLOAT_EQ(SequenceClassificationLoss(logits, labels, config).item<float>(), 2.5f);

  const at::Tensor mlm_logits = at::zeros({1, 3, 4});
  const at::Tensor mlm_labels = at::tensor(std::vector<int64_t>{kIgnoreIndex, 2, kIgnoreIndex}).view({1, 3});
  EXPECT_NEAR(MaskedLMLoss(mlm_logits, mlm_labels).item<float>(), std::log(4.0), 1e-6);
}

TEST(LossesTest, QuestionAnsweringIgnoresPositionsOutsideTheWindow) {
  const at::Tensor start = at::zeros({2, 4});
  const at::Tensor end = at::zeros({2, 4});
  // The second example's answer lies beyond the 4 tokens: clamped to 4 and ignored.
  const at::Tensor loss = QuestionAnsweringLoss(start, end, at::tensor({1, 9}, at::kLong),
                                                at::tensor({2, 9}, at::kLong));
  EXPECT_NEAR(loss.item<float>(), std::log(4.0), 1e-6);
}

}  // namespace
}  // namespace models
