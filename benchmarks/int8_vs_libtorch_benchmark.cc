// A BERT-base-shaped encoder (hidden 768, intermediate 3072, 12 heads, random weights), one
// layer and all 12 layers, at batch 1 / 8 and seq 128 / 384, in four forms measured in ONE
// run:
//   fp32        LibTorch fp32 (the baseline every ratio is against)
//   int8        ours: static PTQ (minmax calibration) -> ConvertToInt8 (oneDNN INT8 Linears)
//   int8-dyn    ours: dynamic PTQ -> ConvertToInt8 (activation range computed per call)
//   torch-dyn-* LibTorch's own dynamic quantized Linear: quantized::linear_prepack once,
//               quantized::linear_dynamic per call, through the dispatcher, per quantized
//               engine this LibTorch supports (onednn, fbgemm, qnnpack)
// Every form quantizes every Linear (int8 symmetric per-tensor weights); attention matmuls,
// softmax, LayerNorm and GELU stay fp32 in all of them. Ends with a table of speed-ups over
// fp32 of the same run, our INT8 against LibTorch's dynamic quantization, the output error
// of each form against fp32 (batch 1, seq 128), and the INT8 weight-size ratio.
// Issue 5's target: int8 encoder >= 2.5x fp32 at seq 128 batch 1 and faster than torch-dyn.
//
//   bazel run //benchmarks:int8_vs_libtorch_benchmark
//   bazel run //benchmarks:int8_vs_libtorch_benchmark -- --benchmark_filter='layers:12/batch:1/seq:128/'
//   OMP_NUM_THREADS=1 bazel run ...   # one thread: steadier ratios while others use the CPU
#include <benchmark/benchmark.h>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/native/quantized/PackedParams.h>
#include <torch/nn/modules/linear.h>
#include <torch/utils.h>

#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "base/blas_check.h"
#include "base/cli.h"
#include "base/unary_module.h"
#include "compressor/quantization/convert.h"
#include "compressor/quantization/qat.h"
#include "layers/linear.h"
#include "models/bert.h"
#include "models/bert_config.h"

namespace {

using PackedLinear = c10::intrusive_ptr<LinearPackedParamsBase>;

// LibTorch's dynamically quantized Linear, as torch.ao.nn.quantized.dynamic.Linear runs it:
// the weight is quantized (qint8, symmetric per-tensor, scale max|w| / 127.5 as PyTorch's
// MinMaxObserver) and prepacked once for the engine current at construction; every call
// quantizes the input to uint8 from its own range inside quantized::linear_dynamic.
class TorchDynamicLinearImpl : public torch::nn::Module {
 public:
  explicit TorchDynamicLinearImpl(const layers::LinearImpl& linear) {
    static const auto prepack =
        c10::Dispatcher::singleton()
            .findSchemaOrThrow("quantized::linear_prepack", "")
            .typed<PackedLinear(at::Tensor, c10::optional<at::Tensor>)>();
    const double scale =
        std::max(linear.weight.abs().max().item<double>() / 127.5, 1.1920928955078125e-07);
    const at::Tensor qweight =
        at::quantize_per_tensor(linear.weight.detach(), scale, 0, at::kQInt8);
    packed_ = prepack.call(qweight, linear.bias.defined()
                                        ? c10::optional<at::Tensor>(linear.bias.detach())
                                        : c10::nullopt);
    out_features_ = linear.weight.size(0);
  }

  at::Tensor forward(const at::Tensor& x) {
    static const auto linear_dynamic =
        c10::Dispatcher::singleton()
            .findSchemaOrThrow("quantized::linear_dynamic", "")
            .typed<at::Tensor(at::Tensor, const PackedLinear&, bool)>();
    std::vector<int64_t> out_shape = x.sizes().vec();
    out_shape.back() = out_features_;
    // reduce_range false: full uint8 range (VNNI does not need the 7-bit workaround).
    return linear_dynamic.call(x.reshape({-1, x.size(-1)}).contiguous(), packed_, false)
        .view(out_shape);
  }

