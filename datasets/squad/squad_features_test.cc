#include "datasets/squad/squad_features.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "datasets/squad/fake_tokenizer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace datasets {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using Offsets = std::vector<std::pair<int64_t, int64_t>>;

constexpr char kZurichContext[] = "Einstein studied in Zürich — 1896.";
constexpr char kWindowContext[] = "w0 w1 w2 w3 w4 w5 w6 w7 w8 w9";

SquadExample MakeExample(std::string id, std::string question, std::string context,
                         std::vector<SquadAnswer> answers) {
  SquadExample example;
  example.id = std::move(id);
  example.question = std::move(question);
  example.context = std::move(context);
  example.answers = std::move(answers);
  example.is_impossible = example.answers.empty();
  return example;
}

std::vector<bool> MaxContextAt(const SquadFeature& feature, int64_t begin, int64_t end) {
  return std::vector<bool>(feature.token_is_max_context.begin() + begin,
                           feature.token_is_max_context.begin() + end);
}

// Windows of 4 context tokens after "[CLS] q [SEP]", stepping by 2 tokens:
// [w0..w3], [w2..w5], [w4..w7], [w6..w9].
SquadFeatureConfig WindowConfig() {
  SquadFeatureConfig config;
  config.max_seq_length = 8;
  config.doc_stride = 2;
  config.max_query_length = 64;
  return config;
}

TEST(FakeTokenizerTest, SplitsWordsPunctuationAndPieces) {
  FakeTokenizer tokenizer({kZurichContext}, {{"zürich", 2}});
  const tokenizers::Encoding encoding = tokenizer.Encode(kZurichContext);
  EXPECT_THAT(encoding.tokens,
              ElementsAre("einstein", "studied", "in", "zü", "##rich", "—", "1896", "."));
  EXPECT_EQ(encoding.offsets,
            (Offsets{{0, 8}, {9, 16}, {17, 19}, {20, 22}, {22, 26}, {27, 28}, {29, 33}, {33, 34}}));
  EXPECT_EQ(encoding.ids[0], 5);
  EXPECT_EQ(tokenizer.TokenToId("unknown"), tokenizer.unk_id());
  EXPECT_EQ(tokenizer.Decode(encoding.ids), "einstein studied in zürich — 1896 .");
}

TEST(SquadFeaturesTest, BuildsOneWindowWithSpecialsPaddingAndOffsets) {
  FakeTokenizer tokenizer({"Where did he study?", kZurichContext}, {{"zürich", 2}});
  const std::vector<SquadExample> examples = {
      MakeExample("q", "Where did he study?", kZurichContext, {{"Zürich", 20}})};
  SquadFeatureConfig config;
  config.max_seq_length = 20;
  SquadConversionStats stats;
  absl::StatusOr<std::vector<SquadFeature>> features =
      ConvertSquadExamplesToFeatures(examples, tokenizer, config, &stats);
  ASSERT_TRUE(features.ok()) << features.status();
  ASSERT_EQ(features->size(), 1u);
  const SquadFeature& feature = (*features)[0];
  EXPECT_THAT(
      tokenizer.Tokens(feature.input_ids),
      ElementsAre("[CLS]", "where", "did", "he", "study", "?", "[SEP]", "einstein", "studied", "in",
                  "zü", "##rich", "—", "1896", ".", "[SEP]", "[PAD]", "[PAD]", "[PAD]", "[PAD]"));
  EXPECT_THAT(feature.token_type_ids,
              ElementsAre(0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0));
  EXPECT_THAT(feature.attention_mask,
              ElementsAre(1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0));
  const std::pair<int64_t, int64_t> none = {-1, -1};
  EXPECT_EQ(feature.token_to_orig_offsets,
            (Offsets{none,     none,    none,     none,     none,     none,     none,
                     {0, 8},   {9, 16}, {17, 19}, {20, 22}, {22, 26}, {27, 28}, {29, 33},
                     {33, 34}, none,    none,     none,     none,     none}));
  EXPECT_EQ(
      MaxContextAt(feature, 0, 20),
      (std::vector<bool>{false, false, false, false, false, false, false, true,  true,  true,
                         true,  true,  true,  true,  true,  false, false, false, false, false}));
  // "Zürich" is the two pieces "zü" "##rich".
  EXPECT_EQ(feature.start_position, 10);
  EXPECT_EQ(feature.end_position, 11);
  EXPECT_EQ(feature.example_index, 0);
  EXPECT_EQ(feature.feature_index, 0);
  EXPECT_EQ(feature.doc_span_index, 0);
  EXPECT_TRUE(feature.IsContextToken(7));
  EXPECT_FALSE(feature.IsContextToken(15));
  EXPECT_FALSE(feature.IsContextToken(20));
  EXPECT_EQ(stats.num_examples, 1);
  EXPECT_EQ(stats.num_features, 1);
}

