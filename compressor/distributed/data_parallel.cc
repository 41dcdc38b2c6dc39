#include "compressor/distributed/data_parallel.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <set>

#include <ATen/ATen.h>
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/utils/lambda_post_hook.h>
#include <torch/csrc/autograd/variable.h>
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
  RemoveHooks();
  PlanBuckets(parameters);
  if (options_.overlap_with_backward) {
    // A post hook on each parameter's gradient accumulator runs once per backward, after
    // the gradient was added to .grad (what DDP's reducer hooks).
    for (size_t i = 0; i < unique_.size(); ++i) {
      std::shared_ptr<torch::autograd::Node> accumulator =
          torch::autograd::impl::grad_accumulator(unique_[i]);
      if (accumulator == nullptr) continue;
      hook_keys_.push_back(accumulator->add_post_hook(
          std::make_unique<torch::autograd::utils::LambdaPostHook>(
              [this, i](const torch::autograd::variable_list& outputs,
                        const torch::autograd::variable_list& /*inputs*/) {
                OnGradientReady(i);
                return outputs;
              })));
      accumulators_.push_back(accumulator);
    }
  }
  return absl::OkStatus();
}

DataParallel::~DataParallel() { RemoveHooks(); }

void DataParallel::RemoveHooks() {
  for (size_t i = 0; i < accumulators_.size(); ++i) {
    std::static_pointer_cast<torch::autograd::Node>(accumulators_[i])->del_post_hook(hook_keys_[i]);
  }
  accumulators_.clear();
  hook_keys_.clear();
}

void DataParallel::PlanBuckets(const std::vector<at::Tensor>& parameters) {
  buckets_.clear();
  unique_.clear();
  std::set<const void*> seen;  // Tied weights (one tensor, two names) count once.
  for (const at::Tensor& p : parameters) {
    if (p.defined() && p.requires_grad() && seen.insert(p.unsafeGetTensorImpl()).second) {
      unique_.push_back(p);
    }
  }
  slot_.assign(unique_.size(), {0, 0});
  // Reverse order: backward produces the last layers' gradients first. The first bucket
  // is small (1 MB, as DDP's) so communication starts early.
  const double cap_bytes = group_->options().bucket_cap_mb * 1024.0 * 1024.0;
  const double first_cap = std::min(cap_bytes, 1024.0 * 1024.0);
  for (size_t k = unique_.size(); k-- > 0;) {
    const at::Tensor& p = unique_[k];
    const at::ScalarType dtype = p.scalar_type();
    const double bytes = double(p.numel()) * double(p.element_size());
    const double cap = buckets_.size() == 1 ? first_cap : cap_bytes;
    if (buckets_.empty() || buckets_.back().dtype != dtype ||
        (buckets_.back().numel > 0 &&
         double(buckets_.back().numel) * double(p.element_size()) + bytes > cap)) {
      buckets_.push_back(Bucket{dtype, {}, {}, 0, at::Tensor(), 0, false, PendingCollective()});
    }
    Bucket& bucket = buckets_.back();
    slot_[k] = {buckets_.size() - 1, bucket.numel};
    bucket.members.push_back(k);
    bucket.offsets.push_back(bucket.numel);
    bucket.numel += p.numel();
  }
  for (Bucket& bucket : buckets_) {
    bucket.flat = at::zeros({bucket.numel}, at::TensorOptions().dtype(bucket.dtype));
  }
  planned_for_ = parameters.size();
  copied_.assign(unique_.size(), false);
  ResetStep();
}

void DataParallel::ResetStep() {
  for (Bucket& bucket : buckets_) {
    bucket.pending = static_cast<int64_t>(bucket.members.size());
    bucket.launched = false;
  }
  std::fill(copied_.begin(), copied_.end(), false);
  next_launch_ = 0;
  armed_ = false;
}

void DataParallel::CopyIntoBucket(size_t member) {
  Bucket& bucket = buckets_[slot_[member].first];
  const at::Tensor& p = unique_[member];
  at::Tensor view = bucket.flat.slice(0, slot_[member].second, slot_[member].second + p.numel());
  const at::Tensor& grad = p.grad();
  if (grad.defined()) {
    view.copy_(grad.reshape({-1}));
  } else {
    view.zero_();
  }
  copied_[member] = true;
}

