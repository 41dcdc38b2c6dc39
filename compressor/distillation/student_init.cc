#include "compressor/distillation/student_init.h"

#include <algorithm>
#include <cctype>
#include <optional>
#include <set>

#include <ATen/ATen.h>
#include <torch/utils.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace compressor {
namespace {

std::string Shape(const at::Tensor& t) {
  return absl::StrCat("[", absl::StrJoin(t.sizes(), ", "), "]");
}

// Where "<pattern><index>." sits in a tensor name: the index and its digits' range.
struct LayerRef {
  int64_t index;
  size_t digits_begin;
  size_t digits_end;
};

std::optional<LayerRef> FindLayer(const std::string& name, const std::string& pattern) {
  if (pattern.empty()) return std::nullopt;
  for (size_t pos = name.find(pattern); pos != std::string::npos;
       pos = name.find(pattern, pos + 1)) {
    // A whole name component: "sublayer.1." is not layer 1 of "layer.".
    if (pos != 0 && name[pos - 1] != '.') continue;
    const size_t begin = pos + pattern.size();
    size_t end = begin;
    while (end < name.size() && std::isdigit(static_cast<unsigned char>(name[end]))) ++end;
    // 18 digits always fit an int64_t.
    if (end == begin || end - begin > 18 || end >= name.size() || name[end] != '.') continue;
    return LayerRef{std::stoll(name.substr(begin, end - begin)), begin, end};
  }
  return std::nullopt;
}

// Parameters, then buffers, in module order.
std::vector<std::pair<std::string, at::Tensor>> NamedTensors(const torch::nn::Module& module) {
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (const auto& item : module.named_parameters()) tensors.emplace_back(item.key(), item.value());
  for (const auto& item : module.named_buffers()) tensors.emplace_back(item.key(), item.value());
  return tensors;
}

std::set<int64_t> Layers(const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                         const std::string& pattern) {
  std::set<int64_t> layers;
  for (const auto& [name, tensor] : tensors) {
    if (std::optional<LayerRef> ref = FindLayer(name, pattern)) layers.insert(ref->index);
  }
  return layers;
}

}  // namespace

absl::StatusOr<StudentInitReport> InitializeStudentFromTeacher(
    torch::nn::Module& student, const torch::nn::Module& teacher,
    const std::map<int64_t, int64_t>& layer_map, const std::string& layer_pattern) {
  const std::vector<std::pair<std::string, at::Tensor>> student_tensors = NamedTensors(student);
  const std::vector<std::pair<std::string, at::Tensor>> teacher_tensors = NamedTensors(teacher);
  std::map<std::string, size_t> teacher_index;
  for (size_t k = 0; k < teacher_tensors.size(); ++k) teacher_index[teacher_tensors[k].first] = k;

  const std::set<int64_t> student_layers = Layers(student_tensors, layer_pattern);
  const std::set<int64_t> teacher_layers = Layers(teacher_tensors, layer_pattern);
  for (const auto& [s, t] : layer_map) {
    if (student_layers.count(s) == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "student init: layer_map maps student layer ", s, " (\"", layer_pattern, s,
          ".\"), which the student does not have; its layers: [",
          absl::StrJoin(student_layers, ", "), "]"));
    }
    if (teacher_layers.count(t) == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "student init: layer_map maps student layer ", s, " to teacher layer ", t, " (\"",
          layer_pattern, t, ".\"), which the teacher does not have; its layers: [",
          absl::StrJoin(teacher_layers, ", "), "]"));
    }
  }

  // Planned first, copied after: an error leaves the student untouched.
  StudentInitReport report;
  std::vector<std::pair<at::Tensor, at::Tensor>> copies;  // (student, teacher)
  std::vector<bool> used(teacher_tensors.size(), false);
  for (const auto& [name, tensor] : student_tensors) {
    std::string teacher_name = name;
    const std::optional<LayerRef> ref = FindLayer(name, layer_pattern);
    if (ref.has_value()) {
      auto mapped = layer_map.find(ref->index);
      if (mapped == layer_map.end()) {
        report.untouched.emplace_back(
            name, absl::StrCat("layer ", ref->index, " is not in layer_map"));
        continue;
      }
      teacher_name = absl::StrCat(name.substr(0, ref->digits_begin), mapped->second,
                                  name.substr(ref->digits_end));
    }
    auto found = teacher_index.find(teacher_name);
    if (found == teacher_index.end()) {
      report.untouched.emplace_back(name,
                                    absl::StrCat("the teacher has no \"", teacher_name, "\""));
      continue;
    }
    const at::Tensor& source = teacher_tensors[found->second].second;
    if (source.sizes() != tensor.sizes()) {
      // A mapped layer must match: a silently half-initialised layer would train from
      // a worse start with no sign of it. Elsewhere (e.g. a head for another label
      // count) the student keeps its own initialisation.
      if (ref.has_value()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "student init: student \"", name, "\" has shape ", Shape(tensor), " but teacher \"",
            teacher_name, "\" has shape ", Shape(source)));
      }
      report.untouched.emplace_back(name, absl::StrCat("shape ", Shape(tensor),
                                                       " differs from the teacher's ",
                                                       Shape(source)));
      continue;
    }
    used[found->second] = true;
    report.copied.emplace_back(name, teacher_name);
    copies.emplace_back(tensor, source);
  }
  for (size_t k = 0; k < teacher_tensors.size(); ++k) {
    if (!used[k]) report.unused_teacher.push_back(teacher_tensors[k].first);
  }

  torch::NoGradGuard no_grad;
  for (auto& [destination, source] : copies) destination.copy_(source);
  return report;
}

std::map<int64_t, int64_t> UniformLayerMap(int64_t student_layers, int64_t teacher_layers) {
  TORCH_CHECK(student_layers > 0 && teacher_layers > 0, "UniformLayerMap: layer counts must be ",
              "> 0, got ", student_layers, " student and ", teacher_layers, " teacher layers");
  std::map<int64_t, int64_t> map;
  for (int64_t i = 0; i < student_layers; ++i) {
    // round(a / b) with halves up, for a, b > 0: floor((2a + b) / 2b).
    const int64_t a = (i + 1) * teacher_layers;
    const int64_t rounded = (2 * a + student_layers) / (2 * student_layers);
    map[i] = std::max<int64_t>(0, rounded - 1);
  }
  return map;
}

}  // namespace compressor
