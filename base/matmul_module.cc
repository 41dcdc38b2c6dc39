#include "base/matmul_module.h"

#include <mutex>
#include <ostream>
#include <typeindex>
#include <unordered_map>

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

namespace base {
namespace {

struct Registry {
  std::mutex mutex;
  std::unordered_map<std::type_index, BinaryForwardFn> functions;
};

Registry& GetRegistry() {
  static auto* const registry = new Registry();
  return *registry;
}

}  // namespace

at::Tensor MatMulImpl::forward(const at::Tensor& a, const at::Tensor& b) {
  return at::matmul(a, b);
}

void MatMulImpl::pretty_print(std::ostream& stream) const { stream << "base::MatMul()"; }

bool RegisterBinaryForward(const std::type_info& type, BinaryForwardFn forward) {
  Registry& registry = GetRegistry();
  std::lock_guard<std::mutex> lock(registry.mutex);
  registry.functions[std::type_index(type)] = forward;
  return true;
}

at::Tensor ForwardBinary(torch::nn::Module& module, const at::Tensor& a, const at::Tensor& b) {
  if (auto* matmul = module.as<MatMulImpl>()) return matmul->forward(a, b);
  BinaryForwardFn forward = nullptr;
  {
    Registry& registry = GetRegistry();
    std::lock_guard<std::mutex> lock(registry.mutex);
    auto it = registry.functions.find(std::type_index(typeid(module)));
    if (it != registry.functions.end()) forward = it->second;
  }
  TORCH_CHECK(forward != nullptr, "ForwardBinary: module ", module.name(),
              " is neither a base::MatMul nor a type registered with "
              "base::RegisterBinaryForward");
  return forward(module, a, b);
}

at::Tensor ForwardBinaryChild(const torch::nn::Module& parent, const std::string& name,
                              const at::Tensor& a, const at::Tensor& b) {
  const auto children = parent.named_children();
  const std::shared_ptr<torch::nn::Module>* child = children.find(name);
  TORCH_CHECK(child != nullptr, "ForwardBinaryChild: ", parent.name(), " has no child '", name,
              "'");
  return ForwardBinary(**child, a, b);
}

}  // namespace base
