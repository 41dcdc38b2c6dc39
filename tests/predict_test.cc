// //tools:predict as a user runs it, on directories saved the way recipe stages save them
// (recipes::SaveStageModel): its answers, labels and scores equal the recipes' own
// evaluation of the same saved model (recipes::LoadStageModel + EvaluateQuestionAnswering /
// EvaluateClassification, what results.json reports), dense fp32 and pruned + INT8, its
// predictions file is what //datasets:squad_evaluate scores, and bad input is one line on
// stderr naming the file / field / flag with exit status 1.
#include <gtest/gtest.h>
#include <torch/utils.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <iterator>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "base/atomic_file.h"
#include "benchmarks/magnitude_prune.h"
#include "compressor/quantization/convert.h"
#include "compressor/quantization/qat.h"
#include "datasets/squad/squad_metrics.h"
#include "models/auto_model.h"
#include "models/test_config.h"
#include "models/test_weights.h"
#include "models/tokenizers/tokenizer_json.h"
#include "models/tokenizers/wordpiece_tokenizer.h"
#include "recipes/stage_model.h"
#include "recipes/tasks/classification.h"
#include "recipes/tasks/question_answering.h"
#include "recipes/tasks/test_util.h"
#include "tests/run_command.h"

namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

using tests::ShellQuote;
using tests::TestTempDir;

std::string ReadFile(const std::string& path) {
  return base::ReadFileToString(path).value_or("(cannot read " + path + ")");
}

// tools/predict (a runfile) with `args`.
tests::CommandResult Predict(const std::vector<std::string>& args) {
  std::string command = "tools/predict";
  for (const std::string& arg : args) command += " " + ShellQuote(arg);
  return tests::RunCommand(command);
}

// The JSON object on the last line of stdout.
Json LastLine(const std::string& out) {
  std::string text = out;
  while (!text.empty() && text.back() == '\n') text.pop_back();
  return Json::parse(text.substr(text.rfind('\n') + 1));
}

// Passages whose every word is in the test vocabulary (TestTokenizer), so answers are words.
const char* const kContexts[] = {
    "the river runs past the old mill and the mill grinds corn for the town . in the "
    "winter the river freezes and the children skate on it while the miller sleeps .",
    "anna wrote three letters to her brother who lived by the sea . he answered only one "
    "of them , the letter about the red boat that their father built in the spring .",
    "the committee met on monday and voted for the new bridge . the bridge will cost "
    "forty thousand dollars and the work starts after the harvest in the north valley .",
};
const char* const kQuestions[] = {
    "what does the mill grind ?", "who skates on the river ?", "who wrote letters ?",
    "what did their father build ?", "when did the committee meet ?", "what will the work start after ?",
};

std::unique_ptr<tokenizers::BertTokenizer> TestTokenizer() {
  std::vector<std::string> texts(std::begin(kContexts), std::end(kContexts));
  texts.insert(texts.end(), std::begin(kQuestions), std::end(kQuestions));
  return recipes::testing::TokenizerForTexts(texts);
}

// Six questions (two per passage), each with a gold answer so the file can be scored.
std::string WriteSquadFile() {
  Json paragraphs = Json::array();
  const char* const answers[] = {"corn", "the children", "anna", "the red boat", "monday",
                                 "the harvest"};
  for (int p = 0; p < 3; ++p) {
    Json qas = Json::array();
    for (int q = 2 * p; q < 2 * p + 2; ++q) {
      const std::string context = kContexts[p];
      qas.push_back({{"id", "q" + std::to_string(q)},
                     {"question", kQuestions[q]},
                     {"answers", {{{"text", answers[q]},
                                   {"answer_start", context.find(answers[q])}}}}});
    }
    paragraphs.push_back({{"context", kContexts[p]}, {"qas", qas}});
  }
  const std::string path = TestTempDir() + "/questions.json";
  std::ofstream(path) << Json({{"version", "1.1"},
                               {"data", {{{"title", "test"}, {"paragraphs", paragraphs}}}}})
                             .dump();
  return path;
}

// Small windows, so the longer passages span several (doc stride exercised).
constexpr int64_t kMaxSeqLength = 32;
constexpr int64_t kDocStride = 8;

std::vector<std::string> WindowFlags() {
  return {"--max_seq_length=" + std::to_string(kMaxSeqLength),
          "--doc_stride=" + std::to_string(kDocStride)};
}

