// Reproducible randomness for the converters: train/dev splits and shuffles that give the
// same bytes on every machine for the same seed. std::shuffle and the std distributions are
// implementation-defined, so only std::mt19937_64's raw output (fixed by the standard) is
// used, reduced by modulo (its bias is below 2^-40 for our sizes).
#ifndef DATASETS_CORPORA_SPLITS_H_
#define DATASETS_CORPORA_SPLITS_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"

namespace datasets {
namespace corpora {

// 64-bit FNV-1a of `text`: a stable per-document salt for seeds.
uint64_t StableHash(absl::string_view text);

// A generator for one named stream (e.g. one document), independent of processing order.
std::mt19937_64 SeededRng(uint64_t seed, absl::string_view stream);

// Uniform index in [0, n); n must be positive.
size_t UniformIndex(std::mt19937_64& rng, size_t n);

// Fisher-Yates shuffle on UniformIndex.
template <typename T>
void DeterministicShuffle(std::vector<T>& items, std::mt19937_64& rng) {
  for (size_t i = items.size(); i > 1; --i) {
    std::swap(items[i - 1], items[UniformIndex(rng, i)]);
  }
}

// Chooses the dev documents: within each stratum (e.g. a Brown genre), the keys are sorted,
// shuffled with SeededRng(seed, salt + stratum) and the first round(fraction * n) go to dev;
// at least one when the stratum has two or more keys and fraction > 0, never all of them.
// `strata` maps stratum name -> keys (a key must appear in only one stratum).
std::set<std::string> ChooseDevKeys(const std::map<std::string, std::vector<std::string>>& strata,
                                    double fraction, uint64_t seed, absl::string_view salt);

}  // namespace corpora
}  // namespace datasets

#endif  // DATASETS_CORPORA_SPLITS_H_
