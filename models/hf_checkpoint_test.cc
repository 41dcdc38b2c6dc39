#include "models/hf_checkpoint.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/utils.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "base/atomic_file.h"
#include "base/safetensors.h"
#include "models/auto_model.h"
#include "models/bert.h"

namespace models {
namespace {

namespace fs = std::filesystem;

BertConfig SmallConfig() {
  BertConfig config;
  config.vocab_size = 40;
  config.hidden_size = 16;
  config.num_hidden_layers = 2;
  config.num_attention_heads = 2;
  config.intermediate_size = 32;
  config.max_position_embeddings = 16;
  return config;
}

std::string TempDir(const std::string& name) {
  const char* root = std::getenv("TEST_TMPDIR");
  const fs::path dir = fs::path(root ? root : "/tmp") / name;
  fs::remove_all(dir);
  return dir.string();
}

ModelInput Batch() {
  ModelInput input;
  input.input_ids = at::tensor({5, 9, 2, 33, 7, 1}, at::kLong).view({2, 3});
  input.token_type_ids = at::tensor({0, 0, 1, 0, 1, 1}, at::kLong).view({2, 3});
  input.attention_mask = at::tensor({1, 1, 1, 1, 1, 0}, at::kLong).view({2, 3});
  return input;
}

std::shared_ptr<PreTrainedModel> Make(const std::string& architecture, BertConfig config) {
  if (architecture.rfind("DistilBert", 0) == 0) {
    config.model_type = "distilbert";
    config.type_vocab_size = 0;
  }
  auto model = CreateModel(config, architecture);
  EXPECT_TRUE(model.ok()) << model.status();
  (*model)->eval();
  return *model;
}

bool Contains(const std::vector<std::string>& list, const std::string& item) {
  return std::find(list.begin(), list.end(), item) != list.end();
}

class RoundTripTest : public testing::TestWithParam<std::string> {};

TEST_P(RoundTripTest, SaveThenLoadGivesIdenticalOutputs) {
  torch::manual_seed(7);
  auto model = Make(GetParam(), SmallConfig());
  const std::string dir = TempDir("roundtrip_" + GetParam());
  ASSERT_TRUE(SavePretrained(*model, dir).ok());
  LoadOptions strict;
  strict.strict = true;
  auto loaded = LoadPretrained(dir, strict);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->model->architecture(), GetParam());
  ModelInput input = Batch();
  if (GetParam().rfind("DistilBert", 0) == 0) input.token_type_ids = at::Tensor();
  torch::NoGradGuard no_grad;
  const auto a = model->forward(input).Named();
  const auto b = loaded->model->forward(input).Named();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].first, b[i].first);
    EXPECT_TRUE(at::equal(a[i].second, b[i].second)) << a[i].first;
  }
}

INSTANTIATE_TEST_SUITE_P(AllArchitectures, RoundTripTest,
                         testing::Values("BertModel", "BertForMaskedLM", "BertForPreTraining",
                                         "BertForQuestionAnswering",
                                         "BertForSequenceClassification", "DistilBertModel",
                                         "DistilBertForMaskedLM",
                                         "DistilBertForQuestionAnswering",
                                         "DistilBertForSequenceClassification"));

TEST(HfCheckpointTest, SparseWeightsSurviveBitExactly) {
  torch::manual_seed(8);
  auto model = Make("BertForQuestionAnswering", SmallConfig());
  {
    torch::NoGradGuard no_grad;
    for (auto& item : model->named_parameters()) {
      at::Tensor& w = item.value();
      if (w.dim() == 2) w.mul_(at::rand_like(w).ge(0.9));  // ~90% exact zeros.
    }
  }
  const std::string dir = TempDir("sparse");
  ASSERT_TRUE(SavePretrained(*model, dir).ok());
  auto loaded = LoadPretrained(dir);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  auto reloaded = loaded->model->named_parameters();
  for (const auto& item : model->named_parameters()) {
    const at::Tensor& after = reloaded[item.key()];
    EXPECT_TRUE(at::equal(item.value(), after)) << item.key();
    EXPECT_EQ(item.value().eq(0).sum().item<int64_t>(), after.eq(0).sum().item<int64_t>());
  }
}

