// The safetensors reader (base/safetensors.h) on arbitrary bytes: Open() parses the header,
// then every tensor is viewed and loaded. Errors are expected; crashes, out-of-bounds reads
// and leaks are bugs.
#include <cstddef>
#include <cstdint>

#include "base/safetensors.h"
#include "fuzz/in_memory_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::InMemoryFile file(data, size);
  auto reader = base::SafetensorsReader::Open(file.path());
  if (!reader.ok()) return 0;
  for (const auto& info : (*reader)->tensors()) {
    auto tensor = (*reader)->Load(info.name);
    if (tensor.ok() && tensor->numel() > 0) (void)tensor->sum();
  }
  return 0;
}
