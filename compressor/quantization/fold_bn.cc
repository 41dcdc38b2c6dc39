#include "compressor/quantization/fold_bn.h"

#include <map>
#include <memory>

#include <ATen/ATen.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/utils.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "base/unary_module.h"

namespace compressor {
namespace {

// A Conv2d that takes over an existing conv's weight tensor (the very tensor: optimizer
// state and pruning masks refer to it) and gets a bias. LibTorch registers an undefined
// "bias" for a conv built without one and has no way to re-register a parameter, so the
// folded conv is a new module whose registry entries are set from inside the class.
torch::nn::Conv2dOptions WithBias(const torch::nn::detail::ConvNdOptions<2>& o) {
  return torch::nn::Conv2dOptions(o.in_channels(), o.out_channels(), o.kernel_size())
      .stride(o.stride())
      .padding(o.padding())
      .dilation(o.dilation())
      .groups(o.groups())
      .padding_mode(o.padding_mode())
      .bias(true);
}

class FoldedConv2dImpl : public torch::nn::Conv2dImpl {
 public:
  FoldedConv2dImpl(const torch::nn::Conv2dImpl& conv, const at::Tensor& bias_value)
      : torch::nn::Conv2dImpl(WithBias(conv.options)) {
    parameters_["weight"] = conv.weight;
    weight = conv.weight;
    parameters_["bias"] = bias_value;
    bias = bias_value;
    train(conv.is_training());
  }
};

// Folded BatchNorms become Identities and bias-less convs FoldedConv2ds; parents call both
// through base::ForwardChild.
const bool kRegistered = [] {
  base::RegisterUnaryForward(typeid(torch::nn::IdentityImpl),
                             [](torch::nn::Module& module, const at::Tensor& input) {
                               return dynamic_cast<torch::nn::IdentityImpl&>(module).forward(input);
                             });
  base::RegisterUnaryForward(typeid(FoldedConv2dImpl),
                             [](torch::nn::Module& module, const at::Tensor& input) {
                               return dynamic_cast<FoldedConv2dImpl&>(module).forward(input);
                             });
  return true;
}();

std::map<std::string, std::shared_ptr<torch::nn::Module>> ModulesByName(
    const torch::nn::Module& model) {
  std::map<std::string, std::shared_ptr<torch::nn::Module>> modules;
  for (const auto& item : model.named_modules(/*name_prefix=*/"", /*include_self=*/false)) {
    modules[item.key()] = item.value();
  }
  return modules;
}

torch::nn::Module* ParentOf(torch::nn::Module& model, const std::string& name,
                            std::string* leaf) {
  const size_t dot = name.rfind('.');
  *leaf = dot == std::string::npos ? name : name.substr(dot + 1);
  torch::nn::Module* parent = &model;
  if (dot == std::string::npos) return parent;
  for (const absl::string_view part : absl::StrSplit(name.substr(0, dot), '.')) {
    torch::nn::Module* next = nullptr;
    for (const auto& item : parent->named_children()) {
      if (item.key() == part) next = item.value().get();
    }
    if (next == nullptr) return nullptr;
    parent = next;
  }
  return parent;
}

}  // namespace

std::vector<ConvBnPair> FindConvBnPairsByName(const torch::nn::Module& model) {
  const auto modules = ModulesByName(model);
  std::vector<ConvBnPair> pairs;
  for (const auto& item : model.named_modules(/*name_prefix=*/"", /*include_self=*/false)) {
    const std::string& name = item.key();
    if (item.value()->as<torch::nn::BatchNorm2dImpl>() == nullptr) continue;
    const size_t dot = name.rfind('.');
    const std::string prefix = dot == std::string::npos ? "" : name.substr(0, dot + 1);
    const std::string leaf = dot == std::string::npos ? name : name.substr(dot + 1);
    std::string conv;
    if (leaf.rfind("bn", 0) == 0) {
      conv = prefix + "conv" + leaf.substr(2);
    } else if (leaf == "1" && prefix.size() >= 11 &&
               prefix.compare(prefix.size() - 11, 11, "downsample.") == 0 &&
               (prefix.size() == 11 || prefix[prefix.size() - 12] == '.')) {
      conv = prefix + "0";
    } else {
      continue;
    }
    auto it = modules.find(conv);
    if (it != modules.end() && it->second->as<torch::nn::Conv2dImpl>() != nullptr) {
      pairs.push_back({conv, name});
    }
  }
  return pairs;
}

absl::StatusOr<std::vector<std::string>> FoldBatchNorm(torch::nn::Module& model,
                                                       const std::vector<ConvBnPair>& pairs) {
  const auto modules = ModulesByName(model);
  struct Plan {
    std::shared_ptr<torch::nn::Module> conv_module;
    torch::nn::Conv2dImpl* conv;
    torch::nn::BatchNorm2dImpl* bn;
    torch::nn::Module* bn_parent;
    std::string bn_leaf;
    torch::nn::Module* conv_parent;
    std::string conv_leaf;
  };
  std::vector<Plan> plans;
  for (const ConvBnPair& pair : pairs) {
    const std::string what = absl::StrCat("fold BatchNorm: '", pair.bn, "' into '", pair.conv, "'");
    auto conv_it = modules.find(pair.conv);
    auto bn_it = modules.find(pair.bn);
    if (conv_it == modules.end() || bn_it == modules.end()) {
      return absl::NotFoundError(absl::StrCat(what, ": no module named '",
                                              conv_it == modules.end() ? pair.conv : pair.bn,
                                              "'"));
    }
    auto* conv = conv_it->second->as<torch::nn::Conv2dImpl>();
    auto* bn = bn_it->second->as<torch::nn::BatchNorm2dImpl>();
    if (conv == nullptr || bn == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          what, ": '", conv == nullptr ? pair.conv : pair.bn, "' is not a ",
          conv == nullptr ? "Conv2d (fold before quantizing)" : "BatchNorm2d"));
    }
    if (!bn->options.affine() || !bn->options.track_running_stats()) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": the BatchNorm needs affine parameters and running statistics"));
    }
    if (conv->weight.size(0) != bn->options.num_features()) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": the conv has ", conv->weight.size(0),
                                                     " output channels, the BatchNorm ",
                                                     bn->options.num_features(), " features"));
    }
    Plan plan{conv_it->second, conv, bn, nullptr, "", nullptr, ""};
    plan.bn_parent = ParentOf(model, pair.bn, &plan.bn_leaf);
    plan.conv_parent = ParentOf(model, pair.conv, &plan.conv_leaf);
    if (plan.bn_parent == nullptr || plan.conv_parent == nullptr) {
      return absl::InternalError(absl::StrCat(what, ": cannot find the modules' parents"));
    }
    plans.push_back(plan);
  }
  // Swap the modules first: a parent that keeps its own reference (a typed member, a
  // Sequential) would keep running the old ones, so that is an error before any weight moves.
  torch::NoGradGuard no_grad;
  std::vector<std::shared_ptr<torch::nn::Module>> old_bns;
  std::vector<std::shared_ptr<torch::nn::Module>> new_convs(plans.size());
  for (size_t i = 0; i < plans.size(); ++i) {
    Plan& plan = plans[i];
    old_bns.push_back(ModulesByName(model).at(pairs[i].bn));
    plan.bn_parent->replace_module(plan.bn_leaf, torch::nn::Identity().ptr());
    if (!plan.conv->bias.defined()) {
      new_convs[i] = std::make_shared<FoldedConv2dImpl>(
          *plan.conv, at::zeros({plan.conv->weight.size(0)}, plan.conv->weight.options()));
      plan.conv_parent->replace_module(plan.conv_leaf, new_convs[i]);
    }
  }
  std::vector<std::string> stuck;
  for (size_t i = 0; i < plans.size(); ++i) {
    // Held here and by `plans`/`modules` (conv) or `old_bns` (BatchNorm) only.
    if (old_bns[i].use_count() > 2) stuck.push_back(pairs[i].bn);
    if (new_convs[i] != nullptr && plans[i].conv_module.use_count() > 2) {
      stuck.push_back(pairs[i].conv);
    }
  }
  if (!stuck.empty()) {
    for (size_t i = plans.size(); i-- > 0;) {
      plans[i].bn_parent->replace_module(plans[i].bn_leaf, old_bns[i]);
      if (new_convs[i] != nullptr) {
        plans[i].conv_parent->replace_module(plans[i].conv_leaf, plans[i].conv_module);
      }
    }
    return absl::FailedPreconditionError(absl::StrCat(
        "fold BatchNorm: the parents of ", absl::StrJoin(stuck, ", "),
        " keep their own reference (a typed member or a Sequential), which replace_module "
        "cannot update; call them through base::ForwardChild. The model is unchanged"));
  }
  std::vector<std::string> folded;
  for (size_t i = 0; i < plans.size(); ++i) {
    const Plan& plan = plans[i];
    torch::nn::BatchNorm2dImpl& bn = *plan.bn;
    torch::nn::Conv2dImpl& conv =
        new_convs[i] != nullptr ? *new_convs[i]->as<torch::nn::Conv2dImpl>() : *plan.conv;
    const at::Tensor factor =
        bn.weight.detach() / at::sqrt(bn.running_var.detach() + bn.options.eps());
    conv.weight.mul_(factor.view({-1, 1, 1, 1}));
    conv.bias.copy_((conv.bias.detach() - bn.running_mean) * factor + bn.bias.detach());
    folded.push_back(pairs[i].bn);
  }
  return folded;
}

}  // namespace compressor