TEST(HfCheckpointTest, BaseCheckpointIntoQaHeadReportsFreshHead) {
  torch::manual_seed(9);
  auto base = Make("BertModel", SmallConfig());
  const std::string dir = TempDir("base");
  ASSERT_TRUE(SavePretrained(*base, dir).ok());
  LoadOptions options;
  options.architecture = "BertForQuestionAnswering";
  auto loaded = LoadPretrained(dir, options);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->report.missing_keys,
            (std::vector<std::string>{"qa_outputs.weight", "qa_outputs.bias"}));
  EXPECT_EQ(loaded->report.unexpected_keys,
            (std::vector<std::string>{"pooler.dense.weight", "pooler.dense.bias"}));
  EXPECT_NE(loaded->report.ToString().find("newly initialized: [qa_outputs.weight"),
            std::string::npos);
  // The encoder weights arrived under the "bert." prefix.
  auto head = std::dynamic_pointer_cast<BertForQuestionAnsweringImpl>(loaded->model);
  ASSERT_NE(head, nullptr);
  EXPECT_TRUE(at::equal(head->bert->embeddings->word_embeddings->weight,
                        base->named_parameters()["embeddings.word_embeddings.weight"]));
  options.strict = true;
  EXPECT_FALSE(LoadPretrained(dir, options).ok());
}

TEST(HfCheckpointTest, HeadCheckpointIntoBareModelStripsPrefix) {
  torch::manual_seed(10);
  auto pretraining = Make("BertForPreTraining", SmallConfig());
  const std::string dir = TempDir("pretraining");
  ASSERT_TRUE(SavePretrained(*pretraining, dir).ok());
  LoadOptions options;
  options.architecture = "BertModel";
  auto loaded = LoadPretrained(dir, options);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_TRUE(loaded->report.missing_keys.empty());
  EXPECT_TRUE(Contains(loaded->report.unexpected_keys, "cls.seq_relationship.weight"));
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(at::equal(loaded->model->forward(Batch()).last_hidden_state,
                        pretraining->forward(Batch()).last_hidden_state));
}

TEST(HfCheckpointTest, LegacyNamesAndTiedDecoderAliasesLoad) {
  torch::manual_seed(11);
  auto model = Make("BertForMaskedLM", SmallConfig());
  // Rewrite the checkpoint the way old TF conversions stored it: LayerNorm gamma/beta, and
  // the decoder bias under its own name instead of cls.predictions.bias.
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (auto& [name, tensor] : StateDict(*model)) {
    std::string key = name;
    if (key.find("LayerNorm.weight") != std::string::npos) key.replace(key.size() - 6, 6, "gamma");
    if (key.find("LayerNorm.bias") != std::string::npos) key.replace(key.size() - 4, 4, "beta");
    if (key == "cls.predictions.bias") key = "cls.predictions.decoder.bias";
    tensors.emplace_back(key, tensor);
  }
  tensors.emplace_back("bert.embeddings.position_ids", at::arange(16).view({1, 16}));
  const std::string dir = TempDir("legacy");
  fs::create_directories(dir);
  ASSERT_TRUE(base::WriteSafetensors(dir + "/model.safetensors", tensors).ok());
  ASSERT_TRUE(SaveBertConfig(model->config(), dir + "/config.json").ok());
  auto loaded = LoadPretrained(dir);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_TRUE(loaded->report.missing_keys.empty()) << loaded->report.ToString();
  EXPECT_TRUE(loaded->report.unexpected_keys.empty()) << loaded->report.ToString();
  EXPECT_TRUE(Contains(loaded->report.ignored_keys, "bert.embeddings.position_ids"));
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(at::equal(loaded->model->forward(Batch()).logits, model->forward(Batch()).logits));
}

