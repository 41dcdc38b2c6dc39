// The Quantization component (INC's Quantization): quantization-aware training and
// post-training static/dynamic quantization of any torch::nn::Module's Linears, driven by
// the training hooks, alone, as a shot, or combined with pruning and distillation.
//
//   auto qat = std::make_shared<Quantization>(QuantizationConfig{});  // Prune OFA's QAT
//   ASSIGN_OR_RETURN(auto shot, scheduler.combine({pattern_lock, distillation, qat}));
//
// Hooks:
//  - on_train_begin prepares the model (PrepareModel: every selected layers::Linear
//    runs a FakeQuantLinearKernel computing from its own weight/bias tensors). The training loop builds its
//    optimizer after this hook, and since no parameter tensor is replaced even an optimizer
//    built before keeps training every parameter. Post-training static quantization also
//    switches the modules to calibration (observe, compute in fp32).
//  - QAT: observers update in every training forward (weights every forward, inputs and
//    re-quantized outputs in train mode only, so evaluation does not move the ranges).
//  - on_train_end freezes every observer. Static PTQ fails, naming them, if calibration never
//    reached some quantized Linear.
//  - needs_training(): true for QAT; false for post-training (the scheduler then runs
//    on_train_begin, its calibration function, on_train_end). needs_calibration(): true
//    for static PTQ only, so a dynamic PTQ shot needs no calibration function.
//
// output_model() returns the trained model with frozen fake quantization (fp32 arithmetic
// that rounds like INT8), or, with config.convert_to_int8, with every quantized Linear
// converted at on_train_end to a oneDNN INT8 module (convert.h).
//
// Combined with pruning, either order works: preparation keeps every Linear a
// layers::Linear with the same weight tensors, which pruning masks hold.
#ifndef COMPRESSOR_QUANTIZATION_QUANTIZATION_H_
#define COMPRESSOR_QUANTIZATION_QUANTIZATION_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "compressor/component.h"
#include "compressor/quantization/qat.h"
#include "compressor/quantization/qat_conv.h"

namespace compressor {

class Quantization : public Component {
 public:
  explicit Quantization(QuantizationConfig config) : config_(std::move(config)) {}

  std::string kind() const override { return "quantization"; }
  bool needs_training() const override { return config_.is_qat(); }
  // Only static PTQ observes activations; dynamic PTQ quantizes each input by its own range.
  bool needs_calibration() const override {
    return config_.approach == "post_training_static_quant";
  }
  absl::Status on_train_begin(TrainState& state) override;
  absl::Status on_train_end(TrainState& state) override;
  ComponentSummary summary() const override;
  // Every observer's state as "<module name>/<observer>/<key>", e.g.
  // "encoder.0.query/input_observer/min".
  TensorMap state() const override;
  // Restores state(); before on_train_begin it is kept and applied after preparation.
  // An empty map restores nothing; otherwise every prepared module must be present.
  absl::Status load_state(const TensorMap& state) override;

  const QuantizationConfig& config() const { return config_; }
  // The prepared modules by name (empty before on_train_begin).
  const std::vector<std::pair<std::string, std::shared_ptr<FakeQuantLinearKernel>>>& modules()
      const {
    return modules_;
  }
  bool frozen() const { return frozen_; }
  // The attention matmuls prepared with quantize_attention_matmuls (empty otherwise).
  const std::vector<std::pair<std::string, std::shared_ptr<FakeQuantMatMulKernel>>>&
  matmul_modules() const {
    return matmul_modules_;
  }
  // The prepared convolutions when op_types contains "Conv2d" (qat_conv.h), and the
  // BatchNorms folded into them (config.fold_batch_norm).
  const std::vector<std::pair<std::string, std::shared_ptr<QuantizedConv2dImpl>>>&
  conv_modules() const {
    return conv_modules_;
  }
  const std::vector<std::string>& folded_batch_norms() const { return folded_; }

 private:
  absl::Status Restore(const TensorMap& state);

  QuantizationConfig config_;
  std::vector<std::pair<std::string, std::shared_ptr<FakeQuantLinearKernel>>> modules_;
  std::vector<std::pair<std::string, std::shared_ptr<FakeQuantMatMulKernel>>> matmul_modules_;
  LinearSelection selection_;
  TensorMap pending_state_;                // Loaded before on_train_begin.
  std::vector<std::string> unobserved_;    // Modules whose activations were never seen.
  int64_t converted_ = 0;  // Linears converted to INT8 at on_train_end.
  int64_t quantized_embeddings_ = 0;  // Embedding tables (quantize_embeddings).
  std::vector<std::pair<std::string, std::shared_ptr<QuantizedConv2dImpl>>> conv_modules_;
  std::vector<std::string> folded_;  // BatchNorms folded at on_train_begin.
  int64_t converted_convs_ = 0;      // Conv2ds converted to INT8 at on_train_end.
  bool frozen_ = false;
};

}  // namespace compressor

#endif  // COMPRESSOR_QUANTIZATION_QUANTIZATION_H_
