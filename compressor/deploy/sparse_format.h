// A compact on-disk format for models converted with ConvertForInference: each
// InferenceLinear stores a keep-bitmask (1 bit per weight) and only its nonzero values (int8
// or fp32), so the file shrinks with sparsity (90% sparse INT8: 0.125 + 0.1 bytes per weight,
// about 18x less than fp32). One safetensors file:
//   NAME.keep        U8 [ceil(out * in / 8)]  bit i (LSB first) of byte i / 8 = weight i of
//                                             the row-major [out, in] matrix is nonzero
//   NAME.values      I8 or F32 [nnz]          the nonzero weights in row-major order
//   NAME.weight_scale F32 [1] or [out]        INT8 only
//   NAME.bias        F32 [out]                when the layer has a bias
//   every other parameter and buffer of the model under its own name (fp32 as stored)
// "__metadata__" maps each layer NAME to a JSON object string:
//   {"format": "sparse_linear/v1", "kernel": "sparse_int8"|..., "in_features": N,
//    "out_features": N, "bias": bool, and for INT8 "activation": "uint8"|"int8",
//    "dynamic": bool, "input_scale": x, "input_zero_point": n}
// Loading rebuilds the same weights and the same kernel choice, so outputs are identical.
//
//   RETURN_IF_ERROR(compressor::SaveInferenceModel(*model, "model.sparse.safetensors"));
//   auto fresh = *models::CreateModel(config);  // Same architecture, any weights.
//   ASSIGN_OR_RETURN(auto layers, compressor::LoadInferenceModel(*fresh, path));
#ifndef COMPRESSOR_DEPLOY_SPARSE_FORMAT_H_
#define COMPRESSOR_DEPLOY_SPARSE_FORMAT_H_

#include <cstdint>
#include <string>
#include <vector>

#include <torch/nn/module.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kernels/sparse_linear.h"

namespace compressor {

// Writes `model` (with InferenceLinears from ConvertForInference) to `path` atomically.
absl::Status SaveInferenceModel(const torch::nn::Module& model, const std::string& path);

// Loads a file written by SaveInferenceModel into `model`, a freshly built model of the same
// architecture: each stored layer replaces the module of that name (a layers::Linear)
// with an InferenceLinear running the stored kernel choice; every other tensor is copied into
// the parameter or buffer of that name. Errors name the file and the key (missing, extra or
// mis-shaped tensors, malformed metadata). Returns the loaded layer names.
absl::StatusOr<std::vector<std::string>> LoadInferenceModel(
    torch::nn::Module& model, const std::string& path,
    const kernels::SparsePackOptions& pack = {});

// Bytes the file spends on the layers' weights (keep masks, values, scales), for reports.
absl::StatusOr<int64_t> InferenceModelLinearBytes(const std::string& path);

}  // namespace compressor

#endif  // COMPRESSOR_DEPLOY_SPARSE_FORMAT_H_
