#include "kernels/sparse_linear.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define KERNELS_SPARSE_X86 1
#endif

#include <algorithm>
#include <cmath>
#include <cstring>
#include <sstream>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace kernels {
namespace {

// Tokens per activation tile: the transposed activations are [tiles][units][kTile].
constexpr int64_t kTile = 128;
// Output rows per work item (a multiple of every rows-per-group).
constexpr int64_t kBlockRows = 16;

std::string ShapeString(at::IntArrayRef sizes) {
  std::ostringstream os;
  os << sizes;
  return os.str();
}

std::string DtypeString(const at::Tensor& t) { return std::string(c10::toString(t.scalar_type())); }

// Weights of one layer grouped by R consecutive output rows. A "unit" is one input feature
// (fp32) or one quad of 4 consecutive input features (INT8, T = int32_t holding 4 int8).
// Group g stores, for every unit where any of its R rows is nonzero, the unit index and the
// R row values (zero padded).
template <typename T>
struct Packed {
  int r = 1;
  int64_t rows = 0;    // Output features.
  int64_t units = 0;   // Input features (fp32) or quads (INT8).
  int64_t groups = 0;  // ceil(rows / r).
  int index_per_entry = 1;         // 4 for gathered INT8 quads (4 input features each).
  std::vector<int64_t> group_ptr;  // groups + 1 entry offsets.
  std::vector<int32_t> index;      // Unit index (or gathered input features) per entry.
  std::vector<T> values;           // [entries][r].

