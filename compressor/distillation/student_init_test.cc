#include "compressor/distillation/student_init.h"

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/linear.h>
#include <torch/utils.h>

namespace compressor {
namespace {

using Pairs = std::vector<std::pair<std::string, std::string>>;
using Names = std::vector<std::string>;

// One layer: a parameterised submodule and a buffer.
struct TinyBlock : torch::nn::Module {
  explicit TinyBlock(int64_t width)
      : dense(register_module("dense", torch::nn::Linear(width, width))) {
    register_buffer("scale", at::ones({width}));
  }
  torch::nn::Linear dense;
};

struct TinyEncoder : torch::nn::Module {
  explicit TinyEncoder(const std::vector<int64_t>& widths) {
    for (int64_t width : widths) layer->push_back(std::make_shared<TinyBlock>(width));
    register_module("layer", layer);
  }
  torch::nn::ModuleList layer;
};

// BERT-shaped names without BERT: "encoder.layer.<i>.dense.weight",
// "encoder.layer.<i>.scale", "head.weight"; optionally "sublayer.<k>.weight" (which the
// "layer." pattern must not take for a layer) and a student-only "pooler".
struct TinyModel : torch::nn::Module {
  TinyModel(const std::vector<int64_t>& widths, int64_t labels, bool sublayer = false,
            bool pooler = false) {
    register_module("encoder", std::make_shared<TinyEncoder>(widths));
    register_module("head", torch::nn::Linear(widths.back(), labels));
    if (sublayer) {
      torch::nn::ModuleList list;
      for (int k = 0; k < 2; ++k) list->push_back(torch::nn::Linear(1, 1));
      register_module("sublayer", list);
    }
    if (pooler) register_module("pooler", torch::nn::Linear(widths.back(), widths.back()));
  }
};

// Every tensor gets its own constant (start, start + 1, ... in parameters-then-buffers
// order), so equal values prove which tensor a copy came from.
void Fill(torch::nn::Module& module, double start) {
  torch::NoGradGuard no_grad;
  double value = start;
  for (at::Tensor& t : module.parameters()) t.fill_(value++);
  for (at::Tensor& t : module.buffers()) t.fill_(value++);
}

at::Tensor Named(const torch::nn::Module& module, const std::string& name) {
  const auto parameters = module.named_parameters();
  if (const at::Tensor* p = parameters.find(name)) return *p;
  const auto buffers = module.named_buffers();
  const at::Tensor* b = buffers.find(name);
  EXPECT_NE(b, nullptr) << name;
  return b == nullptr ? at::Tensor() : *b;
}

TEST(StudentInitTest, UniformLayerMapPicksEvenlySpacedTeacherLayersEndingWithTheLast) {
  using Map = std::map<int64_t, int64_t>;
  EXPECT_EQ(UniformLayerMap(6, 12), (Map{{0, 1}, {1, 3}, {2, 5}, {3, 7}, {4, 9}, {5, 11}}));
  EXPECT_EQ(UniformLayerMap(4, 12), (Map{{0, 2}, {1, 5}, {2, 8}, {3, 11}}));
  EXPECT_EQ(UniformLayerMap(3, 12), (Map{{0, 3}, {1, 7}, {2, 11}}));
  // 2.4, 4.8, 7.2, 9.6, 12 rounded, minus one.
  EXPECT_EQ(UniformLayerMap(5, 12), (Map{{0, 1}, {1, 4}, {2, 6}, {3, 9}, {4, 11}}));
  // 1.5, 3, 4.5, 6: halves round up.
  EXPECT_EQ(UniformLayerMap(4, 6), (Map{{0, 1}, {1, 2}, {2, 4}, {3, 5}}));
  EXPECT_EQ(UniformLayerMap(1, 12), (Map{{0, 11}}));
  EXPECT_EQ(UniformLayerMap(3, 3), (Map{{0, 0}, {1, 1}, {2, 2}}));
  // A deeper student repeats teacher layers; the first never goes below layer 0.
  EXPECT_EQ(UniformLayerMap(3, 1), (Map{{0, 0}, {1, 0}, {2, 0}}));
  EXPECT_EQ(UniformLayerMap(4, 2), (Map{{0, 0}, {1, 0}, {2, 1}, {3, 1}}));
  try {
    UniformLayerMap(0, 12);
    ADD_FAILURE() << "no error for 0 student layers";
  } catch (const c10::Error& e) {
    EXPECT_EQ(std::string(e.what_without_backtrace()),
              "UniformLayerMap: layer counts must be > 0, got 0 student and 12 teacher layers");
  }
}

TEST(StudentInitTest, CopiesMappedLayersAndSameNamedTensors) {
  TinyModel teacher({2, 2, 2, 2}, 3);
  TinyModel student({2, 2}, 3);
  Fill(teacher, 1000);
  Fill(student, -100);
  const at::Tensor live = Named(student, "encoder.layer.1.dense.weight");

  const absl::StatusOr<StudentInitReport> report =
      InitializeStudentFromTeacher(student, teacher, UniformLayerMap(2, 4));
  ASSERT_TRUE(report.ok()) << report.status();
  const Pairs copied = {
      {"encoder.layer.0.dense.weight", "encoder.layer.1.dense.weight"},
      {"encoder.layer.0.dense.bias", "encoder.layer.1.dense.bias"},
      {"encoder.layer.1.dense.weight", "encoder.layer.3.dense.weight"},
      {"encoder.layer.1.dense.bias", "encoder.layer.3.dense.bias"},
      {"head.weight", "head.weight"},
      {"head.bias", "head.bias"},
      {"encoder.layer.0.scale", "encoder.layer.1.scale"},
      {"encoder.layer.1.scale", "encoder.layer.3.scale"},
  };
  EXPECT_EQ(report->copied, copied);
  EXPECT_TRUE(report->untouched.empty());
  EXPECT_EQ(report->unused_teacher,
            (Names{"encoder.layer.0.dense.weight", "encoder.layer.0.dense.bias",
                   "encoder.layer.2.dense.weight", "encoder.layer.2.dense.bias",
                   "encoder.layer.0.scale", "encoder.layer.2.scale"}));
  for (const auto& [s, t] : copied) {
    EXPECT_TRUE(at::equal(Named(student, s), Named(teacher, t))) << s << " <- " << t;
  }
  // Teacher layer 3's dense.weight is its 7th parameter: 1000 + 6.
  EXPECT_TRUE(at::equal(live, at::full({2, 2}, 1006.0)));
  // In place: the module (and an optimizer holding it) keeps the same tensor.
  EXPECT_TRUE(Named(student, "encoder.layer.1.dense.weight").is_same(live));
  EXPECT_TRUE(live.requires_grad());
}

TEST(StudentInitTest, ReportsWhatItLeavesAndWhatItSkips) {
  // Student layer 1 is not mapped; the head has another label count; the pooler is the
  // student's own; "sublayer.1." is not layer 1 and is copied by name.
  TinyModel teacher({2, 2, 2, 2}, 3, /*sublayer=*/true);
  TinyModel student({2, 2, 2}, 2, /*sublayer=*/true, /*pooler=*/true);
  Fill(teacher, 1000);
  Fill(student, -100);
  const absl::StatusOr<StudentInitReport> report =
      InitializeStudentFromTeacher(student, teacher, {{0, 0}, {2, 3}});
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->copied, (Pairs{
                                {"encoder.layer.0.dense.weight", "encoder.layer.0.dense.weight"},
                                {"encoder.layer.0.dense.bias", "encoder.layer.0.dense.bias"},
                                {"encoder.layer.2.dense.weight", "encoder.layer.3.dense.weight"},
                                {"encoder.layer.2.dense.bias", "encoder.layer.3.dense.bias"},
                                {"sublayer.0.weight", "sublayer.0.weight"},
                                {"sublayer.0.bias", "sublayer.0.bias"},
                                {"sublayer.1.weight", "sublayer.1.weight"},
                                {"sublayer.1.bias", "sublayer.1.bias"},
                                {"encoder.layer.0.scale", "encoder.layer.0.scale"},
                                {"encoder.layer.2.scale", "encoder.layer.3.scale"},
                            }));
  EXPECT_EQ(report->untouched,
            (Pairs{
                {"encoder.layer.1.dense.weight", "layer 1 is not in layer_map"},
                {"encoder.layer.1.dense.bias", "layer 1 is not in layer_map"},
                {"head.weight", "shape [2, 2] differs from the teacher's [3, 2]"},
                {"head.bias", "shape [2] differs from the teacher's [3]"},
                {"pooler.weight", "the teacher has no \"pooler.weight\""},
                {"pooler.bias", "the teacher has no \"pooler.bias\""},
                {"encoder.layer.1.scale", "layer 1 is not in layer_map"},
            }));
  EXPECT_EQ(report->unused_teacher,
            (Names{"encoder.layer.1.dense.weight", "encoder.layer.1.dense.bias",
                   "encoder.layer.2.dense.weight", "encoder.layer.2.dense.bias", "head.weight",
                   "head.bias", "encoder.layer.1.scale", "encoder.layer.2.scale"}));
  for (const auto& [s, t] : report->copied) {
    EXPECT_TRUE(at::equal(Named(student, s), Named(teacher, t))) << s << " <- " << t;
  }
  // Left alone, with the student's own fill values: -100 + position in fill order, where
  // the 6 layer, 2 head, 4 sublayer and 2 pooler parameters come before the 3 buffers.
  EXPECT_TRUE(at::equal(Named(student, "encoder.layer.1.dense.weight"), at::full({2, 2}, -98.0)));
  EXPECT_TRUE(at::equal(Named(student, "head.weight"), at::full({2, 2}, -94.0)));
  EXPECT_TRUE(at::equal(Named(student, "head.bias"), at::full({2}, -93.0)));
  EXPECT_TRUE(at::equal(Named(student, "pooler.bias"), at::full({2}, -87.0)));
  EXPECT_TRUE(at::equal(Named(student, "encoder.layer.1.scale"), at::full({2}, -85.0)));
}

TEST(StudentInitTest, MappedShapeMismatchAndBadLayerMapAreErrorsAndCopyNothing) {
  TinyModel teacher({2, 2}, 3);
  TinyModel student({2, 3}, 3);  // Layer 1 is wider than the teacher's.
  Fill(teacher, 1000);
  Fill(student, -100);
  absl::StatusOr<StudentInitReport> report =
      InitializeStudentFromTeacher(student, teacher, {{0, 0}, {1, 1}});
  EXPECT_EQ(report.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(report.status().message(),
            "student init: student \"encoder.layer.1.dense.weight\" has shape [3, 3] but teacher "
            "\"encoder.layer.1.dense.weight\" has shape [2, 2]");
  // Layer 0 matched, but nothing is copied when anything fails.
  EXPECT_TRUE(at::equal(Named(student, "encoder.layer.0.dense.weight"), at::full({2, 2}, -100.0)));

  report = InitializeStudentFromTeacher(student, teacher, {{0, 0}, {5, 1}});
  EXPECT_EQ(report.status().message(),
            "student init: layer_map maps student layer 5 (\"layer.5.\"), which the student does "
            "not have; its layers: [0, 1]");
  report = InitializeStudentFromTeacher(student, teacher, {{0, 9}});
  EXPECT_EQ(report.status().message(),
            "student init: layer_map maps student layer 0 to teacher layer 9 (\"layer.9.\"), "
            "which the teacher does not have; its layers: [0, 1]");
  EXPECT_TRUE(at::equal(Named(student, "encoder.layer.0.dense.weight"), at::full({2, 2}, -100.0)));

  // Another pattern: with "encoder.layer." the same layers are found.
  TinyModel narrow({2}, 3);
  report = InitializeStudentFromTeacher(narrow, teacher, {{0, 1}}, "encoder.layer.");
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->copied.front(),
            std::make_pair(std::string("encoder.layer.0.dense.weight"),
                           std::string("encoder.layer.1.dense.weight")));
}

}  // namespace
}  // namespace compressor
