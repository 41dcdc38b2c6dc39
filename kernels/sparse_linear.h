// Sparse-weight x dense-activation linear layers, Y = X W^T + b, in fp32 and INT8, packed once
// from a dense weight (+ optional keep-mask), with a scalar reference for tests.
//
// How they are fast: the activations are transposed into tiles of 128 tokens, X^T[k][token],
// so every nonzero weight w[n][k] is one broadcast and a few FMAs over a contiguous vector of
// tokens (AVX-512: 8 zmm = 128 tokens). The weights are stored per group of R output rows
// (R = 1 for unstructured sparsity, R = 4 when 4 consecutive rows share their nonzero columns,
// i.e. 4x1 blocks: one activation load then feeds 4 rows). INT8 works the same way on
// "quads": 4 consecutive input features of one token packed in a 32-bit lane, so one
// vpdpbusd (AVX-512 VNNI) multiplies a broadcast group of 4 int8 weights w[n][4q..4q+3] with
// 16 tokens' quads; a quad whose 4 weights are all zero is skipped, which is perfect for 1x4
// block sparsity and wastes work for unstructured sparsity (see SparseInt8Linear).
// For 4x1 blocks (groups of 4 rows) aligned quads are mostly zero (90% sparsity: 34% of the
// quads hold a nonzero, one on average), so INT8 groups of 4 rows can instead gather their
// nonzero columns into dense quads of 4 arbitrary input features: the activations are then
// kept byte-transposed (one row of 128 tokens per input feature) and each gathered quad is
// interleaved from 4 such rows at run time (8 byte/word unpacks per 64 tokens), feeding 4
// rows x 4 vpdpbusd; see SparsePackOptions::int8_layout.
//
//   ASSIGN_OR_RETURN(auto layer, kernels::SparseLinear::Create(weight, bias, mask));
//   at::Tensor y = layer->Forward(x);  // fp32 [..., in] -> fp32 [..., out]
//
//   kernels::Int8LinearParams p = kernels::QuantizeLinearWeights(weight, bias, true);
//   ASSIGN_OR_RETURN(auto q, kernels::SparseInt8Linear::Create(p));
//   at::Tensor y8 = q->Forward(x);   // == kernels::ReferenceInt8Linear(p, x), bit for bit
//
// Runtime dispatch: AVX-512 (fp32), AVX-512 VNNI (INT8), AVX2 (fp32 and INT8 through
// vpmaddwd), else scalar; SparsePackOptions::max_simd caps it (tests run every path).
// Forward() is thread-safe and splits (token tile x 16 output rows) work items over
// at::parallel_for, so it honours at::set_num_threads. Inference only: no autograd.
#ifndef KERNELS_SPARSE_LINEAR_H_
#define KERNELS_SPARSE_LINEAR_H_

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "kernels/int8_linear.h"

namespace kernels {

// Instruction sets the sparse kernels have code for, in increasing order.
enum class SimdLevel { kScalar = 0, kAvx2 = 1, kAvx512 = 2, kAvx512Vnni = 3 };

// The best level this CPU supports (from __builtin_cpu_supports).
SimdLevel DetectSimdLevel();
const char* SimdLevelName(SimdLevel level);

struct SparsePackOptions {
  // Output rows per weight group: 1, 4, or 0 to choose at pack time (4 when grouping adds at
  // most 20% zero-padded work, as for 4x1 block sparsity; else 1).
  int rows_per_group = 0;
  // Highest instruction set to use; the effective level is min(this, DetectSimdLevel()).
  SimdLevel max_simd = SimdLevel::kAvx512Vnni;
  // INT8 only, groups of 4 rows only (rows_per_group resolved to 4): kAlignedQuads stores the
  // quads 4q..4q+3 that hold a nonzero; kGatheredQuads packs each group's nonzero input
  // columns densely into quads of any 4 columns (activations interleaved at run time);
  // kAuto gathers on AVX-512 VNNI when that stores at most 2/3 of the aligned quads (90% 4x1
  // blocks: ~30%). Any layout runs on every SimdLevel.
  enum class Int8Layout { kAuto, kAlignedQuads, kGatheredQuads };
  Int8Layout int8_layout = Int8Layout::kAuto;
};

// fp32 sparse linear layer. Weights with value exactly 0 (or mask false) are dropped at pack
// time; the rest are kept in fp32, so the result equals the dense product up to the order of
// fp32 additions.
class SparseLinear {
 public:
  // weight: Float [out, in]; bias: Float [out] or undefined; mask: Bool (or any dtype,
  // nonzero = keep) of weight's shape, or undefined (keep every nonzero weight).
  static absl::StatusOr<std::unique_ptr<SparseLinear>> Create(const at::Tensor& weight,
                                                              const at::Tensor& bias,
                                                              const at::Tensor& mask = {},
                                                              const SparsePackOptions& options = {});
  ~SparseLinear();
  SparseLinear(const SparseLinear&) = delete;
  SparseLinear& operator=(const SparseLinear&) = delete;

  // x: Float [..., in], any strides. Returns Float [..., out]. TORCH_CHECKs dtype and shape.
  at::Tensor Forward(const at::Tensor& x) const;

  int64_t in_features() const;
  int64_t out_features() const;
  // Nonzero weights kept, and nonzeros / (in * out).
  int64_t nnz() const;
  double density() const;
  int rows_per_group() const;
  SimdLevel simd() const;
  // Bytes of the packed weights: values (incl. zero padding of row groups) and indices.
  int64_t packed_bytes() const;

 private:
  struct Impl;
  explicit SparseLinear(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// INT8 sparse linear layer with exactly Int8Linear's semantics (same Int8LinearParams, same
// quantization of the input, int32 accumulation, y = float(acc) * (s_x * s_w) + bias), so
// Forward() equals ReferenceInt8Linear(params, x) exactly. Quads (4 consecutive input
// features of one output row) with any nonzero int8 weight are stored and computed whole:
// unstructured sparsity s leaves 1 - s^4 of the quads (34% at 90%), 1x4 blocks leave 1 - s.
class SparseInt8Linear {
 public:
  // `params` as for Int8Linear::Create (validated the same way).
  static absl::StatusOr<std::unique_ptr<SparseInt8Linear>> Create(
      const Int8LinearParams& params, const SparsePackOptions& options = {});
  ~SparseInt8Linear();
  SparseInt8Linear(const SparseInt8Linear&) = delete;
  SparseInt8Linear& operator=(const SparseInt8Linear&) = delete;

  at::Tensor Forward(const at::Tensor& x) const;

  int64_t in_features() const;
  int64_t out_features() const;
  // Nonzero int8 weights, and nonzeros / (in * out).
  int64_t nnz() const;
  double density() const;
  // Stored quads / all quads (>= density()).
  double quad_density() const;
  int rows_per_group() const;
  // True when the groups store gathered quads (SparsePackOptions::Int8Layout).
  bool gathered() const;
  SimdLevel simd() const;
  int64_t packed_bytes() const;

 private:
  struct Impl;
  explicit SparseInt8Linear(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Scalar reference for SparseLinear: y = x (weight * mask)^T + bias with double sums, rounded
// to float. Slow; for tests.
at::Tensor ReferenceSparseLinear(const at::Tensor& weight, const at::Tensor& bias,
                                 const at::Tensor& mask, const at::Tensor& x);

}  // namespace kernels

#endif  // KERNELS_SPARSE_LINEAR_H_
