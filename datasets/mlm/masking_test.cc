#include "datasets/mlm/masking.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "datasets/mlm/test_util.h"

namespace datasets::mlm {
namespace {

using ::datasets::mlm::testing::FakeTokenizer;
using ::testing::HasSubstr;

constexpr int64_t kCls = FakeTokenizer::kCls;
constexpr int64_t kSep = FakeTokenizer::kSep;
constexpr int64_t kPad = FakeTokenizer::kPad;
constexpr int64_t kMask = FakeTokenizer::kMask;
constexpr int64_t kUnk = FakeTokenizer::kUnk;

// 200 words "w<i>" (ids 5..204) and 100 continuations "##c<i>" (ids 205..304).
FakeTokenizer MakeTokenizer() {
  std::vector<std::string> words;
  for (int i = 0; i < 200; ++i) words.push_back("w" + std::to_string(i));
  for (int i = 0; i < 100; ++i) words.push_back("##c" + std::to_string(i));
  return FakeTokenizer(words);
}
constexpr int64_t kFirstWord = 5, kFirstContinuation = 205, kVocabSize = 305;

// [CLS] A [SEP] B [SEP] of `length` tokens, text drawn from the words and, with
// `with_pieces`, some continuation pieces (never right after a special token).
std::vector<int64_t> RandomPair(int64_t length, bool with_pieces, std::mt19937_64& rng) {
  std::vector<int64_t> ids(static_cast<size_t>(length));
  const int64_t sep_at = length / 2;
  for (int64_t i = 0; i < length; ++i) {
    if (i == 0) {
      ids[i] = kCls;
    } else if (i == sep_at || i == length - 1) {
      ids[i] = kSep;
    } else if (with_pieces && i != 1 && i != sep_at + 1 && rng() % 3 == 0) {
      ids[i] = kFirstContinuation + static_cast<int64_t>(rng() % 100);
    } else {
      ids[i] = kFirstWord + static_cast<int64_t>(rng() % 200);
    }
  }
  return ids;
}

TEST(MaskingTest, PredictsRoundedShareCappedByMaxPredictions) {
  const FakeTokenizer tokenizer = MakeTokenizer();
  absl::StatusOr<Masker> masker = Masker::Create(tokenizer, MaskingOptions());
  ASSERT_TRUE(masker.ok()) << masker.status();
  EXPECT_EQ(masker->NumToPredict(128), 19);  // round(19.2)
  EXPECT_EQ(masker->NumToPredict(512), 20);  // Capped.
  EXPECT_EQ(masker->NumToPredict(5), 1);     // round(0.75)
  EXPECT_EQ(masker->NumToPredict(3), 1);     // max(1, round(0.45))
  EXPECT_EQ(masker->NumToPredict(30), 5);    // round(4.5), half away from zero.

  std::mt19937_64 rng(7);
  for (int trial = 0; trial < 50; ++trial) {
    std::vector<int64_t> ids = RandomPair(128, false, rng);
    const std::vector<int64_t> labels = masker->Mask(&ids, rng);
    EXPECT_EQ(128 - std::count(labels.begin(), labels.end(), kIgnoreIndex), 19);
  }
  MaskingOptions capped;
  capped.max_predictions_per_seq = 5;
  absl::StatusOr<Masker> capped_masker = Masker::Create(tokenizer, capped);
  ASSERT_TRUE(capped_masker.ok());
  std::vector<int64_t> ids = RandomPair(128, false, rng);
  const std::vector<int64_t> labels = capped_masker->Mask(&ids, rng);
  EXPECT_EQ(128 - std::count(labels.begin(), labels.end(), kIgnoreIndex), 5);
}

TEST(MaskingTest, StatisticsMatchBertRecipe) {
  const FakeTokenizer tokenizer = MakeTokenizer();
  absl::StatusOr<Masker> masker = Masker::Create(tokenizer, MaskingOptions());
  ASSERT_TRUE(masker.ok()) << masker.status();
  std::mt19937_64 rng(2024);
  int64_t positions = 0, masked = 0, to_mask_token = 0, unchanged = 0, random = 0;
  std::map<int64_t, int64_t> random_tokens_seen;  // id -> draws
  for (int trial = 0; trial < 3000; ++trial) {
    // Lengths 32..128: the per-sequence rounding averages out over many lengths.
    const int64_t length = 32 + static_cast<int64_t>(rng() % 97);
    const std::vector<int64_t> original = RandomPair(length, false, rng);
    std::vector<int64_t> ids = original;
    const std::vector<int64_t> labels = masker->Mask(&ids, rng);
    ASSERT_EQ(labels.size(), ids.size());
    positions += length;
    for (size_t i = 0; i < ids.size(); ++i) {
      if (labels[i] == kIgnoreIndex) {
        // Unpredicted positions are untouched.
        ASSERT_EQ(ids[i], original[i]) << "position " << i;
        continue;
      }
      ++masked;
      // Labels are the original ids, exactly; specials are never chosen.
      ASSERT_EQ(labels[i], original[i]);
      ASSERT_NE(original[i], kCls);
      ASSERT_NE(original[i], kSep);
      if (ids[i] == kMask) {
        ++to_mask_token;
      } else if (ids[i] == original[i]) {
        ++unchanged;
      } else {
        ++random;
        // Random replacements are ordinary tokens only.
        ASSERT_GE(ids[i], kFirstWord);
        ASSERT_LT(ids[i], kVocabSize);
        ++random_tokens_seen[ids[i]];
      }
    }
  }
  const double masked_share = static_cast<double>(masked) / static_cast<double>(positions);
  EXPECT_NEAR(masked_share, 0.15, 0.01);
  const auto share = [&](int64_t count) {
    return static_cast<double>(count) / static_cast<double>(masked);
  };
  EXPECT_NEAR(share(to_mask_token), 0.8, 0.02);
  // A random draw equal to the original (1 in 300) counts as unchanged.
  EXPECT_NEAR(share(unchanged), 0.1, 0.02);
  EXPECT_NEAR(share(random), 0.1, 0.02);
  // ~3600 uniform draws over the 300 ordinary ids (about 12 each) reach every one of them,
  // the last id and the continuations included, and favour none.
  EXPECT_EQ(random_tokens_seen.size(), 300u);
  for (const auto& [id, count] : random_tokens_seen) {
    EXPECT_LE(count, 36) << "id " << id;
  }
}

TEST(MaskingTest, NeverMasksSpecialTokens) {
  const FakeTokenizer tokenizer = MakeTokenizer();
  MaskingOptions options;
  options.masked_lm_prob = 1.0;  // Ask for every position.
  options.max_predictions_per_seq = 1000;
  absl::StatusOr<Masker> masker = Masker::Create(tokenizer, options);
  ASSERT_TRUE(masker.ok()) << masker.status();
  std::mt19937_64 rng(3);
  // [CLS] w [SEP] [MASK] w [UNK] [SEP] [PAD] [PAD]: [UNK] is text the reference may mask.
  std::vector<int64_t> ids = {kCls, 10, kSep, kMask, 11, kUnk, kSep, kPad, kPad};
  const std::vector<int64_t> labels = masker->Mask(&ids, rng);
  EXPECT_EQ(labels, (std::vector<int64_t>{kIgnoreIndex, 10, kIgnoreIndex, kIgnoreIndex, 11, kUnk,
                                          kIgnoreIndex, kIgnoreIndex, kIgnoreIndex}));
  EXPECT_EQ(ids[0], kCls);
  EXPECT_EQ(ids[2], kSep);
  EXPECT_EQ(ids[6], kSep);
  EXPECT_EQ(ids[7], kPad);
  EXPECT_EQ(ids[8], kPad);
}

TEST(MaskingTest, WholeWordMaskingSelectsWholeWordsOnly) {
  const FakeTokenizer tokenizer = MakeTokenizer();
  MaskingOptions options;
  options.do_whole_word_mask = true;
  absl::StatusOr<Masker> masker = Masker::Create(tokenizer, options);
  ASSERT_TRUE(masker.ok()) << masker.status();
  std::mt19937_64 rng(11);
  int64_t multi_piece_words_masked = 0, masked = 0, positions = 0;
  for (int trial = 0; trial < 1000; ++trial) {
    const std::vector<int64_t> original = RandomPair(128, true, rng);
    std::vector<int64_t> ids = original;
    const std::vector<int64_t> labels = masker->Mask(&ids, rng);
    positions += 128;
    masked += 128 - std::count(labels.begin(), labels.end(), kIgnoreIndex);
    // Walk the words: a word starts at a non-continuation token.
    for (size_t begin = 1; begin < original.size();) {
      size_t end = begin + 1;
      while (end < original.size() && original[end] >= kFirstContinuation) ++end;
      const bool first_masked = labels[begin] != kIgnoreIndex;
      for (size_t i = begin; i < end; ++i) {
        ASSERT_EQ(labels[i] != kIgnoreIndex, first_masked)
            << "trial " << trial << ": word [" << begin << ", " << end << ") partly masked";
      }
      if (first_masked && end - begin > 1) ++multi_piece_words_masked;
      begin = end;
    }
    ASSERT_LE(128 - std::count(labels.begin(), labels.end(), kIgnoreIndex), 19);
  }
  // Not vacuous: multi-piece words do get masked, and the budget is nearly used.
  EXPECT_GT(multi_piece_words_masked, 2000);
  EXPECT_NEAR(static_cast<double>(masked) / static_cast<double>(positions), 0.148, 0.005);
}

TEST(MaskingTest, WithoutWholeWordsPiecesAreChosenAlone) {
  const FakeTokenizer tokenizer = MakeTokenizer();
  absl::StatusOr<Masker> masker = Masker::Create(tokenizer, MaskingOptions());
  ASSERT_TRUE(masker.ok());
  std::mt19937_64 rng(5);
  int64_t partial_words = 0;
  for (int trial = 0; trial < 200; ++trial) {
    const std::vector<int64_t> original = RandomPair(128, true, rng);
    std::vector<int64_t> ids = original;
    const std::vector<int64_t> labels = masker->Mask(&ids, rng);
    for (size_t i = 2; i < original.size(); ++i) {
      if (original[i] >= kFirstContinuation &&
          (labels[i] != kIgnoreIndex) != (labels[i - 1] != kIgnoreIndex)) {
        ++partial_words;
      }
    }
  }
  // The whole-word test above would fail on this masker's output.
  EXPECT_GT(partial_words, 100);
}

TEST(MaskingTest, SameSeedSameMasksDifferentSeedDifferentMasks) {
  const FakeTokenizer tokenizer = MakeTokenizer();
  absl::StatusOr<Masker> masker = Masker::Create(tokenizer, MaskingOptions());
  ASSERT_TRUE(masker.ok());
  std::mt19937_64 data_rng(1);
  const std::vector<int64_t> original = RandomPair(128, false, data_rng);
  auto mask_with = [&](uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::vector<int64_t> ids = original;
    std::vector<int64_t> labels = masker->Mask(&ids, rng);
    ids.insert(ids.end(), labels.begin(), labels.end());
    return ids;
  };
  EXPECT_EQ(mask_with(42), mask_with(42));
  EXPECT_NE(mask_with(42), mask_with(43));
}

TEST(MaskingTest, RejectsInvalidOptionsAndVocabularies) {
  const FakeTokenizer tokenizer = MakeTokenizer();
  MaskingOptions options;
  options.masked_lm_prob = 1.5;
  absl::Status status = Masker::Create(tokenizer, options).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "MaskingOptions.masked_lm_prob must be in (0, 1], got 1.5");
  options = MaskingOptions();
  options.max_predictions_per_seq = 0;
  EXPECT_THAT(Masker::Create(tokenizer, options).status().message(),
              HasSubstr("max_predictions_per_seq must be >= 1, got 0"));
  const FakeTokenizer specials_only({});
  EXPECT_THAT(Masker::Create(specials_only, MaskingOptions()).status().message(),
              HasSubstr("no ordinary token"));
}

}  // namespace
}  // namespace datasets::mlm
