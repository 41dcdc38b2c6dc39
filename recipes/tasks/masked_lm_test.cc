#include "recipes/tasks/masked_lm.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "models/auto_model.h"
#include "models/losses.h"
#include "recipes/tasks/model_io.h"
#include "models/test_config.h"
#include "recipes/tasks/test_util.h"

namespace recipes {
namespace {

// 8 documents of 6 sentences "<subject> <verb> <object> ." drawn by a fixed LCG, so the
// text is deterministic and learnable (each verb takes its own objects).
std::string Corpus() {
  const std::vector<std::string> subjects = {"the cat", "a dog", "my friend", "the old man",
                                             "her sister"};
  const std::vector<std::string> verbs = {"eats", "reads", "paints", "sells"};
  const std::vector<std::vector<std::string>> objects = {{"fish", "bread", "apples"},
                                                         {"books", "letters", "poems"},
                                                         {"walls", "boats", "pictures"},
                                                         {"cars", "houses", "shoes"}};
  uint64_t state = 7;
  auto next = [&state](uint64_t n) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (state >> 33) % n;
  };
  std::string text;
  for (int document = 0; document < 8; ++document) {
    for (int sentence = 0; sentence < 6; ++sentence) {
      const uint64_t verb = next(verbs.size());
      text += subjects[next(subjects.size())] + " " + verbs[verb] + " " +
              objects[verb][next(objects[verb].size())] + " .\n";
    }
    text += "\n";
  }
  return text;
}

struct Fixture {
  std::string path;
  std::unique_ptr<tokenizers::BertTokenizer> tokenizer;
};

Fixture MakeCorpus(const std::string& name) {
  const std::string text = Corpus();
  return {testing::WriteTempFile(name, text), testing::TokenizerForTexts({text})};
}

datasets::mlm::MlmStreamOptions StreamOptions(bool nsp) {
  datasets::mlm::MlmStreamOptions options;
  options.instances.max_seq_length = 24;
  options.instances.next_sentence_prediction = nsp;
  options.masking.max_predictions_per_seq = 4;
  options.seed = 3;
  return options;
}

std::set<std::string> Keys(const compressor::TensorMap& map) {
  std::set<std::string> keys;
  for (const auto& [key, value] : map) keys.insert(key);
  return keys;
}

std::set<std::string> Keys(const std::map<std::string, double>& map) {
  std::set<std::string> keys;
  for (const auto& [key, value] : map) keys.insert(key);
  return keys;
}

TEST(MaskedLmTest, BatchesHaveTheKeysAndShapesTheModelsExpect) {
  const Fixture corpus = MakeCorpus("shapes.txt");
  datasets::DataLoaderOptions loader;
  loader.batch_size = 4;
  auto batches =
      MaskedLmBatches({corpus.path}, corpus.tokenizer.get(), StreamOptions(true), loader);
  ASSERT_TRUE(batches.ok()) << batches.status();
  EXPECT_EQ((*batches)->num_batches(), std::nullopt);
  (*batches)->Restart(0);
  compressor::TensorMap batch;
  int64_t masked = 0, batches_read = 0;
  while (true) {
    auto has_batch = (*batches)->Next(&batch);
    ASSERT_TRUE(has_batch.ok()) << has_batch.status();
    if (!*has_batch) break;
    ++batches_read;
    ASSERT_EQ(Keys(batch), (std::set<std::string>{"attention_mask", "input_ids", "labels",
                                                  "next_sentence_label", "token_type_ids"}));
    const at::Tensor& ids = batch.at("input_ids");
    const at::Tensor& labels = batch.at("labels");
    ASSERT_EQ(ids.dim(), 2);
    EXPECT_LE(ids.size(1), 24);
    EXPECT_EQ(labels.sizes(), ids.sizes());
    EXPECT_EQ(batch.at("token_type_ids").sizes(), ids.sizes());
    EXPECT_EQ(batch.at("next_sentence_label").sizes(), (std::vector<int64_t>{ids.size(0)}));
    EXPECT_EQ(labels.scalar_type(), at::kLong);
    const at::Tensor padding = batch.at("attention_mask") == 0;
    EXPECT_TRUE(ids.masked_select(padding).eq(corpus.tokenizer->pad_id()).all().item<bool>());
    EXPECT_TRUE(labels.masked_select(padding).eq(models::kIgnoreIndex).all().item<bool>());
    const at::Tensor targets = labels.masked_select(labels != models::kIgnoreIndex);
    EXPECT_TRUE(targets.ge(5).all().item<bool>());  // Words, never the special ids 0..4.
    masked += targets.numel();
  }
  EXPECT_GT(batches_read, 2);
  EXPECT_GT(masked, batches_read * 4);

  // Without NSP: no sentence label, one segment.
  auto packed =
      MaskedLmBatches({corpus.path}, corpus.tokenizer.get(), StreamOptions(false), loader);
  ASSERT_TRUE(packed.ok()) << packed.status();
  (*packed)->Restart(0);
  ASSERT_TRUE(*(*packed)->Next(&batch));
  EXPECT_EQ(Keys(batch),
            (std::set<std::string>{"attention_mask", "input_ids", "labels", "token_type_ids"}));
  EXPECT_EQ(batch.at("token_type_ids").sum().item<int64_t>(), 0);
}

TEST(MaskedLmTest, PreTrainingLowersTheDevLoss) {
  const Fixture corpus = MakeCorpus("pretrain.txt");
  datasets::DataLoaderOptions loader;
  loader.batch_size = 8;
  auto dev = MaskedLmBatches({corpus.path}, corpus.tokenizer.get(), StreamOptions(true), loader);
  ASSERT_TRUE(dev.ok()) << dev.status();
  loader.shuffle = true;
  loader.shuffle_buffer_size = 64;
  auto train = MaskedLmBatches({corpus.path}, corpus.tokenizer.get(), StreamOptions(true), loader);
  ASSERT_TRUE(train.ok()) << train.status();

  at::manual_seed(0);
  auto model = models::CreateModel(models::TinyTestConfig(corpus.tokenizer->vocab_size()),
                                   "BertForPreTraining");
  ASSERT_TRUE(model.ok()) << model.status();
  compressor::TaskFunctions task = MaskedLmTask(*std::move(dev), {});
  auto before = task.evaluate(**model);
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_EQ(Keys(*before),
            (std::set<std::string>{"mlm_accuracy", "mlm_loss", "nsp_accuracy", "nsp_loss"}));
  // A fresh model is near uniform over the vocabulary.
  EXPECT_NEAR(before->at("mlm_loss"), std::log(double(corpus.tokenizer->vocab_size())), 0.5);

  compressor::TrainerConfig config;
  config.learning_rate = 3e-3;
  config.max_steps = 150;
  config.eval_steps = 150;
  config.progress = false;
  config.stage = "mlm_test";
  compressor::Trainer trainer(config, task, train->get());
  auto result = trainer.Train(*model, nullptr);
  ASSERT_TRUE(result.ok()) << result.status();
  const std::map<std::string, double>& after = result->final_metrics;
  std::printf("mlm_loss %.3f -> %.3f, mlm_accuracy %.3f -> %.3f\n", before->at("mlm_loss"),
              after.at("mlm_loss"), before->at("mlm_accuracy"), after.at("mlm_accuracy"));
  EXPECT_LT(after.at("mlm_loss"), 0.6 * before->at("mlm_loss"));
  EXPECT_GT(after.at("mlm_accuracy"), before->at("mlm_accuracy") + 0.2);

  // The same dev masks every time: evaluating twice gives the same numbers.
  auto again = task.evaluate(**model);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, after);
}