TEST(SquadFeaturesTest, PadsWithTheTokenizersPadId) {
  class OtherPadTokenizer : public FakeTokenizer {
   public:
    using FakeTokenizer::FakeTokenizer;
    int64_t pad_id() const override { return 4; }
  };
  OtherPadTokenizer tokenizer({"a b"});
  SquadFeatureConfig config;
  config.max_seq_length = 8;
  absl::StatusOr<std::vector<SquadFeature>> features =
      ConvertSquadExamplesToFeatures({MakeExample("q", "a", "b", {{"b", 0}})}, tokenizer, config);
  ASSERT_TRUE(features.ok()) << features.status();
  EXPECT_THAT((*features)[0].input_ids, ElementsAre(2, 5, 3, 6, 3, 4, 4, 4));
}

TEST(SquadFeaturesTest, TruncatesTheQuery) {
  FakeTokenizer tokenizer({"Where did he study?", kZurichContext}, {{"zürich", 2}});
  SquadFeatureConfig config;
  config.max_seq_length = 16;
  config.max_query_length = 2;
  absl::StatusOr<std::vector<SquadFeature>> features = ConvertSquadExamplesToFeatures(
      {MakeExample("q", "Where did he study?", kZurichContext, {{"Zürich", 20}})}, tokenizer,
      config);
  ASSERT_TRUE(features.ok()) << features.status();
  const SquadFeature& feature = (*features)[0];
  EXPECT_THAT(tokenizer.Tokens(feature.input_ids),
              ElementsAre("[CLS]", "where", "did", "[SEP]", "einstein", "studied", "in", "zü",
                          "##rich", "—", "1896", ".", "[SEP]", "[PAD]", "[PAD]", "[PAD]"));
  EXPECT_EQ(feature.start_position, 7);
  EXPECT_EQ(feature.end_position, 8);
}

TEST(SquadFeaturesTest, MapsPartialWordAnswersToWholeTokens) {
  FakeTokenizer tokenizer({"Where?", kZurichContext}, {{"zürich", 2}});
  SquadFeatureConfig config;
  config.max_seq_length = 16;
  // "rich" lies inside "##rich"; "ürich" starts inside "zü" and ends with "##rich"; the
  // em dash answer is preceded by multi-byte characters.
  absl::StatusOr<std::vector<SquadFeature>> features =
      ConvertSquadExamplesToFeatures({MakeExample("a", "Where?", kZurichContext, {{"rich", 22}}),
                                      MakeExample("b", "Where?", kZurichContext, {{"ürich", 21}}),
                                      MakeExample("c", "Where?", kZurichContext, {{"— 1896", 27}})},
                                     tokenizer, config);
  ASSERT_TRUE(features.ok()) << features.status();
  ASSERT_EQ(features->size(), 3u);
  // Context tokens start at position 4, after [CLS] where ? [SEP].
  EXPECT_EQ((*features)[0].start_position, 8);
  EXPECT_EQ((*features)[0].end_position, 8);
  EXPECT_EQ((*features)[1].start_position, 7);
  EXPECT_EQ((*features)[1].end_position, 8);
  EXPECT_EQ((*features)[2].start_position, 9);
  EXPECT_EQ((*features)[2].end_position, 10);
  EXPECT_EQ((*features)[2].example_index, 2);
  EXPECT_EQ((*features)[2].feature_index, 2);
}

