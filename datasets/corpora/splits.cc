#include "datasets/corpora/splits.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace datasets {
namespace corpora {

uint64_t StableHash(absl::string_view text) {
  uint64_t hash = 14695981039346656037ULL;
  for (char c : text) {
    hash ^= static_cast<uint8_t>(c);
    hash *= 1099511628211ULL;
  }
  return hash;
}

std::mt19937_64 SeededRng(uint64_t seed, absl::string_view stream) {
  // Mixing through the hash (not a plain XOR) keeps seeds 1 and 2 from giving related streams.
  return std::mt19937_64(StableHash(absl::StrCat(seed, ":", stream)));
}

size_t UniformIndex(std::mt19937_64& rng, size_t n) {
  return static_cast<size_t>(rng() % static_cast<uint64_t>(n));
}

std::set<std::string> ChooseDevKeys(const std::map<std::string, std::vector<std::string>>& strata,
                                    double fraction, uint64_t seed, absl::string_view salt) {
  std::set<std::string> dev;
  for (const auto& [stratum, unsorted_keys] : strata) {
    std::vector<std::string> keys = unsorted_keys;
    std::sort(keys.begin(), keys.end());
    const size_t n = keys.size();
    size_t take = static_cast<size_t>(std::llround(fraction * static_cast<double>(n)));
    if (fraction > 0.0 && n >= 2) take = std::max<size_t>(take, 1);
    if (take >= n) take = n >= 2 ? n - 1 : 0;
    std::mt19937_64 rng = SeededRng(seed, absl::StrCat(salt, "/", stratum));
    DeterministicShuffle(keys, rng);
    dev.insert(keys.begin(), keys.begin() + static_cast<std::ptrdiff_t>(take));
  }
  return dev;
}

}  // namespace corpora
}  // namespace datasets
