#include "compressor/quantization/int8_io.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <utility>

#include <ATen/ATen.h>
#include <torch/csrc/autograd/grad_mode.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>

#include "absl/strings/str_cat.h"
#include "base/safetensors.h"
#include "base/status_macros.h"
#include "compressor/quantization/convert.h"
#include "compressor/quantization/qat.h"
#include "compressor/quantization/qscheme.h"
#include "kernels/int8_linear.h"
#include "layers/linear.h"
#include "layers/matmul.h"

namespace compressor {
namespace {

using Json = nlohmann::json;

constexpr char kFormat[] = "int8_linear/v1";

// What the metadata records about one Int8LinearModule.
struct Int8Meta {
  bool activation_signed = false;
  bool activation_symmetric = false;
  bool dynamic = false;
  bool per_channel = false;
  bool requantize_output = false;
  bool bias = false;
  int64_t in_features = 0;
  int64_t out_features = 0;
};

// The text between `begin` and `end` markers of the module's pretty_print (the only place
// convert.h exposes its weight and activation schemes); empty when not found.
std::string Segment(const std::string& text, const std::string& begin, const std::string& end) {
  const size_t b = text.find(begin);
  if (b == std::string::npos) return "";
  const size_t start = b + begin.size();
  const size_t e = text.find(end, start);
  return text.substr(start, e == std::string::npos ? std::string::npos : e - start);
}

Int8Meta DescribeModule(const Int8LinearModuleImpl& module) {
  std::ostringstream printed;
  module.pretty_print(printed);
  const std::string text = printed.str();
  const std::string weight = Segment(text, "weight=", ", input=");
  const std::string input = Segment(text, ", input=", ", output=");
  Int8Meta meta;
  meta.activation_signed = module.params().activation_signed;
  // int8 activations are always symmetric (convert.h); uint8 ones may be either.
  meta.activation_symmetric =
      meta.activation_signed || input.find(" symmetric") != std::string::npos;
  meta.dynamic = module.dynamic();
  meta.per_channel = weight.find("per-channel") != std::string::npos ||
                     (weight.empty() && module.params().weight_scales.numel() > 1);
  meta.requantize_output = module.requantizes_output();
  meta.bias = module.params().bias.defined();
  meta.in_features = module.in_features();
  meta.out_features = module.out_features();
  return meta;
}

std::string MetaToJson(const Int8Meta& meta) {
  Json j = Json::object();
  j["format"] = kFormat;
  j["activation"] = meta.activation_signed ? "int8" : "uint8";
  j["activation_symmetric"] = meta.activation_symmetric;
  j["dynamic"] = meta.dynamic;
  j["weight"] = meta.per_channel ? "per-channel" : "per-tensor";
  j["requantize_output"] = meta.requantize_output;
  j["bias"] = meta.bias;
  j["in_features"] = meta.in_features;
  j["out_features"] = meta.out_features;
  return j.dump();
}

absl::Status Error(absl::StatusCode code, const std::string& path, const std::string& what) {
  return absl::Status(code, absl::StrCat("LoadQuantizedState: file '", path, "': ", what));
}

absl::StatusOr<Int8Meta> ParseMeta(const std::string& path, const std::string& name,
                                   const std::string& text) {
  auto bad = [&](const std::string& why) {
    return Error(absl::StatusCode::kInvalidArgument, path,
                 absl::StrCat("module '", name, "': malformed metadata (", why, "): ", text));
  };
  const Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return bad("not a JSON object");
  auto get_bool = [&](const char* key, bool* out) -> absl::Status {
    auto it = j.find(key);
    if (it == j.end() || !it->is_boolean()) {
      return bad(absl::StrCat("'", key, "' must be a boolean"));
    }
    *out = it->get<bool>();
    return absl::OkStatus();
  };
  auto get_string = [&](const char* key, std::string* out) -> absl::Status {
    auto it = j.find(key);
    if (it == j.end() || !it->is_string()) {
      return bad(absl::StrCat("'", key, "' must be a string"));
    }
    *out = it->get<std::string>();
    return absl::OkStatus();
  };
  auto get_int = [&](const char* key, int64_t* out) -> absl::Status {
    auto it = j.find(key);
    if (it == j.end() || !it->is_number_integer() || it->get<int64_t>() <= 0) {
      return bad(absl::StrCat("'", key, "' must be a positive integer"));
    }
    *out = it->get<int64_t>();
    return absl::OkStatus();
  };
  Int8Meta meta;
  std::string format, activation, weight;
  RETURN_IF_ERROR(get_string("format", &format));
  if (format != kFormat) return bad(absl::StrCat("unknown format '", format, "'"));
  RETURN_IF_ERROR(get_string("activation", &activation));
  if (activation != "int8" && activation != "uint8") {
    return bad("'activation' must be \"int8\" or \"uint8\"");
  }
  meta.activation_signed = activation == "int8";
  RETURN_IF_ERROR(get_bool("activation_symmetric", &meta.activation_symmetric));
  RETURN_IF_ERROR(get_bool("dynamic", &meta.dynamic));
  RETURN_IF_ERROR(get_string("weight", &weight));
  if (weight != "per-tensor" && weight != "per-channel") {
    return bad("'weight' must be \"per-tensor\" or \"per-channel\"");
  }
  meta.per_channel = weight == "per-channel";
  RETURN_IF_ERROR(get_bool("requantize_output", &meta.requantize_output));
  RETURN_IF_ERROR(get_bool("bias", &meta.bias));
  RETURN_IF_ERROR(get_int("in_features", &meta.in_features));
  RETURN_IF_ERROR(get_int("out_features", &meta.out_features));
  if (meta.activation_signed && !meta.activation_symmetric) {
    return bad("int8 activations must be symmetric");
  }
  if (meta.dynamic && (meta.activation_signed || meta.activation_symmetric)) {
    return bad("dynamic quantization needs uint8 affine activations");
  }
  return meta;
}

std::string ShapeString(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) absl::StrAppend(&s, i ? ", " : "", shape[i]);
  return s + "]";
}

// Reads tensors from the file, checking dtype and shape, and records what was read.
class TensorSource {
 public:
  TensorSource(const base::SafetensorsReader& reader, const std::string& path)
      : reader_(reader), path_(path) {}