TEST(SquadFeaturesTest, SlidesWindowsAndFindsTheAnswerInTheSecond) {
  FakeTokenizer tokenizer({"q", kWindowContext});
  // "w4 w5" = context tokens 4..5: not in window 0 ([w0..w3]), inside windows 1 and 2.
  absl::StatusOr<std::vector<SquadFeature>> features = ConvertSquadExamplesToFeatures(
      {MakeExample("a", "q", kWindowContext, {{"w4 w5", 12}})}, tokenizer, WindowConfig());
  ASSERT_TRUE(features.ok()) << features.status();
  ASSERT_EQ(features->size(), 4u);
  const std::vector<std::vector<std::string>> expected_tokens = {
      {"[CLS]", "q", "[SEP]", "w0", "w1", "w2", "w3", "[SEP]"},
      {"[CLS]", "q", "[SEP]", "w2", "w3", "w4", "w5", "[SEP]"},
      {"[CLS]", "q", "[SEP]", "w4", "w5", "w6", "w7", "[SEP]"},
      {"[CLS]", "q", "[SEP]", "w6", "w7", "w8", "w9", "[SEP]"}};
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_THAT(tokenizer.Tokens((*features)[i].input_ids), ElementsAreArray(expected_tokens[i]));
    EXPECT_EQ((*features)[i].doc_span_index, static_cast<int64_t>(i));
    EXPECT_EQ((*features)[i].feature_index, static_cast<int64_t>(i));
    EXPECT_EQ((*features)[i].example_index, 0);
  }
  EXPECT_EQ((*features)[1].token_to_orig_offsets[3], (std::pair<int64_t, int64_t>(6, 8)));
  EXPECT_EQ((*features)[0].start_position, 0);
  EXPECT_EQ((*features)[0].end_position, 0);
  EXPECT_EQ((*features)[1].start_position, 5);
  EXPECT_EQ((*features)[1].end_position, 6);
  EXPECT_EQ((*features)[2].start_position, 3);
  EXPECT_EQ((*features)[2].end_position, 4);
  EXPECT_EQ((*features)[3].start_position, 0);
  EXPECT_EQ((*features)[3].end_position, 0);
}

TEST(SquadFeaturesTest, WindowsThatCutTheAnswerPointAtCls) {
  FakeTokenizer tokenizer({"q", kWindowContext});
  // "w3 w4 w5" = tokens 3..5: window 0 holds only its start, window 2 only its end.
  absl::StatusOr<std::vector<SquadFeature>> features = ConvertSquadExamplesToFeatures(
      {MakeExample("a", "q", kWindowContext, {{"w3 w4 w5", 9}})}, tokenizer, WindowConfig());
  ASSERT_TRUE(features.ok()) << features.status();
  ASSERT_EQ(features->size(), 4u);
  const std::vector<std::pair<int64_t, int64_t>> expected = {{0, 0}, {4, 6}, {0, 0}, {0, 0}};
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(std::make_pair((*features)[i].start_position, (*features)[i].end_position),
              expected[i])
        << "window " << i;
  }
}

TEST(SquadFeaturesTest, MarksMaxContextWindows) {
  FakeTokenizer tokenizer({"q", kWindowContext});
  absl::StatusOr<std::vector<SquadFeature>> features = ConvertSquadExamplesToFeatures(
      {MakeExample("a", "q", kWindowContext, {{"w0", 0}})}, tokenizer, WindowConfig());
  ASSERT_TRUE(features.ok()) << features.status();
  ASSERT_EQ(features->size(), 4u);
  // Token 2 sits in windows 0 (1 token of context on its poorer side) and 1 (0): window 0.
  // Token 3: windows 0 (0) and 1 (1): window 1. Likewise down the line; tokens at the very
  // start or end only appear in one window.
  EXPECT_THAT(MaxContextAt((*features)[0], 0, 8),
              ElementsAre(false, false, false, true, true, true, false, false));
  EXPECT_THAT(MaxContextAt((*features)[1], 0, 8),
              ElementsAre(false, false, false, false, true, true, false, false));
  EXPECT_THAT(MaxContextAt((*features)[2], 0, 8),
              ElementsAre(false, false, false, false, true, true, false, false));
  EXPECT_THAT(MaxContextAt((*features)[3], 0, 8),
              ElementsAre(false, false, false, false, true, true, true, false));
}

