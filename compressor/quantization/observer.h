// Observers: they watch the tensors a quantizer will quantize and turn what they saw into a
// range, hence scale and zero point (qscheme.h). One interface, a factory from the name in
// the config, and the algorithms users know from PyTorch / TensorRT / INC:
//
//   "minmax"                 running min and max (PyTorch MinMaxObserver; per-tensor or
//                            per-channel)
//   "moving_average_minmax"  min/max averaged over batches with averaging_constant 0.01
//                            (PyTorch MovingAverageMinMaxObserver; per-tensor or per-channel)
//   "percentile"             the percentile of a histogram (e.g. 99.99) clips the tails
//   "kl"                     TensorRT's entropy calibration: the |x| threshold minimizing the
//                            KL divergence between the clipped and the quantized distribution
//   "mse"                    the range minimizing the expected squared quantization error
//
//   ASSIGN_OR_RETURN(std::unique_ptr<Observer> observer, CreateObserver("kl", {}));
//   for (const at::Tensor& batch : calibration) observer->Observe(batch);
//   QuantParams q = observer->QParams(QuantScheme::Uint8AffinePerTensor());
//
// Observers hold plain tensors (not module buffers), so preparing a model for quantization
// never changes its named_parameters()/named_buffers(); checkpoints carry State().
#ifndef COMPRESSOR_QUANTIZATION_OBSERVER_H_
#define COMPRESSOR_QUANTIZATION_OBSERVER_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "compressor/quantization/qscheme.h"

namespace compressor {

// An observer's state by name (the same type as compressor::TensorMap).
using ObserverState = std::map<std::string, at::Tensor>;

struct ObserverOptions {
  bool per_channel = false;          // minmax / moving_average_minmax only.
  int64_t ch_axis = 0;               // Channel axis when per_channel.
  double averaging_constant = 0.01;  // moving_average_minmax: weight of the new batch.
  double percentile = 99.99;         // percentile: mass kept, in percent (0, 100].
  int64_t bins = 2048;               // Histogram observers: bins over [0, max |x|].

  // Errors name the option and its value, prefixed with `source`.
  absl::Status Validate(const std::string& source) const;
};

class Observer {
 public:
  virtual ~Observer() = default;

  // The factory name ("minmax", "kl", ...).
  virtual std::string name() const = 0;
  // Updates the state from `x` (never records autograd history).
  virtual void Observe(const at::Tensor& x) = 0;
  // False until Observe() saw a non-empty tensor.
  virtual bool observed() const = 0;
  // The float32 range [min, max] the qparams of `scheme` derive from: shape [1] (per-tensor)
  // or [channels]. Range searches (percentile, kl, mse) depend on the scheme's levels.
  virtual std::pair<at::Tensor, at::Tensor> Range(const QuantScheme& scheme) const = 0;
  // ComputeQParams(Range(scheme), scheme). The scheme's per_channel/ch_axis must match the
  // observer's options (TORCH_CHECK).
  QuantParams QParams(const QuantScheme& scheme) const;
  // Back to the never-observed state.
  virtual void Reset() = 0;
  // Checkpoint state: always the same keys for one observer type.
  virtual ObserverState State() const = 0;
  // Restores State(); errors name the missing or malformed key.
  virtual absl::Status LoadState(const ObserverState& state) = 0;

  const ObserverOptions& options() const { return options_; }

 protected:
  explicit Observer(ObserverOptions options) : options_(std::move(options)) {}
  ObserverOptions options_;
};

// Running min/max over every observed tensor ("minmax"). Per-channel: one min/max per
// slice along ch_axis.
class MinMaxObserver : public Observer {
 public:
  explicit MinMaxObserver(ObserverOptions options = {});
  std::string name() const override { return "minmax"; }
  void Observe(const at::Tensor& x) override;
  bool observed() const override;
  std::pair<at::Tensor, at::Tensor> Range(const QuantScheme& scheme) const override;
  void Reset() override;
  ObserverState State() const override;
  absl::Status LoadState(const ObserverState& state) override;

  const at::Tensor& min() const { return min_; }
  const at::Tensor& max() const { return max_; }

 protected:
  // This batch's min and max ([1], or [channels] per-channel).
  std::pair<at::Tensor, at::Tensor> BatchMinMax(const at::Tensor& x) const;

