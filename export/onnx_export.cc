#include "export/onnx_export.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <memory>
#include <utility>
#include <vector>

#include <ATen/ATen.h>
#include <torch/nn/modules/linear.h>
#include <torch/utils.h>

#include "absl/strings/str_cat.h"
#include "base/atomic_file.h"
#include "base/status_macros.h"
#include "compressor/quantization/convert.h"
#include "compressor/quantization/qat.h"
#include "compressor/quantization/qscheme.h"
#include "layers/linear.h"
#include "onnx/onnx_pb.h"

namespace exporter {
namespace {

using Attrs = std::vector<onnx::AttributeProto>;

onnx::AttributeProto IntAttr(const std::string& name, int64_t value) {
  onnx::AttributeProto a;
  a.set_name(name);
  a.set_type(onnx::AttributeProto::INT);
  a.set_i(value);
  return a;
}

onnx::AttributeProto IntsAttr(const std::string& name, const std::vector<int64_t>& values) {
  onnx::AttributeProto a;
  a.set_name(name);
  a.set_type(onnx::AttributeProto::INTS);
  for (int64_t v : values) a.add_ints(v);
  return a;
}

int32_t OnnxType(at::ScalarType type) {
  switch (type) {
    case at::kFloat: return onnx::TensorProto::FLOAT;
    case at::kChar: return onnx::TensorProto::INT8;
    case at::kByte: return onnx::TensorProto::UINT8;
    case at::kLong: return onnx::TensorProto::INT64;
    default: TORCH_CHECK(false, "onnx export: no ONNX type for ", type);
  }
}

// Builds one GraphProto: unique value names, initializers from tensors, nodes.
class GraphBuilder {
 public:
  explicit GraphBuilder(onnx::GraphProto* graph) : graph_(graph) {}

  // An initializer holding `tensor` (copied, contiguous, little-endian raw data).
  std::string Initializer(const std::string& name, const at::Tensor& tensor) {
    const at::Tensor t = tensor.detach().contiguous().cpu();
    onnx::TensorProto* proto = graph_->add_initializer();
    proto->set_name(name);
    proto->set_data_type(OnnxType(t.scalar_type()));
    for (int64_t d : t.sizes()) proto->add_dims(d);
    proto->set_raw_data(std::string(static_cast<const char*>(t.data_ptr()), t.nbytes()));
    return name;
  }
  std::string Float(float value) {
    return Initializer(Fresh("const_f"), at::full({}, value, at::kFloat));
  }
  std::string Int64s(const std::vector<int64_t>& values) {
    return Initializer(Fresh("const_i"), at::tensor(values, at::kLong));
  }

  // Adds a node with one output; returns the output's name.
  std::string Op(const std::string& op, const std::vector<std::string>& inputs,
                 const Attrs& attrs = {}, const std::string& output = "") {
    return Ops(op, inputs, 1, attrs, output).front();
  }
  std::vector<std::string> Ops(const std::string& op, const std::vector<std::string>& inputs,
                               int outputs, const Attrs& attrs = {},
                               const std::string& first_output = "") {
    onnx::NodeProto* node = graph_->add_node();
    node->set_op_type(op);
    node->set_name(Fresh(op));
    for (const auto& in : inputs) node->add_input(in);
    std::vector<std::string> names;
    for (int i = 0; i < outputs; ++i) {
      names.push_back(i == 0 && !first_output.empty() ? first_output : Fresh(op + "_out"));
      node->add_output(names.back());
    }
    for (const auto& a : attrs) *node->add_attribute() = a;
    return names;
  }

  void Input(const std::string& name, int32_t type, const std::vector<std::string>& dims) {
    ValueInfo(graph_->add_input(), name, type, dims);
  }
  void Output(const std::string& name, const std::vector<std::string>& dims) {
    ValueInfo(graph_->add_output(), name, onnx::TensorProto::FLOAT, dims);
  }

 private:
  std::string Fresh(const std::string& base) { return absl::StrCat(base, "_", next_++); }
  static void ValueInfo(onnx::ValueInfoProto* info, const std::string& name, int32_t type,
                        const std::vector<std::string>& dims) {
    info->set_name(name);
    auto* tensor = info->mutable_type()->mutable_tensor_type();
    tensor->set_elem_type(type);
    for (const auto& d : dims) {
      auto* dim = tensor->mutable_shape()->add_dim();
      if (!d.empty() && std::isdigit(static_cast<unsigned char>(d[0]))) {
        dim->set_dim_value(std::stoll(d));
      } else {
        dim->set_dim_param(d);
      }
    }
  }

