// Reads and writes the safetensors format (https://github.com/huggingface/safetensors),
// the interchange format for model weights: unlike pickle-based .pt files it cannot run
// code when loaded, and it can be memory-mapped. Layout: an 8-byte little-endian u64 N,
// N bytes of UTF-8 JSON mapping each tensor name to {"dtype", "shape", "data_offsets"}
// (plus an optional "__metadata__" string->string object), then the raw little-endian
// tensor data; data_offsets are relative to the start of that data section (byte 8 + N).
#ifndef BASE_SAFETENSORS_H_
#define BASE_SAFETENSORS_H_

#include <ATen/core/Tensor.h>
#include <c10/core/ScalarType.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace base {

class MappedFile;

// The subset of the format's dtypes that LibTorch 1.13 can represent.
enum class SafetensorsDtype {
  kF64,
  kF32,
  kF16,
  kBF16,
  kI64,
  kI32,
  kI16,
  kI8,
  kU8,
  kBool
};

// The header spelling: "F64", "F32", "F16", "BF16", "I64", ..., "U8", "BOOL".
const char* SafetensorsDtypeName(SafetensorsDtype dtype);
// InvalidArgument for names outside the enum (including format dtypes such as "F8_E4M3").
absl::StatusOr<SafetensorsDtype> SafetensorsDtypeFromName(std::string_view name);
// Bytes per element (BOOL is one byte holding 0 or 1).
size_t SafetensorsDtypeSize(SafetensorsDtype dtype);
at::ScalarType ToScalarType(SafetensorsDtype dtype);
// InvalidArgument for scalar types the format cannot hold (complex, quantized, ...).
absl::StatusOr<SafetensorsDtype> SafetensorsDtypeFromScalarType(at::ScalarType type);

struct SafetensorsTensorInfo {
  std::string name;
  SafetensorsDtype dtype;
  std::vector<int64_t> shape;  // Empty for a 0-d scalar.
  uint64_t begin;              // Byte range [begin, end) within the data section.
  uint64_t end;
};

// A validated, memory-mapped safetensors file. Thread-safe: all methods are const.
class SafetensorsReader {
 public:
  // Maps `path` read-only and validates the whole header and the data layout, so every
  // later accessor only fails on a missing name. Errors: NotFound/PermissionDenied for
  // the file itself, DataLoss when the file is truncated (shorter than its header or its
  // data_offsets claim), InvalidArgument for any other malformed header.
  static absl::StatusOr<std::unique_ptr<SafetensorsReader>> Open(const std::string& path);

  SafetensorsReader(const SafetensorsReader&) = delete;
  SafetensorsReader& operator=(const SafetensorsReader&) = delete;
  ~SafetensorsReader();

  const std::string& path() const { return path_; }
  // Ordered by begin offset, i.e. file order.
  const std::vector<SafetensorsTensorInfo>& tensors() const { return tensors_; }
  // nullptr when absent.
  const SafetensorsTensorInfo* Find(std::string_view name) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

  // A tensor aliasing the mapped file: no copy, pages are read on first touch.
  // Contract: it is READ-ONLY (in-place ops or copy_ into it crash with SIGSEGV) and
  // valid only while the reader lives. As a safety net it also holds a reference to the
  // mapping, so a view that escapes by mistake does not dangle. FailedPrecondition when
  // the data is not aligned to its element size (the format does not require it); use
  // Load() then. Both View() and Load() return DataLoss for a BOOL tensor holding bytes
  // other than 0 and 1, which at::kBool must not hold.
  absl::StatusOr<at::Tensor> View(std::string_view name) const;
  // An owning, contiguous copy.
  absl::StatusOr<at::Tensor> Load(std::string_view name) const;

 private:
  SafetensorsReader(std::string path, std::shared_ptr<const MappedFile> file,
                    uint64_t data_start, std::vector<SafetensorsTensorInfo> tensors,
                    std::map<std::string, std::string> metadata);

  // NotFound naming the file and the tensor when absent.
  absl::StatusOr<const SafetensorsTensorInfo*> Lookup(std::string_view name) const;
  const uint8_t* DataOf(const SafetensorsTensorInfo& info) const;

  const std::string path_;
  const std::shared_ptr<const MappedFile> file_;
  const uint64_t data_start_;  // File offset of the data section.
  const std::vector<SafetensorsTensorInfo> tensors_;
  const std::map<std::string, std::string> metadata_;
  std::map<std::string, size_t, std::less<>> index_;  // Name -> position in tensors_.
};

// Writes `tensors` (CPU, strided; non-contiguous ones are made contiguous one at a time,
// so there is never a second copy of all of them) with their data in the given order,
// through AtomicFileWriter so a failure never leaves a partial file. The header is
// padded with spaces so the data section starts at a multiple of 8; later tensors are
// aligned for View() only if the ones before them have sizes that keep them aligned, so
// list wide dtypes first. InvalidArgument for duplicate or reserved ("__metadata__")
// names, undefined, non-CPU or non-strided tensors, unsupported dtypes, and non-UTF-8
// names or metadata.
absl::Status WriteSafetensors(
    const std::string& path,
    const std::vector<std::pair<std::string, at::Tensor>>& tensors,
    const std::map<std::string, std::string>& metadata = {});

}  // namespace base

#endif  // BASE_SAFETENSORS_H_
