// Fuzz inputs for APIs that take a path: the bytes in an anonymous in-memory file
// (memfd_create), reachable as /proc/self/fd/<n> for open() and mmap(), gone on
// destruction. No disk traffic per execution.
#ifndef FUZZ_IN_MEMORY_FILE_H_
#define FUZZ_IN_MEMORY_FILE_H_

#include <cstddef>
#include <cstdint>
#include <string>

namespace fuzz {

class InMemoryFile {
 public:
  InMemoryFile(const uint8_t* data, size_t size);
  ~InMemoryFile();
  InMemoryFile(const InMemoryFile&) = delete;
  InMemoryFile& operator=(const InMemoryFile&) = delete;

  const std::string& path() const { return path_; }

 private:
  int fd_;
  std::string path_;
};

}  // namespace fuzz

#endif  // FUZZ_IN_MEMORY_FILE_H_
