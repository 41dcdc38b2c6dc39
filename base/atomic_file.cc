#include "base/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace base {
namespace {

// Distinguishes writers for the same path within one process; the pid distinguishes
// processes.
std::atomic<uint64_t> temp_counter{0};

std::string Dirname(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// Closes a file descriptor when it goes out of scope (for read-only paths, where a
// close() error cannot lose data).
class FdCloser {
 public:
  explicit FdCloser(int fd) : fd_(fd) {}
  ~FdCloser() { close(fd_); }
  FdCloser(const FdCloser&) = delete;
  FdCloser& operator=(const FdCloser&) = delete;

 private:
  int fd_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<AtomicFileWriter>> AtomicFileWriter::Create(
    const std::string& path) {
  if (path.empty()) return absl::InvalidArgumentError("AtomicFileWriter: empty path");
  // O_EXCL never reuses a name; retry in case a crashed process with a recycled pid left
  // a temporary file behind.
  for (int attempt = 0;; ++attempt) {
    std::string temp_path = absl::StrCat(path, ".tmp.", getpid(), ".", temp_counter++);
    const int fd = open(temp_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd >= 0) {
      return std::unique_ptr<AtomicFileWriter>(
          new AtomicFileWriter(path, std::move(temp_path), fd));
    }
    if (errno != EEXIST || attempt >= 100) {
      return absl::ErrnoToStatus(errno, absl::StrCat("cannot create ", temp_path,
                                                     " (temporary for ", path, ")"));
    }
  }
}

AtomicFileWriter::AtomicFileWriter(std::string path, std::string temp_path, int fd)
    : path_(std::move(path)), temp_path_(std::move(temp_path)), fd_(fd) {}

AtomicFileWriter::~AtomicFileWriter() {
  if (fd_ >= 0) close(fd_);
  if (!renamed_) unlink(temp_path_.c_str());
}

absl::Status AtomicFileWriter::Fail(int error_number, const char* action) {
  status_ = absl::ErrnoToStatus(
      error_number,
      absl::StrCat("cannot ", action, " ", temp_path_, " (temporary for ", path_, ")"));
  return status_;
}

absl::Status AtomicFileWriter::Write(const void* data, size_t size) {
  RETURN_IF_ERROR(status_);
  if (fd_ < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("write to ", path_, " after Commit()"));
  }
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = write(fd_, p, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Fail(errno, "write");
    }
    p += n;
    size -= static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

absl::Status AtomicFileWriter::Commit() {
  RETURN_IF_ERROR(status_);
  if (fd_ < 0) {
    return absl::FailedPreconditionError(absl::StrCat(path_, ": Commit() called twice"));
  }
  // Without the fsync, a crash shortly after rename() can leave an empty file (ext4's
  // delayed allocation), defeating the point of the class.
  if (fsync(fd_) != 0) return Fail(errno, "fsync");
  const int fd = fd_;
  fd_ = -1;
  // close() can report deferred write errors (e.g. on NFS).
  if (close(fd) != 0) return Fail(errno, "close");
  if (rename(temp_path_.c_str(), path_.c_str()) != 0) return Fail(errno, "rename");
  renamed_ = true;

  const std::string dir = Dirname(path_);
  const int dir_fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) {
    return absl::ErrnoToStatus(
        errno, absl::StrCat("cannot open directory ", dir, " of ", path_));
  }
  FdCloser closer(dir_fd);
  // Some file systems cannot fsync a directory (EINVAL); their renames are as durable as
  // they get.
  if (fsync(dir_fd) != 0 && errno != EINVAL) {
    return absl::ErrnoToStatus(
        errno, absl::StrCat("cannot fsync directory ", dir, " of ", path_));
  }
  return absl::OkStatus();
}

absl::Status WriteStringToFileAtomically(const std::string& path,
                                         std::string_view contents) {
  ASSIGN_OR_RETURN(std::unique_ptr<AtomicFileWriter> writer,
                   AtomicFileWriter::Create(path));
  RETURN_IF_ERROR(writer->Write(contents));
  return writer->Commit();
}

absl::StatusOr<std::string> ReadFileToString(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::ErrnoToStatus(errno, absl::StrCat("cannot open ", path));
  FdCloser closer(fd);
  std::string contents;
  struct stat st;
  if (fstat(fd, &st) == 0 && st.st_size > 0) {
    contents.reserve(static_cast<size_t>(st.st_size));
  }
  char buffer[1 << 16];
  while (true) {
    const ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::ErrnoToStatus(errno, absl::StrCat("cannot read ", path));
    }
    if (n == 0) break;
    contents.append(buffer, static_cast<size_t>(n));
  }
  return contents;
}

}  // namespace base
