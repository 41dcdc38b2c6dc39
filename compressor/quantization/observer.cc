#include "compressor/quantization/observer.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <ATen/ATen.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace compressor {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

void CheckSchemeMatches(const Observer& observer, const QuantScheme& scheme) {
  const ObserverOptions& options = observer.options();
  TORCH_CHECK(scheme.per_channel == options.per_channel &&
                  (!scheme.per_channel || scheme.ch_axis == options.ch_axis),
              "observer \"", observer.name(), "\" is ",
              options.per_channel ? "per-channel along axis " : "per-tensor",
              options.per_channel ? std::to_string(options.ch_axis) : std::string(),
              " but the scheme is ", scheme.ToString());
}

absl::StatusOr<at::Tensor> StateTensor(const ObserverState& state, const std::string& key,
                                       at::ScalarType dtype, const std::string& observer) {
  auto it = state.find(key);
  if (it == state.end() || !it->second.defined()) {
    return absl::InvalidArgumentError(
        absl::StrCat("observer \"", observer, "\" state: key '", key, "' is missing"));
  }
  if (it->second.scalar_type() != dtype || it->second.dim() != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "observer \"", observer, "\" state: '", key, "' must be a 1-D ", c10::toString(dtype),
        " tensor, got ", c10::toString(it->second.scalar_type()), " of shape ",
        c10::str(it->second.sizes())));
  }
  return it->second.detach().clone();
}

int64_t FloorHalf(int64_t k) { return k >= 0 ? k / 2 : -((-k + 1) / 2); }

// Scale and zero point as ComputeQParams, for one range in scalar float32 arithmetic (the
// MSE search evaluates thousands of candidates).
struct ScalarQParams {
  float scale;
  int64_t zero_point;
};

ScalarQParams ScalarQParamsFor(float lo, float hi, const QuantScheme& scheme) {
  const int64_t qmin = scheme.quant_min();
  const int64_t qmax = scheme.quant_max();
  const float min_neg = std::min(lo, 0.0f);
  const float max_pos = std::max(hi, 0.0f);
  if (scheme.symmetric) {
    const float scale = std::max(std::max(-min_neg, max_pos) /
                                     static_cast<float>(static_cast<double>(qmax - qmin) / 2),
                                 static_cast<float>(kScaleEps));
    return {scale, scheme.dtype == "uint8" ? qmin + (qmax - qmin + 1) / 2 : 0};
  }
  const float scale = std::max((max_pos - min_neg) / static_cast<float>(qmax - qmin),
                               static_cast<float>(kScaleEps));
  const int64_t zero_point =
      std::clamp<int64_t>(qmin - static_cast<int64_t>(std::nearbyint(min_neg / scale)), qmin,
                          qmax);
  return {scale, zero_point};
}

// MXNet/TVM's _smooth_distribution: zeros become eps, the others give that mass back.
bool Smooth(std::vector<double>& d) {
  constexpr double kEps = 1e-4;
  const int64_t zeros = std::count(d.begin(), d.end(), 0.0);
  const int64_t nonzeros = static_cast<int64_t>(d.size()) - zeros;
  if (nonzeros == 0) return false;
  const double eps1 = kEps * static_cast<double>(zeros) / static_cast<double>(nonzeros);
  for (double& x : d) {
    x += x == 0 ? kEps : -eps1;
    if (x <= 0) return false;
  }
  return true;
}

// KL(p || q) of the smoothed, normalized distributions; +inf when smoothing fails.
double SmoothedKl(std::vector<double>& p, std::vector<double>& q) {
  if (!Smooth(p) || !Smooth(q)) return std::numeric_limits<double>::infinity();
  double sp = 0, sq = 0;
  for (size_t j = 0; j < p.size(); ++j) {
    sp += p[j];
    sq += q[j];
  }
  double kl = 0;
  for (size_t j = 0; j < p.size(); ++j) {
    const double pn = p[j] / sp;
    kl += pn * std::log(pn / (q[j] / sq));
  }
  return kl;
}

}  // namespace

