// Hugging Face's and ONNX Runtime's own code run what we save, as a user's would:
//   - transformers.js (@huggingface/transformers), offline, loads the tokenizer files of a
//     model directory we saved and gives our input_ids / token_type_ids on a few hundred
//     texts: local cloze-QA questions and (question, context) pairs, Brown-genre passages,
//     and edge cases (accents, CJK, punctuation, long words, specials, empty);
//   - ONNX Runtime (onnxruntime-node, CPU) runs our fp32 exports of BERT and DistilBERT to
//     our outputs within 1e-4, our INT8 QDQ export within kInt8Tolerance, and the fp32
//     export of a 90%-pruned directory to our sparse kernels' outputs within 1e-4;
//   - transformers.js's text-classification and question-answering pipelines load a
//     directory saved as recipes save it (with export_onnx's onnx/model.onnx) and return
//     our labels and scores, and our answers.
// The clients are what tools/install_deps.sh installs into tools/node_clients; when node or
// they are absent every test skips, saying why. The texts are the local data under
// <workspace>/data (fetched by install_deps.sh; BERT_COMPRESSOR_DATA_DIR points elsewhere).
#include <gtest/gtest.h>
#include <torch/utils.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "base/atomic_file.h"
#include "benchmarks/magnitude_prune.h"
#include "compressor/deploy/latency.h"
#include "compressor/quantization/convert.h"
#include "compressor/quantization/qat.h"
#include "export/onnx_export.h"
#include "models/auto_model.h"
#include "models/hf_checkpoint.h"
#include "models/test_config.h"
#include "models/test_weights.h"
#include "models/tokenizers/model_inputs.h"
#include "models/tokenizers/tokenizer_json.h"
#include "models/tokenizers/wordpiece_tokenizer.h"
#include "recipes/stage_model.h"
#include "recipes/tasks/question_answering.h"
#include "tests/run_command.h"

namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

// fp32: the same float operations in another order (the bound).
constexpr float kFp32Tolerance = 1e-4f;
// INT8 QDQ, relative to the largest |logit|: ONNX Runtime rounds x / scale where our kernels
// multiply by 1 / scale, so a value on a rounding tie lands one quantization step away and
// the step travels through the layers after it. Measured here: see the test's log line.
constexpr float kInt8Tolerance = 2e-2f;

fs::path Runfile(const std::string& path) {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const char* workspace = std::getenv("TEST_WORKSPACE");
  if (srcdir == nullptr || workspace == nullptr) return path;
  return fs::path(srcdir) / workspace / path;
}

using tests::ShellQuote;
using tests::TestTempDir;

std::string ReadFile(const fs::path& path) {
  return base::ReadFileToString(path.string()).value_or("");
}

// Where node and the installed clients are; `skip` says why the tests cannot run.
struct NodeClients {
  std::string node;
  std::string node_modules;
  std::string skip;
};

NodeClients FindNodeClients() {
  NodeClients clients;
  std::error_code error;
  // The stamp exists once tools/install_deps.sh installed and verified the packages; its
  // runfile is a symlink into the workspace, beside node_modules/.
  const fs::path stamp = fs::canonical(Runfile("tools/node_clients/installed.stamp"), error);
  if (error) {
    clients.skip = "tools/node_clients is not installed (run tools/install_deps.sh)";
    return clients;
  }
  const fs::path modules = stamp.parent_path() / "node_modules";
  for (const char* package : {"@huggingface/transformers", "onnxruntime-node"}) {
    if (!fs::exists(modules / package / "package.json", error)) {
      clients.skip = (modules / package).string() + " is missing (run tools/install_deps.sh)";
      return clients;
    }
  }
  clients.node_modules = modules.string();
  std::vector<std::string> dirs;
  if (const char* path = std::getenv("PATH")) {
    std::stringstream stream(path);
    for (std::string dir; std::getline(stream, dir, ':');) dirs.push_back(dir);
  }
  dirs.insert(dirs.end(), {"/usr/bin", "/usr/local/bin"});
  for (const std::string& dir : dirs) {
    if (!dir.empty() && fs::exists(fs::path(dir) / "node", error)) {
      clients.node = (fs::path(dir) / "node").string();
      return clients;
    }
  }
  clients.skip = "node is not on PATH (apt-get install nodejs)";
  return clients;
}

