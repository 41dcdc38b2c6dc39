// Expected values follow Hugging Face's (slow) BertTokenizer __call__ with text_pair,
// max_length, truncation and padding="max_length", on testdata/vocab.txt.
#include "models/tokenizers/model_inputs.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "models/tokenizers/wordpiece_tokenizer.h"

namespace tokenizers {
namespace {

using ::testing::ElementsAre;
using Offsets = std::vector<std::pair<int64_t, int64_t>>;

class ModelInputsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<BertTokenizer>> tokenizer =
        BertTokenizer::FromFile("models/tokenizers/testdata/vocab.txt");
    ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
    tokenizer_ = std::move(*tokenizer);
  }

  // Encodes `a` (and `b` unless null) and builds their inputs.
  absl::StatusOr<ModelInputs> Build(const char* a, const char* b, int64_t max_length,
                                    Truncation truncation) {
    ModelInputsOptions options;
    options.max_length = max_length;
    options.truncation = truncation;
    const Encoding first = tokenizer_->Encode(a);
    if (b == nullptr) return BuildModelInputs(*tokenizer_, first, options);
    const Encoding second = tokenizer_->Encode(b);
    return BuildModelInputs(*tokenizer_, first, &second, options);
  }

  std::unique_ptr<BertTokenizer> tokenizer_;
};

TEST_F(ModelInputsTest, BuildsSingleSequence) {
  absl::StatusOr<ModelInputs> inputs =
      Build("hello world", nullptr, 512, Truncation::kLongestFirst);
  ASSERT_TRUE(inputs.ok()) << inputs.status();
  EXPECT_THAT(inputs->tokens, ElementsAre("[CLS]", "hello", "world", "[SEP]"));
  EXPECT_THAT(inputs->input_ids, ElementsAre(2, 17, 18, 3));
  EXPECT_THAT(inputs->token_type_ids, ElementsAre(0, 0, 0, 0));
  EXPECT_THAT(inputs->attention_mask, ElementsAre(1, 1, 1, 1));
  EXPECT_EQ(inputs->offsets, (Offsets{{0, 0}, {0, 5}, {6, 11}, {0, 0}}));
  EXPECT_THAT(inputs->sequence_ids, ElementsAre(-1, 0, 0, -1));
}

TEST_F(ModelInputsTest, BuildsPairLikeHuggingFace) {
  absl::StatusOr<ModelInputs> inputs =
      Build("hello world", "the want", 512, Truncation::kLongestFirst);
  ASSERT_TRUE(inputs.ok()) << inputs.status();
  EXPECT_THAT(inputs->tokens,
              ElementsAre("[CLS]", "hello", "world", "[SEP]", "the", "want", "[SEP]"));
  EXPECT_THAT(inputs->input_ids, ElementsAre(2, 17, 18, 3, 41, 5, 3));
  EXPECT_THAT(inputs->token_type_ids, ElementsAre(0, 0, 0, 0, 1, 1, 1));
  EXPECT_THAT(inputs->attention_mask, ElementsAre(1, 1, 1, 1, 1, 1, 1));
  // Offsets of the second sequence point into the second text.
  EXPECT_EQ(inputs->offsets,
            (Offsets{{0, 0}, {0, 5}, {6, 11}, {0, 0}, {0, 3}, {4, 8}, {0, 0}}));
  EXPECT_THAT(inputs->sequence_ids, ElementsAre(-1, 0, 0, -1, 1, 1, -1));
  EXPECT_EQ(inputs->num_truncated_first, 0);
  EXPECT_EQ(inputs->num_truncated_second, 0);
}