  absl::StatusOr<at::Tensor> Read(const std::string& name, at::ScalarType type,
                                  const std::vector<int64_t>& shape) {
    const base::SafetensorsTensorInfo* info = reader_.Find(name);
    if (info == nullptr) {
      return Error(absl::StatusCode::kNotFound, path_,
                   absl::StrCat("missing tensor '", name, "'"));
    }
    if (base::ToScalarType(info->dtype) != type) {
      absl::StatusOr<base::SafetensorsDtype> want = base::SafetensorsDtypeFromScalarType(type);
      return Error(absl::StatusCode::kInvalidArgument, path_,
                   absl::StrCat("tensor '", name, "' has dtype ",
                                base::SafetensorsDtypeName(info->dtype), ", expected ",
                                want.ok() ? base::SafetensorsDtypeName(*want) : "?"));
    }
    if (info->shape != shape) {
      return Error(absl::StatusCode::kInvalidArgument, path_,
                   absl::StrCat("tensor '", name, "' has shape ", ShapeString(info->shape),
                                ", expected ", ShapeString(shape)));
    }
    absl::StatusOr<at::Tensor> tensor = reader_.Load(name);
    if (!tensor.ok()) {
      return Error(tensor.status().code(), path_,
                   absl::StrCat("tensor '", name, "': ", tensor.status().message()));
    }
    used_.insert(name);
    return *std::move(tensor);
  }

  // InvalidArgument naming the first tensor of the file that was never read.
  absl::Status CheckAllUsed() const {
    for (const base::SafetensorsTensorInfo& info : reader_.tensors()) {
      if (used_.count(info.name) == 0) {
        return Error(absl::StatusCode::kInvalidArgument, path_,
                     absl::StrCat("unexpected tensor '", info.name,
                                  "' (not a parameter or buffer of the model)"));
      }
    }
    return absl::OkStatus();
  }

