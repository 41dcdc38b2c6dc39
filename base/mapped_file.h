// Read-only memory mapping of a whole file, so large weight files are paged in on demand
// instead of being copied into the heap.
#ifndef BASE_MAPPED_FILE_H_
#define BASE_MAPPED_FILE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/statusor.h"

namespace base {

// The mapping is PROT_READ: writing through data() faults. If another process truncates
// the file while it is mapped, touching the lost pages raises SIGBUS; write files with
// AtomicFileWriter (which replaces rather than truncates) to rule that out.
class MappedFile {
 public:
  // NotFound/PermissionDenied naming the path when it cannot be opened;
  // FailedPrecondition when it is not a regular file.
  static absl::StatusOr<std::unique_ptr<MappedFile>> Open(const std::string& path);

  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  // nullptr for an empty file (mmap cannot map zero bytes).
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  MappedFile(std::string path, const uint8_t* data, size_t size)
      : path_(std::move(path)), data_(data), size_(size) {}

  const std::string path_;
  const uint8_t* const data_;
  const size_t size_;
};

}  // namespace base

#endif  // BASE_MAPPED_FILE_H_
