// The vocabulary loader (models/tokenizers/vocab.h: vocab.txt or JSON) on arbitrary bytes,
// then a WordPiece tokenizer over the vocabulary when it has the special tokens.
#include <cstddef>
#include <cstdint>

#include "models/tokenizers/vocab.h"
#include "models/tokenizers/wordpiece_tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  auto vocab = tokenizers::ParseVocab(text, "fuzz/vocab.txt");
  if (!vocab.ok()) return 0;
  auto tokenizer = tokenizers::BertTokenizer::Create(*std::move(vocab), {}, "fuzz/vocab.txt");
  if (tokenizer.ok()) {
    const auto encoding = (*tokenizer)->Encode("Hello, world! [MASK] unaffable héllo 你好");
    (void)(*tokenizer)->Decode(encoding.ids);
  }
  return 0;
}