 private:
  const base::SafetensorsReader& reader_;
  const std::string& path_;
  std::set<std::string> used_;
};

absl::StatusOr<std::shared_ptr<Int8LinearModuleImpl>> BuildModule(const std::string& path,
                                                                  const std::string& name,
                                                                  const Int8Meta& meta,
                                                                  TensorSource& source) {
  const int64_t out = meta.out_features;
  kernels::Int8LinearParams params;
  params.activation_signed = meta.activation_signed;
  params.dynamic = meta.dynamic;
  ASSIGN_OR_RETURN(params.weight_int8,
                   source.Read(name + ".weight", at::kChar, {out, meta.in_features}));
  ASSIGN_OR_RETURN(params.weight_scales,
                   source.Read(name + ".weight_scale", at::kFloat,
                               {meta.per_channel ? out : int64_t{1}}));
  if (meta.bias) {
    ASSIGN_OR_RETURN(params.bias, source.Read(name + ".bias", at::kFloat, {out}));
  }
  if (!meta.dynamic) {
    ASSIGN_OR_RETURN(at::Tensor scale, source.Read(name + ".input_scale", at::kFloat, {1}));
    ASSIGN_OR_RETURN(at::Tensor zero_point,
                     source.Read(name + ".input_zero_point", at::kLong, {1}));
    params.input_scale = scale.item<float>();
    params.input_zero_point = zero_point.item<int64_t>();
  }
  QuantParams output_qparams;
  if (meta.requantize_output) {
    ASSIGN_OR_RETURN(output_qparams.scale,
                     source.Read(name + ".output_scale", at::kFloat, {1}));
    ASSIGN_OR_RETURN(output_qparams.zero_point,
                     source.Read(name + ".output_zero_point", at::kLong, {1}));
  }
  QuantScheme weight_scheme = meta.per_channel ? QuantScheme::Int8SymmetricPerChannel(0)
                                               : QuantScheme::Int8SymmetricPerTensor();
  QuantScheme activation_scheme;
  activation_scheme.dtype = meta.activation_signed ? "int8" : "uint8";
  activation_scheme.symmetric = meta.activation_symmetric;
  if (meta.requantize_output) {
    const int64_t zp = output_qparams.zero_point.item<int64_t>();
    const float scale = output_qparams.scale.item<float>();
    if (!(scale > 0) || !std::isfinite(scale) || zp < activation_scheme.quant_min() ||
        zp > activation_scheme.quant_max()) {
      return Error(absl::StatusCode::kInvalidArgument, path,
                   absl::StrCat("module '", name, "': invalid output qparams (scale ", scale,
                                ", zero point ", zp, ")"));
    }
  }
  if (meta.requantize_output) {
    // As Int8LinearModuleImpl::Create: the kernel re-quantizes the output in its epilogue.
    params.requantize_output = true;
    params.output_scale = output_qparams.scale.to(at::kDouble).item<double>();
    params.output_zero_point = output_qparams.zero_point.item<int64_t>();
    params.output_quant_min = activation_scheme.quant_min();
    params.output_quant_max = activation_scheme.quant_max();
  }
  absl::StatusOr<std::unique_ptr<kernels::Int8Linear>> kernel =
      kernels::Int8Linear::Create(params);
  if (!kernel.ok()) {
    return Error(kernel.status().code(), path,
                 absl::StrCat("module '", name, "': ", kernel.status().message()));
  }
  return std::make_shared<Int8LinearModuleImpl>(
      std::move(params), std::move(*kernel), std::move(weight_scheme),
      std::move(activation_scheme), meta.requantize_output, std::move(output_qparams));
}

size_t ElementSize(const at::Tensor& t) { return t.element_size(); }

constexpr char kMatMulFormat[] = "quantized_matmul/v1";
constexpr const char* kMatMulInputs[2] = {"a", "b"};

// The "format" field of a metadata entry ("" when it cannot be read).
std::string FormatOf(const std::string& text) {
  const Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return "";
  auto it = j.find("format");
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

constexpr char kEmbeddingFormat[] = "int8_embedding/v1";
constexpr char kEmbeddingWeight[] = "int8 symmetric per-row";

// The int8 values of an Embedding table recorded by QuantizeEmbeddings, checked to
// reproduce the fp32 table bit for bit (q * scale is exactly what the fake quantization
// wrote); FailedPrecondition naming the module when the table changed since.
absl::StatusOr<at::Tensor> QuantizeEmbeddingExactly(const std::string& path,
                                                    const std::string& name,
                                                    const at::Tensor& weight,
                                                    const at::Tensor& scales) {
  auto fail = [&](const std::string& why) {
    return absl::FailedPreconditionError(absl::StrCat(
        "SaveQuantizedState: file '", path, "': embedding '", name, "' was quantized by "
        "quantize_embeddings but ", why, "; refusing to store it as int8 (it would change "
        "outputs): quantize it again after the last change"));
  };
  if (weight.scalar_type() != at::kFloat || weight.dim() != 2 ||
      scales.numel() != weight.size(0)) {
    return fail("its table is no longer a float32 table of the recorded shape");
  }
  const at::Tensor table = weight.detach().contiguous();
  const QuantScheme rows = QuantScheme::Int8SymmetricPerChannel(0);
  const QuantParams qparams{scales, at::zeros({scales.numel()}, at::kLong)};
  const at::Tensor q = Quantize(table, qparams, rows);
  const at::Tensor back = Dequantize(q, qparams, rows).contiguous();
  if (!at::equal(back.view(at::kInt), table.view(at::kInt))) {  // Bitwise.
    const int64_t differ = back.view(at::kInt).ne(table.view(at::kInt)).sum().item<int64_t>();
    return fail(absl::StrCat(differ, " of its values are no longer int8 multiples of the "
                             "recorded per-row scales (modified after quantization?)"));
  }
  return q;
}

// An Embedding's fp32 table from its metadata and NAME.weight (I8) / NAME.weight_scale.
// Returns {table, scales}.
absl::StatusOr<std::pair<at::Tensor, at::Tensor>> BuildEmbeddingTable(
    const std::string& path, const std::string& name, const std::string& text,
    const torch::nn::EmbeddingImpl& embedding, TensorSource& source) {
  auto bad = [&](const std::string& why) {
    return Error(absl::StatusCode::kInvalidArgument, path,
                 absl::StrCat("module '", name, "': malformed metadata (", why, "): ", text));
  };
  const Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  auto weight = j.find("weight");
  if (weight == j.end() || !weight->is_string() || *weight != kEmbeddingWeight) {
    return bad(absl::StrCat("'weight' must be \"", kEmbeddingWeight, "\""));
  }
  auto get_int = [&](const char* key) -> int64_t {
    auto it = j.find(key);
    return it != j.end() && it->is_number_integer() ? it->get<int64_t>() : -1;
  };
  const int64_t rows = get_int("num_embeddings");
  const int64_t dim = get_int("embedding_dim");
  if (rows <= 0 || dim <= 0) {
    return bad("'num_embeddings' and 'embedding_dim' must be positive integers");
  }
  if (embedding.weight.dim() != 2 || embedding.weight.size(0) != rows ||
      embedding.weight.size(1) != dim) {
    return Error(absl::StatusCode::kInvalidArgument, path,
                 absl::StrCat("module '", name, "': the file has an Embedding(", rows, ", ",
                              dim, "), the model an Embedding of shape ",
                              ShapeString(embedding.weight.sizes().vec())));
  }
  ASSIGN_OR_RETURN(at::Tensor q, source.Read(name + ".weight", at::kChar, {rows, dim}));
  ASSIGN_OR_RETURN(at::Tensor scales, source.Read(name + ".weight_scale", at::kFloat, {rows}));
  if (!at::isfinite(scales).all().item<bool>() || !(scales > 0).all().item<bool>()) {
    return Error(absl::StatusCode::kInvalidArgument, path,
                 absl::StrCat("tensor '", name, ".weight_scale': scales must be finite and "
                              "positive"));
  }
  const QuantScheme scheme = QuantScheme::Int8SymmetricPerChannel(0);
  at::Tensor table = Dequantize(q, {scales, at::zeros({rows}, at::kLong)}, scheme);
  return std::make_pair(std::move(table), std::move(scales));
}

// A frozen QuantizedMatMul from its metadata and NAME.{a,b}_{scale,zero_point}.
absl::StatusOr<std::shared_ptr<FakeQuantMatMulKernel>> BuildMatMul(const std::string& path,
                                                                 const std::string& name,
                                                                 const std::string& text,
                                                                 TensorSource& source) {
  auto bad = [&](const std::string& why) {
    return Error(absl::StatusCode::kInvalidArgument, path,
                 absl::StrCat("module '", name, "': malformed metadata (", why, "): ", text));
  };
  const Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  auto activation = j.find("activation");
  auto symmetric = j.find("activation_symmetric");
  auto dynamic = j.find("dynamic");
  if (activation == j.end() || !activation->is_string() ||
      (*activation != "uint8" && *activation != "int8")) {
    return bad("'activation' must be \"int8\" or \"uint8\"");
  }
  if (symmetric == j.end() || !symmetric->is_boolean()) {
    return bad("'activation_symmetric' must be a boolean");
  }
  if (dynamic == j.end() || !dynamic->is_boolean()) return bad("'dynamic' must be a boolean");
  QuantScheme scheme;
  scheme.dtype = activation->get<std::string>();
  scheme.symmetric = symmetric->get<bool>();
  if (scheme.dtype == "int8" && !scheme.symmetric) return bad("int8 activations must be symmetric");
  if (dynamic->get<bool>()) return FakeQuantMatMulKernel::Frozen(scheme, /*dynamic=*/true, {}, {});
  QuantParams q[2];
  for (int i = 0; i < 2; ++i) {
    const std::string prefix = absl::StrCat(name, ".", kMatMulInputs[i], "_");
    ASSIGN_OR_RETURN(q[i].scale, source.Read(prefix + "scale", at::kFloat, {1}));
    ASSIGN_OR_RETURN(q[i].zero_point, source.Read(prefix + "zero_point", at::kLong, {1}));
    const float scale = q[i].scale.item<float>();
    const int64_t zp = q[i].zero_point.item<int64_t>();
    if (!(scale > 0) || !std::isfinite(scale) || zp < scheme.quant_min() ||
        zp > scheme.quant_max()) {
      return Error(absl::StatusCode::kInvalidArgument, path,
                   absl::StrCat("module '", name, "': invalid qparams of input ",
                                kMatMulInputs[i], " (scale ", scale, ", zero point ", zp, ")"));
    }
  }
  return FakeQuantMatMulKernel::Frozen(scheme, /*dynamic=*/false, q[0], q[1]);
}

}  // namespace

absl::Status SaveQuantizedState(const torch::nn::Module& model, const std::string& path) {
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (const auto& item : model.named_parameters(/*recurse=*/true)) {
    tensors.emplace_back(item.key(), item.value().detach());
  }
  for (const auto& item : model.named_buffers(/*recurse=*/true)) {
    tensors.emplace_back(item.key(), item.value().detach());
  }
  // Wide dtypes first, so every tensor's data stays aligned for View().
  std::map<std::string, std::string> metadata;
  for (const auto& [name, module] : Int8Modules(model)) {
    metadata[name] = MetaToJson(DescribeModule(*module));
  }
  // Quantized attention matmuls (parameter-free): their frozen input qparams.
  for (const auto& [name, module] : QuantizedMatMuls(model)) {
    if (!module->frozen()) {
      return absl::FailedPreconditionError(
          absl::StrCat("SaveQuantizedState: file '", path, "': QuantizedMatMul '", name,
                       "' is not frozen (call Freeze() first)"));
    }
    Json j = Json::object();
    j["format"] = kMatMulFormat;
    j["activation"] = module->scheme().dtype;
    j["activation_symmetric"] = module->scheme().symmetric;
    j["dynamic"] = module->dynamic();
    metadata[name] = j.dump();
    if (module->dynamic()) continue;
    for (int i = 0; i < 2; ++i) {
      const QuantParams q = module->input_qparams(i);
      const std::string prefix = absl::StrCat(name, ".", kMatMulInputs[i], "_");
      tensors.emplace_back(prefix + "scale", q.scale.detach().to(at::kFloat).reshape({1}));
      tensors.emplace_back(prefix + "zero_point",
                           q.zero_point.detach().to(at::kLong).reshape({1}));
    }
  }
  // Embedding tables quantized by quantize_embeddings: int8 values + per-row scales.
  for (const auto& item : model.named_modules("", /*include_self=*/false)) {
    const auto* embedding = item.value()->as<torch::nn::Embedding>();
    if (embedding == nullptr) continue;
    const at::Tensor scales = EmbeddingScales(embedding->weight);
    if (!scales.defined()) continue;
    const std::string& name = item.key();
    ASSIGN_OR_RETURN(at::Tensor q,
                     QuantizeEmbeddingExactly(path, name, embedding->weight, scales));
    const std::string key = name + ".weight";
    for (auto& [tensor_name, tensor] : tensors) {
      if (tensor_name == key) tensor = q;
    }
    tensors.emplace_back(name + ".weight_scale", scales);
    Json j = Json::object();
    j["format"] = kEmbeddingFormat;
    j["weight"] = kEmbeddingWeight;
    j["num_embeddings"] = q.size(0);
    j["embedding_dim"] = q.size(1);
    metadata[name] = j.dump();
  }
  std::stable_sort(tensors.begin(), tensors.end(), [](const auto& a, const auto& b) {
    return ElementSize(a.second) > ElementSize(b.second);
  });
  absl::Status status = base::WriteSafetensors(path, tensors, metadata);
  if (!status.ok()) {
    return absl::Status(status.code(), absl::StrCat("SaveQuantizedState: file '", path,
                                                    "': ", status.message()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> LoadQuantizedState(torch::nn::Module& fp32_model,
                                                            const std::string& path) {
  absl::StatusOr<std::unique_ptr<base::SafetensorsReader>> opened =
      base::SafetensorsReader::Open(path);
  if (!opened.ok()) {
    return Error(opened.status().code(), path, std::string(opened.status().message()));
  }
  const base::SafetensorsReader& reader = **opened;
  TensorSource source(reader, path);

  std::map<std::string, std::shared_ptr<torch::nn::Module>> modules;
  for (const auto& item : fp32_model.named_modules("", /*include_self=*/false)) {
    modules[item.key()] = item.value();
  }

  // 1. Rebuild every Int8 module (nothing is swapped yet).
  std::vector<std::string> names;
  std::vector<std::shared_ptr<Int8LinearModuleImpl>> built;
  std::vector<std::pair<torch::nn::Module*, std::string>> slots;
  std::vector<std::shared_ptr<FakeQuantMatMulKernel>> matmuls;
  std::vector<layers::MatMulImpl*> matmul_layers;
  struct EmbeddingTable {
    std::shared_ptr<torch::nn::EmbeddingImpl> module;
    at::Tensor table;
    at::Tensor scales;
  };
  std::vector<EmbeddingTable> embedding_tables;
  std::set<std::string> handled;  // Parameters restored from an int8 embedding.
  for (const auto& [name, text] : reader.metadata()) {
    auto it = modules.find(name);
    if (it == modules.end()) {
      return Error(absl::StatusCode::kInvalidArgument, path,
                   absl::StrCat("unknown module '", name, "' in metadata (the model has no "
                                "module of that name)"));
    }
    if (FormatOf(text) == kEmbeddingFormat) {
      auto embedding = std::dynamic_pointer_cast<torch::nn::EmbeddingImpl>(it->second);
      if (embedding == nullptr) {
        return Error(absl::StatusCode::kInvalidArgument, path,
                     absl::StrCat("module '", name,
                                  "' of the model is not a torch::nn::Embedding"));
      }
      ASSIGN_OR_RETURN(auto table,
                       BuildEmbeddingTable(path, name, text, *embedding, source));
      embedding_tables.push_back({embedding, std::move(table.first), std::move(table.second)});
      handled.insert(name + ".weight");
      continue;
    }
    if (FormatOf(text) == kMatMulFormat) {
      auto* layer = it->second->as<layers::MatMulImpl>();
      if (layer == nullptr) {
        return Error(absl::StatusCode::kInvalidArgument, path,
                     absl::StrCat("module '", name, "' of the model is not a layers::MatMul"));
      }
      if (layer->kernel() != nullptr) {
        return Error(absl::StatusCode::kInvalidArgument, path,
                     absl::StrCat("module '", name, "' of the model is not a layers::MatMul "
                                  "without a kernel (it is already quantized)"));
      }
      ASSIGN_OR_RETURN(std::shared_ptr<FakeQuantMatMulKernel> matmul,
                       BuildMatMul(path, name, text, source));
      matmuls.push_back(std::move(matmul));
      matmul_layers.push_back(layer);
      continue;
    }
    auto linear = std::dynamic_pointer_cast<layers::LinearImpl>(it->second);
    if (linear == nullptr) {
      return Error(absl::StatusCode::kInvalidArgument, path,
                   absl::StrCat("module '", name, "' of the model is not a torch::nn::Linear"));
    }
    ASSIGN_OR_RETURN(Int8Meta meta, ParseMeta(path, name, text));
    const auto& options = linear->options;
    if (options.in_features() != meta.in_features ||
        options.out_features() != meta.out_features || options.bias() != meta.bias) {
      return Error(absl::StatusCode::kInvalidArgument, path,
                   absl::StrCat("module '", name, "': the file has a Linear(",
                                meta.in_features, ", ", meta.out_features,
                                ", bias=", meta.bias, "), the model a Linear(",
                                options.in_features(), ", ", options.out_features(),
                                ", bias=", options.bias(), ")"));
    }
    ASSIGN_OR_RETURN(std::shared_ptr<Int8LinearModuleImpl> module,
                     BuildModule(path, name, meta, source));
    const size_t dot = name.rfind('.');
    torch::nn::Module* parent = &fp32_model;
    std::string leaf = name;
    if (dot != std::string::npos) {
      auto p = modules.find(name.substr(0, dot));
      if (p == modules.end()) {
        return Error(absl::StatusCode::kInternal, path,
                     absl::StrCat("module '", name, "': parent not found"));
      }
      parent = p->second.get();
      leaf = name.substr(dot + 1);
    }
    names.push_back(name);
    built.push_back(std::move(module));
    slots.emplace_back(parent, leaf);
  }

  // 2. Read every other parameter and buffer.
  auto in_int8 = [&](const std::string& key) {
    for (const std::string& name : names) {
      if (key.size() > name.size() && key.compare(0, name.size(), name) == 0 &&
          key[name.size()] == '.') {
        return true;
      }
    }
    return false;
  };
  std::vector<std::pair<at::Tensor, at::Tensor>> copies;  // (model tensor, file tensor)
  auto stage = [&](const std::string& key, const at::Tensor& target) -> absl::Status {
    if (in_int8(key) || handled.count(key) || !target.defined()) return absl::OkStatus();
    ASSIGN_OR_RETURN(at::Tensor loaded,
                     source.Read(key, target.scalar_type(), target.sizes().vec()));
    copies.emplace_back(target, std::move(loaded));
    return absl::OkStatus();
  };
  for (const auto& item : fp32_model.named_parameters(/*recurse=*/true)) {
    RETURN_IF_ERROR(stage(item.key(), item.value()));
  }
  for (const auto& item : fp32_model.named_buffers(/*recurse=*/true)) {
    RETURN_IF_ERROR(stage(item.key(), item.value()));
  }
  RETURN_IF_ERROR(source.CheckAllUsed());

  // 3. Apply: nothing below can fail.
  {
    torch::NoGradGuard no_grad;
    for (auto& [target, loaded] : copies) target.copy_(loaded);
    for (EmbeddingTable& e : embedding_tables) {
      e.module->weight.copy_(e.table);
      // Saving the loaded model again stores the table as int8 again.
      RecordEmbeddingScales(e.module->weight, e.scales);
    }
  }
  for (size_t i = 0; i < slots.size(); ++i) {
    slots[i].first->replace_module(slots[i].second, Int8LinearModule(built[i]));
  }
  for (size_t i = 0; i < matmul_layers.size(); ++i) matmul_layers[i]->set_kernel(matmuls[i]);
  return names;
}

}  // namespace compressor
