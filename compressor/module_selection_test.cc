#include "compressor/module_selection.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace compressor {
namespace {

using ::testing::HasSubstr;

TEST(ModuleFilterTest, EmptyOpNamesSelectEverythingNotExcluded) {
  absl::StatusOr<ModuleFilter> filter = ModuleFilter::Create({}, {"qa_outputs$"}, "cfg");
  ASSERT_TRUE(filter.ok()) << filter.status();
  EXPECT_TRUE(filter->Selects("bert.encoder.layer.0.output.dense"));
  EXPECT_FALSE(filter->Selects("qa_outputs"));
  EXPECT_TRUE(filter->Included("qa_outputs"));
  EXPECT_TRUE(filter->Excluded("qa_outputs"));
}

TEST(ModuleFilterTest, OpNamesAreSearchedNotMatchedWhole) {
  absl::StatusOr<ModuleFilter> filter =
      ModuleFilter::Create({"attention\\.", "^classifier$"}, {"key$"}, "cfg");
  ASSERT_TRUE(filter.ok()) << filter.status();
  EXPECT_TRUE(filter->Selects("layer.0.attention.self.query"));
  EXPECT_FALSE(filter->Selects("layer.0.attention.self.key"));
  EXPECT_TRUE(filter->Selects("classifier"));
  EXPECT_FALSE(filter->Selects("pre_classifier"));
  EXPECT_FALSE(filter->Selects("layer.0.intermediate.dense"));
}

TEST(ModuleFilterTest, InvalidRegexNamesSourceKeyAndPattern) {
  absl::StatusOr<ModuleFilter> filter = ModuleFilter::Create({"ok"}, {"("}, "cfg");
  ASSERT_FALSE(filter.ok());
  EXPECT_EQ(filter.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(filter.status().message()),
              HasSubstr("cfg: excluded_op_names \"(\" is not a valid regex"));
  EXPECT_THAT(std::string(ModuleFilter::Create({"["}, {}, "src").status().message()),
              HasSubstr("src: op_names \"[\""));
}

TEST(FewNamesTest, ListsUpToFiveThenCounts) {
  EXPECT_EQ(FewNames({}), "");
  EXPECT_EQ(FewNames({"a", "b"}), "a, b");
  EXPECT_EQ(FewNames({"a", "b", "c", "d", "e", "f", "g"}), "a, b, c, d, e and 2 more");
  EXPECT_EQ(FewNames({"a", "b", "c"}, 2), "a, b and 1 more");
}

}  // namespace
}  // namespace compressor
