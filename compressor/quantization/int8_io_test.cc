// Saving and loading INT8-converted models: a fresh fp32 model loaded from the file runs
// bit-identically to the converted model, the file is smaller than the fp32 one, and
// corrupted files are errors naming the tensor or module that leave the model unchanged.
#include "compressor/quantization/int8_io.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/utils.h>

#include "base/safetensors.h"
#include "base/unary_module.h"
#include "compressor/component.h"
#include "compressor/quantization/convert.h"
#include "compressor/quantization/qat.h"
#include "compressor/quantization/quantization.h"
#include "layers/linear.h"
#include "models/auto_model.h"
#include "models/bert_config.h"
#include "models/test_config.h"

namespace {

using compressor::ConvertToInt8;
using compressor::Int8Modules;
using compressor::LoadQuantizedState;
using compressor::QuantizationConfig;
using compressor::QuantizedModules;
using compressor::SaveQuantizedState;

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string(dir ? dir : "/tmp") + "/" + name;
}

int64_t FileSize(const std::string& path) {
  return static_cast<int64_t>(std::filesystem::file_size(path));
}

std::string Printed(const compressor::Int8LinearModuleImpl& module) {
  std::ostringstream s;
  module.pretty_print(s);
  return s.str();
}

// As in convert_test: Linears called through the registry, as models/ does.
class Mlp : public torch::nn::Module {
 public:
  Mlp() {
    register_module("fc1", layers::Linear(16, 32));
    register_module("fc2", layers::Linear(32, 32));
    register_module("head", layers::Linear(32, 8));
  }
  at::Tensor forward(const at::Tensor& x) {
    at::Tensor h = at::relu(base::ForwardChild(*this, "fc1", x));
    h = at::relu(base::ForwardChild(*this, "fc2", h));
    return base::ForwardChild(*this, "head", h);
  }
};

// An MLP with half of fc2's weights exactly zero, prepared, observed/calibrated, frozen
// and converted. `pruned` receives fc2's zero mask.
std::shared_ptr<Mlp> ConvertedMlp(const QuantizationConfig& config, at::Tensor* pruned) {
  torch::manual_seed(0);
  auto model = std::make_shared<Mlp>();
  {
    torch::NoGradGuard no_grad;
    auto fc2 = model->named_children()["fc2"]->as<layers::Linear>();
    fc2->weight.mul_(at::rand_like(fc2->weight).gt(0.5));
    if (pruned) *pruned = fc2->weight.eq(0).clone();
  }
  auto swapped = compressor::PrepareModel(*model, config);
  EXPECT_TRUE(swapped.ok()) << swapped.status();
  const bool calibrate = config.approach == "post_training_static_quant";
  for (const auto& [name, module] : QuantizedModules(*model)) module->set_calibrating(calibrate);
  model->train();
  {
    torch::NoGradGuard no_grad;
    for (int i = 0; i < 8; ++i) model->forward(at::randn({16, 16}));
  }
  for (const auto& [name, module] : QuantizedModules(*model)) module->Freeze();
  model->eval();
  auto converted = ConvertToInt8(*model);
  EXPECT_TRUE(converted.ok()) << converted.status();
  return model;
}

std::shared_ptr<Mlp> FreshMlp() {
  torch::manual_seed(123);  // Different weights from the saved model.
  return std::make_shared<Mlp>();
}