absl::Status ObserverOptions::Validate(const std::string& source) const {
  auto error = [&](const char* key, const auto&... problem) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": ", key, " ", problem...));
  };
  if (per_channel && ch_axis < 0) return error("ch_axis", "must not be negative, got ", ch_axis);
  if (!(averaging_constant > 0 && averaging_constant <= 1)) {
    return error("averaging_constant", "must be in (0, 1], got ", averaging_constant);
  }
  if (!(percentile > 0 && percentile <= 100)) {
    return error("percentile", "must be in (0, 100], got ", percentile);
  }
  if (bins < 16 || bins > (int64_t{1} << 20)) {
    return error("histogram_bins", "must be in [16, 1048576], got ", bins);
  }
  return absl::OkStatus();
}

QuantParams Observer::QParams(const QuantScheme& scheme) const {
  CheckSchemeMatches(*this, scheme);
  const auto [lo, hi] = Range(scheme);
  return ComputeQParams(lo, hi, scheme);
}

// ---------------------------------------------------------------------------------------
// MinMaxObserver / MovingAverageMinMaxObserver

MinMaxObserver::MinMaxObserver(ObserverOptions options) : Observer(std::move(options)) {
  Reset();
}

void MinMaxObserver::Reset() {
  min_ = at::full({1}, kInf, at::kFloat);
  max_ = at::full({1}, -kInf, at::kFloat);
}

bool MinMaxObserver::observed() const {
  return !(min_.eq(kInf).all().item<bool>() && max_.eq(-kInf).all().item<bool>());
}

std::pair<at::Tensor, at::Tensor> MinMaxObserver::BatchMinMax(const at::Tensor& input) const {
  const at::Tensor x = input.detach().to(at::kFloat);
  if (!options_.per_channel) {
    const auto [lo, hi] = at::aminmax(x);
    return {lo.reshape({1}), hi.reshape({1})};
  }
  const int64_t axis = options_.ch_axis;
  TORCH_CHECK(axis < x.dim(), "observer \"", name(), "\": channel axis ", axis,
              " is out of range for a tensor of shape ", x.sizes());
  const at::Tensor rows = x.movedim(axis, 0).reshape({x.size(axis), -1});
  const auto [lo, hi] = at::aminmax(rows, /*dim=*/1);
  return {lo, hi};
}

void MinMaxObserver::Observe(const at::Tensor& x) {
  if (x.numel() == 0) return;
  auto [lo, hi] = BatchMinMax(x);
  if (!observed()) {
    min_ = lo;
    max_ = hi;
    return;
  }
  TORCH_CHECK(lo.sizes() == min_.sizes(), "observer \"", name(), "\": a tensor of shape ",
              x.sizes(), " gives ", lo.numel(), " channels, earlier ones gave ", min_.numel());
  min_ = at::minimum(min_, lo);
  max_ = at::maximum(max_, hi);
}

void MovingAverageMinMaxObserver::Observe(const at::Tensor& x) {
  if (x.numel() == 0) return;
  auto [lo, hi] = BatchMinMax(x);
  if (!observed()) {
    min_ = lo;
    max_ = hi;
    return;
  }
  TORCH_CHECK(lo.sizes() == min_.sizes(), "observer \"", name(), "\": a tensor of shape ",
              x.sizes(), " gives ", lo.numel(), " channels, earlier ones gave ", min_.numel());
  min_ = min_ + options_.averaging_constant * (lo - min_);
  max_ = max_ + options_.averaging_constant * (hi - max_);
}

std::pair<at::Tensor, at::Tensor> MinMaxObserver::Range(const QuantScheme& scheme) const {
  CheckSchemeMatches(*this, scheme);
  return {min_, max_};
}

ObserverState MinMaxObserver::State() const {
  return {{"min", min_.clone()}, {"max", max_.clone()}};
}