  int64_t Bytes() const {
    return static_cast<int64_t>(values.size() * sizeof(T) + index.size() * sizeof(int32_t) +
                                group_ptr.size() * sizeof(int64_t));
  }
};

// Stored entries when grouping `r` rows of the dense [rows][units] matrix.
template <typename T>
int64_t CountEntries(const T* dense, int64_t rows, int64_t units, int r) {
  int64_t entries = 0;
  for (int64_t g0 = 0; g0 < rows; g0 += r) {
    const int64_t g1 = std::min(rows, g0 + r);
    for (int64_t u = 0; u < units; ++u) {
      for (int64_t n = g0; n < g1; ++n) {
        if (dense[n * units + u] != T(0)) {
          ++entries;
          break;
        }
      }
    }
  }
  return entries;
}

// Grouping 4 rows multiplies the FMAs by 4 per stored entry but loads each activation vector
// once for 4 rows; it pays when padding adds little (4x1 blocks: none).
template <typename T>
int ChooseRowsPerGroup(const T* dense, int64_t rows, int64_t units, int requested) {
  if (requested == 1 || requested == 4) return requested;
  const int64_t e1 = CountEntries(dense, rows, units, 1);
  const int64_t e4 = CountEntries(dense, rows, units, 4);
  return e1 > 0 && 4 * e4 <= e1 + e1 / 5 ? 4 : 1;
}

template <typename T>
Packed<T> Pack(const T* dense, int64_t rows, int64_t units, int r) {
  Packed<T> p;
  p.r = r;
  p.rows = rows;
  p.units = units;
  p.groups = (rows + r - 1) / r;
  p.group_ptr.reserve(p.groups + 1);
  p.group_ptr.push_back(0);
  for (int64_t g = 0; g < p.groups; ++g) {
    const int64_t g0 = g * r, g1 = std::min(rows, g0 + r);
    for (int64_t u = 0; u < units; ++u) {
      bool any = false;
      for (int64_t n = g0; n < g1; ++n) any = any || dense[n * units + u] != T(0);
      if (!any) continue;
      p.index.push_back(static_cast<int32_t>(u));
      for (int64_t n = g0; n < g0 + r; ++n) p.values.push_back(n < g1 ? dense[n * units + u] : T(0));
    }
    p.group_ptr.push_back(static_cast<int64_t>(p.index.size()));
  }
  return p;
}

// Gathered INT8 layout for groups of 4 rows of the int8 weight [rows][in]: each group's
// input features where any of its rows is nonzero, 4 per entry (the last entry padded by
// repeating a feature with zero weights), and per entry 4 rows x 4 int8 weights.
Packed<int32_t> PackGathered(const int8_t* w, int64_t rows, int64_t in) {
  constexpr int r = 4;
  Packed<int32_t> p;
  p.r = r;
  p.rows = rows;
  p.units = (in + 3) / 4;
  p.groups = (rows + r - 1) / r;
  p.index_per_entry = 4;
  p.group_ptr.reserve(p.groups + 1);
  p.group_ptr.push_back(0);
  std::vector<int32_t> cols;
  for (int64_t g = 0; g < p.groups; ++g) {
    const int64_t g0 = g * r, g1 = std::min(rows, g0 + r);
    cols.clear();
    for (int64_t k = 0; k < in; ++k) {
      bool any = false;
      for (int64_t n = g0; n < g1; ++n) any = any || w[n * in + k] != 0;
      if (any) cols.push_back(static_cast<int32_t>(k));
    }
    for (size_t c0 = 0; c0 < cols.size(); c0 += 4) {
      int32_t quad_cols[4];
      for (int b = 0; b < 4; ++b) quad_cols[b] = c0 + b < cols.size() ? cols[c0 + b] : cols[c0];
      p.index.insert(p.index.end(), quad_cols, quad_cols + 4);
      for (int64_t n = g0; n < g0 + r; ++n) {
        int8_t bytes[4] = {0, 0, 0, 0};
        for (int b = 0; b < 4; ++b) {
          if (n < g1 && c0 + b < cols.size()) bytes[b] = w[n * in + quad_cols[b]];
        }
        int32_t value;
        std::memcpy(&value, bytes, 4);
        p.values.push_back(value);
      }
    }
    p.group_ptr.push_back(static_cast<int64_t>(p.index.size() / 4));
  }
  return p;
}

// Byte tiles (gathered INT8 layout): tile8[k][BytePos(t)] = quantized x[t][k] for the 128
// tokens t of a tile. Within each 64 tokens, token 16i + 4L + e sits at byte 16L + 4i + e, so
// that unpacking 4 feature rows (bytes, then words, within 128-bit lanes) yields quads in
// natural token order: vector i, dword 4L + e = token 16i + 4L + e.
inline int64_t BytePos(int64_t t) {
  return (t & ~int64_t{63}) | (((t >> 2) & 3) << 4) | (((t >> 4) & 3) << 2) | (t & 3);
}

SimdLevel EffectiveLevel(SimdLevel requested) {
  return static_cast<SimdLevel>(
      std::min(static_cast<int>(requested), static_cast<int>(DetectSimdLevel())));
}

#ifdef KERNELS_SPARSE_X86
// dst[j * dst_stride + i] = src[i * src_stride + j] for a 16 x 16 block of 32-bit elements
// (floats or int8 quads: the shuffles only move bits).
__attribute__((target("avx512f"))) void Transpose16x16(const float* src, int64_t src_stride,
                                                       float* dst, int64_t dst_stride) {
  __m512 r[16], t[16];
#pragma GCC unroll 16
  for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_ps(src + i * src_stride);
#pragma GCC unroll 16
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
#pragma GCC unroll 16
  for (int i = 0; i < 16; i += 4) {
    const __m512d a = _mm512_castps_pd(t[i]), b = _mm512_castps_pd(t[i + 1]);
    const __m512d c = _mm512_castps_pd(t[i + 2]), d = _mm512_castps_pd(t[i + 3]);
    r[i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
    r[i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
    r[i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
    r[i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
  }
#pragma GCC unroll 16
  for (int h = 0; h < 16; h += 8) {
#pragma GCC unroll 4
    for (int i = 0; i < 4; ++i) {
      t[h + i] = _mm512_shuffle_f32x4(r[h + i], r[h + i + 4], 0x88);
      t[h + i + 4] = _mm512_shuffle_f32x4(r[h + i], r[h + i + 4], 0xdd);
    }
  }
#pragma GCC unroll 16
  for (int i = 0; i < 8; ++i) {
    r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
    r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xdd);
  }
#pragma GCC unroll 16
  for (int i = 0; i < 16; ++i) _mm512_storeu_ps(dst + i * dst_stride, r[i]);
}
#endif

bool UseAvx512Transpose(SimdLevel level) { return level >= SimdLevel::kAvx512; }

// Copies the rows [m0, m0 + count) of `x` ([m][units] 32-bit elements, row stride `ld`) into
// columns [m0 - tile_start ...] of one tile [units][kTile]: tile[u][m - tile_start] = x[m][u].
template <typename T>
void TransposeRows(SimdLevel level, const T* x, int64_t ld, int64_t units, int64_t first,
                   int64_t count, T* tile, int64_t column) {
  static_assert(sizeof(T) == 4, "32-bit elements");
  constexpr int64_t kB = 16;
  int64_t u0 = 0;
#ifdef KERNELS_SPARSE_X86
  if (UseAvx512Transpose(level) && count == kB) {
    for (; u0 + kB <= units; u0 += kB) {
      Transpose16x16(reinterpret_cast<const float*>(x + first * ld + u0), ld,
                     reinterpret_cast<float*>(tile + u0 * kTile + column), kTile);
    }
  }
#endif
  (void)level;
  for (; u0 < units; u0 += kB) {
    const int64_t u1 = std::min(units, u0 + kB);
    for (int64_t i = 0; i < count; ++i) {
      const T* src = x + (first + i) * ld;
      T* dst = tile + column + i;
      for (int64_t u = u0; u < u1; ++u) dst[u * kTile] = src[u];
    }
  }
}

#ifdef KERNELS_SPARSE_X86
// One quad row (128 tokens) of a quad tile to its 4 byte rows: vpshufb groups each 128-bit
// lane's bytes by feature, then a 4x4 dword transpose across the 4 vectors of 16 tokens.
__attribute__((target("avx512f,avx512bw"))) void QuadRowToBytesAvx512(const uint32_t* quads,
                                                                     uint8_t* bytes) {
  const __m512i group = _mm512_broadcast_i32x4(
      _mm_setr_epi8(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15));
#pragma GCC unroll 2
  for (int h = 0; h < 2; ++h) {
    __m512i s[4];
#pragma GCC unroll 4
    for (int i = 0; i < 4; ++i) {
      s[i] = _mm512_shuffle_epi8(_mm512_load_si512(quads + 64 * h + 16 * i), group);
    }
    const __m512i t0 = _mm512_unpacklo_epi32(s[0], s[1]), t1 = _mm512_unpackhi_epi32(s[0], s[1]);
    const __m512i t2 = _mm512_unpacklo_epi32(s[2], s[3]), t3 = _mm512_unpackhi_epi32(s[2], s[3]);
    _mm512_store_si512(bytes + 0 * kTile + 64 * h, _mm512_unpacklo_epi64(t0, t2));
    _mm512_store_si512(bytes + 1 * kTile + 64 * h, _mm512_unpackhi_epi64(t0, t2));
    _mm512_store_si512(bytes + 2 * kTile + 64 * h, _mm512_unpacklo_epi64(t1, t3));
    _mm512_store_si512(bytes + 3 * kTile + 64 * h, _mm512_unpackhi_epi64(t1, t3));
  }
}
#endif

// Quad rows [q0, q1) of a quad tile [quads][kTile] to byte rows [4 q][kTile] (BytePos order).
void QuadTileToBytes(SimdLevel level, const uint32_t* quads, int64_t q0, int64_t q1,
                     uint8_t* bytes) {
  for (int64_t q = q0; q < q1; ++q) {
#ifdef KERNELS_SPARSE_X86
    if (level >= SimdLevel::kAvx512) {
      QuadRowToBytesAvx512(quads + q * kTile, bytes + 4 * q * kTile);
      continue;
    }
#endif
    (void)level;
    for (int64_t t = 0; t < kTile; ++t) {
      const uint32_t v = quads[q * kTile + t];
      for (int b = 0; b < 4; ++b) {
        bytes[(4 * q + b) * kTile + BytePos(t)] = static_cast<uint8_t>(v >> (8 * b));
      }
    }
  }
}

// ---------------------------------------------------------------------------------------
// Inner kernels. Each computes R rows x (V vectors of tokens) of one group on one tile and
// writes fp32 results (epilogue applied) to out[r * kTile + token].
// ---------------------------------------------------------------------------------------

// Per-row epilogue of the INT8 kernels: y = float(acc - offset) * scale + bias, where
// offset = zero_point * sum_k w[n][k] (mod 2^32: the true difference fits int32).
struct Int8Epilogue {
  const int32_t* offset;
  const float* scale;
  const float* bias;
};

struct ScalarKernels {
  static void Fp32(int r, const int32_t* index, const float* values, int64_t count,
                   const float* tile, const float* bias, int64_t tokens, float* out) {
    for (int rr = 0; rr < r; ++rr) {
      float* o = out + rr * kTile;
      for (int64_t t = 0; t < tokens; ++t) o[t] = bias[rr];
    }
    for (int64_t j = 0; j < count; ++j) {
      const float* xp = tile + static_cast<int64_t>(index[j]) * kTile;
      for (int rr = 0; rr < r; ++rr) {
        const float w = values[j * r + rr];
        float* o = out + rr * kTile;
        for (int64_t t = 0; t < tokens; ++t) o[t] += w * xp[t];
      }
    }
  }

  static void Int8(int r, const int32_t* index, const int32_t* values, int64_t count,
                   const uint32_t* tile, const Int8Epilogue& e, int64_t tokens, float* out) {
    std::vector<int32_t> acc(r * tokens, 0);
    for (int64_t j = 0; j < count; ++j) {
      const uint32_t* xp = tile + static_cast<int64_t>(index[j]) * kTile;
      for (int rr = 0; rr < r; ++rr) {
        int8_t w[4];
        std::memcpy(w, &values[j * r + rr], 4);
        int32_t* a = acc.data() + rr * tokens;
        for (int64_t t = 0; t < tokens; ++t) {
          uint8_t x[4];
          std::memcpy(x, &xp[t], 4);
          a[t] += x[0] * w[0] + x[1] * w[1] + x[2] * w[2] + x[3] * w[3];
        }
      }
    }
    Epilogue(r, acc, e, tokens, out);
  }

  // Gathered quads (4 rows): entry j multiplies the features cols[4j..4j+3] of the byte tile.
  static void Int8Gathered(const int32_t* cols, const int32_t* values, int64_t count,
                           const uint8_t* tile, const Int8Epilogue& e, int64_t tokens,
                           float* out) {
    constexpr int r = 4;
    std::vector<int32_t> acc(r * tokens, 0);
    for (int64_t j = 0; j < count; ++j) {
      const uint8_t* xp[4];
      for (int b = 0; b < 4; ++b) xp[b] = tile + static_cast<int64_t>(cols[4 * j + b]) * kTile;
      for (int rr = 0; rr < r; ++rr) {
        int8_t w[4];
        std::memcpy(w, &values[j * r + rr], 4);
        int32_t* a = acc.data() + rr * tokens;
        for (int64_t t = 0; t < tokens; ++t) {
          const int64_t pos = BytePos(t);
          a[t] += xp[0][pos] * w[0] + xp[1][pos] * w[1] + xp[2][pos] * w[2] + xp[3][pos] * w[3];
        }
      }
    }
    Epilogue(r, acc, e, tokens, out);
  }

  static void Epilogue(int r, const std::vector<int32_t>& acc, const Int8Epilogue& e,
                       int64_t tokens, float* out) {
    for (int rr = 0; rr < r; ++rr) {
      for (int64_t t = 0; t < tokens; ++t) {
        const int32_t c = static_cast<int32_t>(static_cast<uint32_t>(acc[rr * tokens + t]) -
                                               static_cast<uint32_t>(e.offset[rr]));
        const float scaled = static_cast<float>(c) * e.scale[rr];
        out[rr * kTile + t] = scaled + e.bias[rr];
      }
    }
  }
};

#ifdef KERNELS_SPARSE_X86

// The INT8 epilogue must round the product before adding the bias, exactly as the reference
// does; an empty asm on the product keeps the compiler from fusing mul + add into an FMA.
template <typename Vec>
inline __attribute__((always_inline)) void NoContract(Vec& v) {
  __asm__("" : "+x"(v));
}

struct Avx512Kernels {
  static constexpr int kLanes = 16;

  template <int R, int V>
  __attribute__((target("avx512f"))) static void Fp32(const int32_t* index, const float* values,
                                                      int64_t count, const float* tile,
                                                      const float* bias, float* out) {
    __m512 acc[R][V];
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
#pragma GCC unroll 8
      for (int v = 0; v < V; ++v) acc[r][v] = _mm512_set1_ps(bias[r]);
    }
    for (int64_t j = 0; j < count; ++j) {
      const float* xp = tile + static_cast<int64_t>(index[j]) * kTile;
      __m512 x[V];
#pragma GCC unroll 8
      for (int v = 0; v < V; ++v) x[v] = _mm512_load_ps(xp + v * kLanes);
#pragma GCC unroll 4
      for (int r = 0; r < R; ++r) {
        const __m512 w = _mm512_set1_ps(values[j * R + r]);
#pragma GCC unroll 8
        for (int v = 0; v < V; ++v) acc[r][v] = _mm512_fmadd_ps(w, x[v], acc[r][v]);
      }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
#pragma GCC unroll 8
      for (int v = 0; v < V; ++v) _mm512_store_ps(out + r * kTile + v * kLanes, acc[r][v]);
    }
  }

  template <int R, int V>
  __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni"))) static void Int8(
      const int32_t* index, const int32_t* values, int64_t count, const uint32_t* tile,
      const Int8Epilogue& e, float* out) {
    __m512i acc[R][V];
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
#pragma GCC unroll 8
      for (int v = 0; v < V; ++v) acc[r][v] = _mm512_setzero_si512();
    }
    for (int64_t j = 0; j < count; ++j) {
      const uint32_t* xp = tile + static_cast<int64_t>(index[j]) * kTile;
      __m512i x[V];
#pragma GCC unroll 8
      for (int v = 0; v < V; ++v) x[v] = _mm512_load_si512(xp + v * kLanes);
#pragma GCC unroll 4
      for (int r = 0; r < R; ++r) {
        const __m512i w = _mm512_set1_epi32(values[j * R + r]);
#pragma GCC unroll 8
        for (int v = 0; v < V; ++v) acc[r][v] = _mm512_dpbusd_epi32(acc[r][v], x[v], w);
      }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
      const __m512i offset = _mm512_set1_epi32(e.offset[r]);
      const __m512 scale = _mm512_set1_ps(e.scale[r]);
      const __m512 bias = _mm512_set1_ps(e.bias[r]);
#pragma GCC unroll 8
      for (int v = 0; v < V; ++v) {
        __m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(acc[r][v], offset)), scale);
        NoContract(f);
        _mm512_store_ps(out + r * kTile + v * kLanes, _mm512_add_ps(f, bias));
      }
    }
  }
};

