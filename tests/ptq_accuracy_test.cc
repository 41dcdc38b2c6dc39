// Issue 5's acceptance check for post-training static quantization: a small BERT
// sentence classifier, fine-tuned with the built-in Trainer until it is well above chance
// on its dev set, loses at most 1 point of dev accuracy when every Linear is calibrated,
// frozen and converted to INT8 (oneDNN).
//
// The task: generated sentences of three topics. Each sentence carries two words of its
// topic's pool and one distractor word from another topic, among shared filler words, and
// two words belong to two topics' pools, so a single word never decides the label.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/nn/modules/linear.h>
#include <torch/utils.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "compressor/quantization/convert.h"
#include "compressor/quantization/qat.h"
#include "absl/status/statusor.h"
#include "compressor/train/trainer.h"
#include "layers/linear.h"
#include "models/auto_model.h"
#include "models/losses.h"

namespace {

using compressor::TensorMap;

constexpr int64_t kMaxLength = 16;  // [CLS] + up to 15 words, padded.
constexpr int64_t kBatchSize = 16;

const std::vector<std::vector<std::string>>& TopicPools() {
  // "game" and "chip" are in two pools each.
  static const auto* pools = new std::vector<std::vector<std::string>>{
      {"goal", "team", "coach", "league", "score", "game", "court", "match", "player", "season"},
      {"bread", "soup", "chef", "sauce", "oven", "recipe", "chip", "plate", "dinner", "spice"},
      {"code", "laptop", "network", "software", "game", "chip", "server", "cloud", "robot",
       "data"}};
  return *pools;
}

const std::vector<std::string>& Fillers() {
  static const auto* fillers = new std::vector<std::string>{
      "the", "a", "was", "very", "today", "we", "saw", "new", "big", "old", "it",
      "and", "then", "they", "really", "some", "our", "this", "here", "with"};
  return *fillers;
}

struct Example {
  std::vector<std::string> words;
  int64_t label = 0;
};

std::vector<Example> MakeSentences(int64_t count, uint32_t seed) {
  std::mt19937 rng(seed);
  const auto& pools = TopicPools();
  const auto& fillers = Fillers();
  auto pick = [&rng](const std::vector<std::string>& from) {
    return from[std::uniform_int_distribution<size_t>(0, from.size() - 1)(rng)];
  };
  std::vector<Example> examples;
  for (int64_t i = 0; i < count; ++i) {
    Example example;
    example.label = static_cast<int64_t>(i % pools.size());
    const int64_t other =
        (example.label + 1 + std::uniform_int_distribution<int64_t>(0, 1)(rng)) % 3;
    example.words = {pick(pools[example.label]), pick(pools[example.label]),
                     pick(pools[other])};
    const int64_t fill = std::uniform_int_distribution<int64_t>(3, 10)(rng);
    for (int64_t f = 0; f < fill; ++f) example.words.push_back(pick(fillers));
    std::shuffle(example.words.begin(), example.words.end(), rng);
    examples.push_back(example);
  }
  std::shuffle(examples.begin(), examples.end(), rng);
  return examples;
}

// Word-level vocabulary: [PAD] 0, [CLS] 1, then every word of the pools and fillers.
std::map<std::string, int64_t> Vocabulary() {
  std::map<std::string, int64_t> vocab;
  int64_t next = 2;
  auto add = [&](const std::string& word) {
    if (vocab.emplace(word, next).second) ++next;
  };
  for (const auto& pool : TopicPools()) {
    for (const auto& word : pool) add(word);
  }
  for (const auto& word : Fillers()) add(word);
  return vocab;
}

std::vector<TensorMap> Batch(const std::vector<Example>& examples,
                             const std::map<std::string, int64_t>& vocab, int64_t batch_size) {
  std::vector<TensorMap> batches;
  for (size_t start = 0; start < examples.size(); start += batch_size) {
    const int64_t n = std::min<int64_t>(batch_size, examples.size() - start);
    at::Tensor ids = at::zeros({n, kMaxLength}, at::kLong);
    at::Tensor mask = at::zeros({n, kMaxLength}, at::kLong);
    at::Tensor labels = at::zeros({n}, at::kLong);
    for (int64_t b = 0; b < n; ++b) {
      const Example& example = examples[start + b];
      ids[b][0] = 1;
      mask[b][0] = 1;
      for (size_t w = 0; w < example.words.size(); ++w) {
        ids[b][w + 1] = vocab.at(example.words[w]);
        mask[b][w + 1] = 1;
      }
      labels[b] = example.label;
    }
    batches.push_back({{"input_ids", ids}, {"attention_mask", mask}, {"labels", labels}});
  }
  return batches;
}

class FixedBatches : public compressor::BatchSource {
 public:
  explicit FixedBatches(std::vector<TensorMap> batches) : batches_(std::move(batches)) {}
  void Restart(uint64_t) override { next_ = 0; }
  absl::StatusOr<bool> Next(TensorMap* batch) override {
    if (next_ >= batches_.size()) return false;
    *batch = batches_[next_++];
    return true;
  }
  std::optional<int64_t> num_batches() const override {
    return static_cast<int64_t>(batches_.size());
  }

