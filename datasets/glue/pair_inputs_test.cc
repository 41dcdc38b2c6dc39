#include "datasets/glue/pair_inputs.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

namespace datasets {
namespace {

constexpr int64_t kCls = 2;
constexpr int64_t kSep = 3;

using Ids = std::vector<int64_t>;

TEST(PairInputsTest, BuildsSingleSentence) {
  const Example example = BuildClassificationInputs({10, 11}, nullptr, kCls, kSep, 8);
  EXPECT_EQ(example.ints.at("input_ids"), (Ids{2, 10, 11, 3}));
  EXPECT_EQ(example.ints.at("token_type_ids"), (Ids{0, 0, 0, 0}));
  EXPECT_EQ(example.ints.at("attention_mask"), (Ids{1, 1, 1, 1}));
  EXPECT_EQ(example.ints.size(), 3u);
  EXPECT_TRUE(example.floats.empty());
}

TEST(PairInputsTest, BuildsPairWithSegmentIds) {
  const Ids b = {20};
  const Example example = BuildClassificationInputs({10, 11}, &b, kCls, kSep, 10);
  EXPECT_EQ(example.ints.at("input_ids"), (Ids{2, 10, 11, 3, 20, 3}));
  EXPECT_EQ(example.ints.at("token_type_ids"), (Ids{0, 0, 0, 0, 1, 1}));
  EXPECT_EQ(example.ints.at("attention_mask"), (Ids{1, 1, 1, 1, 1, 1}));
}

TEST(PairInputsTest, TruncatesTheLongerSequenceFirst) {
  const Ids b = {20, 21};
  // Budget 8 - 3 = 5: the first sequence loses two tokens, the second keeps both.
  const Example example = BuildClassificationInputs({10, 11, 12, 13, 14}, &b, kCls, kSep, 8);
  EXPECT_EQ(example.ints.at("input_ids"), (Ids{2, 10, 11, 12, 3, 20, 21, 3}));
  EXPECT_EQ(example.ints.at("token_type_ids"), (Ids{0, 0, 0, 0, 0, 1, 1, 1}));
}

TEST(PairInputsTest, TruncatesTheSecondSequenceOnATie) {
  const Ids b = {20, 21, 22};
  // Budget 4 from 3 + 3: b (tie), then a (now longer).
  const Example example = BuildClassificationInputs({10, 11, 12}, &b, kCls, kSep, 7);
  EXPECT_EQ(example.ints.at("input_ids"), (Ids{2, 10, 11, 3, 20, 21, 3}));
}

TEST(PairInputsTest, TruncatesSingleSentence) {
  const Example example = BuildClassificationInputs({10, 11, 12, 13, 14}, nullptr, kCls, kSep, 4);
  EXPECT_EQ(example.ints.at("input_ids"), (Ids{2, 10, 11, 3}));
  EXPECT_EQ(example.ints.at("attention_mask"), (Ids{1, 1, 1, 1}));
}

}  // namespace
}  // namespace datasets