TEST(MaskedLmTest, LossAddsNspOnlyWhenTheHeadHasIt) {
  const Fixture corpus = MakeCorpus("loss.txt");
  datasets::DataLoaderOptions loader;
  loader.batch_size = 4;
  auto batches =
      MaskedLmBatches({corpus.path}, corpus.tokenizer.get(), StreamOptions(true), loader);
  ASSERT_TRUE(batches.ok()) << batches.status();
  (*batches)->Restart(0);
  compressor::TensorMap batch;
  ASSERT_TRUE(*(*batches)->Next(&batch));
  const models::BertConfig config = models::TinyTestConfig(corpus.tokenizer->vocab_size());

  at::manual_seed(0);
  auto pretraining = models::CreateModel(config, "BertForPreTraining");
  ASSERT_TRUE(pretraining.ok());
  const compressor::TensorMap both = ForwardBertClass(**pretraining, batch);
  const at::Tensor expected =
      models::MaskedLMLoss(both.at("prediction_logits"), batch.at("labels")) +
      models::NextSentenceLoss(both.at("seq_relationship_logits"), batch.at("next_sentence_label"));
  EXPECT_TRUE(at::allclose(MaskedLmLoss(both, batch), expected));

  at::manual_seed(0);
  auto masked_lm = models::CreateModel(config, "BertForMaskedLM");
  ASSERT_TRUE(masked_lm.ok());
  const compressor::TensorMap mlm_only = ForwardBertClass(**masked_lm, batch);
  EXPECT_TRUE(at::equal(MaskedLmLoss(mlm_only, batch),
                        models::MaskedLMLoss(mlm_only.at("logits"), batch.at("labels"))));
  auto metrics = EvaluateMaskedLm(**masked_lm, **batches, {});
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_EQ(Keys(*metrics), (std::set<std::string>{"mlm_accuracy", "mlm_loss"}));

  // A classification head is named as the wrong model.
  auto classifier = models::CreateModel(config, "BertForSequenceClassification");
  ASSERT_TRUE(classifier.ok());
  auto wrong = EvaluateMaskedLm(**classifier, **batches, {});
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.status().message().find("masked LM evaluation: masked LM: logits of shape"),
            std::string::npos)
      << wrong.status();
}

TEST(MaskedLmTest, AStreamErrorEndsTheEpochWithAnError) {
  const std::string path =
      testing::WriteTempFile("bad_utf8.txt", "the cat eats fish .\n\xff\xfe\n");
  auto tokenizer = testing::TokenizerForTexts({"the cat eats fish ."});
  datasets::mlm::MlmStreamOptions options = StreamOptions(false);
  options.reader.skip_invalid_utf8 = false;
  auto batches = MaskedLmBatches({path}, tokenizer.get(), options, {});
  ASSERT_TRUE(batches.ok()) << batches.status();
  (*batches)->Restart(0);
  compressor::TensorMap batch;
  absl::StatusOr<bool> has_batch;
  while ((has_batch = (*batches)->Next(&batch)).ok() && *has_batch) {
  }
  ASSERT_FALSE(has_batch.ok());
  EXPECT_NE(has_batch.status().message().find("epoch 0 ended early: "), std::string::npos)
      << has_batch.status();
  EXPECT_NE(has_batch.status().message().find(path), std::string::npos) << has_batch.status();
}

}  // namespace
}  // namespace recipes
