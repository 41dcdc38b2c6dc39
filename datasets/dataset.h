// The two shapes a data source takes for the DataLoader: random access (SQuAD features,
// GLUE rows: shuffled by index) and streaming (MLM over a corpus larger than memory:
// read in order, shuffled through a buffer).
#ifndef DATASETS_DATASET_H_
#define DATASETS_DATASET_H_

#include <cstddef>
#include <cstdint>

#include "datasets/example.h"

namespace datasets {

class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual size_t size() const = 0;
  virtual Example Get(size_t index) const = 0;
};

class ExampleStream {
 public:
  virtual ~ExampleStream() = default;
  // Fills *out with the next example; false at the end of the epoch.
  virtual bool Next(Example* out) = 0;
  // Starts epoch `epoch` from the beginning; implementations that randomise (masking,
  // NSP pairing) derive their seed from (seed, epoch) so every epoch is reproducible.
  virtual void Restart(uint64_t epoch) = 0;
};

}  // namespace datasets

#endif  // DATASETS_DATASET_H_
