#include "compressor/distributed/data_parallel.h"

#include <chrono>
#include <cstring>

#include <ATen/ATen.h>
#include <torch/utils.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"
#include "compressor/quantization/observer.h"
#include "compressor/quantization/qat.h"

namespace compressor {
namespace {

// FNV-1a over a tensor's bytes: equal on two ranks only if the values are bit-identical.
int64_t HashBytes(const at::Tensor& tensor) {
  const at::Tensor t = tensor.detach().contiguous();
  const auto* bytes = static_cast<const unsigned char*>(t.data_ptr());
  uint64_t hash = 1469598103934665603ULL;
  for (size_t i = 0, n = t.nbytes(); i < n; ++i) {
    hash = (hash ^ bytes[i]) * 1099511628211ULL;
  }
  int64_t out;
  std::memcpy(&out, &hash, sizeof(out));
  return out;
}

bool Broadcastable(const at::Tensor& t) {
  return t.defined() && (at::isFloatingType(t.scalar_type()) ||
                         t.scalar_type() == at::kLong || t.scalar_type() == at::kInt);
}

}  // namespace

absl::Status DataParallel::OnTrainBegin(torch::nn::Module& model,
                                        const std::vector<at::Tensor>& parameters) {
  torch::NoGradGuard no_grad;
  std::vector<at::Tensor> targets = parameters;
  for (const at::Tensor& buffer : model.buffers()) targets.push_back(buffer);
  std::vector<at::Tensor> sent, live;
  for (const at::Tensor& t : targets) {
    if (!Broadcastable(t)) continue;
    live.push_back(t);
    sent.push_back(t.is_contiguous() ? t : t.contiguous());
  }
  RETURN_IF_ERROR(group_->Broadcast(sent, 0, "rank 0's initial parameters"));
  model_ = &model;
  for (size_t i = 0; i < live.size(); ++i) {
    if (!sent[i].is_same(live[i])) live[i].copy_(sent[i]);
  }
  return absl::OkStatus();
}

void DataParallel::PlanBuckets(const std::vector<at::Tensor>& parameters) {
  buckets_.clear();
  const double cap_bytes = group_->options().bucket_cap_mb * 1024.0 * 1024.0;
  for (size_t i = 0; i < parameters.size(); ++i) {
    const at::Tensor& p = parameters[i];
    if (!p.requires_grad()) continue;
    const at::ScalarType dtype = p.scalar_type();
    const double bytes = double(p.numel()) * double(p.element_size());
    if (buckets_.empty() || buckets_.back().dtype != dtype ||
        (buckets_.back().numel > 0 &&
         double(buckets_.back().numel) * double(p.element_size()) + bytes > cap_bytes)) {
      buckets_.push_back(Bucket{dtype, {}, 0});
    }
    buckets_.back().members.push_back(i);
    buckets_.back().numel += p.numel();
  }
  planned_for_ = parameters.size();
}

absl::StatusOr<bool> DataParallel::Synchronize(const std::vector<at::Tensor>& parameters,
                                               bool local_finite) {
  torch::NoGradGuard no_grad;
  const auto start = std::chrono::steady_clock::now();
  if (buckets_.empty() || planned_for_ != parameters.size()) PlanBuckets(parameters);
  const int64_t world = group_->world_size();
  // One small tensor travels with the buckets: per parameter, how many ranks have a
  // gradient for it (a parameter no rank used keeps no gradient, as in one process), and
  // how many ranks saw a non-finite loss.
  const int64_t count = static_cast<int64_t>(parameters.size());
  at::Tensor meta = at::zeros({count + 1}, at::kFloat);
  float* flags = meta.data_ptr<float>();
  flags[count] = local_finite ? 0.0f : 1.0f;
  std::vector<at::Tensor> flats = {meta};
  for (const Bucket& bucket : buckets_) {
    at::Tensor flat = at::zeros({bucket.numel}, at::TensorOptions().dtype(bucket.dtype));
    int64_t offset = 0;
    for (size_t i : bucket.members) {
      const at::Tensor& p = parameters[i];
      const at::Tensor& grad = p.grad();
      if (grad.defined()) {
        flat.slice(0, offset, offset + p.numel()).copy_(grad.reshape({-1}));
        flags[i] = 1.0f;
      }
      offset += p.numel();
    }
    flats.push_back(flat);
  }
  RETURN_IF_ERROR(group_->AllReduce(flats, ReduceKind::kSum, "gradients"));
  const bool all_finite = flats[0].data_ptr<float>()[count] == 0.0f;
  const float* used = flats[0].data_ptr<float>();
  for (size_t b = 0; b < buckets_.size(); ++b) {
    at::Tensor& flat = flats[b + 1];
    flat.div_(static_cast<double>(world));
    int64_t offset = 0;
    for (size_t i : buckets_[b].members) {
      const at::Tensor& p = parameters[i];
      if (used[i] > 0) {
        const at::Tensor averaged = flat.slice(0, offset, offset + p.numel()).view(p.sizes());
        at::Tensor& grad = p.mutable_grad();
        if (grad.defined()) {
          grad.copy_(averaged);
        } else {
          grad = averaged.clone();
        }
      }
      offset += p.numel();
    }
  }
  // Observer ranges are merged every step, not only before they freeze: every rank then
  // holds the same state at all times, so rank 0's checkpoint is every rank's (a resumed
  // run continues exactly as an uninterrupted one), and fake quantization agrees.
  if (model_ != nullptr) RETURN_IF_ERROR(MergeObserverRanges(*model_));
  allreduce_seconds_ +=
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ++synchronized_steps_;
  return all_finite;
}

absl::Status DataParallel::MergeObserverRanges(torch::nn::Module& model) {
  struct Entry {
    std::shared_ptr<QuantizedLinearImpl> module;
    ObserverState state;
  };
  std::vector<Entry> entries;
  std::vector<at::Tensor> mins, maxes;
  std::vector<std::string> unmergeable;
  for (auto& [name, module] : QuantizedModules(model)) {
    if (module->frozen()) continue;
    for (const Observer* observer :
         {&module->weight_observer(), module->input_observer(), module->output_observer()}) {
      if (observer != nullptr && IsCalibrationObserver(observer->name())) {
        unmergeable.push_back(absl::StrCat(name, " (", observer->name(), ")"));
      }
    }
    Entry entry{module, module->State()};
    for (auto& [key, tensor] : entry.state) {
      if (absl::EndsWith(key, "/min")) mins.push_back(tensor);
      if (absl::EndsWith(key, "/max")) maxes.push_back(tensor);
    }
    entries.push_back(std::move(entry));
  }
  if (!unmergeable.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "data parallel: histogram observers cannot be merged over ranks: ",
        absl::StrJoin(unmergeable, ", "), "; calibrate on one process"));
  }
  if (entries.empty()) return absl::OkStatus();
  // One MIN all-reduce over [minima, -maxima] (in double: exact for every float value).
  std::vector<at::Tensor> parts;
  for (const at::Tensor& t : mins) parts.push_back(t.reshape({-1}).to(at::kDouble));
  for (const at::Tensor& t : maxes) parts.push_back(t.reshape({-1}).to(at::kDouble).neg());
  std::vector<at::Tensor> flat = {at::cat(parts)};
  RETURN_IF_ERROR(group_->AllReduce(flat, ReduceKind::kMin, "QAT observer ranges"));
  int64_t offset = 0;
  auto take = [&](at::Tensor& t, bool negate) {
    at::Tensor merged = flat[0].slice(0, offset, offset + t.numel()).view(t.sizes());
    offset += t.numel();
    t.copy_(negate ? merged.neg() : merged);
  };
  for (at::Tensor& t : mins) take(t, false);
  for (at::Tensor& t : maxes) take(t, true);
  for (Entry& entry : entries) RETURN_IF_ERROR(entry.module->LoadState(entry.state));
  return absl::OkStatus();
}

