#include "compressor/deploy/sparse_format.h"

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>
#include <torch/nn/modules/linear.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/safetensors.h"
#include "base/status_macros.h"
#include "compressor/deploy/inference_linear.h"
#include "layers/linear.h"

namespace compressor {
namespace {

using Json = nlohmann::json;
constexpr char kFormat[] = "sparse_linear/v1";

// Packs `weight != 0` row-major into bits (LSB first) and gathers the nonzero values.
std::pair<at::Tensor, at::Tensor> Compress(const at::Tensor& weight) {
  const at::Tensor flat = weight.contiguous().flatten();
  const at::Tensor keep = flat.ne(0);
  const int64_t n = flat.numel();
  at::Tensor bits = at::zeros({(n + 7) / 8}, at::kByte);
  const bool* kd = keep.data_ptr<bool>();
  uint8_t* bd = bits.data_ptr<uint8_t>();
  for (int64_t i = 0; i < n; ++i) {
    if (kd[i]) bd[i >> 3] |= static_cast<uint8_t>(1u << (i & 7));
  }
  return {bits, flat.masked_select(keep).contiguous()};
}

// The inverse of Compress; errors name the file and the key.
absl::StatusOr<at::Tensor> Expand(const at::Tensor& bits, const at::Tensor& values, int64_t out,
                                  int64_t in, at::ScalarType dtype, const std::string& where) {
  const int64_t n = out * in;
  if (bits.scalar_type() != at::kByte || bits.dim() != 1 || bits.numel() != (n + 7) / 8) {
    return absl::InvalidArgumentError(absl::StrCat(where, ".keep: expected U8 [", (n + 7) / 8, "]"));
  }
  const uint8_t* bd = bits.data_ptr<uint8_t>();
  int64_t nnz = 0;
  for (int64_t i = 0; i < n; ++i) nnz += (bd[i >> 3] >> (i & 7)) & 1;
  if (values.scalar_type() != dtype || values.dim() != 1 || values.numel() != nnz) {
    return absl::InvalidArgumentError(absl::StrCat(where, ".values: expected ",
                                                   c10::toString(dtype), " [", nnz,
                                                   "] (the keep mask's count), got ",
                                                   c10::toString(values.scalar_type()), " of ",
                                                   values.numel(), " elements"));
  }
  at::Tensor dense = at::zeros({out, in}, dtype);
  const int64_t size = static_cast<int64_t>(c10::elementSize(dtype));
  auto* dd = static_cast<uint8_t*>(dense.data_ptr());
  const auto* vd = static_cast<const uint8_t*>(values.data_ptr());
  int64_t j = 0;
  for (int64_t i = 0; i < n; ++i) {
    if ((bd[i >> 3] >> (i & 7)) & 1) std::memcpy(dd + i * size, vd + (j++) * size, size);
  }
  return dense;
}

}  // namespace

absl::Status SaveInferenceModel(const torch::nn::Module& model, const std::string& path) {
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  std::map<std::string, std::string> metadata;
  const auto layers = InferenceLinears(model);
  if (layers.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "SaveInferenceModel: ", path, ": the model has no InferenceLinear (run ConvertForInference)"));
  }
  for (const auto& [name, layer] : layers) {
    Json meta = {{"format", kFormat},
                 {"kernel", LinearKernelName(layer->kernel())},
                 {"in_features", layer->in_features()},
                 {"out_features", layer->out_features()}};
    at::Tensor weight, bias;
    if (layer->is_int8()) {
      const kernels::Int8LinearParams& p = layer->int8_params();
      weight = p.weight_int8;
      bias = p.bias;
      tensors.emplace_back(name + ".weight_scale", p.weight_scales.contiguous());
      meta["activation"] = p.activation_signed ? "int8" : "uint8";
      meta["dynamic"] = p.dynamic;
      meta["input_scale"] = p.input_scale;
      meta["input_zero_point"] = p.input_zero_point;
    } else {
      weight = layer->fp32_weight();
      bias = layer->fp32_bias();
    }
    meta["bias"] = bias.defined();
    if (bias.defined()) tensors.emplace_back(name + ".bias", bias.contiguous());
    auto [bits, values] = Compress(weight);
    tensors.emplace_back(name + ".values", values);
    tensors.emplace_back(name + ".keep", bits);
    metadata[name] = meta.dump();
  }
  for (const auto& item : model.named_parameters(/*recurse=*/true)) {
    tensors.emplace_back(item.key(), item.value().detach());
  }
  for (const auto& item : model.named_buffers(/*recurse=*/true)) {
    tensors.emplace_back(item.key(), item.value().detach());
  }
  // Wide dtypes first, so every tensor stays aligned for memory-mapped views.
  std::stable_sort(tensors.begin(), tensors.end(), [](const auto& a, const auto& b) {
    return a.second.element_size() > b.second.element_size();
  });
  return base::WriteSafetensors(path, tensors, metadata);
}