// Gathered quads on AVX-512 VNNI: per 64 tokens, 4 byte-row loads and 8 unpacks build the 4
// quad vectors that 4 rows x 4 vpdpbusd consume (16 accumulators).
struct Avx512GatheredKernel {
  __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni"))) static void Run(
      const int32_t* cols, const int32_t* values, int64_t count, const uint8_t* tile,
      const Int8Epilogue& e, int64_t tokens, float* out) {
    constexpr int R = 4;
    const int64_t halves = (tokens + 63) / 64;
    for (int64_t h = 0; h < halves; ++h) {
      const uint8_t* base = tile + 64 * h;
      __m512i acc[R][4];
#pragma GCC unroll 4
      for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
        for (int v = 0; v < 4; ++v) acc[r][v] = _mm512_setzero_si512();
      }
      for (int64_t j = 0; j < count; ++j) {
        const int32_t* c = cols + 4 * j;
        const __m512i a = _mm512_load_si512(base + static_cast<int64_t>(c[0]) * kTile);
        const __m512i b = _mm512_load_si512(base + static_cast<int64_t>(c[1]) * kTile);
        const __m512i cc = _mm512_load_si512(base + static_cast<int64_t>(c[2]) * kTile);
        const __m512i d = _mm512_load_si512(base + static_cast<int64_t>(c[3]) * kTile);
        const __m512i ab_lo = _mm512_unpacklo_epi8(a, b), ab_hi = _mm512_unpackhi_epi8(a, b);
        const __m512i cd_lo = _mm512_unpacklo_epi8(cc, d), cd_hi = _mm512_unpackhi_epi8(cc, d);
        const __m512i x[4] = {_mm512_unpacklo_epi16(ab_lo, cd_lo),
                              _mm512_unpackhi_epi16(ab_lo, cd_lo),
                              _mm512_unpacklo_epi16(ab_hi, cd_hi),
                              _mm512_unpackhi_epi16(ab_hi, cd_hi)};
#pragma GCC unroll 4
        for (int r = 0; r < R; ++r) {
          const __m512i w = _mm512_set1_epi32(values[j * R + r]);
#pragma GCC unroll 4
          for (int v = 0; v < 4; ++v) acc[r][v] = _mm512_dpbusd_epi32(acc[r][v], x[v], w);
        }
      }
#pragma GCC unroll 4
      for (int r = 0; r < R; ++r) {
        const __m512i offset = _mm512_set1_epi32(e.offset[r]);
        const __m512 scale = _mm512_set1_ps(e.scale[r]);
        const __m512 bias = _mm512_set1_ps(e.bias[r]);
#pragma GCC unroll 4
        for (int v = 0; v < 4; ++v) {
          __m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(acc[r][v], offset)), scale);
          NoContract(f);
          _mm512_store_ps(out + r * kTile + 64 * h + 16 * v, _mm512_add_ps(f, bias));
        }
      }
    }
  }
};

