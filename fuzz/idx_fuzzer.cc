// The IDX image-file reader (datasets/vision/idx_file.h, MNIST / Fashion-MNIST files,
// plain or gzipped) on arbitrary bytes, asked for the number of dimensions the header
// claims so parsing reaches the sizes and the data. Errors are expected; crashes,
// out-of-bounds reads, huge allocations and leaks are bugs.
#include <cstddef>
#include <cstdint>

#include <ATen/ATen.h>

#include "datasets/vision/idx_file.h"
#include "fuzz/in_memory_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::InMemoryFile file(data, size);
  const int dims = size > 3 && data[0] == 0 ? data[3] : 3;  // Gzipped: what the data holds.
  auto tensor = datasets::ReadIdxFile(file.path(), dims);
  if (tensor.ok() && tensor->numel() > 0) (void)tensor->sum();
  return 0;
}
