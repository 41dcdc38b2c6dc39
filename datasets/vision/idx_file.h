// Reading and writing IDX files, the format of MNIST and Fashion-MNIST
// (http://yann.lecun.com/exdb/mnist/): a 4-byte magic number (two zero bytes, a type code,
// the number of dimensions), that many big-endian int32 sizes, then the data in row-major
// order. Files may be gzipped (what the datasets ship) or plain; both are read the same way.
//
//   ASSIGN_OR_RETURN(at::Tensor images, datasets::ReadIdxFile(
//       "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz", /*expected_dims=*/3));
//   // images: uint8 [60000, 28, 28]
#ifndef DATASETS_VISION_IDX_FILE_H_
#define DATASETS_VISION_IDX_FILE_H_

#include <ATen/core/Tensor.h>

#include <string>

#include "absl/status/statusor.h"

namespace datasets {

// Reads an unsigned-byte IDX file (type code 0x08) of `expected_dims` dimensions into a
// uint8 tensor of its sizes. Errors name the file and the field: NotFound for a missing
// file, InvalidArgument for a bad magic number, another type code, the wrong number of
// dimensions or a zero/negative size, DataLoss for a file shorter than its sizes claim (or
// a corrupt gzip stream) or with bytes after the data.
absl::StatusOr<at::Tensor> ReadIdxFile(const std::string& path, int expected_dims);

// Writes a uint8 tensor as an IDX file, gzipped when `gzip` (used by tests and tools).
absl::Status WriteIdxFile(const std::string& path, const at::Tensor& data, bool gzip);

}  // namespace datasets

#endif  // DATASETS_VISION_IDX_FILE_H_
