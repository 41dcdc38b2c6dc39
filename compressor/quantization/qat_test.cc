#include "compressor/quantization/qat.h"
#include "layers/linear.h"

#include <map>
#include <set>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/optim/adamw.h>
#include <torch/utils.h>

namespace compressor {
namespace {

// A transformer-shaped toy whose forward calls its Linears through the registered
// children: "embeddings" (not a Linear),
// "attention.query"/"attention.value", "output.dense" and "qa_outputs".
struct BlockImpl : torch::nn::Module {
  BlockImpl() {
    register_module("query", layers::Linear(8, 8));
    register_module("value", layers::Linear(8, 8));
  }
  at::Tensor forward(const at::Tensor& x) {
    auto children = named_children();
    return ForwardLinear(*children["query"], x) + ForwardLinear(*children["value"], x);
  }
};
TORCH_MODULE(Block);

struct OutputImpl : torch::nn::Module {
  OutputImpl() { register_module("dense", layers::Linear(8, 8)); }
  at::Tensor forward(const at::Tensor& x) { return ForwardLinear(*named_children()["dense"], x); }
};
TORCH_MODULE(Output);

struct ToyImpl : torch::nn::Module {
  ToyImpl() {
    embeddings = register_module("embeddings", torch::nn::Embedding(10, 8));
    attention = register_module("attention", Block());
    output = register_module("output", Output());
    register_module("qa_outputs", layers::Linear(8, 2));
  }
  at::Tensor forward(const at::Tensor& ids) {
    const at::Tensor h = embeddings(ids);
    const at::Tensor a = at::gelu(attention->forward(h));
    return ForwardLinear(*named_children()["qa_outputs"], output->forward(a) + h);
  }
  torch::nn::Embedding embeddings{nullptr};
  Block attention{nullptr};
  Output output{nullptr};
};
TORCH_MODULE(Toy);

// The usual LibTorch style: typed members called directly. A torch::nn::Linear cannot
// change what it computes, so PrepareModel must refuse these.
struct TypedImpl : torch::nn::Module {
  TypedImpl() {
    a = register_module("a", torch::nn::Linear(4, 4));
    b = register_module("b", torch::nn::Linear(4, 4));
  }
  at::Tensor forward(const at::Tensor& x) { return b(a(x)); }
  torch::nn::Linear a{nullptr}, b{nullptr};
};
TORCH_MODULE(Typed);

// The same with layers::Linear, which quantization changes in place.
struct TypedLayersImpl : torch::nn::Module {
  TypedLayersImpl() {
    a = register_module("a", layers::Linear(4, 4));
    b = register_module("b", layers::Linear(4, 4));
  }
  at::Tensor forward(const at::Tensor& x) { return b(a(x)); }
  layers::Linear a{nullptr}, b{nullptr};
};
TORCH_MODULE(TypedLayers);

at::Tensor Ids() { return at::tensor({1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 3, 5}, at::kLong).reshape({3, 4}); }

std::map<std::string, at::TensorImpl*> Identities(const torch::nn::Module& m) {
  std::map<std::string, at::TensorImpl*> ids;
  for (const auto& item : m.named_parameters()) ids[item.key()] = item.value().unsafeGetTensorImpl();
  return ids;
}

std::map<std::string, void*> DataPointers(const torch::nn::Module& m) {
  std::map<std::string, void*> ptrs;
  for (const auto& item : m.named_parameters()) ptrs[item.key()] = item.value().data_ptr();
  return ptrs;
}

TEST(QatTest, PrepareSwapsEveryLinearAndKeepsParameterNamesAndTensors) {
  torch::manual_seed(0);
  Toy toy;
  const auto names_before = toy->named_parameters().keys();
  const auto identities = Identities(*toy);
  const auto pointers = DataPointers(*toy);
  const at::Tensor fp32_output = toy->forward(Ids()).detach();

  absl::StatusOr<std::vector<std::string>> swapped = PrepareModel(*toy, QuantizationConfig{});
  ASSERT_TRUE(swapped.ok()) << swapped.status();
  EXPECT_EQ(*swapped, (std::vector<std::string>{"attention.query", "attention.value",
                                                "output.dense", "qa_outputs"}));
  EXPECT_EQ(toy->named_parameters().keys(), names_before);
  EXPECT_EQ(Identities(*toy), identities);
  EXPECT_EQ(DataPointers(*toy), pointers);
  EXPECT_TRUE(toy->named_buffers().is_empty());  // Observers are not buffers.
  const auto modules = QuantizedModules(*toy);
  ASSERT_EQ(modules.size(), 4u);
  EXPECT_EQ(modules[0].first, "attention.query");
  // The swap is live: forward now runs the fake-quant path (close to, not equal to, fp32).
  const at::Tensor quantized_output = toy->forward(Ids()).detach();
  EXPECT_FALSE(at::equal(quantized_output, fp32_output));
  EXPECT_TRUE(at::allclose(quantized_output, fp32_output, 0, 0.1));
  // Prune OFA: value, output.dense and qa_outputs keep fp32 outputs; query re-quantizes.
  std::map<std::string, bool> requantized;
  for (const auto& [name, module] : modules) requantized[name] = module->output_observer() != nullptr;
  EXPECT_EQ(requantized, (std::map<std::string, bool>{{"attention.query", true},
                                                      {"attention.value", false},
                                                      {"output.dense", false},
                                                      {"qa_outputs", false}}));
}

TEST(QatTest, EveryTrainableParameterStillGetsGradientsAndOldOptimizersStillWork) {
  torch::manual_seed(1);
  Toy toy;
  toy->output->named_parameters()["dense.bias"].set_requires_grad(false);  // A frozen one.
  std::map<std::string, bool> trainable;
  for (const auto& item : toy->named_parameters()) trainable[item.key()] = item.value().requires_grad();
  // An optimizer built BEFORE preparation (INC's example order) must keep training all.
  torch::optim::AdamW optimizer(toy->parameters(), torch::optim::AdamWOptions(1e-2));
  std::map<std::string, at::Tensor> before;
  for (const auto& item : toy->named_parameters()) before[item.key()] = item.value().detach().clone();

  ASSERT_TRUE(PrepareModel(*toy, QuantizationConfig{}).ok());
  toy->train();
  toy->forward(Ids()).pow(2).sum().backward();
  for (const auto& item : toy->named_parameters()) {
    EXPECT_EQ(item.value().requires_grad(), trainable.at(item.key())) << item.key();
    if (!trainable.at(item.key())) {
      EXPECT_FALSE(item.value().grad().defined()) << item.key();
      continue;
    }
    ASSERT_TRUE(item.value().grad().defined()) << item.key();
    EXPECT_GT(item.value().grad().abs().sum().item<float>(), 0.0f) << item.key();
  }
  optimizer.step();
  for (const auto& item : toy->named_parameters()) {
    EXPECT_EQ(at::equal(item.value(), before.at(item.key())), !trainable.at(item.key()))
        << item.key();
  }
}

TEST(QatTest, TypedLayersLinearMembersAreQuantizedInPlace) {
  torch::manual_seed(3);
  TypedLayers typed;
  const at::Tensor x = at::randn({5, 4});
  const at::Tensor fp32 = typed->forward(x).detach();
  ASSERT_TRUE(PrepareModel(*typed, QuantizationConfig{}).ok());
  EXPECT_EQ(QuantizedModules(*typed).size(), 2u);
  EXPECT_EQ(QuantizedModules(*typed)[0].second, typed->a->kernel());
  typed->train();
  const at::Tensor quantized = typed->forward(x).detach();
  EXPECT_FALSE(at::equal(quantized, fp32));
  EXPECT_TRUE(at::allclose(quantized, fp32, 0, 0.1));
}

TEST(QatTest, TorchLinearsAreRefusedAndLeftUnchanged) {
  Typed typed;
  const auto a_before = typed->named_children()["a"];
  absl::StatusOr<std::vector<std::string>> swapped = PrepareModel(*typed, QuantizationConfig{});
  ASSERT_FALSE(swapped.ok());
  EXPECT_EQ(swapped.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(swapped.status().message().find("cannot quantize 2 of 2 Linears in place: a, b"),
            absl::string_view::npos)
      << swapped.status();
  EXPECT_EQ(typed->named_children()["a"], a_before);  // Unchanged: the same Linear object.
  EXPECT_TRUE(QuantizedModules(*typed).empty());

  torch::nn::Sequential sequential(torch::nn::Linear(4, 4), torch::nn::Linear(4, 2));
  swapped = PrepareModel(*sequential, QuantizationConfig{});
  ASSERT_FALSE(swapped.ok());
  EXPECT_NE(swapped.status().message().find("0, 1"), absl::string_view::npos);
  EXPECT_TRUE(QuantizedModules(*sequential).empty());
}

TEST(QatTest, SelectionAndPreparationErrors) {
  Toy toy;
  QuantizationConfig config;
  config.excluded_op_names = {"^qa_outputs$"};
  config.op_names = {"attention\\.", "output\\.", "qa_outputs"};
  absl::StatusOr<LinearSelection> selection = SelectLinears(*toy, config);
  ASSERT_TRUE(selection.ok());
  EXPECT_EQ(selection->total, 4);
  EXPECT_EQ(selection->excluded, std::vector<std::string>{"qa_outputs"});
  ASSERT_TRUE(PrepareModel(*toy, config).ok());
  EXPECT_EQ(toy->named_children()["qa_outputs"]->as<layers::Linear>()->kernel(), nullptr);
  // Twice: an error naming what is prepared already.
  absl::StatusOr<std::vector<std::string>> again = PrepareModel(*toy, config);
  EXPECT_NE(again.status().message().find("already prepared"), absl::string_view::npos);
  // Nothing selected.
  Toy other;
  config.op_names = {"nothing_here"};
  EXPECT_NE(PrepareModel(*other, config).status().message().find("no module matches"),
            absl::string_view::npos);
  torch::nn::Linear bare(2, 2);
  EXPECT_FALSE(PrepareModel(*bare, QuantizationConfig{}).ok());
}

TEST(QatTest, ConfigErrorsNameTheKeyAndValue) {
  QuantizationConfig config;
  config.approach = "qat";
  EXPECT_EQ(config.Validate("recipe.yaml").message(),
            "recipe.yaml: approach is \"qat\"; supported: quant_aware_training, "
            "post_training_static_quant, post_training_dynamic_quant");
  config = {};
  config.activation_observer = "kl";
  EXPECT_NE(config.Validate("cfg").message().find("cfg: activation_observer is \"kl\""),
            absl::string_view::npos);
  config.approach = "post_training_static_quant";
  EXPECT_TRUE(config.Validate("cfg").ok());
  config = {};
  config.weight_observer = "max";
  EXPECT_NE(config.Validate("cfg").message().find("weight_observer is \"max\""),
            absl::string_view::npos);
  config = {};
  config.excluded_op_names = {"("};
  EXPECT_NE(config.Validate("cfg").message().find("cfg: excluded_op_names \"(\""),
            absl::string_view::npos);
  config = {};
  config.activation.per_channel = true;
  EXPECT_NE(config.Validate("cfg").message().find("activation.per_channel"),
            absl::string_view::npos);
  config = {};
  config.weight.dtype = "int4";
  EXPECT_NE(config.Validate("cfg").message().find("weight.dtype is \"int4\""),
            absl::string_view::npos);
  config = {};
  config.op_types = {"Conv3d"};
  EXPECT_NE(config.Validate("cfg").message().find("op_types contains \"Conv3d\""),
            absl::string_view::npos);
  config = {};
  config.percentile = 0;
  EXPECT_NE(config.Validate("cfg").message().find("percentile must be in (0, 100], got 0"),
            absl::string_view::npos);
  EXPECT_EQ(QuantizationConfig::Preset("q8bert").status().message(),
            "quantization config: preset \"q8bert\" is unknown; supported: prune_ofa, inc_fx");
}

TEST(QatTest, PresetsAreThePapersAndIncsSchemes) {
  const QuantizationConfig ofa = *QuantizationConfig::Preset("prune_ofa");
  EXPECT_EQ(ofa.weight, QuantScheme::Int8SymmetricPerTensor());
  EXPECT_EQ(ofa.activation, QuantScheme::Uint8AffinePerTensor());
  EXPECT_EQ(ofa.weight_observer, "minmax");
  EXPECT_EQ(ofa.activation_observer, "moving_average_minmax");
  EXPECT_TRUE(ofa.excluded_op_names.empty());
  const QuantizationConfig fx = *QuantizationConfig::Preset("inc_fx");
  EXPECT_EQ(fx.weight, QuantScheme::Int8SymmetricPerChannel(0));
  EXPECT_TRUE(fx.outputs_not_requantized.empty());
  // Per-channel weights: one scale per output feature (available before any forward).
  Toy toy;
  ASSERT_TRUE(PrepareModel(*toy, fx).ok());
  for (const auto& [name, module] : QuantizedModules(*toy)) {
    EXPECT_EQ(module->weight_qparams().scale.numel(), module->linear_options().out_features());
  }
  toy->forward(Ids());
  for (const auto& [name, module] : QuantizedModules(*toy)) {
    EXPECT_EQ(module->weight_qparams().scale.numel(), module->linear_options().out_features())
        << name;
    EXPECT_NE(module->output_observer(), nullptr) << name;
  }
}

TEST(QatTest, FrozenForwardIsExactlyTheFakeQuantFormula) {
  torch::manual_seed(4);
  layers::Linear linear(6, 5);
  auto q = std::make_shared<FakeQuantLinearKernel>(*linear, QuantizedLinearOptions{});
  linear->set_kernel(q);
  linear->train();
  linear->forward(at::randn({7, 6}));
  linear->forward(at::randn({7, 6}) * 2);
  q->Freeze();
  const QuantParams in = q->input_qparams(), w = q->weight_qparams(), out = q->output_qparams();
  // Frozen: training-mode forwards on wild inputs change nothing.
  linear->forward(at::randn({7, 6}) * 100);
  EXPECT_TRUE(at::equal(q->input_qparams().scale, in.scale));
  EXPECT_TRUE(at::equal(q->output_qparams().zero_point, out.zero_point));

  const at::Tensor x = at::randn({3, 6});
  const QuantScheme act = QuantScheme::Uint8AffinePerTensor();
  const QuantScheme wgt = QuantScheme::Int8SymmetricPerTensor();
  const at::Tensor expected = FakeQuantize(
      at::linear(FakeQuantize(x, in, act), FakeQuantize(linear->weight, w, wgt), linear->bias),
      out, act);
  EXPECT_TRUE(at::equal(linear->forward(x), expected));
  // Weight qparams are those of the live weight: max |w| / 127.5.
  EXPECT_FLOAT_EQ(w.scale.item<float>(), linear->weight.abs().max().item<float>() / 127.5f);
}

TEST(QatTest, InputObserverMovesOnlyInTrainModeAndWhenCalibrating) {
  layers::Linear linear(2, 2);
  QuantizedLinearOptions options;
  options.requantize_output = false;
  auto q = std::make_shared<FakeQuantLinearKernel>(*linear, options);
  linear->set_kernel(q);
  linear->train();
  linear->forward(at::tensor({-1.0f, 2.0f}).reshape({1, 2}));
  linear->forward(at::tensor({-3.0f, 4.0f}).reshape({1, 2}));
  const auto& observer = static_cast<const MinMaxObserver&>(*q->input_observer());
  EXPECT_FLOAT_EQ(observer.min().item<float>(), -1.02f);
  EXPECT_FLOAT_EQ(observer.max().item<float>(), 2.02f);
  linear->eval();
  linear->forward(at::tensor({-50.0f, 50.0f}).reshape({1, 2}));  // Evaluation: no update.
  EXPECT_FLOAT_EQ(observer.max().item<float>(), 2.02f);
  q->set_calibrating(true);  // Calibration: updates in eval mode, computes in fp32.
  const at::Tensor x = at::tensor({0.0f, 1.0f}).reshape({1, 2});
  EXPECT_TRUE(at::equal(linear->forward(x), at::linear(x, linear->weight, linear->bias)));
  EXPECT_FLOAT_EQ(observer.max().item<float>(), 2.02f + 0.01f * (1.0f - 2.02f));
}

TEST(QatTest, DynamicQuantizationUsesEachInputsOwnRange) {
  torch::manual_seed(5);
  layers::Linear linear(4, 3);
  QuantizationConfig config;
  config.approach = "post_training_dynamic_quant";
  const QuantizedLinearOptions options = OptionsFor(config, "any");
  EXPECT_TRUE(options.dynamic_input);
  EXPECT_FALSE(options.requantize_output);
  auto q = std::make_shared<FakeQuantLinearKernel>(*linear, options);
  linear->set_kernel(q);
  EXPECT_EQ(q->input_observer(), nullptr);
  EXPECT_THROW(q->input_qparams(), c10::Error);
  const at::Tensor x = at::randn({5, 4}) * 3;
  const at::Tensor y = linear->forward(x);
  const QuantScheme act = QuantScheme::Uint8AffinePerTensor();
  const QuantParams xq = ComputeQParams(x.min().reshape({1}), x.max().reshape({1}), act);
  const at::Tensor expected =
      at::linear(FakeQuantize(x, xq, act),
                 FakeQuantize(linear->weight, q->weight_qparams(), QuantScheme{}), linear->bias);
  EXPECT_TRUE(at::equal(y, expected));
  // Another batch, another range: nothing is remembered.
  const at::Tensor x2 = x / 10;
  const QuantParams x2q = ComputeQParams(x2.min().reshape({1}), x2.max().reshape({1}), act);
  EXPECT_TRUE(at::equal(linear->forward(x2), at::linear(FakeQuantize(x2, x2q, act),
                                                   q->FakeQuantizedWeight(), linear->bias)));
}

TEST(QatTest, GradientsAreStraightThrough) {
  torch::manual_seed(6);
  layers::Linear linear(3, 2);
  QuantizedLinearOptions options;
  options.requantize_output = false;
  auto q = std::make_shared<FakeQuantLinearKernel>(*linear, options);
  linear->set_kernel(q);
  linear->train();
  const at::Tensor x = at::randn({4, 3});
  linear->forward(x);  // Observe once, then freeze so the qparams below are the ones used.
  q->Freeze();
  linear->forward(x).sum().backward();
  // d/dW sum(x' W'^T + b) = sum over the batch of x', passed through W' where the STE
  // lets it: everywhere except a weight clamped by the scheme. With PyTorch's symmetric
  // scale max|w| / 127.5 that is at most the largest positive weight (127.5 -> 127).
  const at::Tensor w = linear->weight.detach().clone().requires_grad_();
  FakeQuantize(w, q->weight_qparams(), QuantScheme{}).sum().backward();
  const at::Tensor mask = w.grad();
  EXPECT_LE(mask.eq(0).sum().item<int64_t>(), 1);
  EXPECT_TRUE(mask.eq(0).logical_or(mask.eq(1)).all().item<bool>());
  const at::Tensor x_fq = FakeQuantize(x, q->input_qparams(), QuantScheme::Uint8AffinePerTensor());
  const at::Tensor expected = x_fq.sum(0).unsqueeze(0) * mask;
  EXPECT_TRUE(at::allclose(linear->weight.grad(), expected, 1e-6, 1e-6));
  EXPECT_TRUE(at::equal(linear->bias.grad(), at::full({2}, 4.0f)));
}

TEST(QatTest, ModuleStateRoundTrip) {
  torch::manual_seed(7);
  layers::Linear linear(3, 3);
  auto a = std::make_shared<FakeQuantLinearKernel>(*linear, QuantizedLinearOptions{});
  linear->set_kernel(a);
  linear->train();
  linear->forward(at::randn({2, 3}));
  linear->forward(at::randn({2, 3}) * 4);
  const ObserverState state = a->State();
  EXPECT_EQ(state.count("input_observer/min"), 1u);
  EXPECT_EQ(state.count("output_observer/max"), 1u);
  EXPECT_EQ(state.count("weight_observer/min"), 1u);
  auto b = std::make_shared<FakeQuantLinearKernel>(*linear, QuantizedLinearOptions{});
  ASSERT_TRUE(b->LoadState(state).ok());
  EXPECT_TRUE(at::equal(a->input_qparams().scale, b->input_qparams().scale));
  EXPECT_TRUE(at::equal(a->output_qparams().zero_point, b->output_qparams().zero_point));
  ObserverState extra = state;
  extra["bogus/min"] = at::zeros({1});
  EXPECT_NE(b->LoadState(extra).message().find("'bogus/min'"), absl::string_view::npos);
  ObserverState missing = state;
  missing.erase("input_observer/max");
  EXPECT_NE(b->LoadState(missing).message().find("input_observer/"), absl::string_view::npos);
}

}  // namespace
}  // namespace compressor
