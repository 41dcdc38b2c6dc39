// Image classification as a task for compressor::Trainer, and the measurements the vision
// recipes report: accuracy, weight sparsity, model size and CPU latency of any model that
// maps images to logits (fp32, fake-quant or INT8).
//
//   ImageBatchSource batches(train_data, /*batch_size=*/128, /*seed=*/42);
//   compressor::TaskFunctions task = ImageClassificationTask();
//   compressor::Trainer trainer(trainer_config, task, &batches);
//   ASSIGN_OR_RETURN(double accuracy, Accuracy(*model, test_data, 256));
#ifndef RECIPES_VISION_VISION_TASK_H_
#define RECIPES_VISION_VISION_TASK_H_

#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "compressor/train/trainer.h"
#include "datasets/vision/image_dataset.h"

namespace recipes {

// Shuffled training batches ("pixel_values", "labels") for the Trainer; `data` must outlive it.
class ImageBatchSource : public compressor::BatchSource {
 public:
  ImageBatchSource(const datasets::ImageClassificationData& data, int64_t batch_size,
                   uint64_t seed)
      : batches_(data, batch_size, /*shuffle=*/true, seed, /*drop_last=*/true) {}
  void Restart(uint64_t epoch) override { batches_.Restart(epoch); }
  absl::StatusOr<bool> Next(compressor::TensorMap* batch) override { return batches_.Next(batch); }
  std::optional<int64_t> num_batches() const override { return batches_.num_batches(); }

 private:
  datasets::ImageBatches batches_;
};

// Logits of `model` (a models::ResNet, or any module registered as unary with
// base::RegisterUnaryForward) for images [B, C, H, W].
at::Tensor ForwardImages(torch::nn::Module& model, const at::Tensor& images);

// forward: {"logits"}; loss: cross-entropy against "labels"; evaluate: accuracy on
// `eval_data` when given (it must outlive the task).
compressor::TaskFunctions ImageClassificationTask(
    const datasets::ImageClassificationData* eval_data = nullptr, int64_t eval_batch_size = 256);

// Top-1 accuracy (a fraction) in eval mode without gradients; restores the training mode.
absl::StatusOr<double> Accuracy(torch::nn::Module& model,
                                const datasets::ImageClassificationData& data,
                                int64_t batch_size);

struct WeightStats {
  int64_t weights = 0;  // Elements of conv/linear weights (fp32, fake-quant or int8).
  int64_t zeros = 0;    // ... that are exactly zero.
  double sparsity() const { return weights ? double(zeros) / double(weights) : 0.0; }
};
// Over every parameter or buffer named "*.weight" with 2 or more dimensions.
WeightStats MeasureWeights(torch::nn::Module& model);

struct SizeStats {
  int64_t bytes = 0;             // Parameters + buffers as stored (dense).
  int64_t compressed_bytes = 0;  // The same bytes through zlib (level 6): what sparsity saves
                                 // in a zipped file.
};
SizeStats MeasureSize(torch::nn::Module& model);

// Median wall time in milliseconds of a forward pass on `batch` random images of
// [channels, size, size], after `warmup` runs, over `iterations` runs (eval, no grad).
double MedianLatencyMs(torch::nn::Module& model, int64_t batch, int64_t channels, int64_t size,
                       int warmup, int iterations);

}  // namespace recipes

#endif  // RECIPES_VISION_VISION_TASK_H_
