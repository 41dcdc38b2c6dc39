#include "recipes/tasks/model_io.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/nn/modules/linear.h>

#include <string>

#include "models/auto_model.h"
#include "models/test_config.h"
#include "recipes/tasks/test_util.h"

namespace recipes {
namespace {

compressor::TensorMap PairBatch() {
  // Two rows: [CLS] a [SEP] b b [SEP] and a shorter padded one.
  return {{"input_ids",
           at::tensor({2, 10, 3, 11, 12, 3, 2, 13, 3, 14, 3, 0}, at::kLong).reshape({2, 6})},
          {"token_type_ids",
           at::tensor({0, 0, 0, 1, 1, 1, 0, 0, 0, 1, 1, 0}, at::kLong).reshape({2, 6})},
          {"attention_mask",
           at::tensor({1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0}, at::kLong).reshape({2, 6})},
          {"start_positions", at::tensor({3, 3}, at::kLong)}};
}

std::string ThrownMessage(torch::nn::Module& model, const compressor::TensorMap& batch) {
  try {
    ForwardBertClass(model, batch);
  } catch (const c10::Error& error) {
    return error.what_without_backtrace();
  }
  return "(nothing thrown)";
}

TEST(ModelIoTest, NonBertModuleIsACleanTorchError) {
  torch::nn::Linear linear(4, 2);
  const std::string message = ThrownMessage(*linear, PairBatch());
  EXPECT_NE(message.find("ForwardBertClass: the model (torch::nn::LinearImpl) is not a "
                         "models::PreTrainedModel"),
            std::string::npos)
      << message;
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;

  try {
    ForwardBertClass(*linear, PairBatch());
    FAIL() << "no error";
  } catch (const c10::Error& error) {
    const absl::Status status = StatusFromTorchError(error, "teacher forward");
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(status.message().find("teacher forward: ForwardBertClass: the model"), 0u)
        << status.message();
    EXPECT_EQ(status.message().find('\n'), std::string::npos);
  }
}

TEST(ModelIoTest, MissingInputIdsNamesTheBatchKeys) {
  at::manual_seed(0);
  auto model = models::CreateModel(models::TinyTestConfig(16), "BertForQuestionAnswering");
  ASSERT_TRUE(model.ok()) << model.status();
  compressor::TensorMap batch = PairBatch();
  batch.erase("input_ids");
  EXPECT_EQ(ThrownMessage(**model, batch),
            "ForwardBertClass: the batch has no 'input_ids' (keys: attention_mask, "
            "start_positions, token_type_ids)");
}

TEST(ModelIoTest, PassesTypeIdsAndMaskAndReturnsNamedOutputs) {
  at::manual_seed(0);
  auto model = models::CreateModel(models::TinyTestConfig(16), "BertForQuestionAnswering");
  ASSERT_TRUE(model.ok()) << model.status();
  (*model)->eval();
  const compressor::TensorMap batch = PairBatch();
  const compressor::TensorMap outputs = ForwardBertClass(**model, batch);
  ASSERT_EQ(outputs.count("start_logits"), 1u);
  ASSERT_EQ(outputs.count("end_logits"), 1u);
  ASSERT_EQ(outputs.count("last_hidden_state"), 1u);
  EXPECT_EQ(outputs.at("start_logits").sizes(), (std::vector<int64_t>{2, 6}));

  models::ModelInput input;
  input.input_ids = batch.at("input_ids");
  input.token_type_ids = batch.at("token_type_ids");
  input.attention_mask = batch.at("attention_mask");
  const models::ModelOutput direct = (*model)->forward(input);
  EXPECT_TRUE(at::equal(outputs.at("start_logits"), direct.start_logits));
  EXPECT_TRUE(at::equal(outputs.at("end_logits"), direct.end_logits));

  // Each optional input changes the result, so both were passed through.
  compressor::TensorMap no_types = batch;
  no_types.erase("token_type_ids");
  EXPECT_FALSE(
      at::allclose(ForwardBertClass(**model, no_types).at("start_logits"), direct.start_logits));
  compressor::TensorMap no_mask = batch;
  no_mask.erase("attention_mask");
  EXPECT_FALSE(at::allclose(ForwardBertClass(**model, no_mask).at("start_logits")[1],
                            direct.start_logits[1]));
}

TEST(ModelIoTest, DistilBertIgnoresTokenTypeIds) {
  models::BertConfig config = models::TinyTestConfig(16);
  config.model_type = "distilbert";
  config.type_vocab_size = 0;
  at::manual_seed(0);
  auto model = models::CreateModel(config, "DistilBertForQuestionAnswering");
  ASSERT_TRUE(model.ok()) << model.status();
  (*model)->eval();
  const compressor::TensorMap batch = PairBatch();  // Has non-zero token types.
  compressor::TensorMap outputs;
  ASSERT_NO_THROW(outputs = ForwardBertClass(**model, batch));
  compressor::TensorMap no_types = batch;
  no_types.erase("token_type_ids");
  EXPECT_TRUE(at::equal(outputs.at("start_logits"),
                        ForwardBertClass(**model, no_types).at("start_logits")));
}

TEST(ModelIoTest, ScopedEvalModeRestoresTrainingAndGradients) {
  torch::nn::Linear linear(2, 2);
  linear->train();
  {
    ScopedEvalMode guard(*linear);
    EXPECT_FALSE(linear->is_training());
    EXPECT_FALSE(linear(at::ones({1, 2})).requires_grad());
  }
  EXPECT_TRUE(linear->is_training());
  EXPECT_TRUE(linear(at::ones({1, 2})).requires_grad());
  linear->eval();
  { ScopedEvalMode guard(*linear); }
  EXPECT_FALSE(linear->is_training());
}

}  // namespace
}  // namespace recipes