 private:
  PackedLinear packed_;
  int64_t out_features_ = 0;
};
TORCH_MODULE(TorchDynamicLinear);

const bool kTorchDynamicRegistered = base::RegisterUnaryForward(
    typeid(TorchDynamicLinearImpl), [](torch::nn::Module& m, const at::Tensor& x) {
      return static_cast<TorchDynamicLinearImpl&>(m).forward(x);
    });

// Swaps every Linear of `model` for LibTorch's dynamic quantized Linear.
int SwapToTorchDynamic(torch::nn::Module& model) {
  std::vector<std::tuple<std::shared_ptr<torch::nn::Module>, std::string,
                         std::shared_ptr<layers::LinearImpl>>>
      slots;
  for (const auto& item : model.named_modules()) {
    for (const auto& child : item.value()->named_children()) {
      if (auto linear = std::dynamic_pointer_cast<layers::LinearImpl>(child.value())) {
        slots.emplace_back(item.value(), child.key(), linear);
      }
    }
  }
  for (auto& [parent, name, linear] : slots) {
    parent->replace_module(name, TorchDynamicLinear(*linear));
  }
  return static_cast<int>(slots.size());
}

const char* EngineName(at::QEngine engine) {
  switch (engine) {
    case at::QEngine::ONEDNN: return "onednn";
    case at::QEngine::FBGEMM: return "fbgemm";
    case at::QEngine::QNNPACK: return "qnnpack";
    default: return "none";
  }
}

enum class Form { kFp32, kInt8Static, kInt8Dynamic, kTorchDynamic };

struct FormSpec {
  Form form;
  at::QEngine engine = at::QEngine::NoQEngine;  // kTorchDynamic only.
  std::string name;
};

at::Tensor CalibrationInput() {
  torch::manual_seed(1);
  return at::randn({1, 128, 768});
}

at::Tensor Input(int64_t batch, int64_t seq) {
  torch::manual_seed(2);
  return at::randn({batch, seq, 768});
}

at::Tensor Forward(models::BertEncoderImpl& encoder, const at::Tensor& hidden) {
  return encoder.forward(hidden, at::Tensor(), nullptr, nullptr);
}

// Parameter + buffer bytes of the Linears (or their replacements) of `model`.
int64_t LinearBytes(const torch::nn::Module& model) {
  int64_t bytes = 0;
  for (const auto& item : model.named_modules()) {
    const torch::nn::Module& m = *item.value();
    if (dynamic_cast<const layers::LinearImpl*>(&m) == nullptr &&
        dynamic_cast<const compressor::Int8LinearModuleImpl*>(&m) == nullptr) {
      continue;
    }
    for (const auto& p : m.parameters(/*recurse=*/false)) bytes += p.nbytes();
    for (const auto& b : m.buffers(/*recurse=*/false)) bytes += b.nbytes();
  }
  return bytes;
}

int64_t AllBytes(const torch::nn::Module& model) {
  int64_t bytes = 0;
  for (const auto& p : model.parameters()) bytes += p.nbytes();
  for (const auto& b : model.buffers()) bytes += b.nbytes();
  return bytes;
}

struct Built {
  std::shared_ptr<models::BertEncoderImpl> encoder;
  std::string label;
};

// One encoder per (layers, form), built once: identical random weights for every form.
Built& GetModel(int64_t layers, const FormSpec& spec) {
  static std::map<std::pair<int64_t, std::string>, Built> cache;
  auto key = std::make_pair(layers, spec.name);
  if (auto it = cache.find(key); it != cache.end()) return it->second;
  models::BertConfig config = *models::BertConfigPreset("bert-base");
  config.num_hidden_layers = layers;
  torch::manual_seed(0);
  auto encoder = std::make_shared<models::BertEncoderImpl>(config);
  // Hugging Face's N(0, 0.02) for Linear weights, and small random biases (HF's are zero)
  // so bias handling is exercised; LayerNorm keeps weight 1, bias 0.
  {
    torch::NoGradGuard no_grad;
    for (auto& p : encoder->named_parameters()) {
      if (p.key().find("LayerNorm") == std::string::npos) {
        p.value().normal_(0, config.initializer_range);
      }
    }
  }
  encoder->eval();
  Built built{encoder, ""};
  torch::NoGradGuard no_grad;
  if (spec.form == Form::kInt8Static || spec.form == Form::kInt8Dynamic) {
    compressor::QuantizationConfig qconfig;
    qconfig.approach = spec.form == Form::kInt8Static ? "post_training_static_quant"
                                                      : "post_training_dynamic_quant";
    qconfig.activation_observer = "minmax";
    auto prepared = compressor::PrepareModel(*encoder, qconfig);
    if (!prepared.ok()) {
      std::fprintf(stderr, "PrepareModel: %s\n", prepared.status().ToString().c_str());
      std::exit(1);
    }
    const auto modules = compressor::QuantizedModules(*encoder);
    if (spec.form == Form::kInt8Static) {
      for (const auto& [name, module] : modules) module->set_calibrating(true);
      Forward(*encoder, CalibrationInput());
    }
    for (const auto& [name, module] : modules) module->Freeze();
    auto converted = compressor::ConvertToInt8(*encoder);
    if (!converted.ok()) {
      std::fprintf(stderr, "ConvertToInt8: %s\n", converted.status().ToString().c_str());
      std::exit(1);
    }
    const auto& first = *compressor::Int8Modules(*encoder).front().second;
    built.label = first.impl_info() + (first.kernel().split_weights() ? " split" : "");
  } else if (spec.form == Form::kTorchDynamic) {
    at::globalContext().setQEngine(spec.engine);
    SwapToTorchDynamic(*encoder);
    built.label = std::string("quantized::linear_dynamic qengine=") + EngineName(spec.engine);
  } else {
    built.label = "threads=" + std::to_string(at::get_num_threads());
  }
  return cache.emplace(key, std::move(built)).first->second;
}

std::map<std::string, double>& Errors() {
  static std::map<std::string, double> errors;
  return errors;
}

void BM_Encoder(benchmark::State& state, int64_t layers, int64_t batch, int64_t seq,
                const FormSpec& spec) {
  Built& built = GetModel(layers, spec);
  const at::Tensor hidden = Input(batch, seq);
  torch::NoGradGuard no_grad;
  at::Tensor out = Forward(*built.encoder, hidden);  // Warm-up.
  for (auto _ : state) benchmark::DoNotOptimize(Forward(*built.encoder, hidden));
  state.SetLabel(built.label);
  if (batch == 1 && seq == 128 && spec.form != Form::kFp32) {
    const at::Tensor reference = Forward(*GetModel(layers, {Form::kFp32, {}, "fp32"}).encoder,
                                         hidden);
    Errors()[std::to_string(layers) + "/" + spec.name] =
        ((out - reference).norm() / reference.norm()).item<double>();
  }
}

// Per-Linear profile of one converted layer (which part of a Linear costs what):
//   module      Int8LinearModule::forward (kernel + any output re-quantization)
//   kernel      kernels::Int8Linear::Forward only (input quantization + oneDNN matmul)
// Inputs are random with the calibration input's spread; with OMP_NUM_THREADS=1 the CPU
// times add up to the layer's Linear cost.
//   --benchmark_filter='BM_Int8Linear/.*/batch:1/seq:128/'
void BM_Int8Linear(benchmark::State& state, int64_t batch, int64_t seq, const FormSpec& spec,
                   const std::string& module_name, bool kernel_only) {
  Built& built = GetModel(1, spec);
  std::shared_ptr<compressor::Int8LinearModuleImpl> module;
  for (auto& [name, m] : compressor::Int8Modules(*built.encoder)) {
    if (name == module_name) module = m;
  }
  if (module == nullptr) {
    state.SkipWithError(("no Int8LinearModule " + module_name).c_str());
    return;
  }
  torch::manual_seed(3);
  const at::Tensor x = at::randn({batch, seq, module->in_features()});
  torch::NoGradGuard no_grad;
  for (auto _ : state) {
    benchmark::DoNotOptimize(kernel_only ? module->kernel().Forward(x) : module->forward(x));
  }
  state.SetLabel(module->requantizes_output() ? "output re-quantized" : "fp32 output");
}

// "BM_Encoder/layers:12/batch:1/seq:128/int8": the forms of one shape run back to back, so
// load from other processes drifts less between a form and its fp32 baseline.
std::string ShapeName(int64_t layers, int64_t batch, int64_t seq) {
  return "BM_Encoder/layers:" + std::to_string(layers) + "/batch:" + std::to_string(batch) +
         "/seq:" + std::to_string(seq) + "/";
}

// Prints, per shape, each form's time and speed-up over fp32 of the same run.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  explicit RatioReporter(std::vector<FormSpec> forms) : forms_(std::move(forms)) {}

  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& run : runs) {
      const std::string name = run.benchmark_name();
      const std::string key = name.substr(0, name.find("/min_time:"));
      times_[key] = run.GetAdjustedRealTime();
      cpu_times_[key] = run.GetAdjustedCPUTime();
    }
    ConsoleReporter::ReportRuns(runs);
  }

  void Finalize() override {
    ConsoleReporter::Finalize();
    PrintRatios("wall", times_);
    // Main-thread CPU time: with OMP_NUM_THREADS=1 the steadier figure while other processes
    // share the cores (wall time then includes waiting for a core).
    PrintRatios("CPU", cpu_times_);
    if (!Errors().empty()) {
      std::printf("\nRelative output error ||y - y_fp32|| / ||y_fp32|| (batch 1, seq 128):\n");
      for (const auto& [name, error] : Errors()) {
        std::printf("  layers=%s  %.4f\n", name.c_str(), error);
      }
    }
  }

 private:
  void PrintRatios(const char* what, const std::map<std::string, double>& times_) const {
    std::printf("\nSpeed-up over LibTorch fp32 of the same run, %s time (higher is faster):\n",
                what);
    for (const int64_t layers : {1, 12}) {
      for (const int batch : {1, 8}) {
        for (const int seq : {128, 384}) {
          const std::string prefix = ShapeName(layers, batch, seq);
          auto fp32 = times_.find(prefix + "fp32");
          if (fp32 == times_.end()) continue;
          std::printf("  layers=%-2lld batch=%d seq=%d  fp32 %8.1f ms", (long long)layers, batch,
                      seq, fp32->second);
          double best_torch = 0;
          for (const FormSpec& form : forms_) {
            if (form.form == Form::kFp32) continue;
            auto it = times_.find(prefix + form.name);
            if (it == times_.end()) continue;
            std::printf(" | %s %.1f ms %.2fx", form.name.c_str(), it->second,
                        fp32->second / it->second);
            if (form.form == Form::kTorchDynamic &&
                (best_torch == 0 || it->second < best_torch)) {
              best_torch = it->second;
            }
          }
          auto ours = times_.find(prefix + "int8");
          if (best_torch > 0 && ours != times_.end()) {
            std::printf(" | int8 vs best torch-dyn %.2fx", best_torch / ours->second);
          }
          auto ours_dyn = times_.find(prefix + "int8-dyn");
          if (best_torch > 0 && ours_dyn != times_.end()) {
            std::printf(" | int8-dyn vs best torch-dyn %.2fx", best_torch / ours_dyn->second);
          }
          std::printf("\n");
        }
      }
    }
  }

  std::vector<FormSpec> forms_;
  std::map<std::string, double> times_;
  std::map<std::string, double> cpu_times_;
};

}  // namespace

