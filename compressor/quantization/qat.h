// Preparing any torch::nn::Module for quantization: the config (INC's vocabulary), the
// FakeQuantLinearKernel that fake-quantizes input, weight and (optionally) output of a
// layers::Linear during training and calibration, and PrepareModel, which sets that kernel
// on the selected Linears in place.
//
//   QuantizationConfig config;                 // Prune OFA's scheme (= Preset("prune_ofa"))
//   ASSIGN_OR_RETURN(std::vector<std::string> prepared, PrepareModel(*model, config));
//   // train (observers update in train mode) ... then, per kernel:
//   for (auto& [name, kernel] : QuantizedModules(*model)) kernel->Freeze();
//   QuantParams w = kernel->weight_qparams();   // what conversion to INT8 reads
//
// What makes this safe to combine with pruning and optimizers:
//  - the layer keeps its module and its weight and bias tensors, so parameter names
//    ("<name>.weight"), tensor identity (optimizer state, pruning masks) and checkpoints
//    are unchanged; observers are kernel members, not buffers;
//  - every range includes 0, so pruned (exactly zero) weights stay exactly zero;
//  - PrepareModel is all-or-nothing: a Linear that cannot be quantized is an error naming
//    it and the model is left unchanged, never a silently partial quantization.
//
// Only layers::Linear can change its computation in place: a plain torch::nn::Linear
// selected by the config is an error naming it (LibTorch's modules have no virtual
// forward(), so nothing could make its parent run a fake-quant version of it).
#ifndef COMPRESSOR_QUANTIZATION_QAT_H_
#define COMPRESSOR_QUANTIZATION_QAT_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>
#include <torch/nn/options/linear.h>
#include <torch/nn/pimpl.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "compressor/quantization/observer.h"
#include "compressor/quantization/qscheme.h"
#include "layers/linear.h"
#include "layers/matmul.h"

namespace compressor {

// INC's quantization vocabulary. Every field has a default (Prune OFA's scheme), so a
// config is never shared state.
struct QuantizationConfig {
  // quant_aware_training | post_training_static_quant | post_training_dynamic_quant.
  std::string approach = "quant_aware_training";
  // on_train_end replaces the frozen fake-quant modules with real INT8 modules (oneDNN,
  // convert.h); false keeps the fake-quant model (e.g. for export or inspection).
  bool convert_to_int8 = false;
  // int8 symmetric per-tensor (Prune OFA / Q8BERT).
  QuantScheme weight = QuantScheme::Int8SymmetricPerTensor();
  // uint8 affine per-tensor; activations are always per-tensor.
  QuantScheme activation = QuantScheme::Uint8AffinePerTensor();
  // Weights: minmax (the live weight's range, re-observed every forward) or
  // moving_average_minmax; post-training also percentile | kl | mse.
  std::string weight_observer = "minmax";
  // Inputs and re-quantized outputs. QAT: moving_average_minmax | minmax; static PTQ
  // calibration: also percentile | kl | mse. Unused by dynamic PTQ.
  std::string activation_observer = "moving_average_minmax";
  double averaging_constant = 0.01;  // moving_average_minmax, as PyTorch.
  double percentile = 99.99;         // percentile observer, in percent.
  int64_t histogram_bins = 2048;     // percentile / kl / mse: bins over [0, max |x|].
  // Module types quantized: Linear, Conv2d (qat_conv.h; the Quantization component
  // prepares both).
  std::vector<std::string> op_types = {"Linear"};
  std::vector<std::string> op_names;           // Regexes over module names; empty: all.
  std::vector<std::string> excluded_op_names;  // Regexes kept fp32; empty: none (every
                                               // Linear, query/key/value included).
  // Regexes of modules whose output stays fp32 (Prune OFA: the Linears feeding a residual
  // add or the task head); every other quantized Linear fake-quantizes its output too.
  std::vector<std::string> outputs_not_requantized = {"output\\.dense$", "value$",
                                                      "qa_outputs$"};
  // Embeddings, 8-bit weight-only: at on_train_end every torch::nn::Embedding's table is
  // replaced in place by its int8 symmetric per-row (axis 0) fake quantization, i.e. by
  // values an int8 table with one scale per token reproduces exactly; zeros (padding row,
  // pruned entries) stay zero. Off by default (Prune OFA keeps embeddings fp32).
  bool quantize_embeddings = false;
  // Attention matmuls (QK^T and PV): every layers::MatMul (layers/matmul.h; the
  // models name them `matmul` and `matmul_1`, as INC's FX tracer does) not matched by
  // excluded_op_names runs a FakeQuantMatMulKernel: both inputs fake-quantized with the
  // activation scheme and their own activation observers (dynamic PTQ: each input's own
  // range), straight-through gradients. They stay fake-quant after ConvertToInt8 (no INT8
  // batched-matmul kernel). Off by default (INC/NNCF's default; Prune OFA keeps them fp32).
  bool quantize_attention_matmuls = false;