std::string DataDir() {
  if (const char* dir = std::getenv("BERT_COMPRESSOR_DATA_DIR")) return dir;
  std::error_code error;
  const fs::path script = fs::canonical(Runfile("tests/real_clients/tokenize.cjs"), error);
  return (script.parent_path().parent_path().parent_path() / "data").string();
}

struct Text {
  std::string text;
  std::optional<std::string> pair;
};

// Local cloze-QA questions and pairs, Brown-genre passages, then the edge cases.
std::vector<Text> ConformanceTexts(const std::string& data) {
  std::vector<Text> texts;
  const Json squad = Json::parse(ReadFile(fs::path(data) / "cloze_qa/dev-v1.1.json"));
  int paragraphs = 0;
  for (const Json& article : squad["data"]) {
    for (const Json& paragraph : article["paragraphs"]) {
      const std::string context = paragraph["context"].get<std::string>();
      const std::string question = paragraph["qas"][0]["question"].get<std::string>();
      texts.push_back({question, std::nullopt});
      if (paragraphs % 2 == 0) texts.push_back({question, context});
      if (++paragraphs == 100) break;
    }
    if (paragraphs == 100) break;
  }
  std::ifstream tsv(fs::path(data) / "brown_genre/dev.tsv");
  std::string line;
  std::getline(tsv, line);  // Header.
  for (int row = 0; std::getline(tsv, line); ++row) {
    if (row % 10 == 0) texts.push_back({line.substr(0, line.find('\t')), std::nullopt});
  }
  const std::vector<std::string> edge_cases = {
      "",
      " ",
      "\t\n  \r\n",
      "H\u00E9llo W\u00F6rld, na\u00EFve caf\u00E9 r\u00E9sum\u00E9",
      "\u00C0\u00C9\u00CE\u00D5\u00DC \u00F1 \u00E7 \u00F8 \u00E5 \u00DF",
      "combining e\u0301 accents a\u0308 and o\u0302",
      "\u4E2D\u6587\u5206\u8BCD\u6D4B\u8BD5\u3002",
      "\u65E5\u672C\u8A9E\u306E\u30C6\u30AD\u30B9\u30C8",
      "\uD55C\uAD6D\uC5B4 \uD14D\uC2A4\uD2B8",
      "mixed\u4E2D\u6587and English",
      "Hello!!! ??? ... ,,, ;;; (brackets) [square] {curly} <angle>",
      "don't can't won't it's y'all'd've",
      "e-mail@address.com http://example.com/path?x=1&y=2#frag",
      "$40,000,000 and 3.14159 and 1e-5 and 50%",
      "supercalifragilisticexpialidocious pneumonoultramicroscopicsilicovolcanoconiosis",
      std::string(120, 'a') + " after a word over 100 characters",
      std::string(100, 'b') + " exactly 100",
      "[CLS] [SEP] [MASK] [PAD] [UNK] inside a sentence",
      "a[SEP]b[MASK]c",
      "[mask] is not special in lower case",
      "emoji \U0001F600\U0001F44D\U0001F3FD test",
      "tab\tseparated\ttext",
      "control\u0007char and \u00ADsoft hyphen",
      "zero\u200Bwidth space",
      "\u216B roman numeral \u00BD fraction",
      "\uFF26\uFF55\uFF4C\uFF4C\uFF57\uFF49\uFF44\uFF54\uFF48",
      "\u0395\u03BB\u03BB\u03B7\u03BD\u03B9\u03BA\u03AC \u03BA\u03B5\u03AF\u03BC\u03B5\u03BD\u03BF",
      "\u0420\u0443\u0441\u0441\u043A\u0438\u0439 \u0442\u0435\u043A\u0441\u0442",
      "\u0627\u0644\u0639\u0631\u0628\u064A\u0629",
      "\u2018curly\u2019 \u201Cquotes\u201D \u2014 dashes \u2013 \u2026",
      "\uFB01 ligature and \u01C5 titlecase",
  };
  for (const std::string& text : edge_cases) texts.push_back({text, std::nullopt});
  // (Not an empty *second* sequence: transformers.js drops a text_pair of "" as falsy, where
  // Python's tokenizers give [CLS] A [SEP] [SEP].)
  texts.push_back({"", std::string("An empty first sequence.")});
  return texts;
}

class RealClientsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { clients_ = new NodeClients(FindNodeClients()); }

  void SetUp() override {
    if (!clients_->skip.empty()) {
      std::cerr << "SKIPPED: " << clients_->skip << "\n";
      GTEST_SKIP() << clients_->skip;
    }
  }

  // Runs tests/real_clients/SCRIPT with `args`; fails the test with node's stderr.
  static bool RunNode(const std::string& script, const std::vector<std::string>& args) {
    std::string command = "NODE_PATH=" + ShellQuote(clients_->node_modules) + " HOME=" +
                          ShellQuote(TestTempDir()) + " " + ShellQuote(clients_->node) + " " +
                          ShellQuote(Runfile("tests/real_clients/" + script).string());
    for (const std::string& arg : args) command += " " + ShellQuote(arg);
    const tests::CommandResult result = tests::RunCommand(command);
    EXPECT_EQ(result.exit_code, 0) << script << " failed: " << result.err;
    return result.exit_code == 0;
  }

  static NodeClients* clients_;
};

NodeClients* RealClientsTest::clients_ = nullptr;

std::unique_ptr<tokenizers::BertTokenizer> BertBaseUncased(const std::string& data) {
  auto tokenizer =
      tokenizers::BertTokenizer::FromFile(data + "/vocab/bert-base-uncased-vocab.txt");
  EXPECT_TRUE(tokenizer.ok()) << tokenizer.status() << " (run tools/install_deps.sh)";
  return tokenizer.ok() ? std::move(*tokenizer) : nullptr;
}

tokenizers::ModelInputs Encode(const tokenizers::BertTokenizer& tokenizer, const Text& text,
                               const tokenizers::ModelInputsOptions& options) {
  const tokenizers::Encoding first = tokenizer.Encode(text.text);
  const tokenizers::Encoding second = tokenizer.Encode(text.pair.value_or(""));
  auto inputs = tokenizers::BuildModelInputs(tokenizer, first, text.pair ? &second : nullptr,
                                             options);
  EXPECT_TRUE(inputs.ok()) << inputs.status();
  return inputs.ok() ? *std::move(inputs) : tokenizers::ModelInputs{};
}