absl::StatusOr<std::vector<std::string>> LoadInferenceModel(torch::nn::Module& model,
                                                            const std::string& path,
                                                            const kernels::SparsePackOptions& pack) {
  ASSIGN_OR_RETURN(std::unique_ptr<base::SafetensorsReader> reader,
                   base::SafetensorsReader::Open(path));
  std::set<std::string> used;
  auto load = [&](const std::string& key) -> absl::StatusOr<at::Tensor> {
    used.insert(key);
    return reader->Load(key);
  };
  std::map<std::string, std::shared_ptr<torch::nn::Module>> modules;
  for (const auto& item : model.named_modules("", /*include_self=*/false)) {
    modules[item.key()] = item.value();
  }
  std::vector<std::pair<std::string, std::shared_ptr<InferenceLinearImpl>>> layers;
  std::set<std::string> replaced_params;
  for (const auto& [name, text] : reader->metadata()) {
    const std::string where = absl::StrCat(path, ": ", name);
    Json meta = Json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (meta.is_discarded() || !meta.is_object() || meta.value("format", "") != kFormat) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": metadata is not a ", kFormat, " JSON object: ", text));
    }
    auto it = modules.find(name);
    if (it == modules.end() || it->second->as<layers::Linear>() == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": the model has no torch::nn::Linear of this name"));
    }
    const auto* linear = it->second->as<layers::Linear>();
    const int64_t out = meta.value("out_features", int64_t{-1});
    const int64_t in = meta.value("in_features", int64_t{-1});
    if (out != linear->weight.size(0) || in != linear->weight.size(1)) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": stored [", out, ", ", in,
                                                     "] but the model's Linear is ",
                                                     linear->weight.sizes()[0], "x",
                                                     linear->weight.sizes()[1]));
    }
    ASSIGN_OR_RETURN(const LinearKernel kernel, LinearKernelFromName(meta.value("kernel", "")));
    const bool int8 = kernel == LinearKernel::kDenseInt8 || kernel == LinearKernel::kSparseInt8;
    ASSIGN_OR_RETURN(at::Tensor bits, load(name + ".keep"));
    ASSIGN_OR_RETURN(at::Tensor values, load(name + ".values"));
    ASSIGN_OR_RETURN(at::Tensor weight,
                     Expand(bits, values, out, in, int8 ? at::kChar : at::kFloat, where));
    at::Tensor bias;
    if (meta.value("bias", false)) {
      ASSIGN_OR_RETURN(bias, load(name + ".bias"));
    }
    absl::StatusOr<std::shared_ptr<InferenceLinearImpl>> layer;
    if (int8) {
      kernels::Int8LinearParams p;
      p.weight_int8 = weight;
      ASSIGN_OR_RETURN(p.weight_scales, load(name + ".weight_scale"));
      p.bias = bias;
      p.activation_signed = meta.value("activation", "uint8") == "int8";
      p.dynamic = meta.value("dynamic", true);
      p.input_scale = meta.value("input_scale", 1.0);
      p.input_zero_point = meta.value("input_zero_point", int64_t{0});
      layer = InferenceLinearImpl::CreateWithKernel({}, {}, &p, kernel, pack);
    } else {
      layer = InferenceLinearImpl::CreateWithKernel(weight, bias, nullptr, kernel, pack);
    }
    if (!layer.ok()) {
      return absl::Status(layer.status().code(), absl::StrCat(where, ": ", layer.status().message()));
    }
    layers.emplace_back(name, std::move(*layer));
    for (const auto& p : it->second->named_parameters(/*recurse=*/true)) {
      replaced_params.insert(absl::StrCat(name, ".", p.key()));
    }
  }
  // Everything else: copy into the model's parameters and buffers.
  std::vector<std::pair<at::Tensor, at::Tensor>> copies;
  auto collect = [&](const std::string& key, const at::Tensor& target) -> absl::Status {
    if (replaced_params.count(key) != 0) return absl::OkStatus();
    if (reader->Find(key) == nullptr) {
      return absl::NotFoundError(absl::StrCat(path, ": missing tensor ", key));
    }
    ASSIGN_OR_RETURN(at::Tensor t, load(key));
    if (t.sizes() != target.sizes() || t.scalar_type() != target.scalar_type()) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": ", key, ": stored ",
                                                     c10::toString(t.scalar_type()), " ",
                                                     t.sizes().vec().size(), "-d, model expects ",
                                                     c10::toString(target.scalar_type())));
    }
    copies.emplace_back(target, t);
    return absl::OkStatus();
  };
  for (const auto& item : model.named_parameters(/*recurse=*/true)) {
    RETURN_IF_ERROR(collect(item.key(), item.value()));
  }
  for (const auto& item : model.named_buffers(/*recurse=*/true)) {
    RETURN_IF_ERROR(collect(item.key(), item.value()));
  }
  for (const auto& info : reader->tensors()) {
    if (used.count(info.name) == 0) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": unexpected tensor ", info.name));
    }
  }
  {
    c10::NoGradGuard no_grad;
    for (auto& [target, loaded] : copies) target.copy_(loaded);
  }
  std::vector<std::string> names;
  for (auto& [name, layer] : layers) {
    RETURN_IF_ERROR(ReplaceModule(model, name, layer));
    names.push_back(name);
  }
  return names;
}

absl::StatusOr<int64_t> InferenceModelLinearBytes(const std::string& path) {
  ASSIGN_OR_RETURN(std::unique_ptr<base::SafetensorsReader> reader,
                   base::SafetensorsReader::Open(path));
  int64_t bytes = 0;
  for (const auto& [name, text] : reader->metadata()) {
    for (const char* suffix : {".keep", ".values", ".weight_scale"}) {
      if (const auto* info = reader->Find(name + suffix)) {
        bytes += static_cast<int64_t>(info->end - info->begin);
      }
    }
  }
  return bytes;
}

}  // namespace compressor
