// Numerical conformance with Hugging Face: each fixture in testdata/ holds a checkpoint
// and the outputs of an independent reference implementation (testdata/make_reference.py,
// plain PyTorch), which our models must reproduce to 1e-5.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/utils.h>

#include <nlohmann/json.hpp>
#include <string>

#include "base/atomic_file.h"
#include "models/hf_checkpoint.h"

namespace models {
namespace {

using Json = nlohmann::json;

constexpr double kTolerance = 1e-5;

// Nested JSON lists -> tensor of the given dtype.
at::Tensor FromJson(const Json& value, at::ScalarType dtype) {
  std::vector<int64_t> shape;
  const Json* level = &value;
  while (level->is_array()) {
    shape.push_back(static_cast<int64_t>(level->size()));
    if (level->empty()) break;
    level = &(*level)[0];
  }
  std::vector<double> flat;
  std::function<void(const Json&)> collect = [&](const Json& v) {
    if (v.is_array()) {
      for (const Json& item : v) collect(item);
    } else {
      flat.push_back(v.get<double>());
    }
  };
  collect(value);
  return at::tensor(flat, at::kDouble).view(shape).to(dtype);
}

double MaxAbsDiff(const at::Tensor& a, const at::Tensor& b) {
  EXPECT_EQ(a.sizes(), b.sizes());
  if (a.sizes() != b.sizes()) return 1e9;
  return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
}

class ConformanceTest : public testing::TestWithParam<std::string> {};

TEST_P(ConformanceTest, MatchesReferenceOutputs) {
  const std::string dir = "models/testdata/" + GetParam();
  auto expected_text = base::ReadFileToString(dir + "/expected.json");
  ASSERT_TRUE(expected_text.ok()) << expected_text.status();
  const Json expected = Json::parse(*expected_text);

  LoadOptions options;
  options.strict = true;  // Every tensor of the fixture must be used, every parameter set.
  auto loaded = LoadPretrained(dir, options);
  ASSERT_TRUE(loaded.ok()) << loaded.status();

  ModelInput input;
  input.input_ids = FromJson(expected["inputs"]["input_ids"], at::kLong);
  input.attention_mask = FromJson(expected["inputs"]["attention_mask"], at::kLong);
  if (expected["inputs"].contains("token_type_ids")) {
    input.token_type_ids = FromJson(expected["inputs"]["token_type_ids"], at::kLong);
  }
  input.output_hidden_states = true;
  input.output_attentions = true;
  torch::NoGradGuard no_grad;
  const ModelOutput out = loaded->model->forward(input);

  std::map<std::string, at::Tensor> named;
  for (const auto& [name, tensor] : out.Named()) named[name] = tensor;
  ASSERT_EQ(named.size(), expected["outputs"].size());
  for (const auto& [name, value] : expected["outputs"].items()) {
    ASSERT_TRUE(named.count(name)) << "missing output " << name;
    EXPECT_LT(MaxAbsDiff(named[name], FromJson(value, at::kFloat)), kTolerance) << name;
  }
  ASSERT_EQ(out.hidden_states.size(), expected["hidden_states"].size());
  for (size_t i = 0; i < out.hidden_states.size(); ++i) {
    EXPECT_LT(MaxAbsDiff(out.hidden_states[i], FromJson(expected["hidden_states"][i], at::kFloat)),
              kTolerance)
        << "hidden_states[" << i << "]";
  }
  ASSERT_EQ(out.attentions.size(), expected["attentions"].size());
  for (size_t i = 0; i < out.attentions.size(); ++i) {
    EXPECT_LT(MaxAbsDiff(out.attentions[i], FromJson(expected["attentions"][i], at::kFloat)),
              kTolerance)
        << "attentions[" << i << "]";
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ConformanceTest,
                         testing::Values("bert_qa", "bert_pretraining", "bert_cls",
                                         "distilbert_qa", "distilbert_cls"));

}  // namespace
}  // namespace models
