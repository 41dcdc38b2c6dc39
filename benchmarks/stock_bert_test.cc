// The stock-LibTorch reference BERT is the same model as ours: one state_dict loads into
// both (every name and shape matches) and both compute the same QA logits.
#include "benchmarks/stock_bert.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "models/auto_model.h"
#include "models/test_config.h"

namespace benchmarks {
namespace {

TEST(StockBertTest, SameParametersAndOutputsAsOurModel) {
  torch::manual_seed(0);
  const models::BertConfig config = models::TinyTestConfig(/*vocab_size=*/100);
  auto ours = *models::CreateModel(config, "BertForQuestionAnswering");
  StockBertForQuestionAnswering stock(config);

  const auto our_params = ours->named_parameters();
  auto stock_params = stock->named_parameters();
  ASSERT_EQ(stock_params.size(), our_params.size());
  {
    torch::NoGradGuard no_grad;
    for (const auto& item : our_params) {
      at::Tensor* target = stock_params.find(item.key());
      ASSERT_NE(target, nullptr) << "the stock model has no parameter " << item.key();
      ASSERT_EQ(target->sizes(), item.value().sizes()) << item.key();
      target->copy_(item.value());
    }
  }
  ours->eval();
  stock->eval();
  const at::Tensor input_ids = at::randint(1, 100, {3, 17}, at::kLong);
  models::ModelInput input;
  input.input_ids = input_ids;
  const models::ModelOutput expected = ours->forward(input);
  const auto [start, end] = stock->forward(input_ids);
  EXPECT_LE((start - expected.start_logits).abs().max().item<float>(), 1e-5);
  EXPECT_LE((end - expected.end_logits).abs().max().item<float>(), 1e-5);
  // Not trivially equal: the logits vary across positions.
  EXPECT_GT(expected.start_logits.std().item<float>(), 1e-3);
}

}  // namespace
}  // namespace benchmarks