absl::Status MinMaxObserver::LoadState(const ObserverState& state) {
  absl::StatusOr<at::Tensor> lo = StateTensor(state, "min", at::kFloat, name());
  if (!lo.ok()) return lo.status();
  absl::StatusOr<at::Tensor> hi = StateTensor(state, "max", at::kFloat, name());
  if (!hi.ok()) return hi.status();
  if (lo->sizes() != hi->sizes() || (!options_.per_channel && lo->numel() != 1)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "observer \"", name(), "\" state: 'min' of shape ", c10::str(lo->sizes()),
        " and 'max' of shape ", c10::str(hi->sizes()), " do not fit a ",
        options_.per_channel ? "per-channel" : "per-tensor", " observer"));
  }
  min_ = *lo;
  max_ = *hi;
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------------------
// HistogramObserver

HistogramObserver::HistogramObserver(Method method, ObserverOptions options)
    : Observer(std::move(options)), method_(method) {
  TORCH_CHECK(!options_.per_channel, "observer \"", name(), "\" is per-tensor only");
  Reset();
}

std::string HistogramObserver::name() const {
  switch (method_) {
    case Method::kPercentile:
      return "percentile";
    case Method::kEntropy:
      return "kl";
    case Method::kMse:
      return "mse";
  }
  return "histogram";
}

void HistogramObserver::Reset() {
  width_ = 0.0;
  first_ = 0;
  counts_.clear();
  pending_zeros_ = 0.0;
  exact_zeros_ = 0.0;
  min_ = kInf;
  max_ = -kInf;
}

void HistogramObserver::MergeBinPairs() {
  const int64_t new_first = FloorHalf(first_);
  const int64_t last = first_ + static_cast<int64_t>(counts_.size()) - 1;
  std::vector<double> merged(FloorHalf(last) - new_first + 1, 0.0);
  for (size_t i = 0; i < counts_.size(); ++i) {
    merged[FloorHalf(first_ + static_cast<int64_t>(i)) - new_first] += counts_[i];
  }
  counts_ = std::move(merged);
  first_ = new_first;
  width_ *= 2;
}

void HistogramObserver::Observe(const at::Tensor& input) {
  if (input.numel() == 0) return;
  const at::Tensor x = input.detach().to(at::kFloat).reshape({-1});
  const auto [lo_t, hi_t] = at::aminmax(x);
  const float lo = lo_t.item<float>();
  const float hi = hi_t.item<float>();
  TORCH_CHECK(std::isfinite(lo) && std::isfinite(hi), "observer \"", name(),
              "\": a tensor of shape ", input.sizes(), " holds non-finite values");
  min_ = std::min(min_, lo);
  max_ = std::max(max_, hi);
  exact_zeros_ += static_cast<double>(x.eq(0).sum().item<int64_t>());
  if (width_ == 0) {
    const double amax = std::max(std::fabs(min_), std::fabs(max_));
    if (amax == 0) {
      pending_zeros_ += static_cast<double>(x.numel());
      return;
    }
    // Slightly wider than amax / bins so that amax itself falls in bin bins - 1.
    width_ = amax / static_cast<double>(options_.bins) * (1 + 1e-9);
    first_ = 0;
    counts_.assign(1, pending_zeros_);
    pending_zeros_ = 0;
  }
  const int64_t bins = options_.bins;
  auto index = [&](float v) { return static_cast<int64_t>(std::floor(double(v) / width_)); };
  while (index(lo) < -bins || index(hi) >= bins) MergeBinPairs();
  const int64_t last = first_ + static_cast<int64_t>(counts_.size()) - 1;
  const int64_t new_first = std::min(first_, index(lo));
  const int64_t new_last = std::max(last, index(hi));
  if (new_first != first_ || new_last != last) {
    std::vector<double> grown(new_last - new_first + 1, 0.0);
    std::copy(counts_.begin(), counts_.end(), grown.begin() + (first_ - new_first));
    counts_ = std::move(grown);
    first_ = new_first;
  }
  const at::Tensor indices =
      at::floor(x.to(at::kDouble) / width_).to(at::kLong) - first_;
  const at::Tensor added =
      at::bincount(indices, {}, static_cast<int64_t>(counts_.size())).to(at::kDouble).contiguous();
  const double* data = added.data_ptr<double>();
  for (size_t i = 0; i < counts_.size(); ++i) counts_[i] += data[i];
}

