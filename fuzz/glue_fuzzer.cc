// The GLUE / local TSV and JSONL loaders (datasets/glue/glue.h) on arbitrary file contents;
// the first byte picks the task or format.
#include <cstddef>
#include <cstdint>

#include "datasets/glue/glue.h"
#include "fuzz/in_memory_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static const char* const kTasks[] = {"sst-2", "mnli", "qqp", "qnli", "mrpc", "sts-b"};
  const uint8_t selector = data[0];
  fuzz::InMemoryFile file(data + 1, size - 1);
  if (selector < 128) {
    (void)datasets::LoadGlueTsv(kTasks[selector % 6], file.path());
  } else {
    datasets::TextClassificationFileOptions options;
    options.format = selector & 1 ? "jsonl" : "tsv";
    options.is_regression = selector & 2;
    (void)datasets::LoadTextClassificationFile(file.path(), options);
  }
  return 0;
}
