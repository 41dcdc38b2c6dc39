#include "datasets/mlm/instance_builder.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "datasets/mlm/document_reader.h"
#include "datasets/mlm/test_util.h"

namespace datasets::mlm {
namespace {

using ::datasets::mlm::testing::FakeTokenizer;
using ::datasets::mlm::testing::MakeCorpus;
using ::datasets::mlm::testing::SyntheticCorpus;
using ::datasets::mlm::testing::WriteTestFile;

constexpr int64_t kCls = FakeTokenizer::kCls;
constexpr int64_t kSep = FakeTokenizer::kSep;

std::vector<std::vector<int>> Uniform(int documents, int sentences, int tokens) {
  return std::vector<std::vector<int>>(documents, std::vector<int>(sentences, tokens));
}

// Sentence lengths 1..max_tokens, some documents of a single sentence.
std::vector<std::vector<int>> Ragged(int documents, int max_tokens, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::vector<int>> lengths(documents);
  for (auto& document : lengths) {
    const int sentences = rng() % 4 == 0 ? 1 : 1 + static_cast<int>(rng() % 12);
    for (int s = 0; s < sentences; ++s) {
      document.push_back(1 + static_cast<int>(rng() % max_tokens));
    }
  }
  return lengths;
}

// The corpus file, its tokenizer and a builder over it.
struct Fixture {
  SyntheticCorpus corpus;
  std::unique_ptr<FakeTokenizer> tokenizer;
  std::unique_ptr<InstanceBuilder> builder;
};

Fixture Build(const std::string& name, const std::vector<std::vector<int>>& lengths,
              const InstanceOptions& options) {
  Fixture fixture;
  fixture.corpus = MakeCorpus(lengths);
  fixture.tokenizer = std::make_unique<FakeTokenizer>(fixture.corpus.vocab_words);
  const std::string path = WriteTestFile(name, fixture.corpus.text);
  auto reader = DocumentReader::Create({path}, fixture.tokenizer.get());
  EXPECT_TRUE(reader.ok()) << reader.status();
  auto builder = InstanceBuilder::Create(*std::move(reader), options);
  EXPECT_TRUE(builder.ok()) << builder.status();
  fixture.builder = *std::move(builder);
  return fixture;
}

std::vector<TrainingInstance> Pass(InstanceBuilder& builder, uint64_t seed) {
  builder.Restart(seed);
  std::vector<TrainingInstance> instances;
  TrainingInstance instance;
  while (true) {
    absl::StatusOr<bool> more = builder.Next(&instance);
    EXPECT_TRUE(more.ok()) << more.status();
    if (!more.ok() || !*more) break;
    instances.push_back(instance);
  }
  return instances;
}

// A and B of an NSP instance, checking the [CLS] A [SEP] B [SEP] frame and that
// token_type_ids are exactly 0 through the first [SEP] and 1 after it.
void SplitPair(const TrainingInstance& instance, std::vector<int64_t>* a, std::vector<int64_t>* b) {
  const auto& ids = instance.input_ids;
  ASSERT_GE(ids.size(), 5u);
  ASSERT_EQ(ids.front(), kCls);
  ASSERT_EQ(ids.back(), kSep);
  ASSERT_EQ(std::count(ids.begin(), ids.end(), kSep), 2);
  ASSERT_EQ(std::count(ids.begin(), ids.end(), kCls), 1);
  const size_t first_sep = std::find(ids.begin(), ids.end(), kSep) - ids.begin();
  a->assign(ids.begin() + 1, ids.begin() + first_sep);
  b->assign(ids.begin() + first_sep + 1, ids.end() - 1);
  ASSERT_FALSE(a->empty());
  ASSERT_FALSE(b->empty());
  std::vector<int64_t> expected_types(ids.size(), 1);
  std::fill(expected_types.begin(), expected_types.begin() + first_sep + 1, 0);
  ASSERT_EQ(instance.token_type_ids, expected_types);
}

// Token indices of `ids`; checks they are consecutive in the corpus.
std::vector<int64_t> ContiguousRun(const SyntheticCorpus& corpus, const std::vector<int64_t>& ids) {
  std::vector<int64_t> run;
  for (const int64_t id : ids) run.push_back(corpus.TokenIndex(id));
  for (size_t i = 1; i < run.size(); ++i) EXPECT_EQ(run[i], run[i - 1] + 1);
  return run;
}

bool EndsSentence(const SyntheticCorpus& corpus, int64_t k) {
  return k + 1 == corpus.num_tokens || corpus.starts_sentence[k + 1];
}

TEST(InstanceBuilderTest, TruncateSeqPairCutsTheLongerAtEitherEnd) {
  int front_cuts = 0, back_cuts = 0;
  for (uint64_t seed = 0; seed < 50; ++seed) {
    std::mt19937_64 rng(seed);
    std::vector<int64_t> a(10), b = {100, 101, 102, 103};
    std::iota(a.begin(), a.end(), 0);
    TruncateSeqPair(&a, &b, 8, rng);
    // A shrinks to B's length: the total is 8 and B, the shorter, is untouched.
    ASSERT_EQ(a.size(), 4u);
    EXPECT_EQ(b, (std::vector<int64_t>{100, 101, 102, 103}));
    for (size_t i = 1; i < a.size(); ++i) ASSERT_EQ(a[i], a[i - 1] + 1);
    front_cuts += static_cast<int>(a.front());
    back_cuts += static_cast<int>(9 - a.back());
  }
  // 6 cuts per seed, each end with probability 1/2: 150 each on average.
  EXPECT_NEAR(front_cuts, 150, 40);
  EXPECT_NEAR(back_cuts, 150, 40);

  // Ties cut B; a fitting pair is left alone.
  std::mt19937_64 rng(1);
  std::vector<int64_t> a = {1, 2, 3}, b = {4, 5, 6};
  TruncateSeqPair(&a, &b, 5, rng);
  EXPECT_EQ(a.size(), 3u);
  EXPECT_EQ(b.size(), 2u);
  TruncateSeqPair(&a, &b, 5, rng);
  EXPECT_EQ(a, (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(b.size(), 2u);
}

TEST(InstanceBuilderTest, NspPairsAreActualNextOrAnotherDocument) {
  // 4-token sentences and 16-token targets: chunks close exactly at the target, so nothing
  // is truncated and every segment is whole sentences.
  InstanceOptions options;
  options.max_seq_length = 19;
  options.short_seq_prob = 0.0;
  Fixture fixture = Build("nsp_pairs.txt", Uniform(100, 40, 4), options);
  const SyntheticCorpus& corpus = fixture.corpus;
  const std::vector<TrainingInstance> instances = Pass(*fixture.builder, 99);
  int64_t random_next = 0;
  for (const TrainingInstance& instance : instances) {
    std::vector<int64_t> a, b;
    ASSERT_NO_FATAL_FAILURE(SplitPair(instance, &a, &b));
    ASSERT_LE(instance.input_ids.size(), 19u);
    const std::vector<int64_t> run_a = ContiguousRun(corpus, a);
    const std::vector<int64_t> run_b = ContiguousRun(corpus, b);
    const int64_t document = corpus.document_of_token[run_a.front()];
    EXPECT_EQ(corpus.document_of_token[run_a.back()], document);
    EXPECT_TRUE(corpus.starts_sentence[run_a.front()]);
    EXPECT_TRUE(EndsSentence(corpus, run_a.back()));
    EXPECT_TRUE(corpus.starts_sentence[run_b.front()]);
    EXPECT_EQ(corpus.document_of_token[run_b.back()], corpus.document_of_token[run_b.front()]);
    if (instance.next_sentence_label == 0) {
      // B is the text right after A.
      EXPECT_EQ(run_b.front(), run_a.back() + 1);
      EXPECT_EQ(corpus.document_of_token[run_b.front()], document);
      EXPECT_TRUE(EndsSentence(corpus, run_b.back()));
    } else {
      ASSERT_EQ(instance.next_sentence_label, 1);
      ++random_next;
      EXPECT_NE(corpus.document_of_token[run_b.front()], document);
    }
  }
  ASSERT_GT(instances.size(), 1000u);
  // 0.5, plus the few one-sentence chunks at document ends that must take random text.
  const double share = static_cast<double>(random_next) / static_cast<double>(instances.size());
  EXPECT_GT(share, 0.47);
  EXPECT_LT(share, 0.55);
}

TEST(InstanceBuilderTest, TinyBufferUsesEverySentenceOnceAsAOrActualNext) {
  InstanceOptions options;
  options.max_seq_length = 19;
  options.short_seq_prob = 0.0;
  options.nsp_document_buffer_size = 2;
  Fixture fixture = Build("nsp_tiny_buffer.txt", Uniform(30, 25, 4), options);
  const SyntheticCorpus& corpus = fixture.corpus;
  std::vector<int> uses(corpus.num_tokens, 0);
  for (const TrainingInstance& instance : Pass(*fixture.builder, 5)) {
    std::vector<int64_t> a, b;
    ASSERT_NO_FATAL_FAILURE(SplitPair(instance, &a, &b));
    for (const int64_t id : a) ++uses[corpus.TokenIndex(id)];
    const int64_t document = corpus.document_of_token[corpus.TokenIndex(a.front())];
    const int64_t b_document = corpus.document_of_token[corpus.TokenIndex(b.front())];
    if (instance.next_sentence_label == 0) {
      for (const int64_t id : b) ++uses[corpus.TokenIndex(id)];
    } else {
      // A window of two holds the current document and the next (the previous one for
      // the last document).
      EXPECT_EQ(b_document, document == 29 ? 28 : document + 1);
    }
  }
  // Unused sentences of random-next chunks were put back, none lost or repeated.
  for (int64_t k = 0; k < corpus.num_tokens; ++k) ASSERT_EQ(uses[k], 1) << "token " << k;
}

TEST(InstanceBuilderTest, NeverExceedsMaxSeqLength) {
  for (const bool nsp : {true, false}) {
    InstanceOptions options;
    options.max_seq_length = 24;
    options.short_seq_prob = 0.3;
    options.next_sentence_prediction = nsp;
    options.nsp_document_buffer_size = 3;
    Fixture fixture = Build(nsp ? "long_nsp.txt" : "long_packed.txt", Ragged(60, 40, 17), options);
    const std::vector<TrainingInstance> instances = Pass(*fixture.builder, 3);
    ASSERT_GT(instances.size(), 50u);
    size_t longest = 0;
    for (const TrainingInstance& instance : instances) {
      ASSERT_LE(instance.input_ids.size(), 24u);
      ASSERT_EQ(instance.token_type_ids.size(), instance.input_ids.size());
      longest = std::max(longest, instance.input_ids.size());
      if (nsp) {
        std::vector<int64_t> a, b;
        ASSERT_NO_FATAL_FAILURE(SplitPair(instance, &a, &b));
      }
    }
    EXPECT_EQ(longest, 24u);
  }
}

TEST(InstanceBuilderTest, PackingKeepsEveryTokenOnceInOrder) {
  InstanceOptions options;
  options.max_seq_length = 24;
  options.next_sentence_prediction = false;
  // Sentences up to 40 tokens: longer than a 22-token segment, so some are split.
  Fixture fixture = Build("packed_order.txt", Ragged(80, 40, 23), options);
  const SyntheticCorpus& corpus = fixture.corpus;
  std::vector<int64_t> stream;  // Token indices, -1 for a separator between documents.
  for (const TrainingInstance& instance : Pass(*fixture.builder, 0)) {
    const auto& ids = instance.input_ids;
    ASSERT_GE(ids.size(), 3u);
    ASSERT_LE(ids.size(), 24u);
    ASSERT_EQ(ids.front(), kCls);
    ASSERT_EQ(ids.back(), kSep);
    ASSERT_NE(ids[1], kSep);
    ASSERT_NE(ids[ids.size() - 2], kSep);
    ASSERT_EQ(instance.token_type_ids, std::vector<int64_t>(ids.size(), 0));
    for (size_t i = 1; i + 1 < ids.size(); ++i) {
      stream.push_back(ids[i] == kSep ? -1 : corpus.TokenIndex(ids[i]));
    }
  }
  int64_t expected = 0;
  for (size_t i = 0; i < stream.size(); ++i) {
    if (stream[i] == -1) {
      // Only between documents, and only inside a segment.
      ASSERT_GT(i, 0u);
      EXPECT_NE(corpus.document_of_token[stream[i - 1]], corpus.document_of_token[expected]);
      continue;
    }
    ASSERT_EQ(stream[i], expected);
    ++expected;
  }
  EXPECT_EQ(expected, corpus.num_tokens);
}

TEST(InstanceBuilderTest, ShortSeqProbShortensTargets) {
  auto mean_length = [](double short_seq_prob) {
    InstanceOptions options;
    options.max_seq_length = 35;
    options.short_seq_prob = short_seq_prob;
    Fixture fixture = Build("short_seq.txt", Uniform(40, 160, 2), options);
    const std::vector<TrainingInstance> instances = Pass(*fixture.builder, 8);
    double total = 0;
    for (const TrainingInstance& instance : instances) total += instance.input_ids.size();
    return total / static_cast<double>(instances.size());
  };
  // Full targets: nearly every instance is 35 long (document ends excepted). Always short:
  // targets uniform in [2, 32] average ~17 text tokens.
  // (The instance-weighted mean is lower still: documents with short targets yield more.)
  EXPECT_GT(mean_length(0.0), 33.0);
  EXPECT_LT(mean_length(1.0), 24.0);
}

TEST(InstanceBuilderTest, SameSeedRepeatsDifferentSeedDiffers) {
  InstanceOptions options;
  options.max_seq_length = 32;
  Fixture fixture = Build("seeded.txt", Ragged(40, 12, 9), options);
  auto flatten = [](const std::vector<TrainingInstance>& instances) {
    std::vector<int64_t> values;
    for (const TrainingInstance& instance : instances) {
      values.insert(values.end(), instance.input_ids.begin(), instance.input_ids.end());
      values.push_back(instance.next_sentence_label);
    }
    return values;
  };
  const std::vector<int64_t> first = flatten(Pass(*fixture.builder, 1));
  EXPECT_EQ(flatten(Pass(*fixture.builder, 1)), first);
  EXPECT_NE(flatten(Pass(*fixture.builder, 2)), first);
}

TEST(InstanceBuilderTest, SingleDocumentCorpusDrawsRandomTextFromItself) {
  InstanceOptions options;
  options.max_seq_length = 11;
  options.short_seq_prob = 0.0;
  Fixture fixture = Build("single_doc.txt", Uniform(1, 20, 4), options);
  const std::vector<TrainingInstance> instances = Pass(*fixture.builder, 4);
  ASSERT_GT(instances.size(), 5u);
  for (const TrainingInstance& instance : instances) {
    std::vector<int64_t> a, b;
    ASSERT_NO_FATAL_FAILURE(SplitPair(instance, &a, &b));
  }
}

TEST(InstanceBuilderTest, RejectsInvalidOptions) {
  InstanceOptions options;
  options.max_seq_length = 4;
  EXPECT_EQ(ValidateInstanceOptions(options).message(),
            "InstanceOptions.max_seq_length must be >= 5 with next_sentence_prediction, got 4");
  options.next_sentence_prediction = false;
  EXPECT_TRUE(ValidateInstanceOptions(options).ok());
  options = InstanceOptions();
  options.short_seq_prob = -0.1;
  EXPECT_EQ(ValidateInstanceOptions(options).message(),
            "InstanceOptions.short_seq_prob must be in [0, 1], got -0.1");
  options = InstanceOptions();
  options.nsp_document_buffer_size = 1;
  EXPECT_EQ(ValidateInstanceOptions(options).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace datasets::mlm