TEST_F(ModelInputsTest, LongestFirstCutsTheLongerSequenceOneTokenAtATime) {
  // 4 + 2 + 3 specials = 9 > 7: both cuts come from the first sequence.
  absl::StatusOr<ModelInputs> inputs =
      Build("hello world hello world", "the want", 7, Truncation::kLongestFirst);
  ASSERT_TRUE(inputs.ok()) << inputs.status();
  EXPECT_THAT(inputs->tokens,
              ElementsAre("[CLS]", "hello", "world", "[SEP]", "the", "want", "[SEP]"));
  EXPECT_EQ(inputs->num_truncated_first, 2);
  EXPECT_EQ(inputs->num_truncated_second, 0);

  // 3 + 2 + 3 = 8 > 5: first (3 > 2), then the tie goes to the second, then first again.
  inputs = Build("hello world hello", "the want", 5, Truncation::kLongestFirst);
  ASSERT_TRUE(inputs.ok()) << inputs.status();
  EXPECT_THAT(inputs->tokens, ElementsAre("[CLS]", "hello", "[SEP]", "the", "[SEP]"));
  EXPECT_THAT(inputs->token_type_ids, ElementsAre(0, 0, 0, 1, 1));
  EXPECT_EQ(inputs->num_truncated_first, 2);
  EXPECT_EQ(inputs->num_truncated_second, 1);

  // A tie at the start: the second sequence loses.
  inputs = Build("hello world", "the want", 6, Truncation::kLongestFirst);
  ASSERT_TRUE(inputs.ok()) << inputs.status();
  EXPECT_THAT(inputs->tokens, ElementsAre("[CLS]", "hello", "world", "[SEP]", "the", "[SEP]"));
  EXPECT_EQ(inputs->num_truncated_second, 1);

  // A single sequence is cut from its end.
  inputs = Build("hello world hello world", nullptr, 4, Truncation::kLongestFirst);
  ASSERT_TRUE(inputs.ok()) << inputs.status();
  EXPECT_THAT(inputs->tokens, ElementsAre("[CLS]", "hello", "world", "[SEP]"));
  EXPECT_EQ(inputs->num_truncated_first, 2);
}

TEST_F(ModelInputsTest, OnlyFirstAndOnlySecondCutOneSequence) {
  absl::StatusOr<ModelInputs> inputs =
      Build("hello world hello world", "the want", 6, Truncation::kOnlyFirst);
  ASSERT_TRUE(inputs.ok()) << inputs.status();
  EXPECT_THAT(inputs->tokens, ElementsAre("[CLS]", "hello", "[SEP]", "the", "want", "[SEP]"));
  EXPECT_EQ(inputs->num_truncated_first, 3);
  EXPECT_EQ(inputs->num_truncated_second, 0);

  inputs = Build("the want", "hello world hello world", 7, Truncation::kOnlySecond);
  ASSERT_TRUE(inputs.ok()) << inputs.status();
  EXPECT_THAT(inputs->tokens,
              ElementsAre("[CLS]", "the", "want", "[SEP]", "hello", "world", "[SEP]"));
  EXPECT_EQ(inputs->offsets,
            (Offsets{{0, 0}, {0, 3}, {4, 8}, {0, 0}, {0, 5}, {6, 11}, {0, 0}}));
  EXPECT_EQ(inputs->num_truncated_first, 0);
  EXPECT_EQ(inputs->num_truncated_second, 2);
}

TEST_F(ModelInputsTest, ReportsImpossibleTruncation) {
  // The first sequence alone exceeds max_length, so cutting the second cannot help.
  EXPECT_EQ(Build("hello world hello world", "the want", 6, Truncation::kOnlySecond)
                .status()
                .message(),
            "cannot truncate to max_length=6 with truncation=only_second: 3 tokens must go "
            "but the second sequence has 2");
  EXPECT_EQ(Build("the want", "hello world hello", 6, Truncation::kOnlyFirst)
                .status()
                .message(),
            "cannot truncate to max_length=6 with truncation=only_first: 2 tokens must go "
            "but the first sequence has 2");
  EXPECT_EQ(Build("hello world", nullptr, 3, Truncation::kOnlySecond).status().message(),
            "cannot truncate to max_length=3 with truncation=only_second: there is no second "
            "sequence and 1 tokens must go");
  EXPECT_EQ(Build("hello", "world", 2, Truncation::kLongestFirst).status().message(),
            "cannot truncate to max_length=2: the special tokens alone need more (1 tokens "
            "too many even with both sequences removed)");
  EXPECT_EQ(Build("hello", nullptr, 2, Truncation::kLongestFirst).status().code(),
            absl::StatusCode::kInvalidArgument);
  // Fitting inputs need no truncation, whatever the strategy.
  EXPECT_TRUE(Build("hello world", nullptr, 4, Truncation::kOnlySecond).ok());
}