 private:
  std::vector<TensorMap> batches_;
  size_t next_ = 0;
};

models::BertConfig SmallConfig(int64_t vocab_size) {
  models::BertConfig config;
  config.vocab_size = vocab_size;
  config.hidden_size = 64;
  config.num_hidden_layers = 2;
  config.num_attention_heads = 4;
  config.intermediate_size = 128;
  config.max_position_embeddings = 32;
  config.num_labels = 3;
  config.hidden_dropout_prob = 0.0;
  config.attention_probs_dropout_prob = 0.0;
  return config;
}

TensorMap Forward(torch::nn::Module& module, const TensorMap& batch) {
  auto& model = dynamic_cast<models::PreTrainedModel&>(module);
  models::ModelInput input;
  input.input_ids = batch.at("input_ids");
  input.attention_mask = batch.at("attention_mask");
  return {{"logits", model.forward(input).logits}};
}

double Accuracy(torch::nn::Module& model, const std::vector<TensorMap>& batches) {
  torch::NoGradGuard no_grad;
  model.eval();
  int64_t correct = 0;
  int64_t total = 0;
  for (const TensorMap& batch : batches) {
    const at::Tensor predicted = Forward(model, batch).at("logits").argmax(-1);
    correct += predicted.eq(batch.at("labels")).sum().item<int64_t>();
    total += batch.at("labels").numel();
  }
  return static_cast<double>(correct) / static_cast<double>(total);
}

TEST(PtqAccuracyTest, StaticInt8LosesAtMostOnePointOfDevAccuracy) {
  const auto started = std::chrono::steady_clock::now();
  torch::manual_seed(0);
  const auto vocab = Vocabulary();
  const models::BertConfig config = SmallConfig(static_cast<int64_t>(vocab.size()) + 2);
  const std::vector<TensorMap> train = Batch(MakeSentences(960, 1), vocab, kBatchSize);
  const std::vector<TensorMap> dev = Batch(MakeSentences(201, 2), vocab, 67);
  auto created = models::CreateModel(config, "BertForSequenceClassification");
  ASSERT_TRUE(created.ok()) << created.status();
  std::shared_ptr<models::PreTrainedModel> model = *created;

  const double untrained = Accuracy(*model, dev);
  compressor::TaskFunctions task;
  task.forward = Forward;
  task.loss = [&config](const TensorMap& out, const TensorMap& batch) {
    return models::SequenceClassificationLoss(out.at("logits"), batch.at("labels"), config);
  };
  FixedBatches data(train);
  compressor::TrainerConfig trainer_config;
  trainer_config.learning_rate = 1e-3;
  trainer_config.num_train_epochs = 8;
  trainer_config.weight_decay = 0.01;
  trainer_config.warmup_ratio = 0.1;
  trainer_config.seed = 3;
  trainer_config.progress = false;
  trainer_config.stage = "fine-tune";
  compressor::Trainer trainer(trainer_config, task, &data);
  auto trained = trainer.Train(model, nullptr);
  ASSERT_TRUE(trained.ok()) << trained.status();
  const double fp32 = Accuracy(*model, dev);
  std::printf("dev accuracy: untrained %.4f, fp32 %.4f (final train loss %.4f, %lld steps)\n",
              untrained, fp32, trained->final_loss, static_cast<long long>(trained->steps));
  ASSERT_GE(fp32, 0.85);  // Chance is 1/3: the classifier has learned the task.

  int64_t linears = 0;
  for (const auto& item : model->named_modules("", false)) {
    if (item.value()->as<layers::Linear>()) ++linears;
  }
  EXPECT_EQ(linears, 2 * 6 + 2);  // Per layer q, k, v, attention out, intermediate, output;
                                  // pooler and classifier.

  // Static PTQ: min/max calibration on 8 training batches, then freeze and convert.
  compressor::QuantizationConfig ptq;
  ptq.approach = "post_training_static_quant";
  ptq.activation_observer = "minmax";
  ptq.outputs_not_requantized.push_back("classifier$");  // The task head's logits stay fp32.
  auto swapped = compressor::PrepareModel(*model, ptq);
  ASSERT_TRUE(swapped.ok()) << swapped.status();
  ASSERT_EQ(static_cast<int64_t>(swapped->size()), linears);
  for (const auto& [name, module] : compressor::QuantizedModules(*model)) {
    module->set_calibrating(true);
  }
  {
    torch::NoGradGuard no_grad;
    model->eval();
    for (size_t b = 0; b < 8; ++b) Forward(*model, train[b]);
  }
  for (const auto& [name, module] : compressor::QuantizedModules(*model)) module->Freeze();
  auto converted = compressor::ConvertToInt8(*model);
  ASSERT_TRUE(converted.ok()) << converted.status();
  EXPECT_EQ(static_cast<int64_t>(converted->size()), linears);
  EXPECT_EQ(static_cast<int64_t>(compressor::Int8Modules(*model).size()), linears);
  EXPECT_TRUE(compressor::QuantizedModules(*model).empty());
  for (const auto& item : model->named_modules("", false)) {
    EXPECT_FALSE(item.value()->as<layers::Linear>()) << item.key() << " is still fp32";
  }

  const double int8 = Accuracy(*model, dev);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::printf("dev accuracy: fp32 %.4f, int8 %.4f (%lld Linears converted, %s), %.1f s\n", fp32,
              int8, static_cast<long long>(converted->size()),
              compressor::Int8Modules(*model).front().second->impl_info().c_str(), seconds);
  EXPECT_GE(int8, fp32 - 0.01);
}

}  // namespace