std::vector<double> HistogramObserver::AbsCounts() const {
  if (width_ == 0) return {};
  const int64_t last = first_ + static_cast<int64_t>(counts_.size()) - 1;
  const int64_t n = std::max<int64_t>(last + 1, -first_);
  std::vector<double> folded(std::max<int64_t>(n, 1), 0.0);
  for (size_t i = 0; i < counts_.size(); ++i) {
    const int64_t k = first_ + static_cast<int64_t>(i);
    folded[k >= 0 ? k : -k - 1] += counts_[i];
  }
  return folded;
}

double HistogramObserver::Quantile(double q) const {
  double total = 0;
  for (double c : counts_) total += c;
  const double target = q * total;
  double cumulative = 0;
  for (size_t i = 0; i < counts_.size(); ++i) {
    const double c = counts_[i];
    if (c > 0 && cumulative + c >= target) {
      const double fraction = std::clamp((target - cumulative) / c, 0.0, 1.0);
      return (double(first_ + static_cast<int64_t>(i)) + fraction) * width_;
    }
    cumulative += c;
  }
  return double(first_ + static_cast<int64_t>(counts_.size())) * width_;
}

double HistogramObserver::AbsQuantile(double q) const {
  const std::vector<double> folded = AbsCounts();
  double total = 0;
  for (double c : folded) total += c;
  const double target = q * total;
  double cumulative = 0;
  for (size_t j = 0; j < folded.size(); ++j) {
    const double c = folded[j];
    if (c > 0 && cumulative + c >= target) {
      return (double(j) + std::clamp((target - cumulative) / c, 0.0, 1.0)) * width_;
    }
    cumulative += c;
  }
  return double(folded.size()) * width_;
}

double HistogramObserver::EntropyThreshold(int64_t levels) const {
  std::vector<double> hist = AbsCounts();
  if (!hist.empty()) hist[0] = std::max(0.0, hist[0] - exact_zeros_);
  const int64_t n = static_cast<int64_t>(hist.size());
  if (n <= levels) return double(n) * width_;
  std::vector<double> suffix(n + 1, 0.0);
  for (int64_t j = n - 1; j >= 0; --j) suffix[j] = suffix[j + 1] + hist[j];
  std::vector<double> p, q, group_sum(levels), group_nonzero(levels);
  double best = std::numeric_limits<double>::infinity();
  int64_t best_i = n;
  for (int64_t i = levels; i <= n; ++i) {
    p.assign(hist.begin(), hist.begin() + i);
    p[i - 1] += suffix[i];  // The clipped outliers land in the last kept bin.
    std::fill(group_sum.begin(), group_sum.end(), 0.0);
    std::fill(group_nonzero.begin(), group_nonzero.end(), 0.0);
    for (int64_t j = 0; j < i; ++j) {
      const int64_t g = j * levels / i;
      group_sum[g] += hist[j];
      if (p[j] != 0) group_nonzero[g] += 1;
    }
    q.assign(i, 0.0);
    for (int64_t j = 0; j < i; ++j) {
      if (p[j] != 0) {
        const int64_t g = j * levels / i;
        q[j] = group_sum[g] / group_nonzero[g];
      }
    }
    const double kl = SmoothedKl(p, q);
    if (kl < best) {
      best = kl;
      best_i = i;
    }
  }
  return double(best_i) * width_;
}

