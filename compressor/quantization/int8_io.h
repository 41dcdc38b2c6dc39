// Saving and loading INT8-converted models (ConvertToInt8) as one safetensors file.
//
//   ASSIGN_OR_RETURN(auto converted, ConvertToInt8(*model));
//   RETURN_IF_ERROR(SaveQuantizedState(*model, "model.int8.safetensors"));
//   ...
//   ASSIGN_OR_RETURN(auto fresh, models::CreateModel(config, "BertForQuestionAnswering"));
//   ASSIGN_OR_RETURN(std::vector<std::string> int8_layers,
//                    LoadQuantizedState(*fresh, "model.int8.safetensors"));
//
// File layout: every parameter and buffer of the model under its named_parameters() /
// named_buffers() name. An Int8LinearModule contributes its buffers (see convert.h):
//   NAME.weight (I8 [out, in]), NAME.weight_scale (F32 [1] or [out]), NAME.bias (F32 [out],
//   when present), NAME.input_scale / NAME.input_zero_point (F32 [1] / I64 [1], static
//   only), NAME.output_scale / NAME.output_zero_point (F32 [1] / I64 [1], when the output is
//   re-quantized).
// "__metadata__" maps each Int8 module NAME to a JSON object string:
//   {"format": "int8_linear/v1", "activation": "uint8"|"int8",
//    "activation_symmetric": bool, "dynamic": bool, "weight": "per-tensor"|"per-channel",
//    "requantize_output": bool, "bias": bool, "in_features": N, "out_features": N}
// A layers::MatMul NAME running a frozen FakeQuantMatMulKernel (quantize_attention_matmuls)
// contributes NAME.a_scale, NAME.a_zero_point, NAME.b_scale, NAME.b_zero_point (F32 [1] /
// I64 [1]; none when dynamic) and the metadata {"format": "quantized_matmul/v1",
// "activation": "uint8"|"int8", "activation_symmetric": bool, "dynamic": bool}; loading gives
// the model's layers::MatMul of that name a frozen FakeQuantMatMulKernel (not in the returned
// names).
// A torch::nn::Embedding whose table was quantized by QuantizeEmbeddings (qat.h;
// QuantizationConfig::quantize_embeddings) is stored as NAME.weight (I8 [rows, dim]) and
// NAME.weight_scale (F32 [rows]) with the metadata {"format": "int8_embedding/v1",
// "weight": "int8 symmetric per-row", "num_embeddings": N, "embedding_dim": N}; loading
// writes q * scale into the model's fp32 table, bit-identical to the fake-quantized one
// (not in the returned names). Saving fails (FailedPrecondition naming the embedding) when
// such a table is no longer exactly q * scale, e.g. it was trained after quantization.
// Other Embeddings stay fp32, so without quantize_embeddings the format is unchanged.
// Every metadata key is a module name (a model without Int8 modules has no metadata).
#ifndef COMPRESSOR_QUANTIZATION_INT8_IO_H_
#define COMPRESSOR_QUANTIZATION_INT8_IO_H_

#include <string>
#include <vector>

#include <torch/nn/module.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace compressor {

// Writes every parameter and buffer of `model` plus the Int8 module metadata to `path`,
// atomically (a failure never leaves a partial file). Wide dtypes are written first so
// the data stays aligned. Errors name the path.
absl::Status SaveQuantizedState(const torch::nn::Module& model, const std::string& path);

// Loads a file written by SaveQuantizedState into `fp32_model`, a freshly built fp32
// model of the same architecture whose Linears are called through base::ForwardChild:
// each layers::Linear named in the metadata is replaced (through its parent's
// replace_module) by an Int8LinearModule rebuilt from the stored int8 weight, scales,
// bias and qparams, and every other parameter and buffer is copied from the file. Returns
// the converted module names (metadata order, i.e. sorted by name).
// All or nothing: everything is read and validated (and every kernel built) before the
// model is touched. Errors name the file and the tensor or module: unreadable file,
// malformed metadata, a metadata name that is not a Linear of the model, a missing tensor,
// a dtype or shape mismatch, an unexpected tensor, or a kernel rejection.
absl::StatusOr<std::vector<std::string>> LoadQuantizedState(torch::nn::Module& fp32_model,
                                                            const std::string& path);

}  // namespace compressor

#endif  // COMPRESSOR_QUANTIZATION_INT8_IO_H_