  // "prune_ofa": exactly the defaults above (the paper's scheme).
  // "inc_fx": INC's FX-mode QAT on torch >= 1.10: int8 symmetric per-channel weights
  //   (axis 0) with a moving-average per-channel observer, uint8 affine activations, every
  //   quantized Linear's output re-quantized.
  static absl::StatusOr<QuantizationConfig> Preset(const std::string& name);
  // The Quantization component folds BatchNorm2ds into the Conv2ds before them
  // (fold_bn.h, torchvision naming) at on_train_begin, before preparing the model.
  bool fold_batch_norm = false;

  bool is_qat() const { return approach == "quant_aware_training"; }
  bool is_dynamic() const { return approach == "post_training_dynamic_quant"; }
  // Everything checkable without a model; messages start with `source` and name the key
  // and the offending value.
  absl::Status Validate(const std::string& source) const;
};

// How one QuantizedLinear quantizes (PrepareModel fills it from the config).
struct QuantizedLinearOptions {
  QuantScheme weight_scheme = QuantScheme::Int8SymmetricPerTensor();
  QuantScheme activation_scheme = QuantScheme::Uint8AffinePerTensor();
  std::string weight_observer = "minmax";
  std::string activation_observer = "moving_average_minmax";
  ObserverOptions observer_options;  // averaging_constant, percentile, bins.
  // Dynamic quantization: the input's qparams come from each input's own min/max (as a
  // dynamically quantized kernel computes them), nothing is observed, output stays fp32.
  bool dynamic_input = false;
  bool requantize_output = true;  // Fake-quantize the output with its own observer.
};

// The kernel of a layers::Linear with fake quantization (fp32 arithmetic that reproduces
// the INT8 rounding). It computes from the layer's own weight and bias tensors (the same
// tensors, so optimizers, pruning masks and checkpoints see no change) and keeps its
// observers as plain members, never as registered tensors.
//
// Forward(x), unless calibrating:
//   x' = FakeQuantize(x, input qparams)     input observer updated in train mode
//   w' = FakeQuantize(weight, weight qparams)  weight observer updated every forward
//   y  = x' w'^T + bias                     (fp32 bias, as the 32-bit bias of INT8 kernels)
//   y' = FakeQuantize(y, output qparams)    only when requantize_output
// Calibrating (post-training static): observes input and output in any mode and returns
// the fp32 result. Freeze() observes the weight one last time and stops every update.
// Gradients flow by the straight-through estimator of at::fake_quantize_*. A layer running
// it is not cloned: its observers are per-layer state.
class FakeQuantLinearKernel : public layers::LinearKernel {
 public:
  FakeQuantLinearKernel(const layers::LinearImpl& linear, QuantizedLinearOptions options);

  at::Tensor Forward(const at::Tensor& input, bool training) override;

  // Stops every observer; the qparams are computed once and fixed from here on.
  void Freeze();
  bool frozen() const { return frozen_; }
  // Post-training static calibration: observe, compute in fp32.
  void set_calibrating(bool calibrating);
  bool calibrating() const { return calibrating_; }

  // The qparams Forward uses now (what conversion reads after Freeze()). Before any
  // observation: the live weight's for weights, PyTorch's defaults (scale 1, zero point 0)
  // for activations.
  QuantParams weight_qparams() const;
  QuantParams input_qparams() const;   // Not for dynamic_input (TORCH_CHECK).
  QuantParams output_qparams() const;  // Only when requantize_output (TORCH_CHECK).
  // The weight after fake quantization with weight_qparams() (differentiable).
  at::Tensor FakeQuantizedWeight() const;

  const Observer& weight_observer() const { return *weight_observer_; }
  const Observer* input_observer() const { return input_observer_.get(); }    // Null: dynamic.
  const Observer* output_observer() const { return output_observer_.get(); }  // Null: fp32 out.
  const QuantizedLinearOptions& options() const { return options_; }
  const torch::nn::LinearOptions& linear_options() const { return linear_options_; }

  // Observer states under "weight_observer/", "input_observer/", "output_observer/".
  ObserverState State() const;
  // Restores State(); every key of this kernel's observers must be present.
  absl::Status LoadState(const ObserverState& state);

  void PrettyPrint(std::ostream& stream) const override;

  const at::Tensor weight;  // The layer's weight (same tensor).
  const at::Tensor bias;    // Its bias (same tensor; undefined when it has none).

 private:
  void ObserveWeight();

