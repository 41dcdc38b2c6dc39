#include "models/vision/resnet.h"

#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/nn/modules/conv.h>
#include <torch/utils.h>

#include <cstdlib>
#include <set>
#include <string>

#include "base/safetensors.h"

namespace models {
namespace {

using ::testing::HasSubstr;

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string(dir != nullptr ? dir : "/tmp") + "/" + name;
}

std::set<std::string> StateNames(torch::nn::Module& m) {
  std::set<std::string> names;
  for (const auto& item : m.named_parameters()) names.insert(item.key());
  for (const auto& item : m.named_buffers()) names.insert(item.key());
  return names;
}

TEST(ResNetTest, HasTorchvisionNames) {
  torch::manual_seed(0);
  ResNet model(ResNetOptions().width(8));
  const std::set<std::string> names = StateNames(*model);
  for (const char* name :
       {"conv1.weight", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var",
        "bn1.num_batches_tracked", "layer1.0.conv1.weight", "layer1.1.bn2.running_var",
        "layer2.0.downsample.0.weight", "layer2.0.downsample.1.running_mean",
        "layer4.1.conv2.weight", "fc.weight", "fc.bias"}) {
    EXPECT_TRUE(names.count(name)) << name;
  }
  EXPECT_FALSE(names.count("layer1.0.downsample.0.weight"));  // Same shape: no shortcut conv.
  EXPECT_FALSE(names.count("conv1.bias"));                    // Convs before BN have no bias.
  // torchvision's resnet18 has 11,689,512 parameters; the 3x3 1-channel stem saves
  // 64 * (7 * 7 * 3 - 3 * 3) = 8,832 and the 10-class head 512 * 990 + 990 = 507,870.
  ResNet resnet18(ResNetOptions{});
  int64_t count = 0;
  for (const auto& p : resnet18->parameters()) count += p.numel();
  EXPECT_EQ(count, 11689512 - 8832 - 507870);
}

TEST(ResNetTest, ForwardShapesAndStages) {
  torch::manual_seed(0);
  ResNet model(*ResNetOptions::Preset("resnet10-w8"));
  model->eval();
  const at::Tensor logits = model->forward(at::randn({3, 1, 28, 28}));
  EXPECT_EQ(logits.sizes(), (std::vector<int64_t>{3, 10}));
  EXPECT_EQ(model->named_parameters()["layer4.0.conv1.weight"].sizes(),
            (std::vector<int64_t>{64, 32, 3, 3}));
  EXPECT_THROW(model->forward(at::randn({3, 3, 28, 28})), c10::Error);
  EXPECT_FALSE(ResNetOptions::Preset("resnet50").ok());
  EXPECT_FALSE(ResNetOptions().blocks({2, 0}).Validate().ok());
}

TEST(ResNetTest, RunsSwappedChildren) {
  // A conv replaced through the registry is the one that runs (base::ForwardChild).
  torch::manual_seed(0);
  ResNet model(*ResNetOptions::Preset("resnet10-w8"));
  model->eval();
  const at::Tensor x = at::randn({2, 1, 28, 28});
  const at::Tensor before = model->forward(x);
  torch::nn::Conv2d zero(torch::nn::Conv2dOptions(1, 8, 3).padding(1).bias(false));
  {
    torch::NoGradGuard no_grad;
    zero->weight.zero_();
  }
  model->replace_module("conv1", zero.ptr());
  EXPECT_FALSE(model->forward(x).allclose(before));
}

TEST(ResNetTest, SavesAndLoadsSafetensors) {
  torch::manual_seed(1);
  ResNet model(*ResNetOptions::Preset("resnet10-w8"));
  // Make the BatchNorm statistics non-trivial.
  model->train();
  model->forward(at::randn({4, 1, 28, 28}));
  model->eval();
  const std::string path = TempPath("resnet.safetensors");
  ASSERT_TRUE(SaveResNet(*model, path).ok());
  absl::StatusOr<ResNet> loaded = LoadResNet(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  (*loaded)->eval();
  EXPECT_EQ((*loaded)->options().ToString(), model->options().ToString());
  const at::Tensor x = at::randn({2, 1, 28, 28});
  EXPECT_TRUE((*loaded)->forward(x).equal(model->forward(x)));
  EXPECT_EQ((*loaded)->named_buffers()["bn1.num_batches_tracked"].item<int64_t>(), 1);

  // A file with a tensor missing, and one from another width.
  std::vector<std::pair<std::string, at::Tensor>> tensors = {
      {"conv1.weight", at::zeros({8, 1, 3, 3})}};
  const std::string partial = TempPath("partial.safetensors");
  ASSERT_TRUE(base::WriteSafetensors(partial, tensors,
                                     {{"architecture", "ResNet"}, {"width", "8"},
                                      {"blocks", "1,1,1,1"}, {"in_channels", "1"},
                                      {"num_classes", "10"}})
                  .ok());
  absl::Status status = LoadResNet(partial).status();
  EXPECT_THAT(status.message(), HasSubstr(partial));
  EXPECT_THAT(status.message(), HasSubstr("missing tensor"));
  ResNet wider(*ResNetOptions::Preset("resnet10-w16"));
  status = LoadStateDict(*wider, path);
  EXPECT_THAT(std::string(status.message()), HasSubstr("'bn1.bias' has shape [8], the model expects [16]"));
  EXPECT_THAT(LoadResNet(TempPath("none.safetensors")).status().message(),
              HasSubstr("none.safetensors"));
}

}  // namespace
}  // namespace models
