// Accuracy-aware post-training quantization tuning (INC's strategy): quantize every Linear,
// evaluate, and while the accuracy criterion fails fall back the most quantization-sensitive
// Linears to fp32, one more per trial, until the criterion holds or the trial/time budget
// is spent. The best quantized model found is returned even when no trial met the criterion.
//
//   TuningConfig config;                        // static PTQ, minmax calibration
//   config.criterion.tolerable_loss = 0.01;     // relative, higher is better
//   ASSIGN_OR_RETURN(TuningResult result,
//                    TuneQuantization(make_fp32_model, calibrate, evaluate, config));
//   if (!result.criterion_met) LOG << result.summary;
//
// Each trial builds a fresh fp32 model with make_fp32_model(), prepares it with
// config.quantization plus the trial's fp32 layers in excluded_op_names (exact-name regexes
// "^name$"), runs calibrate() with every fake-quant Linear calibrating, freezes, converts to
// INT8 (ConvertToInt8) and runs evaluate(). Models are put in eval() mode before calibration
// and evaluation. Models must build their Linears as layers::Linear and call them through
// base::ForwardChild (as models/ does).
//
// Sensitivity ("mse", computed once, only if the all-INT8 trial fails): for each candidate
// Linear, a fresh model with only that Linear quantized is calibrated and frozen; calibrate()
// is then run again while the Linear computes both its fake-quantized and its fp32 output
// (it passes the fp32 output on, so only this layer's error is measured). The sensitivity
// is the mean squared difference of the two over all calibration elements; larger is more
// sensitive.
#ifndef COMPRESSOR_QUANTIZATION_TUNING_H_
#define COMPRESSOR_QUANTIZATION_TUNING_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <torch/nn/module.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "compressor/quantization/qat.h"

namespace compressor {

struct AccuracyCriterion {
  bool higher_is_better = true;
  // "relative": loss <= tolerable_loss * |baseline|; "absolute": loss <= tolerable_loss,
  // where loss = baseline - metric (higher is better) or metric - baseline (lower is better).
  std::string type = "relative";
  double tolerable_loss = 0.01;  // >= 0.

  absl::Status Validate() const;
  // The accuracy lost by `metric` relative to `baseline` (negative: metric is better).
  double Loss(double baseline, double metric) const;
  // Whether `metric` is acceptable given `baseline`.
  bool Met(double baseline, double metric) const;
  // Whether `a` is strictly better than `b`.
  bool Better(double a, double b) const;
};

// Post-training static quantization with minmax calibration (the tuning default).
QuantizationConfig DefaultTuningQuantization();

struct TuningConfig {
  // Must be post-training static quantization (approach "post_training_static_quant");
  // its op_names/excluded_op_names restrict the candidate Linears as usual.
  QuantizationConfig quantization = DefaultTuningQuantization();
  AccuracyCriterion criterion;
  int64_t max_trials = 10;       // >= 1; trial 1 is the all-INT8 model.
  double timeout_seconds = 0;    // 0: none. Checked before each trial after the first.
  std::string sensitivity = "mse";  // Only "mse".
  std::string history_path;      // Optional: JSON lines, one per trial, written as they end.

  absl::Status Validate() const;
};

struct Trial {
  int64_t index = 0;                     // 1-based.
  std::vector<std::string> fp32_layers;  // Fallen back by tuning (in fallback order).
  double metric = 0;
  bool met = false;
  double seconds = 0;                    // Wall time of the trial.
};

struct TuningResult {
  // The INT8 model of the best-metric trial (even when no trial met the criterion).
  std::shared_ptr<torch::nn::Module> best_model;
  bool criterion_met = false;
  double baseline_metric = 0;
  double best_metric = 0;
  int64_t best_trial = 0;                 // Trial::index of best_model.
  std::vector<std::string> fp32_layers;   // Of best_model.
  std::vector<Trial> history;
  // (layer, sensitivity), most sensitive first; empty when the first trial met the
  // criterion or no second trial was run.
  std::vector<std::pair<std::string, double>> sensitivities;
  // Human-readable outcome; says "no configuration met the accuracy criterion" when so.
  std::string summary;
};

// Errors: an invalid config, an unwritable history_path, a failing callback (statuses and
// exceptions thrown by the callbacks are returned), or a model that cannot be prepared or
// converted.
absl::StatusOr<TuningResult> TuneQuantization(
    std::function<std::shared_ptr<torch::nn::Module>()> make_fp32_model,
    std::function<absl::Status(torch::nn::Module&)> calibrate,
    std::function<absl::StatusOr<double>(torch::nn::Module&)> evaluate,
    const TuningConfig& config);

}  // namespace compressor

#endif  // COMPRESSOR_QUANTIZATION_TUNING_H_