void DataParallel::LaunchReady(bool all) {
  while (next_launch_ < buckets_.size()) {
    Bucket& bucket = buckets_[next_launch_];
    if (!all && bucket.pending > 0) return;
    for (size_t member : bucket.members) {
      if (!copied_[member]) CopyIntoBucket(member);
    }
    absl::StatusOr<PendingCollective> work =
        group_->StartAllReduce({bucket.flat}, ReduceKind::kSum, "gradients");
    if (!work.ok()) {
      if (hook_error_.ok()) hook_error_ = work.status();
      return;
    }
    bucket.work = *std::move(work);
    bucket.launched = true;
    if (!all) ++started_in_backward_;
    ++next_launch_;
  }
}

void DataParallel::OnGradientReady(size_t member) {
  if (!armed_ || copied_[member]) return;
  const auto start = std::chrono::steady_clock::now();
  torch::NoGradGuard no_grad;
  CopyIntoBucket(member);
  Bucket& bucket = buckets_[slot_[member].first];
  if (--bucket.pending == 0) LaunchReady(/*all=*/false);
  allreduce_seconds_ +=
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void DataParallel::OnBeforeBackward(bool last_micro_batch) {
  armed_ = options_.overlap_with_backward && last_micro_batch && !accumulators_.empty();
}

absl::StatusOr<bool> DataParallel::Synchronize(const std::vector<at::Tensor>& parameters,
                                               bool local_finite) {
  torch::NoGradGuard no_grad;
  const auto start = std::chrono::steady_clock::now();
  if (buckets_.empty() || planned_for_ != parameters.size()) {
    // Not the list OnTrainBegin planned for (direct use without the Trainer): no hooks.
    RemoveHooks();
    PlanBuckets(parameters);
  }
  const int64_t world = group_->world_size();
  // Gradients not packed by their hooks during backward (every one without overlap; an
  // unused parameter's; one from an earlier micro-batch only) are packed now, and the
  // buckets not started yet start, in the same order on every rank.
  LaunchReady(/*all=*/true);
  // One small tensor travels last: per distinct parameter, how many ranks have a gradient
  // for it (one no rank used keeps no gradient, as in one process), and how many ranks saw
  // a non-finite loss.
  const int64_t count = static_cast<int64_t>(unique_.size());
  at::Tensor meta = at::zeros({count + 1}, at::kFloat);
  float* flags = meta.data_ptr<float>();
  flags[count] = local_finite ? 0.0f : 1.0f;
  for (int64_t i = 0; i < count; ++i) flags[i] = unique_[i].grad().defined() ? 1.0f : 0.0f;
  absl::Status status = hook_error_;
  hook_error_ = absl::OkStatus();
  if (status.ok()) {
    std::vector<at::Tensor> metas = {meta};
    status = group_->AllReduce(metas, ReduceKind::kSum, "gradients");
  }
  for (Bucket& bucket : buckets_) {
    absl::Status waited = bucket.work.Wait();
    if (status.ok()) status = waited;
  }
  ResetStep();
  if (!status.ok()) return status;
  const bool all_finite = flags[count] == 0.0f;
  for (Bucket& bucket : buckets_) {
    bucket.flat.div_(static_cast<double>(world));
    for (size_t m = 0; m < bucket.members.size(); ++m) {
      const size_t i = bucket.members[m];
      if (flags[i] <= 0) continue;
      const at::Tensor& p = unique_[i];
      const at::Tensor averaged =
          bucket.flat.slice(0, bucket.offsets[m], bucket.offsets[m] + p.numel()).view(p.sizes());
      at::Tensor& grad = p.mutable_grad();
      if (grad.defined()) {
        grad.copy_(averaged);
      } else {
        grad = averaged.clone();
      }
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
    std::shared_ptr<FakeQuantLinearKernel> module;
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
  RemoveHooks();
  if (options_.verify_consistency) RETURN_IF_ERROR(VerifyIdenticalParameters(model));
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
