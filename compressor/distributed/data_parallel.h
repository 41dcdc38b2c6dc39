// Data-parallel training with the built-in Trainer: every rank holds the whole model, sees
// its own shard of the batches, and takes identical optimizer steps because gradients are
// averaged over the ranks before the step (what PyTorch's DDP does).
//
//   ASSIGN_OR_RETURN(auto group, ProcessGroup::Create(options));
//   DataParallel data_parallel(group.get());
//   ShardedBatchSource shard(&all_batches, group->rank(), group->world_size());
//   Trainer trainer(config, task, &shard);
//   trainer.set_gradient_synchronizer(&data_parallel);
//   // global batch = per-rank batch x world_size x gradient_accumulation_steps
//
// What keeps the compression components rank-consistent:
//  - OnTrainBegin broadcasts rank 0's parameters and buffers (after QAT swapped modules),
//    including the components' trainable parameters (distillation projections);
//  - gradients are averaged in buckets of bucket_cap_mb (the first one 1 MB, as DDP),
//    filled in reverse parameter order; with overlap_with_backward (the default) a
//    bucket's all-reduce starts from autograd hooks (grad-accumulator post hooks) as soon
//    as backward has produced all its gradients, and Synchronize waits for them; only the
//    last micro-batch of a gradient accumulation triggers them (DDP's no_sync). Without
//    it, Synchronize launches every bucket after backward. Either way this happens before
//    pruning masks the gradients, snip_momentum scores them and the loop clips them, so
//    weights stay bit-identical and so do the masks computed from them;
//  - Synchronize and OnTrainEnd merge the QAT observers' ranges (min over ranks' mins,
//    max over maxes; one small all-reduce per step), so every rank fake-quantizes alike,
//    rank 0's checkpoint holds every rank's state (resume is exact), and every rank
//    converts to the same INT8 model; OnTrainEnd then checks (parameter hashes, one all-reduce) that the ranks really hold identical
//    weights, naming the first parameters that differ;
//  - only rank 0 writes checkpoints and logs (is_main_process); every rank resumes from
//    the same checkpoint directory.
// Equality with one process on the global batch holds when the task loss is a mean over
// the examples of a batch and every rank's batches have the same size.
#ifndef COMPRESSOR_DISTRIBUTED_DATA_PARALLEL_H_
#define COMPRESSOR_DISTRIBUTED_DATA_PARALLEL_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <utility>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "compressor/distributed/process_group.h"
#include "compressor/train/trainer.h"

namespace compressor {

struct DataParallelOptions {
  // At the end of training, check that every rank holds bit-identical parameters.
  bool verify_consistency = true;
  // Start each bucket's all-reduce from autograd hooks during backward (else after it).
  bool overlap_with_backward = true;
};

class DataParallel : public GradientSynchronizer {
 public:
  // `group` is not owned and must outlive this object.
  explicit DataParallel(ProcessGroup* group, bool verify_consistency = true)
      : DataParallel(group, DataParallelOptions{verify_consistency, true}) {}
  DataParallel(ProcessGroup* group, DataParallelOptions options)
      : group_(group), options_(options) {}
  ~DataParallel() override;

  absl::Status OnTrainBegin(torch::nn::Module& model,
                            const std::vector<at::Tensor>& parameters) override;
  void OnBeforeBackward(bool last_micro_batch) override;
  absl::StatusOr<bool> Synchronize(const std::vector<at::Tensor>& parameters,
                                   bool local_finite) override;
  absl::Status OnTrainEnd(torch::nn::Module& model) override;
  bool is_main_process() const override { return group_->rank() == 0; }

  // Merges the range observers of every not yet frozen fake-quant Linear (compressor/
  // quantization) over the ranks. Histogram (calibration) observers cannot be merged
  // this way: an error names them.
  absl::Status MergeObserverRanges(torch::nn::Module& model);
  // Fails naming the parameters whose values differ between ranks.
  absl::Status VerifyIdenticalParameters(const torch::nn::Module& model);

  // Time the training thread spent on gradient averaging (packing, launching, waiting,
  // unpacking; with overlap, what backward did not hide), and how many steps were
  // synchronized; buckets whose all-reduce started during backward.
  double allreduce_seconds() const { return allreduce_seconds_; }
  int64_t synchronized_steps() const { return synchronized_steps_; }
  int64_t num_buckets() const { return static_cast<int64_t>(buckets_.size()); }
  int64_t buckets_started_in_backward() const { return started_in_backward_; }

 private:
  struct Bucket {
    at::ScalarType dtype;
    std::vector<size_t> members;  // Indices into unique_.
    std::vector<int64_t> offsets;  // Of each member in `flat`.
    int64_t numel = 0;
    at::Tensor flat;               // The bucket's gradients, all-reduced in place.
    int64_t pending = 0;           // Members whose hook has not fired this step.
    bool launched = false;
    PendingCollective work;
  };
  // Buckets over the distinct parameters that require gradients, in reverse order.
  void PlanBuckets(const std::vector<at::Tensor>& parameters);
  void ResetStep();
  void OnGradientReady(size_t member);
  // Starts every bucket not started yet whose predecessors are (in order on every rank);
  // with `all`, also the incomplete ones (their missing gradients as they are now).
  void LaunchReady(bool all);
  void CopyIntoBucket(size_t member);
  void RemoveHooks();

  ProcessGroup* group_;
  DataParallelOptions options_;
  std::vector<at::Tensor> unique_;            // Distinct parameters, original order.
  std::vector<std::pair<size_t, int64_t>> slot_;  // unique_ index -> (bucket, offset).
  std::vector<bool> copied_;                  // unique_ index: gradient packed this step.
  size_t next_launch_ = 0;
  bool armed_ = false;                        // This backward may start all-reduces.
  absl::Status hook_error_;
  std::vector<std::shared_ptr<void>> accumulators_;  // Kept alive: they hold the hooks.
  std::vector<uintptr_t> hook_keys_;
  int64_t started_in_backward_ = 0;
  torch::nn::Module* model_ = nullptr;  // Set by OnTrainBegin (observer merges).
  std::vector<Bucket> buckets_;
  size_t planned_for_ = 0;  // Parameter count the plan was made for.
  double allreduce_seconds_ = 0.0;
  int64_t synchronized_steps_ = 0;
};

// Rank `rank`'s shard of another BatchSource: of every `world_size` consecutive batches
// it keeps the rank-th, and drops an incomplete group at the end of an epoch so every
// rank takes the same number of steps. Every rank reads (not trains on) all batches.
class ShardedBatchSource : public BatchSource {
 public:
  ShardedBatchSource(BatchSource* inner, int64_t rank, int64_t world_size)
      : inner_(inner), rank_(rank), world_size_(world_size) {}

  void Restart(uint64_t epoch) override { inner_->Restart(epoch); }
  absl::StatusOr<bool> Next(TensorMap* batch) override;
  std::optional<int64_t> num_batches() const override;

 private:
  BatchSource* inner_;
  int64_t rank_;
  int64_t world_size_;
};

}  // namespace compressor

#endif  // COMPRESSOR_DISTRIBUTED_DATA_PARALLEL_H_