TEST(SquadFeaturesTest, MaxContextTiesGoToTheLongerThenTheEarlierWindow) {
  FakeTokenizer tokenizer({"q", kWindowContext});
  SquadFeatureConfig config = WindowConfig();
  config.doc_stride = 3;  // Windows [w0..w3], [w3..w6], [w6..w9].
  absl::StatusOr<std::vector<SquadFeature>> features = ConvertSquadExamplesToFeatures(
      {MakeExample("a", "q", "w0 w1 w2 w3 w4 w5 w6 w7 w8", {{"w0", 0}})}, tokenizer, config);
  ASSERT_TRUE(features.ok()) << features.status();
  ASSERT_EQ(features->size(), 3u);  // The last window is [w6..w8], 3 tokens long.
  // w3 scores 0 + 0.04 in windows 0 and 1: the earlier wins. w6 scores 0.04 in window 1
  // and 0.03 in the shorter window 2: window 1 wins.
  EXPECT_THAT(MaxContextAt((*features)[0], 3, 7), ElementsAre(true, true, true, true));
  EXPECT_THAT(MaxContextAt((*features)[1], 3, 7), ElementsAre(false, true, true, true));
  EXPECT_THAT(MaxContextAt((*features)[2], 3, 6), ElementsAre(false, true, true));
}

TEST(SquadFeaturesTest, ImpossibleQuestionsPointAtClsEverywhere) {
  FakeTokenizer tokenizer({"q", kWindowContext});
  SquadFeatureConfig config = WindowConfig();
  config.is_training = true;
  absl::StatusOr<std::vector<SquadFeature>> features = ConvertSquadExamplesToFeatures(
      {MakeExample("a", "q", kWindowContext, {})}, tokenizer, config);
  ASSERT_TRUE(features.ok()) << features.status();
  ASSERT_EQ(features->size(), 4u);
  for (const SquadFeature& feature : *features) {
    EXPECT_EQ(feature.start_position, 0);
    EXPECT_EQ(feature.end_position, 0);
  }
}

TEST(SquadFeaturesTest, TrainingDropsAnswersThatCoverNoToken) {
  FakeTokenizer tokenizer({"q", "a  b"});
  const std::vector<SquadExample> examples = {
      MakeExample("blank", "q", "a  b", {{" ", 2}}),  // Only whitespace.
      MakeExample("ok", "q", "a  b", {{"b", 3}})};
  SquadFeatureConfig config;
  config.max_seq_length = 8;
  config.is_training = true;
  SquadConversionStats stats;
  absl::StatusOr<std::vector<SquadFeature>> features =
      ConvertSquadExamplesToFeatures(examples, tokenizer, config, &stats);
  ASSERT_TRUE(features.ok()) << features.status();
  ASSERT_EQ(features->size(), 1u);
  EXPECT_EQ((*features)[0].example_index, 1);
  EXPECT_EQ((*features)[0].feature_index, 0);
  EXPECT_EQ((*features)[0].start_position, 4);
  EXPECT_EQ(stats.num_unmappable_answers, 1);
  EXPECT_EQ(stats.num_examples, 1);

  // Evaluation keeps every question, with the [CLS] position.
  config.is_training = false;
  features = ConvertSquadExamplesToFeatures(examples, tokenizer, config, &stats);
  ASSERT_TRUE(features.ok()) << features.status();
  ASSERT_EQ(features->size(), 2u);
  EXPECT_EQ((*features)[0].start_position, 0);
  EXPECT_EQ((*features)[1].example_index, 1);
  EXPECT_EQ(stats.num_unmappable_answers, 0);
}

