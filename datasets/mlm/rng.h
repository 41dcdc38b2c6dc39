// Random draws for the MLM pipeline that depend only on the 64-bit engine's output, so a
// (seed, epoch) pair yields the same instances and masks with any standard library
// (std::uniform_*_distribution and std::shuffle are implementation-defined).
//
//   std::mt19937_64 rng(DeriveSeed(seed, epoch, pass, kMaskStream));
//   if (UniformDouble(rng) < 0.8) ...;
//   const uint64_t index = UniformInt(rng, n);
#ifndef DATASETS_MLM_RNG_H_
#define DATASETS_MLM_RNG_H_

#include <cstdint>
#include <random>
#include <utility>
#include <vector>

namespace datasets::mlm {

// SplitMix64's finalizer: consecutive inputs give unrelated outputs, so seeds that
// differ by one (epoch 0, epoch 1) start unrelated engine states.
inline uint64_t MixBits(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

// One seed per (user seed, epoch, pass, purpose).
inline uint64_t DeriveSeed(uint64_t seed, uint64_t epoch, uint64_t pass, uint64_t purpose) {
  return MixBits(MixBits(MixBits(MixBits(seed) ^ epoch) ^ pass) ^ purpose);
}

// Uniform in [0, 1) with 53 random bits.
inline double UniformDouble(std::mt19937_64& rng) {
  return static_cast<double>(rng() >> 11) * 0x1.0p-53;
}

// Uniform in [0, n), n > 0, without modulo bias.
inline uint64_t UniformInt(std::mt19937_64& rng, uint64_t n) {
  // 2^64 mod n: values below it belong to an incomplete last block of n.
  const uint64_t threshold = (0 - n) % n;
  while (true) {
    const uint64_t x = rng();
    if (x >= threshold) return x % n;
  }
}

// Uniform in [low, high], low <= high (Python's random.randint).
inline int64_t RandInt(std::mt19937_64& rng, int64_t low, int64_t high) {
  return low + static_cast<int64_t>(UniformInt(rng, static_cast<uint64_t>(high - low) + 1));
}

// Fisher-Yates.
template <typename T>
void Shuffle(std::vector<T>& values, std::mt19937_64& rng) {
  for (size_t i = values.size(); i > 1; --i) {
    std::swap(values[i - 1], values[UniformInt(rng, i)]);
  }
}

}  // namespace datasets::mlm

#endif  // DATASETS_MLM_RNG_H_
