// ResNet for small grayscale images (Fashion-MNIST, MNIST: 1x28x28): torchvision's
// ResNet-18 layout adapted the usual way for 28-32 px inputs, i.e. a 3x3 stride-1 stem and
// no max-pool, then four stages of BasicBlocks (two 3x3 convs with BatchNorm, a 1x1 conv +
// BatchNorm shortcut where the shape changes), global average pooling and a Linear head.
// Width and depth are options, so a small variant trains in minutes on 2 cores.
//
// Parameter and buffer names are torchvision's, so state dicts map one to one:
//   conv1.weight, bn1.{weight,bias,running_mean,running_var,num_batches_tracked},
//   layer1.0.conv1.weight, layer1.0.bn2.running_var, layer2.0.downsample.0.weight,
//   layer2.0.downsample.1.weight, fc.weight, fc.bias
//
// Every conv, BatchNorm and the Linear is called through base::ForwardChild, so a module
// swapped in by the compressor (BatchNorm folded into Identity, QAT's fake-quant conv,
// an INT8 conv) is what runs.
//
//   ResNetOptions options;                      // ResNet-18 widths 64..512
//   options.width(16).blocks({1, 1, 1, 1});     // a fast variant
//   ResNet model(options);
//   at::Tensor logits = model->forward(images);  // [B, 1, 28, 28] -> [B, 10]
//   RETURN_IF_ERROR(SaveResNet(*model, "model.safetensors"));
//   ASSIGN_OR_RETURN(ResNet loaded, LoadResNet("model.safetensors"));
#ifndef MODELS_VISION_RESNET_H_
#define MODELS_VISION_RESNET_H_

#include <ATen/core/Tensor.h>
#include <torch/arg.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace models {

struct ResNetOptions {
  // "resnet18" (64, [2,2,2,2]), "resnet18-w32", "resnet18-w16", "resnet10-w16"
  // ([1,1,1,1]), "resnet10-w8". InvalidArgument naming the preset otherwise.
  static absl::StatusOr<ResNetOptions> Preset(const std::string& name);
  absl::Status Validate() const;
  // e.g. "resnet(width=16, blocks=[1,1,1,1], in=1, classes=10)".
  std::string ToString() const;

  TORCH_ARG(int64_t, in_channels) = 1;
  TORCH_ARG(int64_t, num_classes) = 10;
  // Channels of the stem and the first stage; stages k = 1..4 have width * 2^(k-1).
  TORCH_ARG(int64_t, width) = 64;
  // BasicBlocks per stage (ResNet-18: 2, 2, 2, 2); 1 to 4 stages.
  TORCH_ARG(std::vector<int64_t>, blocks) = std::vector<int64_t>{2, 2, 2, 2};
};

// Two 3x3 convs with BatchNorm and a residual connection (torchvision's BasicBlock).
class BasicBlockImpl : public torch::nn::Module {
 public:
  BasicBlockImpl(int64_t in_planes, int64_t planes, int64_t stride);
  at::Tensor forward(const at::Tensor& x);

 private:
  bool has_downsample_ = false;
};
TORCH_MODULE(BasicBlock);

class ResNetImpl : public torch::nn::Module {
 public:
  explicit ResNetImpl(ResNetOptions options);
  // x: float [B, in_channels, H, W] -> logits [B, num_classes].
  at::Tensor forward(const at::Tensor& x);
  const ResNetOptions& options() const { return options_; }

 private:
  ResNetOptions options_;
};
TORCH_MODULE(ResNet);

// Writes every parameter and buffer by its torchvision name, with the options in the
// safetensors metadata ("architecture", "width", "blocks", "in_channels", "num_classes").
absl::Status SaveResNet(ResNetImpl& model, const std::string& path);
// Builds the model its metadata describes and loads it; errors name the file and the
// missing, unexpected or mis-shaped tensor.
absl::StatusOr<ResNet> LoadResNet(const std::string& path);

// Loads `path`'s tensors into `module` (parameters and buffers by name, exact set and
// shapes): the generic half of LoadResNet.
absl::Status LoadStateDict(torch::nn::Module& module, const std::string& path);

}  // namespace models

#endif  // MODELS_VISION_RESNET_H_