// Gathered quads on AVX2: each 32-byte piece of the 4 byte rows unpacks into 4 vectors of 8
// tokens (tokens 64h + 16i + 8p + 0..7 for piece p of half h), multiplied like Avx2Kernels.
struct Avx2GatheredKernel {
  __attribute__((target("avx2"))) static void Run(const int32_t* cols, const int32_t* values,
                                                  int64_t count, const uint8_t* tile,
                                                  const Int8Epilogue& e, int64_t tokens,
                                                  float* out) {
    constexpr int R = 4;
    const int64_t pieces = 2 * ((tokens + 63) / 64);
    const __m256i low_bytes = _mm256_set1_epi16(0x00ff);
    for (int64_t s = 0; s < pieces; ++s) {
      const uint8_t* base = tile + 32 * s;
      __m256i acc[R][4];
#pragma GCC unroll 4
      for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
        for (int v = 0; v < 4; ++v) acc[r][v] = _mm256_setzero_si256();
      }
      for (int64_t j = 0; j < count; ++j) {
        const int32_t* c = cols + 4 * j;
        // (No lambda here: it would not inherit the target attribute.)
        const __m256i a = _mm256_load_si256(
            reinterpret_cast<const __m256i*>(base + static_cast<int64_t>(c[0]) * kTile));
        const __m256i b = _mm256_load_si256(
            reinterpret_cast<const __m256i*>(base + static_cast<int64_t>(c[1]) * kTile));
        const __m256i cc = _mm256_load_si256(
            reinterpret_cast<const __m256i*>(base + static_cast<int64_t>(c[2]) * kTile));
        const __m256i d = _mm256_load_si256(
            reinterpret_cast<const __m256i*>(base + static_cast<int64_t>(c[3]) * kTile));
        const __m256i ab_lo = _mm256_unpacklo_epi8(a, b), ab_hi = _mm256_unpackhi_epi8(a, b);
        const __m256i cd_lo = _mm256_unpacklo_epi8(cc, d), cd_hi = _mm256_unpackhi_epi8(cc, d);
        const __m256i x[4] = {_mm256_unpacklo_epi16(ab_lo, cd_lo),
                              _mm256_unpackhi_epi16(ab_lo, cd_lo),
                              _mm256_unpacklo_epi16(ab_hi, cd_hi),
                              _mm256_unpackhi_epi16(ab_hi, cd_hi)};
#pragma GCC unroll 4
        for (int v = 0; v < 4; ++v) {
          const __m256i x_even = _mm256_and_si256(x[v], low_bytes);
          const __m256i x_odd = _mm256_srli_epi16(x[v], 8);
#pragma GCC unroll 4
          for (int r = 0; r < R; ++r) {
            const __m256i w = _mm256_set1_epi32(values[j * R + r]);
            const __m256i w_even = _mm256_srai_epi16(_mm256_slli_epi16(w, 8), 8);
            const __m256i w_odd = _mm256_srai_epi16(w, 8);
            acc[r][v] = _mm256_add_epi32(acc[r][v],
                                         _mm256_add_epi32(_mm256_madd_epi16(x_even, w_even),
                                                          _mm256_madd_epi16(x_odd, w_odd)));
          }
        }
      }
      const int64_t h = s / 2, p = s % 2;
#pragma GCC unroll 4
      for (int r = 0; r < R; ++r) {
        const __m256i offset = _mm256_set1_epi32(e.offset[r]);
        const __m256 scale = _mm256_set1_ps(e.scale[r]);
        const __m256 bias = _mm256_set1_ps(e.bias[r]);
#pragma GCC unroll 4
        for (int v = 0; v < 4; ++v) {
          __m256 f = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(acc[r][v], offset)), scale);
          NoContract(f);
          _mm256_store_ps(out + r * kTile + 64 * h + 16 * v + 8 * p, _mm256_add_ps(f, bias));
        }
      }
    }
  }
};

struct Avx2Kernels {
  static constexpr int kLanes = 8;

  template <int R, int V>
  __attribute__((target("avx2,fma"))) static void Fp32(const int32_t* index, const float* values,
                                                       int64_t count, const float* tile,
                                                       const float* bias, float* out) {
    __m256 acc[R][V];
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
#pragma GCC unroll 8
      for (int v = 0; v < V; ++v) acc[r][v] = _mm256_set1_ps(bias[r]);
    }
    for (int64_t j = 0; j < count; ++j) {
      const float* xp = tile + static_cast<int64_t>(index[j]) * kTile;
#pragma GCC unroll 4
      for (int r = 0; r < R; ++r) {
        const __m256 w = _mm256_set1_ps(values[j * R + r]);
#pragma GCC unroll 8
        for (int v = 0; v < V; ++v) {
          acc[r][v] = _mm256_fmadd_ps(w, _mm256_load_ps(xp + v * kLanes), acc[r][v]);
        }
      }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
#pragma GCC unroll 8
      for (int v = 0; v < V; ++v) _mm256_store_ps(out + r * kTile + v * kLanes, acc[r][v]);
    }
  }

  // No VNNI: split each quad into its even and odd bytes as 16-bit words and use vpmaddwd,
  // whose int32 pair sums cannot saturate (unlike vpmaddubsw's int16 ones).
  template <int R, int V>
  __attribute__((target("avx2"))) static void Int8(const int32_t* index, const int32_t* values,
                                                   int64_t count, const uint32_t* tile,
                                                   const Int8Epilogue& e, float* out) {
    __m256i acc[R][V];
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
#pragma GCC unroll 8
      for (int v = 0; v < V; ++v) acc[r][v] = _mm256_setzero_si256();
    }
    const __m256i low_bytes = _mm256_set1_epi16(0x00ff);
    for (int64_t j = 0; j < count; ++j) {
      const uint32_t* xp = tile + static_cast<int64_t>(index[j]) * kTile;
      __m256i x_even[V], x_odd[V];
#pragma GCC unroll 8
      for (int v = 0; v < V; ++v) {
        const __m256i x = _mm256_load_si256(reinterpret_cast<const __m256i*>(xp + v * kLanes));
        x_even[v] = _mm256_and_si256(x, low_bytes);
        x_odd[v] = _mm256_srli_epi16(x, 8);
      }
#pragma GCC unroll 4
      for (int r = 0; r < R; ++r) {
        const __m256i w = _mm256_set1_epi32(values[j * R + r]);
        const __m256i w_even = _mm256_srai_epi16(_mm256_slli_epi16(w, 8), 8);
        const __m256i w_odd = _mm256_srai_epi16(w, 8);
#pragma GCC unroll 8
        for (int v = 0; v < V; ++v) {
          acc[r][v] = _mm256_add_epi32(
              acc[r][v], _mm256_add_epi32(_mm256_madd_epi16(x_even[v], w_even),
                                          _mm256_madd_epi16(x_odd[v], w_odd)));
        }
      }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
      const __m256i offset = _mm256_set1_epi32(e.offset[r]);
      const __m256 scale = _mm256_set1_ps(e.scale[r]);
      const __m256 bias = _mm256_set1_ps(e.bias[r]);
#pragma GCC unroll 8
      for (int v = 0; v < V; ++v) {
        __m256 f = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(acc[r][v], offset)), scale);
        NoContract(f);
        _mm256_store_ps(out + r * kTile + v * kLanes, _mm256_add_ps(f, bias));
      }
    }
  }
};

