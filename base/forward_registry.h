// Behind ForwardUnary (unary_module.h): a table of how to call forward() on a module whose
// concrete type the caller does not know (LibTorch's modules have no virtual forward()),
// keyed by dynamic type, and the lookup of a parent's child by name. Internal to base/;
// other packages use unary_module.h. (Attention products no longer need it: they are
// layers::MatMul, whose kernel changes in place.)
#ifndef BASE_FORWARD_REGISTRY_H_
#define BASE_FORWARD_REGISTRY_H_

#include <memory>
#include <mutex>
#include <string>
#include <typeindex>
#include <typeinfo>
#include <unordered_map>

#include <c10/util/Exception.h>
#include <torch/nn/module.h>

namespace base::internal {

// One registry per function signature `Fn`, alive for the whole process.
template <typename Fn>
class ForwardRegistry {
 public:
  static ForwardRegistry& Get() {
    static auto* const registry = new ForwardRegistry();
    return *registry;
  }
  // Registering a type twice keeps the latest function.
  void Register(const std::type_info& type, Fn forward) {
    std::lock_guard<std::mutex> lock(mutex_);
    functions_[std::type_index(type)] = forward;
  }
  // The function registered for `type`, or nullptr.
  Fn Find(const std::type_info& type) const {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto it = functions_.find(std::type_index(type));
    return it == functions_.end() ? nullptr : it->second;
  }

 private:
  mutable std::mutex mutex_;
  std::unordered_map<std::type_index, Fn> functions_;
};

// `parent`'s registered child `name`, looked up on every call so a replacement is found; a
// missing child is a c10::Error naming `caller`, the parent and the name.
inline torch::nn::Module& ChildNamed(const torch::nn::Module& parent, const std::string& name,
                                     const char* caller) {
  const auto children = parent.named_children();
  const std::shared_ptr<torch::nn::Module>* child = children.find(name);
  TORCH_CHECK(child != nullptr, caller, ": ", parent.name(), " has no child '", name, "'");
  return **child;
}

}  // namespace base::internal

#endif  // BASE_FORWARD_REGISTRY_H_
