// A whole BERT (random weights) in fp32 LibTorch vs the same model after static
// post-training quantization converted to oneDNN INT8 Linears (attention matmuls, softmax,
// LayerNorm and GELU stay fp32), at seq 128 / 384, batch 1 / 8, as ratios to fp32 measured
// in the same run. Target (issue 5): INT8 >= 2.5x fp32 for BERT-base at seq 128, batch 1.
//
//   bazel run //benchmarks:int8_encoder_benchmark -- --benchmark_filter=bert-base
#include <benchmark/benchmark.h>

#include <ATen/ATen.h>
#include <torch/utils.h>

#include <cstdio>
#include <map>
#include <string>

#include "benchmarks/benchmark_main.h"
#include "compressor/quantization/convert.h"
#include "compressor/quantization/qat.h"
#include "models/auto_model.h"

namespace {


std::shared_ptr<models::PreTrainedModel> MakeModel(const std::string& preset, bool int8,
                                                   const models::ModelInput& calibration) {
  torch::manual_seed(0);
  auto model = *models::CreateModel(*models::BertConfigPreset(preset), "BertForQuestionAnswering");
  model->eval();
  if (!int8) return model;
  compressor::QuantizationConfig config;
  config.approach = "post_training_static_quant";
  config.activation_observer = "minmax";
  if (!compressor::PrepareModel(*model, config).ok()) return nullptr;
  torch::NoGradGuard no_grad;
  for (const auto& [name, module] : compressor::QuantizedModules(*model)) {
    module->set_calibrating(true);
  }
  model->forward(calibration);
  for (const auto& [name, module] : compressor::QuantizedModules(*model)) module->Freeze();
  if (!compressor::ConvertToInt8(*model).ok()) return nullptr;
  return model;
}

void BM_Forward(benchmark::State& state, const std::string& preset, bool int8) {
  const int64_t batch = state.range(0), seq = state.range(1);
  models::ModelInput input;
  input.input_ids = at::randint(1000, 20000, {batch, seq}, at::kLong);
  auto model = MakeModel(preset, int8, input);
  if (!model) {
    state.SkipWithError("quantization failed");
    return;
  }
  torch::NoGradGuard no_grad;
  model->forward(input);  // Warm-up.
  for (auto _ : state) benchmark::DoNotOptimize(model->forward(input).start_logits);
  if (int8) {
    state.SetLabel(compressor::Int8Modules(*model).front().second->impl_info());
  }
}

void Args(benchmark::internal::Benchmark* b) {
  b->ArgsProduct({{1, 8}, {128, 384}})
      ->ArgNames({"batch", "seq"})
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime()
      ->MinTime(2.0);
}

BENCHMARK_CAPTURE(BM_Forward, bert-mini/fp32, std::string("bert-mini"), false)->Apply(Args);
BENCHMARK_CAPTURE(BM_Forward, bert-mini/int8, std::string("bert-mini"), true)->Apply(Args);
BENCHMARK_CAPTURE(BM_Forward, bert-base/fp32, std::string("bert-base"), false)->Apply(Args);
BENCHMARK_CAPTURE(BM_Forward, bert-base/int8, std::string("bert-base"), true)->Apply(Args);

// Prints INT8 / fp32 speed-ups for each shape after the runs.
class RatioReporter : public benchmarks::RatioReporter {
  void PrintRatios() override {
    std::printf("\nINT8 speed-up over fp32, same run:\n");
    for (const auto& [name, ms] : times()) {
      const size_t at = name.find("/int8/");
      if (at == std::string::npos) continue;
      std::string fp32 = name;
      fp32.replace(at, 6, "/fp32/");
      if (time(fp32) <= 0) continue;
      std::printf("  %-60s fp32 %8.1f ms  int8 %8.1f ms  %.2fx\n", fp32.c_str(), time(fp32), ms,
                  time(fp32) / ms);
    }
  }
};

}  // namespace

int main(int argc, char** argv) {
  RatioReporter reporter;
  return benchmarks::RunBenchmarks(argc, argv, &reporter);
}
