// The bridge between the datasets layer's DataLoader and the compressor's Trainer: a
// compressor::BatchSource that serves a DataLoader's padded batches as TensorMaps, epoch by
// epoch in the loader's reproducible order (so a resumed run replays the same batches).
//
//   ASSIGN_OR_RETURN(std::unique_ptr<LoaderBatchSource> batches,
//                    LoaderBatchSource::Create(dataset, loader_options));
//   compressor::Trainer trainer(trainer_config, task, batches.get());
#ifndef RECIPES_TASKS_LOADER_BATCH_SOURCE_H_
#define RECIPES_TASKS_LOADER_BATCH_SOURCE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "compressor/train/trainer.h"
#include "datasets/data_loader.h"
#include "datasets/dataset.h"

namespace recipes {

class LoaderBatchSource : public compressor::BatchSource {
 public:
  // Checked when a stream's epoch ends, e.g. MlmExampleStream::status(): a stream that
  // stops early on an I/O error must fail the epoch rather than end it quietly.
  using StreamStatus = std::function<absl::Status()>;

  // Wraps `loader`; the data it reads must outlive this object.
  explicit LoaderBatchSource(datasets::DataLoader loader, StreamStatus stream_status = nullptr);

  // A loader over `dataset` / `stream` that this object keeps alive. InvalidArgument (from
  // DataLoader::Create) for bad options or a null source.
  static absl::StatusOr<std::unique_ptr<LoaderBatchSource>> Create(
      std::shared_ptr<const datasets::Dataset> dataset, datasets::DataLoaderOptions options);
  static absl::StatusOr<std::unique_ptr<LoaderBatchSource>> Create(
      std::shared_ptr<datasets::ExampleStream> stream, datasets::DataLoaderOptions options,
      StreamStatus stream_status = nullptr);

  void Restart(uint64_t epoch) override;
  // The loader's next batch (input_ids, attention_mask, labels, ... by name). A batch the
  // loader cannot collate is an error; the next call continues after it.
  absl::StatusOr<bool> Next(compressor::TensorMap* batch) override;
  // The loader's batches per epoch; nullopt for streams (the Trainer then needs max_steps).
  std::optional<int64_t> num_batches() const override { return loader_.num_batches(); }

  datasets::DataLoader& loader() { return loader_; }

 private:
  std::shared_ptr<const void> owned_data_;  // Declared first: outlives loader_.
  datasets::DataLoader loader_;
  StreamStatus stream_status_;
};

}  // namespace recipes

#endif  // RECIPES_TASKS_LOADER_BATCH_SOURCE_H_
