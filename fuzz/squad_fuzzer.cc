// The SQuAD loader (datasets/squad/squad_data.h): strict, lenient (skip_bad_examples) and
// training modes on arbitrary JSON text; what loads is written back out.
#include <cstddef>
#include <cstdint>

#include "datasets/squad/squad_data.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  for (int mode = 0; mode < 3; ++mode) {
    datasets::SquadLoadOptions options;
    options.skip_bad_examples = mode == 1;
    options.is_training = mode == 2;
    datasets::SquadLoadReport report;
    auto squad = datasets::ParseSquadJson(text, "fuzz.json", options, &report);
    if (squad.ok()) (void)datasets::SquadDataToJson(*squad);
  }
  return 0;
}
