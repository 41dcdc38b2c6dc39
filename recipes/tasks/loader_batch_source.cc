#include "recipes/tasks/loader_batch_source.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace recipes {

LoaderBatchSource::LoaderBatchSource(datasets::DataLoader loader, StreamStatus stream_status)
    : loader_(std::move(loader)), stream_status_(std::move(stream_status)) {}

absl::StatusOr<std::unique_ptr<LoaderBatchSource>> LoaderBatchSource::Create(
    std::shared_ptr<const datasets::Dataset> dataset, datasets::DataLoaderOptions options) {
  if (dataset == nullptr) return absl::InvalidArgumentError("LoaderBatchSource: dataset is null");
  ASSIGN_OR_RETURN(datasets::DataLoader loader,
                   datasets::DataLoader::Create(dataset.get(), std::move(options)));
  auto source = std::make_unique<LoaderBatchSource>(std::move(loader));
  source->owned_data_ = std::move(dataset);
  return source;
}

absl::StatusOr<std::unique_ptr<LoaderBatchSource>> LoaderBatchSource::Create(
    std::shared_ptr<datasets::ExampleStream> stream, datasets::DataLoaderOptions options,
    StreamStatus stream_status) {
  if (stream == nullptr) return absl::InvalidArgumentError("LoaderBatchSource: stream is null");
  ASSIGN_OR_RETURN(datasets::DataLoader loader,
                   datasets::DataLoader::Create(stream.get(), std::move(options)));
  auto source = std::make_unique<LoaderBatchSource>(std::move(loader), std::move(stream_status));
  source->owned_data_ = std::move(stream);
  return source;
}

void LoaderBatchSource::Restart(uint64_t epoch) { loader_.Restart(epoch); }

absl::StatusOr<bool> LoaderBatchSource::Next(compressor::TensorMap* batch) {
  datasets::Batch next;
  ASSIGN_OR_RETURN(const bool has_batch, loader_.Next(&next));
  if (!has_batch) {
    if (stream_status_) {
      const absl::Status status = stream_status_();
      if (!status.ok()) {
        return absl::Status(status.code(), absl::StrCat("epoch ", loader_.epoch(),
                                                        " ended early: ", status.message()));
      }
    }
    return false;
  }
  *batch = std::move(next);
  return true;
}

}  // namespace recipes
