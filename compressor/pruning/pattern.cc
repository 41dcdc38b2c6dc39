#include "compressor/pruning/pattern.h"

#include <regex>

#include <ATen/ATen.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace compressor {
namespace {

// [out, ...] -> [out, in] view of a weight or score tensor.
at::Tensor As2d(const at::Tensor& t) { return t.reshape({t.size(0), -1}); }

std::string ShapeText(at::IntArrayRef shape) { return absl::StrJoin(shape, "x"); }

// Blocks of `rows` x `cols`; 1x1 is unstructured, 0 means a whole dimension (channels).
class BlockPattern : public PruningPattern {
 public:
  BlockPattern(std::string name, int64_t rows, int64_t cols)
      : name_(std::move(name)), rows_(rows), cols_(cols) {}

  std::string name() const override { return name_; }

  absl::Status CheckShape(at::IntArrayRef shape, const std::string& layer) const override {
    if (shape.size() < 2) {
      return absl::InvalidArgumentError(
          absl::StrCat(layer, ": pattern ", name_, " needs a weight of 2+ dims, got [",
                       ShapeText(shape), "]"));
    }
    const int64_t out = shape[0], in = InFeatures(shape);
    if (out % Rows(out) != 0 || in % Cols(in) != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(layer, ": weight ", out, "x", in, " cannot be tiled by ", name_,
                       " blocks"));
    }
    return absl::OkStatus();
  }

  at::Tensor UnitScores(const at::Tensor& scores) const override {
    const at::Tensor s = As2d(scores);
    const int64_t out = s.size(0), in = s.size(1), r = Rows(out), c = Cols(in);
    if (r == 1 && c == 1) return s.reshape({-1});
    return s.reshape({out / r, r, in / c, c}).sum({1, 3}).reshape({-1});
  }

  at::Tensor KeepMask(const at::Tensor& pruned, const at::Tensor& scores) const override {
    const at::Tensor s = As2d(scores);
    const int64_t out = s.size(0), in = s.size(1), r = Rows(out), c = Cols(in);
    const at::Tensor keep = pruned.logical_not();
    return keep.reshape({out / r, 1, in / c, 1})
        .expand({out / r, r, in / c, c})
        .reshape(scores.sizes());
  }

  int64_t WeightsPerPrunedUnit(at::IntArrayRef shape) const override {
    return Rows(shape[0]) * Cols(InFeatures(shape));
  }

 private:
  static int64_t InFeatures(at::IntArrayRef shape) {
    int64_t in = 1;
    for (size_t i = 1; i < shape.size(); ++i) in *= shape[i];
    return in;
  }
  int64_t Rows(int64_t out) const { return rows_ == 0 ? out : rows_; }
  int64_t Cols(int64_t in) const { return cols_ == 0 ? in : cols_; }

  std::string name_;
  int64_t rows_, cols_;
};

// Keep N of every M consecutive input weights. A unit is one group of M; its score is
// what pruning it would cost (the sum of its M-N smallest scores), so the schedule can
// move gradually from dense to all groups N:M.
class NmPattern : public PruningPattern {
 public:
  NmPattern(std::string name, int64_t n, int64_t m) : name_(std::move(name)), n_(n), m_(m) {}

  std::string name() const override { return name_; }

  absl::Status CheckShape(at::IntArrayRef shape, const std::string& layer) const override {
    int64_t in = 1;
    for (size_t i = 1; i < shape.size(); ++i) in *= shape[i];
    if (shape.size() < 2 || in % m_ != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          layer, ": weight [", ShapeText(shape), "] has input width not divisible by ", m_,
          " for pattern ", name_));
    }
    return absl::OkStatus();
  }

  at::Tensor UnitScores(const at::Tensor& scores) const override {
    const at::Tensor groups = As2d(scores).reshape({-1, m_});
    return std::get<0>(groups.topk(m_ - n_, /*dim=*/1, /*largest=*/false)).sum(1);
  }

  at::Tensor KeepMask(const at::Tensor& pruned, const at::Tensor& scores) const override {
    const at::Tensor groups = As2d(scores).reshape({-1, m_});
    const at::Tensor top = std::get<1>(groups.topk(n_, /*dim=*/1, /*largest=*/true));
    const at::Tensor keep_in_group =
        at::zeros_like(groups, groups.options().dtype(at::kBool)).scatter_(1, top, true);
    return at::where(pruned.unsqueeze(1), keep_in_group, at::ones_like(keep_in_group))
        .reshape(scores.sizes());
  }

  int64_t WeightsPerPrunedUnit(at::IntArrayRef) const override { return m_ - n_; }
  double MaxSparsity() const override { return 1.0 - double(n_) / double(m_); }

 private:
  std::string name_;
  int64_t n_, m_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<PruningPattern>> PruningPattern::Create(const std::string& name) {
  if (name == "unstructured" || name == "1x1") {
    return std::make_unique<BlockPattern>(name, 1, 1);
  }
  // As INC reads NxM: N rows (output features) by M columns (input features).
  if (name == "channelx1") return std::make_unique<BlockPattern>(name, 0, 1);
  if (name == "1xchannel") return std::make_unique<BlockPattern>(name, 1, 0);
  std::smatch match;
  static const std::regex kBlock("([0-9]+)x([0-9]+)");
  static const std::regex kNm("([0-9]+):([0-9]+)");
  if (std::regex_match(name, match, kBlock)) {
    const int64_t rows = std::stoll(match[1]), cols = std::stoll(match[2]);
    if (rows >= 1 && cols >= 1) return std::make_unique<BlockPattern>(name, rows, cols);
  }
  if (std::regex_match(name, match, kNm)) {
    const int64_t n = std::stoll(match[1]), m = std::stoll(match[2]);
    if (n >= 1 && n < m) return std::make_unique<NmPattern>(name, n, m);
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "pattern \"", name,
      "\" is not one of: unstructured, NxM blocks (e.g. 4x1, 1x4), N:M with N < M (e.g. "
      "2:4), channelx1, 1xchannel"));
}

}  // namespace compressor
