// config.json parsing (models/bert_config.h): arbitrary text, then validation.
#include <cstddef>
#include <cstdint>

#include "models/bert_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  auto config = models::BertConfigFromJson(text, "fuzz/config.json");
  if (config.ok()) (void)models::ValidateBertConfig(*config, "fuzz/config.json");
  return 0;
}
