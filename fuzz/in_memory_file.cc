#include "fuzz/in_memory_file.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>

namespace fuzz {

InMemoryFile::InMemoryFile(const uint8_t* data, size_t size) {
  fd_ = memfd_create("fuzz_input", MFD_CLOEXEC);
  if (fd_ < 0) std::abort();  // The harness itself is broken, not the code under test.
  size_t written = 0;
  while (written < size) {
    const ssize_t n = write(fd_, data + written, size - written);
    if (n <= 0) std::abort();
    written += static_cast<size_t>(n);
  }
  path_ = "/proc/self/fd/" + std::to_string(fd_);
}

InMemoryFile::~InMemoryFile() { close(fd_); }

}  // namespace fuzz