TEST(HfCheckpointTest, ShardedIndexLoads) {
  torch::manual_seed(12);
  auto model = Make("BertForSequenceClassification", SmallConfig());
  const std::string dir = TempDir("sharded");
  fs::create_directories(dir);
  auto state = StateDict(*model);
  const size_t half = state.size() / 2;
  std::vector<std::pair<std::string, at::Tensor>> first(state.begin(), state.begin() + half);
  std::vector<std::pair<std::string, at::Tensor>> second(state.begin() + half, state.end());
  ASSERT_TRUE(base::WriteSafetensors(dir + "/model-00001-of-00002.safetensors", first).ok());
  ASSERT_TRUE(base::WriteSafetensors(dir + "/model-00002-of-00002.safetensors", second).ok());
  std::string index = "{\"metadata\": {}, \"weight_map\": {";
  for (size_t i = 0; i < state.size(); ++i) {
    index += (i ? ", \"" : "\"") + state[i].first + "\": \"model-0000" +
             (i < half ? "1" : "2") + "-of-00002.safetensors\"";
  }
  index += "}}";
  ASSERT_TRUE(base::WriteStringToFileAtomically(dir + "/model.safetensors.index.json", index).ok());
  ASSERT_TRUE(SaveBertConfig(model->config(), dir + "/config.json").ok());
  LoadOptions strict;
  strict.strict = true;
  auto loaded = LoadPretrained(dir, strict);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(at::equal(loaded->model->forward(Batch()).logits, model->forward(Batch()).logits));

  fs::remove(dir + "/model-00002-of-00002.safetensors");
  auto broken = LoadPretrained(dir);
  ASSERT_FALSE(broken.ok());
  EXPECT_NE(broken.status().message().find("shard 'model-00002-of-00002.safetensors'"),
            std::string::npos)
      << broken.status();
}

TEST(HfCheckpointTest, TruncatedCheckpointIsAClearError) {
  auto model = Make("BertForQuestionAnswering", SmallConfig());
  const std::string dir = TempDir("truncated");
  ASSERT_TRUE(SavePretrained(*model, dir).ok());
  const std::string file = dir + "/model.safetensors";
  fs::resize_file(file, fs::file_size(file) - 100);
  auto loaded = LoadPretrained(dir);
  ASSERT_FALSE(loaded.ok());
  EXPECT_NE(loaded.status().message().find(file), std::string::npos) << loaded.status();
}

TEST(HfCheckpointTest, WrongConfigFieldIsAClearError) {
  auto model = Make("BertForQuestionAnswering", SmallConfig());
  const std::string dir = TempDir("badconfig");
  ASSERT_TRUE(SavePretrained(*model, dir).ok());
  std::ofstream(dir + "/config.json") << R"({"model_type": "bert", "vocab_size": 40,
      "hidden_size": "sixteen", "num_hidden_layers": 2, "num_attention_heads": 2,
      "intermediate_size": 32})";
  auto loaded = LoadPretrained(dir);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().message(),
            dir + "/config.json: field 'hidden_size' must be an integer, got \"sixteen\"");
}

TEST(HfCheckpointTest, ShapeMismatchNamesKeyAndShapes) {
  auto model = Make("BertForQuestionAnswering", SmallConfig());
  const std::string dir = TempDir("mismatch");
  ASSERT_TRUE(SavePretrained(*model, dir).ok());
  BertConfig bigger = model->config();
  bigger.vocab_size = 41;
  ASSERT_TRUE(SaveBertConfig(bigger, dir + "/config.json").ok());
  auto loaded = LoadPretrained(dir);
  ASSERT_FALSE(loaded.ok());
  EXPECT_NE(loaded.status().message().find(
                "'bert.embeddings.word_embeddings.weight' has shape [40, 16] but "
                "BertForQuestionAnswering expects [41, 16]"),
            std::string::npos)
      << loaded.status();
}

TEST(HfCheckpointTest, MissingWeightsFileIsNotFound) {
  auto model = Make("BertModel", SmallConfig());
  const std::string dir = TempDir("noweights");
  ASSERT_TRUE(SavePretrained(*model, dir).ok());
  fs::remove(dir + "/model.safetensors");
  auto loaded = LoadPretrained(dir);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace models
