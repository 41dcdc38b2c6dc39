// The vision recipes' CNN (models/vision ResNet, random weights, 1x28x28 inputs) in fp32
// LibTorch (BatchNorm as trained, and folded) vs the same model after BatchNorm folding,
// static post-training quantization (per-channel int8 weights, uint8 activations) and
// conversion to oneDNN INT8 convolutions and Linear, as ratios to fp32 in the same run.
// Target (issue 9): INT8 >= 2x fp32.
//
//   bazel run -c opt //benchmarks:vision_int8_benchmark -- --benchmark_filter=resnet10-w16
#include <benchmark/benchmark.h>

#include <ATen/ATen.h>
#include <torch/utils.h>

#include <cstdio>
#include <map>
#include <string>

#include "benchmarks/benchmark_main.h"
#include "compressor/quantization/convert.h"
#include "compressor/quantization/convert_conv.h"
#include "compressor/quantization/fold_bn.h"
#include "compressor/quantization/qat.h"
#include "compressor/quantization/qat_conv.h"
#include "models/vision/resnet.h"

namespace {

// "fp32": as trained (BatchNorm); "folded": fp32 with BatchNorm folded; "int8": converted.
models::ResNet MakeModel(const std::string& preset, const std::string& variant) {
  torch::manual_seed(0);
  models::ResNet model(*models::ResNetOptions::Preset(preset));
  {
    torch::NoGradGuard no_grad;
    model->train();
    for (int i = 0; i < 3; ++i) model->forward(at::randn({32, 1, 28, 28}));
  }
  model->eval();
  if (variant == "fp32") return model;
  if (!compressor::FoldBatchNorm(*model, compressor::FindConvBnPairsByName(*model)).ok()) {
    return nullptr;
  }
  if (variant == "folded") return model;
  compressor::QuantizationConfig config;
  config.approach = "post_training_static_quant";
  config.op_types = {"Conv2d", "Linear"};
  config.weight = compressor::QuantScheme::Int8SymmetricPerChannel(0);
  config.activation_observer = "minmax";
  config.outputs_not_requantized = {".*"};
  if (!compressor::PrepareConvModel(*model, config).ok()) return nullptr;
  if (!compressor::PrepareModel(*model, config).ok()) return nullptr;
  torch::NoGradGuard no_grad;
  for (auto& [name, m] : compressor::QuantizedConvModules(*model)) m->set_calibrating(true);
  for (auto& [name, m] : compressor::QuantizedModules(*model)) m->set_calibrating(true);
  for (int i = 0; i < 4; ++i) model->forward(at::randn({32, 1, 28, 28}));
  for (auto& [name, m] : compressor::QuantizedConvModules(*model)) m->Freeze();
  for (auto& [name, m] : compressor::QuantizedModules(*model)) m->Freeze();
  if (!compressor::ConvertConvsToInt8(*model).ok() || !compressor::ConvertToInt8(*model).ok()) {
    return nullptr;
  }
  return model;
}

void BM_Forward(benchmark::State& state, const std::string& preset, const std::string& variant) {
  const int64_t batch = state.range(0);
  models::ResNet model = MakeModel(preset, variant);
  if (!model) {
    state.SkipWithError("quantization failed");
    return;
  }
  const at::Tensor x = at::randn({batch, 1, 28, 28});
  torch::NoGradGuard no_grad;
  for (int i = 0; i < 3; ++i) model->forward(x);  // Warm-up (primitive creation).
  for (auto _ : state) benchmark::DoNotOptimize(model->forward(x));
  state.counters["images/s"] =
      benchmark::Counter(double(batch) * state.iterations(), benchmark::Counter::kIsRate);
  if (variant == "int8") {
    state.SetLabel(compressor::Int8ConvModules(*model)[1].second->impl_info());
  }
}

void Args(benchmark::internal::Benchmark* b) {
  b->ArgsProduct({{1, 64}})->ArgNames({"batch"})->Unit(benchmark::kMillisecond)->UseRealTime()
      ->MinTime(1.0);
}

#define VISION_BENCHMARKS(preset)                                                          \
  BENCHMARK_CAPTURE(BM_Forward, preset/fp32, std::string(#preset), std::string("fp32"))     \
      ->Apply(Args);                                                                       \
  BENCHMARK_CAPTURE(BM_Forward, preset/folded, std::string(#preset), std::string("folded")) \
      ->Apply(Args);                                                                       \
  BENCHMARK_CAPTURE(BM_Forward, preset/int8, std::string(#preset), std::string("int8"))     \
      ->Apply(Args)

VISION_BENCHMARKS(resnet10-w16);
VISION_BENCHMARKS(resnet18-w16);
VISION_BENCHMARKS(resnet18);

// Prints INT8 speed-ups over fp32 (and folded fp32) for each shape after the runs.
class RatioReporter : public benchmarks::RatioReporter {
  void PrintRatios() override {
    std::printf("\nINT8 speed-up, same run:\n");
    for (const auto& [name, ms] : times()) {
      const size_t at = name.find("/int8/");
      if (at == std::string::npos) continue;
      std::string fp32 = name, folded = name;
      fp32.replace(at, 6, "/fp32/");
      folded.replace(at, 6, "/folded/");
      const double a = time(fp32), b = time(folded);
      if (a <= 0 || b <= 0) continue;
      std::printf("  %-40s fp32 %8.3f ms  folded %8.3f ms  int8 %8.3f ms  %.2fx (%.2fx folded)\n",
                  fp32.c_str(), a, b, ms, a / ms, b / ms);
    }
  }
};

}  // namespace

int main(int argc, char** argv) {
  RatioReporter reporter;
  return benchmarks::RunBenchmarks(argc, argv, &reporter);
}