std::pair<double, double> HistogramObserver::MseRange(const QuantScheme& scheme) const {
  // Non-empty bins as (center, count), centers clamped to the values actually seen.
  std::vector<std::pair<double, double>> bins;
  for (size_t i = 0; i < counts_.size(); ++i) {
    if (counts_[i] == 0) continue;
    const double center = (double(first_ + static_cast<int64_t>(i)) + 0.5) * width_;
    bins.emplace_back(std::clamp(center, double(min_), double(max_)), counts_[i]);
  }
  auto error = [&](double lo, double hi) {
    const ScalarQParams q = ScalarQParamsFor(float(lo), float(hi), scheme);
    const double s = q.scale;
    const double bottom = double(scheme.quant_min() - q.zero_point) * s;
    const double top = double(scheme.quant_max() - q.zero_point) * s;
    double total = 0;
    for (const auto& [x, count] : bins) {
      const double d = x < bottom ? bottom - x : (x > top ? x - top : 0.0);
      total += count * (d > 0 ? d * d : s * s / 12);
    }
    return total;
  };
  const double lo_all = std::min<double>(min_, 0.0);
  const double hi_all = std::max<double>(max_, 0.0);
  const double amax = std::max(-lo_all, hi_all);
  const int64_t steps = static_cast<int64_t>(AbsCounts().size());
  std::pair<double, double> best = {lo_all, hi_all};
  double best_error = std::numeric_limits<double>::infinity();
  for (int64_t j = steps; j >= 1; --j) {  // Widest first: ties keep the wider range.
    std::pair<double, double> candidate;
    if (scheme.symmetric) {
      const double a = std::min(double(j) * width_, amax);
      candidate = {std::max(-a, lo_all), std::min(a, hi_all)};
    } else {
      const double alpha = double(j) / double(steps);
      candidate = {alpha * lo_all, alpha * hi_all};
    }
    const double e = error(candidate.first, candidate.second);
    if (e < best_error) {
      best_error = e;
      best = candidate;
    }
  }
  return best;
}

std::pair<at::Tensor, at::Tensor> HistogramObserver::Range(const QuantScheme& scheme) const {
  CheckSchemeMatches(*this, scheme);
  auto as_tensors = [](double lo, double hi) {
    return std::make_pair(at::full({1}, static_cast<float>(lo), at::kFloat),
                          at::full({1}, static_cast<float>(hi), at::kFloat));
  };
  if (width_ == 0) return as_tensors(min_, max_);  // Never observed, or only zeros.
  double lo = min_, hi = max_;
  switch (method_) {
    case Method::kPercentile: {
      const double kept = options_.percentile / 100.0;
      if (scheme.symmetric) {
        const double a = AbsQuantile(kept);
        lo = -a;
        hi = a;
      } else {
        const double tail = (1.0 - kept) / 2.0;
        lo = Quantile(tail);
        hi = Quantile(1.0 - tail);
      }
      break;
    }
    case Method::kEntropy: {
      const int64_t levels = scheme.quant_max() - scheme.quant_min() + 1;
      const bool one_sided = !scheme.symmetric && min_ >= 0;
      const double a = EntropyThreshold(one_sided ? levels : levels / 2);
      lo = -a;
      hi = a;
      break;
    }
    case Method::kMse:
      std::tie(lo, hi) = MseRange(scheme);
      break;
  }
  // Never wider than what was seen.
  return as_tensors(std::max(lo, double(min_)), std::min(hi, double(max_)));
}

ObserverState HistogramObserver::State() const {
  const at::Tensor counts =
      counts_.empty() ? at::zeros({1}, at::kDouble)
                      : at::tensor(at::ArrayRef<double>(counts_), at::kDouble);
  return {{"bin_width", at::full({1}, width_, at::kDouble)},
          {"first_bin", at::full({1}, first_, at::kLong)},
          {"counts", counts},
          {"pending_zeros", at::full({1}, pending_zeros_, at::kDouble)},
          {"exact_zeros", at::full({1}, exact_zeros_, at::kDouble)},
          {"min", at::full({1}, min_, at::kFloat)},
          {"max", at::full({1}, max_, at::kFloat)}};
}