  torch::nn::LinearOptions linear_options_;
  QuantizedLinearOptions options_;
  std::unique_ptr<Observer> weight_observer_;
  std::unique_ptr<Observer> input_observer_;
  std::unique_ptr<Observer> output_observer_;
  bool frozen_ = false;
  bool calibrating_ = false;
  // Cached qparams; reset when an observer changes.
  mutable std::optional<QuantParams> weight_q_, input_q_, output_q_;
};

// The kernel of a layers::MatMul with fake-quantized inputs (quantize_attention_matmuls):
//   Forward(a, b) = matmul(FakeQuantize(a, qparams_a), FakeQuantize(b, qparams_b))
// Observers update in train mode (QAT) or while calibrating (post-training static, which
// returns the fp32 product); dynamic quantization takes each call's own min/max. Freeze()
// fixes the qparams. The layer stays parameter-free, so state_dict() is unchanged, and a
// layer running this kernel is not cloned (its observers are per-layer state).
class FakeQuantMatMulKernel : public layers::MatMulKernel {
 public:
  // `options`: activation_scheme, activation_observer, observer_options and dynamic_input
  // are used.
  explicit FakeQuantMatMulKernel(QuantizedLinearOptions options);
  // A frozen kernel with fixed per-tensor qparams (ignored when dynamic), as int8_io
  // restores it.
  static std::shared_ptr<FakeQuantMatMulKernel> Frozen(const QuantScheme& scheme, bool dynamic,
                                                       QuantParams a, QuantParams b);

  at::Tensor Forward(const at::Tensor& a, const at::Tensor& b, bool training) override;

  void Freeze();
  bool frozen() const { return frozen_; }
  void set_calibrating(bool calibrating);
  bool calibrating() const { return calibrating_; }
  bool dynamic() const { return options_.dynamic_input; }
  const QuantScheme& scheme() const { return options_.activation_scheme; }
  // Input `i` (0: a, 1: b) qparams; not for dynamic (TORCH_CHECK); unobserved inputs give
  // PyTorch's defaults (scale 1, zero point 0).
  QuantParams input_qparams(int i) const;
  const Observer* input_observer(int i) const;  // Null when dynamic or built by Frozen().
  bool observed() const;  // Both inputs seen (always true for dynamic / Frozen()).

  // Observer states under "a_observer/" and "b_observer/".
  ObserverState State() const;
  absl::Status LoadState(const ObserverState& state);

  void PrettyPrint(std::ostream& stream) const override;

 private:
  QuantizedLinearOptions options_;
  std::unique_ptr<Observer> observers_[2];
  bool frozen_ = false;
  bool calibrating_ = false;
  mutable std::optional<QuantParams> q_[2];
};

// The fake-quant kernel of every layers::MatMul of `model` that runs one, by the layer's
// name, in named_modules() order.
std::vector<std::pair<std::string, std::shared_ptr<FakeQuantMatMulKernel>>> QuantizedMatMuls(
    const torch::nn::Module& model);

// Which modules of a model the config selects.
struct LinearSelection {
  std::vector<std::string> selected;  // Linears to quantize, in named_modules() order.
  std::vector<std::string> excluded;  // Linears left fp32 by op_names/excluded_op_names.
  int64_t total = 0;                  // Linears (quantized or not) in the model.
};
absl::StatusOr<LinearSelection> SelectLinears(const torch::nn::Module& model,
                                              const QuantizationConfig& config);

// The QuantizedLinearOptions PrepareModel gives the module `name`.
QuantizedLinearOptions OptionsFor(const QuantizationConfig& config, const std::string& name);

// Sets a FakeQuantLinearKernel on every selected layers::Linear (and, with
// quantize_attention_matmuls, a FakeQuantMatMulKernel on every layers::MatMul not excluded;
// find those with QuantizedMatMuls()); returns the prepared Linears' names. All or nothing:
// errors (invalid config, no Linear selected, a model prepared twice, a selected
// torch::nn::Linear, which cannot change its computation) name the modules and leave the
// model unchanged.
absl::StatusOr<std::vector<std::string>> PrepareModel(torch::nn::Module& model,
                                                      const QuantizationConfig& config);

// The fake-quant kernel of every layers::Linear of `model` that runs one, by the layer's
// name, in named_modules() order.
std::vector<std::pair<std::string, std::shared_ptr<FakeQuantLinearKernel>>> QuantizedModules(
    const torch::nn::Module& model);

// Runs a registered child that is a Linear (layers:: or torch::nn::): how a parent module
// calls children that conversion may still swap, e.g.
//   ForwardLinear(*named_children()["dense"], x)
at::Tensor ForwardLinear(torch::nn::Module& module, const at::Tensor& input);

// 8-bit weight-only embeddings (QuantizationConfig::quantize_embeddings): replaces every
// torch::nn::Embedding table of `model` in place by its int8 symmetric per-row (axis 0)
// fake quantization and records each table's per-row scales (EmbeddingScales), so
// SaveQuantizedState (int8_io.h) can store the table as int8 values + scales. Returns the
// names of the quantized Embedding modules.
std::vector<std::string> QuantizeEmbeddings(torch::nn::Module& model);

// The per-row scales (float32 [num_embeddings]) recorded for the table `weight` by
// QuantizeEmbeddings (or RecordEmbeddingScales); an undefined tensor when none were. Keyed
// by the tensor's identity, held weakly (a destroyed table's record is dropped). A record
// says how the table was quantized, not that it still is: users check exactness.
at::Tensor EmbeddingScales(const at::Tensor& weight);
void RecordEmbeddingScales(const at::Tensor& weight, const at::Tensor& scales);

}  // namespace compressor

#endif  // COMPRESSOR_QUANTIZATION_QAT_H_