TEST_F(ModelInputsTest, DoNotTruncateMayExceedMaxLength) {
  absl::StatusOr<ModelInputs> inputs =
      Build("hello world hello world", "the want", 5, Truncation::kDoNotTruncate);
  ASSERT_TRUE(inputs.ok()) << inputs.status();
  EXPECT_EQ(inputs->input_ids.size(), 9u);
  EXPECT_EQ(inputs->num_truncated_first, 0);
}

TEST_F(ModelInputsTest, PadsToMaxLength) {
  ModelInputsOptions options;
  options.max_length = 6;
  options.pad_to_max_length = true;
  const Encoding first = tokenizer_->Encode("hello");
  const Encoding second = tokenizer_->Encode("world");
  absl::StatusOr<ModelInputs> inputs =
      BuildModelInputs(*tokenizer_, first, &second, options);
  ASSERT_TRUE(inputs.ok()) << inputs.status();
  EXPECT_THAT(inputs->tokens,
              ElementsAre("[CLS]", "hello", "[SEP]", "world", "[SEP]", "[PAD]"));
  EXPECT_THAT(inputs->input_ids, ElementsAre(2, 17, 3, 18, 3, 0));
  EXPECT_THAT(inputs->token_type_ids, ElementsAre(0, 0, 0, 1, 1, 0));
  EXPECT_THAT(inputs->attention_mask, ElementsAre(1, 1, 1, 1, 1, 0));
  EXPECT_EQ(inputs->offsets, (Offsets{{0, 0}, {0, 5}, {0, 0}, {0, 5}, {0, 0}, {0, 0}}));
  EXPECT_THAT(inputs->sequence_ids, ElementsAre(-1, 0, -1, 1, -1, -1));
}

TEST_F(ModelInputsTest, ConcatenatesWithoutSpecialTokens) {
  ModelInputsOptions options;
  options.add_special_tokens = false;
  const Encoding first = tokenizer_->Encode("hello world");
  const Encoding second = tokenizer_->Encode("the");
  absl::StatusOr<ModelInputs> inputs =
      BuildModelInputs(*tokenizer_, first, &second, options);
  ASSERT_TRUE(inputs.ok()) << inputs.status();
  EXPECT_THAT(inputs->tokens, ElementsAre("hello", "world", "the"));
  EXPECT_THAT(inputs->token_type_ids, ElementsAre(0, 0, 0));  // HF: 0 without specials.
  EXPECT_THAT(inputs->sequence_ids, ElementsAre(0, 0, 1));
}

TEST_F(ModelInputsTest, ParsesTruncationNames) {
  EXPECT_EQ(ParseTruncation("longest_first").value(), Truncation::kLongestFirst);
  EXPECT_EQ(ParseTruncation("only_first").value(), Truncation::kOnlyFirst);
  EXPECT_EQ(ParseTruncation("only_second").value(), Truncation::kOnlySecond);
  EXPECT_EQ(ParseTruncation("do_not_truncate").value(), Truncation::kDoNotTruncate);
  EXPECT_STREQ(TruncationName(Truncation::kOnlySecond), "only_second");
  EXPECT_EQ(ParseTruncation("longest").status().message(),
            "unknown truncation strategy \"longest\"; known: longest_first, only_first, "
            "only_second, do_not_truncate");
}

TEST_F(ModelInputsTest, RejectsInconsistentEncoding) {
  Encoding broken = tokenizer_->Encode("hello world");
  broken.offsets.pop_back();
  EXPECT_EQ(BuildModelInputs(*tokenizer_, broken, ModelInputsOptions()).status().code(),
            absl::StatusCode::kInvalidArgument);
  ModelInputsOptions options;
  options.max_length = 0;
  EXPECT_EQ(BuildModelInputs(*tokenizer_, tokenizer_->Encode("hello"), options)
                .status()
                .message(),
            "ModelInputsOptions.max_length must be positive, got 0");
}

}  // namespace
}  // namespace tokenizers
