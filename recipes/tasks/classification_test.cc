#include "recipes/tasks/classification.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "datasets/classification_metrics.h"
#include "models/auto_model.h"
#include "models/test_config.h"
#include "recipes/tasks/test_util.h"

namespace recipes {
namespace {

// Copies of files in datasets/glue/testdata (that package does not export them): the
// official GLUE layouts of SST-2 and MRPC, and local JSONL files.
constexpr char kSst2Train[] =
    "sentence\tlabel\n"
    "hide new secretions from the parental units \t0\n"
    "the greatest musicians \t1\n"
    "contains no wit , only labored gags \t0\n";
constexpr char kMrpcDev[] =
    "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n"
    "1\t1355540\t1355592\the said the foodservice pie business\tthe foodservice pie business\n"
    "0\t2029631\t2029565\tmagnarelli said racicot hated\this wife said he was\n";
constexpr char kRegressionJsonl[] =
    "{\"text\": \"a b\", \"text_pair\": \"c d\", \"label\": 0.25}\n"
    "{\"text\": \"e f\", \"text_pair\": \"g h\", \"label\": \"3.5\"}\n";
constexpr char kUnlabeledJsonl[] =
    "{\"text\": \"first one\", \"text_pair\": null}\n"
    "{\"text\": \"second one\"}\n";

// Every text and text_pair of `path`, loaded as a local file or a GLUE file.
std::vector<std::string> Texts(const std::string& path, const std::string& task) {
  auto data =
      task.empty() ? datasets::LoadTextClassificationFile(path) : datasets::LoadGlueTsv(task, path);
  EXPECT_TRUE(data.ok()) << data.status();
  std::vector<std::string> texts;
  for (const auto& example : data->examples) {
    texts.push_back(example.text);
    if (example.text_pair) texts.push_back(*example.text_pair);
  }
  return texts;
}

// 12 sentence pairs whose label (3 classes) is decided by the adjective.
std::string ThreeLabelTsv() {
  std::string tsv = "text\ttext_pair\tlabel\n";
  const std::vector<std::string> subjects = {"the film", "this book", "a song", "that show"};
  const std::vector<std::pair<std::string, std::string>> adjectives = {
      {"great", "positive"}, {"awful", "negative"}, {"okay", "neutral"}};
  int row = 0;
  for (const std::string& subject : subjects) {
    for (const auto& [adjective, label] : adjectives) {
      tsv += subject + " was " + adjective + "\tsaid " +
             (row++ % 2 == 0 ? "my friend" : "the critic") + "\t" + label + "\n";
    }
  }
  return tsv;
}

std::shared_ptr<models::PreTrainedModel> Classifier(int64_t vocab_size, int64_t num_labels) {
  models::BertConfig config = models::TinyTestConfig(vocab_size);
  config.num_labels = num_labels;
  at::manual_seed(0);
  auto model = models::CreateModel(config, "BertForSequenceClassification");
  EXPECT_TRUE(model.ok()) << model.status();
  return *model;
}

compressor::TrainResult Train(std::shared_ptr<models::PreTrainedModel> model,
                              const compressor::TaskFunctions& task,
                              std::shared_ptr<const ClassificationSplit> train, int64_t steps) {
  datasets::DataLoaderOptions options;
  options.batch_size = 4;
  options.shuffle = true;
  auto batches = ClassificationTrainBatches(train, options);
  EXPECT_TRUE(batches.ok()) << batches.status();
  compressor::TrainerConfig config;
  config.learning_rate = 3e-3;
  config.lr_scheduler_type = "constant";
  config.max_steps = steps;
  config.num_train_epochs = 1000;
  config.eval_steps = steps;
  config.progress = false;
  config.stage = "classification_test";
  compressor::Trainer trainer(config, task, batches->get());
  auto result = trainer.Train(model, nullptr);
  EXPECT_TRUE(result.ok()) << result.status();
  return result.ok() ? *result : compressor::TrainResult();
}

std::set<std::string> Keys(const std::map<std::string, double>& metrics) {
  std::set<std::string> keys;
  for (const auto& [key, value] : metrics) keys.insert(key);
  return keys;
}

TEST(ClassificationTest, GlueSst2TrainFileIsMemorised) {
  const std::string path = testing::WriteTempFile("sst2_train.tsv", kSst2Train);
  auto tokenizer = testing::TokenizerForTexts(Texts(path, "sst-2"));
  ClassificationDataConfig data_config;
  data_config.task_name = "sst-2";
  auto train = LoadClassificationSplit(path, tokenizer.get(), data_config);
  ASSERT_TRUE(train.ok()) << train.status();
  ASSERT_EQ((*train)->dataset->size(), 3u);
  auto model = Classifier(tokenizer->vocab_size(), 2);
  ASSERT_TRUE(CheckLabelsMatchModel(**train, model->config()).ok());

  // Untrained: the reported accuracy is the share of argmax predictions equal to the labels.
  auto untrained = EvaluateClassification(*model, **train, {});
  ASSERT_TRUE(untrained.ok()) << untrained.status();
  ASSERT_EQ(untrained->predictions.size(), 3u);
  const std::vector<int64_t> labels = {0, 1, 0};
  int correct = 0;
  for (size_t i = 0; i < labels.size(); ++i) correct += untrained->predictions[i] == labels[i];
  EXPECT_DOUBLE_EQ(untrained->metrics.at("accuracy"), correct / 3.0);

  auto task = ClassificationTask(model->config(), *train, {});
  ASSERT_TRUE(task.ok()) << task.status();
  const compressor::TrainResult result = Train(model, *task, *train, 40);
  EXPECT_EQ(Keys(result.final_metrics), (std::set<std::string>{"accuracy"}));
  EXPECT_EQ(result.final_metrics.at("accuracy"), 1.0);
}

TEST(ClassificationTest, LocalThreeLabelFileIsMemorised) {
  const std::string tsv = ThreeLabelTsv();
  const std::string path = testing::WriteTempFile("three_labels.tsv", tsv);
  auto tokenizer = testing::TokenizerForTexts(Texts(path, ""));
  auto train = LoadClassificationSplit(path, tokenizer.get(), {});
  ASSERT_TRUE(train.ok()) << train.status();
  EXPECT_EQ((*train)->data().label_list,
            (std::vector<std::string>{"negative", "neutral", "positive"}));

  // The batches the trainer sees: pair inputs with token types, one int label per row.
  datasets::DataLoaderOptions options;
  options.batch_size = 12;
  auto batches = ClassificationTrainBatches(*train, options);
  ASSERT_TRUE(batches.ok()) << batches.status();
  compressor::TensorMap batch;
  (*batches)->Restart(0);
  ASSERT_TRUE(*(*batches)->Next(&batch));
  EXPECT_EQ(batch.at("labels").sizes(), (std::vector<int64_t>{12}));
  EXPECT_EQ(batch.at("labels").scalar_type(), at::kLong);
  EXPECT_EQ(batch.at("input_ids").sizes(), batch.at("token_type_ids").sizes());
  EXPECT_GT(batch.at("token_type_ids").sum().item<int64_t>(), 0);

  auto model = Classifier(tokenizer->vocab_size(), 3);
  auto untrained = EvaluateClassification(*model, **train, {});
  ASSERT_TRUE(untrained.ok()) << untrained.status();
  EXPECT_LT(untrained->metrics.at("accuracy"), 1.0);

  auto task = ClassificationTask(model->config(), *train, {});
  ASSERT_TRUE(task.ok()) << task.status();
  const compressor::TrainResult result = Train(model, *task, *train, 60);
  EXPECT_EQ(Keys(result.final_metrics), (std::set<std::string>{"accuracy"}));
  EXPECT_EQ(result.final_metrics.at("accuracy"), 1.0);
  EXPECT_TRUE(model->is_training());
}

TEST(ClassificationTest, MrpcReportsAccuracyAndF1) {
  const std::string path = testing::WriteTempFile("mrpc_dev.tsv", kMrpcDev);
  auto tokenizer = testing::TokenizerForTexts(Texts(path, "mrpc"));
  ClassificationDataConfig data_config;
  data_config.task_name = "mrpc";
  auto dev = LoadClassificationSplit(path, tokenizer.get(), data_config);
  ASSERT_TRUE(dev.ok()) << dev.status();
  auto model = Classifier(tokenizer->vocab_size(), 2);
  ClassificationConfig config;
  config.eval_batch_size = 1;
  auto evaluation = EvaluateClassification(*model, **dev, config);
  ASSERT_TRUE(evaluation.ok()) << evaluation.status();
  EXPECT_EQ(Keys(evaluation->metrics), (std::set<std::string>{"accuracy", "acc_and_f1", "f1"}));
  auto expected = datasets::AccuracyAndF1(evaluation->predictions, {1, 0});
  ASSERT_TRUE(expected.ok());
  EXPECT_EQ(evaluation->metrics.at("accuracy"), expected->at("acc"));
  EXPECT_EQ(evaluation->metrics.at("f1"), expected->at("f1"));
  EXPECT_EQ(evaluation->metrics.at("acc_and_f1"), expected->at("acc_and_f1"));

  // Per row: correct 0/1 (mean = accuracy) and the labels, from the same evaluation.
  auto scored = ClassificationScoredEvaluate(*dev, config)(*model);
  ASSERT_TRUE(scored.ok()) << scored.status();
  EXPECT_EQ(scored->metrics, evaluation->metrics);
  EXPECT_EQ(scored->examples.ids, (std::vector<std::string>{"0", "1"}));
  EXPECT_EQ(scored->examples.labels, (std::vector<int64_t>{1, 0}));
  const std::vector<double>& correct = scored->examples.scores.at("accuracy");
  ASSERT_EQ(correct.size(), 2u);
  EXPECT_EQ(correct[0], evaluation->predictions[0] == 1 ? 1.0 : 0.0);
  EXPECT_DOUBLE_EQ((correct[0] + correct[1]) / 2, evaluation->metrics.at("accuracy"));
  auto parsed = ParseExampleScores(ExampleScoresToJson(scored->examples), "scores");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->labels, scored->examples.labels);
  EXPECT_FALSE(ParseExampleScores(R"({"ids": ["a"], "scores": {"f1": [1, 2]}})", "x.json").ok());
}

TEST(ClassificationTest, RegressionReportsCorrelationsAndMse) {
  const std::string path = testing::WriteTempFile("regression.jsonl", kRegressionJsonl);
  auto tokenizer = testing::TokenizerForTexts(Texts(path, ""));
  ClassificationDataConfig data_config;
  data_config.file_options.is_regression = true;
  auto dev = LoadClassificationSplit(path, tokenizer.get(), data_config);
  ASSERT_TRUE(dev.ok()) << dev.status();
  auto model = Classifier(tokenizer->vocab_size(), 1);
  auto task = ClassificationTask(model->config(), *dev, {});
  ASSERT_TRUE(task.ok()) << task.status();
  auto metrics = task->evaluate(*model);
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_EQ(Keys(*metrics), (std::set<std::string>{"corr", "mse", "pearson", "spearmanr"}));
  auto evaluation = EvaluateClassification(*model, **dev, {});
  ASSERT_TRUE(evaluation.ok());
  ASSERT_EQ(evaluation->scores.size(), 2u);
  const double d0 = evaluation->scores[0] - 0.25, d1 = evaluation->scores[1] - 3.5;
  EXPECT_NEAR(metrics->at("mse"), (d0 * d0 + d1 * d1) / 2, 1e-9);
  EXPECT_TRUE(ClassificationExampleScores(*evaluation).empty());  // Not a mean over rows.

  // The loss is MSE on the single output.
  const at::Tensor logits = at::tensor({1.0f, 2.0f}).reshape({2, 1});
  const at::Tensor loss = task->loss({{"logits", logits}}, {{"labels", at::tensor({0.0f, 4.0f})}});
  EXPECT_FLOAT_EQ(loss.item<float>(), (1.0f + 4.0f) / 2);
}

TEST(ClassificationTest, MismatchedHeadsAndUnlabeledFilesAreErrors) {
  const std::string path = testing::WriteTempFile("three_labels_2.tsv", ThreeLabelTsv());
  auto tokenizer = testing::TokenizerForTexts(Texts(path, ""));
  auto split = LoadClassificationSplit(path, tokenizer.get(), {});
  ASSERT_TRUE(split.ok()) << split.status();
  models::BertConfig two_labels = models::TinyTestConfig(tokenizer->vocab_size());
  auto task = ClassificationTask(two_labels, *split, {});
  ASSERT_FALSE(task.ok());
  EXPECT_EQ(task.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(task.status().message(),
            path +
                ": the model's num_labels is 2 but the file has 3 labels (negative, neutral, "
                "positive)");
  models::BertConfig multi_label = two_labels;
  multi_label.num_labels = 3;
  multi_label.problem_type = "multi_label_classification";
  EXPECT_EQ(CheckLabelsMatchModel(**split, multi_label).message(),
            path +
                ": the model's problem_type is 'multi_label_classification' but the file is "
                "single_label_classification");

  const std::string unlabeled = testing::WriteTempFile("unlabeled.jsonl", kUnlabeledJsonl);
  auto test_split = LoadClassificationSplit(unlabeled, tokenizer.get(), {});
  ASSERT_TRUE(test_split.ok()) << test_split.status();
  auto batches = ClassificationTrainBatches(*test_split, {});
  ASSERT_FALSE(batches.ok());
  EXPECT_EQ(batches.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(batches.status().message(),
            unlabeled + ": the file has no label column; it cannot be trained or scored");

  auto missing = LoadClassificationSplit("no/such/file.tsv", tokenizer.get(), {});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("no/such/file.tsv"), std::string::npos);
}

}  // namespace
}  // namespace recipes