TEST_F(RealClientsTest, TransformersJsTokenizerEqualsOurs) {
  const std::string data = DataDir();
  auto ours = BertBaseUncased(data);
  ASSERT_NE(ours, nullptr);
  // Saved as every model directory is, then read back from the tokenizer.json alone.
  const std::string root = TestTempDir() + "/models";
  const std::string dir = root + "/bert-base-uncased";
  fs::create_directories(dir);
  ASSERT_TRUE(tokenizers::SaveTokenizerFiles(*ours, dir, 512).ok());
  auto from_json = tokenizers::LoadTokenizerJson(dir + "/tokenizer.json");
  ASSERT_TRUE(from_json.ok()) << from_json.status();

  const std::vector<Text> texts = ConformanceTexts(data);
  ASSERT_GE(texts.size(), 300u);
  Json input = Json::array();
  for (const Text& text : texts) {
    Json entry = {{"text", text.text}};
    if (text.pair) entry["pair"] = *text.pair;
    input.push_back(entry);
  }
  const std::string in_path = TestTempDir() + "/texts.json", out_path = TestTempDir() + "/ids.json";
  std::ofstream(in_path) << input.dump();
  ASSERT_TRUE(RunNode("tokenize.cjs", {root, "bert-base-uncased", in_path, out_path}));
  const Json theirs = Json::parse(ReadFile(out_path));
  ASSERT_EQ(theirs.size(), texts.size());

  tokenizers::ModelInputsOptions options;
  options.truncation = tokenizers::Truncation::kDoNotTruncate;
  int64_t tokens = 0, unknown = 0;
  size_t mismatches = 0;
  for (size_t i = 0; i < texts.size(); ++i) {
    const tokenizers::ModelInputs expected = Encode(*ours, texts[i], options);
    EXPECT_EQ(Encode(**from_json, texts[i], options).input_ids, expected.input_ids) << i;
    const auto ids = theirs[i]["input_ids"].get<std::vector<int64_t>>();
    const auto types = theirs[i]["token_type_ids"].get<std::vector<int64_t>>();
    if (ids != expected.input_ids || types != expected.token_type_ids) ++mismatches;
    EXPECT_EQ(ids, expected.input_ids) << "text " << i << ": " << Json(texts[i].text).dump();
    EXPECT_EQ(types, expected.token_type_ids) << "text " << i;
    tokens += static_cast<int64_t>(ids.size());
    unknown += std::count(ids.begin(), ids.end(), ours->unk_id());
  }
  std::cout << "transformers.js tokenizer: " << texts.size() - mismatches << " of "
            << texts.size() << " texts equal (" << tokens << " tokens, " << unknown
            << " [UNK])\n";
  // Real text, not a vocabulary that only knows [UNK].
  EXPECT_LT(unknown * 100, tokens);
}

// (question, context) pairs from the local cloze-QA data, padded to one [batch, 128].
models::ModelInput QaBatch(const tokenizers::BertTokenizer& tokenizer, const std::string& data) {
  const Json squad = Json::parse(ReadFile(fs::path(data) / "cloze_qa/dev-v1.1.json"));
  tokenizers::ModelInputsOptions options;
  options.max_length = 128;
  options.truncation = tokenizers::Truncation::kOnlySecond;
  options.pad_to_max_length = true;
  std::vector<int64_t> ids, types, mask;
  int64_t batch = 0;
  for (const Json& paragraph : squad["data"][1]["paragraphs"]) {
    const tokenizers::ModelInputs inputs = Encode(
        tokenizer,
        {paragraph["qas"][0]["question"].get<std::string>(), paragraph["context"].get<std::string>()},
        options);
    ids.insert(ids.end(), inputs.input_ids.begin(), inputs.input_ids.end());
    types.insert(types.end(), inputs.token_type_ids.begin(), inputs.token_type_ids.end());
    mask.insert(mask.end(), inputs.attention_mask.begin(), inputs.attention_mask.end());
    if (++batch == 4) break;
  }
  auto tensor = [&](const std::vector<int64_t>& values) {
    return at::tensor(values, at::kLong).reshape({batch, 128});
  };
  models::ModelInput input;
  input.input_ids = tensor(ids);
  input.token_type_ids = tensor(types);
  input.attention_mask = tensor(mask);
  return input;
}

struct Diff {
  float max_abs = 0;
  float max_ref = 0;
};