absl::Status HistogramObserver::LoadState(const ObserverState& state) {
  const std::string me = name();
  absl::StatusOr<at::Tensor> width = StateTensor(state, "bin_width", at::kDouble, me);
  if (!width.ok()) return width.status();
  absl::StatusOr<at::Tensor> first = StateTensor(state, "first_bin", at::kLong, me);
  if (!first.ok()) return first.status();
  absl::StatusOr<at::Tensor> counts = StateTensor(state, "counts", at::kDouble, me);
  if (!counts.ok()) return counts.status();
  absl::StatusOr<at::Tensor> pending = StateTensor(state, "pending_zeros", at::kDouble, me);
  if (!pending.ok()) return pending.status();
  absl::StatusOr<at::Tensor> exact = StateTensor(state, "exact_zeros", at::kDouble, me);
  if (!exact.ok()) return exact.status();
  absl::StatusOr<at::Tensor> lo = StateTensor(state, "min", at::kFloat, me);
  if (!lo.ok()) return lo.status();
  absl::StatusOr<at::Tensor> hi = StateTensor(state, "max", at::kFloat, me);
  if (!hi.ok()) return hi.status();
  const double w = width->item<double>();
  if (!(std::isfinite(w) && w >= 0) || counts->numel() == 0) {
    return absl::InvalidArgumentError(absl::StrCat("observer \"", me, "\" state: 'bin_width' ",
                                                   w, " or 'counts' of ", counts->numel(),
                                                   " bins is malformed"));
  }
  Reset();
  width_ = w;
  first_ = first->item<int64_t>();
  if (width_ > 0) {
    const at::Tensor c = counts->contiguous();
    counts_.assign(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
  }
  pending_zeros_ = pending->item<double>();
  exact_zeros_ = exact->item<double>();
  min_ = lo->item<float>();
  max_ = hi->item<float>();
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------------------
// Factory

const std::vector<std::string>& ObserverNames() {
  static const auto* names = new std::vector<std::string>{
      "minmax", "moving_average_minmax", "percentile", "kl", "mse"};
  return *names;
}

bool IsCalibrationObserver(const std::string& name) {
  return name == "percentile" || name == "kl" || name == "mse";
}

absl::StatusOr<std::unique_ptr<Observer>> CreateObserver(const std::string& name,
                                                         const ObserverOptions& options) {
  if (absl::Status status = options.Validate(absl::StrCat("observer \"", name, "\""));
      !status.ok()) {
    return status;
  }
  if (name == "minmax") return std::unique_ptr<Observer>(new MinMaxObserver(options));
  if (name == "moving_average_minmax") {
    return std::unique_ptr<Observer>(new MovingAverageMinMaxObserver(options));
  }
  if (IsCalibrationObserver(name) && options.per_channel) {
    return absl::InvalidArgumentError(absl::StrCat(
        "observer \"", name, "\" is per-tensor only; per-channel needs minmax or "
        "moving_average_minmax"));
  }
  if (name == "percentile") {
    return std::unique_ptr<Observer>(
        new HistogramObserver(HistogramObserver::Method::kPercentile, options));
  }
  if (name == "kl") {
    return std::unique_ptr<Observer>(
        new HistogramObserver(HistogramObserver::Method::kEntropy, options));
  }
  if (name == "mse") {
    return std::unique_ptr<Observer>(
        new HistogramObserver(HistogramObserver::Method::kMse, options));
  }
  return absl::InvalidArgumentError(absl::StrCat("observer \"", name, "\" is unknown; supported: ",
                                                 absl::StrJoin(ObserverNames(), ", ")));
}

}  // namespace compressor