TEST(SquadFeaturesTest, UsesTheFirstAnswer) {
  FakeTokenizer tokenizer({"q", kWindowContext});
  SquadFeatureConfig config;
  config.max_seq_length = 16;
  absl::StatusOr<std::vector<SquadFeature>> features = ConvertSquadExamplesToFeatures(
      {MakeExample("a", "q", kWindowContext, {{"w7", 21}, {"w1", 3}})}, tokenizer, config);
  ASSERT_TRUE(features.ok()) << features.status();
  EXPECT_EQ((*features)[0].start_position, 10);
  EXPECT_EQ((*features)[0].end_position, 10);
}

TEST(SquadFeaturesTest, EmptyContextGivesNoFeature) {
  FakeTokenizer tokenizer({"q"});
  absl::StatusOr<std::vector<SquadFeature>> features =
      ConvertSquadExamplesToFeatures({MakeExample("a", "q", "", {})}, tokenizer, WindowConfig());
  ASSERT_TRUE(features.ok()) << features.status();
  EXPECT_TRUE(features->empty());
}

TEST(SquadFeaturesTest, RejectsConfigsWithoutRoomForContext) {
  FakeTokenizer tokenizer({"a b c d e f g h"});
  SquadFeatureConfig config;
  config.max_seq_length = 10;
  config.max_query_length = 7;
  const std::vector<SquadExample> examples = {MakeExample("short", "a b", "c", {{"c", 0}}),
                                              MakeExample("long", "a b c d e f g h", "c", {})};
  absl::StatusOr<std::vector<SquadFeature>> features =
      ConvertSquadExamplesToFeatures(examples, tokenizer, config);
  ASSERT_FALSE(features.ok());
  EXPECT_EQ(features.status().message(),
            "question \"long\": max_seq_length (10) leaves no room for context tokens after 7 "
            "question tokens (max_query_length 7) and 3 specials");
  config.max_seq_length = 3;
  features = ConvertSquadExamplesToFeatures({}, tokenizer, config);
  ASSERT_FALSE(features.ok());
  EXPECT_EQ(features.status().message(),
            "SquadFeatureConfig: max_seq_length must be at least 4 ([CLS], [SEP], [SEP] and one "
            "context token), got 3");
  config = SquadFeatureConfig();
  config.doc_stride = 0;
  features = ConvertSquadExamplesToFeatures({}, tokenizer, config);
  ASSERT_FALSE(features.ok());
  EXPECT_EQ(features.status().message(), "SquadFeatureConfig: doc_stride must be positive, got 0");
}

TEST(SquadFeatureDatasetTest, ServesFeaturesAsExamples) {
  FakeTokenizer tokenizer({"q", kWindowContext});
  absl::StatusOr<std::vector<SquadFeature>> features = ConvertSquadExamplesToFeatures(
      {MakeExample("a", "q", kWindowContext, {{"w4 w5", 12}})}, tokenizer, WindowConfig());
  ASSERT_TRUE(features.ok()) << features.status();
  SquadFeatureDataset dataset(
      std::make_shared<const std::vector<SquadFeature>>(*std::move(features)));
  ASSERT_EQ(dataset.size(), 4u);
  const Example example = dataset.Get(1);
  EXPECT_EQ(example.ints.size(), 6u);
  EXPECT_THAT(example.ints.at("input_ids"), ElementsAre(2, 5, 3, 8, 9, 10, 11, 3));
  EXPECT_THAT(example.ints.at("token_type_ids"), ElementsAre(0, 0, 0, 1, 1, 1, 1, 1));
  EXPECT_THAT(example.ints.at("attention_mask"), ElementsAre(1, 1, 1, 1, 1, 1, 1, 1));
  EXPECT_THAT(example.ints.at("start_positions"), ElementsAre(5));
  EXPECT_THAT(example.ints.at("end_positions"), ElementsAre(6));
  EXPECT_THAT(example.ints.at("feature_index"), ElementsAre(1));
  EXPECT_TRUE(example.floats.empty());
  EXPECT_TRUE(dataset.Get(4).ints.empty());
}

}  // namespace
}  // namespace datasets