  onnx::GraphProto* graph_;
  int64_t next_ = 0;
};

// Scale and zero point of one quantized tensor as ONNX wants them: scalars per-tensor,
// [channels] per-channel.
struct QParamsOut {
  at::Tensor scale;       // float
  at::Tensor zero_point;  // uint8 or int8
};

QParamsOut ToOnnxQParams(const at::Tensor& scale, const at::Tensor& zero_point, bool is_uint8,
                         bool per_channel) {
  at::Tensor s = scale.detach().to(at::kFloat).reshape({-1});
  at::Tensor z = zero_point.detach().to(at::kLong).reshape({-1}).to(is_uint8 ? at::kByte
                                                                              : at::kChar);
  if (!per_channel) {
    s = s.reshape({});
    z = z.reshape({});
  }
  return {s, z};
}

class BertExporter {
 public:
  BertExporter(models::PreTrainedModel& model, onnx::GraphProto* graph,
               OnnxExportSummary* summary)
      : model_(model), config_(model.config()), g_(graph), summary_(summary) {
    for (const auto& item : model.named_modules("", /*include_self=*/false)) {
      modules_[item.key()] = item.value();
    }
    for (const auto& item : model.named_parameters()) tensors_[item.key()] = item.value();
    for (const auto& item : model.named_buffers()) tensors_[item.key()] = item.value();
  }

  absl::Status Build() {
    const std::string& arch = model_.architecture();
    const bool distil = arch.rfind("DistilBert", 0) == 0;
    const std::string base = (arch == "BertModel" || arch == "DistilBertModel")
                                 ? ""
                                 : (distil ? "distilbert." : "bert.");
    if (config_.hidden_act != "gelu" && config_.hidden_act != "gelu_new" &&
        config_.hidden_act != "gelu_pytorch_tanh" && config_.hidden_act != "relu") {
      return absl::UnimplementedError(absl::StrCat(
          "onnx export: activation '", config_.hidden_act,
          "' is not exported (gelu, gelu_new, gelu_pytorch_tanh, relu are)"));
    }
    g_.Input("input_ids", onnx::TensorProto::INT64, {"batch", "sequence"});
    g_.Input("attention_mask", onnx::TensorProto::INT64, {"batch", "sequence"});
    if (!distil) g_.Input("token_type_ids", onnx::TensorProto::INT64, {"batch", "sequence"});

    ASSIGN_OR_RETURN(std::string hidden, Embeddings(base + "embeddings", distil));
    std::string mask;  // BERT: additive [b,1,1,s]; DistilBERT: bool "padded" [b,1,1,s].
    const std::string axes12 = g_.Int64s({1, 2});
    if (distil) {
      const std::string padded =
          g_.Op("Equal", {"attention_mask", g_.Initializer("zero_i64", at::zeros({}, at::kLong))});
      mask = g_.Op("Unsqueeze", {padded, axes12});
    } else {
      const std::string m = g_.Op("Cast", {"attention_mask"}, {IntAttr("to", onnx::TensorProto::FLOAT)});
      const std::string inverted = g_.Op("Sub", {g_.Float(1.0f), m});
      const std::string additive =
          g_.Op("Mul", {inverted, g_.Float(std::numeric_limits<float>::lowest())});
      mask = g_.Op("Unsqueeze", {additive, axes12});
    }
    for (int64_t i = 0; i < config_.num_hidden_layers; ++i) {
      if (distil) {
        ASSIGN_OR_RETURN(hidden, DistilLayer(absl::StrCat(base, "transformer.layer.", i), hidden,
                                             mask));
      } else {
        ASSIGN_OR_RETURN(hidden, BertLayer(absl::StrCat(base, "encoder.layer.", i), hidden, mask));
      }
    }
    return Head(arch, base, hidden);
  }

