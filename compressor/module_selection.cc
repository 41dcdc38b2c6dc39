#include "compressor/module_selection.h"

#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace compressor {
namespace {

bool SearchAny(const std::vector<std::regex>& patterns, const std::string& name) {
  return std::any_of(patterns.begin(), patterns.end(),
                     [&](const std::regex& r) { return std::regex_search(name, r); });
}

}  // namespace

absl::StatusOr<std::vector<std::regex>> CompileRegexes(const std::vector<std::string>& patterns,
                                                       const std::string& source,
                                                       const std::string& key) {
  std::vector<std::regex> compiled;
  for (const std::string& pattern : patterns) {
    try {
      compiled.emplace_back(pattern);
    } catch (const std::regex_error& e) {
      return absl::InvalidArgumentError(absl::StrCat(source, ": ", key, " \"", pattern,
                                                     "\" is not a valid regex: ", e.what()));
    }
  }
  return compiled;
}

absl::StatusOr<ModuleFilter> ModuleFilter::Create(
    const std::vector<std::string>& op_names,
    const std::vector<std::string>& excluded_op_names, const std::string& source) {
  absl::StatusOr<std::vector<std::regex>> included =
      CompileRegexes(op_names, source, "op_names");
  if (!included.ok()) return included.status();
  absl::StatusOr<std::vector<std::regex>> excluded =
      CompileRegexes(excluded_op_names, source, "excluded_op_names");
  if (!excluded.ok()) return excluded.status();
  ModuleFilter filter;
  filter.include_all_ = op_names.empty();
  filter.included_ = std::move(*included);
  filter.excluded_ = std::move(*excluded);
  return filter;
}

bool ModuleFilter::Included(const std::string& name) const {
  return include_all_ || SearchAny(included_, name);
}

bool ModuleFilter::Excluded(const std::string& name) const { return SearchAny(excluded_, name); }

std::string FewNames(const std::vector<std::string>& names, size_t shown) {
  if (names.size() <= shown) return absl::StrJoin(names, ", ");
  return absl::StrCat(absl::StrJoin(names.begin(), names.begin() + shown, ", "), " and ",
                      names.size() - shown, " more");
}

}  // namespace compressor