// What the recipes report for the saved directory: its model as LoadStageModel rebuilds
// it, evaluated by EvaluateQuestionAnswering on the same windows.
recipes::QuestionAnsweringEvaluation RecipeEvaluation(const std::string& dir,
                                                      const std::string& squad_file) {
  auto saved = recipes::LoadStageModel(dir);
  EXPECT_TRUE(saved.ok()) << saved.status();
  auto tokenizer = tokenizers::LoadBertTokenizer(dir);
  EXPECT_TRUE(tokenizer.ok()) << tokenizer.status();
  datasets::SquadFeatureConfig features;
  features.max_seq_length = kMaxSeqLength;
  features.doc_stride = kDocStride;
  auto split = recipes::LoadSquadSplit(squad_file, **tokenizer, features);
  EXPECT_TRUE(split.ok()) << split.status();
  EXPECT_GT((*split)->features->size(), 6u);  // Some passage has more than one window.
  auto evaluation = recipes::EvaluateQuestionAnswering(*saved->model, **split, {});
  EXPECT_TRUE(evaluation.ok()) << evaluation.status();
  return *std::move(evaluation);
}

std::shared_ptr<models::PreTrainedModel> QaModel(const tokenizers::BertTokenizer& tokenizer) {
  torch::manual_seed(3);
  auto model = *models::CreateModel(models::TinyTestConfig(tokenizer.vocab_size(), 64),
                                    "BertForQuestionAnswering");
  models::UnitGainLinears(*model);
  model->eval();
  return model;
}

// Zeroes the 90% smallest weights of every encoder Linear, then static PTQ (Prune OFA's
// scheme) calibrated on random ids and converted to our INT8 kernels: what a pruned + QAT
// stage saves, without the training.
void PruneAndQuantize(models::PreTrainedModel& model) {
  ASSERT_TRUE(benchmarks::MagnitudePrune(model, 0.9, "unstructured", "encoder").ok());
  torch::NoGradGuard no_grad;
  compressor::QuantizationConfig config;
  config.approach = "post_training_static_quant";
  config.activation_observer = "minmax";
  ASSERT_TRUE(compressor::PrepareModel(model, config).ok());
  models::ModelInput input;
  input.input_ids = at::randint(5, model.config().vocab_size, {4, 40}, at::kLong);
  input.attention_mask = at::ones({4, 40}, at::kLong);
  input.token_type_ids = at::zeros({4, 40}, at::kLong);
  const auto modules = compressor::QuantizedModules(model);
  for (const auto& [name, module] : modules) module->set_calibrating(true);
  model.forward(input);
  for (const auto& [name, module] : modules) module->Freeze();
  auto converted = compressor::ConvertToInt8(model);
  ASSERT_TRUE(converted.ok()) << converted.status();
}

// predict --input over the SQuAD file equals the recipes' evaluation answer for answer, and
// squad_evaluate scores its file as the recipes do; --question gives the same answer and
// n-best probability as the file run for that question.
void ExpectPredictMatchesRecipes(const std::string& dir, const std::string& kernel,
                                 const std::string& expected_kernel) {
  const std::string squad = WriteSquadFile();
  const recipes::QuestionAnsweringEvaluation expected = RecipeEvaluation(dir, squad);
  const std::string predictions = TestTempDir() + "/predictions_" + kernel + ".json";
  std::vector<std::string> args = {"--model_dir=" + dir, "--input=" + squad,
                                   "--output=" + predictions, "--kernel=" + kernel};
  for (const std::string& flag : WindowFlags()) args.push_back(flag);
  const tests::CommandResult file_run = Predict(args);
  ASSERT_EQ(file_run.exit_code, 0) << file_run.err;
  EXPECT_NE(file_run.out.find(expected_kernel), std::string::npos) << file_run.out;
  const Json ours = Json::parse(ReadFile(predictions));
  ASSERT_EQ(ours.size(), expected.predictions.size());
  std::set<std::string> distinct;
  for (const datasets::SquadPrediction& prediction : expected.predictions) {
    EXPECT_EQ(ours.value(prediction.id, "(missing)"), prediction.text) << prediction.id;
    distinct.insert(prediction.text);
  }
  EXPECT_GE(distinct.size(), 3u);  // Not one degenerate answer for every question.
  // The file is what the official evaluation reads, and scores as the recipes do.
  const tests::CommandResult scores =
      tests::RunCommand("datasets/squad_evaluate " + ShellQuote(squad) + " " + ShellQuote(predictions));
  EXPECT_EQ(scores.exit_code, 0) << scores.err;
  EXPECT_EQ(scores.out, datasets::SquadMetricsToJson(expected.metrics));
  EXPECT_NE(file_run.out.find(datasets::SquadMetricsToJson(expected.metrics)), std::string::npos)
      << file_run.out;

  std::vector<std::string> one = {"--model_dir=" + dir, "--question=" + std::string(kQuestions[3]),
                                  "--context=" + std::string(kContexts[1]), "--kernel=" + kernel};
  for (const std::string& flag : WindowFlags()) one.push_back(flag);
  const tests::CommandResult single = Predict(one);
  ASSERT_EQ(single.exit_code, 0) << single.err;
  const Json answer = LastLine(single.out);
  EXPECT_EQ(answer["answer"], expected.predictions[3].text);
  EXPECT_NEAR(answer["score"].get<double>(), expected.predictions[3].nbest.at(0).probability, 1e-4);
  EXPECT_GT(answer["latency_ms"].get<double>(), 0.0);
  std::cout << "predict (" << kernel << "): " << expected.predictions.size()
            << " answers equal the recipes' evaluation; " << file_run.out;
}

