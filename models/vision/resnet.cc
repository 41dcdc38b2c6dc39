#include "models/vision/resnet.h"

#include <ATen/ATen.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/utils.h>

#include <map>
#include <memory>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "base/safetensors.h"
#include "base/status_macros.h"
#include "base/unary_module.h"
#include "layers/linear.h"

namespace models {
namespace {

// Children the models call through base::ForwardChild (Linear is built in).
const bool kRegistered = [] {
  base::RegisterUnaryForward(typeid(torch::nn::Conv2dImpl),
                             [](torch::nn::Module& m, const at::Tensor& x) {
                               return dynamic_cast<torch::nn::Conv2dImpl&>(m).forward(x);
                             });
  base::RegisterUnaryForward(typeid(torch::nn::BatchNorm2dImpl),
                             [](torch::nn::Module& m, const at::Tensor& x) {
                               return dynamic_cast<torch::nn::BatchNorm2dImpl&>(m).forward(x);
                             });
  return true;
}();

torch::nn::Conv2d Conv(int64_t in, int64_t out, int64_t kernel, int64_t stride) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, kernel)
                               .stride(stride)
                               .padding(kernel / 2)
                               .bias(false));
}

std::shared_ptr<torch::nn::Module> Child(const torch::nn::Module& parent,
                                         const std::string& name) {
  for (const auto& item : parent.named_children()) {
    if (item.key() == name) return item.value();
  }
  TORCH_CHECK(false, "ResNet: no child '", name, "'");
}

}  // namespace

absl::StatusOr<ResNetOptions> ResNetOptions::Preset(const std::string& name) {
  ResNetOptions options;
  if (name == "resnet18") return options;
  if (name == "resnet18-w32") return options.width(32);
  if (name == "resnet18-w16") return options.width(16);
  if (name == "resnet10-w16") return options.width(16).blocks({1, 1, 1, 1});
  if (name == "resnet10-w8") return options.width(8).blocks({1, 1, 1, 1});
  return absl::InvalidArgumentError(absl::StrCat(
      "model preset \"", name,
      "\" is not one of: resnet18, resnet18-w32, resnet18-w16, resnet10-w16, resnet10-w8"));
}

absl::Status ResNetOptions::Validate() const {
  if (in_channels() < 1 || num_classes() < 1 || width() < 1) {
    return absl::InvalidArgumentError(absl::StrCat("resnet options: in_channels ", in_channels(),
                                                   ", num_classes ", num_classes(), ", width ",
                                                   width(), " must all be >= 1"));
  }
  if (blocks().empty() || blocks().size() > 4) {
    return absl::InvalidArgumentError(absl::StrCat(
        "resnet options: blocks has ", blocks().size(), " stages; 1 to 4 are supported"));
  }
  for (int64_t b : blocks()) {
    if (b < 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("resnet options: blocks [", absl::StrJoin(blocks(), ","),
                       "] has a stage with ", b, " blocks"));
    }
  }
  return absl::OkStatus();
}

std::string ResNetOptions::ToString() const {
  return absl::StrCat("resnet(width=", width(), ", blocks=[", absl::StrJoin(blocks(), ","),
                      "], in=", in_channels(), ", classes=", num_classes(), ")");
}

BasicBlockImpl::BasicBlockImpl(int64_t in_planes, int64_t planes, int64_t stride) {
  register_module("conv1", Conv(in_planes, planes, 3, stride));
  register_module("bn1", torch::nn::BatchNorm2d(planes));
  register_module("conv2", Conv(planes, planes, 3, 1));
  register_module("bn2", torch::nn::BatchNorm2d(planes));
  if (stride != 1 || in_planes != planes) {
    auto downsample = std::make_shared<torch::nn::Module>();
    downsample->register_module("0", Conv(in_planes, planes, 1, stride));
    downsample->register_module("1", torch::nn::BatchNorm2d(planes));
    register_module("downsample", downsample);
    has_downsample_ = true;
  }
}

at::Tensor BasicBlockImpl::forward(const at::Tensor& x) {
  at::Tensor out = base::ForwardChild(*this, "conv1", x);
  out = at::relu(base::ForwardChild(*this, "bn1", out));
  out = base::ForwardChild(*this, "conv2", out);
  out = base::ForwardChild(*this, "bn2", out);
  at::Tensor identity = x;
  if (has_downsample_) {
    const auto downsample = Child(*this, "downsample");
    identity = base::ForwardChild(*downsample, "1", base::ForwardChild(*downsample, "0", x));
  }
  return at::relu(out + identity);
}

ResNetImpl::ResNetImpl(ResNetOptions options) : options_(std::move(options)) {
  const absl::Status status = options_.Validate();
  TORCH_CHECK(status.ok(), std::string(status.message()));
  const int64_t width = options_.width();
  register_module("conv1", Conv(options_.in_channels(), width, 3, 1));
  register_module("bn1", torch::nn::BatchNorm2d(width));
  int64_t in_planes = width;
  for (size_t stage = 0; stage < options_.blocks().size(); ++stage) {
    const int64_t planes = width << stage;
    auto layer = std::make_shared<torch::nn::Module>();
    for (int64_t b = 0; b < options_.blocks()[stage]; ++b) {
      const int64_t stride = (stage > 0 && b == 0) ? 2 : 1;
      layer->register_module(std::to_string(b), BasicBlock(in_planes, planes, stride));
      in_planes = planes;
    }
    register_module(absl::StrCat("layer", stage + 1), layer);
  }
  register_module("fc", layers::Linear(in_planes, options_.num_classes()));
  // torchvision's initialisation: Kaiming normal (fan_out) convs, BatchNorm 1 / 0.
  torch::NoGradGuard no_grad;
  for (const auto& item : named_modules(/*name_prefix=*/"", /*include_self=*/false)) {
    if (auto* conv = item.value()->as<torch::nn::Conv2dImpl>()) {
      const int64_t fan_out =
          conv->weight.size(0) * conv->weight.size(2) * conv->weight.size(3);
      conv->weight.normal_(0.0, std::sqrt(2.0 / double(fan_out)));
    }
  }
}

