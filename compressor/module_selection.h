// Which modules of a model a component's `op_names` / `excluded_op_names` select (regexes
// searched in the module's dotted name), and how messages list module names. Shared by
// pruning and quantization so that both read the two lists the same way.
//
//   ASSIGN_OR_RETURN(ModuleFilter filter,
//                    ModuleFilter::Create(config.op_names, config.excluded_op_names,
//                                         "quantization config"));
//   for (const auto& item : model.named_modules("", false))
//     if (filter.Selects(item.key())) ...
#ifndef COMPRESSOR_MODULE_SELECTION_H_
#define COMPRESSOR_MODULE_SELECTION_H_

#include <cstddef>
#include <regex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace compressor {

class ModuleFilter {
 public:
  // Compiles both lists once. An invalid regex is InvalidArgument
  // "<source>: <op_names|excluded_op_names> \"<pattern>\" is not a valid regex: <why>".
  static absl::StatusOr<ModuleFilter> Create(const std::vector<std::string>& op_names,
                                             const std::vector<std::string>& excluded_op_names,
                                             const std::string& source);

  // Some op_names regex matches `name`, or op_names is empty.
  bool Included(const std::string& name) const;
  // Some excluded_op_names regex matches `name`.
  bool Excluded(const std::string& name) const;
  // Included and not excluded.
  bool Selects(const std::string& name) const { return Included(name) && !Excluded(name); }

 private:
  ModuleFilter() = default;
  bool include_all_ = true;
  std::vector<std::regex> included_;
  std::vector<std::regex> excluded_;
};

// Compiles each pattern; an invalid one is InvalidArgument
// "<source>: <key> \"<pattern>\" is not a valid regex: <why>".
absl::StatusOr<std::vector<std::regex>> CompileRegexes(const std::vector<std::string>& patterns,
                                                       const std::string& source,
                                                       const std::string& key);

// "a, b, c" or, past `shown` names, "a, b, c, d, e and 7 more".
std::string FewNames(const std::vector<std::string>& names, size_t shown = 5);

}  // namespace compressor

#endif  // COMPRESSOR_MODULE_SELECTION_H_
