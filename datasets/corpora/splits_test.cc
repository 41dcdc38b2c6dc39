#include "datasets/corpora/splits.h"

#include <algorithm>
#include <map>
#include <numeric>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace datasets {
namespace corpora {
namespace {

TEST(SplitsTest, StableHashIsFnv1a) {
  EXPECT_EQ(StableHash(""), 14695981039346656037ULL);
  EXPECT_EQ(StableHash("a"), 0xaf63dc4c8601ec8cULL);
}

TEST(SplitsTest, ShuffleIsAReproduciblePermutation) {
  std::vector<int> a(50);
  std::iota(a.begin(), a.end(), 0);
  std::vector<int> b = a;
  std::mt19937_64 rng_a = SeededRng(7, "stream");
  std::mt19937_64 rng_b = SeededRng(7, "stream");
  DeterministicShuffle(a, rng_a);
  DeterministicShuffle(b, rng_b);
  EXPECT_EQ(a, b);
  std::vector<int> sorted = a;
  std::sort(sorted.begin(), sorted.end());
  std::vector<int> expected(50);
  std::iota(expected.begin(), expected.end(), 0);
  EXPECT_EQ(sorted, expected);
  EXPECT_NE(a, expected);
}

TEST(SplitsTest, SeededRngDependsOnSeedAndStream) {
  EXPECT_EQ(SeededRng(1, "x")(), SeededRng(1, "x")());
  EXPECT_NE(SeededRng(1, "x")(), SeededRng(2, "x")());
  EXPECT_NE(SeededRng(1, "x")(), SeededRng(1, "y")());
}

TEST(SplitsTest, ChooseDevKeysTakesAFractionOfEachStratum) {
  std::map<std::string, std::vector<std::string>> strata;
  for (int i = 0; i < 40; ++i) strata["big"].push_back("b" + std::to_string(i));
  strata["pair"] = {"p1", "p2"};
  strata["single"] = {"s1"};
  const std::set<std::string> dev = ChooseDevKeys(strata, 0.1, 42, "test");
  size_t big = 0;
  size_t pair = 0;
  for (const std::string& key : dev) {
    big += key[0] == 'b';
    pair += key[0] == 'p';
  }
  EXPECT_EQ(big, 4u);
  EXPECT_EQ(pair, 1u);  // At least one, never all.
  EXPECT_EQ(dev.count("s1"), 0u);
  // Independent of the keys' input order.
  std::reverse(strata["big"].begin(), strata["big"].end());
  EXPECT_EQ(ChooseDevKeys(strata, 0.1, 42, "test"), dev);
  EXPECT_TRUE(ChooseDevKeys(strata, 0.0, 42, "test").empty());
}

}  // namespace
}  // namespace corpora
}  // namespace datasets