// Runs ONNX Runtime on `onnx_path` with `input` and compares every output the graph has
// with `model`'s at the real (unpadded) positions.
Diff RunOnnxRuntimeAndCompare(models::PreTrainedModel& model, const std::string& onnx_path,
                              const models::ModelInput& input, const std::string& name,
                              bool (*run_node)(const std::string&, const std::vector<std::string>&)) {
  Diff diff;
  auto flat = [](const at::Tensor& t) {
    const at::Tensor c = t.contiguous();
    return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
  };
  const Json feeds = {{"dims", input.input_ids.sizes().vec()},
                      {"input_ids", flat(input.input_ids)},
                      {"attention_mask", flat(input.attention_mask)},
                      {"token_type_ids", flat(input.token_type_ids)}};
  const std::string in_path = TestTempDir() + "/" + name + ".inputs.json";
  const std::string out_path = TestTempDir() + "/" + name + ".outputs.json";
  std::ofstream(in_path) << feeds.dump();
  if (!run_node("ort_run.cjs", {onnx_path, in_path, out_path})) return diff;
  const Json theirs = Json::parse(ReadFile(out_path));
  torch::NoGradGuard no_grad;
  models::ModelInput our_input = input;
  if (model.config().model_type == "distilbert") our_input.token_type_ids = at::Tensor();
  const models::ModelOutput ours = model.forward(our_input);
  int compared = 0;
  for (const auto& [output, tensor] : ours.Named()) {
    if (!theirs.contains(output)) continue;
    const auto dims = theirs[output]["dims"].get<std::vector<int64_t>>();
    EXPECT_EQ(dims, tensor.sizes().vec()) << name << " " << output;
    if (dims != tensor.sizes().vec()) continue;
    const at::Tensor got = at::tensor(theirs[output]["data"].get<std::vector<float>>()).reshape(dims);
    at::Tensor error = (got - tensor).abs();
    at::Tensor reference = tensor.abs();
    if (tensor.dim() == 2 && tensor.size(1) == input.attention_mask.size(1)) {  // Per token.
      const at::Tensor real = input.attention_mask.to(at::kBool);
      error = error.masked_select(real);
      reference = reference.masked_select(real);
    }
    diff.max_abs = std::max(diff.max_abs, error.max().item<float>());
    diff.max_ref = std::max(diff.max_ref, reference.max().item<float>());
    ++compared;
  }
  EXPECT_GT(compared, 0) << name << ": ONNX Runtime returned none of our outputs";
  return diff;
}

// Exports `model` and compares ONNX Runtime's outputs on `input` with the model's.
Diff CompareWithOnnxRuntime(models::PreTrainedModel& model, const models::ModelInput& input,
                            const std::string& name,
                            bool (*run_node)(const std::string&, const std::vector<std::string>&)) {
  const std::string onnx_path = TestTempDir() + "/" + name + ".onnx";
  auto exported = exporter::ExportOnnx(model, onnx_path);
  EXPECT_TRUE(exported.ok()) << exported.status();
  if (!exported.ok()) return Diff();
  return RunOnnxRuntimeAndCompare(model, onnx_path, input, name, run_node);
}

TEST_F(RealClientsTest, OnnxRuntimeRunsOurFp32AndInt8Exports) {
  const std::string data = DataDir();
  auto tokenizer = BertBaseUncased(data);
  ASSERT_NE(tokenizer, nullptr);
  const models::ModelInput input = QaBatch(*tokenizer, data);
  torch::manual_seed(0);
  models::BertConfig config = models::TinyTestConfig(tokenizer->vocab_size(), 128);
  auto qa = *models::CreateModel(config, "BertForQuestionAnswering");
  models::UnitGainLinears(*qa);
  qa->eval();
  config.model_type = "distilbert";
  config.num_labels = 3;
  auto cls = *models::CreateModel(config, "DistilBertForSequenceClassification");
  models::UnitGainLinears(*cls);
  cls->eval();

  const Diff bert_fp32 = CompareWithOnnxRuntime(*qa, input, "bert_qa_fp32", RunNode);
  const Diff distilbert_fp32 = CompareWithOnnxRuntime(*cls, input, "distilbert_cls_fp32", RunNode);
  EXPECT_LE(bert_fp32.max_abs, kFp32Tolerance);
  EXPECT_LE(distilbert_fp32.max_abs, kFp32Tolerance);
  EXPECT_GT(bert_fp32.max_ref, 0.5f);  // O(1) logits: the bound means something.

  // Static PTQ calibrated on the batch, converted to our INT8 kernels, exported as QDQ.
  compressor::QuantizationConfig qconfig;
  qconfig.approach = "post_training_static_quant";
  qconfig.activation_observer = "minmax";
  ASSERT_TRUE(compressor::PrepareModel(*qa, qconfig).ok());
  {
    torch::NoGradGuard no_grad;
    const auto modules = compressor::QuantizedModules(*qa);
    for (const auto& [name, module] : modules) module->set_calibrating(true);
    qa->forward(input);
    for (const auto& [name, module] : modules) module->Freeze();
  }
  const auto converted = compressor::ConvertToInt8(*qa);
  ASSERT_TRUE(converted.ok()) << converted.status();
  EXPECT_EQ(converted->size(), 2u * 6 + 1);  // Every Linear runs our INT8 kernel.
  const Diff bert_int8 = CompareWithOnnxRuntime(*qa, input, "bert_qa_int8", RunNode);
  EXPECT_LE(bert_int8.max_abs, kInt8Tolerance * bert_int8.max_ref);
  std::cout << "ONNX Runtime vs ours, max |diff|: BERT QA fp32 " << bert_fp32.max_abs
            << ", DistilBERT classification fp32 " << distilbert_fp32.max_abs
            << ", BERT QA INT8 (QDQ) " << bert_int8.max_abs << " of max |logit| "
            << bert_int8.max_ref << "\n";
}