TEST(PredictTest, DenseQaModelAnswersAsTheRecipesEvaluateIt) {
  auto tokenizer = TestTokenizer();
  auto model = QaModel(*tokenizer);
  const std::string dir = TestTempDir() + "/qa_dense";
  ASSERT_TRUE(recipes::SaveStageModel(*model, *tokenizer, dir).ok());
  ExpectPredictMatchesRecipes(dir, "dense", "dense_fp32=13");
}

TEST(PredictTest, PrunedInt8QaModelRunsOnSparseInt8Kernels) {
  auto tokenizer = TestTokenizer();
  auto model = QaModel(*tokenizer);
  PruneAndQuantize(*model);
  const std::string dir = TestTempDir() + "/qa_sparse_int8";
  ASSERT_TRUE(recipes::SaveStageModel(*model, *tokenizer, dir).ok());
  ASSERT_TRUE(fs::exists(dir + "/" + recipes::kInt8ModelFile));
  // Prune OFA's scheme: both output.dense, value and qa_outputs keep fp32 outputs (7
  // Linears, our sparse INT8 kernel); query, key and intermediate re-quantize theirs and
  // stay Int8LinearModules.
  ExpectPredictMatchesRecipes(dir, "sparse", "int8_requantizing=6 sparse_int8=7");
}

TEST(PredictTest, ClassifiesAsTheRecipesEvaluate) {
  auto tokenizer = TestTokenizer();
  torch::manual_seed(4);
  models::BertConfig config = models::TinyTestConfig(tokenizer->vocab_size(), 64);
  config.num_labels = 3;
  config.id2label = {"water", "letters", "money"};
  auto model = *models::CreateModel(config, "BertForSequenceClassification");
  models::UnitGainLinears(*model);
  const std::string tsv = TestTempDir() + "/rows.tsv";
  {
    std::ofstream out(tsv);
    out << "text\tlabel\n";
    for (int i = 0; i < 12; ++i) {
      const std::string context = kContexts[i % 3];
      // Different slices of the passages, so rows differ.
      out << context.substr(i * 5 % 40, 60 + i * 7) << "\t" << config.id2label[i % 3] << "\n";
    }
  }
  recipes::ClassificationDataConfig data_config;
  data_config.max_seq_length = 64;
  data_config.file_options.label_list = config.id2label;
  auto split = recipes::LoadClassificationSplit(tsv, tokenizer.get(), data_config);
  ASSERT_TRUE(split.ok()) << split.status();
  {
    // Random weights give every row nearly the same logits: centre them over the rows, so
    // the labels differ and a mix-up of rows would show.
    auto logits = recipes::ClassificationLogits(*model, **split, {});
    ASSERT_TRUE(logits.ok()) << logits.status();
    torch::NoGradGuard no_grad;
    at::Tensor weight = model->named_parameters()["classifier.weight"];
    at::Tensor bias = model->named_parameters()["classifier.bias"];
    const at::Tensor spread = logits->std(0).clamp_min(1e-6);
    weight.div_(spread.unsqueeze(1));
    bias.copy_((bias - logits->mean(0)) / spread);
  }
  const std::string dir = TestTempDir() + "/cls";
  ASSERT_TRUE(recipes::SaveStageModel(*model, *tokenizer, dir).ok());
  auto saved = recipes::LoadStageModel(dir);
  ASSERT_TRUE(saved.ok()) << saved.status();
  auto expected = recipes::EvaluateClassification(*saved->model, **split, {});
  ASSERT_TRUE(expected.ok()) << expected.status();
  auto logits = recipes::ClassificationLogits(*saved->model, **split, {});
  ASSERT_TRUE(logits.ok()) << logits.status();
  const at::Tensor probabilities = logits->softmax(-1);

  const std::string output = TestTempDir() + "/labels.json";
  const tests::CommandResult file_run =
      Predict({"--model_dir=" + dir, "--input=" + tsv, "--output=" + output, "--kernel=dense"});
  ASSERT_EQ(file_run.exit_code, 0) << file_run.err;
  const Json ours = Json::parse(ReadFile(output));
  ASSERT_EQ(ours.size(), expected->predictions.size());
  std::set<std::string> labels;
  for (size_t i = 0; i < ours.size(); ++i) {
    const int64_t best = expected->predictions[i];
    EXPECT_EQ(ours[i]["label"], config.id2label[best]) << "row " << i;
    EXPECT_NEAR(ours[i]["score"].get<double>(), probabilities[i][best].item<double>(), 1e-4);
    labels.insert(ours[i]["label"].get<std::string>());
  }
  EXPECT_GE(labels.size(), 2u);
  EXPECT_NE(file_run.out.find(Json({{"accuracy", expected->metrics.at("accuracy")}}).dump()),
            std::string::npos)
      << file_run.out;

  // One text: the first row's.
  std::ifstream rows(tsv);
  std::string line;
  std::getline(rows, line);
  std::getline(rows, line);
  const tests::CommandResult single = Predict({"--model_dir=" + dir, "--text=" + line.substr(0, line.find('\t'))});
  ASSERT_EQ(single.exit_code, 0) << single.err;
  const Json top = LastLine(single.out);
  EXPECT_EQ(top["label"], ours[0]["label"]);
  EXPECT_NEAR(top["score"].get<double>(), ours[0]["score"].get<double>(), 1e-4);
}