// Runs kernel K<R, V> over `vectors` token vectors of a tile in chunks of at most VMax.
template <typename K, int R, int VMax>
void Fp32Group(const int32_t* index, const float* values, int64_t count, const float* tile,
               const float* bias, int64_t vectors, float* out) {
  int64_t off = 0;
  for (; vectors >= VMax; vectors -= VMax, off += VMax * K::kLanes) {
    K::template Fp32<R, VMax>(index, values, count, tile + off, bias, out + off);
  }
  switch (vectors) {
#define KERNELS_FP32_CASE(n)                                                           \
  case n:                                                                              \
    if constexpr (n < VMax) K::template Fp32<R, n>(index, values, count, tile + off, bias, \
                                                   out + off);                           \
    break;
    KERNELS_FP32_CASE(1)
    KERNELS_FP32_CASE(2)
    KERNELS_FP32_CASE(3)
    KERNELS_FP32_CASE(4)
    KERNELS_FP32_CASE(5)
    KERNELS_FP32_CASE(6)
    KERNELS_FP32_CASE(7)
#undef KERNELS_FP32_CASE
    default:
      break;
  }
}

template <typename K, int R, int VMax>
void Int8Group(const int32_t* index, const int32_t* values, int64_t count, const uint32_t* tile,
               const Int8Epilogue& e, int64_t vectors, float* out) {
  int64_t off = 0;
  for (; vectors >= VMax; vectors -= VMax, off += VMax * K::kLanes) {
    K::template Int8<R, VMax>(index, values, count, tile + off, e, out + off);
  }
  switch (vectors) {
#define KERNELS_INT8_CASE(n)                                                                 \
  case n:                                                                                    \
    if constexpr (n < VMax) K::template Int8<R, n>(index, values, count, tile + off, e, out + off); \
    break;
    KERNELS_INT8_CASE(1)
    KERNELS_INT8_CASE(2)
    KERNELS_INT8_CASE(3)
    KERNELS_INT8_CASE(4)
    KERNELS_INT8_CASE(5)
    KERNELS_INT8_CASE(6)
    KERNELS_INT8_CASE(7)
#undef KERNELS_INT8_CASE
    default:
      break;
  }
}

#endif  // KERNELS_SPARSE_X86

// One group of the fp32 layer on one tile of `tokens` tokens.
void RunFp32Group(SimdLevel level, int r, const int32_t* index, const float* values,
                  int64_t count, const float* tile, const float* bias, int64_t tokens,
                  float* out) {
#ifdef KERNELS_SPARSE_X86
  if (level >= SimdLevel::kAvx512) {
    const int64_t vectors = (tokens + 15) / 16;
    if (r == 4) return Fp32Group<Avx512Kernels, 4, 4>(index, values, count, tile, bias, vectors, out);
    return Fp32Group<Avx512Kernels, 1, 8>(index, values, count, tile, bias, vectors, out);
  }
  if (level >= SimdLevel::kAvx2) {
    const int64_t vectors = (tokens + 7) / 8;
    if (r == 4) return Fp32Group<Avx2Kernels, 4, 2>(index, values, count, tile, bias, vectors, out);
    return Fp32Group<Avx2Kernels, 1, 8>(index, values, count, tile, bias, vectors, out);
  }
#endif
  (void)level;
  ScalarKernels::Fp32(r, index, values, count, tile, bias, tokens, out);
}

void RunInt8Group(SimdLevel level, int r, const int32_t* index, const int32_t* values,
                  int64_t count, const uint32_t* tile, const Int8Epilogue& e, int64_t tokens,
                  float* out) {
#ifdef KERNELS_SPARSE_X86
  if (level >= SimdLevel::kAvx512Vnni) {
    const int64_t vectors = (tokens + 15) / 16;
    if (r == 4) return Int8Group<Avx512Kernels, 4, 4>(index, values, count, tile, e, vectors, out);
    return Int8Group<Avx512Kernels, 1, 8>(index, values, count, tile, e, vectors, out);
  }
  if (level >= SimdLevel::kAvx2) {
    const int64_t vectors = (tokens + 7) / 8;
    if (r == 4) return Int8Group<Avx2Kernels, 4, 2>(index, values, count, tile, e, vectors, out);
    return Int8Group<Avx2Kernels, 1, 4>(index, values, count, tile, e, vectors, out);
  }
#endif
  (void)level;
  ScalarKernels::Int8(r, index, values, count, tile, e, tokens, out);
}

void RunInt8Gathered(SimdLevel level, const int32_t* cols, const int32_t* values, int64_t count,
                     const uint8_t* tile, const Int8Epilogue& e, int64_t tokens, float* out) {
#ifdef KERNELS_SPARSE_X86
  if (level >= SimdLevel::kAvx512Vnni) {
    return Avx512GatheredKernel::Run(cols, values, count, tile, e, tokens, out);
  }
  if (level >= SimdLevel::kAvx2) {
    return Avx2GatheredKernel::Run(cols, values, count, tile, e, tokens, out);
  }
#endif
  (void)level;
  ScalarKernels::Int8Gathered(cols, values, count, tile, e, tokens, out);
}