int main(int argc, char** argv) {
  base::UsePassiveOpenMpWaits(argc, argv);
  base::WarnIfReferenceBlas();
  base::ConfigureThreads();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;

  std::vector<FormSpec> forms = {{Form::kFp32, at::QEngine::NoQEngine, "fp32"},
                                 {Form::kInt8Static, at::QEngine::NoQEngine, "int8"},
                                 {Form::kInt8Dynamic, at::QEngine::NoQEngine, "int8-dyn"}};
  std::string engines;
  for (const at::QEngine engine : at::globalContext().supportedQEngines()) {
    engines += std::string(engines.empty() ? "" : ", ") + EngineName(engine);
    if (engine == at::QEngine::ONEDNN || engine == at::QEngine::FBGEMM ||
        engine == at::QEngine::QNNPACK) {
      forms.push_back({Form::kTorchDynamic, engine, std::string("torch-dyn-") + EngineName(engine)});
    }
  }
  std::printf("LibTorch quantized engines: %s\n", engines.c_str());
  for (const int64_t layers : {1, 12}) {
    for (const int64_t batch : {1, 8}) {
      for (const int64_t seq : {128, 384}) {
        for (const FormSpec& form : forms) {
          benchmark::RegisterBenchmark(
              (ShapeName(layers, batch, seq) + form.name).c_str(),
              [=](benchmark::State& state) { BM_Encoder(state, layers, batch, seq, form); })
              ->Unit(benchmark::kMillisecond)
              ->UseRealTime()
              ->MinTime(0.5);
        }
      }
    }
  }

  for (const FormSpec& form : {forms[1], forms[2]}) {
    for (const char* module : {"layer.0.attention.self.query", "layer.0.attention.self.key",
                               "layer.0.attention.self.value", "layer.0.attention.output.dense",
                               "layer.0.intermediate.dense", "layer.0.output.dense"}) {
      for (const bool kernel_only : {false, true}) {
        benchmark::RegisterBenchmark(
            (std::string("BM_Int8Linear/batch:1/seq:128/") + form.name + "/" + module +
             (kernel_only ? "/kernel" : "/module"))
                .c_str(),
            [=](benchmark::State& state) {
              BM_Int8Linear(state, 1, 128, form, module, kernel_only);
            })
            ->Unit(benchmark::kMicrosecond)
            ->MinTime(0.3);
      }
    }
  }

  // INT8 weight size: the Linears' stored bytes, fp32 vs our converted model.
  {
    const Built& fp32 = GetModel(12, forms[0]);
    const Built& int8 = GetModel(12, forms[1]);
    int64_t packed = 0;
    for (const auto& [name, module] : compressor::Int8Modules(*int8.encoder)) {
      packed += module->kernel().weight_bytes();
    }
    std::printf(
        "12-layer encoder weights: Linears fp32 %.1f MB -> int8 %.1f MB (%.2fx smaller; "
        "oneDNN packed copy %.1f MB); whole encoder %.1f MB -> %.1f MB (%.2fx)\n",
        LinearBytes(*fp32.encoder) / 1e6, LinearBytes(*int8.encoder) / 1e6,
        double(LinearBytes(*fp32.encoder)) / LinearBytes(*int8.encoder), packed / 1e6,
        AllBytes(*fp32.encoder) / 1e6, AllBytes(*int8.encoder) / 1e6,
        double(AllBytes(*fp32.encoder)) / AllBytes(*int8.encoder));
  }

  std::fflush(stdout);
  RatioReporter reporter(forms);
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}