// Saves `model` as a recipe stage does with export_onnx: SaveStageModel, then onnx/model.onnx
// from the model as reloaded from the directory.
void SaveWithOnnx(const models::PreTrainedModel& model, const tokenizers::BertTokenizer& tokenizer,
                  const std::string& dir) {
  ASSERT_TRUE(recipes::SaveStageModel(model, tokenizer, dir).ok());
  auto saved = recipes::LoadStageModel(dir);
  ASSERT_TRUE(saved.ok()) << saved.status();
  auto exported = recipes::ExportStageOnnx(*saved->model, dir);
  ASSERT_TRUE(exported.ok()) << exported.status();
}

// A 90%-pruned model's fp32 export in ONNX Runtime equals our sparse fp32 kernels on it.
TEST_F(RealClientsTest, OnnxRuntimeRunsOurSparseExportAsOurSparseKernels) {
  const std::string data = DataDir();
  auto tokenizer = BertBaseUncased(data);
  ASSERT_NE(tokenizer, nullptr);
  const models::ModelInput input = QaBatch(*tokenizer, data);
  torch::manual_seed(2);
  auto qa = *models::CreateModel(models::TinyTestConfig(tokenizer->vocab_size(), 128),
                                 "BertForQuestionAnswering");
  models::UnitGainLinears(*qa);
  ASSERT_TRUE(benchmarks::MagnitudePrune(*qa, 0.9, "unstructured", "encoder").ok());
  EXPECT_NEAR(recipes::MeasureLinearSparsity(*qa).sparsity(), 0.9, 0.01);
  const std::string dir = TestTempDir() + "/sparse/bert-qa";
  SaveWithOnnx(*qa, *tokenizer, dir);
  compressor::InferenceOptions options;
  options.kernel = "sparse";
  auto deployed = recipes::LoadDeployModel(dir, options);
  ASSERT_TRUE(deployed.ok()) << deployed.status();
  EXPECT_EQ(compressor::CountKernels(*deployed->model)["sparse_fp32"], 2 * 6 + 1);
  const Diff sparse = RunOnnxRuntimeAndCompare(*deployed->model, dir + "/" + recipes::kOnnxModelFile,
                                               input, "bert_qa_sparse", RunNode);
  EXPECT_LE(sparse.max_abs, kFp32Tolerance);
  EXPECT_GT(sparse.max_ref, 0.5f);
  std::cout << "ONNX Runtime vs our sparse fp32 kernels (90% of encoder Linear weights zero), "
            << "max |diff| " << sparse.max_abs << " of max |logit| " << sparse.max_ref << "\n";
}

// Letters and digits only, lower-cased: transformers.js answers with the decoded tokens
// ("don ' t" style spacing, no accents), ours with the context's own characters.
std::string Squashed(const std::string& text) {
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c)) out += static_cast<char>(std::tolower(c));
  }
  return out;
}