// Shared driver: for every (tile, block of 16 output rows) work item, runs the groups of the
// block into a local [16][kTile] buffer, then writes it transposed into y [m][out].
template <typename T, typename GroupFn>
void RunBlocks(SimdLevel level, const Packed<T>& p, int64_t m, float* y, const GroupFn& group_fn) {
  const int64_t tiles = (m + kTile - 1) / kTile;
  const int64_t blocks = (p.rows + kBlockRows - 1) / kBlockRows;
  const int64_t groups_per_block = kBlockRows / p.r;
  at::parallel_for(0, tiles * blocks, 1, [&](int64_t begin, int64_t end) {
    alignas(64) float buffer[kBlockRows * kTile];
    for (int64_t item = begin; item < end; ++item) {
      const int64_t t = item / blocks, b = item % blocks;
      const int64_t m0 = t * kTile, tokens = std::min(kTile, m - m0);
      const int64_t g_end = std::min(p.groups, (b + 1) * groups_per_block);
      for (int64_t g = b * groups_per_block; g < g_end; ++g) {
        const int64_t j0 = p.group_ptr[g];
        group_fn(t, g, p.index.data() + j0 * p.index_per_entry, p.values.data() + j0 * p.r,
                 p.group_ptr[g + 1] - j0,
                 tokens, buffer + (g - b * groups_per_block) * p.r * kTile);
      }
      const int64_t n0 = b * kBlockRows, rows = std::min(kBlockRows, p.rows - n0);
      int64_t i0 = 0;
#ifdef KERNELS_SPARSE_X86
      if (UseAvx512Transpose(level) && rows == kBlockRows) {
        for (; i0 + 16 <= tokens; i0 += 16) {
          Transpose16x16(buffer + i0, kTile, y + (m0 + i0) * p.rows + n0, p.rows);
        }
      }
#endif
      for (int64_t i = i0; i < tokens; ++i) {
        float* dst = y + (m0 + i) * p.rows + n0;
        for (int64_t rr = 0; rr < rows; ++rr) dst[rr] = buffer[rr * kTile + i];
      }
    }
  });
}

}  // namespace

SimdLevel DetectSimdLevel() {
#ifdef KERNELS_SPARSE_X86
  static const SimdLevel level = [] {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl")) {
      return __builtin_cpu_supports("avx512vnni") ? SimdLevel::kAvx512Vnni : SimdLevel::kAvx512;
    }
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return SimdLevel::kAvx2;
    return SimdLevel::kScalar;
  }();
  return level;
#else
  return SimdLevel::kScalar;
#endif
}

const char* SimdLevelName(SimdLevel level) {
  switch (level) {
    case SimdLevel::kScalar: return "scalar";
    case SimdLevel::kAvx2: return "avx2";
    case SimdLevel::kAvx512: return "avx512";
    case SimdLevel::kAvx512Vnni: return "avx512_vnni";
  }
  return "unknown";
}

// ---------------------------------------------------------------------------------------
// fp32
// ---------------------------------------------------------------------------------------

struct SparseLinear::Impl {
  Packed<float> packed;
  std::vector<float> bias;  // groups * r entries (zero padded).
  int64_t in = 0, out = 0, nnz = 0;
  SimdLevel level = SimdLevel::kScalar;
};

absl::StatusOr<std::unique_ptr<SparseLinear>> SparseLinear::Create(
    const at::Tensor& weight, const at::Tensor& bias, const at::Tensor& mask,
    const SparsePackOptions& options) {
  if (!weight.defined() || weight.scalar_type() != at::kFloat || weight.dim() != 2 ||
      weight.size(0) < 1 || weight.size(1) < 1 || !weight.device().is_cpu()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "SparseLinear: weight: expected a non-empty CPU Float [out, in] matrix, got ",
        weight.defined() ? DtypeString(weight) : "undefined", " of shape ",
        weight.defined() ? ShapeString(weight.sizes()) : "[]"));
  }
  const int64_t out = weight.size(0), in = weight.size(1);
  if (in >= (int64_t{1} << 31) / kTile) {
    return absl::InvalidArgumentError(absl::StrCat("SparseLinear: weight: in = ", in, " too large"));
  }
  if (bias.defined() && (bias.scalar_type() != at::kFloat || bias.dim() != 1 ||
                         bias.numel() != out)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "SparseLinear: bias: expected Float [", out, "] or undefined, got ", DtypeString(bias),
        " of shape ", ShapeString(bias.sizes())));
  }
  if (mask.defined() && mask.sizes() != weight.sizes()) {
    return absl::InvalidArgumentError(absl::StrCat("SparseLinear: mask: expected shape ",
                                                   ShapeString(weight.sizes()), ", got ",
                                                   ShapeString(mask.sizes())));
  }
  if (options.rows_per_group != 0 && options.rows_per_group != 1 && options.rows_per_group != 4) {
    return absl::InvalidArgumentError(absl::StrCat(
        "SparsePackOptions.rows_per_group = ", options.rows_per_group, ": expected 0, 1 or 4"));
  }
  at::Tensor w = weight.detach().contiguous();
  if (mask.defined()) w = at::where(mask.to(at::kBool), w, at::zeros({}, w.options())).contiguous();
  const float* wd = w.data_ptr<float>();
  auto impl = std::make_unique<Impl>();
  impl->in = in;
  impl->out = out;
  impl->nnz = w.ne(0).sum().item<int64_t>();
  impl->level = EffectiveLevel(options.max_simd);
  const int r = ChooseRowsPerGroup(wd, out, in, options.rows_per_group);
  impl->packed = Pack(wd, out, in, r);
  impl->bias.assign(impl->packed.groups * r, 0.0f);
  if (bias.defined()) {
    const at::Tensor b = bias.detach().contiguous();
    std::memcpy(impl->bias.data(), b.data_ptr<float>(), out * sizeof(float));
  }
  return std::unique_ptr<SparseLinear>(new SparseLinear(std::move(impl)));
}

SparseLinear::SparseLinear(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SparseLinear::~SparseLinear() = default;

at::Tensor SparseLinear::Forward(const at::Tensor& x) const {
  const Impl& impl = *impl_;
  TORCH_CHECK(x.scalar_type() == at::kFloat, "SparseLinear::Forward: expected a Float input, got ",
              DtypeString(x));
  TORCH_CHECK(x.dim() >= 1 && x.size(-1) == impl.in, "SparseLinear::Forward: expected shape [..., ",
              impl.in, "], got ", ShapeString(x.sizes()));
  std::vector<int64_t> out_sizes = x.sizes().vec();
  out_sizes.back() = impl.out;
  const at::Tensor xc = x.contiguous();
  const int64_t m = xc.numel() / impl.in, k = impl.in;
  at::Tensor y = at::empty({m, impl.out}, at::kFloat);
  if (m == 0) return y.view(out_sizes);

  // Activation tiles [tiles][k][kTile]; the lanes past m in the last tile are zeroed.
  const int64_t tiles = (m + kTile - 1) / kTile;
  at::Tensor xt = at::empty({tiles, k, kTile}, at::kFloat);
  float* xtd = xt.data_ptr<float>();
  const float* xd = xc.data_ptr<float>();
  if (m % kTile != 0) {
    float* last = xtd + (tiles - 1) * k * kTile;
    const int64_t used = m - (tiles - 1) * kTile;
    for (int64_t u = 0; u < k; ++u) std::fill(last + u * kTile + used, last + (u + 1) * kTile, 0.0f);
  }
  constexpr int64_t kChunk = 16;  // Tokens per transpose work item.
  const int64_t chunks = (m + kChunk - 1) / kChunk;
  at::parallel_for(0, chunks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) {
      const int64_t m0 = c * kChunk, count = std::min(kChunk, m - m0);
      TransposeRows(impl.level, xd, k, k, m0, count, xtd + (m0 / kTile) * k * kTile,
                    m0 % kTile);
    }
  });

  const Packed<float>& p = impl.packed;
  const SimdLevel level = impl.level;
  RunBlocks(level, p, m, y.data_ptr<float>(),
            [&](int64_t t, int64_t g, const int32_t* index, const float* values, int64_t count,
                int64_t tokens, float* out) {
              RunFp32Group(level, p.r, index, values, count, xtd + t * k * kTile,
                           impl.bias.data() + g * p.r, tokens, out);
            });
  return y.view(out_sizes);
}

