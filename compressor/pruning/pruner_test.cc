#include "compressor/pruning/pruner.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/nn/modules/linear.h>
#include <torch/optim/adamw.h>
#include <torch/utils.h>

namespace compressor {
namespace {

// Stand-in for a transformer: an "embeddings" and a "classifier" (excluded by default)
// around two prunable layers.
struct NetImpl : torch::nn::Module {
  NetImpl() {
    embeddings = register_module("embeddings", torch::nn::Linear(8, 16));
    a = register_module("a", torch::nn::Linear(16, 32));
    b = register_module("b", torch::nn::Linear(32, 16));
    classifier = register_module("classifier", torch::nn::Linear(16, 4));
  }
  at::Tensor forward(const at::Tensor& x) {
    return classifier(at::relu(b(at::relu(a(embeddings(x))))));
  }
  torch::nn::Linear embeddings{nullptr}, a{nullptr}, b{nullptr}, classifier{nullptr};
};
TORCH_MODULE(Net);

PruningConfig OneShot(double sparsity, const std::string& pattern = "unstructured") {
  PruningConfig config;
  config.pattern = pattern;
  config.target_sparsity = sparsity;
  config.sparsity_decay_type = "oneshot";
  return config;
}

int64_t Zeros(const at::Tensor& t) { return t.eq(0).sum().item<int64_t>(); }

TEST(PrunerTest, LocalUnstructuredPrunesExactlyTheSmallestWeights) {
  torch::manual_seed(0);
  Net net;
  auto pruner = Pruner::Create(*net, OneShot(0.5));
  ASSERT_TRUE(pruner.ok()) << pruner.status();
  ASSERT_EQ(pruner->layers().size(), 2u);
  EXPECT_EQ(pruner->layers()[0].name, "a.weight");
  EXPECT_EQ(pruner->layers()[1].name, "b.weight");
  const at::Tensor before = net->a->weight.detach().clone();
  EXPECT_TRUE(pruner->UpdateMasks(0));
  EXPECT_EQ(Zeros(net->a->weight), 256);
  EXPECT_EQ(Zeros(net->b->weight), 256);
  EXPECT_EQ(Zeros(net->embeddings->weight), 0);
  EXPECT_EQ(Zeros(net->classifier->weight), 0);
  const at::Tensor kept = net->a->weight.ne(0);
  EXPECT_LE(before.abs().masked_select(kept.logical_not()).max().item<float>(),
            before.abs().masked_select(kept).min().item<float>());
  const SparsityReport report = pruner->Report();
  EXPECT_DOUBLE_EQ(report.overall(), 0.5);
  EXPECT_EQ(report.layers[1].zeros, 256);
}

TEST(PrunerTest, BlockPatternsZeroWholeBlocks) {
  struct Case {
    std::string pattern;
    std::vector<int64_t> view;   // a.weight [32, 16] viewed so blocks are axes 1 and 3.
  };
  for (const Case& c : {Case{"4x1", {8, 4, 16, 1}}, Case{"1x4", {32, 1, 4, 4}},
                        Case{"2x2", {16, 2, 8, 2}}, Case{"channelx1", {1, 32, 16, 1}},
                        Case{"1xchannel", {32, 1, 1, 16}}}) {
    torch::manual_seed(1);
    Net net;
    auto pruner = Pruner::Create(*net, OneShot(0.75, c.pattern));
    ASSERT_TRUE(pruner.ok()) << pruner.status();
    pruner->UpdateMasks(0);
    const at::Tensor blocks_zero = net->a->weight.eq(0).view(c.view).all(3).all(1);
    const at::Tensor blocks_any_zero = net->a->weight.eq(0).view(c.view).any(3).any(1);
    EXPECT_TRUE(at::equal(blocks_zero, blocks_any_zero)) << c.pattern << ": partial blocks";
    EXPECT_EQ(Zeros(net->a->weight), 384) << c.pattern;  // Exactly 75% of 512.
  }
}

TEST(PrunerTest, NmPatternKeepsNOfEveryM) {
  torch::manual_seed(2);
  Net net;
  auto pruner = Pruner::Create(*net, OneShot(0.5, "2:4"));
  ASSERT_TRUE(pruner.ok()) << pruner.status();
  pruner->UpdateMasks(0);
  const at::Tensor zeros_per_group = net->a->weight.eq(0).view({-1, 4}).sum(1);
  EXPECT_TRUE(zeros_per_group.eq(2).all().item<bool>());
  // Half-way (25%): half of the groups are 2:4, the rest dense.
  torch::manual_seed(2);
  Net net2;
  auto half = Pruner::Create(*net2, OneShot(0.25, "2:4"));
  half->UpdateMasks(0);
  const at::Tensor groups = net2->a->weight.eq(0).view({-1, 4}).sum(1);
  EXPECT_EQ(groups.eq(2).sum().item<int64_t>(), 64);
  EXPECT_EQ(groups.eq(0).sum().item<int64_t>(), 64);
  auto too_sparse = Pruner::Create(*net, OneShot(0.6, "2:4"));
  ASSERT_FALSE(too_sparse.ok());
  EXPECT_NE(too_sparse.status().message().find("exceeds what pattern 2:4 allows"),
            std::string::npos);
}

TEST(PrunerTest, GlobalScopeRanksAcrossLayersWithinLimits) {
  torch::manual_seed(3);
  Net net;
  {
    torch::NoGradGuard no_grad;
    net->b->weight.mul_(100.0);  // b's weights dwarf a's: a global threshold hits a first.
  }
  PruningConfig config = OneShot(0.5);
  config.pruning_scope = "global";
  config.max_sparsity_ratio_per_op = 0.9;
  auto pruner = Pruner::Create(*net, config);
  ASSERT_TRUE(pruner.ok());
  pruner->UpdateMasks(0);
  EXPECT_EQ(Zeros(net->a->weight), 460);  // floor(0.9 * 512): clamped at the ceiling.
  EXPECT_LT(Zeros(net->b->weight), 100);
  // The target is still met overall: what a could not take comes from b.
  EXPECT_EQ(Zeros(net->a->weight) + Zeros(net->b->weight), 512);
  EXPECT_EQ(Zeros(net->b->weight), 52);
}

TEST(PrunerTest, GradualScheduleHitsEachTargetExactly) {
  torch::manual_seed(4);
  Net net;
  PruningConfig config;
  config.target_sparsity = 0.8;
  config.end_step = 10;
  config.pruning_frequency = 2;
  auto pruner = Pruner::Create(*net, config);
  ASSERT_TRUE(pruner.ok());
  const SparsitySchedule schedule = config.schedule();
  for (int64_t step = 0; step <= 12; ++step) {
    const bool changed = pruner->UpdateMasks(step);
    EXPECT_EQ(changed, step % 2 == 0 && step <= 10) << step;
    if (!changed) continue;
    const int64_t expected = std::llround(schedule.SparsityAt(step) * 512);
    EXPECT_EQ(Zeros(net->a->weight), expected) << "step " << step;
  }
  EXPECT_EQ(Zeros(net->a->weight), std::llround(0.8 * 512));
}

// The property peers get wrong: AdamW's momentum must not revive locked zeros.
TEST(PrunerTest, PatternLockKeepsZerosThroughAdamWWithMomentum) {
  torch::manual_seed(5);
  Net net;
  torch::optim::AdamW optimizer(net->parameters(), torch::optim::AdamWOptions(1e-2));
  const at::Tensor x = at::randn({64, 8});
  auto train_step = [&](Pruner* pruner) {
    optimizer.zero_grad();
    net->forward(x).pow(2).mean().backward();
    if (pruner) pruner->MaskGradients();
    optimizer.step();
    if (pruner) pruner->ApplyMasks();
  };
  for (int i = 0; i < 3; ++i) train_step(nullptr);  // Momentum builds up everywhere.
  {
    torch::NoGradGuard no_grad;
    net->a->weight.mul_(at::rand_like(net->a->weight).ge(0.7));  // ~70% exact zeros.
  }
  const at::Tensor zeros_before = net->a->weight.eq(0).clone();
  PruningConfig config;
  config.pruning_type = "pattern_lock";
  auto pruner = Pruner::Create(*net, config);
  ASSERT_TRUE(pruner.ok());
  for (int i = 0; i < 5; ++i) {
    train_step(&*pruner);
    EXPECT_TRUE(at::equal(net->a->weight.eq(0), zeros_before)) << "step " << i;
  }
  EXPECT_FALSE(pruner->UpdateMasks(0));  // A lock never recomputes.
  // Without the lock the same optimizer revives them: the test above is not vacuous.
  train_step(nullptr);
  EXPECT_LT(Zeros(net->a->weight), zeros_before.sum().item<int64_t>());
}

TEST(PrunerTest, SnipMomentumPrunesLowSensitivityWeights) {
  torch::manual_seed(6);
  Net net;
  PruningConfig config = OneShot(0.5);
  config.pruning_type = "snip_momentum";
  auto pruner = Pruner::Create(*net, config);
  ASSERT_TRUE(pruner.ok());
  // Gradient only on the first 8 input columns of a: |w * g| is zero elsewhere, so the
  // other columns go first even though they hold large weights.
  net->a->weight.mutable_grad() = at::zeros_like(net->a->weight);
  net->a->weight.mutable_grad().slice(1, 0, 8).fill_(1.0);
  net->b->weight.mutable_grad() = at::ones_like(net->b->weight);
  pruner->MaskGradients();
  pruner->UpdateMasks(0);
  EXPECT_EQ(Zeros(net->a->weight.slice(1, 8, 16)), 256);
  EXPECT_EQ(Zeros(net->a->weight.slice(1, 0, 8)), 0);
}

TEST(PrunerTest, StateRoundTripRestoresMasks) {
  torch::manual_seed(7);
  Net net;
  auto pruner = Pruner::Create(*net, OneShot(0.6, "4x1"));
  pruner->UpdateMasks(0);
  const auto state = pruner->State();
  torch::manual_seed(8);
  Net fresh;
  auto restored = Pruner::Create(*fresh, OneShot(0.6, "4x1"));
  ASSERT_TRUE(restored->LoadState(state).ok());
  EXPECT_TRUE(at::equal(fresh->a->weight.eq(0), net->a->weight.eq(0)));
  EXPECT_DOUBLE_EQ(restored->current_target(), 0.6);
}

TEST(PrunerTest, ConfigErrorsNameTheProblem) {
  Net net;
  PruningConfig config = OneShot(0.5, "4x1");
  config.op_names = {"no_such_layer"};
  auto none = Pruner::Create(*net, config);
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("no module matches"), std::string::npos);
  PruningConfig bad_shape = OneShot(0.5, "3x1");
  auto shape = Pruner::Create(*net, bad_shape);
  ASSERT_FALSE(shape.ok());
  EXPECT_EQ(shape.status().message(), "a.weight: weight 32x16 cannot be tiled by 3x1 blocks");
  PruningConfig bad_type = OneShot(0.5);
  bad_type.pruning_type = "random";
  EXPECT_NE(Pruner::Create(*net, bad_type).status().message().find("pruning_type is \"random\""),
            std::string::npos);
}

}  // namespace
}  // namespace compressor