at::Tensor ResNetImpl::forward(const at::Tensor& x) {
  TORCH_CHECK(x.dim() == 4 && x.size(1) == options_.in_channels(), "ResNet: input of shape ",
              x.sizes(), " is not [B, ", options_.in_channels(), ", H, W]");
  at::Tensor out = at::relu(base::ForwardChild(*this, "bn1", base::ForwardChild(*this, "conv1", x)));
  for (size_t stage = 0; stage < options_.blocks().size(); ++stage) {
    const auto layer = Child(*this, absl::StrCat("layer", stage + 1));
    for (int64_t b = 0; b < options_.blocks()[stage]; ++b) {
      auto block = std::dynamic_pointer_cast<BasicBlockImpl>(Child(*layer, std::to_string(b)));
      TORCH_CHECK(block != nullptr, "ResNet: layer", stage + 1, ".", b, " is not a BasicBlock");
      out = block->forward(out);
    }
  }
  out = at::adaptive_avg_pool2d(out, {1, 1}).flatten(1);
  return base::ForwardChild(*this, "fc", out);
}

absl::Status SaveResNet(ResNetImpl& model, const std::string& path) {
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (const auto& item : model.named_parameters()) {
    tensors.emplace_back(item.key(), item.value().detach());
  }
  for (const auto& item : model.named_buffers()) {
    tensors.emplace_back(item.key(), item.value().detach());
  }
  const ResNetOptions& o = model.options();
  return base::WriteSafetensors(path, tensors,
                                {{"architecture", "ResNet"},
                                 {"width", std::to_string(o.width())},
                                 {"blocks", absl::StrJoin(o.blocks(), ",")},
                                 {"in_channels", std::to_string(o.in_channels())},
                                 {"num_classes", std::to_string(o.num_classes())}});
}

absl::Status LoadStateDict(torch::nn::Module& module, const std::string& path) {
  ASSIGN_OR_RETURN(std::unique_ptr<base::SafetensorsReader> reader,
                   base::SafetensorsReader::Open(path));
  std::map<std::string, at::Tensor> targets;
  for (const auto& item : module.named_parameters()) targets[item.key()] = item.value();
  for (const auto& item : module.named_buffers()) targets[item.key()] = item.value();
  std::set<std::string> in_file;
  for (const auto& info : reader->tensors()) in_file.insert(info.name);
  for (const auto& [name, target] : targets) {
    if (!in_file.count(name)) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": missing tensor '", name, "'"));
    }
  }
  for (const std::string& name : in_file) {
    if (!targets.count(name)) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": unexpected tensor '", name, "' (the model has no such name)"));
    }
  }
  torch::NoGradGuard no_grad;
  for (auto& [name, target] : targets) {
    ASSIGN_OR_RETURN(at::Tensor value, reader->Load(name));
    if (value.sizes() != target.sizes()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": tensor '", name, "' has shape [", absl::StrJoin(value.sizes(), ","),
                       "], the model expects [", absl::StrJoin(target.sizes(), ","), "]"));
    }
    target.copy_(value.to(target.scalar_type()));
  }
  return absl::OkStatus();
}

absl::StatusOr<ResNet> LoadResNet(const std::string& path) {
  ASSIGN_OR_RETURN(std::unique_ptr<base::SafetensorsReader> reader,
                   base::SafetensorsReader::Open(path));
  const auto& metadata = reader->metadata();
  auto field = [&](const std::string& key) -> absl::StatusOr<std::string> {
    auto it = metadata.find(key);
    if (it == metadata.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": metadata field '", key, "' is missing (not a SaveResNet file)"));
    }
    return it->second;
  };
  auto number = [&](const std::string& key) -> absl::StatusOr<int64_t> {
    ASSIGN_OR_RETURN(std::string text, field(key));
    int64_t value = 0;
    if (!absl::SimpleAtoi(text, &value)) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": metadata field '", key, "' = \"", text, "\" is not an integer"));
    }
    return value;
  };
  ASSIGN_OR_RETURN(std::string architecture, field("architecture"));
  if (architecture != "ResNet") {
    return absl::InvalidArgumentError(absl::StrCat(path, ": metadata field 'architecture' = \"",
                                                   architecture, "\", expected \"ResNet\""));
  }
  ResNetOptions options;
  ASSIGN_OR_RETURN(options.width(), number("width"));
  ASSIGN_OR_RETURN(options.in_channels(), number("in_channels"));
  ASSIGN_OR_RETURN(options.num_classes(), number("num_classes"));
  ASSIGN_OR_RETURN(std::string blocks, field("blocks"));
  options.blocks().clear();
  for (absl::string_view part : absl::StrSplit(blocks, ',')) {
    int64_t value = 0;
    if (!absl::SimpleAtoi(part, &value)) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": metadata field 'blocks' = \"", blocks, "\" is not a list"));
    }
    options.blocks().push_back(value);
  }
  if (absl::Status status = options.Validate(); !status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", status.message()));
  }
  ResNet model(options);
  RETURN_IF_ERROR(LoadStateDict(*model, path));
  return model;
}

}  // namespace models
