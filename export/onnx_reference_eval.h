// A small reference interpreter of ONNX graphs on ATen, written from the ONNX operator
// specs (opset 13), so tests can check that an exported graph computes what the LibTorch
// model computes without ONNX Runtime (not installable here). It runs exactly the
// operators export/onnx_export.cc emits and fails naming any other.
//
//   ASSIGN_OR_RETURN(auto outputs, RunOnnxGraph(bytes, {{"input_ids", ids}, ...}));
//   at::Tensor start = outputs["start_logits"];
//
// Semantics follow the spec, not LibTorch: QuantizeLinear divides by the scale and rounds
// half to even, DynamicQuantizeLinear computes its own uint8 scale / zero point, Reshape's
// 0 copies the input dimension. Slow and for tests only.
#ifndef EXPORT_ONNX_REFERENCE_EVAL_H_
#define EXPORT_ONNX_REFERENCE_EVAL_H_

#include <map>
#include <string>

#include <ATen/core/Tensor.h>

#include "absl/status/statusor.h"

namespace exporter {

// Runs the serialized ModelProto `model_bytes` on `inputs` (by graph input name); returns
// every graph output by name. Errors name the node and operator.
absl::StatusOr<std::map<std::string, at::Tensor>> RunOnnxGraph(
    const std::string& model_bytes, const std::map<std::string, at::Tensor>& inputs);

}  // namespace exporter

#endif  // EXPORT_ONNX_REFERENCE_EVAL_H_
