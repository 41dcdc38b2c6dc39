#include "export/onnx_export.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/utils.h>

#include <cmath>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "compressor/quantization/convert.h"
#include "compressor/quantization/int8_io.h"
#include "compressor/quantization/qat.h"
#include "compressor/quantization/qscheme.h"
#include "export/onnx_reference_eval.h"
#include "layers/linear.h"
#include "models/auto_model.h"
#include "models/test_config.h"
#include "models/test_weights.h"
#include "onnx/checker.h"
#include "onnx/onnx_pb.h"

namespace exporter {
namespace {

models::BertConfig TinyConfig(const std::string& model_type = "bert") {
  models::BertConfig config = models::TinyTestConfig(64, 32);
  config.model_type = model_type;
  return config;
}

models::ModelInput Input(bool token_types = true) {
  torch::manual_seed(3);
  models::ModelInput input;
  input.input_ids = at::randint(1, 64, {2, 12}, at::kLong);
  input.attention_mask = at::ones({2, 12}, at::kLong);
  input.attention_mask[1].slice(0, 9).fill_(0);  // Padding in the second sequence.
  if (token_types) {
    input.token_type_ids = at::zeros({2, 12}, at::kLong);
    input.token_type_ids.slice(1, 6).fill_(1);
  }
  return input;
}

std::map<std::string, at::Tensor> OnnxInputs(const models::ModelInput& input) {
  std::map<std::string, at::Tensor> inputs = {{"input_ids", input.input_ids},
                                              {"attention_mask", input.attention_mask}};
  if (input.token_type_ids.defined()) inputs["token_type_ids"] = input.token_type_ids;
  return inputs;
}

// Relative max difference, against the reference's largest magnitude.
float RelDiff(const at::Tensor& got, const at::Tensor& reference) {
  return (got - reference).abs().max().item<float>() / reference.abs().max().item<float>();
}

// Zeroes the smaller half (by magnitude) of every Linear weight, as magnitude pruning does.
void PruneHalf(torch::nn::Module& model) {
  torch::NoGradGuard no_grad;
  for (const auto& item : model.named_modules()) {
    if (auto* linear = item.value()->as<layers::Linear>()) {
      const at::Tensor magnitude = linear->weight.abs();
      const at::Tensor threshold = magnitude.reshape({-1}).median();
      linear->weight.mul_((magnitude > threshold).to(at::kFloat));
    }
  }
}

// Static PTQ (calibrated on `input`), frozen, optionally converted to INT8 modules.
void Quantize(models::PreTrainedModel& model, const models::ModelInput& input,
              compressor::QuantizationConfig config, bool to_int8) {
  ASSERT_TRUE(compressor::PrepareModel(model, config).ok());
  torch::NoGradGuard no_grad;
  model.eval();
  const auto modules = compressor::QuantizedModules(model);
  if (config.approach == "post_training_static_quant") {
    for (const auto& [name, module] : modules) module->set_calibrating(true);
    model.forward(input);
  }
  for (const auto& [name, module] : modules) module->Freeze();
  if (to_int8) {
    ASSERT_TRUE(compressor::ConvertToInt8(model).ok());
  }
}

onnx::ModelProto Parse(const std::string& bytes) {
  onnx::ModelProto proto;
  EXPECT_TRUE(proto.ParseFromString(bytes));
  return proto;
}

std::map<std::string, int> CountOps(const onnx::ModelProto& proto) {
  std::map<std::string, int> counts;
  for (const auto& node : proto.graph().node()) ++counts[node.op_type()];
  return counts;
}

const onnx::TensorProto* FindInitializer(const onnx::ModelProto& proto, const std::string& name) {
  for (const auto& init : proto.graph().initializer()) {
    if (init.name() == name) return &init;
  }
  return nullptr;
}

at::Tensor Int8Initializer(const onnx::TensorProto& init) {
  std::vector<int64_t> dims(init.dims().begin(), init.dims().end());
  at::Tensor t = at::empty(dims, at::kChar);
  EXPECT_EQ(init.raw_data().size(), static_cast<size_t>(t.nbytes()));
  std::memcpy(t.data_ptr(), init.raw_data().data(), t.nbytes());
  return t;
}

// Structure of a pruned, statically quantized (fake-quant, frozen) BERT QA model: opset,
// Q/DQ per quantized Linear, dtypes, sparsity, checker; and its numerics.
TEST(OnnxExportTest, QuantizedBertHasQdqPerLinearAndKeepsSparsity) {
  torch::manual_seed(0);
  auto model = *models::CreateModel(TinyConfig(), "BertForQuestionAnswering");
  models::UnitGainLinears(*model);
  PruneHalf(*model);
  const models::ModelInput input = Input();
  compressor::QuantizationConfig config;  // Prune OFA: per-tensor weights, uint8 inputs.
  config.approach = "post_training_static_quant";
  config.activation_observer = "minmax";
  Quantize(*model, input, config, /*to_int8=*/false);

  OnnxExportSummary summary;
  absl::StatusOr<std::string> bytes = ExportOnnxBytes(*model, {}, &summary);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  const onnx::ModelProto proto = Parse(*bytes);
  ASSERT_EQ(proto.opset_import_size(), 1);
  EXPECT_EQ(proto.opset_import(0).version(), 13);
  EXPECT_NO_THROW(onnx::checker::check_model(proto));

  // 2 layers x 6 Linears + qa_outputs; re-quantized outputs (Prune OFA: not
  // output.dense / value / qa_outputs): query, key, intermediate.dense per layer.
  EXPECT_EQ(summary.quantized_linears, 13);
  EXPECT_EQ(summary.fp32_linears, 0);
  EXPECT_EQ(summary.requantized_outputs, 6);
  const std::map<std::string, int> ops = CountOps(proto);
  EXPECT_EQ(ops.at("QuantizeLinear"), 13 + 6);
  EXPECT_EQ(ops.at("DequantizeLinear"), 2 * 13 + 6);
  EXPECT_EQ(ops.at("MatMul"), 13 + 2 * 2);  // Linears + QK^T and PV per layer.
  EXPECT_EQ(ops.at("Erf"), 2);              // Exact GELU per layer.
  EXPECT_EQ(ops.at("Softmax"), 2);
  EXPECT_EQ(ops.count("LayerNormalization"), 0u);  // Opset 13: decomposed.
  EXPECT_EQ(ops.at("ReduceMean"), 2 * (1 + 2 * 2));  // Embeddings + 2 per layer.
  EXPECT_EQ(ops.count("DynamicQuantizeLinear"), 0u);

  // Dtypes: INT8 weights, UINT8 activation zero points, INT8 weight zero points, FLOAT
  // scales; and the int8 weights are exactly the fake-quant module's integers, with every
  // pruned zero kept.
  int64_t pruned = 0;
  for (const auto& [name, module] : compressor::QuantizedModules(*model)) {
    SCOPED_TRACE(name);
    const onnx::TensorProto* w = FindInitializer(proto, name + ".weight_quantized");
    const onnx::TensorProto* ws = FindInitializer(proto, name + ".weight_scale");
    const onnx::TensorProto* wz = FindInitializer(proto, name + ".weight_zero_point");
    const onnx::TensorProto* is = FindInitializer(proto, name + ".input_scale");
    const onnx::TensorProto* iz = FindInitializer(proto, name + ".input_zero_point");
    ASSERT_TRUE(w && ws && wz && is && iz);
    EXPECT_EQ(w->data_type(), onnx::TensorProto::INT8);
    EXPECT_EQ(ws->data_type(), onnx::TensorProto::FLOAT);
    EXPECT_EQ(wz->data_type(), onnx::TensorProto::INT8);
    EXPECT_EQ(is->data_type(), onnx::TensorProto::FLOAT);
    EXPECT_EQ(iz->data_type(), onnx::TensorProto::UINT8);
    EXPECT_EQ(ws->dims_size(), 0);  // Per-tensor: scalars.
    const at::Tensor exported = Int8Initializer(*w).t();  // Stored [in, out].
    const at::Tensor expected = compressor::Quantize(
        module->weight, module->weight_qparams(), module->options().weight_scheme);
    EXPECT_TRUE(at::equal(exported, expected));
    const at::Tensor zeros = module->weight == 0;
    EXPECT_TRUE(at::equal(exported.masked_select(zeros), at::zeros({zeros.sum().item<int64_t>()}, at::kChar)));
    pruned += zeros.sum().item<int64_t>();
    EXPECT_EQ(FindInitializer(proto, name + ".output_scale") != nullptr,
              module->output_observer() != nullptr);
  }
  EXPECT_GT(pruned, 0);

  // Numerics: the graph (run by the spec-based interpreter) against the fake-quant model.
  torch::NoGradGuard no_grad;
  const models::ModelOutput reference = model->forward(input);
  auto outputs = RunOnnxGraph(*bytes, OnnxInputs(input));
  ASSERT_TRUE(outputs.ok()) << outputs.status();
  // QuantizeLinear divides by the scale where fake quant multiplies by its inverse, so an
  // occasional value on a rounding tie moves one step; far below the quantization error.
  EXPECT_LT(RelDiff(outputs->at("start_logits"), reference.start_logits), 2e-3);
  EXPECT_LT(RelDiff(outputs->at("end_logits"), reference.end_logits), 2e-3);
  EXPECT_GT(reference.start_logits.abs().max().item<float>(), 0.5f);
}

TEST(OnnxExportTest, Fp32BertMatchesTheModelWithoutQdq) {
  torch::manual_seed(1);
  auto model = *models::CreateModel(TinyConfig(), "BertForSequenceClassification");
  models::UnitGainLinears(*model);
  model->eval();
  OnnxExportSummary summary;
  absl::StatusOr<std::string> bytes = ExportOnnxBytes(*model, {}, &summary);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  const onnx::ModelProto proto = Parse(*bytes);
  EXPECT_NO_THROW(onnx::checker::check_model(proto));
  EXPECT_EQ(summary.quantized_linears, 0);
  EXPECT_EQ(summary.fp32_linears, 2 * 6 + 2);  // + pooler and classifier.
  EXPECT_EQ(CountOps(proto).count("QuantizeLinear"), 0u);
  const models::ModelInput input = Input();
  torch::NoGradGuard no_grad;
  auto outputs = RunOnnxGraph(*bytes, OnnxInputs(input));
  ASSERT_TRUE(outputs.ok()) << outputs.status();
  EXPECT_LT(RelDiff(outputs->at("logits"), model->forward(input).logits), 1e-5);
}

// Converted INT8 modules export the same integers, per-channel with axis 1 (INC's FX
// scheme re-quantizes every output), and the graph matches the INT8 model.
TEST(OnnxExportTest, Int8PerChannelDistilBertExportsAxisAndMatches) {
  torch::manual_seed(2);
  models::BertConfig config = TinyConfig("distilbert");
  config.num_labels = 3;
  auto model = *models::CreateModel(config, "DistilBertForSequenceClassification");
  models::UnitGainLinears(*model);
  PruneHalf(*model);
  const models::ModelInput input = Input(/*token_types=*/false);
  compressor::QuantizationConfig qconfig = *compressor::QuantizationConfig::Preset("inc_fx");
  qconfig.approach = "post_training_static_quant";
  qconfig.activation_observer = "minmax";
  qconfig.weight_observer = "minmax";
  Quantize(*model, input, qconfig, /*to_int8=*/true);
  const auto int8 = compressor::Int8Modules(*model);
  ASSERT_EQ(int8.size(), 2u * 6 + 2);

  OnnxExportSummary summary;
  absl::StatusOr<std::string> bytes = ExportOnnxBytes(*model, {}, &summary);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  const onnx::ModelProto proto = Parse(*bytes);
  EXPECT_NO_THROW(onnx::checker::check_model(proto));
  EXPECT_EQ(summary.quantized_linears, 14);
  EXPECT_EQ(summary.requantized_outputs, 14);
  EXPECT_EQ(CountOps(proto).at("QuantizeLinear"), 2 * 14);
  EXPECT_EQ(CountOps(proto).at("Where"), 2);  // DistilBERT fills the mask.
  int axis_nodes = 0;
  for (const auto& node : proto.graph().node()) {
    for (const auto& a : node.attribute()) {
      if (node.op_type() == "DequantizeLinear" && a.name() == "axis" && a.i() == 1) ++axis_nodes;
    }
  }
  EXPECT_EQ(axis_nodes, 14);
  for (const auto& [name, module] : int8) {
    SCOPED_TRACE(name);
    const onnx::TensorProto* w = FindInitializer(proto, name + ".weight_quantized");
    const onnx::TensorProto* ws = FindInitializer(proto, name + ".weight_scale");
    ASSERT_TRUE(w && ws);
    ASSERT_EQ(ws->dims_size(), 1);
    EXPECT_EQ(ws->dims(0), module->out_features());
    const at::Tensor exported = Int8Initializer(*w).t();
    EXPECT_TRUE(at::equal(exported, module->params().weight_int8));
    EXPECT_EQ((exported == 0).sum().item<int64_t>(), module->zero_weights());
  }
  torch::NoGradGuard no_grad;
  auto outputs = RunOnnxGraph(*bytes, OnnxInputs(input));
  ASSERT_TRUE(outputs.ok()) << outputs.status();
  EXPECT_LT(RelDiff(outputs->at("logits"), model->forward(input).logits), 2e-3);
}

// What //export:export_onnx --int8_state does: an INT8 model saved by SaveQuantizedState and
// loaded into a fresh fp32 model exports to the very same bytes.
TEST(OnnxExportTest, SavedInt8ModelExportsIdentically) {
  torch::manual_seed(6);
  models::BertConfig config = TinyConfig();
  auto model = *models::CreateModel(config, "BertForQuestionAnswering");
  models::UnitGainLinears(*model);
  PruneHalf(*model);
  const models::ModelInput input = Input();
  compressor::QuantizationConfig qconfig;
  qconfig.approach = "post_training_static_quant";
  qconfig.activation_observer = "minmax";
  Quantize(*model, input, qconfig, /*to_int8=*/true);
  const std::string path = ::testing::TempDir() + "/model.int8.safetensors";
  ASSERT_TRUE(compressor::SaveQuantizedState(*model, path).ok());
  auto fresh = *models::CreateModel(config, "BertForQuestionAnswering");
  auto loaded = compressor::LoadQuantizedState(*fresh, path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->size(), 13u);
  fresh->eval();
  absl::StatusOr<std::string> original = ExportOnnxBytes(*model);
  absl::StatusOr<std::string> reloaded = ExportOnnxBytes(*fresh);
  ASSERT_TRUE(original.ok() && reloaded.ok());
  EXPECT_TRUE(*original == *reloaded);
}

TEST(OnnxExportTest, DynamicQuantizationUsesDynamicQuantizeLinear) {
  torch::manual_seed(4);
  auto model = *models::CreateModel(TinyConfig(), "BertForQuestionAnswering");
  models::UnitGainLinears(*model);
  const models::ModelInput input = Input();
  compressor::QuantizationConfig config;
  config.approach = "post_training_dynamic_quant";
  Quantize(*model, input, config, /*to_int8=*/false);
  OnnxExportSummary summary;
  absl::StatusOr<std::string> bytes = ExportOnnxBytes(*model, {}, &summary);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  const onnx::ModelProto proto = Parse(*bytes);
  EXPECT_NO_THROW(onnx::checker::check_model(proto));
  const auto ops = CountOps(proto);
  EXPECT_EQ(ops.at("DynamicQuantizeLinear"), 13);
  EXPECT_EQ(ops.count("QuantizeLinear"), 0u);  // Dynamic PTQ never re-quantizes outputs.
  torch::NoGradGuard no_grad;
  auto outputs = RunOnnxGraph(*bytes, OnnxInputs(input));
  ASSERT_TRUE(outputs.ok()) << outputs.status();
  const at::Tensor reference = model->forward(input).start_logits;
  // Per-call ranges: the fake-quant module and DynamicQuantizeLinear compute scales in
  // slightly different float order; still within a few quantization steps.
  EXPECT_LT(RelDiff(outputs->at("start_logits"), reference), 5e-3);
}

TEST(OnnxExportTest, ErrorsNameTheModuleAndSetting) {
  torch::manual_seed(5);
  auto model = *models::CreateModel(TinyConfig(), "BertForQuestionAnswering");
  compressor::QuantizationConfig config;
  ASSERT_TRUE(compressor::PrepareModel(*model, config).ok());  // QAT, never frozen.
  absl::StatusOr<std::string> bytes = ExportOnnxBytes(*model);
  ASSERT_FALSE(bytes.ok());
  EXPECT_NE(bytes.status().message().find(
                "QuantizedLinear 'bert.encoder.layer.0.attention.self.query' is not frozen"),
            absl::string_view::npos)
      << bytes.status();
  OnnxExportOptions options;
  options.opset = 11;
  bytes = ExportOnnxBytes(*model, options);
  ASSERT_FALSE(bytes.ok());
  EXPECT_NE(bytes.status().message().find("opset 11 is not supported"), absl::string_view::npos);
  EXPECT_FALSE(ExportOnnx(*model, "/nonexistent-dir/model.onnx").ok());
}

}  // namespace
TEST(OnnxExportTest, RefusesQuantizedAttentionMatMulsNamingTheOption) {
  torch::manual_seed(5);
  auto model = *models::CreateModel(TinyConfig(), "BertForQuestionAnswering");
  compressor::QuantizationConfig config;
  config.quantize_attention_matmuls = true;
  ASSERT_TRUE(compressor::PrepareModel(*model, config).ok());
  absl::StatusOr<std::string> bytes = ExportOnnxBytes(*model);
  ASSERT_FALSE(bytes.ok());
  EXPECT_EQ(bytes.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_NE(bytes.status().message().find("'bert.encoder.layer.0.attention.self.matmul'"),
            absl::string_view::npos)
      << bytes.status();
  EXPECT_NE(bytes.status().message().find("quantize_attention_matmuls"), absl::string_view::npos);
}

}  // namespace exporter