// One line on stderr, exit status 1, naming what is wrong.
void ExpectOneLineError(const std::vector<std::string>& args,
                        const std::vector<std::string>& mentions) {
  const tests::CommandResult result = Predict(args);
  EXPECT_EQ(result.exit_code, 1) << result.out << result.err;
  EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << result.err;
  for (const std::string& mention : mentions) {
    EXPECT_NE(result.err.find(mention), std::string::npos) << "'" << mention << "' not in " << result.err;
  }
}

TEST(PredictTest, BadInputIsOneLineNamingIt) {
  auto tokenizer = TestTokenizer();
  auto model = QaModel(*tokenizer);
  const std::string dir = TestTempDir() + "/qa_errors";
  ASSERT_TRUE(recipes::SaveStageModel(*model, *tokenizer, dir).ok());
  const std::string missing = TestTempDir() + "/no_such_model";
  ExpectOneLineError({"--model_dir=" + missing, "--question=q", "--context=c"},
                     {missing, "config.json"});
  ExpectOneLineError({"--model_dir=" + dir, "--text=a text"},
                     {"--text", dir, "BertForQuestionAnswering"});
  ExpectOneLineError({"--model_dir=" + dir, "--question=q"}, {"--context"});
  ExpectOneLineError({"--model_dir=" + dir}, {"--question", "--text", "--input"});
  ExpectOneLineError({"--model_dir=" + dir, "--input=" + WriteSquadFile()}, {"--output"});
  ExpectOneLineError({"--model_dir=" + dir, "--question=q", "--context=c", "--kernel=fast"},
                     {"--kernel=fast"});
  const std::string broken = TestTempDir() + "/broken.json";
  std::ofstream(broken) << R"({"data": [{"paragraphs": [{"context": "x", "qas": [{"id": "q1"}]}]}]})";
  ExpectOneLineError({"--model_dir=" + dir, "--input=" + broken, "--output=" + TestTempDir() + "/p.json"},
                     {broken, "question"});

  torch::manual_seed(5);
  models::BertConfig config = models::TinyTestConfig(tokenizer->vocab_size(), 64);
  config.num_labels = 2;
  config.id2label = {"no", "yes"};
  auto classifier = *models::CreateModel(config, "BertForSequenceClassification");
  const std::string cls_dir = TestTempDir() + "/cls_errors";
  ASSERT_TRUE(recipes::SaveStageModel(*classifier, *tokenizer, cls_dir).ok());
  ExpectOneLineError({"--model_dir=" + cls_dir, "--question=q", "--context=c"},
                     {"--question", cls_dir, "BertForSequenceClassification"});
  const std::string tsv = TestTempDir() + "/unknown_label.tsv";
  std::ofstream(tsv) << "text\tlabel\nthe river\tyes\nthe mill\tmaybe\n";
  ExpectOneLineError({"--model_dir=" + cls_dir, "--input=" + tsv, "--output=" + TestTempDir() + "/l.json"},
                     {tsv + ":3", "maybe"});
}

}  // namespace