 private:
  absl::StatusOr<at::Tensor> Tensor(const std::string& name) const {
    auto it = tensors_.find(name);
    if (it == tensors_.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("onnx export: the model has no tensor '", name, "'"));
    }
    return it->second;
  }
  std::string Weight(const std::string& name, const at::Tensor& t) {
    if (auto it = exported_.find(name); it != exported_.end()) return it->second;
    return exported_[name] = g_.Initializer(name, t);
  }
  absl::StatusOr<std::string> WeightByName(const std::string& name) {
    ASSIGN_OR_RETURN(at::Tensor t, Tensor(name));
    return Weight(name, t.to(at::kFloat));
  }

  absl::StatusOr<std::string> LayerNorm(const std::string& prefix, const std::string& x) {
    ASSIGN_OR_RETURN(std::string gamma, WeightByName(prefix + ".weight"));
    ASSIGN_OR_RETURN(std::string beta, WeightByName(prefix + ".bias"));
    const Attrs last = {IntsAttr("axes", {-1}), IntAttr("keepdims", 1)};
    const std::string mean = g_.Op("ReduceMean", {x}, last);
    const std::string centered = g_.Op("Sub", {x, mean});
    const std::string var = g_.Op("ReduceMean", {g_.Op("Mul", {centered, centered})}, last);
    const std::string denom =
        g_.Op("Sqrt", {g_.Op("Add", {var, g_.Float(static_cast<float>(config_.layer_norm_eps))})});
    const std::string normed = g_.Op("Div", {centered, denom});
    return g_.Op("Add", {g_.Op("Mul", {normed, gamma}), beta});
  }

  std::string Activation(const std::string& x) {
    const std::string& act = config_.hidden_act;
    if (act == "relu") return g_.Op("Relu", {x});
    if (act == "gelu") {
      const std::string erf = g_.Op("Erf", {g_.Op("Div", {x, g_.Float(std::sqrt(2.0f))})});
      return g_.Op("Mul", {g_.Op("Mul", {x, g_.Float(0.5f)}), g_.Op("Add", {erf, g_.Float(1.0f)})});
    }
    // gelu_new / gelu_pytorch_tanh: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
    const std::string cube = g_.Op("Mul", {g_.Op("Mul", {x, x}), x});
    const std::string inner = g_.Op("Add", {x, g_.Op("Mul", {cube, g_.Float(0.044715f)})});
    const std::string t = g_.Op(
        "Tanh", {g_.Op("Mul", {inner, g_.Float(static_cast<float>(std::sqrt(2.0 / M_PI)))})});
    return g_.Op("Mul", {g_.Op("Mul", {x, g_.Float(0.5f)}), g_.Op("Add", {t, g_.Float(1.0f)})});
  }

  // x -> Q -> DQ with static qparams.
  std::string QuantDequant(const std::string& name, const std::string& x, const at::Tensor& scale,
                           const at::Tensor& zero_point, bool is_uint8) {
    const QParamsOut q = ToOnnxQParams(scale, zero_point, is_uint8, /*per_channel=*/false);
    const std::string s = g_.Initializer(name + "_scale", q.scale);
    const std::string z = g_.Initializer(name + "_zero_point", q.zero_point);
    return g_.Op("DequantizeLinear", {g_.Op("QuantizeLinear", {x, s, z}), s, z});
  }