int64_t SparseLinear::in_features() const { return impl_->in; }
int64_t SparseLinear::out_features() const { return impl_->out; }
int64_t SparseLinear::nnz() const { return impl_->nnz; }
double SparseLinear::density() const {
  return static_cast<double>(impl_->nnz) / static_cast<double>(impl_->in * impl_->out);
}
int SparseLinear::rows_per_group() const { return impl_->packed.r; }
SimdLevel SparseLinear::simd() const { return impl_->level; }
int64_t SparseLinear::packed_bytes() const { return impl_->packed.Bytes(); }

// ---------------------------------------------------------------------------------------
// INT8
// ---------------------------------------------------------------------------------------

struct SparseInt8Linear::Impl {
  Int8LinearParams params;  // Kept for the quantization rule (static/dynamic, signedness).
  Packed<int32_t> packed;
  std::vector<int32_t> row_sums;  // sum_k w[n][k], groups * r entries.
  std::vector<float> weight_scales;  // groups * r entries.
  std::vector<float> bias;           // groups * r entries (zero when no bias).
  int64_t in = 0, out = 0, nnz = 0, quads = 0;
  bool gathered = false;  // `packed` holds gathered quads (index_per_entry 4).
  SimdLevel level = SimdLevel::kScalar;
};

absl::StatusOr<std::unique_ptr<SparseInt8Linear>> SparseInt8Linear::Create(
    const Int8LinearParams& params, const SparsePackOptions& options) {
  if (absl::Status status = ValidateInt8LinearParams(params); !status.ok()) return status;
  if (options.rows_per_group != 0 && options.rows_per_group != 1 && options.rows_per_group != 4) {
    return absl::InvalidArgumentError(absl::StrCat(
        "SparsePackOptions.rows_per_group = ", options.rows_per_group, ": expected 0, 1 or 4"));
  }
  auto impl = std::make_unique<Impl>();
  const at::Tensor w = params.weight_int8.contiguous();
  const int64_t out = w.size(0), in = w.size(1), quads = (in + 3) / 4;
  impl->in = in;
  impl->out = out;
  impl->quads = quads;
  impl->level = EffectiveLevel(options.max_simd);
  impl->params = params;
  impl->params.weight_int8 = w;
  // Dense quads [out][quads], the last quad of a row zero padded.
  std::vector<int32_t> dense(out * quads, 0);
  const int8_t* wd = w.data_ptr<int8_t>();
  for (int64_t n = 0; n < out; ++n) {
    std::memcpy(reinterpret_cast<int8_t*>(dense.data() + n * quads), wd + n * in, in);
  }
  const int r = ChooseRowsPerGroup(dense.data(), out, quads, options.rows_per_group);
  impl->packed = Pack(dense.data(), out, quads, r);
  using Layout = SparsePackOptions::Int8Layout;
  if (r == 4 && options.int8_layout != Layout::kAlignedQuads) {
    Packed<int32_t> gathered = PackGathered(wd, out, in);
    // A gathered entry costs about 1.5 aligned ones (the same vpdpbusd plus 8 unpacks per
    // 16 of them), so gathering pays below 2/3 of the aligned entries.
    const size_t gathered_entries = gathered.index.size() / 4;
    const bool pays = 3 * gathered_entries <= 2 * impl->packed.index.size();
    if (options.int8_layout == Layout::kGatheredQuads ||
        (impl->level == SimdLevel::kAvx512Vnni && pays)) {
      impl->packed = std::move(gathered);
      impl->gathered = true;
    }
  }
  const int64_t padded = impl->packed.groups * r;
  impl->row_sums.assign(padded, 0);
  impl->weight_scales.assign(padded, 1.0f);
  impl->bias.assign(padded, 0.0f);
  const at::Tensor scales = params.weight_scales.contiguous();
  const float* sd = scales.data_ptr<float>();
  for (int64_t n = 0; n < out; ++n) {
    int32_t sum = 0;
    for (int64_t i = 0; i < in; ++i) {
      sum += wd[n * in + i];
      impl->nnz += wd[n * in + i] != 0;
    }
    impl->row_sums[n] = sum;
    impl->weight_scales[n] = sd[scales.numel() == 1 ? 0 : n];
  }
  if (params.bias.defined()) {
    const at::Tensor b = params.bias.contiguous();
    std::memcpy(impl->bias.data(), b.data_ptr<float>(), out * sizeof(float));
  }
  return std::unique_ptr<SparseInt8Linear>(new SparseInt8Linear(std::move(impl)));
}

