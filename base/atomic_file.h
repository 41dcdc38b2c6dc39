// Atomic file replacement, so a job that dies mid-write (crash, kill, full disk) never
// leaves a half-written checkpoint or config behind: readers see either the old file or
// the complete new one. Data goes to a temporary file in the target's directory (rename()
// is only atomic within one file system), which is fsync()ed and renamed over the target.
#ifndef BASE_ATOMIC_FILE_H_
#define BASE_ATOMIC_FILE_H_

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace base {

// Streams bytes into `path` + ".tmp.<pid>.<counter>" and publishes them on Commit().
// Not thread-safe. Errors are sticky: after a failed Write(), Commit() fails too.
//
//   ASSIGN_OR_RETURN(auto writer, AtomicFileWriter::Create(path));
//   RETURN_IF_ERROR(writer->Write(bytes.data(), bytes.size()));
//   RETURN_IF_ERROR(writer->Commit());
class AtomicFileWriter {
 public:
  // Creates the temporary file. Fails (naming the path and the errno text) when the
  // directory is missing or not writable.
  static absl::StatusOr<std::unique_ptr<AtomicFileWriter>> Create(
      const std::string& path);

  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;

  // Removes the temporary file unless Commit() succeeded in renaming it.
  ~AtomicFileWriter();

  absl::Status Write(const void* data, size_t size);
  absl::Status Write(std::string_view data) { return Write(data.data(), data.size()); }

  // fsync()s and closes the temporary file, renames it over the target, then fsync()s
  // the directory so the rename itself survives a power loss. Call at most once.
  absl::Status Commit();

  const std::string& path() const { return path_; }
  const std::string& temp_path() const { return temp_path_; }

 private:
  AtomicFileWriter(std::string path, std::string temp_path, int fd);

  // Records `errno` as the sticky error and returns it.
  absl::Status Fail(int error_number, const char* action);

  const std::string path_;
  const std::string temp_path_;
  int fd_;
  bool renamed_ = false;
  absl::Status status_;
};

// Replaces `path` with `contents` atomically (see AtomicFileWriter).
absl::Status WriteStringToFileAtomically(const std::string& path,
                                         std::string_view contents);

// Reads a whole file. NotFound (naming the path) when it does not exist.
absl::StatusOr<std::string> ReadFileToString(const std::string& path);

}  // namespace base

#endif  // BASE_ATOMIC_FILE_H_
