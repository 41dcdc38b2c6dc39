// The WordPiece tokenizer (models/tokenizers/wordpiece_tokenizer.h) on arbitrary text
// (invalid UTF-8 included), cased and uncased, with the test vocabulary; decodes the ids.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>

#include "models/tokenizers/wordpiece_tokenizer.h"

namespace {

std::unique_ptr<tokenizers::BertTokenizer> Make(bool lower_case) {
  tokenizers::BertTokenizerOptions options;
  options.do_lower_case = lower_case;
  options.never_split = {"[KEEP]"};
  auto tokenizer =
      tokenizers::BertTokenizer::FromFile("models/tokenizers/testdata/vocab.txt", options);
  if (!tokenizer.ok()) std::abort();  // Run from the workspace root (tools/fuzz.sh does).
  return *std::move(tokenizer);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto* const uncased = Make(true).release();
  static const auto* const cased = Make(false).release();
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  for (const tokenizers::BertTokenizer* tokenizer : {uncased, cased}) {
    const auto encoding = tokenizer->Encode(text);
    (void)tokenizer->Decode(encoding.ids, /*skip_special_tokens=*/false);
    (void)tokenizer->BasicTokenize(text);
  }
  return 0;
}
