// ONNX export of BERT and DistilBERT models (models/) whose Linears may be quantized
// (compressor/quantization/), in the QDQ format other runtimes (ONNX Runtime, TensorRT,
// OpenVINO) turn into INT8 kernels. This package is the one place that knows both: models/
// knows nothing about quantization and the compressor nothing about BERT.
//
//   ASSIGN_OR_RETURN(OnnxExportSummary summary, ExportOnnx(*model, "model.onnx"));
//
// Graph (opset 13, inputs input_ids / attention_mask [/ token_type_ids for BERT], int64
// [batch, sequence] with symbolic dims; outputs named as ModelOutput's fields):
//   embeddings    Gather + Add (+ token types) + LayerNorm, positions sliced to the length
//   LayerNorm     decomposed (ReduceMean, Sub, Mul, Sqrt, Div, Mul, Add): LayerNormalization
//                 is opset 17
//   attention     Reshape/Transpose per head, MatMul, scale, additive mask (DistilBERT: Where
//                 fill), Softmax, MatMul
//   activation    GELU as 0.5 x (1 + Erf(x / sqrt 2)); gelu_new as its tanh form; relu
//   Linear        fp32 layers::Linear:  MatMul(x, W^T) + Add(bias)
//                 FakeQuantLinearKernel (frozen fake quant) or Int8LinearModule:
//                   x -> QuantizeLinear -> DequantizeLinear          static activations
//                        (uint8 zero point for affine/uint8, int8 for int8 symmetric)
//                   x -> DynamicQuantizeLinear -> DequantizeLinear   dynamic activations
//                   W int8 initializer [in, out] -> DequantizeLinear (scale and INT8 zero
//                     point scalars, or [out] with axis 1 for per-channel)
//                   -> MatMul -> Add(fp32 bias)
//                   -> QuantizeLinear -> DequantizeLinear            only when the module
//                                                                    re-quantizes its output
// The int8 weights are exactly the integers the fake-quant / INT8 module computes with, so
// every pruned (zero) weight is a zero in the initializer. Dropout is omitted (inference).
#ifndef EXPORT_ONNX_EXPORT_H_
#define EXPORT_ONNX_EXPORT_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "models/pretrained_model.h"

namespace exporter {

struct OnnxExportOptions {
  int64_t opset = 13;  // 13..17; the graph only uses opset-13 operators.
  std::string producer_name = "bert_compressor";
};

struct OnnxExportSummary {
  int64_t quantized_linears = 0;     // Exported in QDQ form.
  int64_t fp32_linears = 0;          // Exported as fp32 MatMul + Add.
  int64_t requantized_outputs = 0;   // Quantized Linears whose output has its own Q/DQ.
  int64_t nodes = 0;
  int64_t initializers = 0;
  int64_t bytes = 0;                 // Size of the serialized model.
};

// The serialized ModelProto. Errors (InvalidArgument / Unimplemented) name the module or
// setting that cannot be exported: an unsupported architecture or activation, a
// fake-quant Linear that is not frozen or never observed its input, a per-channel axis other
// than 0. `summary` may be null.
absl::StatusOr<std::string> ExportOnnxBytes(models::PreTrainedModel& model,
                                            const OnnxExportOptions& options = {},
                                            OnnxExportSummary* summary = nullptr);

// ExportOnnxBytes written to `path` atomically; errors name the path.
absl::StatusOr<OnnxExportSummary> ExportOnnx(models::PreTrainedModel& model,
                                             const std::string& path,
                                             const OnnxExportOptions& options = {});

}  // namespace exporter

#endif  // EXPORT_ONNX_EXPORT_H_