absl::Status DataParallel::VerifyIdenticalParameters(const torch::nn::Module& model) {
  std::vector<std::string> names;
  std::vector<int64_t> hashes;
  for (const auto& item : model.named_parameters()) {
    names.push_back(item.key());
    hashes.push_back(HashBytes(item.value()));
  }
  const at::Tensor local = at::tensor(hashes, at::kLong);
  std::vector<at::Tensor> low = {local.clone()}, high = {local.clone()};
  RETURN_IF_ERROR(group_->AllReduce(low, ReduceKind::kMin, "parameter hashes"));
  RETURN_IF_ERROR(group_->AllReduce(high, ReduceKind::kMax, "parameter hashes"));
  std::vector<std::string> differ;
  for (size_t i = 0; i < names.size(); ++i) {
    if (low[0][i].item<int64_t>() != high[0][i].item<int64_t>()) differ.push_back(names[i]);
  }
  if (!differ.empty()) {
    if (differ.size() > 5) differ.resize(5);
    return absl::InternalError(absl::StrCat("data parallel: rank ", group_->rank(),
                                            ": parameters differ between ranks: ",
                                            absl::StrJoin(differ, ", ")));
  }
  return absl::OkStatus();
}

absl::Status DataParallel::OnTrainEnd(torch::nn::Module& model) {
  RETURN_IF_ERROR(MergeObserverRanges(model));
  if (verify_consistency_) RETURN_IF_ERROR(VerifyIdenticalParameters(model));
  return absl::OkStatus();
}

absl::StatusOr<bool> ShardedBatchSource::Next(TensorMap* batch) {
  TensorMap mine;
  for (int64_t i = 0; i < world_size_; ++i) {
    TensorMap candidate;
    ASSIGN_OR_RETURN(const bool more, inner_->Next(&candidate));
    if (!more) return false;  // An incomplete group: no rank trains on it.
    if (i == rank_) mine = std::move(candidate);
  }
  *batch = std::move(mine);
  return true;
}

std::optional<int64_t> ShardedBatchSource::num_batches() const {
  const std::optional<int64_t> all = inner_->num_batches();
  if (!all) return std::nullopt;
  return *all / world_size_;
}

}  // namespace compressor