SparseInt8Linear::SparseInt8Linear(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SparseInt8Linear::~SparseInt8Linear() = default;

at::Tensor SparseInt8Linear::Forward(const at::Tensor& x) const {
  const Impl& impl = *impl_;
  TORCH_CHECK(x.scalar_type() == at::kFloat,
              "SparseInt8Linear::Forward: expected a Float input, got ", DtypeString(x));
  TORCH_CHECK(x.dim() >= 1 && x.size(-1) == impl.in,
              "SparseInt8Linear::Forward: expected shape [..., ", impl.in, "], got ",
              ShapeString(x.sizes()));
  std::vector<int64_t> out_sizes = x.sizes().vec();
  out_sizes.back() = impl.out;
  const at::Tensor xc = x.reshape({-1, impl.in}).contiguous();
  const int64_t m = xc.size(0), in = impl.in, quads = impl.quads;
  at::Tensor y = at::empty({m, impl.out}, at::kFloat);
  if (m == 0) return y.view(out_sizes);

  const Int8LinearParams& params = impl.params;
  ActivationQuantParams q{params.input_scale, params.input_zero_point};
  if (params.dynamic) {
    const auto min_max = at::aminmax(xc);
    const float mn = std::get<0>(min_max).item<float>(), mx = std::get<1>(min_max).item<float>();
    TORCH_CHECK(std::isfinite(mn) && std::isfinite(mx),
                "SparseInt8Linear::Forward: dynamic quantization needs a finite input, got min ",
                mn, ", max ", mx);
    q = ChooseActivationQuantParams(mn, mx, params.activation_signed);
  }
  // vpdpbusd takes unsigned activations: int8 ones are stored as q + 128 (xor 0x80), and the
  // zero point grows by 128 to match.
  const bool is_signed = params.activation_signed;
  const int64_t zero_point = q.zero_point + (is_signed ? 128 : 0);
  const uint32_t flip = is_signed ? 0x80808080u : 0u;

  // Quantize and transpose into quad tiles [tiles][quads][kTile] of uint32.
  const int64_t tiles = (m + kTile - 1) / kTile;
  at::Tensor xt = at::empty({tiles, quads, kTile}, at::kInt);
  auto* xtd = reinterpret_cast<uint32_t*>(xt.data_ptr<int32_t>());
  if (m % kTile != 0) {
    uint32_t* last = xtd + (tiles - 1) * quads * kTile;
    const int64_t used = m - (tiles - 1) * kTile;
    for (int64_t u = 0; u < quads; ++u) std::fill(last + u * kTile + used, last + (u + 1) * kTile, 0u);
  }
  constexpr int64_t kChunk = 16;
  const int64_t chunks = (m + kChunk - 1) / kChunk;
  at::parallel_for(0, chunks, 1, [&](int64_t begin, int64_t end) {
    std::vector<uint32_t> rows(kChunk * quads, 0);  // Padded quads stay 0.
    for (int64_t c = begin; c < end; ++c) {
      const int64_t m0 = c * kChunk, count = std::min(kChunk, m - m0);
      const at::Tensor qx = QuantizeActivations(xc.narrow(0, m0, count), q, is_signed);
      const auto* qd = static_cast<const uint8_t*>(qx.data_ptr());
      for (int64_t i = 0; i < count; ++i) {
        uint32_t* row = rows.data() + i * quads;
        std::memcpy(row, qd + i * in, in);
        if (flip != 0) {
          for (int64_t u = 0; u < quads; ++u) row[u] ^= flip;
          if (in % 4 != 0) {  // Padding bytes must stay 0 after the flip (weights are 0 there).
            uint8_t* bytes = reinterpret_cast<uint8_t*>(row + quads - 1);
            for (int64_t b = in % 4; b < 4; ++b) bytes[b] = 0;
          }
        }
      }
      TransposeRows(impl.level, rows.data(), quads, quads, 0, count,
                    xtd + (m0 / kTile) * quads * kTile, m0 % kTile);
    }
  });

  // Epilogue terms: offset = zero_point * row_sum (mod 2^32), scale = float(s_x) * s_w.
  const Packed<int32_t>& p = impl.packed;
  const int64_t padded = p.groups * p.r;
  std::vector<int32_t> offsets(padded);
  std::vector<float> scales(padded);
  const float input_scale = static_cast<float>(q.scale);
  for (int64_t n = 0; n < padded; ++n) {
    offsets[n] = static_cast<int32_t>(static_cast<uint32_t>(zero_point) *
                                      static_cast<uint32_t>(impl.row_sums[n]));
    scales[n] = input_scale * impl.weight_scales[n];
  }
  const SimdLevel level = impl.level;
  if (impl.gathered) {
    // Byte tiles [tiles][4 quads][kTile] from the quad tiles, in blocks of 16 quad rows.
    at::Tensor xb = at::empty({tiles, 4 * quads, kTile}, at::kByte);
    uint8_t* xbd = xb.data_ptr<uint8_t>();
    constexpr int64_t kQuadRows = 16;
    const int64_t row_blocks = (quads + kQuadRows - 1) / kQuadRows;
    at::parallel_for(0, tiles * row_blocks, 1, [&](int64_t begin, int64_t end) {
      for (int64_t item = begin; item < end; ++item) {
        const int64_t t = item / row_blocks, q0 = (item % row_blocks) * kQuadRows;
        QuadTileToBytes(level, xtd + t * quads * kTile, q0, std::min(quads, q0 + kQuadRows),
                        xbd + t * 4 * quads * kTile);
      }
    });
    RunBlocks(level, p, m, y.data_ptr<float>(),
              [&](int64_t t, int64_t g, const int32_t* cols, const int32_t* values, int64_t count,
                  int64_t tokens, float* out) {
                const Int8Epilogue e{offsets.data() + g * p.r, scales.data() + g * p.r,
                                     impl.bias.data() + g * p.r};
                RunInt8Gathered(level, cols, values, count, xbd + t * 4 * quads * kTile, e,
                                tokens, out);
              });
    return y.view(out_sizes);
  }
  RunBlocks(level, p, m, y.data_ptr<float>(),
            [&](int64_t t, int64_t g, const int32_t* index, const int32_t* values, int64_t count,
                int64_t tokens, float* out) {
              const Int8Epilogue e{offsets.data() + g * p.r, scales.data() + g * p.r,
                                   impl.bias.data() + g * p.r};
              RunInt8Group(level, p.r, index, values, count, xtd + t * quads * kTile, e, tokens,
                           out);
            });
  return y.view(out_sizes);
}

int64_t SparseInt8Linear::in_features() const { return impl_->in; }
int64_t SparseInt8Linear::out_features() const { return impl_->out; }
int64_t SparseInt8Linear::nnz() const { return impl_->nnz; }
double SparseInt8Linear::density() const {
  return static_cast<double>(impl_->nnz) / static_cast<double>(impl_->in * impl_->out);
}
double SparseInt8Linear::quad_density() const {
  const Packed<int32_t>& p = impl_->packed;
  // Nonzero quads (row groups of 1) or group entries (aligned or gathered) times rows.
  const int64_t stored = p.group_ptr.back() * p.r;
  return static_cast<double>(stored) / static_cast<double>(p.groups * p.r * impl_->quads);
}
int SparseInt8Linear::rows_per_group() const { return impl_->packed.r; }
bool SparseInt8Linear::gathered() const { return impl_->gathered; }
SimdLevel SparseInt8Linear::simd() const { return impl_->level; }
int64_t SparseInt8Linear::packed_bytes() const {
  return impl_->packed.Bytes() + static_cast<int64_t>(impl_->row_sums.size()) * 12;
}

at::Tensor ReferenceSparseLinear(const at::Tensor& weight, const at::Tensor& bias,
                                 const at::Tensor& mask, const at::Tensor& x) {
  const int64_t out = weight.size(0), in = weight.size(1);
  TORCH_CHECK(x.scalar_type() == at::kFloat && x.size(-1) == in,
              "ReferenceSparseLinear: expected Float [..., ", in, "], got ", DtypeString(x),
              " of shape ", ShapeString(x.sizes()));
  at::Tensor w = weight.to(at::kDouble);
  if (mask.defined()) w = w * mask.to(at::kBool).to(at::kDouble);
  w = w.contiguous();
  const at::Tensor x2 = x.reshape({-1, in}).to(at::kDouble).contiguous();
  const int64_t m = x2.size(0);
  const double* wd = w.data_ptr<double>();
  const double* xd = x2.data_ptr<double>();
  const at::Tensor b = bias.defined() ? bias.to(at::kDouble).contiguous() : at::Tensor();
  at::Tensor y = at::empty({m, out}, at::kFloat);
  float* yd = y.data_ptr<float>();
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t n = 0; n < out; ++n) {
      double acc = b.defined() ? b.data_ptr<double>()[n] : 0.0;
      for (int64_t k = 0; k < in; ++k) acc += xd[i * in + k] * wd[n * in + k];
      yd[i * out + n] = static_cast<float>(acc);
    }
  }
  std::vector<int64_t> out_sizes = x.sizes().vec();
  out_sizes.back() = out;
  return y.view(out_sizes);
}

}  // namespace kernels
