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
//  - Synchronize averages every gradient in buckets of bucket_cap_mb (launched together,
//    Gloo overlaps them; not yet overlapped with backward) before pruning masks the
//    gradients, snip_momentum scores them and the loop clips them, so weights stay
//    bit-identical and so do the masks computed from them (local or global scope);
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
#include <optional>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>

#include "absl/status/statusor.h"
#include "compressor/distributed/process_group.h"
#include "compressor/train/trainer.h"

namespace compressor {

class DataParallel : public GradientSynchronizer {
 public:
  // `group` is not owned and must outlive this object.
  explicit DataParallel(ProcessGroup* group, bool verify_consistency = true)
      : group_(group), verify_consistency_(verify_consistency) {}

  absl::Status OnTrainBegin(torch::nn::Module& model,
                            const std::vector<at::Tensor>& parameters) override;
  absl::StatusOr<bool> Synchronize(const std::vector<at::Tensor>& parameters,
                                   bool local_finite) override;
  absl::Status OnTrainEnd(torch::nn::Module& model) override;
  bool is_main_process() const override { return group_->rank() == 0; }

  // Merges the range observers of every not yet frozen QuantizedLinear (compressor/
  // quantization) over the ranks. Histogram (calibration) observers cannot be merged
  // this way: an error names them.
  absl::Status MergeObserverRanges(torch::nn::Module& model);
  // Fails naming the parameters whose values differ between ranks.
  absl::Status VerifyIdenticalParameters(const torch::nn::Module& model);

  // Time spent in gradient all-reduces and how many steps were synchronized.
  double allreduce_seconds() const { return allreduce_seconds_; }
  int64_t synchronized_steps() const { return synchronized_steps_; }
  int64_t num_buckets() const { return static_cast<int64_t>(buckets_.size()); }

 private:
  struct Bucket {
    at::ScalarType dtype;
    std::vector<size_t> members;  // Indices into the parameter list.
    int64_t numel = 0;
  };
  void PlanBuckets(const std::vector<at::Tensor>& parameters);

  ProcessGroup* group_;
  bool verify_consistency_;
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
