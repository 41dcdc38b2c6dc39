#include "export/onnx_reference_eval.h"

#include <cstring>
#include <vector>

#include <ATen/ATen.h>

#include "absl/strings/str_cat.h"
#include "onnx/onnx_pb.h"

namespace exporter {
namespace {

at::ScalarType AtType(int32_t onnx_type) {
  switch (onnx_type) {
    case onnx::TensorProto::FLOAT: return at::kFloat;
    case onnx::TensorProto::INT8: return at::kChar;
    case onnx::TensorProto::UINT8: return at::kByte;
    case onnx::TensorProto::INT64: return at::kLong;
    case onnx::TensorProto::BOOL: return at::kBool;
    default: TORCH_CHECK(false, "onnx eval: unsupported tensor type ", onnx_type);
  }
}

at::Tensor FromProto(const onnx::TensorProto& proto) {
  TORCH_CHECK(proto.has_raw_data(), "onnx eval: initializer ", proto.name(), " has no raw_data");
  std::vector<int64_t> dims(proto.dims().begin(), proto.dims().end());
  at::Tensor t = at::empty(dims, at::TensorOptions().dtype(AtType(proto.data_type())));
  TORCH_CHECK(static_cast<size_t>(t.nbytes()) == proto.raw_data().size(), "onnx eval: initializer ",
              proto.name(), " has ", proto.raw_data().size(), " bytes for ", t.nbytes());
  std::memcpy(t.data_ptr(), proto.raw_data().data(), t.nbytes());
  return t;
}

const onnx::AttributeProto* Attr(const onnx::NodeProto& node, const std::string& name) {
  for (const auto& a : node.attribute()) {
    if (a.name() == name) return &a;
  }
  return nullptr;
}
int64_t IntAttr(const onnx::NodeProto& node, const std::string& name, int64_t fallback) {
  const auto* a = Attr(node, name);
  return a == nullptr ? fallback : a->i();
}
std::vector<int64_t> IntsAttr(const onnx::NodeProto& node, const std::string& name) {
  const auto* a = Attr(node, name);
  TORCH_CHECK(a != nullptr, "onnx eval: node ", node.name(), " lacks attribute ", name);
  return std::vector<int64_t>(a->ints().begin(), a->ints().end());
}
std::vector<int64_t> Ints(const at::Tensor& t) {
  const at::Tensor l = t.to(at::kLong).contiguous().reshape({-1});
  return std::vector<int64_t>(l.data_ptr<int64_t>(), l.data_ptr<int64_t>() + l.numel());
}

// Broadcasts a per-axis [C] parameter against `x` along `axis`, or leaves a scalar alone.
at::Tensor AlongAxis(const at::Tensor& p, const at::Tensor& x, int64_t axis) {
  if (p.dim() == 0) return p;
  if (axis < 0) axis += x.dim();
  std::vector<int64_t> shape(x.dim(), 1);
  shape[axis] = p.numel();
  return p.reshape(shape);
}

// Quantize with ONNX's rule: saturate(round_half_even(x / scale) + zero_point).
at::Tensor QuantizeOnnx(const at::Tensor& x, const at::Tensor& scale, const at::Tensor& zp,
                        int64_t axis) {
  const bool is_uint8 = zp.scalar_type() == at::kByte;
  const at::Tensor s = AlongAxis(scale, x, axis);
  const at::Tensor z = AlongAxis(zp.to(at::kFloat), x, axis);
  const at::Tensor q = at::round(x / s) + z;
  return q.clamp(is_uint8 ? 0 : -128, is_uint8 ? 255 : 127).to(zp.scalar_type());
}

at::Tensor Run(const onnx::NodeProto& node, const std::vector<at::Tensor>& in,
               std::vector<at::Tensor>* extra_outputs) {
  const std::string& op = node.op_type();
  if (op == "Identity") return in[0];
  if (op == "Add") return in[0] + in[1];
  if (op == "Sub") return in[0] - in[1];
  if (op == "Mul") return in[0] * in[1];
  if (op == "Div") return in[0] / in[1];
  if (op == "Sqrt") return at::sqrt(in[0]);
  if (op == "Erf") return at::erf(in[0]);
  if (op == "Tanh") return at::tanh(in[0]);
  if (op == "Relu") return at::relu(in[0]);
  if (op == "MatMul") return at::matmul(in[0], in[1]);
  if (op == "Equal") return at::eq(in[0], in[1]);
  if (op == "Where") return at::where(in[0], in[1], in[2]);
  if (op == "Shape") return at::tensor(in[0].sizes().vec(), at::kLong);
  if (op == "Softmax") return at::softmax(in[0], IntAttr(node, "axis", -1));
  if (op == "Gather") return at::index_select(in[0], IntAttr(node, "axis", 0),
                                              in[1].reshape({-1}))
                          .reshape([&] {
                            std::vector<int64_t> shape;
                            int64_t axis = IntAttr(node, "axis", 0);
                            if (axis < 0) axis += in[0].dim();
                            for (int64_t d = 0; d < axis; ++d) shape.push_back(in[0].size(d));
                            for (int64_t d : in[1].sizes()) shape.push_back(d);
                            for (int64_t d = axis + 1; d < in[0].dim(); ++d) {
                              shape.push_back(in[0].size(d));
                            }
                            return shape;
                          }());
  if (op == "Cast") {
    return in[0].to(AtType(static_cast<int32_t>(IntAttr(node, "to", onnx::TensorProto::FLOAT))));
  }
  if (op == "ReduceMean") {
    return at::mean(in[0], IntsAttr(node, "axes"), IntAttr(node, "keepdims", 1) != 0);
  }
  if (op == "Transpose") return in[0].permute(IntsAttr(node, "perm")).contiguous();
  if (op == "Reshape") {
    std::vector<int64_t> shape = Ints(in[1]);
    for (size_t i = 0; i < shape.size(); ++i) {
      if (shape[i] == 0) shape[i] = in[0].size(static_cast<int64_t>(i));
    }
    return in[0].reshape(shape);
  }
  if (op == "Unsqueeze") {
    at::Tensor x = in[0];
    std::vector<int64_t> axes = Ints(in[1]);
    const int64_t rank = x.dim() + static_cast<int64_t>(axes.size());
    for (auto& a : axes) a = a < 0 ? a + rank : a;
    std::sort(axes.begin(), axes.end());
    for (int64_t a : axes) x = x.unsqueeze(a);
    return x;
  }
  if (op == "Squeeze") {
    at::Tensor x = in[0];
    std::vector<int64_t> axes = Ints(in[1]);
    for (auto& a : axes) a = a < 0 ? a + x.dim() : a;
    std::sort(axes.rbegin(), axes.rend());
    for (int64_t a : axes) x = x.squeeze(a);
    return x;
  }
  if (op == "Slice") {
    const std::vector<int64_t> starts = Ints(in[1]), ends = Ints(in[2]);
    std::vector<int64_t> axes;
    if (in.size() > 3 && in[3].defined()) {
      axes = Ints(in[3]);
    } else {
      for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
    }
    at::Tensor x = in[0];
    for (size_t i = 0; i < axes.size(); ++i) {
      const int64_t axis = axes[i] < 0 ? axes[i] + x.dim() : axes[i];
      const int64_t size = x.size(axis);
      auto clampi = [&](int64_t v) {
        if (v < 0) v += size;
        return std::max<int64_t>(0, std::min(v, size));
      };
      x = x.slice(axis, clampi(starts[i]), clampi(ends[i]));
    }
    return x;
  }
  if (op == "Split") {
    const std::vector<int64_t> sizes = Ints(in[1]);
    auto parts = at::split_with_sizes(in[0], sizes, IntAttr(node, "axis", 0));
    for (size_t i = 1; i < parts.size(); ++i) extra_outputs->push_back(parts[i]);
    return parts[0];
  }
  if (op == "QuantizeLinear") {
    TORCH_CHECK(in.size() == 3, "onnx eval: QuantizeLinear without a zero point");
    return QuantizeOnnx(in[0], in[1], in[2], IntAttr(node, "axis", 1));
  }
  if (op == "DequantizeLinear") {
    const int64_t axis = IntAttr(node, "axis", 1);
    const at::Tensor z = AlongAxis(in[2].to(at::kFloat), in[0], axis);
    return (in[0].to(at::kFloat) - z) * AlongAxis(in[1], in[0], axis);
  }
  if (op == "DynamicQuantizeLinear") {
    const float lo = std::min(0.0f, in[0].min().item<float>());
    const float hi = std::max(0.0f, in[0].max().item<float>());
    float scale = (hi - lo) / 255.0f;
    if (scale == 0.0f) scale = 1.0f;  // An all-zero input: any scale gives zeros.
    const at::Tensor s = at::full({}, scale, at::kFloat);
    const float zp = std::nearbyint(std::min(255.0f, std::max(0.0f, -lo / scale)));
    const at::Tensor z = at::full({}, static_cast<int64_t>(zp), at::kLong).to(at::kByte);
    extra_outputs->push_back(s);
    extra_outputs->push_back(z);
    return QuantizeOnnx(in[0], s, z, 1);
  }
  TORCH_CHECK(false, "onnx eval: operator ", op, " is not implemented");
}

}  // namespace

absl::StatusOr<std::map<std::string, at::Tensor>> RunOnnxGraph(
    const std::string& model_bytes, const std::map<std::string, at::Tensor>& inputs) {
  onnx::ModelProto model;
  if (!model.ParseFromString(model_bytes)) {
    return absl::InvalidArgumentError("onnx eval: the bytes are not a ModelProto");
  }
  std::map<std::string, at::Tensor> values = inputs;
  const onnx::GraphProto& graph = model.graph();
  try {
    for (const auto& init : graph.initializer()) values[init.name()] = FromProto(init);
    for (const auto& node : graph.node()) {
      std::vector<at::Tensor> in;
      for (const auto& name : node.input()) {
        if (name.empty()) {
          in.emplace_back();
          continue;
        }
        auto it = values.find(name);
        if (it == values.end()) {
          return absl::InvalidArgumentError(absl::StrCat("onnx eval: node ", node.name(),
                                                         " reads undefined value ", name));
        }
        in.push_back(it->second);
      }
      std::vector<at::Tensor> extra;
      at::Tensor first = Run(node, in, &extra);
      values[node.output(0)] = first;
      for (int i = 1; i < node.output_size(); ++i) {
        if (static_cast<size_t>(i - 1) >= extra.size()) {
          return absl::InternalError(absl::StrCat("onnx eval: node ", node.name(), " (",
                                                  node.op_type(), ") gave too few outputs"));
        }
        values[node.output(i)] = extra[i - 1];
      }
    }
  } catch (const c10::Error& e) {
    return absl::InvalidArgumentError(e.what_without_backtrace());
  }
  std::map<std::string, at::Tensor> outputs;
  for (const auto& out : graph.output()) {
    auto it = values.find(out.name());
    if (it == values.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("onnx eval: graph output ", out.name(), " is never computed"));
    }
    outputs[out.name()] = it->second;
  }
  return outputs;
}

}  // namespace exporter