  // The Linear `name` applied to `x` (any leading dims).
  absl::StatusOr<std::string> Linear(const std::string& name, const std::string& x) {
    auto it = modules_.find(name);
    if (it == modules_.end()) {
      return absl::InvalidArgumentError(absl::StrCat("onnx export: the model has no module '", name, "'"));
    }
    torch::nn::Module* module = it->second.get();
    torch::NoGradGuard no_grad;
    auto* linear = dynamic_cast<layers::LinearImpl*>(module);
    if (linear != nullptr && linear->kernel() == nullptr) {
      ++summary_->fp32_linears;
      const std::string w = g_.Initializer(name + ".weight_t", linear->weight.t());
      std::string y = g_.Op("MatMul", {x, w});
      if (linear->bias.defined()) y = g_.Op("Add", {y, g_.Initializer(name + ".bias", linear->bias)});
      return y;
    }
    // Quantized: gather the integers and qparams from either module type.
    at::Tensor weight_int8, weight_scale, bias, input_scale, input_zp, output_scale, output_zp;
    bool per_channel = false, dynamic = false, act_uint8 = true, out_uint8 = true;
    if (auto q = linear == nullptr ? nullptr
                                   : std::dynamic_pointer_cast<compressor::FakeQuantLinearKernel>(
                                         linear->kernel())) {
      if (!q->frozen()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "onnx export: QuantizedLinear '", name,
            "' is not frozen; finish QAT/calibration (on_train_end) before exporting"));
      }
      const compressor::QuantizedLinearOptions& o = q->options();
      if (o.weight_scheme.dtype != "int8" || !o.weight_scheme.symmetric ||
          (o.weight_scheme.per_channel && o.weight_scheme.ch_axis != 0)) {
        return absl::UnimplementedError(absl::StrCat(
            "onnx export: module '", name, "': weight scheme ", o.weight_scheme.ToString(),
            " is not exported (int8 symmetric, per-tensor or per-channel on axis 0 are)"));
      }
      const compressor::QuantParams wq = q->weight_qparams();
      weight_int8 = compressor::Quantize(q->weight, wq, o.weight_scheme);
      weight_scale = wq.scale;
      per_channel = o.weight_scheme.per_channel;
      bias = q->bias;
      dynamic = o.dynamic_input;
      act_uint8 = o.activation_scheme.dtype == "uint8";
      if (!dynamic) {
        if (q->input_observer() != nullptr && !q->input_observer()->observed()) {
          return absl::InvalidArgumentError(absl::StrCat(
              "onnx export: QuantizedLinear '", name,
              "' never observed an input; its activation range is unknown"));
        }
        const compressor::QuantParams iq = q->input_qparams();
        input_scale = iq.scale;
        input_zp = iq.zero_point;
      }
      if (q->output_observer() != nullptr) {
        const compressor::QuantParams oq = q->output_qparams();
        output_scale = oq.scale;
        output_zp = oq.zero_point;
        out_uint8 = act_uint8;
      }
    } else if (auto* m = dynamic_cast<compressor::Int8LinearModuleImpl*>(module)) {
      const kernels::Int8LinearParams& p = m->params();
      weight_int8 = p.weight_int8;
      weight_scale = p.weight_scales;
      per_channel = p.weight_scales.numel() > 1;  // [out] scales; one output: the same thing.
      bias = p.bias;
      dynamic = p.dynamic;
      act_uint8 = !p.activation_signed;
      if (!dynamic) {
        input_scale = at::full({1}, p.input_scale, at::kFloat);
        input_zp = at::full({1}, p.input_zero_point, at::kLong);
      }
      if (m->requantizes_output()) {
        for (const auto& b : m->named_buffers(/*recurse=*/false)) {
          if (b.key() == "output_scale") output_scale = b.value();
          if (b.key() == "output_zero_point") output_zp = b.value();
        }
        if (!output_scale.defined() || !output_zp.defined()) {
          return absl::InvalidArgumentError(absl::StrCat(
              "onnx export: Int8LinearModule '", name,
              "' re-quantizes its output but has no output_scale/output_zero_point buffer"));
        }
        // The output is fake-quantized with the activation scheme's dtype.
        out_uint8 = act_uint8;
      }
    } else {
      return absl::UnimplementedError(absl::StrCat("onnx export: module '", name,
                                                   "' is neither a Linear, a QuantizedLinear "
                                                   "nor an Int8LinearModule"));
    }
    ++summary_->quantized_linears;
    // Activation.
    std::string xq;
    if (dynamic) {
      if (!act_uint8) {
        return absl::UnimplementedError(absl::StrCat(
            "onnx export: module '", name,
            "': dynamic int8 activations have no ONNX op (DynamicQuantizeLinear is uint8)"));
      }
      const auto outs = g_.Ops("DynamicQuantizeLinear", {x}, 3);
      xq = g_.Op("DequantizeLinear", {outs[0], outs[1], outs[2]});
    } else {
      xq = QuantDequant(name + ".input", x, input_scale, input_zp, act_uint8);
    }
    // Weight: int8 [in, out] so that MatMul(x, W) needs no Transpose; per-channel scales
    // run along the out axis (1).
    const QParamsOut wq =
        ToOnnxQParams(weight_scale, at::zeros_like(weight_scale, at::kLong), false, per_channel);
    const std::string w = g_.Initializer(name + ".weight_quantized", weight_int8.t());
    const std::string ws = g_.Initializer(name + ".weight_scale", wq.scale);
    const std::string wz = g_.Initializer(name + ".weight_zero_point", wq.zero_point);
    const std::string wdq =
        g_.Op("DequantizeLinear", {w, ws, wz}, per_channel ? Attrs{IntAttr("axis", 1)} : Attrs{});
    std::string y = g_.Op("MatMul", {xq, wdq});
    if (bias.defined()) y = g_.Op("Add", {y, g_.Initializer(name + ".bias", bias.to(at::kFloat))});
    if (output_scale.defined()) {
      ++summary_->requantized_outputs;
      y = QuantDequant(name + ".output", y, output_scale, output_zp, out_uint8);
    }
    return y;
  }

  absl::StatusOr<std::string> Embeddings(const std::string& prefix, bool distil) {
    ASSIGN_OR_RETURN(std::string words, WeightByName(prefix + ".word_embeddings.weight"));
    ASSIGN_OR_RETURN(std::string positions, WeightByName(prefix + ".position_embeddings.weight"));
    std::string x = g_.Op("Gather", {words, "input_ids"}, {IntAttr("axis", 0)});
    // positions[0:sequence]: Slice the table by the input's second dimension.
    const std::string seq_len =
        g_.Op("Slice", {g_.Op("Shape", {"input_ids"}), g_.Int64s({1}), g_.Int64s({2})});
    const std::string pos = g_.Op("Slice", {positions, g_.Int64s({0}), seq_len, g_.Int64s({0})});
    x = g_.Op("Add", {x, pos});
    if (!distil) {
      ASSIGN_OR_RETURN(std::string types, WeightByName(prefix + ".token_type_embeddings.weight"));
      x = g_.Op("Add", {x, g_.Op("Gather", {types, "token_type_ids"}, {IntAttr("axis", 0)})});
    }
    return LayerNorm(prefix + ".LayerNorm", x);
  }

  // [b, s, hidden] -> [b, heads, s, head_dim] (or [b, heads, head_dim, s] when `keys`).
  std::string SplitHeads(const std::string& x, bool keys) {
    const std::string shaped = g_.Op(
        "Reshape", {x, g_.Int64s({0, 0, config_.num_attention_heads, config_.head_dim()})});
    return g_.Op("Transpose", {shaped}, {IntsAttr("perm", keys ? std::vector<int64_t>{0, 2, 3, 1}
                                                              : std::vector<int64_t>{0, 2, 1, 3})});
  }
  std::string MergeHeads(const std::string& x) {
    const std::string t = g_.Op("Transpose", {x}, {IntsAttr("perm", {0, 2, 1, 3})});
    return g_.Op("Reshape", {t, g_.Int64s({0, 0, config_.hidden_size})});
  }

  absl::StatusOr<std::string> BertLayer(const std::string& p, const std::string& x,
                                        const std::string& mask) {
    const std::string a = p + ".attention.self.";
    ASSIGN_OR_RETURN(std::string q, Linear(a + "query", x));
    ASSIGN_OR_RETURN(std::string k, Linear(a + "key", x));
    ASSIGN_OR_RETURN(std::string v, Linear(a + "value", x));
    std::string scores = g_.Op("MatMul", {SplitHeads(q, false), SplitHeads(k, true)});
    scores = g_.Op("Div", {scores, g_.Float(static_cast<float>(std::sqrt(double(config_.head_dim()))))});
    scores = g_.Op("Add", {scores, mask});
    const std::string probs = g_.Op("Softmax", {scores}, {IntAttr("axis", -1)});
    const std::string context = MergeHeads(g_.Op("MatMul", {probs, SplitHeads(v, false)}));
    ASSIGN_OR_RETURN(std::string attn_out, Linear(p + ".attention.output.dense", context));
    ASSIGN_OR_RETURN(std::string attended,
                     LayerNorm(p + ".attention.output.LayerNorm", g_.Op("Add", {attn_out, x})));
    ASSIGN_OR_RETURN(std::string inter, Linear(p + ".intermediate.dense", attended));
    ASSIGN_OR_RETURN(std::string out, Linear(p + ".output.dense", Activation(inter)));
    return LayerNorm(p + ".output.LayerNorm", g_.Op("Add", {out, attended}));
  }

  absl::StatusOr<std::string> DistilLayer(const std::string& p, const std::string& x,
                                          const std::string& padded) {
    const std::string a = p + ".attention.";
    ASSIGN_OR_RETURN(std::string q, Linear(a + "q_lin", x));
    ASSIGN_OR_RETURN(std::string k, Linear(a + "k_lin", x));
    ASSIGN_OR_RETURN(std::string v, Linear(a + "v_lin", x));
    const std::string q_scaled = g_.Op(
        "Div", {SplitHeads(q, false), g_.Float(static_cast<float>(std::sqrt(double(config_.head_dim()))))});
    std::string scores = g_.Op("MatMul", {q_scaled, SplitHeads(k, true)});
    scores = g_.Op("Where", {padded, g_.Float(std::numeric_limits<float>::lowest()), scores});
    const std::string probs = g_.Op("Softmax", {scores}, {IntAttr("axis", -1)});
    const std::string context = MergeHeads(g_.Op("MatMul", {probs, SplitHeads(v, false)}));
    ASSIGN_OR_RETURN(std::string attn_out, Linear(a + "out_lin", context));
    ASSIGN_OR_RETURN(std::string attended,
                     LayerNorm(p + ".sa_layer_norm", g_.Op("Add", {attn_out, x})));
    ASSIGN_OR_RETURN(std::string inner, Linear(p + ".ffn.lin1", attended));
    ASSIGN_OR_RETURN(std::string out, Linear(p + ".ffn.lin2", Activation(inner)));
    return LayerNorm(p + ".output_layer_norm", g_.Op("Add", {out, attended}));
  }

  // hidden[:, 0]
  std::string FirstToken(const std::string& hidden) {
    return g_.Op("Gather", {hidden, g_.Initializer("first_token", at::zeros({}, at::kLong))},
                 {IntAttr("axis", 1)});
  }

  void SplitLogits(const std::string& logits) {
    const auto halves = g_.Ops("Split", {logits, g_.Int64s({1, 1})}, 2, {IntAttr("axis", -1)});
    const std::string last = g_.Int64s({-1});
    g_.Op("Squeeze", {halves[0], last}, {}, "start_logits");
    g_.Op("Squeeze", {halves[1], last}, {}, "end_logits");
    g_.Output("start_logits", {"batch", "sequence"});
    g_.Output("end_logits", {"batch", "sequence"});
  }

  absl::Status Head(const std::string& arch, const std::string& base, const std::string& hidden) {
    const std::string h = std::to_string(config_.hidden_size);
    if (arch == "BertModel" || arch == "DistilBertModel") {
      g_.Op("Identity", {hidden}, {}, "last_hidden_state");
      g_.Output("last_hidden_state", {"batch", "sequence", h});
      if (modules_.count(base + "pooler.dense")) {
        ASSIGN_OR_RETURN(std::string pooled, Linear(base + "pooler.dense", FirstToken(hidden)));
        g_.Op("Tanh", {pooled}, {}, "pooler_output");
        g_.Output("pooler_output", {"batch", h});
      }
      return absl::OkStatus();
    }
    if (arch == "BertForQuestionAnswering" || arch == "DistilBertForQuestionAnswering") {
      ASSIGN_OR_RETURN(std::string logits, Linear("qa_outputs", hidden));
      SplitLogits(logits);
      return absl::OkStatus();
    }
    const std::string labels = std::to_string(config_.num_labels);
    if (arch == "BertForSequenceClassification") {
      ASSIGN_OR_RETURN(std::string pooled, Linear(base + "pooler.dense", FirstToken(hidden)));
      ASSIGN_OR_RETURN(std::string logits, Linear("classifier", g_.Op("Tanh", {pooled})));
      g_.Op("Identity", {logits}, {}, "logits");
      g_.Output("logits", {"batch", labels});
      return absl::OkStatus();
    }
    if (arch == "DistilBertForSequenceClassification") {
      ASSIGN_OR_RETURN(std::string pooled, Linear("pre_classifier", FirstToken(hidden)));
      ASSIGN_OR_RETURN(std::string logits, Linear("classifier", g_.Op("Relu", {pooled})));
      g_.Op("Identity", {logits}, {}, "logits");
      g_.Output("logits", {"batch", labels});
      return absl::OkStatus();
    }
    const std::string vocab = std::to_string(config_.vocab_size);
    if (arch == "BertForMaskedLM" || arch == "DistilBertForMaskedLM") {
      const bool distil = arch == "DistilBertForMaskedLM";
      std::string t;
      if (distil) {
        ASSIGN_OR_RETURN(t, Linear("vocab_transform", hidden));
        ASSIGN_OR_RETURN(t, LayerNorm("vocab_layer_norm", Activation(t)));
      } else {
        ASSIGN_OR_RETURN(t, Linear("cls.predictions.transform.dense", hidden));
        ASSIGN_OR_RETURN(t, LayerNorm("cls.predictions.transform.LayerNorm", Activation(t)));
      }
      // The decoder is tied to the word embeddings: reuse that initializer, transposed.
      ASSIGN_OR_RETURN(std::string words, WeightByName(base + "embeddings.word_embeddings.weight"));
      ASSIGN_OR_RETURN(std::string bias,
                       WeightByName(distil ? "vocab_projector.bias" : "cls.predictions.bias"));
      const std::string decoder = g_.Op("Transpose", {words}, {IntsAttr("perm", {1, 0})});
      g_.Op("Add", {g_.Op("MatMul", {t, decoder}), bias}, {}, "logits");
      g_.Output("logits", {"batch", "sequence", vocab});
      return absl::OkStatus();
    }
    return absl::UnimplementedError(absl::StrCat(
        "onnx export: architecture '", arch,
        "' is not exported (BertModel, BertForQuestionAnswering, "
        "BertForSequenceClassification, BertForMaskedLM and their DistilBert counterparts are)"));
  }

  models::PreTrainedModel& model_;
  const models::BertConfig& config_;
  GraphBuilder g_;
  OnnxExportSummary* summary_;
  std::map<std::string, std::shared_ptr<torch::nn::Module>> modules_;
  std::map<std::string, at::Tensor> tensors_;
  std::map<std::string, std::string> exported_;  // Tensor name -> initializer name.
};

}  // namespace

