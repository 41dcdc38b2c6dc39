#include "base/unary_module.h"

#include <mutex>
#include <typeindex>
#include <unordered_map>

#include <c10/util/Exception.h>
#include <torch/nn/modules/linear.h>

namespace base {
namespace {

struct Registry {
  std::mutex mutex;
  std::unordered_map<std::type_index, UnaryForwardFn> functions;
};

Registry& GetRegistry() {
  static auto* const registry = new Registry();
  return *registry;
}

}  // namespace

bool RegisterUnaryForward(const std::type_info& type, UnaryForwardFn forward) {
  Registry& registry = GetRegistry();
  std::lock_guard<std::mutex> lock(registry.mutex);
  registry.functions[std::type_index(type)] = forward;
  return true;
}

at::Tensor ForwardUnary(torch::nn::Module& module, const at::Tensor& input) {
  if (auto* linear = module.as<torch::nn::Linear>()) return linear->forward(input);
  UnaryForwardFn forward = nullptr;
  {
    Registry& registry = GetRegistry();
    std::lock_guard<std::mutex> lock(registry.mutex);
    auto it = registry.functions.find(std::type_index(typeid(module)));
    if (it != registry.functions.end()) forward = it->second;
  }
  TORCH_CHECK(forward != nullptr, "ForwardUnary: module ", module.name(),
              " is neither a torch::nn::Linear nor a type registered with "
              "base::RegisterUnaryForward");
  return forward(module, input);
}

at::Tensor ForwardChild(const torch::nn::Module& parent, const std::string& name,
                        const at::Tensor& input) {
  const auto children = parent.named_children();
  const std::shared_ptr<torch::nn::Module>* child = children.find(name);
  TORCH_CHECK(child != nullptr, "ForwardChild: ", parent.name(), " has no child '", name, "'");
  return ForwardUnary(**child, input);
}

}  // namespace base
