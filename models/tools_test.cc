// Runs the built tools the way a user (or an outside conformance check) does.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "base/atomic_file.h"
#include "tests/run_command.h"

namespace {

using Json = nlohmann::json;

using Result = tests::CommandResult;
using tests::RunCommand;

double MaxDiff(const Json& a, const Json& b) {
  if (a.is_number()) return std::fabs(a.get<double>() - b.get<double>());
  EXPECT_EQ(a.size(), b.size());
  double worst = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) worst = std::max(worst, MaxDiff(a[i], b[i]));
  return worst;
}

std::string Join(const Json& list) {
  std::string text;
  for (const Json& v : list) text += (text.empty() ? "" : ",") + std::to_string(v.get<int>());
  return text;
}

TEST(BertForwardToolTest, PrintsReferenceOutputsAsJson) {
  for (const std::string name : {"bert_qa", "bert_cls", "bert_pretraining", "distilbert_qa"}) {
    const std::string dir = "models/testdata/" + name;
    const Json expected = Json::parse(*base::ReadFileToString(dir + "/expected.json"));
    // Row 0 of the fixture batch: no padding, so batch 1 reproduces it exactly.
    std::string command = "models/bert_forward --model_dir=" + dir +
                          " --input_ids=" + Join(expected["inputs"]["input_ids"][0]);
    if (expected["inputs"].contains("token_type_ids")) {
      command += " --token_type_ids=" + Join(expected["inputs"]["token_type_ids"][0]);
    }
    const Result result = RunCommand(command);
    ASSERT_EQ(result.exit_code, 0) << result.err;
    const Json output = Json::parse(result.out);
    ASSERT_EQ(output.size(), expected["outputs"].size()) << result.out.substr(0, 200);
    for (const auto& [key, value] : expected["outputs"].items()) {
      ASSERT_TRUE(output.contains(key)) << name << " lacks " << key;
      ASSERT_EQ(output[key].size(), 1u) << "batch dimension of 1";
      EXPECT_LT(MaxDiff(output[key][0], value[0]), 1e-5) << name << " " << key;
    }
  }
}

TEST(BertForwardToolTest, BadInputIsOneLineAndNonZero) {
  const struct {
    std::string args, message;
  } cases[] = {
      {"--model_dir=/nonexistent --input_ids=1,2", "/nonexistent/config.json"},
      {"--model_dir=models/testdata/bert_qa --input_ids=1,x", "--input_ids: 'x' is not an integer"},
      {"--model_dir=models/testdata/bert_qa --input_ids=1,2 --attention_mask=1",
       "--attention_mask has 1 values but --input_ids has 2"},
      {"--model_dir=models/testdata/bert_qa --input_ids=1,999", "vocab_size=64"},
      {"--model_dir=models/testdata/bert_qa", "--input_ids is required"},
  };
  for (const auto& c : cases) {
    const Result result = RunCommand("models/bert_forward " + c.args);
    EXPECT_NE(result.exit_code, 0) << c.args;
    EXPECT_TRUE(result.out.empty()) << c.args;
    EXPECT_NE(result.err.find(c.message), std::string::npos) << c.args << ": " << result.err;
    EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << result.err;
  }
}

TEST(CreateAndInspectToolTest, CreatedModelInspectsAndRuns) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string dir = std::string(tmp ? tmp : "/tmp") + "/created";
  Result created = RunCommand("models/create_model --preset=bert-tiny --vocab_size=100 "
                       "--architecture=BertForSequenceClassification --num_labels=3 "
                       "--output_dir=" + dir);
  ASSERT_EQ(created.exit_code, 0) << created.err;
  Result inspected = RunCommand("models/inspect_model --json --model_dir=" + dir);
  ASSERT_EQ(inspected.exit_code, 0) << inspected.err;
  const Json summary = Json::parse(inspected.out);
  EXPECT_EQ(summary["architecture"], "BertForSequenceClassification");
  EXPECT_EQ(summary["num_hidden_layers"], 2);
  // 2 layers x (4 x 128x128 + 2 x 128x512) + pooler 128x128 + classifier 3x128.
  EXPECT_EQ(summary["linear_parameters"], 2 * (4 * 128 * 128 + 2 * 128 * 512) + 128 * 128 + 3 * 128);
  EXPECT_EQ(summary["linear_sparsity"], 0.0);
  Result forward = RunCommand("models/bert_forward --model_dir=" + dir + " --input_ids=1,7,2");
  ASSERT_EQ(forward.exit_code, 0) << forward.err;
  EXPECT_EQ(Json::parse(forward.out)["logits"][0].size(), 3u);
  Result bad = RunCommand("models/create_model --preset=bert-huge --output_dir=" + dir);
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("unknown model preset \"bert-huge\""), std::string::npos) << bad.err;
}

// --vocab: the directory is a whole Hugging Face repository, vocab_size from the vocabulary.
TEST(CreateAndInspectToolTest, VocabAddsTheTokenizerFiles) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string dir = std::string(tmp ? tmp : "/tmp") + "/with_vocab";
  Result created = RunCommand(
      "models/create_model --preset=bert-tiny --architecture=BertForQuestionAnswering "
      "--vocab=models/tokenizers/testdata/vocab.txt --output_dir=" + dir);
  ASSERT_EQ(created.exit_code, 0) << created.err;
  for (const char* file : {"config.json", "model.safetensors", "vocab.txt", "tokenizer.json",
                           "tokenizer_config.json", "special_tokens_map.json"}) {
    EXPECT_TRUE(std::filesystem::exists(dir + "/" + file)) << file;
  }
  std::ifstream config_file(dir + "/config.json");
  const Json config = Json::parse(config_file);
  EXPECT_EQ(config["vocab_size"], 44);
  EXPECT_EQ(config["model_type"], "bert");
  EXPECT_EQ(config["architectures"][0], "BertForQuestionAnswering");
  Result bad = RunCommand("models/create_model --preset=bert-tiny --vocab_size=10 "
                          "--vocab=models/tokenizers/testdata/vocab.txt --output_dir=" + dir);
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("--vocab_size=10 is smaller than --vocab"), std::string::npos) << bad.err;
}

}  // namespace

namespace {

// The BLAS probe, end to end: point the dynamic linker at Debian's reference libblas and
// the tool must say so on stderr, naming the package to install.
TEST(BlasProbeToolTest, WarnsOnReferenceBlasOnly) {
  const std::string reference_dir = "/usr/lib/x86_64-linux-gnu/blas";
  if (!std::ifstream(reference_dir + "/libblas.so.3").good()) {
    GTEST_SKIP() << "Debian's reference libblas3 is not installed";
  }
  const std::string tool = "models/inspect_model --json --model_dir=models/testdata/bert_qa";
  const Result normal = RunCommand(tool);
  ASSERT_EQ(normal.exit_code, 0) << normal.err;
  EXPECT_EQ(normal.err.find("reference BLAS"), std::string::npos) << normal.err;
  const Result slow = RunCommand("LD_LIBRARY_PATH=" + reference_dir + " " + tool);
  ASSERT_EQ(slow.exit_code, 0) << slow.err;
  EXPECT_NE(slow.err.find("apt-get install libopenblas0-openmp"), std::string::npos)
      << slow.err;
}

}  // namespace