  at::Tensor min_;  // float32; +inf / -inf before the first observation.
  at::Tensor max_;
};

// min/max as exponential moving averages ("moving_average_minmax"):
//   first batch: min = batch min; then min += averaging_constant * (batch min - min)
// (same for max), in float32 as PyTorch.
class MovingAverageMinMaxObserver : public MinMaxObserver {
 public:
  explicit MovingAverageMinMaxObserver(ObserverOptions options = {})
      : MinMaxObserver(std::move(options)) {}
  std::string name() const override { return "moving_average_minmax"; }
  void Observe(const at::Tensor& x) override;
};

// A histogram of everything observed ("percentile", "kl", "mse"; per-tensor only).
// Bins have one width w and are anchored at 0 (bin k holds [k w, (k + 1) w)); w starts at
// max|x| / bins and doubles (merging bin pairs exactly) whenever new data would need more
// than `bins` bins on either side of 0, so batches never smear each other and |x| folds
// exactly into [0, max|x|] with between bins/2 and bins bins, as TensorRT's calibrator.
class HistogramObserver : public Observer {
 public:
  enum class Method {
    kPercentile,  // Symmetric scheme: the percentile of |x|; affine: the lower and upper
                  // (100 - percentile) / 2 tails of x. Linear inside a bin.
    kEntropy,     // TensorRT's entropy calibration on the |x| histogram: for every
                  // threshold bin i >= levels, P = bins [0, i) with the outliers added to
                  // the last, Q = those bins merged into `levels` groups and expanded back
                  // over P's non-zero bins; both smoothed as MXNet/TVM do (eps 1e-4); the
                  // threshold minimizes KL(P || Q). levels = 128 for int8 (256 for an
                  // affine scheme on non-negative data). Exact zeros (ReLU outputs, pruned
                  // weights) are left out: every threshold represents them exactly, and
                  // their spike in bin 0 would otherwise drive the threshold down
                  // (TensorRT's calibrator flattens bin 0 for the same reason).
    kMse,         // Searches the candidate ranges (every bin edge of |x| for symmetric
                  // schemes, [a min, a max] for a on the same grid for affine ones) for the
                  // least expected squared error: scale^2 / 12 inside the range, the
                  // squared distance to the clip outside.
  };
  HistogramObserver(Method method, ObserverOptions options = {});
  std::string name() const override;
  void Observe(const at::Tensor& x) override;
  bool observed() const override { return min_ <= max_; }
  std::pair<at::Tensor, at::Tensor> Range(const QuantScheme& scheme) const override;
  void Reset() override;
  ObserverState State() const override;
  absl::Status LoadState(const ObserverState& state) override;

  double bin_width() const { return width_; }            // 0 until a non-zero value.
  int64_t first_bin() const { return first_; }           // Index k of counts()[0].
  const std::vector<double>& counts() const { return counts_; }
  float min() const { return min_; }                     // Exact extremes seen.
  double exact_zeros() const { return exact_zeros_; }
  float max() const { return max_; }
  // Counts of |x| per bin j = [j w, (j + 1) w) (folded, exact).
  std::vector<double> AbsCounts() const;

 private:
  double Quantile(double q) const;     // Of x.
  double AbsQuantile(double q) const;  // Of |x|.
  double EntropyThreshold(int64_t levels) const;
  std::pair<double, double> MseRange(const QuantScheme& scheme) const;
  void MergeBinPairs();

  Method method_;
  double width_ = 0.0;
  int64_t first_ = 0;
  std::vector<double> counts_;
  double pending_zeros_ = 0.0;  // Values seen while every value so far was 0 (no width yet).
  double exact_zeros_ = 0.0;    // Values exactly 0 among everything seen.
  float min_;
  float max_;
};

// The names CreateObserver accepts, in documentation order.
const std::vector<std::string>& ObserverNames();
// True for the histogram observers, which only calibrate (range searches are too slow to
// run every training step).
bool IsCalibrationObserver(const std::string& name);
// "minmax" | "moving_average_minmax" | "percentile" | "kl" | "mse". Errors name the
// observer or the offending option.
absl::StatusOr<std::unique_ptr<Observer>> CreateObserver(const std::string& name,
                                                         const ObserverOptions& options);

}  // namespace compressor

#endif  // COMPRESSOR_QUANTIZATION_OBSERVER_H_
