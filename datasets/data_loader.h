// Batches Examples from a Dataset (random access) or an ExampleStream into padded LibTorch
// tensors, in a reproducible order: the same seed and epoch always give the same batches.
//
//   DataLoaderOptions options;
//   options.batch_size = 32;
//   options.shuffle = true;
//   options.pad_token_id = tokenizer.pad_id();
//   ASSIGN_OR_RETURN(DataLoader loader, DataLoader::Create(&dataset, options));
//   for (uint64_t epoch = 0; epoch < num_epochs; ++epoch) {
//     loader.Restart(epoch);
//     Batch batch;
//     while (true) {
//       ASSIGN_OR_RETURN(const bool has_batch, loader.Next(&batch));
//       if (!has_batch) break;
//       model->forward(batch.at("input_ids"), batch.at("attention_mask"), ...);
//     }
//   }
//
// Shapes: a key with exactly one value in every example of the batch (labels,
// start_positions, example_index, ...) becomes a [batch] tensor; every other key is a
// sequence and becomes [batch, length], padded. input_ids, attention_mask and token_type_ids
// are always sequences. All sequences of one example are token-aligned, so they must have
// one length; fixed-width non-token features (stored teacher logits) are not supported.
// ints become int64 tensors, floats float32.
#ifndef DATASETS_DATA_LOADER_H_
#define DATASETS_DATA_LOADER_H_

#include <ATen/core/Tensor.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "datasets/dataset.h"
#include "datasets/example.h"

namespace datasets {

// Feature name -> [batch] or [batch, length] tensor, in name order.
using Batch = std::map<std::string, at::Tensor>;

struct DataLoaderOptions {
  int64_t batch_size = 8;           // Examples per batch.
  bool shuffle = false;             // Datasets: a new permutation per epoch; streams: a buffer.
  uint64_t seed = 42;               // With the epoch, fixes the order (and stream shuffling).
  bool drop_last = false;           // Drop the epoch's final batch when it is short.
  std::string padding = "longest";  // "longest" (in the batch) or "max_length".
  int64_t max_length = 0;           // Padded length for "max_length"; longer is an error.
  int64_t pad_token_id = 0;         // Pad value of input_ids (the tokenizer's pad_id()).
  std::map<std::string, int64_t> pad_values;      // Per-key overrides of the int pad values.
  std::map<std::string, float> float_pad_values;  // Per-key pad values of float sequences (0).
  size_t shuffle_buffer_size = 10000;  // Streams: examples held to draw from when shuffling.
};

// Pad value of int sequence `key`: pad_values[key], else pad_token_id for input_ids, -100
// (ignored by the losses) for labels, 0 for attention_mask, token_type_ids and the rest.
int64_t IntPadValue(const DataLoaderOptions& options, const std::string& key);

// Stacks `examples` into one batch as described above. Fails, naming the example by its
// position in `examples`, when the examples' keys differ, when one example's sequences
// differ in length, or when a sequence exceeds max_length with "max_length" padding.
absl::StatusOr<Batch> Collate(const std::vector<Example>& examples,
                              const DataLoaderOptions& options);

// Iterates batches of a Dataset or ExampleStream; see the file comment. Move-only.
class DataLoader {
 public:
  // The dataset (or stream) must outlive the loader. InvalidArgument for bad options. The
  // loader starts at epoch 0.
  static absl::StatusOr<DataLoader> Create(const Dataset* dataset, DataLoaderOptions options);
  static absl::StatusOr<DataLoader> Create(ExampleStream* stream, DataLoaderOptions options);

  DataLoader(DataLoader&&) = default;
  DataLoader& operator=(DataLoader&&) = default;
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  // Starts epoch `epoch` from its first batch (restarting the stream, if any). The order
  // depends only on (seed, epoch), so resuming a run at epoch k replays epoch k exactly.
  void Restart(uint64_t epoch);

  // Fills *batch and returns true, or returns false at the end of the epoch. An error
  // (inconsistent examples, see Collate; the example is named by its dataset index or its
  // position in the stream's epoch) skips that batch: the next call continues after it.
  absl::StatusOr<bool> Next(Batch* batch);

  // Batches per epoch for a Dataset; nullopt for a stream, whose length is unknown.
  std::optional<int64_t> num_batches() const;

  uint64_t epoch() const { return epoch_; }

 private:
  DataLoader(const Dataset* dataset, ExampleStream* stream, DataLoaderOptions options);

  // An example read from the stream, with its position in the epoch for error messages.
  struct StreamExample {
    Example example;
    int64_t position = 0;
  };

  // Next example of the stream in this epoch's order; false when the epoch is exhausted.
  bool NextFromStream(StreamExample* out);

  const Dataset* dataset_;
  ExampleStream* stream_;
  DataLoaderOptions options_;
  uint64_t epoch_ = 0;
  std::mt19937_64 rng_;                // Reseeded from (seed, epoch) by Restart().
  std::vector<size_t> order_;          // Dataset: this epoch's index order.
  size_t cursor_ = 0;                  // Dataset: position in order_.
  std::vector<StreamExample> buffer_;  // Stream: shuffle buffer.
  bool stream_done_ = false;           // Stream: Next() returned false this epoch.
  int64_t stream_position_ = 0;        // Stream: examples read this epoch.
};

}  // namespace datasets

#endif  // DATASETS_DATA_LOADER_H_
