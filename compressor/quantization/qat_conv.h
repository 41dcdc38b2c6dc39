// Quantization-aware training and calibration of 2-D convolutions, the counterpart of
// QuantizedLinear (qat.h) for CNNs: QuantizedConv2d fake-quantizes input, weight (usually
// per output channel) and optionally output of a torch::nn::Conv2d, and PrepareConvModel
// swaps the selected Conv2ds of any model for QuantizedConv2ds in place. The Quantization
// component calls it when config.op_types contains "Conv2d".
//
//   QuantizationConfig config;
//   config.op_types = {"Conv2d", "Linear"};
//   config.weight = QuantScheme::Int8SymmetricPerChannel(0);   // per output channel
//   ASSIGN_OR_RETURN(std::vector<std::string> convs, PrepareConvModel(*model, config));
//   ... train or calibrate ...; for each module: module->Freeze();
//
// Same guarantees as QuantizedLinear: the module registers the Conv2d's own weight and bias
// tensors (names, optimizer state and pruning masks unchanged); every range includes 0, so
// pruned weights stay exactly zero; preparation is all or nothing and refuses parents that
// would keep calling the old Conv2d (they must call it through base::ForwardChild).
#ifndef COMPRESSOR_QUANTIZATION_QAT_CONV_H_
#define COMPRESSOR_QUANTIZATION_QAT_CONV_H_

#include <array>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/pimpl.h>

#include "absl/status/statusor.h"
#include "compressor/quantization/observer.h"
#include "compressor/quantization/qat.h"
#include "compressor/quantization/qscheme.h"

namespace compressor {

// A Conv2d with fake quantization, built from an existing Conv2d (zero padding mode, numeric
// padding) whose weight and bias tensors it registers as its own. forward() and the
// calibration/freeze protocol are QuantizedLinear's, with at::conv2d in place of at::linear.
// Per-channel weight schemes must use ch_axis 0 (output channels).
class QuantizedConv2dImpl : public torch::nn::Module {
 public:
  QuantizedConv2dImpl(const torch::nn::Conv2dImpl& conv, QuantizedLinearOptions options);

  at::Tensor forward(const at::Tensor& input);

  void Freeze();
  bool frozen() const { return frozen_; }
  void set_calibrating(bool calibrating);
  bool calibrating() const { return calibrating_; }

  QuantParams weight_qparams() const;
  QuantParams input_qparams() const;
  QuantParams output_qparams() const;  // Only when requantize_output.
  at::Tensor FakeQuantizedWeight() const;

  const Observer& weight_observer() const { return *weight_observer_; }
  const Observer& input_observer() const { return *input_observer_; }
  const Observer* output_observer() const { return output_observer_.get(); }
  const QuantizedLinearOptions& options() const { return options_; }

  std::array<int64_t, 2> stride() const { return stride_; }
  std::array<int64_t, 2> padding() const { return padding_; }
  std::array<int64_t, 2> dilation() const { return dilation_; }
  int64_t groups() const { return groups_; }

  // Observer states under "weight_observer/", "input_observer/", "output_observer/".
  ObserverState State() const;
  absl::Status LoadState(const ObserverState& state);

  void pretty_print(std::ostream& stream) const override;

  at::Tensor weight;  // The original Conv2d's weight (same tensor), [out, in, kh, kw].
  at::Tensor bias;    // Its bias (same tensor; undefined when it had none).

 private:
  void ObserveWeight();

  QuantizedLinearOptions options_;
  std::array<int64_t, 2> stride_{}, padding_{}, dilation_{};
  int64_t groups_ = 1;
  std::unique_ptr<Observer> weight_observer_;
  std::unique_ptr<Observer> input_observer_;
  std::unique_ptr<Observer> output_observer_;
  bool frozen_ = false;
  bool calibrating_ = false;
  mutable std::optional<QuantParams> weight_q_, input_q_, output_q_;
};
TORCH_MODULE(QuantizedConv2d);

// The Conv2ds of `model` that `config` selects (op_types must contain "Conv2d"; op_names /
// excluded_op_names as for Linears), in named_modules() order.
std::vector<std::string> SelectConvs(const torch::nn::Module& model,
                                     const QuantizationConfig& config);

// Swaps every selected Conv2d for a QuantizedConv2d (options from OptionsFor(config, name));
// returns the swapped names. All or nothing; errors name the modules: dynamic quantization
// (not supported for convolutions), no Conv2d selected, a model already prepared, a
// non-numeric padding or non-zero padding mode, a parent holding its own reference.
absl::StatusOr<std::vector<std::string>> PrepareConvModel(torch::nn::Module& model,
                                                          const QuantizationConfig& config);

// Every QuantizedConv2d of `model` by name, in named_modules() order.
std::vector<std::pair<std::string, std::shared_ptr<QuantizedConv2dImpl>>> QuantizedConvModules(
    const torch::nn::Module& model);

}  // namespace compressor

#endif  // COMPRESSOR_QUANTIZATION_QAT_CONV_H_
