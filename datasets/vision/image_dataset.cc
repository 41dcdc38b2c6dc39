#include "datasets/vision/image_dataset.h"

#include <ATen/ATen.h>

#include <fstream>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "datasets/vision/idx_file.h"

namespace datasets {
namespace {

bool Exists(const std::string& path) { return std::ifstream(path).good(); }

}  // namespace

const char* FashionMnistClassName(int64_t label) {
  static const char* const kNames[] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                       "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  return label >= 0 && label < 10 ? kNames[label] : "?";
}

absl::StatusOr<ImageClassificationData> LoadIdxImageClassification(
    const std::string& images_path, const std::string& labels_path,
    const ImageLoadOptions& options) {
  if (!(options.stddev > 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat(images_path, ": stddev must be > 0, got ", options.stddev));
  }
  if (options.num_classes < 2 || options.num_classes > 256) {
    return absl::InvalidArgumentError(absl::StrCat(
        labels_path, ": num_classes must be in [2, 256], got ", options.num_classes));
  }
  ASSIGN_OR_RETURN(at::Tensor images, ReadIdxFile(images_path, 3));
  ASSIGN_OR_RETURN(at::Tensor labels, ReadIdxFile(labels_path, 1));
  if (images.size(0) != labels.size(0)) {
    return absl::InvalidArgumentError(absl::StrCat(
        labels_path, ": size[0]: ", labels.size(0), " labels for ", images.size(0),
        " images in ", images_path));
  }
  const int64_t max_label = labels.max().item<int64_t>();
  if (max_label >= options.num_classes) {
    const int64_t index = labels.ge(options.num_classes).nonzero()[0][0].item<int64_t>();
    return absl::InvalidArgumentError(absl::StrCat(labels_path, ": label[", index, "] = ",
                                                   labels[index].item<int64_t>(),
                                                   " is not in [0, ", options.num_classes, ")"));
  }
  if (options.limit > 0 && options.limit < images.size(0)) {
    images = images.narrow(0, 0, options.limit);
    labels = labels.narrow(0, 0, options.limit);
  }
  ImageClassificationData data;
  data.images = images.to(at::kFloat)
                    .div_(255.0f)
                    .sub_(options.mean)
                    .div_(options.stddev)
                    .unsqueeze(1)
                    .contiguous();
  data.labels = labels.to(at::kLong).contiguous();
  data.num_classes = options.num_classes;
  data.source = images_path;
  return data;
}

absl::StatusOr<ImageClassificationData> LoadFashionMnist(const std::string& dir,
                                                         const std::string& split,
                                                         const ImageLoadOptions& options) {
  std::string prefix;
  if (split == "train") {
    prefix = "train";
  } else if (split == "test" || split == "t10k") {
    prefix = "t10k";
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("Fashion-MNIST split \"", split, "\" is not one of: train, test"));
  }
  auto find = [&](const std::string& stem) {
    const std::string plain = absl::StrCat(dir, "/", prefix, "-", stem, "-ubyte");
    return Exists(plain + ".gz") || !Exists(plain) ? plain + ".gz" : plain;
  };
  const std::string images = find("images-idx3");
  const std::string labels = find("labels-idx1");
  if (!Exists(images)) {
    return absl::NotFoundError(absl::StrCat(
        images, ": not found (install Debian's dataset-fashion-mnist: "
                "bash tools/install_deps.sh, or pass the directory holding the IDX files)"));
  }
  return LoadIdxImageClassification(images, labels, options);
}

ImageBatches::ImageBatches(const ImageClassificationData& data, int64_t batch_size,
                           bool shuffle, uint64_t seed, bool drop_last)
    : data_(data),
      batch_size_(batch_size),
      shuffle_(shuffle),
      seed_(seed),
      drop_last_(drop_last) {
  TORCH_CHECK(batch_size > 0, "ImageBatches: batch_size must be > 0, got ", batch_size);
  Restart(0);
}

void ImageBatches::Restart(uint64_t epoch) {
  cursor_ = 0;
  if (!shuffle_) {
    order_ = at::arange(data_.size(), at::kLong);
    return;
  }
  at::Generator generator = at::detail::createCPUGenerator(seed_ * 1000003ULL + epoch);
  order_ = at::randperm(data_.size(), generator, at::kLong);
}

bool ImageBatches::Next(std::map<std::string, at::Tensor>* batch) {
  const int64_t n = data_.size();
  if (cursor_ >= n) return false;
  const int64_t take = std::min(batch_size_, n - cursor_);
  if (drop_last_ && take < batch_size_) return false;
  const at::Tensor index = order_.narrow(0, cursor_, take);
  cursor_ += take;
  batch->clear();
  (*batch)["pixel_values"] = data_.images.index_select(0, index);
  (*batch)["labels"] = data_.labels.index_select(0, index);
  return true;
}

int64_t ImageBatches::num_batches() const {
  const int64_t n = data_.size();
  return drop_last_ ? n / batch_size_ : (n + batch_size_ - 1) / batch_size_;
}

int64_t CountCorrect(const at::Tensor& logits, const at::Tensor& labels) {
  TORCH_CHECK(logits.dim() == 2 && labels.dim() == 1 && logits.size(0) == labels.size(0),
              "CountCorrect: logits ", logits.sizes(), " and labels ", labels.sizes(),
              " do not match");
  return logits.argmax(1).eq(labels).sum().item<int64_t>();
}

}  // namespace datasets
