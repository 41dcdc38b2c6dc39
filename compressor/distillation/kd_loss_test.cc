#include "compressor/distillation/kd_loss.h"

#include <cmath>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/nn/modules/linear.h>
#include <torch/utils.h>

namespace compressor {
namespace {

// Independent scalar formulas, written out with exp/log; unscaled (no T^2).
std::vector<double> Softmax(const std::vector<double>& x, double temperature) {
  double sum = 0;
  for (double v : x) sum += std::exp(v / temperature);
  std::vector<double> p;
  for (double v : x) p.push_back(std::exp(v / temperature) / sum);
  return p;
}

double HandCe(const std::vector<double>& s, const std::vector<double>& t, double temperature) {
  const std::vector<double> p = Softmax(t, temperature), q = Softmax(s, temperature);
  double ce = 0;
  for (size_t c = 0; c < p.size(); ++c) ce -= p[c] * std::log(q[c]);
  return ce;
}

double HandKl(const std::vector<double>& s, const std::vector<double>& t, double temperature) {
  const std::vector<double> p = Softmax(t, temperature), q = Softmax(s, temperature);
  double kl = 0;
  for (size_t c = 0; c < p.size(); ++c) kl += p[c] * (std::log(p[c]) - std::log(q[c]));
  return kl;
}

at::Tensor Row(const std::vector<double>& values) {
  return at::tensor(values, at::kDouble).view({1, static_cast<int64_t>(values.size())});
}

double Value(const at::Tensor& t) { return t.item<double>(); }

const std::vector<double> kStudent = {1, 2, 3};
const std::vector<double> kTeacher = {3, 2, 1};

TEST(KdLossTest, CeMatchesHandComputationAtTemperatureTwo) {
  // p = softmax([1.5, 1, 0.5]), log q = log_softmax([0.5, 1, 1.5]).
  const double p0 = std::exp(1.5), p1 = std::exp(1.0), p2 = std::exp(0.5);
  const double z = p0 + p1 + p2;
  const double expected =
      -4 * (p0 / z * std::log(p2 / z) + p1 / z * std::log(p1 / z) + p2 / z * std::log(p0 / z));
  EXPECT_NEAR(expected, 4 * HandCe(kStudent, kTeacher, 2.0), 1e-12);
  EXPECT_NEAR(Value(LogitDistillationLoss(Row(kStudent), Row(kTeacher), "CE", 2.0)), expected,
              1e-12);
}

TEST(KdLossTest, KlMatchesHandComputationAtTemperatureTwo) {
  const double p0 = std::exp(1.5), p1 = std::exp(1.0), p2 = std::exp(0.5);
  const double z = p0 + p1 + p2;
  // KL(p || q) with q the reverse of p: (p0 - p2) / z * (1.5 - 0.5).
  const double expected = 4 * ((p0 - p2) / z * 1.0);
  EXPECT_NEAR(expected, 4 * HandKl(kStudent, kTeacher, 2.0), 1e-12);
  EXPECT_NEAR(Value(LogitDistillationLoss(Row(kStudent), Row(kTeacher), "KL", 2.0)), expected,
              1e-12);
}

TEST(KdLossTest, MseUsesRawLogitsWithoutTemperature) {
  // ((1-3)^2 + 0 + (3-1)^2) / 3, whatever T is.
  for (double temperature : {1.0, 2.0, 5.0}) {
    EXPECT_NEAR(Value(LogitDistillationLoss(Row(kStudent), Row(kTeacher), "MSE", temperature)),
                8.0 / 3.0, 1e-12);
  }
}

TEST(KdLossTest, ScalesByTemperatureSquared) {
  const std::vector<double> s = {0.3, -1.2, 2.0, 0.7}, t = {1.1, 0.4, -0.5, 2.2};
  for (double temperature : {1.0, 3.0, 4.0}) {
    const double scale = temperature * temperature;
    EXPECT_NEAR(Value(LogitDistillationLoss(Row(s), Row(t), "KL", temperature)),
                scale * HandKl(s, t, temperature), 1e-12);
    EXPECT_NEAR(Value(LogitDistillationLoss(Row(s), Row(t), "CE", temperature)),
                scale * HandCe(s, t, temperature), 1e-12);
  }
}

TEST(KdLossTest, GradientIsTemperatureTimesProbabilityDifference) {
  // Hinton: d(T^2 * CE)/ds = T * (softmax(s/T) - softmax(t/T)); likewise for KL.
  const double temperature = 2.0;
  const std::vector<double> q = Softmax(kStudent, temperature), p = Softmax(kTeacher, temperature);
  for (const std::string type : {"CE", "KL"}) {
    at::Tensor s = Row(kStudent).requires_grad_();
    LogitDistillationLoss(s, Row(kTeacher), type, temperature).backward();
    for (int64_t c = 0; c < 3; ++c) {
      EXPECT_NEAR(s.grad()[0][c].item<double>(), temperature * (q[c] - p[c]), 1e-12) << type;
    }
  }
}

TEST(KdLossTest, IdenticalLogitsGiveTeacherEntropyAndZeroKl) {
  const double temperature = 2.0;
  const std::vector<double> p = Softmax(kTeacher, temperature);
  double entropy = 0;
  for (double v : p) entropy -= v * std::log(v);
  EXPECT_NEAR(Value(LogitDistillationLoss(Row(kTeacher), Row(kTeacher), "CE", temperature)),
              entropy * 4, 1e-12);
  EXPECT_NEAR(Value(LogitDistillationLoss(Row(kTeacher), Row(kTeacher), "KL", temperature)), 0.0,
              1e-12);
  EXPECT_NEAR(Value(LogitDistillationLoss(Row(kTeacher), Row(kTeacher), "MSE", temperature)), 0.0,
              1e-12);
}

TEST(KdLossTest, AveragesOverAllLeadingPositions) {
  // [2, 2, 3]: four positions.
  const std::vector<std::vector<double>> s = {{1, 2, 3}, {0, 0, 1}, {2, -1, 0}, {0.5, 0.5, 3}};
  const std::vector<std::vector<double>> t = {{3, 2, 1}, {1, 0, 0}, {2, 2, 2}, {-1, 4, 0}};
  std::vector<double> flat_s, flat_t;
  double expected = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    flat_s.insert(flat_s.end(), s[i].begin(), s[i].end());
    flat_t.insert(flat_t.end(), t[i].begin(), t[i].end());
    expected += /*T^2=*/4 * HandKl(s[i], t[i], 2.0) / /*positions=*/4;
  }
  const at::Tensor student = at::tensor(flat_s, at::kDouble).view({2, 2, 3});
  const at::Tensor teacher = at::tensor(flat_t, at::kDouble).view({2, 2, 3});
  EXPECT_NEAR(Value(LogitDistillationLoss(student, teacher, "KL", 2.0)), expected, 1e-12);
}

TEST(KdLossTest, MaskExcludesPositions) {
  // Positions 0 and 3 count; 1 and 2 hold wild values that must not matter.
  const at::Tensor student =
      at::tensor(std::vector<double>{1, 2, 3, 50, -50, 0, 9, 9, -9, 0.5, 0.5, 3}, at::kDouble)
          .view({2, 2, 3})
          .requires_grad_();
  const at::Tensor teacher =
      at::tensor(std::vector<double>{3, 2, 1, -40, 0, 40, 0, 0, 0, -1, 4, 0}, at::kDouble)
          .view({2, 2, 3});
  const at::Tensor mask = at::tensor(std::vector<int64_t>{1, 0, 0, 1}).view({2, 2}).to(at::kBool);
  const double expected_ce =
      4 * (HandCe({1, 2, 3}, {3, 2, 1}, 2.0) + HandCe({0.5, 0.5, 3}, {-1, 4, 0}, 2.0)) / 2;
  const at::Tensor ce = LogitDistillationLoss(student, teacher, "CE", 2.0, mask);
  EXPECT_NEAR(Value(ce), expected_ce, 1e-12);
  ce.backward();
  EXPECT_EQ(student.grad()[0][1].abs().sum().item<double>(), 0.0);
  EXPECT_EQ(student.grad()[1][0].abs().sum().item<double>(), 0.0);
  EXPECT_GT(student.grad()[0][0].abs().sum().item<double>(), 0.0);
  // MSE averages over the kept positions' elements: (4 + 0 + 4 + 2.25 + 12.25 + 9) / 6.
  EXPECT_NEAR(Value(LogitDistillationLoss(student, teacher, "MSE", 2.0, mask)),
              (4 + 0 + 4 + 2.25 + 12.25 + 9) / 6.0, 1e-12);
  // No position selected: 0, not NaN.
  EXPECT_EQ(Value(LogitDistillationLoss(student, teacher, "KL", 2.0, at::zeros_like(mask))), 0.0);
}

TEST(KdLossTest, LayerLossesMatchHandComputation) {
  const at::Tensor s = at::tensor(std::vector<double>{1, 2, 3, 4}, at::kDouble).view({2, 2});
  const at::Tensor t = at::tensor(std::vector<double>{2, 2, 3, 6}, at::kDouble).view({2, 2});
  EXPECT_NEAR(Value(LayerDistillationLoss(s, t, "MSE")), (1 + 0 + 0 + 4) / 4.0, 1e-12);
  EXPECT_NEAR(Value(LayerDistillationLoss(s, t, "L1")), (1 + 0 + 0 + 2) / 4.0, 1e-12);
  // Attention probabilities: KL(teacher || student) per row, mean over rows.
  const at::Tensor sp =
      at::tensor(std::vector<double>{0.25, 0.75, 0.5, 0.5}, at::kDouble).view({2, 2});
  const at::Tensor tp = at::tensor(std::vector<double>{0.5, 0.5, 1, 0}, at::kDouble).view({2, 2});
  const double row0 = 0.5 * std::log(0.5 / 0.25) + 0.5 * std::log(0.5 / 0.75);
  const double row1 = 1.0 * std::log(1.0 / 0.5);
  EXPECT_NEAR(Value(LayerDistillationLoss(sp, tp, "KL")), (row0 + row1) / 2, 1e-12);
}

TEST(KdLossTest, LayerKlIsFiniteWhereProbabilitiesAreZero) {
  // Masked attention keys have probability exactly 0 in both models.
  const at::Tensor s =
      at::tensor(std::vector<double>{0, 0.4, 0.6}, at::kDouble).view({1, 3}).requires_grad_();
  const at::Tensor t = at::tensor(std::vector<double>{0, 0.5, 0.5}, at::kDouble).view({1, 3});
  const at::Tensor loss = LayerDistillationLoss(s, t, "KL");
  EXPECT_NEAR(Value(loss), 0.5 * std::log(0.5 / 0.4) + 0.5 * std::log(0.5 / 0.6), 1e-12);
  loss.backward();
  EXPECT_TRUE(at::isfinite(s.grad()).all().item<bool>());
  // d/ds_c of -t_c log s_c = -t_c / s_c.
  EXPECT_NEAR(s.grad()[0][1].item<double>(), -0.5 / 0.4, 1e-12);
}

TEST(KdLossTest, ProjectionMapsStudentWidthToTeacherWidth) {
  torch::nn::Linear projection(2, 3);
  {
    torch::NoGradGuard no_grad;
    projection->weight.copy_(at::tensor(std::vector<float>{1, 0, 0, 1, 1, 1}).view({3, 2}));
    projection->bias.copy_(at::tensor(std::vector<float>{0, 0, 1}));
  }
  const at::Tensor s = at::tensor(std::vector<float>{1, 2}).view({1, 2});
  const at::Tensor t = at::tensor(std::vector<float>{1, 1, 1}).view({1, 3});
  // W s + b = [1, 2, 4]; MSE against [1, 1, 1] = (0 + 1 + 9) / 3.
  const at::Tensor loss = LayerDistillationLoss(s, t, "MSE", projection);
  EXPECT_NEAR(loss.item<float>(), 10.0f / 3.0f, 1e-6);
  loss.backward();
  // d/dW[2][1] = 2/3 * (4 - 1) * s[1] = 4.
  EXPECT_NEAR(projection->weight.grad()[2][1].item<float>(), 4.0f, 1e-5);
  EXPECT_THROW(LayerDistillationLoss(s, t, "KL", projection), c10::Error);
}

TEST(KdLossTest, ShapeMismatchNamesBothShapes) {
  const at::Tensor s = at::zeros({1, 3});
  const at::Tensor t = at::zeros({1, 4});
  try {
    LogitDistillationLoss(s, t, "CE", 2.0);
    FAIL() << "expected c10::Error";
  } catch (const c10::Error& e) {
    const std::string message = e.what_without_backtrace();
    EXPECT_NE(message.find("student [1, 3]"), std::string::npos) << message;
    EXPECT_NE(message.find("teacher [1, 4]"), std::string::npos) << message;
  }
  try {
    LogitDistillationLoss(s, s, "CE", 2.0, at::ones({3}, at::kBool));
    FAIL() << "expected c10::Error";
  } catch (const c10::Error& e) {
    const std::string message = e.what_without_backtrace();
    EXPECT_NE(message.find("mask [3]"), std::string::npos) << message;
    EXPECT_NE(message.find("[1]"), std::string::npos) << message;
  }
}

TEST(KdLossTest, UnknownLossTypeThrows) {
  const at::Tensor s = at::zeros({1, 3});
  EXPECT_THROW(LogitDistillationLoss(s, s, "L1", 2.0), c10::Error);
  EXPECT_THROW(LayerDistillationLoss(s, s, "CE"), c10::Error);
  EXPECT_TRUE(IsLogitLossType("CE") && IsLogitLossType("KL") && IsLogitLossType("MSE"));
  EXPECT_FALSE(IsLogitLossType("L1"));
  EXPECT_TRUE(IsLayerLossType("L1") && IsLayerLossType("KL") && IsLayerLossType("MSE"));
  EXPECT_FALSE(IsLayerLossType("CE"));
}

}  // namespace
}  // namespace compressor