// transformers.js's question-answering pipeline on a directory saved as recipes save it
// (with export_onnx) answers as our C++ inference (recipes::LoadDeployModel +
// PredictQuestionAnswering, what tools:predict runs) does on the same directory.
TEST_F(RealClientsTest, TransformersJsQuestionAnsweringGivesOurAnswers) {
  const std::string data = DataDir();
  auto tokenizer = BertBaseUncased(data);
  ASSERT_NE(tokenizer, nullptr);
  constexpr int64_t kSeq = 128;
  torch::manual_seed(6);
  auto qa = *models::CreateModel(models::TinyTestConfig(tokenizer->vocab_size(), kSeq),
                                 "BertForQuestionAnswering");
  models::UnitGainLinears(*qa);
  const std::string root = TestTempDir() + "/saved_qa", name = "bert-qa";
  SaveWithOnnx(*qa, *tokenizer, root + "/" + name);

  // Cloze-QA questions whose (question, context) pair fits one 128-token window (the
  // pipeline does not stride; its truncation would cut the final [SEP]) and has no [UNK]
  // (the pipeline's decoding drops it).
  datasets::SquadData questions;
  const Json squad = Json::parse(ReadFile(fs::path(data) / "cloze_qa/dev-v1.1.json"));
  for (const Json& article : squad["data"]) {
    for (const Json& paragraph : article["paragraphs"]) {
      for (const Json& qa_json : paragraph["qas"]) {
        datasets::SquadExample example;
        example.id = qa_json["id"].get<std::string>();
        example.question = qa_json["question"].get<std::string>();
        example.context = paragraph["context"].get<std::string>();
        const auto q = tokenizer->Encode(example.question).ids;
        const auto c = tokenizer->Encode(example.context).ids;
        if (q.size() + c.size() + 3 > kSeq) continue;
        if (std::count(q.begin(), q.end(), tokenizer->unk_id()) +
                std::count(c.begin(), c.end(), tokenizer->unk_id()) > 0) {
          continue;
        }
        if (questions.examples.size() < 40) questions.examples.push_back(example);
        break;  // One question per paragraph: more contexts.
      }
    }
  }
  ASSERT_EQ(questions.examples.size(), 40u);
  Json input = Json::array();
  for (const datasets::SquadExample& example : questions.examples) {
    input.push_back({{"question", example.question}, {"context", example.context}});
  }
  const std::string in_path = TestTempDir() + "/qa_inputs.json";
  const std::string out_path = TestTempDir() + "/qa_answers.json";
  std::ofstream(in_path) << input.dump();
  ASSERT_TRUE(RunNode("pipeline.cjs", {"question-answering", root, name, in_path, out_path}));
  const Json theirs = Json::parse(ReadFile(out_path));
  ASSERT_EQ(theirs.size(), questions.examples.size());

  // Ours with the pipeline's search: every span of the context, of any length (its
  // post-processing has no n-best cut and no max_answer_length).
  auto deployed = recipes::LoadDeployModel(root + "/" + name);
  ASSERT_TRUE(deployed.ok()) << deployed.status();
  datasets::SquadFeatureConfig features;
  features.max_seq_length = kSeq;
  features.max_query_length = kSeq;
  auto split = recipes::MakeSquadSplit(questions, "cloze dev questions", *tokenizer, features);
  ASSERT_TRUE(split.ok()) << split.status();
  ASSERT_EQ((*split)->features->size(), questions.examples.size());  // One window each.
  recipes::QuestionAnsweringConfig config;
  config.postprocess.n_best_size = kSeq;
  config.postprocess.max_answer_length = kSeq;
  auto ours = recipes::PredictQuestionAnswering(*deployed->model, **split, config);
  ASSERT_TRUE(ours.ok()) << ours.status();
  int equal = 0;
  std::set<std::string> distinct;
  for (size_t i = 0; i < ours->size(); ++i) {
    const std::string answer = theirs[i]["answer"].get<std::string>();
    EXPECT_EQ(Squashed(answer), Squashed((*ours)[i].text))
        << "question " << questions.examples[i].id << ": transformers.js \"" << answer
        << "\", ours \"" << (*ours)[i].text << "\"";
    equal += Squashed(answer) == Squashed((*ours)[i].text);
    distinct.insert((*ours)[i].text);
  }
  EXPECT_GE(distinct.size(), 10u);  // Real spans, not one answer for every question.
  std::cout << "transformers.js question-answering: " << equal << " of " << ours->size()
            << " answers equal ours (" << distinct.size() << " distinct)\n";
}