void CheckMlpRoundTrip(const QuantizationConfig& config, const std::string& file) {
  at::Tensor pruned;
  auto model = ConvertedMlp(config, &pruned);
  torch::manual_seed(7);
  const at::Tensor x = at::randn({64, 16});
  const at::Tensor expected = model->forward(x);

  const std::string path = TempPath(file);
  const std::string fp32_path = TempPath(file + ".fp32");
  ASSERT_TRUE(SaveQuantizedState(*model, path).ok());

  auto fresh = FreshMlp();
  ASSERT_TRUE(SaveQuantizedState(*fresh, fp32_path).ok());  // No Int8 modules: plain fp32.
  auto loaded = LoadQuantizedState(*fresh, path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(*loaded, (std::vector<std::string>{"fc1", "fc2", "head"}));
  EXPECT_EQ(fresh->named_parameters().size(), 0u);

  const at::Tensor actual = fresh->forward(x);
  EXPECT_TRUE(at::equal(actual, expected))
      << "max diff " << (actual - expected).abs().max().item<double>();

  auto original = Int8Modules(*model);
  auto restored = Int8Modules(*fresh);
  ASSERT_EQ(restored.size(), original.size());
  for (size_t i = 0; i < original.size(); ++i) {
    const auto& a = *original[i].second;
    const auto& b = *restored[i].second;
    EXPECT_EQ(original[i].first, restored[i].first);
    EXPECT_EQ(Printed(a), Printed(b));
    EXPECT_TRUE(at::equal(a.params().weight_int8, b.params().weight_int8));
    EXPECT_TRUE(at::equal(a.params().weight_scales, b.params().weight_scales));
    EXPECT_EQ(a.params().input_scale, b.params().input_scale);
    EXPECT_EQ(a.params().input_zero_point, b.params().input_zero_point);
    EXPECT_EQ(a.dynamic(), b.dynamic());
    EXPECT_EQ(a.requantizes_output(), b.requantizes_output());
    EXPECT_EQ(a.zero_weights(), b.zero_weights());
  }
  // Exact zeros stay zero.
  const at::Tensor w = restored[1].second->params().weight_int8;
  EXPECT_TRUE(w.masked_select(pruned).eq(0).all().item<bool>());

  const int64_t int8_size = FileSize(path);
  const int64_t fp32_size = FileSize(fp32_path);
  std::cout << config.approach << " MLP: int8 file " << int8_size << " B, fp32 file "
            << fp32_size << " B, ratio fp32/int8 = "
            << static_cast<double>(fp32_size) / int8_size << "\n";
  EXPECT_LT(int8_size, fp32_size);
}

TEST(Int8IoTest, MlpQatPerTensorRequantizedRoundTrip) {
  CheckMlpRoundTrip(QuantizationConfig{}, "mlp_qat.safetensors");
}

TEST(Int8IoTest, MlpIncFxPerChannelRoundTrip) {
  CheckMlpRoundTrip(*QuantizationConfig::Preset("inc_fx"), "mlp_fx.safetensors");
}

TEST(Int8IoTest, MlpStaticInt8SymmetricRoundTrip) {
  QuantizationConfig config;
  config.approach = "post_training_static_quant";
  config.activation_observer = "minmax";
  config.activation = compressor::QuantScheme::Int8SymmetricPerTensor();
  CheckMlpRoundTrip(config, "mlp_static.safetensors");
}

TEST(Int8IoTest, MlpDynamicRoundTrip) {
  QuantizationConfig config;
  config.approach = "post_training_dynamic_quant";
  config.outputs_not_requantized = {".*"};
  CheckMlpRoundTrip(config, "mlp_dynamic.safetensors");
}

TEST(Int8IoTest, MetadataDescribesEachInt8Module) {
  auto model = ConvertedMlp(*QuantizationConfig::Preset("inc_fx"), nullptr);
  const std::string path = TempPath("mlp_meta.safetensors");
  ASSERT_TRUE(SaveQuantizedState(*model, path).ok());
  auto reader = base::SafetensorsReader::Open(path);
  ASSERT_TRUE(reader.ok()) << reader.status();
  const auto& metadata = (*reader)->metadata();
  ASSERT_EQ(metadata.size(), 3u);
  ASSERT_EQ(metadata.count("fc2"), 1u);
  std::cout << "fc2 metadata: " << metadata.at("fc2") << "\n";
  EXPECT_NE(metadata.at("fc2").find("\"weight\":\"per-channel\""), std::string::npos);
  const base::SafetensorsTensorInfo* w = (*reader)->Find("fc2.weight");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->dtype, base::SafetensorsDtype::kI8);
}

// Rewrites `path` to `out` with `edit` applied to the tensor map and the metadata.
void Rewrite(const std::string& path, const std::string& out,
             const std::function<void(std::map<std::string, at::Tensor>&,
                                      std::map<std::string, std::string>&)>& edit) {
  auto reader = base::SafetensorsReader::Open(path);
  ASSERT_TRUE(reader.ok()) << reader.status();
  std::map<std::string, at::Tensor> tensors;
  for (const auto& info : (*reader)->tensors()) tensors[info.name] = *(*reader)->Load(info.name);
  std::map<std::string, std::string> metadata = (*reader)->metadata();
  edit(tensors, metadata);
  std::vector<std::pair<std::string, at::Tensor>> list(tensors.begin(), tensors.end());
  std::stable_sort(list.begin(), list.end(), [](const auto& a, const auto& b) {
    return a.second.element_size() > b.second.element_size();
  });
  ASSERT_TRUE(base::WriteSafetensors(out, list, metadata).ok());
}

