#include "compressor/pruning/schedule.h"

#include <gtest/gtest.h>

#include <cmath>

namespace compressor {
namespace {

SparsitySchedule Make(const std::string& type) {
  SparsitySchedule s;
  s.decay_type = type;
  s.initial_sparsity = 0.1;
  s.target_sparsity = 0.9;
  s.start_step = 100;
  s.end_step = 500;
  s.pruning_frequency = 50;
  return s;
}

TEST(SparsityScheduleTest, ZhuGuptaCubicMatchesThePaper) {
  SparsitySchedule s = Make("zhu_gupta");
  s.initial_sparsity = 0.0;
  s.start_step = 0;
  s.end_step = 80000;
  EXPECT_DOUBLE_EQ(s.SparsityAt(0), 0.0);
  EXPECT_DOUBLE_EQ(s.SparsityAt(40000), 0.9 - 0.9 * 0.125);  // (1 - 1/2)^3 = 1/8.
  EXPECT_DOUBLE_EQ(s.SparsityAt(20000), 0.9 - 0.9 * 0.421875);  // (3/4)^3.
  EXPECT_DOUBLE_EQ(s.SparsityAt(80000), 0.9);
  EXPECT_DOUBLE_EQ(s.SparsityAt(100000), 0.9);
}

TEST(SparsityScheduleTest, IncFormulasAtQuarterPoint) {
  // k/n = (200 - 100) / 400 = 1/4; s_i = 0.1, s_f = 0.9.
  EXPECT_DOUBLE_EQ(Make("cube").SparsityAt(200), 0.8 / 64 + 0.1);
  EXPECT_DOUBLE_EQ(Make("linear").SparsityAt(200), 0.1 + 0.8 / 4);
  EXPECT_NEAR(Make("cos").SparsityAt(200), 0.8 * (1 - std::cos(M_PI / 8)) + 0.1, 1e-15);
  EXPECT_NEAR(Make("exp").SparsityAt(200), 1 - 0.9 * std::pow(0.1 / 0.9, 0.25), 1e-15);
  EXPECT_DOUBLE_EQ(Make("oneshot").SparsityAt(100), 0.9);
}

TEST(SparsityScheduleTest, BeforeStartIsDenseAndEveryTypeStartsAtInitial) {
  for (const char* type : {"zhu_gupta", "cube", "exp", "cos", "linear"}) {
    EXPECT_DOUBLE_EQ(Make(type).SparsityAt(99), 0.0) << type;
    EXPECT_NEAR(Make(type).SparsityAt(100), 0.1, 1e-12) << type;
    EXPECT_DOUBLE_EQ(Make(type).SparsityAt(500), 0.9) << type;
  }
}

TEST(SparsityScheduleTest, PruningStepsFollowFrequencyAndIncludeEnd) {
  SparsitySchedule s = Make("linear");
  s.end_step = 520;
  EXPECT_FALSE(s.IsPruningStep(99));
  EXPECT_TRUE(s.IsPruningStep(100));
  EXPECT_FALSE(s.IsPruningStep(101));
  EXPECT_TRUE(s.IsPruningStep(150));
  EXPECT_TRUE(s.IsPruningStep(500));
  EXPECT_TRUE(s.IsPruningStep(520));
  EXPECT_FALSE(s.IsPruningStep(550));
}

TEST(SparsityScheduleTest, ValidationNamesTheKey) {
  SparsitySchedule s = Make("linear");
  s.end_step = 50;
  EXPECT_EQ(s.Validate("r.yaml").message(), "r.yaml: end_step (50) must not be before start_step (100)");
  s = Make("quadratic");
  EXPECT_NE(s.Validate("r.yaml").message().find("sparsity_decay_type is \"quadratic\""),
            std::string::npos);
  s = Make("linear");
  s.target_sparsity = 1.0;
  EXPECT_EQ(s.Validate("r.yaml").message(), "r.yaml: target_sparsity must be in [0, 1), got 1");
}

}  // namespace
}  // namespace compressor