absl::StatusOr<std::string> ExportOnnxBytes(models::PreTrainedModel& model,
                                            const OnnxExportOptions& options,
                                            OnnxExportSummary* summary) {
  if (options.opset < 13 || options.opset > 17) {
    return absl::InvalidArgumentError(absl::StrCat(
        "onnx export: opset ", options.opset, " is not supported (13..17: per-axis "
        "DequantizeLinear needs 13; the Split/Squeeze/ReduceMean forms used are 13..17)"));
  }
  // The exporter writes the attention products as fp32 MatMuls; exporting a model whose
  // attention matmuls are quantized would silently drop their input quantization.
  if (const auto matmuls = compressor::QuantizedMatMuls(model); !matmuls.empty()) {
    return absl::UnimplementedError(absl::StrCat(
        "onnx export: the model has ", matmuls.size(), " quantized attention matmuls (e.g. '",
        matmuls.front().first, "', quantize_attention_matmuls); the exporter has no QDQ form "
        "for them yet: export a model quantized without quantize_attention_matmuls"));
  }
  OnnxExportSummary local;
  if (summary == nullptr) summary = &local;
  *summary = OnnxExportSummary{};
  onnx::ModelProto proto;
  // IR 7 is what opsets 13/14 require, 8 what 15..17 require.
  proto.set_ir_version(options.opset <= 14 ? onnx::IR_VERSION_2020_5_8 : onnx::IR_VERSION);
  proto.set_producer_name(options.producer_name);
  proto.set_model_version(1);
  auto* opset = proto.add_opset_import();
  opset->set_domain("");
  opset->set_version(options.opset);
  onnx::GraphProto* graph = proto.mutable_graph();
  graph->set_name(model.architecture());
  try {
    BertExporter exporter(model, graph, summary);
    RETURN_IF_ERROR(exporter.Build());
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat("onnx export: ", e.what_without_backtrace()));
  }
  summary->nodes = graph->node_size();
  summary->initializers = graph->initializer_size();
  std::string bytes;
  if (!proto.SerializeToString(&bytes)) {
    return absl::InternalError("onnx export: protobuf serialization failed (model over 2 GB?)");
  }
  summary->bytes = static_cast<int64_t>(bytes.size());
  return bytes;
}

absl::StatusOr<OnnxExportSummary> ExportOnnx(models::PreTrainedModel& model,
                                             const std::string& path,
                                             const OnnxExportOptions& options) {
  OnnxExportSummary summary;
  ASSIGN_OR_RETURN(std::string bytes, ExportOnnxBytes(model, options, &summary));
  RETURN_IF_ERROR(base::WriteStringToFileAtomically(path, bytes));
  return summary;
}

}  // namespace exporter