// Loads `path` into a fresh MLP, expects an error mentioning every string of `needles`
// and the model left untouched.
void ExpectLoadError(const std::string& path, const std::vector<std::string>& needles) {
  auto fresh = FreshMlp();
  std::vector<at::Tensor> before;
  for (const auto& p : fresh->parameters()) before.push_back(p.detach().clone());
  auto loaded = LoadQuantizedState(*fresh, path);
  ASSERT_FALSE(loaded.ok());
  const std::string message(loaded.status().message());
  std::cout << "error: " << message << "\n";
  for (const std::string& needle : needles) {
    EXPECT_NE(message.find(needle), std::string::npos) << message << " lacks " << needle;
  }
  EXPECT_NE(message.find(path), std::string::npos) << message;
  EXPECT_TRUE(Int8Modules(*fresh).empty());
  const auto after = fresh->parameters();
  ASSERT_EQ(after.size(), before.size());
  for (size_t i = 0; i < before.size(); ++i) EXPECT_TRUE(at::equal(after[i], before[i]));
}

TEST(Int8IoTest, CorruptedFilesAreErrorsNamingTheTensorOrModule) {
  auto model = ConvertedMlp(QuantizationConfig{}, nullptr);
  const std::string path = TempPath("mlp_good.safetensors");
  ASSERT_TRUE(SaveQuantizedState(*model, path).ok());
  using Tensors = std::map<std::string, at::Tensor>;
  using Meta = std::map<std::string, std::string>;

  const std::string missing = TempPath("mlp_missing.safetensors");
  Rewrite(path, missing, [](Tensors& t, Meta&) { t.erase("fc2.weight_scale"); });
  ExpectLoadError(missing, {"missing tensor", "'fc2.weight_scale'"});

  const std::string missing_fp32 = TempPath("mlp_missing_int8_weight.safetensors");
  Rewrite(path, missing_fp32, [](Tensors& t, Meta&) { t.erase("head.weight"); });
  ExpectLoadError(missing_fp32, {"missing tensor", "'head.weight'"});

  const std::string shape = TempPath("mlp_shape.safetensors");
  Rewrite(path, shape, [](Tensors& t, Meta&) { t["fc1.bias"] = at::zeros({31}); });
  ExpectLoadError(shape, {"'fc1.bias'", "shape"});

  const std::string dtype = TempPath("mlp_dtype.safetensors");
  Rewrite(path, dtype, [](Tensors& t, Meta&) {
    t["fc1.weight"] = t["fc1.weight"].to(at::kFloat);
  });
  ExpectLoadError(dtype, {"'fc1.weight'", "dtype"});

  const std::string unknown = TempPath("mlp_unknown.safetensors");
  Rewrite(path, unknown, [](Tensors&, Meta& m) { m["fc3"] = m["fc1"]; });
  ExpectLoadError(unknown, {"unknown module", "'fc3'"});

  const std::string malformed = TempPath("mlp_malformed.safetensors");
  Rewrite(path, malformed, [](Tensors&, Meta& m) { m["fc2"] = "{not json"; });
  ExpectLoadError(malformed, {"'fc2'", "malformed metadata"});

  const std::string bad_field = TempPath("mlp_bad_field.safetensors");
  Rewrite(path, bad_field, [](Tensors&, Meta& m) {
    const size_t at = m["head"].find("\"dynamic\":false");
    ASSERT_NE(at, std::string::npos);
    m["head"].replace(at, 15, "\"dynamic\":7");
  });
  ExpectLoadError(bad_field, {"'head'", "malformed metadata", "'dynamic'"});

  const std::string extra = TempPath("mlp_extra.safetensors");
  Rewrite(path, extra, [](Tensors& t, Meta&) { t["stray"] = at::zeros({2}); });
  ExpectLoadError(extra, {"unexpected tensor", "'stray'"});

  const std::string absent = TempPath("no_such_file.safetensors");
  ExpectLoadError(absent, {});

  // Truncated: the reader rejects it.
  const std::string truncated = TempPath("mlp_truncated.safetensors");
  std::filesystem::copy_file(path, truncated,
                             std::filesystem::copy_options::overwrite_existing);
  std::filesystem::resize_file(truncated, FileSize(path) - 100);
  ExpectLoadError(truncated, {});

  // The intact file still loads.
  auto fresh = FreshMlp();
  EXPECT_TRUE(LoadQuantizedState(*fresh, path).ok());
}

