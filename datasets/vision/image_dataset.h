// Image classification data held in memory (Fashion-MNIST, MNIST: 70,000 28x28 images are
// 55 MB as float), its loading from IDX image/label file pairs with normalisation, batches
// in a reproducible shuffled order, and the accuracy of logits.
//
//   ASSIGN_OR_RETURN(ImageClassificationData train,
//                    LoadFashionMnist("/usr/share/datasets/fashion-mnist", "train", {}));
//   ImageBatches batches(train, /*batch_size=*/128, /*shuffle=*/true, /*seed=*/42);
//   batches.Restart(/*epoch=*/0);
//   Batch batch;                                  // "pixel_values" [B,1,28,28], "labels" [B]
//   while (batches.Next(&batch)) { ... }
#ifndef DATASETS_VISION_IMAGE_DATASET_H_
#define DATASETS_VISION_IMAGE_DATASET_H_

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <string>

#include "absl/status/statusor.h"

namespace datasets {

// Where Debian's dataset-fashion-mnist package installs the four files.
inline constexpr char kFashionMnistDir[] = "/usr/share/datasets/fashion-mnist";

// Fashion-MNIST's class names, by label id.
const char* FashionMnistClassName(int64_t label);

struct ImageClassificationData {
  at::Tensor images;    // float32 [N, 1, H, W], normalised: (pixel / 255 - mean) / std.
  at::Tensor labels;    // int64 [N], in [0, num_classes).
  int64_t num_classes = 10;
  std::string source;   // The images file, for messages.
  int64_t size() const { return labels.defined() ? labels.size(0) : 0; }
};

struct ImageLoadOptions {
  float mean = 0.2860f;   // Fashion-MNIST training-set pixel mean (of pixel / 255).
  float stddev = 0.3530f; // ... and standard deviation.
  int64_t limit = 0;      // > 0: keep only the first `limit` examples (quick runs, tests).
  int64_t num_classes = 10;
};

// Reads an IDX image file ([N, H, W] uint8) and its label file ([N] uint8). Errors name the
// file and the field: IDX errors (idx_file.h), counts that differ, a label outside
// [0, num_classes), a non-positive stddev.
absl::StatusOr<ImageClassificationData> LoadIdxImageClassification(
    const std::string& images_path, const std::string& labels_path,
    const ImageLoadOptions& options);

// `split` "train" or "test" ("t10k"): {train,t10k}-{images-idx3,labels-idx1}-ubyte, with
// or without ".gz", in `dir`.
absl::StatusOr<ImageClassificationData> LoadFashionMnist(const std::string& dir,
                                                         const std::string& split,
                                                         const ImageLoadOptions& options);

// Batches of an ImageClassificationData: "pixel_values" float [B, 1, H, W] and "labels"
// int64 [B]. The order depends only on (seed, epoch), so a resumed run replays an epoch.
// The data must outlive this object.
class ImageBatches {
 public:
  ImageBatches(const ImageClassificationData& data, int64_t batch_size, bool shuffle,
               uint64_t seed, bool drop_last = false);
  void Restart(uint64_t epoch);
  // Fills *batch with the next batch; false at the end of the epoch.
  bool Next(std::map<std::string, at::Tensor>* batch);
  int64_t num_batches() const;

 private:
  const ImageClassificationData& data_;
  int64_t batch_size_;
  bool shuffle_;
  uint64_t seed_;
  bool drop_last_;
  at::Tensor order_;  // int64 permutation of this epoch.
  int64_t cursor_ = 0;
};

// Correct top-1 predictions of `logits` [N, C] against `labels` [N].
int64_t CountCorrect(const at::Tensor& logits, const at::Tensor& labels);

}  // namespace datasets

#endif  // DATASETS_VISION_IMAGE_DATASET_H_
