// Exports a BERT / DistilBERT model to ONNX (opset 13, QDQ for quantized Linears; see
// onnx_export.h): an fp32 Hugging Face directory, or an INT8 model saved by
// compressor::SaveQuantizedState (the directory then provides config.json).
//
//   bazel run //export:export_onnx -- --model_dir=DIR --output=/tmp/model.onnx
//   bazel run //export:export_onnx -- --model_dir=DIR --output=/tmp/model.int8.onnx
//       --int8_state=DIR/model.int8.safetensors    # (same command line, INT8 weights)
#include <cstdio>
#include <string>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "base/cli.h"
#include "base/status_macros.h"
#include "compressor/quantization/int8_io.h"
#include "export/onnx_export.h"
#include "models/auto_model.h"
#include "models/bert_config.h"
#include "models/hf_checkpoint.h"

ABSL_FLAG(std::string, model_dir, "",
          "Hugging Face model directory (config.json; model.safetensors unless --int8_state).");
ABSL_FLAG(std::string, int8_state, "",
          "A file written by compressor::SaveQuantizedState to load into the model.");
ABSL_FLAG(std::string, architecture, "", "Head to build instead of config.architectures[0].");
ABSL_FLAG(std::string, output, "", "The .onnx file to write.");
ABSL_FLAG(int64_t, opset, 13, "ONNX opset, 13..17.");

namespace {

absl::Status Run() {
  const std::string model_dir = absl::GetFlag(FLAGS_model_dir);
  const std::string output = absl::GetFlag(FLAGS_output);
  if (model_dir.empty()) return absl::InvalidArgumentError("--model_dir is required");
  if (output.empty()) return absl::InvalidArgumentError("--output is required");
  std::shared_ptr<models::PreTrainedModel> model;
  const std::string int8_state = absl::GetFlag(FLAGS_int8_state);
  if (int8_state.empty()) {
    models::LoadOptions options;
    options.architecture = absl::GetFlag(FLAGS_architecture);
    ASSIGN_OR_RETURN(models::LoadedModel loaded, models::LoadPretrained(model_dir, options));
    model = loaded.model;
  } else {
    ASSIGN_OR_RETURN(models::BertConfig config,
                     models::LoadBertConfig(model_dir + "/config.json"));
    ASSIGN_OR_RETURN(model, models::CreateModel(config, absl::GetFlag(FLAGS_architecture)));
    ASSIGN_OR_RETURN(std::vector<std::string> int8_layers,
                     compressor::LoadQuantizedState(*model, int8_state));
    std::printf("loaded %zu INT8 Linears from %s\n", int8_layers.size(), int8_state.c_str());
  }
  model->eval();
  exporter::OnnxExportOptions options;
  options.opset = absl::GetFlag(FLAGS_opset);
  ASSIGN_OR_RETURN(exporter::OnnxExportSummary summary,
                   exporter::ExportOnnx(*model, output, options));
  std::printf(
      "wrote %s: %s, opset %lld, %lld nodes, %lld initializers, %lld quantized (QDQ) + %lld "
      "fp32 Linears, %lld bytes\n",
      output.c_str(), model->architecture().c_str(), (long long)options.opset,
      (long long)summary.nodes, (long long)summary.initializers,
      (long long)summary.quantized_linears, (long long)summary.fp32_linears,
      (long long)summary.bytes);
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  base::InitMain(argc, argv,
                 "Usage: export_onnx --model_dir=DIR [--int8_state=FILE] --output=FILE.onnx");
  return base::RunMain(Run);
}