TEST(Int8IoTest, TinyBertQuestionAnsweringRoundTrip) {
  torch::manual_seed(0);
  auto model = *models::CreateModel(models::TinyTestConfig(64, 32), "BertForQuestionAnswering");
  QuantizationConfig config;
  config.approach = "post_training_static_quant";
  config.activation_observer = "minmax";
  ASSERT_TRUE(compressor::PrepareModel(*model, config).ok());
  auto q = QuantizedModules(*model);
  for (auto& [name, module] : q) module->set_calibrating(true);
  model->eval();
  torch::NoGradGuard no_grad;
  for (int i = 0; i < 4; ++i) {
    models::ModelInput calib;
    calib.input_ids = at::randint(1, 64, {4, 12}, at::kLong);
    model->forward(calib);
  }
  for (auto& [name, module] : q) module->Freeze();
  auto converted = ConvertToInt8(*model);
  ASSERT_TRUE(converted.ok()) << converted.status();
  models::ModelInput input;
  input.input_ids = at::randint(1, 64, {2, 12}, at::kLong);
  const auto expected = model->forward(input);

  const std::string path = TempPath("bert_int8.safetensors");
  const std::string fp32_path = TempPath("bert_fp32.safetensors");
  ASSERT_TRUE(SaveQuantizedState(*model, path).ok());

  torch::manual_seed(99);
  auto fresh = *models::CreateModel(models::TinyTestConfig(64, 32), "BertForQuestionAnswering");
  fresh->eval();
  ASSERT_TRUE(SaveQuantizedState(*fresh, fp32_path).ok());
  auto loaded = LoadQuantizedState(*fresh, path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  std::vector<std::string> sorted = *converted;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(*loaded, sorted);  // Metadata order: sorted by name.
  EXPECT_EQ(loaded->size(), size_t(2 * 6 + 1));
  EXPECT_EQ(Int8Modules(*fresh).size(), size_t(2 * 6 + 1));

  const auto actual = fresh->forward(input);
  EXPECT_TRUE(at::equal(actual.start_logits, expected.start_logits));
  EXPECT_TRUE(at::equal(actual.end_logits, expected.end_logits));

  const int64_t int8_size = FileSize(path);
  const int64_t fp32_size = FileSize(fp32_path);
  std::cout << "tiny BERT QA: int8 file " << int8_size << " B, fp32 file " << fp32_size
            << " B, ratio fp32/int8 = " << static_cast<double>(fp32_size) / int8_size << "\n";
  EXPECT_LT(int8_size, fp32_size);

  // The converted Linears' weights alone: int8 instead of fp32, exactly 4x smaller.
  auto int8_reader = base::SafetensorsReader::Open(path);
  auto fp32_reader = base::SafetensorsReader::Open(fp32_path);
  ASSERT_TRUE(int8_reader.ok() && fp32_reader.ok());
  uint64_t int8_bytes = 0, fp32_bytes = 0;
  for (const std::string& name : *loaded) {
    const auto* a = (*int8_reader)->Find(name + ".weight");
    const auto* b = (*fp32_reader)->Find(name + ".weight");
    ASSERT_TRUE(a != nullptr && b != nullptr) << name;
    EXPECT_EQ(a->dtype, base::SafetensorsDtype::kI8);
    int8_bytes += a->end - a->begin;
    fp32_bytes += b->end - b->begin;
  }
  std::cout << "tiny BERT QA Linear weights: int8 " << int8_bytes << " B, fp32 " << fp32_bytes
            << " B, ratio " << static_cast<double>(fp32_bytes) / int8_bytes << "\n";
  EXPECT_EQ(fp32_bytes, 4 * int8_bytes);
}

// A BERT QA model quantized by the Quantization component (static PTQ, minmax, converted
// to INT8 at on_train_end), with or without 8-bit weight-only embeddings.
std::shared_ptr<models::PreTrainedModel> QuantizedBert(const models::BertConfig& bert,
                                                       bool quantize_embeddings,
                                                       int64_t seq_len = 12) {
  torch::manual_seed(0);
  auto model = *models::CreateModel(bert, "BertForQuestionAnswering");
  QuantizationConfig config;
  config.approach = "post_training_static_quant";
  config.activation_observer = "minmax";
  config.convert_to_int8 = true;
  config.quantize_embeddings = quantize_embeddings;
  compressor::Quantization quantization(config);
  compressor::TrainState state;
  state.model = model;
  EXPECT_TRUE(quantization.on_train_begin(state).ok());
  model->eval();
  {
    torch::NoGradGuard no_grad;
    for (int i = 0; i < 2; ++i) {
      models::ModelInput calib;
      calib.input_ids = at::randint(1, bert.vocab_size, {2, seq_len}, at::kLong);
      model->forward(calib);
    }
  }
  const absl::Status ended = quantization.on_train_end(state);
  EXPECT_TRUE(ended.ok()) << ended;
  EXPECT_EQ(quantization.summary().values.at("quantized_embeddings"),
            quantize_embeddings ? 3 : 0);  // word, position, token type.
  return model;
}

std::vector<std::string> EmbeddingNames(const torch::nn::Module& model) {
  std::vector<std::string> names;
  for (const auto& item : model.named_modules("", /*include_self=*/false)) {
    if (item.value()->as<torch::nn::Embedding>() != nullptr) names.push_back(item.key());
  }
  return names;
}

// quantize_embeddings stores the tables as int8 + per-row scales; a fresh model loaded from
// the file runs bit-identically to the fake-quantized one, the embedding tensors are 4x
// smaller, and the whole file shrinks by ~3/4 of the fp32 embedding bytes.
TEST(Int8IoTest, QuantizedEmbeddingsAreStoredAsInt8AndLoadBitIdentical) {
  const models::BertConfig bert = models::TinyTestConfig();
  auto model = QuantizedBert(bert, /*quantize_embeddings=*/true);
  auto baseline = QuantizedBert(bert, /*quantize_embeddings=*/false);
  torch::NoGradGuard no_grad;
  models::ModelInput input;
  input.input_ids = at::randint(1, bert.vocab_size, {2, 12}, at::kLong);
  const auto expected = model->forward(input);

  const std::string path = TempPath("bert_int8_embeddings.safetensors");
  const std::string baseline_path = TempPath("bert_int8_fp32_embeddings.safetensors");
  ASSERT_TRUE(SaveQuantizedState(*model, path).ok());
  ASSERT_TRUE(SaveQuantizedState(*baseline, baseline_path).ok());

  torch::manual_seed(99);
  auto fresh = *models::CreateModel(bert, "BertForQuestionAnswering");
  fresh->eval();
  auto loaded = LoadQuantizedState(*fresh, path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->size(), size_t(2 * 6 + 1));  // Linears only.
  const auto actual = fresh->forward(input);
  EXPECT_TRUE(at::equal(actual.start_logits, expected.start_logits));
  EXPECT_TRUE(at::equal(actual.end_logits, expected.end_logits));

  auto reader = base::SafetensorsReader::Open(path);
  auto baseline_reader = base::SafetensorsReader::Open(baseline_path);
  ASSERT_TRUE(reader.ok() && baseline_reader.ok());
  const std::vector<std::string> names = EmbeddingNames(*model);
  ASSERT_EQ(names.size(), size_t(3));
  auto modules = model->named_modules();
  auto fresh_modules = fresh->named_modules();
  uint64_t int8_bytes = 0, fp32_bytes = 0, scale_bytes = 0;
  for (const std::string& name : names) {
    const auto* q = (*reader)->Find(name + ".weight");
    const auto* scale = (*reader)->Find(name + ".weight_scale");
    const auto* f = (*baseline_reader)->Find(name + ".weight");
    ASSERT_TRUE(q != nullptr && scale != nullptr && f != nullptr) << name;
    EXPECT_EQ(q->dtype, base::SafetensorsDtype::kI8) << name;
    EXPECT_EQ(f->dtype, base::SafetensorsDtype::kF32) << name;
    EXPECT_EQ((*baseline_reader)->Find(name + ".weight_scale"), nullptr) << name;
    EXPECT_EQ((*baseline_reader)->metadata().count(name), size_t(0)) << name;
    EXPECT_EQ((*reader)->metadata().count(name), size_t(1)) << name;
    int8_bytes += q->end - q->begin;
    fp32_bytes += f->end - f->begin;
    scale_bytes += scale->end - scale->begin;
    // The fresh fp32 table holds exactly the fake-quantized values, bit for bit.
    const at::Tensor a = modules[name]->as<torch::nn::Embedding>()->weight;
    const at::Tensor b = fresh_modules[name]->as<torch::nn::Embedding>()->weight;
    EXPECT_EQ(b.scalar_type(), at::kFloat);
    EXPECT_TRUE(at::equal(a.contiguous().view(at::kInt), b.contiguous().view(at::kInt))) << name;
  }
  EXPECT_EQ(fp32_bytes, 4 * int8_bytes);
  const int64_t size = FileSize(path);
  const int64_t baseline_size = FileSize(baseline_path);
  const int64_t expected_saving =
      static_cast<int64_t>(fp32_bytes - int8_bytes) - static_cast<int64_t>(scale_bytes);
  std::cout << "tiny BERT QA int8: " << baseline_size << " B with fp32 embeddings, " << size
            << " B with int8 embeddings (embedding tables " << fp32_bytes << " B -> "
            << int8_bytes << " B + " << scale_bytes << " B scales)\n";
  // Only the header (three metadata entries, alignment) differs beyond the tensor bytes.
  EXPECT_NEAR(static_cast<double>(baseline_size - size), static_cast<double>(expected_saving),
              1024.0);
  EXPECT_GT(baseline_size - size, static_cast<int64_t>(fp32_bytes) / 2);

  // Saving the loaded model again keeps the tables int8: the same file.
  const std::string again = TempPath("bert_int8_embeddings_again.safetensors");
  ASSERT_TRUE(SaveQuantizedState(*fresh, again).ok());
  EXPECT_EQ(FileSize(again), size);
}

// A quantized table changed after quantization is no longer q * scale: saving it as int8
// would change outputs, so saving fails naming the embedding.
TEST(Int8IoTest, ModifiedQuantizedEmbeddingIsAnError) {
  auto model = QuantizedBert(models::TinyTestConfig(), /*quantize_embeddings=*/true);
  const std::string name = EmbeddingNames(*model).front();
  {
    torch::NoGradGuard no_grad;
    model->named_modules()[name]->as<torch::nn::Embedding>()->weight[1][2].add_(1e-3);
  }
  const std::string path = TempPath("bert_int8_modified_embedding.safetensors");
  const absl::Status status = SaveQuantizedState(*model, path);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(status.message().find("embedding '" + name + "'"), std::string::npos) << status;
  EXPECT_NE(status.message().find("1 of its values"), std::string::npos) << status;
  EXPECT_FALSE(std::filesystem::exists(path));
}

// An int8 embedding entry that does not fit the model is an error naming the module, and
// the model is left unchanged (all or nothing).
TEST(Int8IoTest, QuantizedEmbeddingShapeMismatchIsAnError) {
  auto model = QuantizedBert(models::TinyTestConfig(), /*quantize_embeddings=*/true);
  const std::string path = TempPath("bert_int8_embeddings_mismatch.safetensors");
  ASSERT_TRUE(SaveQuantizedState(*model, path).ok());
  auto other = *models::CreateModel(models::TinyTestConfig(/*vocab_size=*/80),
                                    "BertForQuestionAnswering");
  std::map<std::string, at::Tensor> before;
  for (const auto& item : other->named_parameters()) {
    before[item.key()] = item.value().detach().clone();
  }
  auto loaded = LoadQuantizedState(*other, path);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(loaded.status().message().find("module 'bert.embeddings.word_embeddings': the "
                                           "file has an Embedding(64, 32)"),
            std::string::npos)
      << loaded.status();
  for (const auto& item : other->named_parameters()) {
    EXPECT_TRUE(at::equal(item.value(), before[item.key()])) << item.key();
  }
}

// Measurement, not a unit test (run with --test_arg=--gtest_also_run_disabled_tests
// --test_filter='*BertTiny*'): the INT8 state of BERT-tiny with and without
// quantize_embeddings.
TEST(Int8IoTest, DISABLED_BertTinyStateSize) {
  auto bert = models::BertConfigPreset("bert-tiny");
  ASSERT_TRUE(bert.ok()) << bert.status();
  for (const bool embeddings : {false, true}) {
    auto model = QuantizedBert(*bert, embeddings, /*seq_len=*/32);
    const std::string path = TempPath("bert_tiny_int8.safetensors");
    ASSERT_TRUE(SaveQuantizedState(*model, path).ok());
    std::cout << "bert-tiny BertForQuestionAnswering INT8 state, quantize_embeddings="
              << (embeddings ? "true" : "false") << ": " << FileSize(path) << " B\n";
  }
}

}  // namespace
