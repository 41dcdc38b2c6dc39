#include "recipes/tasks/question_answering.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "datasets/squad/squad_metrics.h"
#include "models/auto_model.h"
#include "models/test_config.h"
#include "recipes/tasks/test_util.h"

namespace recipes {
namespace {

constexpr char kFixture[] = "tests/fixtures/squad/v1_small.json";

datasets::SquadFeatureConfig SmallWindows(bool is_training) {
  datasets::SquadFeatureConfig config;
  config.max_seq_length = 24;  // Short enough that the longest context needs two windows.
  config.doc_stride = 6;
  config.max_query_length = 12;
  config.is_training = is_training;
  return config;
}

std::unique_ptr<tokenizers::BertTokenizer> FixtureTokenizer() {
  auto data = datasets::LoadSquadJson(kFixture);
  EXPECT_TRUE(data.ok()) << data.status();
  std::vector<std::string> texts;
  for (const datasets::SquadExample& example : data->examples) {
    texts.push_back(example.question);
    texts.push_back(example.context);
  }
  return testing::TokenizerForTexts(texts);
}

// The stdout of `bazel run //datasets:squad_evaluate -- data predictions`.
std::string RunSquadEvaluate(const std::string& data, const std::string& predictions) {
  const std::string command = "datasets/squad_evaluate " + data + " " + predictions;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return "(popen failed)";
  std::string output;
  char buffer[256];
  while (fgets(buffer, sizeof(buffer), pipe) != nullptr) output += buffer;
  EXPECT_EQ(pclose(pipe), 0) << command;
  return output;
}

TEST(QuestionAnsweringTest, TrainBatchesHoldTheAnswerSpans) {
  auto tokenizer = FixtureTokenizer();
  auto train = LoadSquadSplit(kFixture, *tokenizer, SmallWindows(/*is_training=*/true));
  ASSERT_TRUE(train.ok()) << train.status();
  EXPECT_EQ((*train)->stats.num_examples, 4);
  EXPECT_GT((*train)->stats.num_features, 4);  // Some context spans two windows.

  datasets::DataLoaderOptions options;
  options.batch_size = 64;
  auto batches = SquadTrainBatches(*train, options);
  ASSERT_TRUE(batches.ok()) << batches.status();
  EXPECT_EQ((*batches)->num_batches(), 1);
  (*batches)->Restart(0);
  compressor::TensorMap batch;
  ASSERT_TRUE(*(*batches)->Next(&batch));
  std::vector<std::string> keys;
  for (const auto& [key, tensor] : batch) keys.push_back(key);
  EXPECT_EQ(keys, (std::vector<std::string>{"attention_mask", "end_positions", "feature_index",
                                            "input_ids", "start_positions", "token_type_ids"}));
  const int64_t n = (*train)->stats.num_features;
  EXPECT_EQ(batch.at("input_ids").sizes(), (std::vector<int64_t>{n, 24}));
  EXPECT_EQ(batch.at("start_positions").sizes(), (std::vector<int64_t>{n}));

  // Every window that holds its question's first answer points at exactly its tokens.
  int64_t spans = 0;
  for (int64_t row = 0; row < n; ++row) {
    const int64_t start = batch.at("start_positions")[row].item<int64_t>();
    const int64_t end = batch.at("end_positions")[row].item<int64_t>();
    if (start == 0) continue;
    ++spans;
    const auto& feature = (*train)->features->at(batch.at("feature_index")[row].item<int64_t>());
    const datasets::SquadExample& example = (*train)->data.examples[feature.example_index];
    const at::Tensor ids = batch.at("input_ids")[row].slice(0, start, end + 1);
    EXPECT_EQ(tokenizer->Decode(std::vector<int64_t>(ids.data_ptr<int64_t>(),
                                                     ids.data_ptr<int64_t>() + ids.numel())),
              tokenizer->Decode(tokenizer->Encode(example.answers[0].text).ids))
        << example.id;
  }
  EXPECT_GE(spans, 4);
}

TEST(QuestionAnsweringTest, TrainerMemorisesTheFixtureAndScoresLikeTheOfficialScript) {
  auto tokenizer = FixtureTokenizer();
  auto train = LoadSquadSplit(kFixture, *tokenizer, SmallWindows(/*is_training=*/true));
  ASSERT_TRUE(train.ok()) << train.status();
  auto dev = LoadSquadSplit(kFixture, *tokenizer, SmallWindows(/*is_training=*/false));
  ASSERT_TRUE(dev.ok()) << dev.status();
  datasets::DataLoaderOptions loader_options;
  loader_options.batch_size = 16;
  auto batches = SquadTrainBatches(*train, loader_options);
  ASSERT_TRUE(batches.ok()) << batches.status();

  at::manual_seed(0);
  auto model = models::CreateModel(models::TinyTestConfig(tokenizer->vocab_size()),
                                   "BertForQuestionAnswering");
  ASSERT_TRUE(model.ok()) << model.status();
  QuestionAnsweringConfig qa_config;
  qa_config.eval_batch_size = 3;  // Batches that split the windows of one question.
  qa_config.output_dir = testing::TempPath("qa_eval");
  auto untrained = EvaluateQuestionAnswering(**model, **dev, qa_config);
  ASSERT_TRUE(untrained.ok()) << untrained.status();
  EXPECT_TRUE((*model)->is_training());  // Restored after evaluating.

  compressor::TrainerConfig trainer_config;
  trainer_config.learning_rate = 3e-3;
  trainer_config.lr_scheduler_type = "constant";
  trainer_config.max_steps = 200;
  trainer_config.num_train_epochs = 1000;
  trainer_config.eval_steps = 100;
  trainer_config.progress = false;
  trainer_config.stage = "qa_test";
  compressor::Trainer trainer(trainer_config, QuestionAnsweringTask(*dev, qa_config),
                              batches->get());
  auto result = trainer.Train(*model, nullptr);
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(result->steps, 200);
  const std::map<std::string, double>& metrics = result->final_metrics;
  ASSERT_EQ(metrics.size(), 2u);
  std::printf("untrained EM %.1f F1 %.1f -> trained EM %.1f F1 %.1f\n", untrained->metrics.exact,
              untrained->metrics.f1, metrics.at("exact_match"), metrics.at("f1"));
  EXPECT_GE(metrics.at("exact_match"), 50.0);
  EXPECT_LT(untrained->metrics.exact, metrics.at("exact_match"));
  EXPECT_LT(untrained->metrics.f1, metrics.at("f1"));

  // The trainer's last evaluation wrote predictions.json; scored independently (as
  // squad_evaluate loads the data: answer texts only) it gives the same numbers.
  datasets::SquadLoadOptions evaluator_options;
  evaluator_options.check_answer_spans = false;
  auto data = datasets::LoadSquadJson(kFixture, evaluator_options);
  ASSERT_TRUE(data.ok()) << data.status();
  const std::string predictions_path = qa_config.output_dir + "/predictions.json";
  auto predictions = datasets::LoadSquadPredictions(predictions_path);
  ASSERT_TRUE(predictions.ok()) << predictions.status();
  EXPECT_EQ(predictions->size(), 4u);
  auto official = datasets::EvaluateSquad(*data, *predictions);
  ASSERT_TRUE(official.ok()) << official.status();
  EXPECT_EQ(metrics.at("exact_match"), official->exact);
  EXPECT_EQ(metrics.at("f1"), official->f1);
  EXPECT_EQ(RunSquadEvaluate(kFixture, predictions_path), datasets::SquadMetricsToJson(*official));

  // Evaluating the final model directly reproduces the trainer's numbers and predictions.
  auto again = EvaluateQuestionAnswering(**model, **dev, qa_config);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(SquadMetricsToMap(again->metrics), metrics);
  EXPECT_EQ(datasets::PredictionTexts(again->predictions), *predictions);

  // The scored evaluate reports the same metrics, plus per-question EM/F1 whose means they are.
  auto scored = QuestionAnsweringScoredEvaluate(*dev, qa_config)(**model);
  ASSERT_TRUE(scored.ok()) << scored.status();
  EXPECT_EQ(scored->metrics, metrics);
  ASSERT_EQ(scored->examples.ids.size(), 4u);
  EXPECT_EQ(scored->examples.ids[0], (*dev)->data.examples[0].id);
  for (const char* key : {"exact_match", "f1"}) {
    const std::vector<double>& values = scored->examples.scores.at(key);
    ASSERT_EQ(values.size(), 4u) << key;
    double sum = 0;
    for (double value : values) sum += value;
    EXPECT_DOUBLE_EQ(sum / 4, metrics.at(key)) << key;
  }
  auto parsed = ParseExampleScores(ExampleScoresToJson(scored->examples), "scores");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->ids, scored->examples.ids);
  EXPECT_EQ(parsed->scores, scored->examples.scores);
  EXPECT_EQ(parsed->task, "question_answering");
}

TEST(QuestionAnsweringTest, ErrorsNameTheFile) {
  auto tokenizer = FixtureTokenizer();
  const std::string bad = "tests/fixtures/squad/answer_mismatch.json";
  auto split = LoadSquadSplit(bad, *tokenizer, SmallWindows(/*is_training=*/true));
  ASSERT_FALSE(split.ok());
  EXPECT_NE(split.status().message().find(bad), std::string::npos) << split.status();

  auto dev = LoadSquadSplit(kFixture, *tokenizer, SmallWindows(/*is_training=*/false));
  ASSERT_TRUE(dev.ok()) << dev.status();
  at::manual_seed(0);
  auto classifier = models::CreateModel(models::TinyTestConfig(tokenizer->vocab_size()),
                                        "BertForSequenceClassification");
  ASSERT_TRUE(classifier.ok()) << classifier.status();
  auto evaluation = EvaluateQuestionAnswering(**classifier, **dev, {});
  ASSERT_FALSE(evaluation.ok());
  EXPECT_EQ(evaluation.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(evaluation.status().message(),
            "evaluating on tests/fixtures/squad/v1_small.json: question answering: "
            "'start_logits' is missing from the model outputs (keys: last_hidden_state, logits, "
            "pooler_output); a question-answering head (BertForQuestionAnswering) is needed");

  // The loss names a missing batch key.
  try {
    QuestionAnsweringLoss({{"start_logits", at::zeros({1, 4})}, {"end_logits", at::zeros({1, 4})}},
                          {{"input_ids", at::zeros({1, 4}, at::kLong)}});
    FAIL() << "no error";
  } catch (const c10::Error& error) {
    EXPECT_EQ(std::string(error.what_without_backtrace()),
              "question answering: 'start_positions' is missing from the batch (keys: input_ids)");
  }
}

}  // namespace
}  // namespace recipes