// transformers.js's text-classification pipeline loads a directory saved the way recipes
// save (SaveStageModel, then onnx/model.onnx) offline and returns our label and score.
TEST_F(RealClientsTest, TransformersJsTextClassificationGivesOurLabels) {
  const std::string data = DataDir();
  auto tokenizer = BertBaseUncased(data);
  ASSERT_NE(tokenizer, nullptr);
  torch::manual_seed(1);
  models::BertConfig config = models::TinyTestConfig(tokenizer->vocab_size(), 128);
  config.num_labels = 3;
  config.id2label = {"news", "fiction", "science"};
  auto model = *models::CreateModel(config, "BertForSequenceClassification");
  models::UnitGainLinears(*model);
  {
    // A wide classifier, so random weights still tell passages apart.
    torch::NoGradGuard no_grad;
    model->named_parameters()["classifier.weight"].mul_(10);
  }
  model->eval();
  const std::string root = TestTempDir() + "/saved", name = "bert-cls";
  const std::string dir = root + "/" + name;
  SaveWithOnnx(*model, *tokenizer, dir);

  std::vector<std::string> texts;
  std::ifstream tsv(fs::path(data) / "brown_genre/dev.tsv");
  std::string line;
  std::getline(tsv, line);  // Header.
  // Passages that fit in 128 tokens: transformers.js truncates after adding the special
  // tokens, cutting the final [SEP] (Python's tokenizers keep it), so a truncated input is
  // not the same input.
  for (int row = 0; std::getline(tsv, line) && texts.size() < 40; ++row) {
    const std::string text = line.substr(0, line.find('\t'));
    if (row % 7 == 0 && tokenizer->Encode(text).ids.size() + 2 <= 128) texts.push_back(text);
  }
  const std::string in_path = TestTempDir() + "/cls_texts.json";
  const std::string out_path = TestTempDir() + "/cls_labels.json";
  std::ofstream(in_path) << Json(texts).dump();
  ASSERT_TRUE(RunNode("pipeline.cjs", {"text-classification", root, name, in_path, out_path}));
  const Json theirs = Json::parse(ReadFile(out_path));
  ASSERT_EQ(theirs.size(), texts.size());

  tokenizers::ModelInputsOptions options;
  std::map<std::string, int> labels;
  float max_diff = 0;
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < texts.size(); ++i) {
    const tokenizers::ModelInputs inputs = Encode(*tokenizer, {texts[i], std::nullopt}, options);
    const int64_t n = static_cast<int64_t>(inputs.input_ids.size());
    models::ModelInput input;
    input.input_ids = at::tensor(inputs.input_ids, at::kLong).reshape({1, n});
    input.token_type_ids = at::tensor(inputs.token_type_ids, at::kLong).reshape({1, n});
    input.attention_mask = at::tensor(inputs.attention_mask, at::kLong).reshape({1, n});
    const at::Tensor probabilities = model->forward(input).logits.softmax(-1)[0];
    const int64_t best = probabilities.argmax().item<int64_t>();
    EXPECT_EQ(theirs[i]["label"], config.id2label[best]) << "text " << i;
    const float diff =
        std::abs(theirs[i]["score"].get<float>() - probabilities[best].item<float>());
    EXPECT_LE(diff, kFp32Tolerance) << "text " << i;
    max_diff = std::max(max_diff, diff);
    ++labels[config.id2label[best]];
  }
  EXPECT_EQ(texts.size(), 40u);
  std::cout << "transformers.js text-classification: " << texts.size()
            << " texts, max |score diff| " << max_diff << ", labels:";
  for (const auto& [label, count] : labels) std::cout << " " << label << " " << count;
  std::cout << "\n";
}

}  // namespace
